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
        self.host == here && !process_alive(self.pid as u64)
    }
}

/// Whether process `pid` exists on this host (Linux: `/proc/<pid>`). Temp files, locks and
/// run logs carry the pid of their writer, so a dead writer's leftovers can be told apart.
pub fn process_alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
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
        let mut file = open_lock_file(path).map_err(CacheError::io_err("open lock", path))?;
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
        note_owner(&mut file, path);
        Ok(KeyLock {
            file,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A lock file, created if absent and never truncated on open (its content is the owner note).
fn open_lock_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Write this process into a lock it holds. Best effort: the note is only what a waiting
/// process prints, so neither a node nor a gc (which is what frees a full disk) may fail on it.
fn note_owner(file: &mut File, path: &Path) {
    let owner = serde_json::to_vec(&LockOwner::current()).expect("owner serialises");
    let written = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(&owner));
    if let Err(e) = written {
        tracing::debug!("cannot record the lock's owner in {}: {e}", path.display());
    }
}

fn read_owner(file: &mut File) -> Option<LockOwner> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

/// Held, shared, by every process that reads or writes the cache while it works (`run`,
/// `exec-node`, `verify`, `report`, `show`); `gc` takes the same lock exclusively, so it never
/// removes what a live run just published and two collections never race (git gc and Buck2's
/// daemon do the same with one lock). A process with a use registers itself under
/// `locks/users/` so that a waiting `gc` can say whom it waits for.
#[derive(Debug)]
pub struct CacheUse {
    /// `None` on a cache this process cannot write (read-only filesystem or permissions):
    /// nothing can collect it through this process either, and reading needs no lock.
    held: Option<(File, PathBuf)>,
}

/// The exclusive side of the cache lock: proof that no run is using the cache (see `CacheUse`).
#[derive(Debug)]
pub struct GcLock {
    file: File,
}

static USE_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn read_only(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::PermissionDenied
        || e.kind() == std::io::ErrorKind::ReadOnlyFilesystem
}

impl CacheUse {
    pub(crate) fn acquire(
        locks: &Path,
        on_wait: impl FnOnce(Option<LockOwner>),
    ) -> Result<CacheUse, CacheError> {
        let path = locks.join("cache");
        let mut file = match open_lock_file(&path) {
            Ok(f) => f,
            Err(e) if read_only(&e) => return Ok(CacheUse { held: None }),
            Err(e) => return Err(CacheError::io_err("open lock", &path)(e)),
        };
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait(read_owner(&mut file));
                file.lock_shared()
                    .map_err(CacheError::io_err("lock", &path))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CacheError::io_err("lock", &path)(e))
            }
        }
        let users = locks.join("users");
        let _ = std::fs::create_dir_all(&users);
        let me = LockOwner::current();
        let user = users.join(format!(
            "{}.{}.{}",
            me.host,
            me.pid,
            USE_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        // The registration only lets a waiting gc name us: a full disk must not stop a run
        // for it.
        let bytes = serde_json::to_vec(&me).expect("owner serialises");
        if let Err(e) = std::fs::write(&user, bytes) {
            tracing::debug!("cannot register as a cache user in {}: {e}", user.display());
            let _ = std::fs::remove_file(&user);
        }
        Ok(CacheUse {
            held: Some((file, user)),
        })
    }
}

impl Drop for CacheUse {
    fn drop(&mut self) {
        if let Some((file, user)) = &self.held {
            let _ = std::fs::remove_file(user);
            let _ = file.unlock();
        }
    }
}

impl GcLock {
    /// Take the cache exclusively, waiting for every `CacheUse` to end. `on_wait` gets the
    /// processes registered as using the cache (live ones; registrations left by dead ones
    /// are skipped, and removed once the lock is taken) before blocking.
    pub(crate) fn acquire(
        locks: &Path,
        on_wait: impl FnOnce(Vec<LockOwner>),
    ) -> Result<GcLock, CacheError> {
        let path = locks.join("cache");
        let mut file = open_lock_file(&path).map_err(CacheError::io_err("open lock", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait(live_users(&locks.join("users")));
                file.lock().map_err(CacheError::io_err("lock", &path))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CacheError::io_err("lock", &path)(e))
            }
        }
        // Nobody uses the cache now: a user file still there was left by a killed process.
        if let Ok(entries) = std::fs::read_dir(locks.join("users")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        note_owner(&mut file, &path);
        Ok(GcLock { file })
    }
}

impl Drop for GcLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn live_users(dir: &Path) -> Vec<LockOwner> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut out: Vec<LockOwner> = entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<LockOwner>(&b).ok())
        .filter(|o| !o.is_stale())
        .collect();
    out.sort_by_key(|o| (o.since, o.pid));
    out.dedup();
    out
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
