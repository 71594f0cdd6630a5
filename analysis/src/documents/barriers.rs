//! `barriers.json`: the barrier matrices over the models, and the curves they come from.

use std::collections::BTreeMap;

use basins_study::manifest::BarrierKind;
use serde::{Deserialize, Serialize};

use super::nan_vec;
use crate::adaptive::Estimate;
use crate::cluster::Square;

/// `barriers.json`: per eval set, every barrier definition's matrix over the models (with
/// bootstrap intervals) and every pair's mean curves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BarriersDoc {
    /// The barrier definitions' names, in the order of [`BarrierKind::ALL`].
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
    /// Per pair (`a~b`) that an adaptive path measured (`[interpolate] mode = "adaptive"`):
    /// its estimate. A pair here that is not `exact` has estimates for values in every
    /// matrix: the estimated barrier's value and interval are the estimator's, the other
    /// definitions' come from the same partial curve with bootstrap intervals. Every other
    /// entry is a grid value. Absent for grid studies, whose documents keep their bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub estimates: BTreeMap<String, PairEstimate>,
}

/// One adaptive path's estimate of the barrier its contract covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairEstimate {
    pub barrier: BarrierKind,
    pub estimate: Estimate,
}

impl SetBarriers {
    /// The pairs whose values are estimates (not exact), in name order.
    pub fn estimated(&self) -> impl Iterator<Item = (&String, &PairEstimate)> {
        self.estimates.iter().filter(|(_, e)| !e.estimate.exact)
    }
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

    /// The matrix positions of a pair named `a~b` (the key of `curves` and `estimates`).
    pub fn pair_index(&self, pair: &str) -> anyhow::Result<(usize, usize)> {
        let pos = |s: &str| -> anyhow::Result<usize> {
            let seed: u64 = s
                .parse()
                .map_err(|_| anyhow::anyhow!("barriers.json: `{s}` in `{pair}` is not a seed"))?;
            self.seeds.iter().position(|&x| x == seed).ok_or_else(|| {
                anyhow::anyhow!("barriers.json: seed {seed} of `{pair}` is not among its models")
            })
        };
        let (a, b) = pair
            .split_once('~')
            .ok_or_else(|| anyhow::anyhow!("barriers.json: `{pair}` is not a pair `a~b`"))?;
        Ok((pos(a)?, pos(b)?))
    }

    /// The `kind` matrices on eval set `set`.
    pub fn matrices(&self, set: &str, kind: BarrierKind) -> anyhow::Result<&Matrices> {
        self.set(set)?.matrices.get(kind.name()).ok_or_else(|| {
            anyhow::anyhow!("barriers.json has no `{}` matrices on `{set}`", kind.name())
        })
    }
}
