//! The Python reference interpreter the cross-check tests run (`scripts/python-ref` makes it):
//! `$BASINS_PYTHON`, else `python3`. Shared by the reference tests of several crates
//! (`#[path]`-included), so that each says the same thing when it cannot run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The interpreter, if it can run `imports` (`"numpy, scipy"`); else None after saying why,
/// naming `check` (what did not run) and `needs` (what was missing). With
/// `BASINS_REQUIRE_PYTHON` set (as `.ci/run` sets it) a missing interpreter is a failure, not
/// a skip.
pub fn python(imports: &str, needs: &str, check: &str) -> Option<PathBuf> {
    let candidate = std::env::var_os("BASINS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into());
    let ok = Command::new(&candidate)
        .args(["-c", &format!("import {imports}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(candidate);
    }
    let why = format!(
        "{} cannot import {needs} (run scripts/python-ref, or set BASINS_PYTHON to an \
         interpreter that can)",
        candidate.display()
    );
    assert!(
        std::env::var_os("BASINS_REQUIRE_PYTHON").is_none(),
        "BASINS_REQUIRE_PYTHON is set but {why}"
    );
    eprintln!("SKIPPED: {check} did not run: {why}");
    None
}

/// `py` running `scripts/reference/<name>`, for the caller to give its arguments.
pub fn script(py: &Path, name: &str) -> Command {
    let mut c = Command::new(py);
    c.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts/reference")
            .join(name),
    );
    c
}

/// Run a reference script; it must succeed (its stderr is the failure's message).
pub fn succeed(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what} reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
