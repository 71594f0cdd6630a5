use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::CacheError;

/// Who holds a key lock. Written into the lock file after the lock is taken, so that a process
/// that has to wait can say whom it waits for, and whether that holder still exists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LockOwner {
    pub host: String,
    pub pid: u32,
    /// Seconds since the Unix epoch.
    pub since: u64,
}

impl LockOwner {
    fn current() -> LockOwner {
        LockOwner {
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// A holder on this host whose process is gone. The OS drops `flock`-style locks when a
    /// process dies, so this only shows up on filesystems that emulate locks (some NFS setups),
    /// which is exactly where a user needs to be told.
    pub fn is_stale(&self) -> bool {
        let here = gethostname::gethostname().to_string_lossy().into_owned();
        self.host == here && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// An exclusive lock on one recipe key, released on drop. There is no global lock: two runs on
/// one cache only serialise on the keys they both need.
#[derive(Debug)]
pub struct KeyLock {
    file: File,
    path: PathBuf,
}

impl KeyLock {
    /// Take the lock, waiting if another process holds it. `on_wait` is told who holds it
    /// (once) before blocking.
    pub(crate) fn acquire(
        path: &Path,
        on_wait: impl FnOnce(Option<LockOwner>),
    ) -> Result<KeyLock, CacheError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(CacheError::io_err("open lock", path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait(read_owner(&mut file));
                file.lock().map_err(CacheError::io_err("lock", path))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CacheError::io_err("lock", path)(e))
            }
        }
        let owner = serde_json::to_vec(&LockOwner::current()).expect("owner serialises");
        file.set_len(0)
            .map_err(CacheError::io_err("truncate lock", path))?;
        file.seek(SeekFrom::Start(0))
            .map_err(CacheError::io_err("seek lock", path))?;
        file.write_all(&owner)
            .map_err(CacheError::io_err("write lock", path))?;
        Ok(KeyLock {
            file,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_owner(file: &mut File) -> Option<LockOwner> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
