//! Per-example outputs of one model on one eval set: losses, probabilities, gold and
//! predicted labels (safetensors) and the examples' diagnostic groups (JSON columns). Written
//! once by the model stages; read by every analysis stage, which never runs a model again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use safetensors::{Dtype, SafeTensors};

use crate::data::Dataset;
use crate::tensorfile::Entry;

/// Per-example outputs: losses, probabilities, gold and predicted labels as safetensors, and
/// the examples' diagnostic groups as JSON columns.
pub fn write_set(
    dir: &Path,
    name: &str,
    r: &crate::metrics::SetResult,
    ds: &Dataset,
) -> anyhow::Result<()> {
    let n = r.losses.len();
    let probs: Vec<f32> = r.probs.iter().flatten().copied().collect();
    let entries = [
        Entry::f32("loss", vec![n], &r.losses),
        Entry::f32("probs", vec![n, ds.labels.len()], &probs),
        Entry::i64("gold", vec![n], &r.gold),
        Entry::i64("predicted", vec![n], &r.predicted),
    ];
    let path = basins_engine::paths::under(dir, &format!("{name}.safetensors"))
        .map_err(anyhow::Error::msg)?;
    crate::tensorfile::write(
        &path,
        &entries,
        Some(("labels", serde_json::to_string(&ds.labels)?)),
    )?;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, e) in ds.examples.iter().enumerate() {
        for (k, v) in &e.groups {
            let col = groups
                .entry(k.clone())
                .or_insert_with(|| vec![String::new(); n]);
            col[i] = v.clone();
        }
    }
    std::fs::write(
        basins_engine::paths::under(dir, &format!("{name}.groups.json"))
            .map_err(anyhow::Error::msg)?,
        serde_json::to_vec(&groups)?,
    )?;
    Ok(())
}

/// One stored set, read back.
#[derive(Debug, Clone)]
pub struct StoredSet {
    pub labels: Vec<String>,
    pub loss: Vec<f32>,
    /// Predicted distributions, `[example][label]`.
    pub probs: Vec<Vec<f32>>,
    pub gold: Vec<usize>,
    pub predicted: Vec<usize>,
    /// group name -> value per example ("" where an example has none).
    pub groups: BTreeMap<String, Vec<String>>,
}

impl StoredSet {
    /// Read set `name` from a node's outputs (`eval/<name>.safetensors` and
    /// `eval/<name>.groups.json`).
    pub fn read(
        node: &str,
        files: &BTreeMap<String, PathBuf>,
        name: &str,
    ) -> anyhow::Result<StoredSet> {
        let get = |suffix: &str| {
            let key = format!("eval/{name}.{suffix}");
            files
                .get(&key)
                .with_context(|| format!("`{node}` has no output `{key}`"))
        };
        let path = get("safetensors")?;
        let bytes = std::fs::read(path)?;
        let st = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{}: not a safetensors file", path.display()))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)?;
        let labels: Vec<String> = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("labels"))
            .and_then(|l| serde_json::from_str(l).ok())
            .with_context(|| format!("{}: no label list in its metadata", path.display()))?;
        let ints = |n: &str| -> anyhow::Result<Vec<usize>> {
            let t = st.tensor(n)?;
            anyhow::ensure!(
                t.dtype() == Dtype::I64,
                "{}: `{n}` is not I64",
                path.display()
            );
            Ok(crate::tensorfile::i64_values(t.data())
                .into_iter()
                .map(|v| v as usize)
                .collect())
        };
        let loss = crate::tensorfile::f32_values(st.tensor("loss")?.data());
        let (gold, predicted) = (ints("gold")?, ints("predicted")?);
        let groups: BTreeMap<String, Vec<String>> =
            serde_json::from_slice(&std::fs::read(get("groups.json")?)?)?;
        let n = loss.len();
        let probs_t = st.tensor("probs")?;
        let width = labels.len();
        anyhow::ensure!(
            probs_t.shape() == [n, width],
            "{}: `probs` is {:?}, expected [{n}, {width}]",
            path.display(),
            probs_t.shape()
        );
        let flat = crate::tensorfile::f32_values(probs_t.data());
        let probs: Vec<Vec<f32>> = flat.chunks(width.max(1)).map(<[f32]>::to_vec).collect();
        anyhow::ensure!(
            gold.len() == n && predicted.len() == n && groups.values().all(|g| g.len() == n),
            "{}: per-example columns differ in length",
            path.display()
        );
        Ok(StoredSet {
            labels,
            loss,
            probs,
            gold,
            predicted,
            groups,
        })
    }

    /// The rows of set `name` that the loss surface holds, from a node's
    /// `eval/<name>.surface.json` (None when the node recorded no surface for it), each
    /// checked to lie inside the set's `rows`.
    pub fn surface_rows(
        node: &str,
        files: &BTreeMap<String, PathBuf>,
        name: &str,
        rows: usize,
    ) -> anyhow::Result<Option<Vec<usize>>> {
        let Some(path) = files.get(&format!("eval/{name}.surface.json")) else {
            return Ok(None);
        };
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)
            .with_context(|| format!("{}: not JSON (output of `{node}`)", path.display()))?;
        let surface: Vec<usize> = serde_json::from_value(doc["rows"].clone())
            .with_context(|| format!("{}: no row list", path.display()))?;
        anyhow::ensure!(
            surface.iter().all(|&r| r < rows),
            "{}: a surface row lies past the {rows} scored rows",
            path.display()
        );
        Ok(Some(surface))
    }

    /// Example indices per value of one group column.
    pub fn by_value(&self, group: &str) -> BTreeMap<&str, Vec<usize>> {
        let mut m: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        if let Some(col) = self.groups.get(group) {
            for (i, v) in col.iter().enumerate() {
                if !v.is_empty() {
                    m.entry(v.as_str()).or_default().push(i);
                }
            }
        }
        m
    }
}
