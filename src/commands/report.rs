//! `basins report`: run the study, then copy its report into a folder.

use std::path::{Path, PathBuf};

use basins_engine::{ops, EngineError, Study};

use super::{run, Context};
use crate::cli::{Progress, Slots};
use crate::error::CliError;
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    manifest: PathBuf,
    /// Where to write it (default: `report/` beside the manifest).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Open index.html in the desktop's browser afterwards.
    #[arg(long)]
    open: bool,
    #[command(flatten)]
    slots: Slots,
    #[command(flatten)]
    progress: Progress,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let study = cx.open_to_run(&a.manifest)?;
    let kind = study.manifest.study.executor;
    let opts = run::options(&study, &a.slots, kind);
    let out = a
        .out
        .unwrap_or_else(|| a.manifest.parent().unwrap_or(Path::new(".")).join("report"));
    // A report object found corrupt on the way out is quarantined and its node rerun, once.
    for attempt in 0..2 {
        let summary = run::run_study(&study, &opts, kind, false, &a.progress)?;
        match run::exit_of(&summary) {
            Exit::Ok => {}
            other => return Ok(other),
        }
        match copy_report(&study, &out)? {
            Copied::Done => break,
            Copied::Recompute(name) if attempt == 0 => eprintln!(
                "the cached report file `{name}` was corrupt: it is quarantined and the report \
                 node reruns"
            ),
            Copied::Recompute(name) => return Err(CliError::ReportCorruptAgain(name).into()),
        }
    }
    let index = out.join("index.html");
    println!("{}", index.display());
    if a.open {
        let status = std::process::Command::new("xdg-open").arg(&index).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "could not open a browser (xdg-open); open {} yourself",
                index.display()
            );
        }
    }
    Ok(Exit::Ok)
}

/// What copying the report found.
enum Copied {
    Done,
    /// An output was corrupt and its record dropped: run the study again, then copy.
    Recompute(String),
}

/// Copy the report node's outputs into `out` (replacing what an earlier report put there),
/// each checked against its digest first.
fn copy_report(study: &Study, out: &Path) -> anyhow::Result<Copied> {
    let outputs = match ops::checked_outputs(study, "report") {
        Ok(Some(ops::Checked::Intact(o))) => o,
        Ok(Some(ops::Checked::Dropped(name))) => return Ok(Copied::Recompute(name)),
        Ok(None) => return Err(CliError::NoReportRecord.into()),
        Err(EngineError::NoSuchNode { .. }) => return Err(CliError::NoReportSection.into()),
        Err(e) => return Err(e.into()),
    };
    std::fs::create_dir_all(out).map_err(CliError::io("creating", out))?;
    for (name, path) in &outputs {
        let dest =
            basins_engine::paths::under(out, name).map_err(|_| EngineError::NotPlainName {
                root: out.to_path_buf(),
                name: name.clone(),
            })?;
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(CliError::io("creating", dir))?;
        }
        let _ = std::fs::remove_file(&dest);
        // A fresh file, so its mode follows the user's umask (the cache's objects are
        // read-only, and copying their mode then widening it gave 0666).
        let bytes = std::fs::read(path).map_err(CliError::io("reading", path))?;
        std::fs::write(&dest, bytes).map_err(CliError::io("writing", &dest))?;
    }
    Ok(Copied::Done)
}
