//! indicatif on a terminal: one overall bar (nodes done / total, ETA), one bar per running node
//! fed by the stage's own progress, and a line above the bars as each node ends.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, LogReporter, Reporter};

pub struct HumanReporter {
    multi: MultiProgress,
    overall: ProgressBar,
    running: HashMap<String, ProgressBar>,
}

/// The line printed above the bars for an event, if any.
pub fn human_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::NodeExecuted { node, millis } => {
            format!("     ran {node} ({:.1}s)", *millis as f64 / 1000.0)
        }
        Event::NodeReused { node } => format!("  reused {node} (finished by another run)"),
        Event::NodeFailed { node, message } => format!("  FAILED {node}: {message}"),
        Event::NodeRetry { node, reason } => format!("   retry {node}: {reason}"),
        Event::NodeInterrupted { node } => format!("  stopped {node} (interrupted)"),
        Event::RunStarted { .. }
        | Event::NodeCached { .. }
        | Event::NodeStarted { .. }
        | Event::NodeProgress { .. }
        | Event::NodeSkipped { .. }
        | Event::RunFinished { .. } => return None,
    })
}

impl HumanReporter {
    pub fn new() -> HumanReporter {
        HumanReporter::drawing_to(ProgressDrawTarget::stderr())
    }

    fn drawing_to(target: ProgressDrawTarget) -> HumanReporter {
        let multi = MultiProgress::with_draw_target(target);
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
            running: HashMap::new(),
        }
    }

    fn node_bar(&mut self, node: &str) {
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("  {msg:60!} [{bar:25}] {pos}/{len} (eta {eta})")
                .expect("template")
                .progress_chars("=> "),
        );
        bar.set_message(node.to_owned());
        self.running.insert(node.to_owned(), bar);
    }
}

impl Default for HumanReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for HumanReporter {
    fn report(&mut self, e: &Event) {
        LogReporter.report(e);
        match e {
            Event::RunStarted { nodes, .. } => self.overall.set_length(*nodes as u64),
            Event::NodeStarted { node, .. } => self.node_bar(node),
            Event::NodeProgress { node, progress } => {
                if let Some(bar) = self.running.get(node) {
                    bar.set_length(progress.total);
                    bar.set_position(progress.done);
                    let values: Vec<String> = (progress.values.iter())
                        .map(|(k, v)| super::plain::value_text(k, *v))
                        .collect();
                    bar.set_message(format!("{node} {}", values.join(", ")));
                }
            }
            Event::RunFinished { .. } => self.overall.finish_and_clear(),
            Event::NodeCached { .. }
            | Event::NodeExecuted { .. }
            | Event::NodeReused { .. }
            | Event::NodeFailed { .. }
            | Event::NodeRetry { .. }
            | Event::NodeInterrupted { .. }
            | Event::NodeSkipped { .. } => {}
        }
        // A node's end: its bar goes, and a node that is done counts on the overall bar.
        if let Event::NodeExecuted { node, .. }
        | Event::NodeReused { node }
        | Event::NodeFailed { node, .. }
        | Event::NodeRetry { node, .. }
        | Event::NodeInterrupted { node } = e
        {
            if let Some(bar) = self.running.remove(node) {
                bar.finish_and_clear();
            }
        }
        if matches!(
            e,
            Event::NodeCached { .. } | Event::NodeExecuted { .. } | Event::NodeReused { .. }
        ) {
            self.overall.inc(1);
        }
        if let Some(line) = human_line(e) {
            let _ = self.multi.println(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_bars() {
        let mut h = HumanReporter::drawing_to(ProgressDrawTarget::hidden());
        let started = |node: &str| Event::NodeStarted {
            node: node.into(),
            kind: "k".into(),
            executor: "in-process".into(),
            gpu: None,
        };
        h.report(&Event::RunStarted {
            run_id: "1".into(),
            nodes: 3,
            log: "l".into(),
        });
        h.report(&Event::NodeCached { node: "a".into() });
        h.report(&started("b"));
        h.report(&started("c"));
        let mut p = crate::stage::Progress::new(4, 10);
        p.values.insert("loss".into(), 0.5);
        h.report(&Event::NodeProgress {
            node: "b".into(),
            progress: p,
        });
        assert_eq!(h.running["b"].message(), "b loss 0.500");
        assert_eq!(h.running["b"].position(), 4);
        assert_eq!(h.running["b"].length(), Some(10));
        let executed = Event::NodeExecuted {
            node: "b".into(),
            millis: 1300,
        };
        h.report(&executed);
        assert_eq!(human_line(&executed).unwrap(), "     ran b (1.3s)");
        let failed = Event::NodeFailed {
            node: "c".into(),
            message: "bad row".into(),
        };
        h.report(&failed);
        assert_eq!(human_line(&failed).unwrap(), "  FAILED c: bad row");
        assert!(h.running.is_empty(), "every ended node's bar is gone");
        assert_eq!(h.overall.position(), 2, "cached and executed count as done");
        assert_eq!(h.overall.length(), Some(3));
        assert_eq!(
            human_line(&Event::NodeInterrupted { node: "d".into() }).unwrap(),
            "  stopped d (interrupted)"
        );
        assert_eq!(human_line(&Event::NodeCached { node: "a".into() }), None);
    }
}
