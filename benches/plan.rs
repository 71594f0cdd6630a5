//! `cargo bench --bench plan`: how long `basins plan` and a no-op `basins run` take on a
//! fully cached 100-seed, all-pairs study (4,950 interpolation nodes, 100 finetune and 100
//! evaluate nodes, and the analysis nodes after them), through the real CLI binary with the
//! engine's synthetic stage kinds. Target: under 1 s each. The first (cold) run that fills the
//! cache is timed too, as a measure of per-node engine overhead (hashing, fsync, records).
//!
//! `BASINS_BENCH_SEEDS` changes the number of seeds (default 100).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn manifest(seeds: usize) -> String {
    format!(
        r#"[study]
name = "bench"
cache = "cache"

[models.tiny]
builtin = {{ layers = 2, hidden = 64 }}

[tasks.nli]
format = "generated"
generate = {{ generator = "nli", seed = 0, train = 4000, eval = 1000 }}
labels = ["entailment", "non-entailment"]

[diagnostics.hans]
task = "nli"
format = "generated"
generate = {{ generator = "hans", seed = 1 }}

[finetune]
model = "tiny"
tasks = ["nli"]
seeds = "0..{seeds}"

[interpolate]
pairs = "all"
alphas = {{ linspace = [0.0, 1.0, 10] }}
max_examples = 512

[cluster]
k = 2

[report]
title = "bench"
"#
    )
}

fn time(dir: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_basins-testkit"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run basins-testkit");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn stats(dir: &Path, args: &[&str], reps: usize) -> (Duration, Duration) {
    let mut t: Vec<Duration> = (0..reps).map(|_| time(dir, args)).collect();
    t.sort();
    (t[0], t[reps / 2])
}

fn main() {
    // `cargo test --benches` runs benches once in test mode with `--bench` absent; keep it quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("plan benchmark: run with `cargo bench --bench plan`");
        return;
    }
    let seeds: usize = std::env::var("BASINS_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("m.toml"), manifest(seeds)).unwrap();
    let nodes = {
        let out = Command::new(env!("CARGO_BIN_EXE_basins-testkit"))
            .current_dir(dir.path())
            .args(["graph", "m.toml"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with(' '))
            .count()
    };
    println!("study: {seeds} seeds, {nodes} nodes");
    let (cold, _) = stats(dir.path(), &["plan", "m.toml"], 1);
    println!(
        "plan, empty cache:            {:>8.3} s",
        cold.as_secs_f64()
    );
    let fill = time(dir.path(), &["run", "m.toml", "--jobs", "2"]);
    println!(
        "run, empty cache (fills it):  {:>8.3} s  ({:.2} ms per node)",
        fill.as_secs_f64(),
        fill.as_secs_f64() * 1000.0 / nodes as f64
    );
    for (name, args) in [
        ("plan, all cached", &["plan", "m.toml"][..]),
        ("run, all cached (no-op)", &["run", "m.toml"][..]),
        ("status, all cached", &["status", "m.toml"][..]),
    ] {
        let (min, median) = stats(dir.path(), args, 7);
        println!(
            "{name:<29} min {:>7.3} s   median {:>7.3} s   (target < 1 s)",
            min.as_secs_f64(),
            median.as_secs_f64()
        );
    }
}
