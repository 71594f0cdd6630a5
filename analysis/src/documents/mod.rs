//! The documents the analysis stages write and read, one type each: `barriers.json` (the
//! `barriers` kind writes it; `cluster`, `controls`, `dynamics` and the report read it),
//! `cluster.json` (the `cluster` kind; `controls`, `dynamics` and the report),
//! `diagnostics.json` (the `diagnostics` kind; `controls` and the report), `dynamics.json`
//! (the `dynamics` kind; the report), `soups.json` (the `soups` kind; the report), `blocks.json`
//! and `aligned.json` (the `blocks` and `aligned` kinds; the report). Producers and consumers share the type, so a field
//! renamed on one side does not compile on the other, and a field missing from a file is an
//! error that names it, never a default (an `Option` field that is left out when it has
//! nothing to say is the one exception, and says so).
//!
//! The files' bytes are part of the cache (each document is an output object, and verify
//! compares bytes): fields are declared in alphabetical order and maps are sorted, so that the
//! types write exactly what the untyped `serde_json::Value`s before them wrote; a map keyed by
//! seed is written through [`to_bytes`], which sorts its keys as text as those did. A number
//! that is not finite is written as `null` (JSON has no NaN) and read back as NaN.

mod barriers;
mod blocks;
mod cluster;
mod diagnostics;
mod dynamics;
mod soups;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

pub use barriers::{BarriersDoc, Curve, Matrices, PairEstimate, SetBarriers};
pub use blocks::{
    AlignedBasins, AlignedDoc, AlignedPair, BlockPair, BlockSummary, BlocksDoc, MatrixSummary,
};
pub use cluster::{Affinity, ClusterDoc, Dendrogram, IntervalRobustness, Stability};
pub use diagnostics::{DiagnosedSet, DiagnosticsDoc, StrategyLabels, Summary, ThresholdLabels};
pub use dynamics::{Cost, DynamicsDoc, OwnFinal, Prediction, StepCorrelations};
pub use soups::{SoupBarriers, SoupRow, SoupScore, SoupSet, SoupsDoc, SurfaceLoss};

/// Read and parse a document, the error naming the file and what is wrong with it.
pub fn read<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// A document as pretty JSON by way of `serde_json::Value`, whose maps sort their keys as
/// text: a map keyed by seed (`0, 1, 2, 10`) is written `"0", "1", "10", "2"`, as the
/// untyped documents were.
pub fn to_bytes<T: Serialize>(doc: &T) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec_pretty(&serde_json::to_value(doc)?)
}

/// A number written as `null` because it was not finite, read back as NaN.
pub(crate) fn nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

pub(crate) fn nan_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v = Vec::<Option<f64>>::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

pub(crate) fn nan_vecs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
    let v = Vec::<Vec<Option<f64>>>::deserialize(d)?;
    Ok(v.into_iter()
        .map(|r| r.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        .collect())
}

pub(crate) fn nan_pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[f64; 2]>, D::Error> {
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
        let kinds: Vec<&str> = (basins_study::manifest::BarrierKind::ALL.iter())
            .map(|k| k.name())
            .collect();
        let doc = json!({"kinds": kinds, "seeds": [], "sets": sets});
        serde_json::from_value(doc).expect("a whole barriers.json")
    }
}
