//! The engine's guarantees, asserted through the real CLI (`basins-testkit`).

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn first_run_executes_everything_and_second_run_nothing() {
    let fx = Fixture::new();
    let first = fx.run(&[]);
    assert_eq!(set(&first, "executed").len(), NODES);
    assert!(set(&first, "cached").is_empty());
    let second = fx.run(&[]);
    assert!(
        set(&second, "executed").is_empty(),
        "second run executed {:?}",
        second["executed"]
    );
    assert_eq!(set(&second, "cached").len(), NODES);
    assert_objects_intact(&fx.cache());
    let plan = fx.json(&["plan", "m.toml", "--json"]);
    assert!(plan
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["status"] == "fresh"));
}

#[test]
fn same_manifest_gives_same_keys_and_table_order_does_not_matter() {
    let a = Fixture::new();
    let b = Fixture::new();
    // Same manifest in another directory with another cache: identical recipe keys.
    a.run(&[]);
    b.run(&[]);
    assert_eq!(a.keys(), b.keys());
    // Tables and keys reordered, comments added: still the same keys.
    let reordered = r#"# reordered
[report]
title = "test study"

[cluster]
k = 2

[interpolate]
alphas = { linspace = [0.0, 1.0, 5] }
pairs = "all"

[finetune]
batch_size = 16
lr = 0.00002
seeds = [0, 1, 2, 3]
tasks = ["cola"]
model = "tiny"

[diagnostics.ood]
file = "data/ood.tsv"
format = "cola"
task = "cola"

[tasks.cola]
labels = ["0", "1"]
eval = { dev = "data/dev.tsv" }
train = "data/train.tsv"
format = "cola"

[models.tiny]
builtin = { hidden = 32, layers = 2 }

[study]
cache = "cache"
name = "t"
"#;
    b.write("m.toml", reordered);
    // Every key but the report's: the page shows the manifest's text, so the text is in its
    // key, and an edited comment renders the page again and nothing else.
    let but_report = |k: Vec<(String, Value)>| -> Vec<(String, Value)> {
        k.into_iter().filter(|(n, _)| n != "report").collect()
    };
    let (ka, kb) = (a.keys(), b.keys());
    assert_eq!(but_report(ka.clone()), but_report(kb.clone()));
    assert_ne!(ka, kb);
    assert_eq!(set(&b.run(&[]), "executed"), ids(&["report"]));
}

#[test]
fn a_changed_param_reruns_only_that_node_and_its_descendants() {
    let fx = Fixture::new();
    fx.run(&[]);
    fx.edit("k = 2", "k = 3");
    let plan = fx.json(&["why", "m.toml", "cluster/cola", "--json"]);
    let reasons = &plan[0]["reasons"];
    assert_eq!(reasons[0]["reason"], "param_changed", "{reasons}");
    assert_eq!(reasons[0]["param"], "k.fixed");
    let run = fx.run(&[]);
    assert_eq!(
        set(&run, "executed"),
        ids(&[
            "cluster/cola",
            "diagnostics/cola",
            "controls/cola",
            "report"
        ])
    );
    // The alpha grid: interpolation and everything after it, never finetuning or evaluation.
    fx.edit("linspace = [0.0, 1.0, 5]", "linspace = [0.0, 1.0, 3]");
    let run = fx.run(&[]);
    let executed = set(&run, "executed");
    let expected: BTreeSet<String> = [
        "interpolate/cola/0~1",
        "interpolate/cola/0~2",
        "interpolate/cola/0~3",
        "interpolate/cola/1~2",
        "interpolate/cola/1~3",
        "interpolate/cola/2~3",
        "barriers/cola",
        "cluster/cola",
        "diagnostics/cola",
        "controls/cola",
        "report",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(executed, expected);
    // A data file: evaluation and interpolation read it, finetuning does not.
    std::fs::write(fx.path("data/dev.tsv"), "gj04\t0\t*\tDog a ran.\n").unwrap();
    let why = fx.json(&["why", "m.toml", "evaluate/cola/seed=0", "--json"]);
    assert_eq!(why[0]["reasons"][0]["reason"], "input_changed");
    assert_eq!(why[0]["reasons"][0]["role"], "eval:cola.dev");
    let executed = set(&fx.run(&[]), "executed");
    assert!(
        executed
            .iter()
            .all(|n| !n.starts_with("finetune/") && !n.starts_with("pretrain/")),
        "{executed:?}"
    );
    assert_eq!(
        executed
            .iter()
            .filter(|n| n.starts_with("evaluate/"))
            .count(),
        4
    );
    // 4 evaluations, 6 paths, barriers, cluster, diagnostics, controls, report.
    assert_eq!(executed.len(), 4 + 6 + 5);
}

#[test]
fn plan_and_why_explain_field_by_field() {
    let fx = Fixture::new();
    let out = fx.cli(&["plan", "m.toml"]);
    assert_success(&out, &["plan"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("0 fresh, 0 to fetch, 1 to run, 19 blocked"),
        "{text}"
    );
    fx.run(&[]);
    fx.edit("lr = 2e-5", "lr = 5e-5");
    let out = fx.cli(&["why", "m.toml", "finetune/cola/seed=2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("param `hyper.lr` changed: 0.00002 -> 0.00005"),
        "{text}"
    );
    let out = fx.cli(&["why", "m.toml", "evaluate/cola/seed=2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("input `model` waits on `finetune/cola/seed=2`, which must run first"),
        "{text}"
    );
    let out = fx.cli(&["why", "m.toml", "finetune/cola/seed=9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `finetune/cola/seed="));
}

#[test]
fn kill_9_mid_run_then_rerun_completes_and_verifies() {
    let fx = Fixture::new();
    let mut child = fx
        .cmd()
        .args(["run", "m.toml", "--jobs", "2"])
        .env("BASINS_TESTKIT_SLEEP_MS", "300")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some nodes have finished, then kill without warning.
    let start = Instant::now();
    while walk(&fx.cache().join("actions")).len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = walk(&fx.cache().join("actions")).len();
    assert!(done_before < NODES, "the run finished before it was killed");
    assert_objects_intact(&fx.cache());
    let rerun = fx.run(&[]);
    let executed = set(&rerun, "executed");
    assert_eq!(executed.len() + set(&rerun, "cached").len(), NODES);
    assert!(executed.len() < NODES, "finished nodes were not kept");
    assert!(set(&rerun, "failed").is_empty());
    let verify = fx.json(&["verify", "m.toml", "--json"]);
    assert_eq!(verify["checked"], NODES);
    assert!(
        verify["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["verdict"] == "bit_exact"),
        "{verify}"
    );
    assert_objects_intact(&fx.cache());
    // What the killed run left in scratch is swept by gc.
    let gc = fx.json(&["gc", "m.toml", "--json"]);
    assert_eq!(gc["removed_actions"], 0);
    assert!(walk(&fx.cache().join("tmp")).is_empty());
}

#[test]
fn two_concurrent_runs_both_finish_and_each_node_runs_once() {
    let fx = Fixture::new();
    let spawn = || {
        fx.cmd()
            .args(["run", "m.toml", "--json", "--jobs", "2"])
            .env("BASINS_TESTKIT_SLEEP_MS", "100")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_success(&a, &["run a"]);
    assert_success(&b, &["run b"]);
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&a.stdout).unwrap(),
        serde_json::from_slice(&b.stdout).unwrap(),
    );
    let (ea, eb) = (set(&a, "executed"), set(&b, "executed"));
    assert!(
        ea.is_disjoint(&eb),
        "executed twice: {:?}",
        ea.intersection(&eb).collect::<Vec<_>>()
    );
    assert_eq!(ea.len() + eb.len(), NODES);
    for run in [&a, &b] {
        let seen = set(run, "executed").len() + set(run, "reused").len() + set(run, "cached").len();
        assert_eq!(seen, NODES, "a run did not account for every node: {run}");
    }
}

#[test]
fn a_flipped_byte_is_detected_and_recomputed() {
    let fx = Fixture::new();
    fx.run(&[]);
    let ckpt = object_of(&fx, "finetune/cola/seed=0", "model.bin");
    let original = std::fs::read(&ckpt).unwrap();
    flip_byte(&ckpt);
    // A consumer reads the checkpoint: the corruption is caught and the producer recomputed.
    fx.edit("linspace = [0.0, 1.0, 5]", "linspace = [0.0, 1.0, 4]");
    let run = fx.run(&[]);
    let executed = set(&run, "executed");
    assert!(executed.contains("finetune/cola/seed=0"), "{executed:?}");
    assert!(!executed.contains("finetune/cola/seed=1"));
    assert!(set(&run, "failed").is_empty());
    assert_eq!(
        std::fs::read(&ckpt).unwrap(),
        original,
        "the recomputed object is bit-identical"
    );
    assert_objects_intact(&fx.cache());
    // `verify` finds corruption too, exits non-zero, and the next run heals it.
    let result = object_of(&fx, "evaluate/cola/seed=3", "out.json");
    flip_byte(&result);
    let out = fx.cli(&["verify", "m.toml", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdict = |node: &str| {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == node)
            .unwrap()["verdict"]
            .clone()
    };
    assert_eq!(verdict("evaluate/cola/seed=3"), "corrupt", "{v}");
    // Its consumers cannot be re-executed, and say why; everything else still verifies.
    assert_eq!(verdict("barriers/cola"), "input_corrupt");
    assert_eq!(verdict("diagnostics/cola"), "input_corrupt");
    assert_eq!(v["by_kind"]["finetune"]["bit_exact"], 4);
    assert_eq!(v["by_kind"]["interpolate"]["bit_exact"], 6);
    assert_eq!(
        set(&fx.run(&[]), "executed"),
        ids(&["evaluate/cola/seed=3"])
    );
    assert_objects_intact(&fx.cache());
}

#[test]
fn verify_reports_per_kind_tolerance_and_differences() {
    let fx = Fixture::new();
    fx.run(&[]);
    // Run-to-run noise in a kind judged by tolerance on metrics: accepted.
    let out = fx
        .cmd()
        .args(["verify", "m.toml", "--json"])
        .env("BASINS_TESTKIT_JITTER", "evaluate/*")
        .output()
        .unwrap();
    assert_success(&out, &["verify with jitter in evaluate"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["by_kind"]["evaluate"]["within_tolerance"], 4, "{v}");
    assert_eq!(v["by_kind"]["finetune"]["bit_exact"], 4);
    // The same noise in a bit-exact kind is a failure.
    let out = fx
        .cmd()
        .args(["verify", "m.toml", "--json", "--sample", "50"])
        .env("BASINS_TESTKIT_JITTER", "finetune/*")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["by_kind"]["finetune"]["differs"], 4, "{v}");
    // --sample checks that many.
    let v = fx.json(&["verify", "m.toml", "--json", "--sample", "5"]);
    assert_eq!(v["checked"], 5);
}

#[test]
fn a_failing_node_stops_its_descendants_and_keep_going_runs_the_rest() {
    let fx = Fixture::new();
    let out = fx
        .cmd()
        .args(["run", "m.toml", "--json", "--jobs", "1"])
        .env("BASINS_TESTKIT_FAIL", "finetune/cola/seed=1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed"][0]["node"], "finetune/cola/seed=1");
    assert!(v["failed"][0]["message"]
        .as_str()
        .unwrap()
        .contains("injected failure"));
    let stopped_executed = set(&v, "executed").len();
    let out = fx
        .cmd()
        .args(["run", "m.toml", "--json", "--keep-going"])
        .env("BASINS_TESTKIT_FAIL", "finetune/cola/seed=1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped = set(&v, "skipped");
    for n in [
        "evaluate/cola/seed=1",
        "interpolate/cola/0~1",
        "interpolate/cola/1~3",
        "barriers/cola",
        "report",
    ] {
        assert!(skipped.contains(n), "{n} not skipped: {skipped:?}");
    }
    let done: BTreeSet<String> = set(&v, "executed")
        .union(&set(&v, "cached"))
        .cloned()
        .collect();
    for n in [
        "evaluate/cola/seed=0",
        "evaluate/cola/seed=3",
        "interpolate/cola/0~2",
        "interpolate/cola/2~3",
    ] {
        assert!(done.contains(n), "{n} not run with --keep-going: {done:?}");
    }
    assert!(done.len() > stopped_executed);
    // The failure is on record, with its log.
    let status = fx.json(&["status", "m.toml", "--json"]);
    assert_eq!(
        status["last_run_failures"][0]["node"],
        "finetune/cola/seed=1"
    );
    assert_eq!(status["by_kind"]["finetune"]["run"], 1);
    let logs = walk(&fx.cache().join("logs"));
    assert!(logs.iter().any(|l| std::fs::read_to_string(l)
        .unwrap_or_default()
        .contains("injected failure")));
}

#[test]
fn subprocess_executor_gives_the_same_keys_and_outputs() {
    let local = Fixture::new();
    let sub = Fixture::new();
    local.run(&[]);
    let v = sub.run(&["--executor", "subprocess", "--jobs", "2"]);
    assert_eq!(set(&v, "executed").len(), NODES);
    assert_eq!(local.keys(), sub.keys());
    for node in ["finetune/cola/seed=2", "barriers/cola", "report"] {
        let a = local.json(&["show", "m.toml", node, "--json"]);
        let b = sub.json(&["show", "m.toml", node, "--json"]);
        assert_eq!(
            a["record"]["output_hash"], b["record"]["output_hash"],
            "{node}"
        );
        assert_eq!(b["record"]["executor"], "subprocess");
    }
    // exec-node works from the recorded recipe alone: no manifest in sight.
    let key = sub.json(&["show", "m.toml", "report", "--json"])["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = sub
        .cmd()
        .current_dir("/")
        .args(["exec-node", "--cache", sub.cache().to_str().unwrap(), &key])
        .output()
        .unwrap();
    assert_success(&out, &["exec-node"]);
    // What it tells its parent is the engine's one protocol type.
    use basins_engine::exec::{ChildLine, Outcome};
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(ChildLine::decode);
    assert_eq!(
        last,
        Some(ChildLine::Outcome {
            outcome: Outcome::Reused
        })
    );
}

#[test]
fn only_runs_the_matching_nodes_and_what_they_need() {
    let fx = Fixture::new();
    let v = fx.run(&["--only", "evaluate/*seed=2"]);
    assert_eq!(
        set(&v, "executed"),
        ids(&[
            "pretrain/tiny",
            "finetune/cola/seed=2",
            "evaluate/cola/seed=2"
        ])
    );
}

#[test]
fn gc_keeps_what_the_manifest_uses_and_reports_bytes() {
    let fx = Fixture::new();
    fx.run(&[]);
    fx.edit("linspace = [0.0, 1.0, 5]", "linspace = [0.0, 1.0, 3]");
    fx.run(&[]);
    let dry = fx.json(&["gc", "m.toml", "--dry-run", "--json"]);
    // The 6 paths, their barriers, cluster, diagnostics, controls and report.
    assert_eq!(dry["removed_actions"], 11, "{dry}");
    assert_eq!(dry["kept_actions"], NODES);
    assert!(
        dry["removed_by_kind"]["interpolate"]["results"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        dry["kept_by_kind"]["finetune"]["checkpoints"]
            .as_u64()
            .unwrap()
            >= 4 * 64 * 1024
    );
    assert_eq!(
        walk(&fx.cache().join("actions")).len(),
        NODES + 11,
        "a dry run removed something"
    );
    let real = fx.json(&["gc", "m.toml", "--json"]);
    assert_eq!(real["removed_actions"], 11);
    assert_eq!(walk(&fx.cache().join("actions")).len(), NODES);
    assert!(
        set(&fx.run(&[]), "executed").is_empty(),
        "gc removed something live"
    );
    assert_objects_intact(&fx.cache());
}

#[test]
fn graph_prints_text_and_dot() {
    let fx = Fixture::new();
    let out = fx.cli(&["graph", "m.toml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("interpolate/cola/1~3  [interpolate]\n    model_a <- finetune/cola/seed=1\n    model_b <- finetune/cola/seed=3\n    eval:cola.dev <- "),
        "{text}"
    );
    let out = fx.cli(&["graph", "m.toml", "--dot"]);
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph study {"));
    let node_edges = text
        .lines()
        .filter(|l| l.contains(" <- ") && !l.split(" <- ").nth(1).unwrap().starts_with('/'))
        .count();
    assert_eq!(dot.matches(" -> ").count(), node_edges);
}

#[test]
fn ctrl_c_stops_dispatch_keeps_finished_nodes_and_leaves_the_cache_consistent() {
    stops_on(libc::SIGINT);
}

/// SIGTERM (what `kill`, systemd and Slurm's own cancellation send) is taken as Ctrl-C: stop
/// dispatching, keep finished nodes, say so, exit 130 (before: killed, 143, without a word).
#[test]
fn sigterm_is_taken_as_ctrl_c() {
    stops_on(libc::SIGTERM);
}

fn stops_on(signal: i32) {
    let fx = Fixture::new();
    let child = fx.slow_run("2", "300");
    fx.wait_for_records(2);
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted: finishing running nodes"),
        "{err}"
    );
    let kept = walk(&fx.cache().join("actions")).len();
    assert!((2..NODES).contains(&kept), "kept {kept}");
    assert_objects_intact(&fx.cache());
    let rerun = fx.run(&[]);
    assert_eq!(set(&rerun, "cached").len(), kept);
    assert_eq!(set(&rerun, "executed").len(), NODES - kept);
    assert!(fx.cli(&["verify", "m.toml"]).status.success());
}

#[test]
fn device_nodes_get_distinct_device_ids_from_gpus() {
    let fx = Fixture::new();
    fx.edit("name = \"t\"", "name = \"t\"\nbackend = \"cuda\"");
    let v = fx.run(&["--gpus", "0,1", "--jobs", "4", "--executor", "subprocess"]);
    assert_eq!(set(&v, "executed").len(), NODES);
    let log = std::fs::read_to_string(v["run_log"].as_str().unwrap()).unwrap();
    let events: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let device_kinds = ["pretrain", "finetune", "evaluate", "interpolate"];
    let mut held: std::collections::BTreeMap<String, u64> = Default::default();
    let mut max_parallel = 0;
    for e in &events {
        match e["event"].as_str().unwrap() {
            "node_started" => {
                let node = e["node"].as_str().unwrap().to_owned();
                if device_kinds.contains(&e["kind"].as_str().unwrap()) {
                    let gpu = e["gpu"]
                        .as_u64()
                        .unwrap_or_else(|| panic!("device node without a device: {e}"));
                    assert!(gpu <= 1);
                    assert!(
                        !held.values().any(|g| *g == gpu),
                        "device {gpu} handed out twice: {e}"
                    );
                    held.insert(node.clone(), gpu);
                    max_parallel = max_parallel.max(held.len());
                } else {
                    assert!(e["gpu"].is_null(), "{e}");
                }
            }
            "node_executed" | "node_failed" => {
                held.remove(e["node"].as_str().unwrap());
            }
            _ => {}
        }
    }
    assert!(max_parallel <= 2);
    let show = fx.json(&["show", "m.toml", "finetune/cola/seed=1", "--json"]);
    let node_log = std::fs::read_to_string(show["log"].as_str().unwrap()).unwrap();
    let started = events
        .iter()
        .find(|e| e["event"] == "node_started" && e["node"] == "finetune/cola/seed=1")
        .unwrap();
    assert!(
        node_log.contains(&format!(
            "gpu=Some({0}) CUDA_VISIBLE_DEVICES={0}",
            started["gpu"]
        )),
        "{node_log}"
    );
}

#[test]
fn a_stage_kind_version_bump_reruns_that_kind_and_downstream() {
    let fx = Fixture::new();
    fx.run(&[]);
    let out = fx
        .cmd()
        .args(["why", "m.toml", "cluster/cola", "--json"])
        .env("BASINS_TESTKIT_BUMP", "cluster")
        .output()
        .unwrap();
    assert_success(&out, &["why with a bumped kind"]);
    let why: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(why[0]["status"], "run");
    assert_eq!(
        why[0]["reasons"][0]["reason"], "kind_version_changed",
        "{why}"
    );
    assert_eq!(
        (
            why[0]["reasons"][0]["old"].as_u64(),
            why[0]["reasons"][0]["new"].as_u64()
        ),
        // The testkit's versions sit far from the real kinds' (see engine/src/testkit.rs).
        (Some(1_000_001), Some(1_000_002))
    );
    let out = fx
        .cmd()
        .args(["run", "m.toml", "--json"])
        .env("BASINS_TESTKIT_BUMP", "cluster")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        set(&v, "executed"),
        ids(&[
            "cluster/cola",
            "diagnostics/cola",
            "controls/cola",
            "report"
        ])
    );
}

#[test]
fn identical_outputs_from_a_rerun_leave_descendants_cached() {
    let fx = Fixture::new();
    fx.run(&[]);
    // Lose one record (as after a gc of another study, or a corrupt object).
    let key = fx.json(&["show", "m.toml", "barriers/cola", "--json"])["key"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::remove_file(
        fx.cache()
            .join("actions")
            .join(&key[..2])
            .join(format!("{}.json", &key[2..])),
    )
    .unwrap();
    let why = fx.json(&["why", "m.toml", "barriers/cola", "--json"]);
    assert_eq!(why[0]["reasons"][0]["reason"], "record_missing", "{why}");
    // It reruns, reproduces the same output hash, and nothing after it is invalidated.
    assert_eq!(set(&fx.run(&[]), "executed"), ids(&["barriers/cola"]));
}

#[test]
fn a_panicking_stage_fails_its_node_and_the_run_ends() {
    // A panic in a stage thread (a library's `unwrap`, as the CUDA runtime does when no driver
    // can be loaded) once left the scheduler waiting forever.
    let fx = Fixture::new();
    for executor in ["local", "subprocess"] {
        let mut child = fx
            .cmd()
            .args([
                "run",
                "m.toml",
                "--json",
                "--keep-going",
                "--executor",
                executor,
            ])
            .env("BASINS_TESTKIT_PANIC", "finetune/cola/seed=2")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("`basins run` ({executor}) still running 120 s after a stage panicked");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{executor}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["failed"][0]["node"], "finetune/cola/seed=2", "{v}");
        let message = v["failed"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("injected panic (BASINS_TESTKIT_PANIC)"),
            "{executor}: {message}"
        );
        assert!(set(&v, "skipped").contains("evaluate/cola/seed=2"), "{v}");
        // Nothing of the failed node is in the cache: a later run without the panic runs it.
        let again = fx.json(&["run", "m.toml", "--json"]);
        assert!(set(&again, "executed").contains("finetune/cola/seed=2"));
        std::fs::remove_dir_all(fx.cache()).unwrap();
    }
}

#[test]
fn the_testkit_never_shares_records_with_the_real_kinds() {
    // The testkit's kinds carry the real kinds' names; a real `basins` on the same manifest and
    // cache must not take their records (a demo cache once held the testkit's `generate`).
    // GENERATED starts from `generate` nodes, whose real kind is at version 1 as well.
    let fx = Fixture::new();
    fx.write("g.toml", GENERATED);
    assert_success(&fx.cli(&["run", "g.toml"]), &["testkit run"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basins"))
        .current_dir(fx.dir.path())
        .args(["status", "g.toml", "--json"])
        .output()
        .unwrap();
    assert_success(&out, &["status"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds = v["by_kind"].as_object().unwrap();
    assert!(kinds.len() >= 5, "{v}");
    for (kind, counts) in kinds {
        assert_eq!(counts["fresh"], 0, "{kind}: {counts}");
    }
}

/// `report` checks every object it copies out of the cache: a flipped byte in the cached page
/// is quarantined and the report node reruns (before: the corrupt page was copied, exit 0). The
/// copies are fresh files whose mode follows the user's umask (before: always 0666).
#[test]
fn report_copies_only_intact_objects_and_respects_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    fx.run(&[]);
    let obj = object_of(&fx, "report", "out.json");
    let original = std::fs::read(&obj).unwrap();
    flip_byte(&obj);
    let out = std::process::Command::new("sh")
        .current_dir(fx.path("."))
        .env("BASINS_BIN", env!("CARGO_BIN_EXE_basins-testkit"))
        .args([
            "-c",
            "umask 027 && exec \"$BASINS_BIN\" report m.toml --out rep",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("`out.json` was corrupt"), "{err}");
    let copy = fx.path("rep/out.json");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        original,
        "the recomputed page"
    );
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "umask 027 gives 0640, not {mode:o}");
}

/// A set's primary metric is read by the diagnostics node alone: changing it reruns that node
/// (and what reads its output, the controls and the report, if it changed), never an
/// evaluation or a path.
#[test]
fn a_changed_metric_reruns_only_the_diagnostics() {
    let fx = Fixture::new();
    fx.run(&[]);
    fx.edit(
        "file = \"data/ood.tsv\"",
        "file = \"data/ood.tsv\"\nmetric = \"f1\"",
    );
    let executed = set(&fx.run(&[]), "executed");
    assert!(executed.contains("diagnostics/cola"), "{executed:?}");
    assert!(
        executed
            .iter()
            .all(|e| ["diagnostics/cola", "controls/cola", "report"].contains(&e.as_str())),
        "{executed:?}"
    );
}
