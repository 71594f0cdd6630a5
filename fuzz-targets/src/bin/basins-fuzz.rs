//! The stable fuzz driver: for each target, replay every corpus file, then mutate corpus
//! entries at random until the time is up. A panic is caught, its input saved and reported
//! (exit 1); an abort kills the process, which fails the caller just the same.
//!
//! `basins-fuzz [--seconds N] [--corpus DIR] [--crashes DIR] [--seed S] [TARGET ...]`
//! `basins-fuzz --write-seeds DIR` writes the generated corpus seeds (the tiny model).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use basins_fuzz_targets::{mutate::mutate, TARGETS};
use rand::{Rng, SeedableRng};

const MAX_LEN: usize = 64 * 1024;

fn main() -> std::process::ExitCode {
    let mut seconds = 10u64;
    let mut corpus = PathBuf::from("fuzz/corpus");
    let mut crashes = std::env::temp_dir().join("basins-fuzz-crashes");
    let mut seed = 0u64;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{what} needs a value")))
        };
        match a.as_str() {
            "--seconds" => {
                seconds = value("--seconds")
                    .parse()
                    .unwrap_or_else(|_| usage("--seconds takes a whole number"))
            }
            "--corpus" => corpus = value("--corpus").into(),
            "--crashes" => crashes = value("--crashes").into(),
            "--seed" => {
                seed = value("--seed")
                    .parse()
                    .unwrap_or_else(|_| usage("--seed takes a whole number"))
            }
            "--write-seeds" => {
                let dir = PathBuf::from(value("--write-seeds")).join("model_dir");
                std::fs::create_dir_all(&dir).expect("create the corpus directory");
                std::fs::write(
                    dir.join("tiny-bert"),
                    basins_fuzz_targets::tiny_model_seed(),
                )
                .expect("write the seed");
                return std::process::ExitCode::SUCCESS;
            }
            "-h" | "--help" => usage(""),
            t if TARGETS.iter().any(|(n, _)| *n == t) => names.push(t.to_owned()),
            other => usage(&format!("unknown target or flag `{other}`")),
        }
    }
    if names.is_empty() {
        names = TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    }
    // Panics are the findings: keep their messages off the terminal, report them ourselves.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for name in names {
        let target = TARGETS.iter().find(|(n, _)| *n == name).expect("known").1;
        let entries = read_corpus(&corpus.join(&name));
        let start = Instant::now();
        let mut execs = 0u64;
        let mut crash = None;
        for input in &entries {
            execs += 1;
            if std::panic::catch_unwind(|| target(input)).is_err() {
                crash = Some(input.clone());
                break;
            }
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let budget = Duration::from_secs(seconds);
        while crash.is_none() && start.elapsed() < budget && !entries.is_empty() {
            let a = &entries[rng.random_range(0..entries.len())];
            let b = &entries[rng.random_range(0..entries.len())];
            let input = mutate(&mut rng, a, b, MAX_LEN);
            execs += 1;
            if std::panic::catch_unwind(|| target(&input)).is_err() {
                crash = Some(input);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        match crash {
            None => println!(
                "{name}: {execs} executions in {secs:.1} s ({:.0}/s) over {} corpus entries, no crash",
                execs as f64 / secs.max(1e-9),
                entries.len()
            ),
            Some(input) => {
                failed = true;
                std::fs::create_dir_all(&crashes).ok();
                let path = crashes.join(format!("{name}-{}", blake3_hex(&input)));
                std::fs::write(&path, &input).ok();
                let _ = std::panic::take_hook();
                let message = std::panic::catch_unwind(|| target(&input))
                    .err()
                    .map(|p| {
                        p.downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                std::panic::set_hook(Box::new(|_| {}));
                println!(
                    "{name}: CRASH after {execs} executions: {message}\n  input saved to {}",
                    path.display()
                );
            }
        }
        if entries.is_empty() {
            failed = true;
            println!("{name}: no corpus in {}", corpus.join(&name).display());
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

fn read_corpus(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

fn blake3_hex(bytes: &[u8]) -> String {
    basins_cache::Digest::of_bytes(bytes).to_hex()[..16].to_owned()
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    eprintln!(
        "usage: basins-fuzz [--seconds N] [--corpus DIR] [--crashes DIR] [--seed S] [TARGET ...]\n\
         \x20      basins-fuzz --write-seeds DIR\ntargets: {}",
        names.join(", ")
    );
    std::process::exit(2)
}
