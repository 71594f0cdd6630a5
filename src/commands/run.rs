//! `basins run`: every node that is not cached, with bars on a terminal and log lines without.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use basins_engine::events::{Event, HumanReporter, LogReporter, PlainReporter, Reporter};
use basins_engine::schedule::{run, RunOptions, RunSummary};
use basins_engine::slurm::Slurm;
use basins_engine::{EngineError, Executor, InProcess, Study, Subprocess};
use basins_study::manifest::ExecutorKind;
use clap::ValueEnum;

use super::Context;
use crate::command_prelude::print_json;
use crate::command_prelude::{Progress, Slots};
use crate::exit::{self, Exit};

#[derive(clap::Args)]
pub struct Args {
    manifest: PathBuf,
    #[command(flatten)]
    slots: Slots,
    #[command(flatten)]
    pub(crate) progress: Progress,
    /// Keep running independent nodes after a failure.
    #[arg(long)]
    keep_going: bool,
    /// Run only nodes whose id matches this glob (and what they need).
    #[arg(long, value_name = "PATTERN")]
    only: Option<String>,
    /// Override `[study].executor`.
    #[arg(long, value_enum)]
    executor: Option<ExecArg>,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExecArg {
    Local,
    Subprocess,
    Slurm,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let study = cx.open_to_run(&a.manifest)?;
    eprintln!("{}", cx.cache_line(&study));
    let kind = match a.executor {
        Some(ExecArg::Local) => ExecutorKind::Local,
        Some(ExecArg::Subprocess) => ExecutorKind::Subprocess,
        Some(ExecArg::Slurm) => ExecutorKind::Slurm,
        None => study.executor,
    };
    let opts = |study: &Study| {
        let mut opts = options(study, &a.slots, kind);
        opts.keep_going = a.keep_going;
        opts.only = a.only.clone();
        opts
    };
    let reopen = || cx.open_to_run(&a.manifest);
    let (study, summary) = run_expanding(
        study,
        (&reopen, &cx.awaited(&a.manifest)),
        &opts,
        kind,
        a.json,
        &a.progress,
    )?;
    if a.json {
        print_json(&summary);
    } else {
        print_summary(&study, &summary);
    }
    Ok(exit_of(&summary))
}

/// Run options from the shared flags: nodes at once as asked, else one per CPU for local work
/// or the Slurm in-flight limit, and each node's share of the cores.
pub fn options(study: &Study, slots: &Slots, kind: ExecutorKind) -> RunOptions {
    let jobs = match (slots.jobs, kind) {
        (Some(j), _) => j,
        (None, ExecutorKind::Slurm) => study.slurm.max_jobs as usize,
        (None, _) => cores(),
    };
    RunOptions {
        jobs,
        gpus: slots.gpus.clone(),
        keep_going: false,
        only: None,
        fetch_only: false,
        eval_threads: eval_threads(jobs, kind),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Nodes that run at once on this machine share its cores: each evaluates batches on
/// cores / jobs threads, or a 64-core machine would run 64 nodes of 64 threads, each holding a
/// batch's activations. A Slurm task uses the CPUs of its own allocation (`None`: the stage's
/// choice), and a count the user set in `BASINS_EVAL_THREADS` is kept.
fn eval_threads(jobs: usize, kind: ExecutorKind) -> Option<usize> {
    let asked = std::env::var("BASINS_EVAL_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    match (asked, kind) {
        (Some(n), _) => Some(n.max(1)),
        (None, ExecutorKind::Slurm) => None,
        (None, _) => Some((cores() / jobs.max(1)).max(1)),
    }
}

/// How many times a run may open its study again for nodes that expanded from its results (a
/// `[merge]`'s soups need one: they expand from the clustering).
const EXPANSION_ROUNDS: usize = 4;

/// Run `study`, then, while a round ran a node that more nodes expand from (`awaited`, see
/// [`Context::awaited`]: each task's clustering, for a `[merge]`'s soups), open it again
/// (`reopen`) and run what that added. A round that ran none of them (everything cached, or a
/// study without such nodes) opens nothing again: reopening pins the Hub revisions anew. Stops
/// at the first failure or interruption. Returns the study as last opened, and one summary of
/// every round (a node is `cached` only if no round ran it).
pub fn run_expanding(
    study: Study,
    (reopen, awaited): (&dyn Fn() -> anyhow::Result<Study>, &[String]),
    opts: &dyn Fn(&Study) -> RunOptions,
    kind: ExecutorKind,
    json: bool,
    progress: &Progress,
) -> anyhow::Result<(Study, RunSummary)> {
    let mut summary = run_study(&study, &opts(&study), kind, json, progress)?;
    let mut study = study;
    let mut round = summary.clone();
    for _ in 0..EXPANSION_ROUNDS {
        let ran_awaited = (round.executed.iter().chain(&round.reused)).any(|n| awaited.contains(n));
        if summary.interrupted || !summary.failed.is_empty() || !ran_awaited {
            break;
        }
        let next = reopen()?;
        let known: std::collections::BTreeSet<&str> =
            study.graph.nodes.iter().map(|n| n.id.as_str()).collect();
        let added = next
            .graph
            .nodes
            .iter()
            .filter(|n| !known.contains(n.id.as_str()))
            .count();
        if added == 0 {
            break;
        }
        tracing::info!("{added} nodes expanded from the results that ran; running them");
        eprintln!("{added} nodes expanded from the results that ran (soups of the basins found)");
        let more = run_study(&next, &opts(&next), kind, json, progress)?;
        round = more.clone();
        let ran: std::collections::BTreeSet<&String> =
            summary.executed.iter().chain(&summary.reused).collect();
        let cached = more
            .cached
            .iter()
            .filter(|n| !ran.contains(n))
            .cloned()
            .collect();
        summary = RunSummary {
            executed: [summary.executed, more.executed].concat(),
            reused: [summary.reused, more.reused].concat(),
            failed: more.failed,
            skipped: more.skipped,
            cached,
            ..more
        };
        study = next;
    }
    Ok((study, summary))
}

/// The flag Ctrl-C (and SIGTERM) sets, with its handler installed on first use: every run of
/// this process (a run that expands runs again) stops on the same signal.
fn cancel_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("interrupted twice: exiting now (the cache stays consistent)");
                std::process::exit(exit::INTERRUPTED as i32);
            }
            eprintln!("interrupted: finishing running nodes, starting no new ones (Ctrl-C again to exit now)");
        });
        cancel
    })
    .clone()
}

/// Run the study with the executor `kind`, Ctrl-C (and SIGTERM) stopping it gracefully.
pub fn run_study(
    study: &Study,
    opts: &RunOptions,
    kind: ExecutorKind,
    json: bool,
    progress: &Progress,
) -> Result<RunSummary, EngineError> {
    let cancel = cancel_flag();
    let exe = || {
        std::env::current_exe().map_err(|e| EngineError::Program {
            action: "cannot locate",
            program: "the basins executable (for exec-node)".into(),
            cause: e.to_string(),
        })
    };
    let executor: Box<dyn Executor> = match kind {
        ExecutorKind::Local => Box::new(InProcess {
            store: study.store.clone(),
            registry: study.registry.clone(),
        }),
        ExecutorKind::Subprocess => Box::new(Subprocess {
            store: study.store.clone(),
            exe: exe()?,
        }),
        ExecutorKind::Slurm => Box::new(Slurm::new(
            study.store.clone(),
            exe()?,
            study.name(),
            study.slurm.clone(),
        )?),
    };
    // Bars on a terminal; otherwise plain lines (a log file, CI, a Slurm job's output).
    let mut reporter: Box<dyn Reporter> = if !json && std::io::stderr().is_terminal() {
        Box::new(HumanReporter::new())
    } else {
        Box::new(Both(
            LogReporter,
            PlainReporter::new(std::io::stderr(), progress.interval()),
        ))
    };
    run(study, opts, executor.as_ref(), reporter.as_mut(), cancel)
}

/// Two reporters fed the same events.
struct Both<A, B>(A, B);

impl<A: Reporter, B: Reporter> Reporter for Both<A, B> {
    fn report(&mut self, e: &Event) {
        self.0.report(e);
        self.1.report(e);
    }
}

fn print_summary(study: &Study, s: &RunSummary) {
    let ran = s.executed.len() + s.reused.len() + s.failed.len() + s.skipped.len();
    if ran == 0 && !s.interrupted {
        eprintln!(
            "{}: all {} nodes cached, nothing ran",
            study.name(),
            s.cached.len()
        );
        return;
    }
    eprintln!(
        "{}: {} executed, {} reused from a concurrent run, {} cached, {} failed, {} skipped",
        study.name(),
        s.executed.len(),
        s.reused.len(),
        s.cached.len(),
        s.failed.len(),
        s.skipped.len()
    );
    for f in &s.failed {
        eprintln!("failed: {}: {}", f.node, f.message);
    }
}

pub fn exit_of(s: &RunSummary) -> Exit {
    if s.interrupted {
        Exit::Interrupted
    } else if s.failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    }
}
