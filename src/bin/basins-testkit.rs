//! `basins` with the engine's synthetic stage kinds instead of the ML stages: the same CLI, for
//! testing and benchmarking the engine itself (see `basins_engine::testkit`).
use std::process::ExitCode;

fn main() -> ExitCode {
    basins::main_with(basins_engine::testkit::registry())
}
