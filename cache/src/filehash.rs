//! Hashing of input files (datasets, pretrained checkpoints), memoised by
//! (device, inode, size, mtime, ctime) so that planning a study does not re-read gigabytes.
//! The memo is a hint for speed only: a changed file changes at least one of those. ctime is
//! there because user space cannot set it: an edit that restores size and mtime (`touch -d`)
//! still moves it.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{CacheError, Digest};

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

#[derive(Serialize, Deserialize)]
struct Memo {
    stat: Stat,
    digest: Digest,
}

fn stat_of(meta: &fs::Metadata) -> Stat {
    Stat {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
    }
}

/// blake3 of a file's bytes; large files go through blake3's mmap + rayon path.
pub(crate) fn hash_file(path: &Path) -> Result<Digest, CacheError> {
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(path)
        .map_err(CacheError::io_err("hash", path))?;
    Ok(Digest(*h.finalize().as_bytes()))
}

/// Whether `path` was found to hash to `digest` before and has not been touched since: same
/// (device, inode, size, mtime, ctime). ctime matters here too: making a read-only object
/// writable to edit it changes it even where the edit restores the mtime.
pub(crate) fn checked_before(memo_dir: &Path, path: &Path, digest: &Digest) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    fs::read(memo_dir.join(digest.to_hex()))
        .ok()
        .and_then(|b| serde_json::from_slice::<Stat>(&b).ok())
        .is_some_and(|m| m == stat_of(&meta))
}

/// Remember that `path` hashed to `digest` as it is now (best effort: a read-only cache just
/// re-hashes next time).
pub(crate) fn remember_check(memo_dir: &Path, path: &Path, digest: &Digest) {
    if let Ok(meta) = fs::metadata(path) {
        let bytes = serde_json::to_vec(&stat_of(&meta)).expect("memo serialises");
        let _ = crate::atomic::write_atomic(&memo_dir.join(digest.to_hex()), &bytes);
    }
}

/// Look the file up in the memo directory; hash and record it on a miss.
pub(crate) fn hash_input(memo_dir: &Path, path: &Path) -> Result<Digest, CacheError> {
    let meta = fs::metadata(path).map_err(CacheError::io_err("stat", path))?;
    // A device or FIFO never ends (`/dev/zero`) or cannot be read twice the same way: the
    // content a key names has to be a file's.
    if !meta.is_file() {
        return Err(CacheError::io_err("hash", path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a device, FIFO or socket cannot be an input: copy it to a file)",
        )));
    }
    let stat = stat_of(&meta);
    let canon = fs::canonicalize(path).map_err(CacheError::io_err("canonicalize", path))?;
    let memo_path =
        memo_dir.join(Digest::of_tagged("path", canon.as_os_str().as_encoded_bytes()).to_hex());
    if let Ok(bytes) = fs::read(&memo_path) {
        if let Ok(memo) = serde_json::from_slice::<Memo>(&bytes) {
            if memo.stat == stat {
                return Ok(memo.digest);
            }
        }
    }
    let digest = hash_file(path)?;
    let memo = Memo { stat, digest };
    // A failed memo write only costs speed next time; never fail the caller for it.
    let _ = crate::atomic::write_atomic(
        &memo_path,
        &serde_json::to_vec(&memo).expect("memo serialises"),
    );
    Ok(digest)
}
