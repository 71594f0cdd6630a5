//! `report.json`: everything the page shows, as numbers.

use std::collections::BTreeMap;

use basins_study::params::StudyConfig;
use serde::Serialize;

use super::{Agreements, Provenance, ScoreTable, TaskInputs};
use crate::controls::Controls;
use crate::documents::{OwnFinal, Prediction, StepCorrelations};
use crate::dynamics::Dynamics;

/// `report.json`, written by the report kind beside the page.
#[derive(Debug, Clone, Serialize)]
pub struct ReportDoc<'a> {
    pub config: &'a StudyConfig,
    pub provenance: &'a Provenance,
    pub tasks: BTreeMap<String, TaskSummary<'a>>,
    pub title: &'a str,
}

/// One task's numbers: its basins, the scores by basin, the strategies, and where the study
/// has them its controls and training dynamics (left out where it has not, so that other
/// studies' report.json stays as it was).
#[derive(Debug, Clone, Serialize)]
pub struct TaskSummary<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controls: Option<&'a Controls>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamics: Option<&'a Dynamics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamics_correlations: Option<&'a [StepCorrelations]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamics_own_final: Option<&'a OwnFinal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamics_prediction: Option<DynamicsPrediction<'a>>,
    pub k: usize,
    pub silhouette: Option<f64>,
    pub sizes: &'a [usize],
    /// The mean adjusted Rand index over the bootstrap replicates.
    pub stability: Option<f64>,
    pub strategies: &'a Agreements,
    pub tests: &'a ScoreTable,
}

/// The predictions of the final basins per checkpoint, and from which each number of
/// references predicts them.
#[derive(Debug, Clone, Serialize)]
pub struct DynamicsPrediction<'a> {
    pub predicted_from_centroid: &'a BTreeMap<String, Option<String>>,
    pub steps: &'a [Prediction],
}

impl<'a> TaskSummary<'a> {
    /// The summary of task `t` with its table and agreements.
    pub fn new(t: &TaskInputs<'a>, tests: &'a ScoreTable, strategies: &'a Agreements) -> Self {
        let (c, d) = (t.cluster, t.dynamics);
        TaskSummary {
            controls: t.controls,
            dynamics: d.map(|d| &d.dynamics),
            dynamics_correlations: d.map(|d| &d.correlations[..]),
            dynamics_own_final: d.map(|d| &d.own_final),
            dynamics_prediction: d.map(|d| DynamicsPrediction {
                predicted_from_centroid: &d.predicted_from_centroid,
                steps: &d.prediction,
            }),
            k: c.k,
            silhouette: c.silhouette,
            sizes: &c.sizes,
            stability: c.stability.mean_ari,
            strategies,
            tests,
        }
    }
}
