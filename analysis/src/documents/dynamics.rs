//! `dynamics.json`: when the final basins formed across a study's kept steps, the barrier from
//! each checkpoint to its own final weights, and what predicting the final basins costs.

use std::collections::BTreeMap;

use basins_study::manifest::BarrierKind;
use serde::{Deserialize, Serialize};

use super::{nan, nan_vec};
use crate::dynamics::{CentroidPrediction, Correlation, Dynamics, OwnStep};

/// `dynamics.json`, written by the `dynamics` kind and read by the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamicsDoc {
    /// Per checkpoint, each scored set's correlation with its spectral coordinate.
    pub correlations: Vec<StepCorrelations>,
    /// Each checkpoint's clustering against the final one, and each model's path.
    pub dynamics: Dynamics,
    /// The barrier from each kept step to each model's own final weights.
    pub own_final: OwnFinal,
    /// Per number of references a basin (as text), the first checkpoint from which the
    /// nearest references predict the final basins (`None`: not before the end).
    pub predicted_from_centroid: BTreeMap<String, Option<String>>,
    /// Per checkpoint, its predictions of the final basins and what each costs.
    pub prediction: Vec<Prediction>,
    /// The models, in the order of every per-model list.
    pub seeds: Vec<u64>,
}

/// The barrier from each kept step to each model's own final weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnFinal {
    pub barrier: BarrierKind,
    /// The eval set the paths are evaluated on (the clustering's).
    pub set: String,
    pub steps: Vec<OwnStep>,
}

/// One checkpoint's predictions of the final basins, and what each cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    pub at: String,
    /// By the nearest final basin's reference runs, per number of references.
    pub centroid: Vec<CentroidPrediction>,
    /// By the checkpoint's own clustering (all pairs at that step): the share in the final
    /// basin, and the forward passes per run (its share of the pairs' paths and its endpoint).
    pub clustering: Cost,
    /// Baseline: every run in the largest final basin (no forward pass).
    pub majority: Cost,
    /// Baseline: the nearest references by how often the run's predictions on the
    /// loss-surface rows disagree with theirs (one evaluation on those rows).
    pub outputs: Vec<CentroidPrediction>,
    /// Baseline: the nearest references by the run's score on the clustering's set at the
    /// checkpoint (one evaluation of the run on the score's rows).
    pub score: Vec<CentroidPrediction>,
}

/// A prediction's accuracy (the share of runs put in their final basin) and its forward
/// passes per predicted run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cost {
    #[serde(deserialize_with = "nan")]
    pub accuracy: f64,
    pub forward_passes: u64,
}

/// One checkpoint's spectral coordinate (turned to the final labels) and each scored set's
/// correlation with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepCorrelations {
    pub at: String,
    #[serde(deserialize_with = "nan_vec")]
    pub coordinate: Vec<f64>,
    pub sets: Vec<Correlation>,
}

impl DynamicsDoc {
    /// The final basin of each model, in seed order.
    pub fn final_basins(&self) -> Vec<usize> {
        self.dynamics.models.iter().map(|m| m.final_basin).collect()
    }
}

impl Prediction {
    /// The prediction from `r` references a basin among `of` (centroid, score or outputs), if
    /// it was made.
    pub fn with(of: &[CentroidPrediction], r: usize) -> Option<&CentroidPrediction> {
        of.iter().find(|c| c.references == r)
    }
}
