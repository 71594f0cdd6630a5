//! The stored results a barrier or dynamics node reads from upstream nodes: a model's
//! endpoint (its evaluate node's per-example losses on a set's loss-surface rows) and a path
//! (an interpolate node's losses at the interior alphas), checked to be on the same rows.

use basins_engine::StageContext;
use basins_study::manifest::BarrierKind;
use basins_study::params::Contract;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::node_files;
use crate::adaptive::Estimate;
use crate::barriers::Path;
use crate::outputs::StoredSet;
use crate::tensorfile::{f32_values, i64_values};

/// One model's per-example losses and correctness on a set's loss-surface rows (a path's
/// endpoint), and those rows.
pub(crate) struct Endpoint {
    pub(crate) loss: Vec<f32>,
    correct: Vec<u8>,
    pub(crate) rows: Vec<usize>,
}

impl Endpoint {
    /// The loss-surface rows (each path scores these at every interior alpha).
    pub(crate) fn rows(&self) -> usize {
        self.rows.len()
    }
}

/// The endpoint an evaluate node (input `role`) gives on `set`'s loss-surface rows.
pub(crate) fn endpoint(ctx: &StageContext, role: &str, set: &str) -> anyhow::Result<Endpoint> {
    let (node, files) = node_files(ctx, role)?;
    let s = StoredSet::read(node, files, set)?;
    let key = format!("eval/{set}.surface.json");
    let file = files
        .get(&key)
        .ok_or_else(|| anyhow::anyhow!("`{node}` has no `{key}`"))?;
    let doc: Value = serde_json::from_slice(&std::fs::read(file)?)?;
    let rows: Vec<usize> = serde_json::from_value(doc["rows"].clone())
        .map_err(|e| anyhow::anyhow!("{}: no row list: {e}", file.display()))?;
    anyhow::ensure!(
        rows.iter().all(|&r| r < s.loss.len()),
        "{}: a surface row lies past the {} scored rows",
        file.display(),
        s.loss.len()
    );
    Ok(Endpoint {
        loss: rows.iter().map(|&r| s.loss[r]).collect(),
        correct: rows
            .iter()
            .map(|&r| u8::from(s.gold[r] == s.predicted[r]))
            .collect(),
        rows,
    })
}

/// What an adaptive path node stored beside its losses (the `adaptive` entry of its files'
/// `path` metadata): the barrier it estimated, under what contract, the estimate, and the
/// examples every alpha evaluated first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredEstimate {
    pub barrier: BarrierKind,
    pub contract: Contract,
    pub estimate: Estimate,
    pub forced: Vec<usize>,
}

/// The path an interpolate node (input `role`) scored between the endpoints `a` and `b`: a
/// grid path, whole (an adaptive one is an error here: its unevaluated losses are not numbers).
pub(crate) fn path_between(
    ctx: &StageContext,
    role: &str,
    grid: &[f64],
    set: &str,
    ends: (&Endpoint, &Endpoint),
) -> anyhow::Result<Path> {
    let (path, estimate) = stored_path(ctx, role, grid, set, ends)?;
    anyhow::ensure!(
        estimate.is_none(),
        "{set}: `{role}` is an adaptive path, whose losses are partly unevaluated; this reads \
         whole paths only"
    );
    Ok(path)
}

/// The path an interpolate node (input `role`) scored between the endpoints `a` and `b`, and
/// its estimate when it is an adaptive path (its unevaluated losses are then not numbers).
pub(crate) fn stored_path(
    ctx: &StageContext,
    role: &str,
    grid: &[f64],
    set: &str,
    (end_a, end_b): (&Endpoint, &Endpoint),
) -> anyhow::Result<(Path, Option<StoredEstimate>)> {
    let key = format!("path/{set}.safetensors");
    let f = PathFile::read(ctx, role, &key)?;
    let (node, n) = (f.node, f.examples);
    let estimate: Option<StoredEstimate> = match f.meta.as_ref().and_then(|p| p.get("adaptive")) {
        None => None,
        Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
            anyhow::anyhow!(
                "{}: the adaptive estimate does not read: {e}",
                f.file.display()
            )
        })?),
    };
    anyhow::ensure!(
        f.rows.as_ref() == Some(&end_a.rows) && f.rows.as_ref() == Some(&end_b.rows),
        "{set}: `{node}` scored other rows than the endpoints' loss-surface selection"
    );
    let interior = crate::interpolate::interior(grid);
    anyhow::ensure!(
        f.alphas == interior.len(),
        "{key}: {} alphas, the grid has {} inside (0, 1)",
        f.alphas,
        interior.len()
    );
    let (la, ca) = (end_a.loss.clone(), end_a.correct.clone());
    let (lb, cb) = (end_b.loss.clone(), end_b.correct.clone());
    anyhow::ensure!(
        la.len() == n && lb.len() == n,
        "{set}: the endpoints were scored on {} and {} examples, the path on {n}",
        la.len(),
        lb.len()
    );
    let path = f.with_ends(&interior, vec![(0.0, la, ca), (1.0, lb, cb)]);
    Ok((path, estimate))
}

/// A path that scored its own end (`scores_end`: B aligned to A; a block path, whose end is a
/// model of both): stored as `key` of the node at input `role`, one row per interior alpha
/// then one at alpha 1, on `start`'s loss-surface rows. `start` is the model at alpha 0.
pub(crate) fn path_to_own_end(
    ctx: &StageContext,
    role: &str,
    key: &str,
    grid: &[f64],
    start: &Endpoint,
) -> anyhow::Result<Path> {
    let f = PathFile::read(ctx, role, key)?;
    let node = f.node;
    let alphas: Option<Vec<f64>> = f
        .meta
        .as_ref()
        .and_then(|p| serde_json::from_value(p["alphas"].clone()).ok());
    anyhow::ensure!(
        f.rows.as_ref() == Some(&start.rows),
        "`{node}`: {key} scored other rows than the endpoints' loss-surface selection"
    );
    let mut expected = crate::interpolate::interior(grid);
    expected.push(1.0);
    anyhow::ensure!(
        alphas.as_ref() == Some(&expected),
        "`{node}`: {key} holds alphas {alphas:?}, not the grid's interior and its end {expected:?}"
    );
    anyhow::ensure!(
        f.alphas == expected.len() && f.examples == start.rows(),
        "`{node}`: {key} is {} x {}, not {} alphas x {} examples",
        f.alphas,
        f.examples,
        expected.len(),
        start.rows()
    );
    Ok(f.with_ends(
        &expected,
        vec![(0.0, start.loss.clone(), start.correct.clone())],
    ))
}

/// One stored path file (`path/...safetensors` of an interpolate node): its `path` metadata,
/// the rows it scored, and its per-example losses and correctness, one row per alpha.
struct PathFile<'c> {
    node: &'c str,
    file: std::path::PathBuf,
    meta: Option<Value>,
    rows: Option<Vec<usize>>,
    /// Rows of `loss` (alphas scored) and columns (examples).
    alphas: usize,
    examples: usize,
    loss: Vec<f32>,
    /// 1 right, 0 wrong; an adaptive path writes -1 where it did not evaluate, read as 0.
    correct: Vec<u8>,
}

impl<'c> PathFile<'c> {
    fn read(ctx: &'c StageContext, role: &str, key: &str) -> anyhow::Result<PathFile<'c>> {
        let (node, files) = node_files(ctx, role)?;
        let file = files
            .get(key)
            .ok_or_else(|| anyhow::anyhow!("`{node}` has no `{key}`"))?;
        let bytes = std::fs::read(file)?;
        let st = SafeTensors::deserialize(&bytes)?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)?;
        let meta: Option<Value> = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("path"))
            .and_then(|r| serde_json::from_str::<Value>(r).ok());
        let rows: Option<Vec<usize>> = meta
            .as_ref()
            .and_then(|p| serde_json::from_value(p["rows"].clone()).ok());
        let loss = st.tensor("loss")?;
        let [alphas, examples] = <[usize; 2]>::try_from(loss.shape())
            .map_err(|_| anyhow::anyhow!("{key}: loss is not 2-d"))?;
        let loss = f32_values(loss.data());
        let correct: Vec<u8> = i64_values(st.tensor("correct")?.data())
            .into_iter()
            .map(|c| u8::from(c > 0))
            .collect();
        Ok(PathFile {
            node,
            file: file.clone(),
            meta,
            rows,
            alphas,
            examples,
            loss,
            correct,
        })
    }

    /// The path: the stored rows at `alphas` (in stored order) with the points `ends` scored
    /// elsewhere, sorted by alpha.
    fn with_ends(self, alphas: &[f64], ends: Vec<(f64, Vec<f32>, Vec<u8>)>) -> Path {
        let n = self.examples;
        let mut points = ends;
        for (r, &alpha) in alphas.iter().enumerate() {
            points.push((
                alpha,
                self.loss[r * n..(r + 1) * n].to_vec(),
                self.correct[r * n..(r + 1) * n].to_vec(),
            ));
        }
        points.sort_by(|x, y| x.0.total_cmp(&y.0));
        Path {
            alphas: points.iter().map(|p| p.0).collect(),
            loss: points.iter().map(|p| p.1.clone()).collect(),
            correct: points.into_iter().map(|p| p.2).collect(),
        }
    }
}
