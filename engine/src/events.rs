//! The nextest lesson: the scheduler only emits typed events; what a human or a script sees is
//! a `Reporter`, swappable without touching execution.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        nodes: usize,
    },
    NodeCached {
        node: String,
    },
    NodeStarted {
        node: String,
        kind: String,
        executor: String,
        gpu: Option<u32>,
    },
    NodeProgress {
        node: String,
        done: u64,
        total: u64,
    },
    NodeExecuted {
        node: String,
        millis: u64,
    },
    /// Another `basins run` produced it while we waited on its lock.
    NodeReused {
        node: String,
    },
    NodeFailed {
        node: String,
        message: String,
    },
    /// Stopped by Ctrl-C; it will run next time.
    NodeInterrupted {
        node: String,
    },
    NodeRetry {
        node: String,
        reason: String,
    },
    RunFinished {
        executed: usize,
        cached: usize,
        failed: usize,
        skipped: usize,
        interrupted: bool,
    },
}

pub trait Reporter: Send + Sync {
    fn report(&self, event: &Event);
}

/// Logs events through tracing only (used with `--json`, and when stderr is not a terminal).
pub struct LogReporter;

impl Reporter for LogReporter {
    fn report(&self, e: &Event) {
        match e {
            Event::NodeProgress { .. } => {}
            Event::NodeFailed { node, message } => tracing::error!(node, "{message}"),
            other => tracing::info!("{}", serde_json::to_string(other).unwrap_or_default()),
        }
    }
}

/// indicatif: one overall bar (nodes done / total, ETA) and one bar per running node fed by
/// the stage's own progress.
pub struct HumanReporter {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<String, ProgressBar>>,
}

impl HumanReporter {
    pub fn new() -> HumanReporter {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>8.bold} [{bar:30}] {pos}/{len} nodes  {elapsed_precise} (eta {eta})",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        overall.set_prefix("study");
        overall.enable_steady_tick(Duration::from_millis(200));
        HumanReporter {
            multi,
            overall,
            running: Mutex::default(),
        }
    }

    fn println(&self, s: String) {
        let _ = self.multi.println(s);
    }
}

impl Default for HumanReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for HumanReporter {
    fn report(&self, e: &Event) {
        LogReporter.report(e);
        let mut running = self.running.lock().expect("reporter lock");
        match e {
            Event::RunStarted { nodes, .. } => self.overall.set_length(*nodes as u64),
            Event::NodeCached { .. } => self.overall.inc(1),
            Event::NodeStarted { node, .. } => {
                let bar = self.multi.add(ProgressBar::new(0));
                bar.set_style(
                    ProgressStyle::with_template("  {msg:40!} [{bar:25}] {pos}/{len} {per_sec}")
                        .expect("template")
                        .progress_chars("=> "),
                );
                bar.set_message(node.clone());
                running.insert(node.clone(), bar);
            }
            Event::NodeProgress { node, done, total } => {
                if let Some(bar) = running.get(node) {
                    bar.set_length(*total);
                    bar.set_position(*done);
                }
            }
            Event::NodeExecuted { node, millis } => {
                if let Some(bar) = running.remove(node) {
                    bar.finish_and_clear();
                }
                self.overall.inc(1);
                self.println(format!("     ran {node} ({:.1}s)", *millis as f64 / 1000.0));
            }
            Event::NodeReused { node } => {
                if let Some(bar) = running.remove(node) {
                    bar.finish_and_clear();
                }
                self.overall.inc(1);
                self.println(format!("  reused {node} (finished by another run)"));
            }
            Event::NodeFailed { node, message } => {
                if let Some(bar) = running.remove(node) {
                    bar.finish_and_clear();
                }
                self.println(format!("  FAILED {node}: {message}"));
            }
            Event::NodeRetry { node, reason } => {
                if let Some(bar) = running.remove(node) {
                    bar.finish_and_clear();
                }
                self.println(format!("   retry {node}: {reason}"));
            }
            Event::NodeInterrupted { node } => {
                if let Some(bar) = running.remove(node) {
                    bar.finish_and_clear();
                }
                self.println(format!("  stopped {node} (interrupted)"));
            }
            Event::RunFinished { .. } => self.overall.finish_and_clear(),
        }
    }
}
