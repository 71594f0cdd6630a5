//! What several verbs share: the flags `run`, `report` and `fetch` have in common, declared
//! once (cargo's `command_prelude`), and how a verb prints JSON. Verbs import from here, never
//! from `cli`, so that the command table depends on the verbs and not the other way round.

use clap::Args;

/// How a run shows its progress (`run` and `report`).
#[derive(Args, Clone)]
pub struct Progress {
    /// Without a terminal: seconds between two progress lines of a running node (the first
    /// comes after a third of it).
    #[arg(long, value_name = "SECONDS", default_value_t = 15.0, value_parser = seconds)]
    pub progress_every: f64,
}

impl Progress {
    /// The wait between two progress lines (bounded by the parser, so it always converts).
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.progress_every)
    }
}

/// The longest wait between progress lines: a day (a larger number once overflowed the
/// conversion to a `Duration` and panicked).
const MAX_PROGRESS_SECONDS: f64 = 86_400.0;

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=MAX_PROGRESS_SECONDS).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds from 0 to {MAX_PROGRESS_SECONDS} (a day)"
        )),
    }
}

/// How many nodes run at once, and on which devices (`run` and `report`).
#[derive(Args, Clone)]
pub struct Slots {
    /// Nodes to run at once (default: the CPU count; with Slurm, `[study.slurm].max_jobs`).
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Device ids for nodes that use an accelerator, e.g. `0,1` (one node per device).
    #[arg(long, value_delimiter = ',')]
    pub gpus: Vec<u32>,
}

/// `--json` output: pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("reports serialise")
    );
}
