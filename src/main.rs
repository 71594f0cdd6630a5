use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any worker thread exists, so that every one inherits it (see the function).
    basins_stages::backend::flush_subnormals();
    basins::main_with(basins_stages::registry())
}
