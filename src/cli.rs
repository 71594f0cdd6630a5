//! The command line's shape: global flags, one subcommand per verb (each verb's flags live with
//! it in `commands/`), and the flags several verbs share, declared once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;

#[derive(Parser)]
#[command(
    name = "basins",
    version,
    about = "Map the loss-surface basins of finetuned text classifiers"
)]
pub struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Use this cache directory instead of the manifest's `[study].cache`.
    #[arg(long, global = true, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Use only models and data already downloaded; never ask the Hub (as HF_HUB_OFFLINE=1).
    #[arg(long, global = true)]
    pub offline: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run every node that is not cached.
    Run(commands::run::Args),
    /// Download every model and data set the study needs (and nothing else), with their sizes.
    Fetch(commands::fetch::Args),
    /// Run the study, then copy its report (index.html, report.json, CSVs) into a folder.
    Report(commands::report::Args),
    /// Show what would run and why, without running.
    Plan(commands::plan::PlanArgs),
    /// Counts of fresh / to-run / blocked nodes per stage kind, and the last run's failures.
    Status(commands::status::Args),
    /// Why one node would run (or that it would not).
    Why(commands::plan::WhyArgs),
    /// A node's outputs, metrics and provenance.
    Show(commands::show::Args),
    /// Write a node's cached checkpoint as a Hugging Face directory.
    Export(commands::export::Args),
    /// Re-execute cached nodes into scratch and compare with the cache.
    Verify(commands::verify::Args),
    /// Remove cached results that none of the named manifests uses.
    Gc(commands::gc::Args),
    /// Print the study DAG.
    Graph(commands::graph::Args),
    /// Train and eval throughput of a model directory (sequences/s), on CPU.
    Bench(commands::bench::Args),
    /// Check a data file, or generate one.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Look inside a Hugging Face model directory, or run it on a sentence pair.
    #[command(subcommand)]
    Model(commands::model::ModelCommand),
    /// Run one recorded node by recipe key (used by the subprocess and Slurm executors).
    #[command(hide = true)]
    ExecNode(commands::exec_node::Args),
}

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

impl Command {
    /// The progress settings of a verb that runs nodes (`run`, `report`, `fetch`).
    pub fn progress(&self) -> Option<&Progress> {
        match self {
            Command::Run(a) => Some(&a.progress),
            Command::Report(a) => Some(&a.progress),
            Command::Fetch(a) => Some(&a.progress),
            _ => None,
        }
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
