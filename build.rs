//! Records the git commit the `basins` binary is built from (`BASINS_GIT_COMMIT`), which report
//! pages show beside the version. Outside a git checkout (a crate tarball) it is `unknown`,
//! unless the builder sets `BASINS_GIT_COMMIT` itself.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=BASINS_GIT_COMMIT");
    let commit = std::env::var("BASINS_GIT_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    // Build again when HEAD moves: a checkout changes HEAD, a commit changes the branch's ref.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        let head = dir.join("HEAD");
        let branch = std::fs::read_to_string(&head)
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| dir.join(r.trim())));
        // Only files that exist: cargo takes a missing one as changed on every build.
        for watched in [Some(head), branch, Some(dir.join("packed-refs"))]
            .into_iter()
            .flatten()
            .filter(|p| p.exists())
        {
            println!("cargo:rerun-if-changed={}", watched.display());
        }
    }
    println!("cargo:rustc-env=BASINS_GIT_COMMIT={commit}");
}
