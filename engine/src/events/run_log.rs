//! The run log: one JSON object per event, one line each, under `runs/<study>/<run id>.jsonl`.

use std::io::Write;

use super::{Event, Reporter};

pub struct RunLog<W: Write> {
    out: Option<W>,
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
                RunLog { out: None }
            }
        }
    }
}

impl<W: Write> RunLog<W> {
    pub fn to(out: W) -> RunLog<W> {
        RunLog { out: Some(out) }
    }

    pub fn into_inner(self) -> Option<W> {
        self.out
    }
}

impl<W: Write> Reporter for RunLog<W> {
    fn report(&mut self, e: &Event) {
        // Progress is for the bars; the log keeps what happened.
        if matches!(e, Event::NodeProgress { .. }) {
            return;
        }
        if let Some(out) = self.out.as_mut() {
            let line = serde_json::to_string(e).expect("events serialise");
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                tracing::warn!("the run log could not be written; it ends here");
                self.out = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_line_per_event_and_no_progress() {
        let mut log = RunLog::to(Vec::new());
        for e in [
            Event::NodeCached { node: "a".into() },
            Event::NodeProgress {
                node: "b".into(),
                done: 1,
                total: 2,
            },
            Event::NodeFailed {
                node: "b".into(),
                message: "boom\nline two".into(),
            },
        ] {
            log.report(&e);
        }
        let text = String::from_utf8(log.into_inner().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"event":"node_cached","node":"a"}"#,
                r#"{"event":"node_failed","node":"b","message":"boom\nline two"}"#,
            ]
        );
    }
}
