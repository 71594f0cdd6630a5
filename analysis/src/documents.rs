//! The documents the analysis stages write and read, one type each: `barriers.json` (the
//! `barriers` kind writes it; `cluster`, `controls`, `dynamics` and the report read it) and
//! `cluster.json` (the `cluster` kind; `controls`, `dynamics` and the report). Producers and
//! consumers share the type, so a field renamed on one side does not compile on the other, and
//! a field missing from a file is an error that names it, never a default.
//!
//! The files' bytes are part of the cache (each document is an output object, and verify
//! compares bytes): fields are declared in alphabetical order and maps are sorted, so that the
//! types write exactly what the untyped `serde_json::Value`s before them wrote. A number that
//! is not finite is written as `null` (JSON has no NaN) and read back as NaN.

use std::collections::BTreeMap;
use std::path::Path;

use basins_study::manifest::{BarrierKind, ClusterDelta, ClusterMethod};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::cluster::Square;

/// Read and parse a document, the error naming the file and what is wrong with it.
pub fn read<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// `barriers.json`: per eval set, every barrier definition's matrix over the models (with
/// bootstrap intervals) and every pair's mean curves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BarriersDoc {
    /// The barrier definitions, in the order of [`crate::barriers::KINDS`].
    pub kinds: Vec<String>,
    /// The models, in matrix order.
    pub seeds: Vec<u64>,
    pub sets: BTreeMap<String, SetBarriers>,
}

/// One eval set's barriers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetBarriers {
    /// The interpolation grid, endpoints included, ascending.
    pub alphas: Vec<f64>,
    /// Per pair (`a~b`), the mean loss and accuracy at each alpha.
    pub curves: BTreeMap<String, Curve>,
    /// Per barrier definition (`convexity`, ...), its matrices.
    pub matrices: BTreeMap<String, Matrices>,
}

/// One pair's mean curves along its path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Curve {
    #[serde(deserialize_with = "nan_vec")]
    pub accuracy: Vec<f64>,
    #[serde(deserialize_with = "nan_vec")]
    pub loss: Vec<f64>,
}

/// One barrier definition's matrices over the models: `None` where a pair was not
/// interpolated (`pairs` other than "all") or its value is not a number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matrices {
    pub ci_high: Vec<Vec<Option<f64>>>,
    pub ci_low: Vec<Vec<Option<f64>>>,
    pub value: Vec<Vec<Option<f64>>>,
}

impl Matrices {
    /// The value matrix whole, or why it is not (a pair not interpolated, or its value not a
    /// number).
    pub fn square(&self) -> anyhow::Result<Square> {
        self.value
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(|(j, v)| {
                        v.filter(|x| x.is_finite()).ok_or_else(|| {
                            anyhow::anyhow!("some pairs were not interpolated (entry {i}, {j})")
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

impl BarriersDoc {
    /// Eval set `set`'s barriers, or an error naming the sets there are.
    pub fn set(&self, set: &str) -> anyhow::Result<&SetBarriers> {
        self.sets.get(set).ok_or_else(|| {
            anyhow::anyhow!(
                "barriers.json has no eval set `{set}` (it has: {})",
                self.sets.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The `kind` matrices on eval set `set`.
    pub fn matrices(&self, set: &str, kind: BarrierKind) -> anyhow::Result<&Matrices> {
        self.set(set)?.matrices.get(kind.name()).ok_or_else(|| {
            anyhow::anyhow!("barriers.json has no `{}` matrices on `{set}`", kind.name())
        })
    }
}

/// `cluster.json`: the basins of one barrier matrix, how they were found, and how stable they
/// are under the bootstrap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterDoc {
    pub affinity: Affinity,
    /// Each model's basin, in seed order.
    pub assignments: Vec<usize>,
    /// The barrier definition clustered.
    pub barrier: BarrierKind,
    /// Each model's distance to each k-means centroid in the spectral embedding.
    #[serde(deserialize_with = "nan_vecs")]
    pub centroid_distances: Vec<Vec<f64>>,
    /// The paper's one-dimensional placement (distance to centroid 0 minus to centroid 1).
    #[serde(deserialize_with = "nan_vec")]
    pub coordinate: Vec<f64>,
    /// The kernel width as the manifest asked for it.
    pub delta: ClusterDelta,
    /// Why the width used is not what was asked for, when it is not.
    pub delta_note: Option<String>,
    #[serde(deserialize_with = "nan")]
    pub delta_used: f64,
    pub dendrogram: Dendrogram,
    #[serde(deserialize_with = "nan_vec")]
    pub eigenvalues: Vec<f64>,
    /// Each model's coordinates on the two eigenvectors after the trivial one.
    #[serde(deserialize_with = "nan_pairs")]
    pub embedding: Vec<[f64; 2]>,
    /// The eval set whose matrix was clustered.
    pub eval: String,
    pub k: usize,
    pub method: ClusterMethod,
    /// A zoo's member names in seed order; `None` for seeds.
    pub names: Option<Vec<String>>,
    pub seeds: Vec<u64>,
    /// The mean silhouette; `None` where it is not defined (one basin, or one model each).
    pub silhouette: Option<f64>,
    pub sizes: Vec<usize>,
    pub stability: Stability,
}

/// The affinity's spread: when it is nearly constant, the partition rests on small differences.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Affinity {
    #[serde(deserialize_with = "nan")]
    pub max: f64,
    #[serde(deserialize_with = "nan")]
    pub min: f64,
    pub nearly_constant: bool,
}

/// Average-linkage merges over the barrier matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dendrogram {
    /// `(a, b, height, size)` per merge, scipy's linkage-matrix rows.
    pub merges: Vec<(usize, usize, f64, usize)>,
    /// The seeds in leaf order.
    pub order: Vec<u64>,
}

/// The partition's stability under the bootstrap replicates of the matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stability {
    /// How often each two models share a basin across replicates (absent with none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_assignment: Option<Vec<Vec<f64>>>,
    /// The mean adjusted Rand index with the full-sample partition; `None` with no replicates.
    pub mean_ari: Option<f64>,
    pub replicates: usize,
}

impl ClusterDoc {
    /// How the page names each model, in seed order: a zoo member's name, or the seed.
    pub fn model_names(&self) -> Vec<String> {
        match &self.names {
            Some(n) => n.clone(),
            None => self.seeds.iter().map(u64::to_string).collect(),
        }
    }
}

/// A number written as `null` because it was not finite, read back as NaN.
fn nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nan_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v = Vec::<Option<f64>>::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

fn nan_vecs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
    let v = Vec::<Vec<Option<f64>>>::deserialize(d)?;
    Ok(v.into_iter()
        .map(|r| r.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        .collect())
}

fn nan_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[f64; 2]>, D::Error> {
    let v = Vec::<[Option<f64>; 2]>::deserialize(d)?;
    Ok(v.into_iter()
        .map(|[a, b]| [a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)])
        .collect())
}

/// Whole documents from the few fields a test cares about (the rest neutral), for the report's
/// tests.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{json, Value};

    use super::{BarriersDoc, ClusterDoc};

    /// A cluster.json with `fields` over neutral values (one basin per `assignments` value).
    pub fn cluster(fields: Value) -> ClusterDoc {
        let n = fields["seeds"].as_array().map_or(0, Vec::len);
        let k = fields["assignments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .max()
            .map_or(0, |m| m + 1);
        let mut doc = json!({
            "affinity": {"max": 1.0, "min": 0.0, "nearly_constant": false},
            "assignments": vec![0; n], "barrier": "convexity", "centroid_distances": [],
            "coordinate": vec![0.0; n], "delta": 1.0, "delta_note": null, "delta_used": 1.0,
            "dendrogram": {"merges": [], "order": []}, "eigenvalues": [], "embedding": [],
            "eval": "dev", "k": k, "method": "spectral", "names": null, "seeds": [],
            "silhouette": null, "sizes": [], "stability": {"mean_ari": null, "replicates": 0},
        });
        for (key, v) in fields.as_object().expect("an object") {
            match (doc[key].as_object_mut(), v.as_object()) {
                // One level deep: `{"stability": {"mean_ari": 0.78}}` keeps `replicates`.
                (Some(base), Some(given)) => base.extend(given.clone()),
                _ => doc[key] = v.clone(),
            }
        }
        serde_json::from_value(doc).expect("a whole cluster.json")
    }

    /// A barriers.json with `sets` as given: each matrix's intervals equal to its values, each
    /// curve's accuracy 1 where only its loss is given.
    pub fn barriers(sets: Value) -> BarriersDoc {
        let mut sets = sets;
        for set in sets.as_object_mut().expect("sets").values_mut() {
            for kinds in set["matrices"].as_object_mut().into_iter() {
                for m in kinds.values_mut() {
                    m["ci_low"] = m["value"].clone();
                    m["ci_high"] = m["value"].clone();
                }
            }
            if set.get("curves").is_none() {
                set["curves"] = json!({});
            }
            if set.get("alphas").is_none() {
                set["alphas"] = json!([]);
            }
            for c in set["curves"].as_object_mut().expect("curves").values_mut() {
                let n = c["loss"].as_array().map_or(0, Vec::len);
                c["accuracy"] = json!(vec![1.0; n]);
            }
        }
        let doc = json!({"kinds": crate::barriers::KINDS, "seeds": [], "sets": sets});
        serde_json::from_value(doc).expect("a whole barriers.json")
    }
}
