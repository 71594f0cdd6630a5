//! The stable driver: replay every corpus entry, then mutate entries at random until the time
//! is up. A panic is caught and returned as a finding with its input; an abort kills the
//! process, which fails the caller just the same.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::mutate::mutate;
use crate::Target;

const MAX_LEN: usize = 64 * 1024;

/// What a bounded run did.
#[derive(Debug)]
pub struct Run {
    pub executions: u64,
    pub corpus: usize,
    pub elapsed: Duration,
    pub finding: Option<Finding>,
}

/// An input that made a target panic, and the panic's message.
#[derive(Debug)]
pub struct Finding {
    pub input: Vec<u8>,
    pub message: String,
}

/// Every file in `dir`, sorted by name.
pub fn read_corpus(dir: &Path) -> Vec<Vec<u8>> {
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

fn attempt(target: Target, input: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| target(input))).map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into())
    })
}

/// Replay `corpus`, then mutate it for `budget`, with mutations drawn from `seed`. Panic
/// messages are kept off stderr while it runs (they are the findings, reported by the caller).
pub fn drive(target: Target, corpus: &[Vec<u8>], budget: Duration, seed: u64) -> Run {
    let start = Instant::now();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut executions = 0u64;
    let mut finding = None;
    for input in corpus {
        executions += 1;
        if let Err(message) = attempt(target, input) {
            finding = Some(Finding {
                input: input.clone(),
                message,
            });
            break;
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    while finding.is_none() && start.elapsed() < budget && !corpus.is_empty() {
        let a = &corpus[rng.random_range(0..corpus.len())];
        let b = &corpus[rng.random_range(0..corpus.len())];
        let input = mutate(&mut rng, a, b, MAX_LEN);
        executions += 1;
        if let Err(message) = attempt(target, &input) {
            finding = Some(Finding { input, message });
        }
    }
    std::panic::set_hook(previous);
    Run {
        executions,
        corpus: corpus.len(),
        elapsed: start.elapsed(),
        finding,
    }
}
