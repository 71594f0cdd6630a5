//! Hostile and changing inputs (issue 32): what a stage reads is what its key says, reads from a
//! user path are bounded, and include graphs are limited. Each case here once ran: a record
//! filed new content under the old key, `/dev/zero` was read until memory ran out, an include
//! chain overflowed the stack.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Fixture;

/// Append to the training file while its finetune node sleeps: the run must not record the
/// node under the key of the content it saw at planning, and `plan` afterwards must say the
/// node is to run (its key now names the new bytes).
#[test]
fn an_input_edited_while_its_node_runs_is_not_recorded_under_the_old_key() {
    let fx = Fixture::new();
    fx.json(&["run", "m.toml", "--only", "pretrain/tiny", "--json"]);
    let node = "finetune/cola/seed=0";
    let before = key_of(&fx, node);
    let child = fx
        .cmd()
        .args(["run", "m.toml", "--only", node, "--json", "--jobs", "1"])
        .env("BASINS_TESTKIT_SLEEP_MS", "3000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_running(&fx, node);
    std::fs::OpenOptions::new()
        .append(true)
        .open(fx.path("data/train.tsv"))
        .unwrap()
        .write_all(b"gj04\t1\t\tA new row.\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = run["failed"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("input `train`")
            && msg.contains("data/train.tsv")
            && msg.contains("changed while the node ran")
            && msg.contains("nothing was recorded"),
        "{run}"
    );
    let plan = fx.json(&["plan", "m.toml", "--json"]);
    let p = plan
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["node"] == node)
        .unwrap();
    assert_ne!(p["key"], before, "the key still names the old bytes: {p}");
    assert_eq!(p["status"], "run", "{p}");
    // Run again: recorded under the new content's key, and verify agrees.
    fx.json(&["run", "m.toml", "--only", node, "--json"]);
    let plan = fx.json(&["plan", "m.toml", "--json"]);
    let p = plan
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["node"] == node)
        .unwrap();
    assert_eq!(p["status"], "fresh", "{p}");
}

/// An edit that keeps the size and puts the mtime back (`touch -d`) is still seen: the stat
/// memo holds the inode change time, which user space cannot set.
#[test]
fn an_edit_that_restores_size_and_mtime_is_still_seen() {
    let fx = Fixture::new();
    fx.run(&[]);
    let train = fx.path("data/train.tsv");
    let mtime = std::fs::metadata(&train).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&train).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&train, text.replace("The cat sat.", "The dog sat.")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&train)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&train).unwrap().modified().unwrap(),
        mtime
    );
    let plan = fx.json(&["plan", "m.toml", "--json"]);
    let stale: Vec<&str> = plan
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] != "fresh")
        .map(|p| p["node"].as_str().unwrap())
        .collect();
    assert!(stale.contains(&"finetune/cola/seed=0"), "{plan}");
}

/// `/dev/zero` as a manifest, an include, or a data file: refused at once, under a 1 GiB
/// address-space limit (it was read until the OOM killer came, or hashed for ever).
#[test]
fn devices_are_refused_as_manifests_includes_and_data() {
    if !std::path::Path::new("/dev/zero").exists() {
        return;
    }
    let fx = Fixture::new();
    let out = limited(&fx, &["plan", "/dev/zero"]);
    refused(&out, "not a regular file");

    fx.edit("[study]", "include = [\"/dev/zero\"]\n\n[study]");
    let out = limited(&fx, &["plan", "m.toml"]);
    refused(&out, "not a regular file");

    let fx = Fixture::new();
    fx.edit("train = \"data/train.tsv\"", "train = \"/dev/zero\"");
    let out = limited(&fx, &["plan", "m.toml"]);
    refused(&out, "/dev/zero");
    refused(&out, "not a regular file");
}

/// A manifest larger than the limit is refused, naming the limit.
#[test]
fn an_oversized_manifest_is_refused_with_the_limit() {
    let fx = Fixture::new();
    let mut text = std::fs::read_to_string(fx.path("m.toml")).unwrap();
    text.push_str(&format!("# {}\n", "x".repeat(2 << 20)));
    fx.write("m.toml", &text);
    let out = fx.cli(&["plan", "m.toml"]);
    refused(&out, "larger than 1024 KiB");
}

/// A chain of 800 includes (a stack overflow once) and 31 files that each include the next
/// twice (2^31 reads once) are refused at the include that crosses the limit.
#[test]
fn include_chains_and_blowups_are_limited() {
    let fx = Fixture::new();
    for i in 0..800 {
        fx.write(
            &format!("c{i}.toml"),
            &format!("include = [\"c{}.toml\"]\n", i + 1),
        );
    }
    fx.write("c800.toml", "");
    fx.edit("[study]", "include = [\"c0.toml\"]\n\n[study]");
    let out = fx.cli(&["plan", "m.toml"]);
    refused(&out, "includes nest deeper than 16 files");

    let fx = Fixture::new();
    for i in 0..31 {
        fx.write(
            &format!("d{i}.toml"),
            &format!("include = [\"d{n}.toml\", \"d{n}.toml\"]\n", n = i + 1),
        );
    }
    fx.write("d31.toml", "");
    fx.edit("[study]", "include = [\"d20.toml\"]\n\n[study]");
    let start = Instant::now();
    let out = fx.cli(&["plan", "m.toml"]);
    refused(&out, "more than 256 files in all");
    assert!(start.elapsed() < Duration::from_secs(30));

    // A shared file included from two places, a few levels deep, is fine.
    let fx = Fixture::new();
    fx.write("common.toml", "[report]\ntitle = \"shared\"\n");
    fx.write("a.toml", "include = [\"common.toml\"]\n");
    fx.write("b.toml", "include = [\"common.toml\"]\n");
    fx.edit("[study]", "include = [\"a.toml\", \"b.toml\"]\n\n[study]");
    common::assert_success(&fx.cli(&["plan", "m.toml"]), &["plan with a diamond"]);
}

/// Exit 2 (bad input), with `said` in the error.
fn refused(out: &Output, said: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stderr(out).contains(said), "{}", stderr(out));
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The command under `prlimit --as=1GiB` where prlimit exists (util-linux), else plainly; the
/// checks on the output hold either way.
fn limited(fx: &Fixture, args: &[&str]) -> Output {
    let prlimit = Command::new("prlimit").arg("--version").output().is_ok();
    let testkit = env!("CARGO_BIN_EXE_basins-testkit");
    let mut c = if prlimit {
        let mut c = Command::new("prlimit");
        c.arg(format!("--as={}", 1u64 << 30)).arg(testkit);
        c
    } else {
        Command::new(testkit)
    };
    let out = c
        .current_dir(fx.dir.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        !stderr(&out).contains("memory allocation") && !stderr(&out).contains("panicked"),
        "{}",
        stderr(&out)
    );
    out
}

fn key_of(fx: &Fixture, node: &str) -> serde_json::Value {
    fx.keys()
        .into_iter()
        .find(|(n, _)| n == node)
        .map(|(_, k)| k)
        .unwrap()
}

fn wait_until_running(fx: &Fixture, node: &str) {
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{node} never ran"
        );
        let s = fx.json(&["status", "m.toml", "--json"]);
        if s["running"]["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n["node"] == node))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `data check` streams: its memory is the counts it keeps, not the file (a 24 MB file once
/// took 1.47 GB; rows were all held, each with its own group map). Measured as the child's
/// peak resident set, which must stay far below the file's parsed size.
#[test]
fn data_check_memory_does_not_grow_with_the_file() {
    let fx = Fixture::new();
    let path = fx.path("big.tsv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        f,
        "gold_label\tsentence1\tsentence2\theuristic\tsubcase\ttemplate"
    )
    .unwrap();
    let mut i = 0u64;
    let mut written = 0usize;
    while written < 24 << 20 {
        let label = ["entailment", "non-entailment"][(i % 2) as usize];
        let row = format!(
            "{label}\tThe doctor near the actor saw the lawyer number {i}.\tThe actor saw the \
             lawyer {i}.\tlexical_overlap\tln_subject/object_swap\ttemp{}\n",
            i % 1000
        );
        f.write_all(row.as_bytes()).unwrap();
        written += row.len();
        i += 1;
    }
    drop(f);
    let out = fx.cli(&["data", "check", "big.tsv", "--format", "hans", "--json"]);
    common::assert_success(&out, &["data check big.tsv"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], i, "{report}");
    assert_eq!(report["groups"]["template"]["distinct"], 1000, "{report}");
    // SAFETY: getrusage writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    let peak_mb = usage.ru_maxrss / 1024;
    assert!(
        peak_mb < 100,
        "a child of this test peaked at {peak_mb} MB reading a 24 MB file"
    );
}
