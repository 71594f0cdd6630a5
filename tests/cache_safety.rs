//! The cache against concurrent collectors, edited records, corrupt objects on their way out,
//! and filesystems that fill up or turn read-only: each test was written against a failure a
//! fault-injection pass found (issue 16).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::Value;

#[test]
fn gc_during_a_run_waits_for_it_and_removes_nothing_it_published() {
    let fx = Fixture::new();
    let run = fx
        .cmd()
        .args(["run", "m.toml", "--json", "--jobs", "2"])
        .env("BASINS_TESTKIT_SLEEP_MS", "150")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the run has published a record it holds the cache: collect while it still works.
    wait_for(|| !walk(&fx.cache().join("actions")).is_empty());
    let gcs: Vec<_> = (0..2)
        .map(|_| {
            fx.cmd()
                .args(["gc", "m.toml", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let run = run.wait_with_output().unwrap();
    assert_success(&run, &["run under gc"]);
    let run: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(set(&run, "executed").len(), NODES, "{run}");
    let mut waited = false;
    for gc in gcs {
        let out = gc.wait_with_output().unwrap();
        assert_success(&out, &["gc beside a run (and another gc)"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["removed_actions"], 0, "{v}");
        waited |= String::from_utf8_lossy(&out.stderr)
            .contains("waiting for the processes using the cache");
    }
    assert!(waited, "no gc said whom it waited for");
    assert_eq!(walk(&fx.cache().join("actions")).len(), NODES);
    assert!(
        set(&fx.run(&[]), "executed").is_empty(),
        "gc removed a record"
    );
    assert_objects_intact(&fx.cache());
}

#[test]
fn gc_removes_the_half_written_files_a_killed_run_leaves() {
    let fx = Fixture::new();
    fx.run(&[]);
    // What `kill -9` between write and rename leaves (the pid cannot exist: pid_max < 2^22).
    let shard = walk(&fx.cache().join("actions"))[0]
        .parent()
        .unwrap()
        .to_owned();
    let left = [
        shard.join(".w.2147483647.0.17"),
        fx.cache().join("recipes").join(".w.2147483647.1.17"),
    ];
    for p in &left {
        std::fs::write(p, b"{\"half").unwrap();
    }
    let gc = fx.json(&["gc", "m.toml", "--json"]);
    assert_eq!(gc["temp_files"], 2, "{gc}");
    assert!(left.iter().all(|p| !p.exists()));
    assert!(set(&fx.run(&[]), "executed").is_empty());
}

/// Poll (for at most a minute) until `done` holds.
fn wait_for(done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_run_waiting_for_another_process_says_who_holds_the_node() {
    let fx = Fixture::new();
    let only = ["run", "m.toml", "--json", "--only", "pretrain/tiny"];
    let first = fx
        .cmd()
        .args(only)
        .env("BASINS_TESTKIT_SLEEP_MS", "3000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first run holds the node's lock once it has written its name into the lock file.
    wait_for(|| {
        walk(&fx.cache().join("locks"))
            .iter()
            .filter(|p| p.parent().unwrap().file_name().unwrap() == "locks")
            .filter(|p| p.file_name().unwrap() != "cache")
            .any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    });
    let second = fx
        .cmd()
        .args(only)
        .env("BASINS_TESTKIT_SLEEP_MS", "3000")
        .output()
        .unwrap();
    let pid = first.id();
    assert_success(&first.wait_with_output().unwrap(), &["first run"]);
    assert_success(&second, &["second run"]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!("waiting for pid {pid} on ")),
        "the waiting run did not name the holder (pid {pid}), without -v: {err}"
    );
}

fn record_path(fx: &Fixture, node: &str) -> std::path::PathBuf {
    let show = fx.json(&["show", "m.toml", node, "--json"]);
    let key = show["key"].as_str().unwrap().to_owned();
    fx.cache()
        .join("actions")
        .join(&key[..2])
        .join(format!("{}.json", &key[2..]))
}

fn status_of(fx: &Fixture, node: &str) -> Value {
    fx.json(&["plan", "m.toml", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["node"] == node)
        .unwrap()["status"]
        .clone()
}

#[test]
fn an_edited_record_is_caught_and_its_node_recomputed() {
    let fx = Fixture::new();
    fx.run(&[]);
    let node = "evaluate/cola/seed=3";
    let path = record_path(&fx, node);
    let mut env: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let original = env["record"]["metrics"]["value"].as_f64().unwrap();
    // A careless edit keeps the envelope's check as it was.
    env["record"]["metrics"]["value"] = serde_json::json!(0.123);
    std::fs::write(&path, serde_json::to_vec(&env).unwrap()).unwrap();
    assert_eq!(status_of(&fx, node), "run", "plan trusted an edited record");
    assert!(
        walk(&fx.cache().join("quarantine"))
            .iter()
            .any(|p| p.to_string_lossy().contains("action-")),
        "the edited record was not set aside"
    );
    // The run recomputes exactly that node; the edited value reaches nothing downstream.
    let run = fx.run(&[]);
    assert_eq!(set(&run, "executed"), ids(&[node]), "{run}");
    let show = fx.json(&["show", "m.toml", node, "--json"]);
    assert_eq!(show["metrics"]["value"].as_f64(), Some(original));

    // A record written before envelopes is read, and checked by what it says of itself.
    let path = record_path(&fx, "barriers/cola");
    let env: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut legacy = env["record"].clone();
    std::fs::write(&path, serde_json::to_vec_pretty(&legacy).unwrap()).unwrap();
    assert_eq!(status_of(&fx, "barriers/cola"), "fresh");
    legacy["metrics"]["value"] = serde_json::json!(0.5);
    std::fs::write(&path, serde_json::to_vec_pretty(&legacy).unwrap()).unwrap();
    assert_eq!(status_of(&fx, "barriers/cola"), "run");
    assert_eq!(
        set(&fx.run(&[]), "executed"),
        ids(&["barriers/cola"]),
        "an edited old-style record was trusted"
    );
}

#[test]
fn a_record_pointing_its_log_outside_the_cache_is_refused() {
    let fx = Fixture::new();
    fx.run(&[]);
    let path = record_path(&fx, "cluster/cola");
    let mut env: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    env["record"]["log"] = serde_json::json!("../../../../etc/passwd");
    let inner = serde_json::to_vec(&env["record"]).unwrap();
    std::fs::write(&path, inner).unwrap();
    assert_eq!(status_of(&fx, "cluster/cola"), "run");
}

#[test]
fn show_checks_the_objects_it_hands_out() {
    let fx = Fixture::new();
    fx.run(&[]);
    let node = "interpolate/cola/0~1";
    let show = fx.json(&["show", "m.toml", node, "--json"]);
    assert_eq!(show["status"], "fresh", "{show}");
    let object = std::path::PathBuf::from(show["outputs"][0]["path"].as_str().unwrap());
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&object, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut bytes = std::fs::read(&object).unwrap();
        bytes[3] ^= 0x20;
        std::fs::write(&object, bytes).unwrap();
    }
    let out = fx.cli(&["show", "m.toml", node, "--json"]);
    assert_success(&out, &["show of a corrupt node"]);
    let show: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        show["status"], "run",
        "show handed out a corrupt object: {show}"
    );
    assert!(show["outputs"].as_array().unwrap().is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is corrupt or missing"));
    assert_eq!(set(&fx.run(&[]), "executed"), ids(&[node]));
    assert_objects_intact(&fx.cache());
}

/// A folder where a record should be made every verb exit 3, and gc could not repair it
/// (issue 32): it is set aside like any damaged record, the node recomputed, and gc runs.
#[test]
fn a_record_path_that_is_a_folder_is_set_aside_and_recomputed() {
    let fx = Fixture::new();
    fx.run(&[]);
    let node = "cluster/cola";
    let path = record_path(&fx, node);
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("junk"), "x").unwrap();
    assert_eq!(status_of(&fx, node), "run");
    assert!(
        walk(&fx.cache().join("quarantine"))
            .iter()
            .any(|p| p.to_string_lossy().contains("action-")),
        "the folder was not set aside"
    );
    fx.json(&["status", "m.toml", "--json"]);
    let run = fx.run(&[]);
    assert_eq!(set(&run, "executed"), ids(&[node]), "{run}");
    assert!(record_path(&fx, node).is_file());
    common::assert_success(&fx.cli(&["gc", "m.toml"]), &["gc"]);
}
