//! Exit codes (the README's "Exit codes" table, which `tests/exit_codes.rs` holds to these),
//! and the one place an error becomes one: by its class.

use basins_engine::{EngineError, ErrorClass};
use basins_study::{ManifestError, OpenError};

use crate::error::CliError;

pub const OK: u8 = 0;
/// A node failed, or `verify` found a difference.
pub const FAILED: u8 = 1;
/// Bad input: manifest, flags, data files, unknown node.
pub const BAD_INPUT: u8 = 2;
/// An internal or I/O error (the cache could not be written, say).
pub const ERROR: u8 = 3;
/// Interrupted by Ctrl-C; finished nodes are kept.
pub const INTERRUPTED: u8 = 130;

/// How a command that did its work ended. Bad input is never an `Exit`: it is an error, and
/// its exit code comes from [`code_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// A node failed, or `verify` found a difference.
    Failed,
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => OK,
            Exit::Failed => FAILED,
            Exit::Interrupted => INTERRUPTED,
        }
    }
}

/// The class of an error a command returned. The engine's and the CLI's errors decide theirs
/// exhaustively (a new variant does not compile until its class is chosen); a model directory
/// that cannot be read as a BERT, a tokenizer that does not load or fit its model, and a data
/// file that cannot be read as the format says are the user's input; anything else (an untyped error from a
/// library) is taken as a fault.
pub fn class_of(e: &anyhow::Error) -> ErrorClass {
    if let Some(e) = e.downcast_ref::<EngineError>() {
        e.class()
    } else if let Some(e) = e.downcast_ref::<OpenError>() {
        e.class()
    } else if let Some(e) = e.downcast_ref::<CliError>() {
        e.class()
    } else if e.chain().any(|c| {
        c.is::<ManifestError>()
            || c.is::<basins_stages::model::ModelError>()
            || c.is::<basins_stages::text::TextError>()
            || c.is::<basins_stages::data::DataError>()
    }) {
        ErrorClass::BadInput
    } else {
        ErrorClass::Fault
    }
}

pub fn code_of(e: &anyhow::Error) -> u8 {
    match class_of(e) {
        ErrorClass::BadInput => BAD_INPUT,
        // `exec-node`: the node itself failed (what its parent reports as a failure; 3 would
        // mean the cache or the engine failed).
        ErrorClass::NodeFailed => FAILED,
        ErrorClass::Fault => ERROR,
    }
}
