//! What `basins run` says at the end (and prints with `--json`), built from the events alone.

use std::path::PathBuf;

use serde::Serialize;

use super::{Event, Reporter};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub node: String,
    pub message: String,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub executed: Vec<String>,
    pub reused: Vec<String>,
    pub cached: Vec<String>,
    pub failed: Vec<Failure>,
    pub skipped: Vec<String>,
    pub interrupted: bool,
    pub run_log: PathBuf,
}

impl Reporter for RunSummary {
    fn report(&mut self, e: &Event) {
        match e {
            Event::RunStarted { run_id, log, .. } => {
                self.run_id = run_id.clone();
                self.run_log = log.clone();
            }
            Event::NodeCached { node } => self.cached.push(node.clone()),
            Event::NodeExecuted { node, .. } => self.executed.push(node.clone()),
            Event::NodeReused { node } => self.reused.push(node.clone()),
            Event::NodeFailed { node, message } => self.failed.push(Failure {
                node: node.clone(),
                message: message.clone(),
            }),
            Event::NodeSkipped { node } => self.skipped.push(node.clone()),
            Event::RunFinished { interrupted, .. } => self.interrupted = *interrupted,
            Event::NodeStarted { .. }
            | Event::NodeProgress { .. }
            | Event::NodeInterrupted { .. }
            | Event::NodeRetry { .. } => {}
        }
    }
}

impl RunSummary {
    /// The `RunFinished` event that closes a run with this summary.
    pub fn finished(&self, interrupted: bool) -> Event {
        Event::RunFinished {
            executed: self.executed.len() + self.reused.len(),
            cached: self.cached.len(),
            failed: self.failed.len(),
            skipped: self.skipped.len(),
            interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_from_events() {
        let mut s = RunSummary::default();
        let events = [
            Event::RunStarted {
                run_id: "7-1".into(),
                nodes: 4,
                log: "runs/s/7-1.jsonl".into(),
            },
            Event::NodeCached { node: "a".into() },
            Event::NodeStarted {
                node: "b".into(),
                kind: "k".into(),
                executor: "in-process".into(),
                gpu: None,
            },
            Event::NodeExecuted {
                node: "b".into(),
                millis: 3,
            },
            Event::NodeReused { node: "c".into() },
            Event::NodeFailed {
                node: "d".into(),
                message: "no".into(),
            },
            Event::NodeSkipped { node: "e".into() },
        ];
        for e in &events {
            s.report(e);
        }
        let fin = s.finished(true);
        assert_eq!(
            fin,
            Event::RunFinished {
                executed: 2,
                cached: 1,
                failed: 1,
                skipped: 1,
                interrupted: true
            }
        );
        s.report(&fin);
        assert_eq!(
            s,
            RunSummary {
                run_id: "7-1".into(),
                executed: vec!["b".into()],
                reused: vec!["c".into()],
                cached: vec!["a".into()],
                failed: vec![Failure {
                    node: "d".into(),
                    message: "no".into()
                }],
                skipped: vec!["e".into()],
                interrupted: true,
                run_log: "runs/s/7-1.jsonl".into(),
            }
        );
    }
}
