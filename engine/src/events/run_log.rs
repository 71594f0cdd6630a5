//! The run log: one JSON object per event, one line each, under `runs/<study>/<run id>.jsonl`,
//! each with the wall-clock time it was written (`time_ms`, Unix milliseconds). A running
//! node's progress is kept at most every few seconds, so that `basins status` can say where a
//! run is without the log growing by a line per training step.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Event, Reporter};

/// The least time between two progress lines of one node in the run log.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

pub struct RunLog<W: Write> {
    out: Option<W>,
    last_progress: HashMap<String, Instant>,
}

impl RunLog<std::fs::File> {
    /// A run log that cannot be created is not a reason to refuse the run: it is said once and
    /// the run goes on without one.
    pub fn create(path: &std::path::Path) -> RunLog<std::fs::File> {
        let file = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(path));
        match file {
            Ok(f) => RunLog::to(f),
            Err(e) => {
                tracing::warn!(
                    "no run log this time: cannot create {}: {e}",
                    path.display()
                );
                RunLog {
                    out: None,
                    last_progress: HashMap::new(),
                }
            }
        }
    }
}

impl<W: Write> RunLog<W> {
    pub fn to(out: W) -> RunLog<W> {
        RunLog {
            out: Some(out),
            last_progress: HashMap::new(),
        }
    }

    pub fn into_inner(self) -> Option<W> {
        self.out
    }

    fn write_at(&mut self, e: &Event, now: Instant) {
        if let Event::NodeProgress { node, .. } = e {
            match self.last_progress.get(node) {
                Some(last) if now.duration_since(*last) < PROGRESS_EVERY => return,
                _ => {
                    self.last_progress.insert(node.clone(), now);
                }
            }
        }
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let mut v = serde_json::to_value(e).expect("events serialise");
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        v["time_ms"] = time_ms.into();
        if writeln!(out, "{v}").and_then(|()| out.flush()).is_err() {
            tracing::warn!("the run log could not be written; it ends here");
            self.out = None;
        }
    }
}

impl<W: Write> Reporter for RunLog<W> {
    fn report(&mut self, e: &Event) {
        self.write_at(e, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::Progress;

    #[test]
    fn one_json_line_per_event_with_its_time_and_progress_thinned() {
        let mut log = RunLog::to(Vec::new());
        let t0 = Instant::now();
        let progress = |done| Event::NodeProgress {
            node: "b".into(),
            progress: Progress::new(done, 9),
        };
        log.write_at(&Event::NodeCached { node: "a".into() }, t0);
        log.write_at(&progress(1), t0);
        log.write_at(&progress(2), t0 + Duration::from_secs(1));
        log.write_at(&progress(3), t0 + Duration::from_secs(6));
        log.write_at(
            &Event::NodeFailed {
                node: "b".into(),
                message: "boom\nline two".into(),
            },
            t0 + Duration::from_secs(7),
        );
        let text = String::from_utf8(log.into_inner().unwrap()).unwrap();
        let mut lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for l in &mut lines {
            assert!(l["time_ms"].as_u64().unwrap() > 1_700_000_000_000);
            l.as_object_mut().unwrap().remove("time_ms");
        }
        let expected: Vec<serde_json::Value> = [
            r#"{"event":"node_cached","node":"a"}"#,
            r#"{"event":"node_progress","node":"b","done":1,"total":9}"#,
            r#"{"event":"node_progress","node":"b","done":3,"total":9}"#,
            r#"{"event":"node_failed","node":"b","message":"boom\nline two"}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
        assert_eq!(lines, expected);
    }
}
