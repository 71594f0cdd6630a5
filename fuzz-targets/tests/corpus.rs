//! Every fuzz target over its whole corpus (`fuzz/corpus/<target>`) and every input that once
//! crashed it (`fuzz/regressions/<target>`), then random mutations for `BASINS_FUZZ_SECONDS` per target
//! (default 2; CI sets 60). A panic fails the test and prints the input; an abort fails the
//! whole binary.

use std::path::Path;
use std::time::Duration;

use basins_fuzz_targets::{drive, read_corpus, Target, TARGETS};

fn run(name: &str) {
    let target: Target = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a target")
        .1;
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let dir = fuzz.join("corpus").join(name);
    let mut corpus = read_corpus(&dir);
    // Inputs that once crashed a target, kept apart so that minimising the corpus never
    // drops them.
    corpus.extend(read_corpus(&fuzz.join("regressions").join(name)));
    assert!(!corpus.is_empty(), "no corpus in {}", dir.display());
    let seconds: u64 = std::env::var("BASINS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    // A different seed each day still reproduces: the seed is printed.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    let r = drive(target, &corpus, Duration::from_secs(seconds), seed);
    println!(
        "{name}: {} executions in {:.1} s over {} corpus entries (seed {seed})",
        r.executions,
        r.elapsed.as_secs_f64(),
        r.corpus
    );
    if let Some(f) = r.finding {
        // Printed as well as panicked: another test's driver may have the panic hook muted.
        println!(
            "{name} panicked: {}\ninput: {:?}",
            f.message,
            String::from_utf8_lossy(&f.input)
        );
        panic!(
            "{name} panicked: {}\ninput ({} bytes, seed {seed}): {:?}",
            f.message,
            f.input.len(),
            String::from_utf8_lossy(&f.input)
        );
    }
}

#[test]
fn manifest() {
    run("manifest");
}

#[test]
fn data_reader() {
    run("data_reader");
}

#[test]
fn model_dir() {
    run("model_dir");
}

#[test]
fn action_record() {
    run("action_record");
}

#[test]
fn cli_flags() {
    run("cli_flags");
}

#[test]
fn include_graph() {
    run("include_graph");
}
