//! The nextest lesson: the scheduler only emits typed events; everything a human, a script or
//! the run log sees is a [`Reporter`] fed from the scheduler's one thread, swappable without
//! touching execution.
//!
//! - [`RunLog`]: the JSONL run log under `runs/` (`basins status` reads its failures back)
//! - [`RunSummary`]: the counts and lists `basins run` prints, built from the events alone
//! - [`PlainReporter`]: a line per node start and end and periodic progress lines (no terminal)
//! - [`LogReporter`]: every event through tracing (`-v`)
//! - [`HumanReporter`]: indicatif bars with each node's progress and values (a terminal)

mod human;
mod log;
mod plain;
mod run_log;
mod summary;

use std::path::PathBuf;

use serde::Serialize;

use crate::stage::Progress;

pub use human::HumanReporter;
pub use log::LogReporter;
pub use plain::{describe, PlainReporter};
pub use run_log::RunLog;
pub use summary::{Failure, RunSummary};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        nodes: usize,
        /// Where the run log is written.
        log: PathBuf,
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
        #[serde(flatten)]
        progress: Progress,
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
    /// Stopped by Ctrl-C or by an engine fault; it will run next time.
    NodeInterrupted {
        node: String,
    },
    NodeRetry {
        node: String,
        reason: String,
    },
    /// Not run: an upstream node failed, or the run stopped first.
    NodeSkipped {
        node: String,
    },
    RunFinished {
        executed: usize,
        cached: usize,
        failed: usize,
        skipped: usize,
        interrupted: bool,
    },
}

/// Called from one thread only (the scheduler's), in the order events happen.
pub trait Reporter {
    fn report(&mut self, event: &Event);
}

/// A reporter that keeps nothing (a caller that wants only the summary).
impl Reporter for () {
    fn report(&mut self, _: &Event) {}
}
