//! `diagnostics.json`: every model's metrics per diagnostic group on every eval set, its
//! primary score, their spread across models, and the strategies a set declares.

use std::collections::BTreeMap;

use basins_study::manifest::Strategy;
use serde::{Deserialize, Serialize};

use super::nan;
use crate::diagnostics::{KindScore, SetDiagnostics, Spread};

/// `diagnostics.json`, per eval set (the task's own splits and its diagnostic sets).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiagnosticsDoc {
    pub sets: BTreeMap<String, DiagnosedSet>,
}

/// One eval set's diagnostics over the models.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiagnosedSet {
    /// A diagnostic set (`false`: one of the task's own splits, in-distribution).
    pub diagnostic: bool,
    /// Each model's diagnostics, by seed.
    pub per_model: BTreeMap<u64, SetDiagnostics>,
    /// The primary score's name (the same for every model).
    pub primary: String,
    /// The set's rows.
    pub rows: usize,
    /// The rows the primary score is taken over.
    pub score_rows: usize,
    /// How many of those the loss surface also holds (`None`: no surface recorded).
    pub score_surface_overlap: Option<usize>,
    /// Each model's strategy, where the manifest declares a rule (left out otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategyLabels>,
    pub summary: Summary,
    /// The rows the loss surface holds (`None`: no surface recorded).
    pub surface_rows: Option<usize>,
}

/// The spread across models of the primary score and of each group cell's accuracy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// group -> value -> the cell's accuracy across models.
    pub groups: BTreeMap<String, BTreeMap<String, Spread>>,
    pub primary: Spread,
}

/// The strategy each model follows on a set, by the manifest's rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StrategyLabels {
    /// How many models follow each strategy.
    pub counts: BTreeMap<String, usize>,
    /// With the rule's `kinds`: each model's accuracy on each kind of conflict (empty
    /// without).
    pub kinds: BTreeMap<u64, Vec<KindScore>>,
    /// Each model's strategy, by seed.
    pub labels: BTreeMap<u64, String>,
    /// Every name a strategy can take, in the report's column order.
    pub names: Vec<String>,
    /// The manifest's rule.
    pub rule: Strategy,
    /// The labels again at other thresholds: how much the agreement rests on one.
    pub thresholds: Vec<ThresholdLabels>,
}

/// Every model's strategy at one threshold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdLabels {
    pub labels: BTreeMap<u64, String>,
    #[serde(deserialize_with = "nan")]
    pub threshold: f64,
}

impl DiagnosedSet {
    /// Each of `seeds`' primary score on this set, in that order; NaN for a model the set has
    /// no diagnostics of (the report leaves such a model out of every statistic, and names it).
    pub fn primary_scores(&self, seeds: &[u64]) -> Vec<f64> {
        self.scores(seeds, |d| d.primary.value)
    }

    /// Each of `seeds`' `pick` of its diagnostics, NaN where the set has none of the model.
    pub fn scores(&self, seeds: &[u64], pick: impl Fn(&SetDiagnostics) -> f64) -> Vec<f64> {
        seeds
            .iter()
            .map(|s| self.per_model.get(s).map_or(f64::NAN, &pick))
            .collect()
    }
}

impl StrategyLabels {
    /// Each of `seeds`' strategy at the rule's threshold as an index into [`Self::names`], or
    /// the first model without one.
    pub fn indices(&self, seeds: &[u64]) -> Result<Vec<usize>, u64> {
        index(&self.names, &self.labels, seeds)
    }
}

impl ThresholdLabels {
    /// [`StrategyLabels::indices`] at this threshold.
    pub fn indices(&self, names: &[String], seeds: &[u64]) -> Result<Vec<usize>, u64> {
        index(names, &self.labels, seeds)
    }
}

fn index(
    names: &[String],
    labels: &BTreeMap<u64, String>,
    seeds: &[u64],
) -> Result<Vec<usize>, u64> {
    seeds
        .iter()
        .map(|s| {
            labels
                .get(s)
                .and_then(|l| names.iter().position(|n| n == l))
                .ok_or(*s)
        })
        .collect()
}
