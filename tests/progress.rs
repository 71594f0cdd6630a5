//! What a run says while it runs, without a terminal: a line per node start and end, and from
//! each long node progress lines with its step, loss and rate (`basins run > log 2>&1`); and
//! `basins status` during a run names the running nodes and where they are.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn every_finetune_node_reports_step_loss_and_rate_before_it_ends() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("m.toml"), ground_truth_manifest(0.5)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basins"))
        .current_dir(d)
        .args(["run", "m.toml", "--progress-every", "0.03"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let lines: Vec<&str> = log.lines().collect();
    for seed in 0..4 {
        let node = format!("finetune/nli/seed={seed}");
        let start = lines
            .iter()
            .position(|l| *l == format!("start   {node}"))
            .unwrap_or_else(|| panic!("no start line for {node}:\n{log}"));
        let end = lines
            .iter()
            .position(|l| l.starts_with(&format!("ran     {node} (")))
            .unwrap_or_else(|| panic!("no end line for {node}:\n{log}"));
        let progress = lines[start..end]
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{node}: ")))
            .unwrap_or_else(|| panic!("no progress line for {node}:\n{log}"));
        // `finetune/nli/seed=0: 57/200 (28%), loss 0.693, 1234.5 seq/s, eta 1s`
        let detail = progress.split_once(": ").unwrap().1;
        let (steps, rest) = detail.split_once(' ').unwrap();
        let (done, total) = steps.split_once('/').unwrap();
        assert!(
            done.parse::<u64>().unwrap() <= 200 && total == "200",
            "{progress}"
        );
        let loss: f64 = rest
            .split(", ")
            .find_map(|p| p.strip_prefix("loss "))
            .unwrap_or_else(|| panic!("no loss in `{progress}`"))
            .parse()
            .unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{progress}");
        assert!(
            rest.split(", ").any(|p| p.ends_with(" seq/s")
                && p.trim_end_matches(" seq/s").parse::<f64>().unwrap() > 0.0),
            "{progress}"
        );
    }
}

#[test]
fn status_during_a_run_names_the_running_nodes_and_their_progress() {
    let fx = Fixture::new();
    let mut child = fx
        .cmd()
        .args(["run", "m.toml", "--jobs", "1"])
        .env("BASINS_TESTKIT_SLEEP_MS", "20000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let running = loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no progress seen"
        );
        std::thread::sleep(Duration::from_millis(200));
        let s = fx.json(&["status", "m.toml", "--json"]);
        let r = &s["running"];
        if r["nodes"][0]["progress"]["done"].as_u64().is_some() {
            break r.clone();
        }
    };
    let text = String::from_utf8(fx.cli(&["status", "m.toml"]).stdout).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(running["alive"], true, "{running}");
    let node = running["nodes"][0]["node"].as_str().unwrap();
    assert_eq!(running["nodes"][0]["progress"]["total"], 10, "{running}");
    assert!(text.contains("running:"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("  {node}: ")) && l.contains("/10 (")),
        "{text}"
    );
    // Killed: the run is said to have ended without finishing.
    let s = fx.json(&["status", "m.toml", "--json"]);
    assert_eq!(s["running"]["alive"], false, "{s}");
}

/// `--progress-every 1e20` once panicked converting to a `Duration`; it is refused as bad input
/// with the range, as are negative and non-numbers.
#[test]
fn a_progress_interval_out_of_range_is_refused() {
    let fx = Fixture::new();
    for bad in ["1e20", "-1", "NaN", "inf", "soon"] {
        let flag = format!("--progress-every={bad}");
        let out = fx.cli(&["run", "m.toml", &flag]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("from 0 to 86400 (a day)"), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{bad}: {err}");
    }
}
