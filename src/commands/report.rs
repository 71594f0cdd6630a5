//! `basins report`: run the study, then copy its report into a folder.

use std::path::{Path, PathBuf};

use basins_engine::{ops, EngineError, Study};

use super::{run, Context};
use crate::command_prelude::{Progress, Slots};
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
    /// Replace a report folder that another study's report (or other files) is in.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    slots: Slots,
    #[command(flatten)]
    pub(crate) progress: Progress,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let mut study = cx.open_to_run(&a.manifest)?;
    eprintln!("{}", cx.cache_line(&study));
    let kind = study.executor;
    let out = a
        .out
        .unwrap_or_else(|| a.manifest.parent().unwrap_or(Path::new(".")).join("report"));
    // Before the run, which may take minutes, not after.
    let owner = Owner::of(&study, &a.manifest);
    let earlier = owner.check(&out, a.overwrite)?;
    let reopen = || cx.open_to_run(&a.manifest);
    let awaited = cx.awaited(&a.manifest);
    // A report object found corrupt on the way out is quarantined and its node rerun, once.
    for attempt in 0..2 {
        let (opened, summary) = run::run_expanding(
            study,
            (&reopen, &awaited),
            &|s: &Study| run::options(s, &a.slots, kind),
            kind,
            false,
            &a.progress,
        )?;
        study = opened;
        match run::exit_of(&summary) {
            Exit::Ok => {}
            other => return Ok(other),
        }
        match copy_report(&study, &out, &owner, earlier.as_ref())? {
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

/// Which study a report folder holds: `.basins-report` in it says, with the files it wrote, so
/// that a copy of a manifest beside the demo's does not overwrite the demo's page without a
/// word, and so that files an earlier report wrote and this one does not are removed.
#[derive(serde::Serialize, serde::Deserialize)]
struct Owner {
    study: String,
    manifest: PathBuf,
    #[serde(default)]
    files: Vec<String>,
}

const OWNER_FILE: &str = ".basins-report";

impl Owner {
    fn of(study: &Study, manifest: &Path) -> Owner {
        Owner {
            study: study.name().to_owned(),
            manifest: std::fs::canonicalize(manifest).unwrap_or_else(|_| manifest.to_owned()),
            files: vec![],
        }
    }

    /// Whether this study may write into `out`; the folder's earlier owner, if any.
    fn check(&self, out: &Path, overwrite: bool) -> Result<Option<Owner>, CliError> {
        let Ok(mut entries) = std::fs::read_dir(out) else {
            return Ok(None);
        };
        if entries.next().is_none() {
            return Ok(None);
        }
        let marker = out.join(OWNER_FILE);
        let earlier: Option<Owner> = std::fs::read(&marker)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match earlier {
            Some(e) if e.manifest != self.manifest && !overwrite => {
                Err(CliError::ReportOfAnother {
                    dir: out.to_owned(),
                    other: format!("study `{}` from {}", e.study, e.manifest.display()),
                })
            }
            Some(e) => Ok(Some(e)),
            // A report written before the marker existed: taken as this study's.
            None if out.join("index.html").is_file() || overwrite => Ok(None),
            None => Err(CliError::NotAReportFolder(out.to_owned())),
        }
    }
}

/// Create the folders between `out` and `dest` as real folders: a symbolic link among them
/// (a `figures` link left in the folder) would send the report's files outside it, so it is
/// removed and a folder made in its place. The folder is the report's, checked by its owner
/// marker before this runs.
fn real_dirs_under(out: &Path, dest: &Path) -> Result<(), CliError> {
    let Ok(rel) = dest.strip_prefix(out) else {
        return Ok(());
    };
    let mut dir = out.to_path_buf();
    let parents: Vec<_> = rel.components().collect();
    for c in parents.iter().take(parents.len().saturating_sub(1)) {
        dir.push(c);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() || !m.is_dir() => {
                tracing::warn!(path = %dir.display(), "replacing what is not a folder in the report folder");
                std::fs::remove_file(&dir).map_err(CliError::io("removing", &dir))?;
                std::fs::create_dir(&dir).map_err(CliError::io("creating", &dir))?;
            }
            Ok(_) => {}
            Err(_) => std::fs::create_dir(&dir).map_err(CliError::io("creating", &dir))?,
        }
    }
    Ok(())
}

/// Copy the report node's outputs into `out` (replacing what an earlier report put there, and
/// removing what it wrote that this one does not), each checked against its digest first.
fn copy_report(
    study: &Study,
    out: &Path,
    owner: &Owner,
    earlier: Option<&Owner>,
) -> anyhow::Result<Copied> {
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
        real_dirs_under(out, &dest)?;
        let _ = std::fs::remove_file(&dest);
        // A fresh file, so its mode follows the user's umask (the cache's objects are
        // read-only, and copying their mode then widening it gave 0666); `create_new`, so a
        // link put there meanwhile is not followed.
        let bytes = std::fs::read(path).map_err(CliError::io("reading", path))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dest)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
            .map_err(CliError::io("writing", &dest))?;
    }
    for stale in earlier
        .iter()
        .flat_map(|e| &e.files)
        .filter(|f| !outputs.iter().any(|(n, _)| n == *f))
    {
        if let Ok(p) = basins_engine::paths::under(out, stale) {
            let _ = std::fs::remove_file(&p);
            // Folders it leaves empty go too (`remove_dir` keeps any that are not).
            let mut dir = p.parent();
            while let Some(d) = dir.filter(|d| *d != out) {
                if std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
    }
    let owner = Owner {
        files: outputs.iter().map(|(n, _)| n.clone()).collect(),
        study: owner.study.clone(),
        manifest: owner.manifest.clone(),
    };
    let marker = out.join(OWNER_FILE);
    let text = serde_json::to_vec_pretty(&owner).expect("an owner serialises");
    let tmp = out.join(format!("{OWNER_FILE}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(CliError::io("writing", &tmp))?;
    std::fs::rename(&tmp, &marker).map_err(CliError::io("renaming into place", &marker))?;
    Ok(Copied::Done)
}

#[cfg(test)]
mod tests {
    use super::real_dirs_under;

    /// A `figures` link left in a report folder is replaced by a real folder, and what it
    /// pointed at is untouched (before: the report's figures were written through it).
    #[test]
    fn links_inside_the_report_folder_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("report");
        let elsewhere = t.path().join("elsewhere");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("figures")).unwrap();
        real_dirs_under(&out, &out.join("figures/sub/a.svg")).unwrap();
        let m = std::fs::symlink_metadata(out.join("figures")).unwrap();
        assert!(m.is_dir() && !m.file_type().is_symlink());
        assert!(out.join("figures/sub").is_dir());
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }
}
