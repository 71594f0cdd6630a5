//! Progress as plain lines, for a run without a terminal (nohup, CI, a Slurm job's log): a line
//! as each node starts and ends, and from a running node a line with its progress, its values
//! (a training loss, a rate) and an ETA, at most one per `every` (the first after a third of
//! it, so that a node of a few tens of seconds says where it is before it ends).

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use super::{Event, Reporter};
use crate::stage::Progress;

pub struct PlainReporter<W: Write> {
    out: W,
    every: Duration,
    /// Per running node: when it started, and when its last progress line was written.
    running: HashMap<String, (Instant, Option<Instant>)>,
    nodes: usize,
    finished: usize,
}

impl<W: Write> PlainReporter<W> {
    pub fn new(out: W, every: Duration) -> PlainReporter<W> {
        PlainReporter {
            out,
            every,
            running: HashMap::new(),
            nodes: 0,
            finished: 0,
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Report `e` as if it happened at `now` (the clock is a parameter for tests).
    pub fn report_at(&mut self, e: &Event, now: Instant) {
        if let Some(line) = self.line(e, now) {
            // A progress line that cannot be written is not worth stopping a run for.
            let _ = writeln!(self.out, "{line}");
        }
    }

    fn line(&mut self, e: &Event, now: Instant) -> Option<String> {
        let count = |s: &Self| format!("[{}/{}]", s.finished, s.nodes);
        Some(match e {
            Event::RunStarted { run_id, nodes, .. } => {
                self.nodes = *nodes;
                format!("run {run_id}: {nodes} nodes in the study (cached ones are not run again)")
            }
            Event::NodeCached { .. } => {
                self.finished += 1;
                return None;
            }
            Event::NodeStarted { node, gpu, .. } => {
                self.running.insert(node.clone(), (now, None));
                match gpu {
                    Some(g) => format!("start   {node} (device {g})"),
                    None => format!("start   {node}"),
                }
            }
            Event::NodeProgress { node, progress } => {
                let (started, last) = self.running.get_mut(node)?;
                let due = match last {
                    None => now.duration_since(*started) >= self.every / 3,
                    Some(l) => now.duration_since(*l) >= self.every,
                };
                if !due {
                    return None;
                }
                *last = Some(now);
                format!(
                    "        {node}: {}",
                    describe(progress, now.duration_since(*started))
                )
            }
            Event::NodeExecuted { node, millis } => {
                self.running.remove(node);
                self.finished += 1;
                format!(
                    "ran     {node} ({:.1}s) {}",
                    *millis as f64 / 1000.0,
                    count(self)
                )
            }
            Event::NodeReused { node } => {
                self.running.remove(node);
                self.finished += 1;
                format!("reused  {node} (finished by another run) {}", count(self))
            }
            Event::NodeFailed { node, message } => {
                self.running.remove(node);
                format!("FAILED  {node}: {message}")
            }
            Event::NodeRetry { node, reason } => {
                self.running.remove(node);
                format!("retry   {node}: {reason}")
            }
            Event::NodeInterrupted { node } => {
                self.running.remove(node);
                format!("stopped {node} (interrupted)")
            }
            Event::NodeSkipped { .. } | Event::RunFinished { .. } => return None,
        })
    }
}

impl<W: Write> Reporter for PlainReporter<W> {
    fn report(&mut self, e: &Event) {
        self.report_at(e, Instant::now());
    }
}

/// `120/375 (32%), loss 0.612, 310.2 seq/s, eta 41s`: the values in name order, a value named
/// `<unit>_per_s` as a rate, and the ETA from the node's own pace so far.
pub fn describe(p: &Progress, elapsed: Duration) -> String {
    let mut parts = vec![match p.total {
        0 => format!("{}", p.done),
        t => format!("{}/{t} ({}%)", p.done, p.done * 100 / t),
    }];
    parts.extend(p.values.iter().map(|(name, v)| value_text(name, *v)));
    if p.done > 0 && p.total > p.done {
        let left = elapsed.as_secs_f64() * (p.total - p.done) as f64 / p.done as f64;
        parts.push(format!("eta {}", duration(left)));
    }
    parts.join(", ")
}

/// One progress value as shown: `loss 0.612`, or a rate named `<unit>_per_s` as `310.2 seq/s`.
pub fn value_text(name: &str, v: f64) -> String {
    match name.strip_suffix("_per_s") {
        Some(unit) => format!("{v:.1} {unit}/s"),
        None => format!("{name} {v:.3}"),
    }
}

fn duration(s: f64) -> String {
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: u64, loss: f64) -> Event {
        let mut p = Progress::new(done, 100);
        p.values.insert("loss".into(), loss);
        p.values.insert("seq_per_s".into(), 320.0);
        Event::NodeProgress {
            node: "finetune/t/seed=0".into(),
            progress: p,
        }
    }

    #[test]
    fn a_line_per_start_and_end_and_progress_at_most_every_interval() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut r = PlainReporter::new(Vec::new(), Duration::from_secs(15));
        r.report_at(
            &Event::RunStarted {
                run_id: "1-2".into(),
                nodes: 2,
                log: "l".into(),
            },
            at(0),
        );
        r.report_at(&Event::NodeCached { node: "a".into() }, at(0));
        r.report_at(
            &Event::NodeStarted {
                node: "finetune/t/seed=0".into(),
                kind: "finetune".into(),
                executor: "in-process".into(),
                gpu: None,
            },
            at(0),
        );
        r.report_at(&progress(5, 0.9), at(2)); // before a third of the interval: quiet
        r.report_at(&progress(25, 0.7), at(5)); // the first line
        r.report_at(&progress(40, 0.65), at(10)); // within the interval: quiet
        r.report_at(&progress(75, 0.5), at(20)); // the next line
        r.report_at(
            &Event::NodeExecuted {
                node: "finetune/t/seed=0".into(),
                millis: 26_400,
            },
            at(26),
        );
        let text = String::from_utf8(r.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "run 1-2: 2 nodes in the study (cached ones are not run again)",
                "start   finetune/t/seed=0",
                "        finetune/t/seed=0: 25/100 (25%), loss 0.700, 320.0 seq/s, eta 15s",
                "        finetune/t/seed=0: 75/100 (75%), loss 0.500, 320.0 seq/s, eta 7s",
                "ran     finetune/t/seed=0 (26.4s) [2/2]",
            ]
        );
    }

    #[test]
    fn durations_read_as_time() {
        assert_eq!(duration(59.4), "59s");
        assert_eq!(duration(61.0), "1m01s");
        assert_eq!(duration(7322.0), "2h02m");
        assert_eq!(describe(&Progress::new(0, 0), Duration::ZERO), "0");
    }
}
