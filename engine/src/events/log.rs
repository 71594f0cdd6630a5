//! Plain log lines through tracing: what a run says when stderr is not a terminal (CI, Slurm,
//! `nohup`), and beside the bars when it is.

use tracing::Level;

use super::{Event, Reporter};

pub struct LogReporter;

/// The level and text an event is logged with; `None` for progress, which bars show and logs
/// would drown in.
pub fn log_line(e: &Event) -> Option<(Level, String)> {
    match e {
        Event::NodeProgress { .. } => None,
        Event::NodeFailed { node, message } => Some((Level::ERROR, format!("{node}: {message}"))),
        other => Some((
            Level::INFO,
            serde_json::to_string(other).expect("events serialise"),
        )),
    }
}

impl Reporter for LogReporter {
    fn report(&mut self, e: &Event) {
        match log_line(e) {
            Some((Level::ERROR, line)) => tracing::error!("{line}"),
            Some((_, line)) => tracing::info!("{line}"),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            log_line(&Event::NodeProgress {
                node: "a".into(),
                progress: crate::stage::Progress::new(1, 9),
            }),
            None
        );
        assert_eq!(
            log_line(&Event::NodeFailed {
                node: "a".into(),
                message: "no data".into()
            }),
            Some((Level::ERROR, "a: no data".into()))
        );
        assert_eq!(
            log_line(&Event::NodeExecuted {
                node: "a".into(),
                millis: 12
            }),
            Some((
                Level::INFO,
                r#"{"event":"node_executed","node":"a","millis":12}"#.into()
            ))
        );
    }
}
