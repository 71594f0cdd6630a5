//! `basins exec-node --cache DIR KEY`: run one recorded node and tell the parent what became
//! of it in `ChildLine`s on stdout (the subprocess and Slurm executors start it).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use basins_engine::exec::{run_recipe, ChildLine, Outcome, Runtime};
use basins_engine::{Digest, EngineError, Store};

use super::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    key: String,
    #[arg(long)]
    gpu: Option<u32>,
    /// Threads to evaluate batches on (the parent's share of the cores for this node).
    #[arg(long)]
    eval_threads: Option<usize>,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let cache = cx.cache.clone().ok_or(CliError::NoCache)?;
    let key: Digest = a.key.parse().map_err(|message| CliError::NotAKey {
        key: a.key.clone(),
        message,
    })?;
    let store = Store::open(cache).map_err(EngineError::from)?;
    let progress = |p| println!("{}", ChildLine::Progress(p).encode());
    let outcome = run_recipe(
        &store,
        &cx.registry,
        &key,
        "subprocess",
        Runtime {
            gpu: a.gpu,
            eval_threads: a.eval_threads,
            progress: &progress,
            cancel: Arc::new(AtomicBool::new(false)),
        },
    )?;
    println!(
        "{}",
        ChildLine::Outcome {
            outcome: outcome.clone()
        }
        .encode()
    );
    // A failed node exits 1, as a stage error always has: Slurm shows the task as failed.
    Ok(match outcome {
        Outcome::Failed { message, .. } => {
            eprintln!("error: {message}");
            Exit::Failed
        }
        Outcome::Interrupted => Exit::Interrupted,
        Outcome::Executed | Outcome::Reused | Outcome::CorruptInput { .. } => Exit::Ok,
    })
}
