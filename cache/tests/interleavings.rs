//! Property: whatever the interleaving of publishing, reading and collecting across 2-4
//! processes, and whichever of them is killed when, the store never hands out a corrupt
//! object and never loses one that a record names.
//!
//! Each case starts worker processes (this test binary again, selected by an environment
//! variable) on one store. A worker publishes objects and then a record naming each (holding
//! the shared cache lock, as `run` does), reads records back and checks their objects, or
//! collects (holding the exclusive lock, with every current record live, as `gc` does with a
//! plan). The parent kills some workers at random moments with SIGKILL, then checks the store.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use basins_cache::{Digest, Store};
use proptest::prelude::*;

const WORKER_ENV: &str = "BASINS_STORE_WORKER";

/// The objects a record names (`{"objects": [hex, ...]}`).
fn named_objects(bytes: &[u8]) -> Vec<Digest> {
    let v: serde_json::Value = serde_json::from_slice(bytes).expect("records are JSON");
    v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o.as_str().expect("hex").parse().expect("digest"))
        .collect()
}

fn fail(msg: String) -> ! {
    eprintln!("VIOLATION: {msg}");
    std::process::exit(1)
}

/// One worker's life: `ops` operations drawn from `seed`.
fn worker(root: &Path, seed: u64, ops: usize) {
    let store = Store::open(root).expect("open");
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..ops {
        match next() % 10 {
            // Publish 1-3 objects (from a small pool, so that writers collide), then the record.
            0..=4 => {
                let _use = store.in_use(|_| {}).expect("in_use");
                let n = 1 + next() % 3;
                let mut objects = Vec::new();
                for _ in 0..n {
                    let size = 1 + (next() % 50_000) as usize;
                    let fill = (next() % 8) as u8;
                    let info = store.put_bytes(&vec![fill; size]).expect("put");
                    objects.push(info.digest.to_hex());
                }
                let key = Digest::of_bytes(format!("{seed}/{i}").as_bytes());
                let record =
                    serde_json::to_vec(&serde_json::json!({ "objects": objects })).expect("json");
                store.put_action(&key, &record).expect("put_action");
            }
            // Read every record and check what it names.
            5..=7 => {
                let _use = store.in_use(|_| {}).expect("in_use");
                for key in store.action_keys() {
                    let Some(read) = store.get_action(&key).expect("get_action") else {
                        continue;
                    };
                    for d in named_objects(read.bytes()) {
                        match store.verified_object(&d) {
                            Ok(p) => {
                                let bytes = std::fs::read(&p).expect("read object");
                                if Digest::of_bytes(&bytes) != d {
                                    fail(format!("object {d} handed out with other bytes"));
                                }
                            }
                            Err(e) => fail(format!("record {} names {d}: {e}", key.short())),
                        }
                    }
                }
            }
            // Collect: live = every record now present (read under the exclusive lock).
            _ => {
                let lock = store.exclusive(|_| {}).expect("exclusive");
                let mut live_actions = HashSet::new();
                let mut live_objects = HashSet::new();
                for key in store.action_keys() {
                    if let Some(read) = store.get_action(&key).expect("get_action") {
                        live_actions.insert(key);
                        live_objects.extend(named_objects(read.bytes()));
                    }
                }
                store
                    .gc(Some(&lock), &live_actions, &live_objects, false)
                    .expect("gc");
            }
        }
    }
}

/// The worker entry point: a no-op unless this binary was started as a worker.
#[test]
fn worker_entry() {
    if let Ok(spec) = std::env::var(WORKER_ENV) {
        let mut parts = spec.splitn(3, ',');
        let root = parts.next().expect("root");
        let seed: u64 = parts.next().expect("seed").parse().expect("seed");
        let ops: usize = parts.next().expect("ops").parse().expect("ops");
        worker(Path::new(root), seed, ops);
    }
}

/// After the dust settles: every record's objects are present and intact, and no object in
/// the store has bytes other than its name says.
fn check_store(root: &Path) -> Result<(), String> {
    let store = Store::open(root).map_err(|e| e.to_string())?;
    for key in store.action_keys() {
        let Some(read) = store.get_action(&key).map_err(|e| e.to_string())? else {
            continue;
        };
        for d in named_objects(read.bytes()) {
            store
                .rehashed_object(&d)
                .map_err(|e| format!("record {} lost {d}: {e}", key.short()))?;
        }
    }
    for entry in walkdir(&root.join("objects")) {
        let name = format!(
            "{}{}",
            entry
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy(),
            entry.file_name().unwrap().to_string_lossy()
        );
        let d: Digest = name.parse().map_err(|e: String| e)?;
        if Digest::of_bytes(&std::fs::read(&entry).unwrap()) != d {
            return Err(format!("object {d} is corrupt"));
        }
    }
    Ok(())
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for shard in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(shard.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            out.push(f.path());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_interleaving_loses_or_corrupts_a_published_object(
        workers in prop::collection::vec((any::<u64>(), 5usize..40, prop::option::of(0u64..120)), 2..=4)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut children: Vec<_> = workers
            .iter()
            .map(|(seed, ops, kill_after)| {
                let child = Command::new(&exe)
                    .args(["--exact", "worker_entry", "--nocapture", "--test-threads", "1"])
                    .env(WORKER_ENV, format!("{},{seed},{ops}", dir.path().display()))
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                (child, *kill_after)
            })
            .collect();
        let start = std::time::Instant::now();
        for (child, kill_after) in &mut children {
            if let Some(ms) = kill_after {
                let wait = Duration::from_millis(*ms).saturating_sub(start.elapsed());
                std::thread::sleep(wait);
                let _ = child.kill();
            }
        }
        for (child, kill_after) in children {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            prop_assert!(!err.contains("VIOLATION"), "a worker saw: {}", err);
            if kill_after.is_none() {
                prop_assert!(out.status.success(), "a worker failed: {}", err);
            }
        }
        if let Err(e) = check_store(dir.path()) {
            prop_assert!(false, "{}", e);
        }
        // And a collection after the kills keeps everything a record names.
        let store = Store::open(dir.path()).unwrap();
        let lock = store.exclusive(|_| {}).unwrap();
        let mut live_a = HashSet::new();
        let mut live_o = HashSet::new();
        for key in store.action_keys() {
            if let Some(read) = store.get_action(&key).unwrap() {
                live_a.insert(key);
                live_o.extend(named_objects(read.bytes()));
            }
        }
        store.gc(Some(&lock), &live_a, &live_o, false).unwrap();
        drop(lock);
        if let Err(e) = check_store(dir.path()) {
            prop_assert!(false, "after gc: {}", e);
        }
    }
}
