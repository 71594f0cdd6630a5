use std::collections::HashSet;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::atomic::{sync_dir, tmp_name, write_atomic};
use crate::filehash::{checked_before, hash_file, hash_input, remember_check};
use crate::lock::process_alive;
use crate::lock::{CacheUse, GcLock, KeyLock, LockOwner};
use crate::{CacheError, Digest};

/// A cache directory. Cheap to clone; all state is on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An object as published: its name and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectInfo {
    pub digest: Digest,
    pub size: u64,
}

/// An action record's bytes as read, with whether an envelope check vouched for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionBytes {
    Checked(Vec<u8>),
    Unchecked(Vec<u8>),
}

impl ActionBytes {
    /// Open a stored record: the record inside a valid envelope, the bytes themselves for a
    /// record from before envelopes, `None` for an envelope whose check fails.
    pub fn parse(bytes: Vec<u8>) -> Option<ActionBytes> {
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            check: Digest,
            #[serde(borrow)]
            record: &'a serde_json::value::RawValue,
        }
        let Ok(env) = serde_json::from_slice::<Envelope>(&bytes) else {
            return Some(ActionBytes::Unchecked(bytes));
        };
        let record = env.record.get().as_bytes();
        (Digest::of_tagged("basins-action", record) == env.check)
            .then(|| ActionBytes::Checked(record.to_vec()))
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            ActionBytes::Checked(b) | ActionBytes::Unchecked(b) => b,
        }
    }
}

/// What a garbage collection removed (or would remove, on a dry run).
#[derive(Debug, Default)]
pub struct GcReport {
    pub objects: Vec<ObjectInfo>,
    pub actions: Vec<Digest>,
    pub temp_files: usize,
}

impl Store {
    /// Open (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, CacheError> {
        let root = root.into();
        for sub in ["objects", "actions", "locks", "tmp", "memo", "quarantine"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(CacheError::io_err("create", &p))?;
        }
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh scratch directory inside the store, on the same filesystem as `objects/`, so
    /// that outputs written there can be published by rename rather than copied. Its name
    /// carries the pid so that `gc` can tell abandoned scratch from live scratch.
    pub fn scratch_dir(&self) -> Result<PathBuf, CacheError> {
        let p = self.root.join("tmp").join(tmp_name("scratch"));
        fs::create_dir_all(&p).map_err(CacheError::io_err("create", &p))?;
        Ok(p)
    }

    pub fn object_path(&self, d: &Digest) -> PathBuf {
        let hex = d.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    fn action_path(&self, key: &Digest) -> PathBuf {
        let hex = key.to_hex();
        self.root
            .join("actions")
            .join(&hex[..2])
            .join(format!("{}.json", &hex[2..]))
    }

    /// Publish a file as an object, consuming it: hash, fsync, make read-only, rename into
    /// place. If the object already exists the file is simply removed.
    pub fn adopt_file(&self, path: &Path) -> Result<ObjectInfo, CacheError> {
        let digest = hash_file(path)?;
        let size = fs::metadata(path)
            .map_err(CacheError::io_err("stat", path))?
            .len();
        let dest = self.object_path(&digest);
        if fs::metadata(&dest)
            .map(|m| m.len() == size)
            .unwrap_or(false)
        {
            fs::remove_file(path).map_err(CacheError::io_err("remove", path))?;
            return Ok(ObjectInfo { digest, size });
        }
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(CacheError::io_err("fsync", path))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o444))
            .map_err(CacheError::io_err("chmod", path))?;
        let parent = dest.parent().expect("object path has a parent");
        fs::create_dir_all(parent).map_err(CacheError::io_err("create", parent))?;
        fs::rename(path, &dest).map_err(CacheError::io_err("publish", &dest))?;
        sync_dir(parent);
        Ok(ObjectInfo { digest, size })
    }

    /// Publish bytes as an object.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<ObjectInfo, CacheError> {
        let tmp = self.root.join("tmp").join(tmp_name("obj"));
        fs::write(&tmp, bytes).map_err(CacheError::io_err("write", &tmp))?;
        self.adopt_file(&tmp)
    }

    /// The path of an object after checking that its bytes still hash to its name. A corrupt
    /// object is moved to `quarantine/` and reported, so that it is recomputed, never used.
    /// A check is remembered by the object's inode, size, mtime and ctime, so that a
    /// checkpoint read by many consumers is hashed once; `rehashed_object` ignores the memo.
    pub fn verified_object(&self, d: &Digest) -> Result<PathBuf, CacheError> {
        let path = self.object_path(d);
        let memo = self.root.join("memo").join("objects");
        if checked_before(&memo, &path, d) {
            return Ok(path);
        }
        let path = self.rehashed_object(d)?;
        remember_check(&memo, &path, d);
        Ok(path)
    }

    /// `verified_object` without the memo: what `verify` uses, to catch corruption that
    /// leaves a file's metadata alone (a failing disk).
    pub fn rehashed_object(&self, d: &Digest) -> Result<PathBuf, CacheError> {
        let path = self.object_path(d);
        if !path.exists() {
            return Err(CacheError::Missing(*d));
        }
        let actual = hash_file(&path)?;
        if actual != *d {
            let q = self
                .root
                .join("quarantine")
                .join(format!("{}-{}", d.to_hex(), tmp_name("q")));
            let quarantined = match fs::rename(&path, &q) {
                Ok(()) => Some(q),
                Err(e) => {
                    tracing::warn!(object = %d, "cannot move a corrupt object aside: {e}");
                    None
                }
            };
            tracing::warn!(object = %d, "corrupt object found");
            return Err(CacheError::Corrupt {
                digest: *d,
                actual,
                quarantined,
            });
        }
        Ok(path)
    }

    pub fn has_object(&self, d: &Digest) -> bool {
        self.object_path(d).exists()
    }

    /// Write an action record (a JSON value). Callers publish every object the record names
    /// first. The record is stored inside an envelope that carries the blake3 of its exact
    /// bytes, `{"check": "<hex>", "record": <record>}`, so an edited or damaged record is
    /// caught on read like a corrupt object.
    pub fn put_action(&self, key: &Digest, record: &[u8]) -> Result<(), CacheError> {
        if let Err(source) = serde_json::from_slice::<&serde_json::value::RawValue>(record) {
            return Err(CacheError::BadRecord {
                path: self.action_path(key),
                source,
            });
        }
        let check = Digest::of_tagged("basins-action", record);
        let mut bytes = Vec::with_capacity(record.len() + 96);
        bytes.extend_from_slice(b"{\"check\": \"");
        bytes.extend_from_slice(check.to_hex().as_bytes());
        bytes.extend_from_slice(b"\",\n\"record\": ");
        bytes.extend_from_slice(record);
        bytes.extend_from_slice(b"}\n");
        write_atomic(&self.action_path(key), &bytes)
    }

    /// Read an action record: `None` when there is none, `Checked` when its envelope's check
    /// holds, `Unchecked` for a record written before records carried one (the caller checks
    /// what it can). A record whose check fails is moved to `quarantine/` and reported as
    /// `CorruptRecord`, never handed out.
    pub fn get_action(&self, key: &Digest) -> Result<Option<ActionBytes>, CacheError> {
        let p = self.action_path(key);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            // A folder where the record should be (a botched copy, a hand-made mess) is a
            // damaged record like any other: set aside, and the node recomputed.
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory || p.is_dir() => {
                return Err(self.quarantine_action(key, "its path is a folder, not a record"))
            }
            Err(e) => return Err(CacheError::io_err("read", &p)(e)),
        };
        match ActionBytes::parse(bytes) {
            Some(read) => Ok(Some(read)),
            None => Err(self.quarantine_action(key, "its bytes do not match its check")),
        }
    }

    /// Move a record that failed a check aside (so the node is recomputed) and say so. Where
    /// it cannot be moved (a read-only cache) it stays, and is still never handed out.
    pub fn quarantine_action(&self, key: &Digest, why: &str) -> CacheError {
        let p = self.action_path(key);
        let q =
            self.root
                .join("quarantine")
                .join(format!("action-{}-{}", key.to_hex(), tmp_name("q")));
        let quarantined = match fs::rename(&p, &q) {
            Ok(()) => Some(q),
            Err(e) => {
                tracing::warn!(key = %key.short(), "cannot move a bad record aside: {e}");
                None
            }
        };
        tracing::warn!(key = %key.short(), "action record set aside: {why}");
        CacheError::CorruptRecord {
            key: *key,
            why: why.to_owned(),
            quarantined,
        }
    }

    pub fn remove_action(&self, key: &Digest) -> Result<(), CacheError> {
        let p = self.action_path(key);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CacheError::io_err("remove", &p)(e))
            }
            _ => Ok(()),
        }
    }

    /// Every action key in the store.
    pub fn action_keys(&self) -> Vec<Digest> {
        let dir = self.root.join("actions");
        WalkDir::new(&dir)
            .min_depth(2)
            .max_depth(2)
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|e| {
                let prefix = e.path().parent()?.file_name()?.to_str()?.to_owned();
                let stem = e.path().file_stem()?.to_str()?.to_owned();
                format!("{prefix}{stem}").parse().ok()
            })
            .collect()
    }

    /// Hash an input file (memoised by stat; see `filehash`).
    pub fn hash_input_file(&self, path: &Path) -> Result<Digest, CacheError> {
        hash_input(&self.root.join("memo"), path)
    }

    /// Take the exclusive lock for one key.
    pub fn lock(
        &self,
        key: &Digest,
        on_wait: impl FnOnce(Option<LockOwner>),
    ) -> Result<KeyLock, CacheError> {
        KeyLock::acquire(&self.root.join("locks").join(key.to_hex()), on_wait)
    }

    /// Take the shared side of the cache lock for as long as the value lives (see `CacheUse`).
    /// `on_wait` is told who collects the cache (once) if that has to be waited for.
    pub fn in_use(&self, on_wait: impl FnOnce(Option<LockOwner>)) -> Result<CacheUse, CacheError> {
        CacheUse::acquire(&self.root.join("locks"), on_wait)
    }

    /// Take the cache exclusively (for `gc`), waiting for every process using it; `on_wait` is
    /// told who they are (once) before blocking.
    pub fn exclusive(&self, on_wait: impl FnOnce(Vec<LockOwner>)) -> Result<GcLock, CacheError> {
        GcLock::acquire(&self.root.join("locks"), on_wait)
    }

    /// Remove every action not in `live_actions` and every object not in `live_objects`, plus
    /// scratch and half-written files left by killed processes. Holding `GcLock` is what makes
    /// the live sets true for the whole collection: no run can publish while it is held. A dry
    /// run may go without it (`None`: a cache this process cannot write, where the lock file
    /// cannot be made); it removes nothing, so the worst it does is count a moment's state.
    pub fn gc(
        &self,
        exclusive: Option<&GcLock>,
        live_actions: &HashSet<Digest>,
        live_objects: &HashSet<Digest>,
        dry_run: bool,
    ) -> Result<GcReport, CacheError> {
        assert!(
            dry_run || exclusive.is_some(),
            "gc removes only under the gc lock"
        );
        let mut report = GcReport::default();
        for key in self.action_keys() {
            if !live_actions.contains(&key) {
                if !dry_run {
                    self.remove_action(&key)?;
                }
                report.actions.push(key);
            }
        }
        let objects = self.root.join("objects");
        for entry in WalkDir::new(&objects)
            .min_depth(2)
            .max_depth(2)
            .into_iter()
            .filter_map(Result::ok)
        {
            let Some(digest) = object_digest(entry.path()) else {
                continue;
            };
            if live_objects.contains(&digest) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if !dry_run {
                match fs::remove_file(entry.path()) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(CacheError::io_err("remove", entry.path())(e))
                    }
                    _ => {}
                }
            }
            report.objects.push(ObjectInfo { digest, size });
        }
        report.temp_files = self.sweep_tmp(dry_run)? + self.sweep_half_written(dry_run);
        Ok(report)
    }

    /// `write_atomic`'s temp files (`.w.*`, next to their target) that a killed or disk-full
    /// process left. Under the gc lock no run writes any; commands that write without it (the
    /// input-hash memo of `plan`) are protected by the age and pid test.
    fn sweep_half_written(&self, dry_run: bool) -> usize {
        let mut n = 0;
        for entry in WalkDir::new(&self.root)
            .into_iter()
            .filter_entry(|e| e.file_name() != "objects")
            .filter_map(Result::ok)
        {
            let name = entry.file_name().to_string_lossy();
            let Some(rest) = name.strip_prefix('.') else {
                continue;
            };
            if !rest.starts_with("w.") || !entry.file_type().is_file() {
                continue;
            }
            let old = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 3600);
            let alive = tmp_pid(rest).is_some_and(|pid| process_alive(pid as u64));
            if alive && !old {
                continue;
            }
            n += 1;
            if !dry_run {
                let _ = fs::remove_file(entry.path());
            }
        }
        n
    }

    fn sweep_tmp(&self, dry_run: bool) -> Result<usize, CacheError> {
        let tmp = self.root.join("tmp");
        let mut n = 0;
        for entry in fs::read_dir(&tmp)
            .map_err(CacheError::io_err("list", &tmp))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let alive = tmp_pid(&name).is_some_and(|pid| process_alive(pid as u64));
            if alive {
                continue;
            }
            n += 1;
            if !dry_run {
                let p = entry.path();
                let _ = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
        Ok(n)
    }
}

fn object_digest(path: &Path) -> Option<Digest> {
    let prefix = path.parent()?.file_name()?.to_str()?;
    let rest = path.file_name()?.to_str()?;
    format!("{prefix}{rest}").parse().ok()
}

fn tmp_pid(name: &str) -> Option<u32> {
    name.split('.').nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_and_corruption_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let info = store.put_bytes(b"hello").unwrap();
        assert_eq!(info.digest, Digest::of_bytes(b"hello"));
        let p = store.verified_object(&info.digest).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        // Flip a byte: the next read must refuse the object and move it aside.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, b"hellp").unwrap();
        match store.verified_object(&info.digest) {
            Err(CacheError::Corrupt { quarantined, .. }) => assert!(quarantined.unwrap().exists()),
            other => panic!("expected corruption, got {other:?}"),
        }
        assert!(!store.has_object(&info.digest));
        // Publishing the same bytes again heals the store.
        store.put_bytes(b"hello").unwrap();
        assert!(store.verified_object(&info.digest).is_ok());
    }

    #[test]
    fn an_edited_action_record_is_quarantined_not_handed_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Digest::of_bytes(b"k");
        let record = b"{\"metrics\": {\"acc\": 0.5}}";
        store.put_action(&key, record).unwrap();
        assert_eq!(
            store.get_action(&key).unwrap(),
            Some(ActionBytes::Checked(record.to_vec()))
        );
        let path = store.action_path(&key);
        let edited = fs::read_to_string(&path).unwrap().replace("0.5", "0.9");
        fs::write(&path, edited).unwrap();
        match store.get_action(&key) {
            Err(CacheError::CorruptRecord { quarantined, .. }) => {
                assert!(quarantined.unwrap().exists())
            }
            other => panic!("expected a corrupt record, got {other:?}"),
        }
        assert_eq!(store.get_action(&key).unwrap(), None, "it was moved aside");
        // A record from before envelopes is handed out, marked unchecked.
        fs::write(&path, record).unwrap();
        assert_eq!(
            store.get_action(&key).unwrap(),
            Some(ActionBytes::Unchecked(record.to_vec()))
        );
        assert!(store.put_action(&key, b"{not json").is_err());
    }

    #[test]
    fn gc_keeps_live_and_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store.put_bytes(b"a").unwrap().digest;
        let b = store.put_bytes(b"b").unwrap().digest;
        let k1 = Digest::of_bytes(b"k1");
        let k2 = Digest::of_bytes(b"k2");
        store.put_action(&k1, b"{}").unwrap();
        store.put_action(&k2, b"{}").unwrap();
        let live_a: HashSet<_> = [k1].into();
        let live_o: HashSet<_> = [a].into();
        let gc = store.exclusive(|_| {}).unwrap();
        let dry = store.gc(Some(&gc), &live_a, &live_o, true).unwrap();
        assert_eq!(dry.objects.len(), 1);
        assert!(store.has_object(&b));
        let real = store.gc(Some(&gc), &live_a, &live_o, false).unwrap();
        assert_eq!(real.actions, vec![k2]);
        assert!(store.has_object(&a) && !store.has_object(&b));
        assert!(store.get_action(&k1).unwrap().is_some());
        assert!(store.get_action(&k2).unwrap().is_none());
    }

    #[test]
    fn gc_waits_for_every_use_of_the_cache_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = store.in_use(|_| panic!("nothing to wait for")).unwrap();
        let second = store.in_use(|_| panic!("uses share the lock")).unwrap();
        let s2 = store.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let gc = std::thread::spawn(move || {
            let lock = s2.exclusive(|users| tx.send(users).unwrap()).unwrap();
            drop(lock);
        });
        let users = rx.recv().unwrap();
        assert_eq!(users.len(), 1, "one process, deduplicated: {users:?}");
        assert_eq!(users[0].pid, std::process::id());
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            !gc.is_finished(),
            "gc went ahead while the cache was in use"
        );
        drop(first);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            !gc.is_finished(),
            "gc went ahead while the cache was still in use"
        );
        drop(second);
        gc.join().unwrap();
        // And a use waits for a running gc, told who it is.
        let lock = store.exclusive(|_| panic!("free")).unwrap();
        let s3 = store.clone();
        let user = std::thread::spawn(move || {
            let mut saw = None;
            let _u = s3.in_use(|o| saw = o).unwrap();
            saw
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(lock);
        assert_eq!(user.join().unwrap().unwrap().pid, std::process::id());
    }

    #[test]
    fn gc_removes_half_written_files_of_dead_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let actions = dir.path().join("actions").join("ab");
        fs::create_dir_all(&actions).unwrap();
        // pid 0x7fffffff cannot exist (pid_max is at most 2^22).
        let dead = actions.join(".w.2147483647.0.1");
        let live = actions.join(format!(".w.{}.0.1", std::process::id()));
        let recipes = dir.path().join("recipes");
        fs::create_dir_all(&recipes).unwrap();
        let dead2 = recipes.join(".w.2147483647.3.9");
        for p in [&dead, &live, &dead2] {
            fs::write(p, b"half").unwrap();
        }
        let gc = store.exclusive(|_| {}).unwrap();
        let report = store
            .gc(Some(&gc), &HashSet::new(), &HashSet::new(), false)
            .unwrap();
        assert_eq!(report.temp_files, 2);
        assert!(!dead.exists() && !dead2.exists());
        assert!(live.exists(), "a live process's temp file was removed");
    }

    #[test]
    fn input_hash_memo_notices_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("c")).unwrap();
        let f = dir.path().join("data.txt");
        fs::write(&f, "one").unwrap();
        let d1 = store.hash_input_file(&f).unwrap();
        assert_eq!(d1, store.hash_input_file(&f).unwrap());
        fs::write(&f, "two!").unwrap();
        let d2 = store.hash_input_file(&f).unwrap();
        assert_ne!(d1, d2);
        assert_eq!(d2, Digest::of_bytes(b"two!"));
    }

    #[test]
    fn key_locks_exclude_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Digest::of_bytes(b"k");
        let held = store.lock(&key, |_| {}).unwrap();
        let store2 = store.clone();
        let waited = std::thread::spawn(move || {
            let mut saw = None;
            let _l = store2.lock(&key, |o| saw = o).unwrap();
            saw
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
        let owner = waited.join().unwrap().expect("waiter saw the owner");
        assert_eq!(owner.pid, std::process::id());
        assert!(!owner.is_stale());
    }
}
