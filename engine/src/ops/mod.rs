//! The read-mostly commands: status, show, verify and gc.

mod gc;
mod show;
mod status;
mod verify;

pub use gc::{gc, Bytes, GcSummary};
pub use show::{checked_outputs, show, Checked, ShowReport, ShownOutput};
pub use status::{status, KindCounts, RunningNode, RunningRun, StatusReport};
pub use verify::{verify, Verdict, VerifiedNode, VerifyReport};
