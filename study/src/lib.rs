//! A study's vocabulary (tasks, seeds, pairs, diagnostics, basins) and how a manifest becomes the
//! engine's nodes. The engine below knows nodes, keys and caches; this crate knows what they
//! mean; the stage kinds above read the params and roles it writes.
//!
//! Read in the order a study is opened (see `../shared/design.md`):
//! - [`manifest`]: parse, include, validate -> [`Manifest`] (with `[sweep]`, its sub-studies)
//! - [`pin`]: the manifest's Hub revisions -> commits (asked online, or remembered from an
//!   earlier online run), so that a new upstream commit changes a key
//! - [`expand`]: manifest -> stage instances (the engine's `Node`s) with stable ids and declared
//!   inputs (a sweep's sub-studies under their labels)
//! - [`params`]: each stage kind's params as one type, written by expansion and read by the kind
//! - [`roles`]: the input roles that wire nodes together, spelled once for expansion and kinds
//! - [`open`]: a manifest, expanded, as the engine's `Study`

pub mod expand;
pub mod manifest;
pub mod open;
pub mod params;
pub mod pin;
pub mod roles;

pub use manifest::{Manifest, ManifestError};
pub use open::{open, study, OpenError};
