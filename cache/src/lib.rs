//! Content-addressed storage for basins: the part of the system that must be as trustworthy as a
//! build system's action cache, and that knows nothing about manifests, stages or ML.
//!
//! Two namespaces live under one root:
//! - **objects** (`objects/ab/cdef…`): immutable files named by the blake3 hash of their bytes.
//!   Every read can be checked against the name; a mismatch is reported, quarantined and never
//!   handed out.
//! - **actions** (`actions/ab/cdef….json`): one record per recipe key, written last, so a record
//!   that exists always points at objects that were fully published before it.
//!
//! Every write goes temp file -> fsync -> rename in the same directory tree, so a crash (even
//! `kill -9`) leaves either the old state or the new one, never a torn file.

mod atomic;
mod digest;
mod error;
mod filehash;
mod lock;
mod store;

pub use atomic::write_atomic;
pub use digest::Digest;
pub use error::CacheError;
pub use lock::{process_alive, CacheUse, GcLock, KeyLock, LockOwner};
pub use store::{ActionBytes, GcReport, ObjectInfo, Store};
