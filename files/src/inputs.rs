//! A stage's params and inputs as the kinds read them: the node's params as a typed struct,
//! upstream nodes' files, model directories and data files, eval sets and their loss-surface
//! rows. Shared by the model kinds (`basins-models`) and the analysis kinds (`basins-stages`),
//! so it lives below both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use basins_engine::record::OutputClass;
use basins_engine::{StageContext, StageInput};
use basins_study::roles;
use serde::de::DeserializeOwned;

use crate::data::{self, DataFormat, Dataset, ReadOptions};

pub use basins_study::params::{DataParams, EvalSetParams};

/// A node's params as its kind's type in `basins_study::params` (written by expansion as the
/// same type, so a failure here is a recipe from another build, named with the node).
pub fn params<T: DeserializeOwned>(ctx: &StageContext) -> anyhow::Result<T> {
    serde_json::from_value(ctx.params.clone())
        .with_context(|| format!("the params of node `{}`", ctx.node))
}

/// A node input's id and its output files by name.
pub fn node_files<'a>(
    ctx: &'a StageContext,
    role: &str,
) -> anyhow::Result<(&'a str, &'a BTreeMap<String, PathBuf>)> {
    match ctx.input(role)? {
        StageInput::Node { node, files, .. } => Ok((node, files)),
        _ => anyhow::bail!("input `{role}` is not a node"),
    }
}

/// Weights are checkpoints (gc reports them apart); everything else is a result.
pub fn weights_apart(rel: &str) -> OutputClass {
    if rel.ends_with(".safetensors") {
        OutputClass::Checkpoint
    } else {
        OutputClass::Result
    }
}

/// A model input as a directory: a Hugging Face directory on disk, or an upstream node's
/// `model/` outputs linked into scratch under their names.
pub fn model_dir(ctx: &StageContext, role: &str) -> anyhow::Result<PathBuf> {
    model_dir_at(ctx, role, None)
}

/// `model_dir` for a model taken at `checkpoint` of an upstream finetune node: its
/// `checkpoints/step=<n>/` directory (a node param expansion writes for a kept step), or its
/// final `model/` when `None`.
pub fn model_dir_at(
    ctx: &StageContext,
    role: &str,
    checkpoint: Option<&str>,
) -> anyhow::Result<PathBuf> {
    let prefix = checkpoint.unwrap_or("model/");
    match ctx.input(role)? {
        StageInput::Dir(p) => Ok(p.clone()),
        StageInput::Node { node, files, .. } => {
            let dir = ctx.scratch.join(role.replace(':', "_"));
            std::fs::create_dir_all(&dir)?;
            let mut any = false;
            for (name, path) in files {
                if let Some(rest) = name.strip_prefix(prefix) {
                    std::os::unix::fs::symlink(path, dir.join(rest))
                        .with_context(|| format!("linking {name} of {node}"))?;
                    any = true;
                }
            }
            anyhow::ensure!(any, "`{node}` produced no {prefix} directory");
            Ok(dir)
        }
        StageInput::File(p) => bail!(
            "input `{role}` is a file ({}), not a model directory",
            p.display()
        ),
    }
}

/// A data input: a file (read in the declared format), or a generator's or download's node
/// output for `split` (`train` or `eval`): `<split>.jsonl` in the generated layout,
/// `<split>.hans.tsv` in HANS's, a downloaded `<split>.tsv`, or a Hub data set split's
/// `rows.jsonl` (one node per split, whichever role reads it).
pub fn data_file(
    ctx: &StageContext,
    role: &str,
    split: &str,
    declared: DataFormat,
) -> anyhow::Result<(PathBuf, DataFormat)> {
    match ctx.input(role)? {
        StageInput::File(p) => Ok((p.clone(), declared)),
        StageInput::Node { node, files, .. } => {
            let layouts = [
                (format!("{split}.jsonl"), DataFormat::Generated),
                (format!("{split}.hans.tsv"), DataFormat::Hans),
                // A downloaded data set's files, in the format the task declares.
                (format!("{split}.tsv"), declared),
                ("rows.jsonl".to_owned(), DataFormat::Jsonl),
            ];
            layouts
                .into_iter()
                .find_map(|(name, format)| files.get(&name).map(|p| (p.clone(), format)))
                .with_context(|| format!("`{node}` has no `{split}` data output"))
        }
        StageInput::Dir(p) => bail!(
            "input `{role}` is a directory ({}), not a data file",
            p.display()
        ),
    }
}

pub fn read(path: &Path, format: DataFormat, p: &DataParams) -> anyhow::Result<Dataset> {
    Ok(data::read(
        path,
        &ReadOptions {
            format,
            labels: p.labels.clone(),
            on_bad_row: p.on_bad_row,
            fields: p.fields.clone(),
        },
    )?)
}

/// Read eval set `set` (input `eval:<name>`) whole, up to its own row cap.
pub fn eval_set(ctx: &StageContext, set: &EvalSetParams) -> anyhow::Result<Dataset> {
    let (path, format) = data_file(ctx, &roles::eval(&set.name), "eval", set.data.format)?;
    let ds = read(&path, format, &set.data)?.take_first(set.max_examples());
    anyhow::ensure!(
        !ds.examples.is_empty(),
        "eval set `{}` ({}) has no examples",
        set.name,
        path.display()
    );
    Ok(ds)
}

/// The rows of `ds` in set `set`'s loss-surface subset; an error when none match, since a
/// surface of no examples has no loss.
pub fn surface_rows(set: &EvalSetParams, ds: &Dataset) -> anyhow::Result<Vec<usize>> {
    let rows = ds.surface_rows(&set.surface);
    anyhow::ensure!(
        !rows.is_empty(),
        "the loss-surface selection of eval set `{}` ({}) matches none of its {} rows: {}",
        set.name,
        ds.path.display(),
        ds.examples.len(),
        serde_json::to_string(&set.surface.filter).unwrap_or_default()
    );
    Ok(rows)
}
