//! `basins export M NODE DIR`: a cached checkpoint as a Hugging Face directory, for
//! `basins model inspect|predict`, `transformers`' `from_pretrained`, or another tool.

use std::path::{Path, PathBuf};

use basins_engine::ops;

use super::Context;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    manifest: PathBuf,
    /// A node that holds a checkpoint: `finetune/<task>/seed=N`, `pretrain/<name>`,
    /// `hub/<name>`.
    node: String,
    /// The directory to write (must not exist, or be empty).
    dir: PathBuf,
    /// A checkpoint the node kept at this training step (`[finetune] keep`), not its last.
    #[arg(long)]
    step: Option<u64>,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let study = cx.open(&a.manifest)?;
    let outputs = match ops::checked_outputs(&study, &a.node)? {
        Some(ops::Checked::Intact(o)) => o,
        Some(ops::Checked::Dropped(name)) => {
            return Err(CliError::ExportCorrupt { node: a.node, name }.into())
        }
        None => return Err(CliError::NotCached(a.node).into()),
    };
    let prefix = match a.step {
        Some(s) => format!("checkpoints/step={s}/"),
        None => "model/".to_owned(),
    };
    let files: Vec<(&str, &PathBuf)> = outputs
        .iter()
        .filter_map(|(name, path)| name.strip_prefix(&prefix).map(|rel| (rel, path)))
        .collect();
    if !files.iter().any(|(rel, _)| *rel == "config.json") {
        let mut steps: Vec<u64> = outputs
            .iter()
            .filter_map(|(n, _)| {
                n.strip_prefix("checkpoints/step=")?
                    .strip_suffix("/config.json")?
                    .parse()
                    .ok()
            })
            .collect();
        steps.sort_unstable();
        let steps: Vec<String> = steps.iter().map(u64::to_string).collect();
        return Err(CliError::NoCheckpoint {
            node: a.node,
            step: a.step,
            steps: steps.join(", "),
        }
        .into());
    }
    write_dir(&a.dir, &files)?;
    println!("{}", a.dir.display());
    Ok(Exit::Ok)
}

/// Write the files into a sibling folder and rename it into place: an interrupted export leaves
/// no directory that looks like a checkpoint.
fn write_dir(dir: &Path, files: &[(&str, &PathBuf)]) -> Result<(), CliError> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(CliError::NotEmpty(dir.to_owned()));
    }
    let name = dir
        .file_name()
        .ok_or_else(|| CliError::NotEmpty(dir.to_owned()))?;
    let partial = dir.with_file_name(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        for (rel, src) in files {
            let dest = basins_engine::paths::under(&partial, rel).map_err(|_| CliError::Io {
                op: "refusing to write",
                path: partial.join(rel),
                cause: std::io::Error::other("not a plain relative name"),
            })?;
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p).map_err(CliError::io("creating", p))?;
            }
            // A copy, not a link: the cache's objects are read-only and gc may drop them.
            let bytes = std::fs::read(src).map_err(CliError::io("reading", src))?;
            std::fs::write(&dest, bytes).map_err(CliError::io("writing", &dest))?;
        }
        // An empty directory in the way (the only kind allowed) is replaced.
        let _ = std::fs::remove_dir(dir);
        std::fs::rename(&partial, dir).map_err(CliError::io("renaming into place", dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    result
}
