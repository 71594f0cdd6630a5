//! Studies through a real Slurm cluster (`.ci/run` starts one on localhost with
//! `../shared/scripts/slurm/` and exports `SLURM_CONF`). Every test here is `#[ignore]`d, so a
//! machine without a cluster shows them as ignored in the summary, never as passed;
//! `scripts/test` runs them (`--ignored`) when `SLURM_CONF` is set, and `BASINS_REQUIRE_SLURM=1`
//! makes a missing cluster a failure.
//!
//! Same results as the local executor; a failing node reported with its log and its
//! descendants not run; a killed `basins run` re-attached without duplicate submissions; Ctrl-C
//! cancelling the jobs; manifest and path values that hold shell syntax never reaching a shell.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Fixture;
use serde_json::Value;

/// Whether a Slurm cluster answers; prints why not (or panics when CI requires one).
fn have_slurm() -> bool {
    let ok = std::env::var_os("SLURM_CONF").is_some()
        && Command::new("squeue")
            .arg("-h")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        let why = "no Slurm cluster (SLURM_CONF unset or squeue failing); `.ci/run` starts one with ../shared/scripts/slurm/slurm-local-up.sh";
        assert!(
            std::env::var_os("BASINS_REQUIRE_SLURM").is_none(),
            "BASINS_REQUIRE_SLURM is set but there is {why}"
        );
        println!("SKIPPED: {why}");
    }
    ok
}

/// This study's array tasks as squeue shows them (finished ones included): (name, state).
fn queue(tag_part: &str) -> Vec<(String, String)> {
    let out = Command::new("squeue")
        .args(["--me", "-r", "-h", "-t", "all", "-o", "%j|%T"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .filter(|(n, _)| n.contains(tag_part))
        .map(|(n, s)| (n.to_owned(), s.to_owned()))
        .collect()
}

/// Every node submitted to Slurm under this cache, with how often: the keys files hold one
/// `KEY NODE` line per array task.
fn submissions(cache: &Path) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for dir in std::fs::read_dir(cache.join("slurm")).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "keys") {
                for line in std::fs::read_to_string(&p).unwrap().lines() {
                    let node = line.split_once(' ').unwrap().1.to_owned();
                    *count.entry(node).or_default() += 1;
                }
            }
        }
    }
    count
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn spawn_run(fx: &Fixture, sleep_ms: &str) -> Child {
    fx.cmd()
        .args(["run", "m.toml", "--executor", "slurm", "--json"])
        .env("BASINS_TESTKIT_SLEEP_MS", sleep_ms)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Nodes whose result is in the cache.
fn fresh(fx: &Fixture) -> u64 {
    let status = fx.json(&["status", "m.toml", "--json"]);
    status["by_kind"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["fresh"].as_u64().unwrap())
        .sum()
}

/// A unique study name per test, so tests sharing the cluster never see each other's jobs.
fn fixture(name: &str) -> Fixture {
    let fx = Fixture::new();
    fx.edit("name = \"t\"", &format!("name = \"{name}\""));
    fx
}

#[test]
#[ignore = "needs a Slurm cluster (SLURM_CONF); scripts/test runs it when one answers"]
fn a_real_study_through_slurm_matches_the_local_executor() {
    if !have_slurm() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let manifest = common::GENERATED.replace("name = \"gen\"", "name = \"slurm-real\"");
    std::fs::write(d.join("m.toml"), manifest).unwrap();
    let local = common::basins_json(d, &["--cache", "local", "run", "m.toml", "--json"]);
    let slurm = common::basins_json(
        d,
        &[
            "--cache",
            "shared",
            "run",
            "m.toml",
            "--executor",
            "slurm",
            "--json",
        ],
    );
    let nodes = |v: &Value| {
        let mut n: Vec<String> = v["executed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(nodes(&local), nodes(&slurm), "the same nodes ran");
    assert!(nodes(&slurm).iter().any(|n| n.starts_with("finetune/")));
    for node in nodes(&local) {
        let show = |cache: &str| {
            common::basins_json(d, &["--cache", cache, "show", "m.toml", &node, "--json"])
        };
        let (a, b) = (show("local"), show("shared"));
        assert_eq!(a["key"], b["key"], "{node}: recipe keys differ");
        assert_eq!(
            a["record"]["output_hash"], b["record"]["output_hash"],
            "{node}: outputs differ between the local and the Slurm executor"
        );
    }
    // Nodes of one kind that were ready together went out as one array: fewer submissions
    // than nodes.
    let arrays = std::fs::read_dir(d.join("shared/slurm"))
        .unwrap()
        .flat_map(|e| std::fs::read_dir(e.unwrap().path()).unwrap())
        .filter(|f| {
            f.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|e| e == "sh")
        })
        .count();
    assert!(
        arrays < nodes(&slurm).len(),
        "{arrays} arrays for {} nodes",
        nodes(&slurm).len()
    );
}

#[test]
#[ignore = "needs a Slurm cluster (SLURM_CONF); scripts/test runs it when one answers"]
fn a_failing_node_is_reported_with_its_log_and_its_descendants_do_not_run() {
    if !have_slurm() {
        return;
    }
    let fx = fixture("slurmfail");
    let out = fx
        .cmd()
        .args([
            "run",
            "m.toml",
            "--executor",
            "slurm",
            "--json",
            "--keep-going",
        ])
        .env("BASINS_TESTKIT_FAIL", "finetune/cola/seed=1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{summary}");
    assert_eq!(failed[0]["node"], "finetune/cola/seed=1");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(message.contains("ended FAILED"), "{message}");
    assert!(
        message.contains("injected failure (BASINS_TESTKIT_FAIL)"),
        "the job's stderr is quoted: {message}"
    );
    let skipped: Vec<&str> = summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for d in [
        "evaluate/cola/seed=1",
        "interpolate/cola/0~1",
        "barriers/cola",
        "report",
    ] {
        assert!(skipped.contains(&d), "{d} should not run: {skipped:?}");
    }
    let ran = submissions(&fx.path("cache"));
    assert!(!ran.contains_key("evaluate/cola/seed=1"), "{ran:?}");
    assert!(
        ran.contains_key("evaluate/cola/seed=0"),
        "independent nodes still ran"
    );
}

#[test]
#[ignore = "needs a Slurm cluster (SLURM_CONF); scripts/test runs it when one answers"]
fn killing_basins_run_and_rerunning_reattaches_without_duplicate_submissions() {
    if !have_slurm() {
        return;
    }
    let fx = fixture("slurmkill");
    let mut first = spawn_run(&fx, "1500");
    wait_until("a running job", Duration::from_secs(60), || {
        queue("basins-slurmkill-")
            .iter()
            .any(|(_, s)| s == "RUNNING")
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let in_slurm = queue("basins-slurmkill-");
    assert!(
        in_slurm
            .iter()
            .any(|(_, s)| s == "RUNNING" || s == "PENDING"),
        "the killed run's jobs live on in Slurm: {in_slurm:?}"
    );
    let second = fx
        .cmd()
        .args(["run", "m.toml", "--executor", "slurm", "--json"])
        .env("BASINS_TESTKIT_SLEEP_MS", "1500")
        .output()
        .unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let counts = submissions(&fx.path("cache"));
    assert_eq!(
        counts.len(),
        common::NODES,
        "every node was submitted: {counts:?}"
    );
    assert!(
        counts.values().all(|&c| c == 1),
        "no node was submitted twice: {counts:?}"
    );
    assert_eq!(fresh(&fx), common::NODES as u64);
}

#[test]
#[ignore = "needs a Slurm cluster (SLURM_CONF); scripts/test runs it when one answers"]
fn ctrl_c_cancels_the_runs_jobs_and_keeps_the_cache_consistent() {
    if !have_slurm() {
        return;
    }
    let fx = fixture("slurmint");
    let mut run = spawn_run(&fx, "30000");
    wait_until("a running job", Duration::from_secs(60), || {
        queue("basins-slurmint-")
            .iter()
            .any(|(_, s)| s == "RUNNING")
    });
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    wait_until("the jobs to be cancelled", Duration::from_secs(30), || {
        queue("basins-slurmint-")
            .iter()
            .all(|(_, s)| s.starts_with("CANCELLED"))
    });
    // Nothing was published by the cancelled jobs; a later run has all of it still to do.
    assert_eq!(fresh(&fx), 0);
}

/// Shell syntax in the cache path and in manifest values reaches sbatch as literal text: the
/// study runs, and no command hidden in those values runs.
#[test]
#[ignore = "needs a Slurm cluster (SLURM_CONF); scripts/test runs it when one answers"]
fn values_with_shell_syntax_cannot_run_commands() {
    if !have_slurm() {
        return;
    }
    let fx = fixture("slurmquote");
    let cache = "we ird $(touch PWNED) ; `touch PWNED2` 'q\"";
    fx.edit("cache = \"cache\"", &format!("cache = '''{cache}'''"));
    fx.edit(
        "[models.tiny]",
        "[study.slurm]\nextra_args = [\"--comment=$(touch PWNED3); touch PWNED4\"]\nmax_jobs = 4\n\n[models.tiny]",
    );
    let out = fx.cli(&["run", "m.toml", "--executor", "slurm", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["executed"].as_array().unwrap().len(), common::NODES);
    for f in ["PWNED", "PWNED2", "PWNED3", "PWNED4"] {
        assert!(
            !fx.path(f).exists(),
            "{f} was created: a value reached a shell"
        );
        assert!(
            !fx.path(cache).join(f).exists(),
            "{f} was created in the cache"
        );
    }
    // The run directory (job scripts, keys, logs) is the user's alone.
    use std::os::unix::fs::PermissionsExt;
    for dir in std::fs::read_dir(fx.path(cache).join("slurm")).unwrap() {
        let mode = dir.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "run directory mode {mode:o}");
    }
}
