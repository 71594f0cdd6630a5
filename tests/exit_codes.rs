//! The exit codes the README documents are the ones the CLI has, and errors land on them by
//! their class (`EngineError::class`, exhaustive over the variants).

mod common;

use common::*;

#[test]
fn the_readme_table_lists_exactly_the_cli_codes() {
    let readme = include_str!("../README.md");
    let table = readme
        .split("### Exit codes")
        .nth(1)
        .expect("README has an exit-code section");
    let documented: Vec<u8> = table
        .lines()
        .skip_while(|l| !l.starts_with("| code"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("README row `{l}`: {e}"))
        })
        .collect();
    use basins::exit::*;
    assert_eq!(documented, [OK, FAILED, BAD_INPUT, ERROR, INTERRUPTED]);
}

#[test]
fn manifests_on_different_caches_are_bad_input_for_gc() {
    let fx = Fixture::new();
    let text = std::fs::read_to_string(fx.path("m.toml")).unwrap();
    fx.write(
        "m2.toml",
        &text.replace("cache = \"cache\"", "cache = \"other\""),
    );
    let out = fx.cli(&["gc", "m.toml", "m2.toml"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("different caches"));
}

// One test per documented code, each through the CLI.

#[test]
fn code_0_a_run_that_finishes() {
    let fx = Fixture::new();
    assert_eq!(fx.cli(&["run", "m.toml"]).status.code(), Some(0));
}

#[test]
fn code_1_a_node_failed_or_verify_found_a_difference() {
    let fx = Fixture::new();
    let out = fx
        .cmd()
        .args(["run", "m.toml"])
        .env("BASINS_TESTKIT_FAIL", "evaluate/*")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = fx
        .cmd()
        .args(["verify", "m.toml"])
        .env("BASINS_TESTKIT_JITTER", "finetune/*")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn code_2_bad_input() {
    let fx = Fixture::new();
    fx.edit("seeds = \"0..4\"", "seeds = \"4..0\"");
    let out = fx.cli(&["run", "m.toml"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("m.toml:"));
    assert_eq!(fx.cli(&["run", "missing.toml"]).status.code(), Some(2));
    assert_eq!(fx.cli(&["run", "--no-such-flag"]).status.code(), Some(2));
}

/// The cache stops taking writes in the middle of a run (its `actions/` folder is replaced by a
/// file, which no user can undo by permissions, root included): an engine fault, exit 3, after
/// the running nodes drained, and the run log still ends with `run_finished`.
#[test]
fn code_3_a_cache_fault_during_a_run() {
    let fx = Fixture::new();
    let child = fx.slow_run("2", "300");
    let actions = fx.cache().join("actions");
    fx.wait_for_records(2);
    std::fs::rename(&actions, fx.cache().join("actions.away")).unwrap();
    std::fs::write(&actions, "not a directory").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("actions"), "the error names the path: {err}");
    let runs = walk(&fx.cache().join("runs"));
    assert_eq!(runs.len(), 1);
    let log = std::fs::read_to_string(&runs[0]).unwrap();
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.last().unwrap()["event"], "run_finished", "{log}");
    let started = events.iter().filter(|e| e["event"] == "node_started");
    for s in started {
        let node = &s["node"];
        assert!(
            events.iter().any(|e| &e["node"] == node
                && ["node_executed", "node_failed", "node_interrupted"]
                    .contains(&e["event"].as_str().unwrap())),
            "{node} started and never ended: {log}"
        );
    }
}

#[test]
fn code_130_interrupted() {
    let fx = Fixture::new();
    let child = fx.slow_run("1", "300");
    fx.wait_for_records(1);
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
