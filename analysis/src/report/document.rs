//! `report.json`: everything the page shows, as numbers; the report kind writes it, a sweep
//! reads each sub-study's.

use std::collections::BTreeMap;

use basins_study::params::StudyConfig;
use serde::{Deserialize, Serialize};

use super::{Agreements, Provenance, ScoreTable, TaskInputs};
use crate::controls::Controls;
use crate::documents::{OwnFinal, Prediction, StepCorrelations};
use crate::dynamics::Dynamics;

/// `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportDoc {
    pub config: StudyConfig,
    pub provenance: Provenance,
    pub tasks: BTreeMap<String, TaskSummary>,
    pub title: String,
}

/// One task's numbers: its basins, the scores by basin, the strategies, and where the study
/// has them its controls and training dynamics (left out where it has not, so that other
/// studies' report.json stays as it was).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskSummary {
    /// With `[interpolate] align`: the barriers before and after alignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aligned: Option<crate::documents::AlignedDoc>,
    /// With `[interpolate] blocks`: each block's barriers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<crate::documents::BlocksDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls: Option<Controls>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamics: Option<Dynamics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamics_correlations: Option<Vec<StepCorrelations>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamics_own_final: Option<OwnFinal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamics_prediction: Option<DynamicsPrediction>,
    /// With adaptive estimates: whether the partition holds within their intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimates: Option<crate::documents::IntervalRobustness>,
    /// With `[report] expect`: the basins against the published clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<super::expect::Reproduction>,
    pub k: usize,
    pub silhouette: Option<f64>,
    pub sizes: Vec<usize>,
    /// With `[merge]`: the soups beside their members, ensembles and controls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soups: Option<crate::documents::SoupsDoc>,
    /// The mean adjusted Rand index over the bootstrap replicates.
    pub stability: Option<f64>,
    pub strategies: Agreements,
    pub tests: ScoreTable,
}

/// The predictions of the final basins per checkpoint, and from which checkpoint each number of
/// references predicts them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamicsPrediction {
    pub predicted_from_centroid: BTreeMap<String, Option<String>>,
    pub steps: Vec<Prediction>,
}

impl TaskSummary {
    /// The summary of task `t` with its table and agreements.
    pub fn new(t: &TaskInputs, tests: &ScoreTable, strategies: &Agreements) -> Self {
        let (c, d) = (t.cluster, t.dynamics);
        TaskSummary {
            aligned: t.aligned.cloned(),
            blocks: t.blocks.cloned(),
            controls: t.controls.cloned(),
            dynamics: d.map(|d| d.dynamics.clone()),
            dynamics_correlations: d.map(|d| d.correlations.clone()),
            dynamics_own_final: d.map(|d| d.own_final.clone()),
            dynamics_prediction: d.map(|d| DynamicsPrediction {
                predicted_from_centroid: d.predicted_from_centroid.clone(),
                steps: d.prediction.clone(),
            }),
            estimates: c.estimates.clone(),
            expect: t.expect.cloned(),
            k: c.k,
            silhouette: c.silhouette,
            sizes: c.sizes.clone(),
            soups: t.soups.cloned(),
            stability: c.stability.mean_ari,
            strategies: strategies.clone(),
            tests: tests.clone(),
        }
    }
}
