//! The stable fuzz driver as a command (see `drive`):
//!
//! `basins-fuzz [--seconds N] [--corpus DIR] [--crashes DIR] [--seed S] [TARGET ...]`
//! `basins-fuzz --write-seeds DIR` writes the generated corpus seeds (the tiny model).

use std::path::PathBuf;
use std::time::Duration;

use basins_fuzz_targets::{drive, read_corpus, TARGETS};

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
                if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| {
                    std::fs::write(
                        dir.join("tiny-bert"),
                        basins_fuzz_targets::tiny_model_seed(),
                    )
                }) {
                    eprintln!("error: writing {}: {e}", dir.display());
                    return std::process::ExitCode::from(3);
                }
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
    let mut failed = false;
    for name in names {
        let target = TARGETS.iter().find(|(n, _)| *n == name).expect("known").1;
        let mut entries = read_corpus(&corpus.join(&name));
        if let Some(fuzz) = corpus.parent() {
            entries.extend(read_corpus(&fuzz.join("regressions").join(&name)));
        }
        if entries.is_empty() {
            failed = true;
            println!("{name}: no corpus in {}", corpus.join(&name).display());
            continue;
        }
        let run = drive(target, &entries, Duration::from_secs(seconds), seed);
        let secs = run.elapsed.as_secs_f64();
        match run.finding {
            None => println!(
                "{name}: {} executions in {secs:.1} s ({:.0}/s) over {} corpus entries, no crash",
                run.executions,
                run.executions as f64 / secs.max(1e-9),
                run.corpus
            ),
            Some(f) => {
                failed = true;
                let _ = std::fs::create_dir_all(&crashes);
                let path = crashes.join(format!(
                    "{name}-{}",
                    &basins_cache::Digest::of_bytes(&f.input).to_hex()[..16]
                ));
                let _ = std::fs::write(&path, &f.input);
                println!(
                    "{name}: CRASH after {} executions: {}\n  input saved to {}",
                    run.executions,
                    f.message,
                    path.display()
                );
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
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
