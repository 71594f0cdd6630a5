//! The command line's shape: global flags and one subcommand per verb (each verb's flags live
//! with it in `commands/`, the flags several verbs share in `command_prelude`), and the table
//! that maps the parsed command onto the verbs' `exec` functions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::command_prelude::Progress;
use crate::commands::{self, Context};
use crate::exit::Exit;

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

/// Run the verb the command line names.
pub fn exec(command: Command, cx: &Context) -> anyhow::Result<Exit> {
    match command {
        Command::Run(a) => commands::run::exec(a, cx),
        Command::Fetch(a) => commands::fetch::exec(a, cx),
        Command::Report(a) => commands::report::exec(a, cx),
        Command::Plan(a) => commands::plan::exec(a, cx),
        Command::Why(a) => commands::plan::exec_why(a, cx),
        Command::Status(a) => commands::status::exec(a, cx),
        Command::Show(a) => commands::show::exec(a, cx),
        Command::Export(a) => commands::export::exec(a, cx),
        Command::Verify(a) => commands::verify::exec(a, cx),
        Command::Gc(a) => commands::gc::exec(a, cx),
        Command::Graph(a) => commands::graph::exec(a, cx),
        Command::Bench(a) => commands::bench::exec(a, cx),
        Command::Data(a) => commands::data::exec(a),
        Command::Model(a) => commands::model::exec(a),
        Command::ExecNode(a) => commands::exec_node::exec(a, cx),
    }
}
