//! Writes that readers see whole or not at all: a temp file beside its target, fsync, rename,
//! fsync of the directory. Both the store and the input memo write this way.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::CacheError;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temp file name unique in this machine: `what.<pid>.<counter>.<nanoseconds>` (the pid is
/// what `gc` reads to tell a live writer's file from a dead one's).
pub(crate) fn tmp_name(what: &str) -> String {
    format!(
        "{what}.{}.{}.{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Write a file so that readers see the old content or the new, never a torn one: a temp file
/// in the same directory, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let dir = path.parent().expect("atomic write target has a parent");
    fs::create_dir_all(dir).map_err(CacheError::io_err("create", dir))?;
    let tmp = dir.join(format!(".{}", tmp_name("w")));
    let mut f = File::create(&tmp).map_err(CacheError::io_err("create", &tmp))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(CacheError::io_err("write", &tmp))?;
    drop(f);
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(CacheError::io_err("rename", path)(e));
    }
    sync_dir(dir);
    Ok(())
}
