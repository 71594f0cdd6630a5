use std::process::ExitCode;

fn main() -> ExitCode {
    basins::main_with(basins_stages::registry())
}
