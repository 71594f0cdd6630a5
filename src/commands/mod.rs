//! One module per verb, each with its flags (`Args`) and one `exec`; this file is the table
//! that maps the parsed command line onto them (cargo's `commands/`).

pub mod bench;
pub mod data;
pub mod exec_node;
pub mod gc;
pub mod graph;
pub mod model;
pub mod plan;
pub mod report;
pub mod run;
pub mod show;
pub mod status;
pub mod verify;

use std::path::{Path, PathBuf};

use basins_engine::{EngineError, Registry, Study};

use crate::cli::Command;
use crate::exit::Exit;

/// What every verb may need besides its own flags.
pub struct Context {
    /// The stage kinds of this binary (the real ones, or the testkit's).
    pub registry: Registry,
    /// `--cache DIR`.
    pub cache: Option<PathBuf>,
}

impl Context {
    pub fn open(&self, manifest: &Path) -> Result<Study, EngineError> {
        Study::open(manifest, self.registry.clone(), self.cache.clone())
    }
}

pub fn exec(command: Command, cx: &Context) -> anyhow::Result<Exit> {
    match command {
        Command::Run(a) => run::exec(a, cx),
        Command::Report(a) => report::exec(a, cx),
        Command::Plan(a) => plan::exec(a, cx),
        Command::Why(a) => plan::exec_why(a, cx),
        Command::Status(a) => status::exec(a, cx),
        Command::Show(a) => show::exec(a, cx),
        Command::Verify(a) => verify::exec(a, cx),
        Command::Gc(a) => gc::exec(a, cx),
        Command::Graph(a) => graph::exec(a, cx),
        Command::Bench(a) => bench::exec(a),
        Command::Data(a) => data::exec(a),
        Command::Model(a) => model::exec(a),
        Command::ExecNode(a) => exec_node::exec(a, cx),
    }
}

/// `--json` output: pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("reports serialise")
    );
}
