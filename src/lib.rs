//! The `basins` command line: parse flags, pick the stage registry, call the engine, print.
//! Both binaries (`basins` with the real stages, `basins-testkit` with the engine's synthetic
//! kinds) are this one function with a different registry.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use basins_engine::events::{HumanReporter, LogReporter, Reporter};
use basins_engine::exec::{run_recipe, Outcome};
use basins_engine::manifest::ExecutorKind;
use basins_engine::schedule::{run, RunOptions};
use basins_engine::slurm::Slurm;
use basins_engine::study::Status;
use basins_engine::{
    ops, Digest, EngineError, ErrorClass, Executor, InProcess, Registry, Store, Study, Subprocess,
};
use basins_stages::backend::{Compute, FloatKind};
use basins_stages::eval::CpuForward;
use clap::{Parser, Subcommand, ValueEnum};

mod data_cmd;
use serde::Serialize;

/// Model stages allocate and free tensors of tens of megabytes every step; glibc's malloc
/// returns those to the kernel each time (mmap/munmap, then page faults that zero them again:
/// 17% of a CPU training step was the kernel clearing pages). mimalloc, told never to purge,
/// keeps them (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's option enum (v2 and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn keep_freed_memory() {
    // SAFETY: sets a process-wide allocator option; valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Exit codes (also in the README).
pub mod exit {
    pub const OK: u8 = 0;
    /// A node failed, or `verify` found a difference.
    pub const FAILED: u8 = 1;
    /// Bad input: manifest, flags, data files, unknown node.
    pub const BAD_INPUT: u8 = 2;
    /// An internal or I/O error (the cache could not be written, say).
    pub const ERROR: u8 = 3;
    /// Interrupted by Ctrl-C; finished nodes are kept.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser)]
#[command(
    name = "basins",
    version,
    about = "Map the loss-surface basins of finetuned text classifiers"
)]
struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Use this cache directory instead of the manifest's `[study].cache`.
    #[arg(long, global = true, value_name = "DIR")]
    cache: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExecArg {
    Local,
    Subprocess,
    Slurm,
}

#[derive(Subcommand)]
enum Command {
    /// Run every node that is not cached.
    Run {
        manifest: PathBuf,
        /// Nodes to run at once (default: the CPU count; with Slurm, `[study.slurm].max_jobs`).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Device ids for nodes that use an accelerator, e.g. `0,1` (one node per device).
        #[arg(long, value_delimiter = ',')]
        gpus: Vec<u32>,
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
    },
    /// Run the study, then copy its report (index.html, report.json, CSVs) into a folder.
    Report {
        manifest: PathBuf,
        /// Where to write it (default: `report/` beside the manifest).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Open index.html in the desktop's browser afterwards.
        #[arg(long)]
        open: bool,
        /// Nodes to run at once (default: the CPU count; with Slurm, `[study.slurm].max_jobs`).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Device ids for nodes that use an accelerator, as for `run`.
        #[arg(long, value_delimiter = ',')]
        gpus: Vec<u32>,
    },
    /// Show what would run and why, without running.
    Plan {
        manifest: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Counts of fresh / to-run / blocked nodes per stage kind, and the last run's failures.
    Status {
        manifest: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Why one node would run (or that it would not).
    Why {
        manifest: PathBuf,
        node: String,
        #[arg(long)]
        json: bool,
    },
    /// A node's outputs, metrics and provenance.
    Show {
        manifest: PathBuf,
        node: String,
        #[arg(long)]
        json: bool,
    },
    /// Re-execute cached nodes into scratch and compare with the cache.
    Verify {
        manifest: PathBuf,
        /// Check only this many nodes (chosen deterministically by key).
        #[arg(long)]
        sample: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Remove cached results that none of the named manifests uses.
    Gc {
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the study DAG.
    Graph {
        manifest: PathBuf,
        /// Graphviz output.
        #[arg(long)]
        dot: bool,
    },
    /// Train and eval throughput of a model directory (sequences/s), on CPU.
    Bench {
        /// A Hugging Face BERT directory (e.g. the one `scripts/fetch-minilm` prints).
        #[arg(long)]
        model: PathBuf,
        /// Sequence lengths to time.
        #[arg(long, value_delimiter = ',', default_values_t = [128, 32])]
        seq: Vec<usize>,
        #[arg(long, default_value_t = 32)]
        train_batch: usize,
        #[arg(long, default_value_t = 128)]
        eval_batch: usize,
        #[arg(long, default_value_t = 3)]
        train_steps: usize,
        #[arg(long, default_value_t = 2)]
        eval_batches: usize,
        /// Also evaluate this CoLA-layout file with and without dynamic padding.
        #[arg(long)]
        cola: Option<PathBuf>,
        /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
        #[arg(long, default_value = "cpu")]
        backend: Compute,
        /// `f32`, or `f16`/`bf16` with `--backend cuda` (weights, activations and optimizer
        /// state all in that type: a speed probe, not mixed-precision training).
        #[arg(long, default_value = "f32")]
        precision: FloatKind,
        /// The CPU evaluation forward pass: `frozen` (what the stages run) or `burn` (the burn
        /// module's own, for comparison).
        #[arg(long, default_value = "frozen")]
        cpu_forward: CpuForward,
        #[arg(long)]
        json: bool,
    },
    /// Check a data file, or generate one.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Look inside a Hugging Face model directory, or run it on a sentence pair.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Run one recorded node by recipe key (used by the subprocess and Slurm executors).
    #[command(hide = true)]
    ExecNode {
        key: String,
        #[arg(long)]
        gpu: Option<u32>,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Architecture, parameter count, tensor names and shapes, label map.
    Inspect {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Probabilities per label for sentence pairs (and, with --hidden, final hidden states).
    Predict {
        dir: PathBuf,
        /// A premise and a hypothesis (repeatable).
        #[arg(long, num_args = 2, value_names = ["FIRST", "SECOND"], action = clap::ArgAction::Append)]
        pair: Vec<String>,
        /// A single sentence (repeatable).
        #[arg(long, action = clap::ArgAction::Append)]
        text: Vec<String>,
        #[arg(long, default_value_t = 128)]
        max_len: usize,
        #[arg(long)]
        hidden: bool,
        /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
        #[arg(long, default_value = "cpu")]
        backend: Compute,
        #[arg(long)]
        json: bool,
    },
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Run the CLI with the given stage kinds.
pub fn main_with(registry: Registry) -> ExitCode {
    // Behave like a Unix tool when piped into `head`: die quietly on a closed stdout.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            });
        }
    };
    init_logging(cli.verbose);
    match dispatch(cli, registry) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Not `eprintln!`, which panics when stderr cannot be written (an exec-node's stderr
            // is a file in the cache, and the cache may be the full disk being reported).
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            let code = match e.downcast_ref::<EngineError>().map(EngineError::class) {
                Some(ErrorClass::BadInput) => exit::BAD_INPUT,
                // `exec-node`: the node itself failed (what its parent reports as a failure;
                // 3 would mean the cache or the engine failed).
                Some(ErrorClass::NodeFailed) => exit::FAILED,
                Some(ErrorClass::Fault) => exit::ERROR,
                // A model directory the user named (`model inspect`/`predict`, `bench`) that
                // cannot be read as a BERT is bad input too.
                None if e
                    .downcast_ref::<basins_stages::model::ModelError>()
                    .is_some() =>
                {
                    exit::BAD_INPUT
                }
                None => exit::ERROR,
            };
            ExitCode::from(code)
        }
    }
}

fn print_json<T: Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("report serialises")
    );
}

fn dispatch(cli: Cli, registry: Registry) -> anyhow::Result<u8> {
    let open = |m: &PathBuf| Study::open(m, registry.clone(), cli.cache.clone());
    match cli.command {
        Command::Run {
            manifest,
            jobs,
            gpus,
            keep_going,
            only,
            executor,
            json,
        } => {
            let study = open(&manifest)?;
            let kind = match executor {
                Some(ExecArg::Local) => ExecutorKind::Local,
                Some(ExecArg::Subprocess) => ExecutorKind::Subprocess,
                Some(ExecArg::Slurm) => ExecutorKind::Slurm,
                None => study.manifest.study.executor,
            };
            cmd_run(
                &study,
                RunOptions {
                    jobs: jobs_for(jobs, &study, kind),
                    gpus,
                    keep_going,
                    only,
                },
                kind,
                json,
            )
        }
        Command::Plan { manifest, json } => cmd_plan(&open(&manifest)?, None, json),
        Command::Why {
            manifest,
            node,
            json,
        } => cmd_plan(&open(&manifest)?, Some(node), json),
        Command::Status { manifest, json } => {
            let report = ops::status(&open(&manifest)?)?;
            if json {
                print_json(&report);
            } else {
                println!(
                    "study `{}`: {} nodes (cache {})",
                    report.study, report.nodes, report.cache
                );
                println!(
                    "  {:<14} {:>7} {:>7} {:>8}",
                    "kind", "fresh", "to run", "blocked"
                );
                for (k, c) in &report.by_kind {
                    println!("  {k:<14} {:>7} {:>7} {:>8}", c.fresh, c.run, c.blocked);
                }
                for f in &report.last_run_failures {
                    println!(
                        "  last run failed: {} — {}",
                        f["node"].as_str().unwrap_or("?"),
                        f["message"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(exit::OK)
        }
        Command::Report {
            manifest,
            out,
            open: open_page,
            jobs,
            gpus,
        } => {
            let study = open(&manifest)?;
            let kind = study.manifest.study.executor;
            let opts = RunOptions {
                jobs: jobs_for(jobs, &study, kind),
                gpus,
                keep_going: false,
                only: None,
            };
            let out = out.unwrap_or_else(|| {
                manifest
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join("report")
            });
            // A report object found corrupt on the way out is quarantined and its node rerun,
            // once.
            for attempt in 0..2 {
                let code = cmd_run(&study, opts.clone(), kind, false)?;
                if code != exit::OK {
                    return Ok(code);
                }
                match write_report(&study, &out, open_page)? {
                    Copied::Done(code) => return Ok(code),
                    Copied::Recompute(name) if attempt == 0 => eprintln!(
                        "the cached report file `{name}` was corrupt: it is quarantined and the \
                         report node reruns"
                    ),
                    Copied::Recompute(name) => anyhow::bail!(
                        "the report file `{name}` was corrupt again right after it was recomputed; \
                         check the cache's disk"
                    ),
                }
            }
            unreachable!("the loop returns")
        }
        Command::Show {
            manifest,
            node,
            json,
        } => {
            let r = ops::show(&open(&manifest)?, &node)?;
            if json {
                print_json(&r);
            } else {
                print_show(&r);
            }
            Ok(exit::OK)
        }
        Command::Verify {
            manifest,
            sample,
            json,
        } => {
            let r = ops::verify(&open(&manifest)?, sample)?;
            if json {
                print_json(&r);
            } else {
                for n in &r.nodes {
                    println!(
                        "{:<16} {:<40} {}",
                        format!("{:?}", n.verdict),
                        n.node,
                        n.detail
                    );
                }
                println!(
                    "checked {} cached nodes ({} not cached, not checked)",
                    r.checked, r.not_cached
                );
                for (kind, verdicts) in &r.by_kind {
                    println!("  {kind:<14} {verdicts:?}");
                }
            }
            Ok(if r.ok() { exit::OK } else { exit::FAILED })
        }
        Command::Gc {
            manifests,
            dry_run,
            json,
        } => {
            let studies = manifests.iter().map(open).collect::<Result<Vec<_>, _>>()?;
            let r = ops::gc(&studies, dry_run)?;
            if json {
                print_json(&r);
            } else {
                print_gc(&r);
            }
            Ok(exit::OK)
        }
        Command::Graph { manifest, dot } => {
            let study = open(&manifest)?;
            print!(
                "{}",
                if dot {
                    study.graph.to_dot()
                } else {
                    study.graph.to_text()
                }
            );
            Ok(exit::OK)
        }
        Command::Model(m) => cmd_model(m),
        Command::Data(d) => data_cmd::run(d),
        Command::Bench {
            model,
            seq,
            train_batch,
            eval_batch,
            train_steps,
            eval_batches,
            cola,
            backend,
            precision,
            cpu_forward,
            json,
        } => {
            use basins_stages::bench;
            let spec = bench::BenchSpec {
                seqs: seq,
                train_batch,
                eval_batch,
                train_steps,
                eval_batches,
                cpu_forward,
            };
            let result = bench::bench(&model, &spec, cola.as_deref(), backend, precision, &|r| {
                if !json {
                    println!(
                        "seq {:>4}: train {:>7.2} seq/s (batch {}), eval {:>7.2} seq/s (batch {})",
                        r.seq, r.train_seq_per_s, r.train_batch, r.eval_seq_per_s, r.eval_batch
                    );
                }
            })?;
            if json {
                print_json(&result);
            } else if let Some(p) = result.padding {
                let rounded = match p.seq_multiple {
                    1 => String::new(),
                    m => format!(", lengths rounded up to a multiple of {m}"),
                };
                println!(
                    "{} ({} examples, mean {:.1} tokens): dynamic padding{rounded} {:.1} seq/s (first pass {:.1}), padded to {} {:.1} seq/s",
                    p.file, p.examples, p.mean_tokens, p.dynamic_seq_per_s, p.dynamic_first_pass_seq_per_s, p.max_len, p.padded_to_max_len_seq_per_s
                );
            }
            Ok(exit::OK)
        }
        Command::ExecNode { key, gpu } => {
            let cache = cli.cache.clone().context("exec-node needs --cache DIR")?;
            exec_node(cache, &key, gpu, registry)
        }
    }
}

/// Nodes that run at once on this machine share its cores: each evaluates batches on
/// cores / jobs threads (`basins_stages::backend::eval_threads`), or a 64-core machine would
/// run 64 nodes of 64 threads, each holding a batch's activations. Passed through the
/// environment, which subprocess nodes inherit; set before any thread is started. A Slurm task
/// uses the CPUs of its own allocation, and a value the user set is kept.
fn share_cores(jobs: usize, kind: ExecutorKind) {
    if kind == ExecutorKind::Slurm || std::env::var_os("BASINS_EVAL_THREADS").is_some() {
        return;
    }
    let threads = (default_jobs() / jobs.max(1)).max(1);
    std::env::set_var("BASINS_EVAL_THREADS", threads.to_string());
}

/// Nodes at once: as asked, else one per CPU for local work, or the Slurm in-flight limit.
fn jobs_for(asked: Option<usize>, study: &Study, kind: ExecutorKind) -> usize {
    match (asked, kind) {
        (Some(j), _) => j,
        (None, ExecutorKind::Slurm) => study.manifest.study.slurm.max_jobs as usize,
        (None, _) => default_jobs(),
    }
}

fn cmd_run(study: &Study, opts: RunOptions, kind: ExecutorKind, json: bool) -> anyhow::Result<u8> {
    share_cores(opts.jobs, kind);
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                eprintln!("interrupted twice: exiting now (the cache stays consistent)");
                std::process::exit(exit::INTERRUPTED as i32);
            }
            eprintln!("interrupted: finishing running nodes, starting no new ones (Ctrl-C again to exit now)");
        });
    }
    let exe = || std::env::current_exe().context("locating the basins executable for exec-node");
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
            study.manifest.study.slurm.clone(),
        )?),
    };
    let reporter: Box<dyn Reporter> = if !json && std::io::stderr().is_terminal() {
        Box::new(HumanReporter::new())
    } else {
        Box::new(LogReporter)
    };
    let summary = run(study, &opts, executor.as_ref(), reporter.as_ref(), cancel)?;
    if json {
        print_json(&summary);
    } else {
        eprintln!(
            "{}: {} executed, {} reused from a concurrent run, {} cached, {} failed, {} skipped",
            study.name(),
            summary.executed.len(),
            summary.reused.len(),
            summary.cached.len(),
            summary.failed.len(),
            summary.skipped.len()
        );
        for f in &summary.failed {
            eprintln!("failed: {}: {}", f.node, f.message);
        }
    }
    Ok(if summary.interrupted {
        exit::INTERRUPTED
    } else if summary.failed.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// What copying the report found.
enum Copied {
    /// Copied (or refused with this exit code).
    Done(u8),
    /// An output was corrupt and its record dropped: run the study again, then copy.
    Recompute(String),
}

/// Copy the report node's outputs into `out` (replacing what an earlier report put there),
/// each checked against its digest first.
fn write_report(study: &Study, out: &std::path::Path, open_page: bool) -> anyhow::Result<Copied> {
    let outputs = match ops::checked_outputs(study, "report") {
        Ok(Some(ops::Checked::Intact(o))) => o,
        Ok(Some(ops::Checked::Dropped(name))) => return Ok(Copied::Recompute(name)),
        Ok(None) => anyhow::bail!("the report node has no record after a successful run"),
        Err(EngineError::NoSuchNode { .. }) => {
            eprintln!("error: the study has no [report] section, so there is no report to write");
            return Ok(Copied::Done(exit::BAD_INPUT));
        }
        Err(e) => return Err(e.into()),
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, path) in &outputs {
        let dest = basins_engine::paths::under(out, name).map_err(anyhow::Error::msg)?;
        let _ = std::fs::remove_file(&dest);
        // A fresh file, so its mode follows the user's umask (the cache's objects are
        // read-only, and copying their mode then widening it gave 0666).
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        std::fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
    }
    let index = out.join("index.html");
    println!("{}", index.display());
    if open_page {
        let status = std::process::Command::new("xdg-open").arg(&index).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "could not open a browser (xdg-open); open {} yourself",
                index.display()
            );
        }
    }
    Ok(Copied::Done(exit::OK))
}

fn cmd_plan(study: &Study, node: Option<String>, json: bool) -> anyhow::Result<u8> {
    let plan = study.plan()?;
    let only = node.map(|n| study.node_index(&n)).transpose()?;
    let nodes: Vec<_> = plan
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|o| o == *i))
        .map(|(_, p)| p)
        .collect();
    if json {
        print_json(&nodes);
        return Ok(exit::OK);
    }
    let count = |s| plan.nodes.iter().filter(|p| p.status == s).count();
    if only.is_none() {
        println!(
            "study `{}`: {} fresh, {} to run, {} blocked on upstream",
            study.name(),
            count(Status::Fresh),
            count(Status::Run),
            count(Status::Blocked)
        );
    }
    for p in nodes {
        if only.is_none() && p.status == Status::Fresh {
            continue;
        }
        let status = match p.status {
            Status::Fresh => "fresh",
            Status::Run => "run",
            Status::Blocked => "blocked",
        };
        println!("{status:<8} {}", p.node);
        if p.status == Status::Fresh {
            println!(
                "         cached and current (key {})",
                p.key.map(|k| k.short()).unwrap_or_default()
            );
        }
        for r in &p.reasons {
            println!("         {r}");
        }
    }
    Ok(exit::OK)
}

fn print_show(r: &ops::ShowReport) {
    println!("node    {} [{}]", r.node, r.kind);
    println!(
        "status  {:?}  key {}",
        r.status,
        r.key
            .map(|k| k.to_hex())
            .unwrap_or_else(|| "(not known yet)".into())
    );
    for reason in &r.reasons {
        println!("        {reason}");
    }
    for o in &r.outputs {
        println!(
            "output  {:<24} {:>10} B  {:?}  {}",
            o.name, o.size, o.class, o.path
        );
    }
    if !r.metrics.is_null() {
        println!("metrics {}", r.metrics);
    }
    if let Some(rec) = &r.record {
        println!(
            "ran     {} ms by {} on {} (pid {}), exit {}",
            rec.duration_ms, rec.executor, rec.host, rec.pid, rec.exit_status
        );
        println!(
            "recipe  {}",
            serde_json::to_string(&rec.preimage).unwrap_or_default()
        );
    }
    if let Some(l) = &r.log {
        println!("log     {l}");
    }
}

fn print_gc(r: &ops::GcSummary) {
    let verb = if r.dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {} action records, kept {}",
        r.removed_actions, r.kept_actions
    );
    println!(
        "  {:<14} {:>14} {:>14}   {:>14} {:>14}",
        "kind", "ckpt removed", "results rm", "ckpt kept", "results kept"
    );
    let kinds: std::collections::BTreeSet<&String> = r
        .removed_by_kind
        .keys()
        .chain(r.kept_by_kind.keys())
        .collect();
    for k in kinds {
        let rm = r.removed_by_kind.get(k);
        let kept = r.kept_by_kind.get(k);
        println!(
            "  {k:<14} {:>14} {:>14}   {:>14} {:>14}",
            rm.map_or(0, |b| b.checkpoints),
            rm.map_or(0, |b| b.results),
            kept.map_or(0, |b| b.checkpoints),
            kept.map_or(0, |b| b.results)
        );
    }
    println!(
        "  unreferenced objects: {} bytes; abandoned temp files: {}",
        r.unreferenced_bytes, r.temp_files
    );
}

fn cmd_model(cmd: ModelCommand) -> anyhow::Result<u8> {
    use basins_stages::model::inspect;
    match cmd {
        ModelCommand::Inspect { dir, json } => {
            let s = inspect::inspect(&dir)?;
            if json {
                print_json(&s);
                return Ok(exit::OK);
            }
            println!("{}  {}", s.dir, s.architecture);
            println!(
                "  {} layers, hidden {}, {} heads, intermediate {}, vocab {}, max positions {}",
                s.layers, s.hidden, s.heads, s.intermediate, s.vocab, s.max_position
            );
            println!("  {} parameters (as a classifier)", s.parameters);
            match &s.labels {
                Some(l) => println!("  classification head with labels {l:?}"),
                None => {
                    println!("  no classification head (a base model: finetuning initialises one)")
                }
            }
            for t in &s.tensors {
                println!("  {:<60} {:<5} {:?}", t.name, t.dtype, t.shape);
            }
        }
        ModelCommand::Predict {
            dir,
            pair,
            text,
            max_len,
            hidden,
            backend,
            json,
        } => {
            let mut examples: Vec<(String, Option<String>)> = pair
                .chunks(2)
                .map(|c| (c[0].clone(), Some(c[1].clone())))
                .collect();
            examples.extend(text.into_iter().map(|t| (t, None)));
            anyhow::ensure!(
                !examples.is_empty(),
                "give at least one --pair FIRST SECOND or --text SENTENCE"
            );
            let p = inspect::predict(&dir, &examples, max_len, hidden, backend)?;
            // NaN weights give NaN probabilities and an arbitrary label: never print them as a
            // prediction.
            let broken = p
                .predictions
                .iter()
                .filter(|pr| pr.probabilities.iter().any(|(_, v)| !v.is_finite()))
                .count();
            if broken > 0 {
                eprintln!(
                    "error: {}: the model's outputs are not numbers for {broken} of {} input(s); \
                     its weights hold NaN or infinite values (`basins model inspect` lists its \
                     tensors)",
                    dir.display(),
                    p.predictions.len()
                );
                return Ok(exit::BAD_INPUT);
            }
            if json {
                print_json(&p);
                return Ok(exit::OK);
            }
            if !p.trained_head {
                println!("note: {} has no trained head; these probabilities come from a freshly initialised one", dir.display());
            }
            for pr in &p.predictions {
                println!(
                    "{:?} / {:?} ({} tokens) -> {}",
                    pr.first,
                    pr.second.as_deref().unwrap_or(""),
                    pr.tokens,
                    pr.predicted
                );
                for (l, v) in &pr.probabilities {
                    println!("    {l:<16} {v:.4}");
                }
                if let Some(h) = &pr.hidden {
                    for (t, row) in h.iter().enumerate() {
                        let head: Vec<String> =
                            row.iter().take(6).map(|x| format!("{x:+.4}")).collect();
                        println!(
                            "    hidden[{t}] = [{}, ...] ({} values)",
                            head.join(", "),
                            row.len()
                        );
                    }
                }
            }
        }
    }
    Ok(exit::OK)
}

fn exec_node(
    cache: PathBuf,
    key: &str,
    gpu: Option<u32>,
    registry: Registry,
) -> anyhow::Result<u8> {
    let key: Digest = key.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let store = Store::open(cache)?;
    let progress = |d: u64, t: u64| println!("@progress {d} {t}");
    let outcome: Outcome = run_recipe(
        &store,
        &registry,
        &key,
        gpu,
        "subprocess",
        &progress,
        Arc::new(AtomicBool::new(false)),
    )?;
    println!("@outcome {}", serde_json::to_string(&outcome)?);
    Ok(exit::OK)
}
