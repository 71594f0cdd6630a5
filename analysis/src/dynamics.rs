//! When do basins form: the clusterings of kept checkpoints read against the final one.
//!
//! Cluster labels are arbitrary per clustering, so each step's labels are first matched to the
//! final clustering's (the Hungarian assignment maximising the models both put together). Then
//! per step: the adjusted Rand index against the final partition (label-free), the share of
//! models already in their final basin (the accuracy of predicting the final basin from that
//! step's clustering alone), and which models are not; per model, the step from which it stays
//! in its final basin.
//!
//! Beyond the clustering of a step, two cheaper or more telling reads of it: the final basin
//! predicted from a few reference runs (each run goes to the final basin whose references are
//! nearest by the step's barriers, `by_centroid`), with the forward passes each prediction
//! costs; and each scored set's correlation with the step's spectral coordinate, both the
//! score at that step (the paper's per-step plot) and the final score (how early the geometry
//! tells the strategy a run ends with).

use pathfinding::prelude::{kuhn_munkres, Matrix};
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::cluster::{adjusted_rand, Square};
use crate::documents::{nan, nan_vec};
use crate::stats::{pearson, Pearson};

/// The accuracy from which the final basin counts as predicted (the 90%).
pub const PREDICTED: f64 = 0.9;

/// One checkpoint's clustering: `at` is `step=<n>` or `final`.
#[derive(Debug, Clone)]
pub struct Clustering {
    pub at: String,
    pub assignments: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    pub at: String,
    pub k: usize,
    /// Adjusted Rand index against the final clustering (1 at the final step).
    #[serde(deserialize_with = "nan")]
    pub ari: f64,
    /// Labels matched to the final clustering's; a cluster with no final counterpart (more
    /// clusters than at the end) gets a label >= the final k.
    pub aligned: Vec<usize>,
    /// Share of models whose matched label is their final basin.
    #[serde(deserialize_with = "nan")]
    pub accuracy: f64,
    /// Models (by seed) not yet in their final basin.
    pub elsewhere: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    pub seed: u64,
    pub final_basin: usize,
    /// The first checkpoint from which the model stays in its final basin.
    pub settled_at: String,
    /// Times its matched label changed between consecutive checkpoints.
    pub switches: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Dynamics {
    pub steps: Vec<Step>,
    pub models: Vec<Model>,
    /// The first kept step from which every later checkpoint predicts the final basins with
    /// accuracy >= `PREDICTED`; none when no step before the final one does.
    pub predicted_from: Option<String>,
}

/// The barrier on the path from each model's checkpoint at one kept step to its own final
/// weights (the clustering's barrier kind, on its set): low when the run stayed in the basin it
/// was in at that step, high when it crossed into another one afterwards.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OwnStep {
    pub at: String,
    /// Per model, in `seeds` order.
    #[serde(deserialize_with = "nan_vec")]
    pub barriers: Vec<f64>,
    #[serde(deserialize_with = "nan")]
    pub mean: f64,
    #[serde(deserialize_with = "nan")]
    pub max: f64,
    /// Mean over the models of each final basin (index = basin).
    #[serde(deserialize_with = "nan_vec")]
    pub by_final_basin: Vec<f64>,
}

/// [`OwnStep`] from one step's barriers and each model's final basin.
pub fn own_step(at: &str, barriers: Vec<f64>, finals: &[usize]) -> OwnStep {
    let k = finals.iter().max().map_or(0, |m| m + 1);
    let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let by_final_basin = (0..k)
        .map(|c| {
            let v: Vec<f64> = barriers
                .iter()
                .zip(finals)
                .filter(|(_, &f)| f == c)
                .map(|(b, _)| *b)
                .collect();
            mean_of(&v)
        })
        .collect();
    OwnStep {
        at: at.to_owned(),
        mean: mean_of(&barriers),
        max: barriers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        barriers,
        by_final_basin,
    }
}

/// Predicting the final basins at one step by nearest reference runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CentroidPrediction {
    /// Reference runs per final basin.
    pub references: usize,
    /// Share of models put in their final basin, averaged over `draws` random choices of the
    /// references (each model predicted with itself left out of them).
    #[serde(deserialize_with = "nan")]
    pub accuracy: f64,
    pub draws: usize,
    /// Forward passes (one model on one row) a prediction costs: the paths to the references
    /// on the clustering's rows, plus the run's own checkpoint on those rows.
    pub forward_passes: u64,
}

/// Expected accuracy of predicting each model's final basin from the barriers `b` of one step:
/// per draw, `r` references per final basin chosen at random among the other models of that
/// basin, and the model assigned to the basin whose references have the lowest mean barrier to
/// it (ties to the lower basin). None when a basin has fewer than `r` other models for some
/// model, or there is one basin only (nothing to predict).
pub fn centroid_accuracy(
    b: &Square,
    finals: &[usize],
    r: usize,
    draws: usize,
    seed: u64,
) -> Option<f64> {
    let k = finals.iter().max().map_or(0, |m| m + 1);
    let n = finals.len();
    if k < 2 || r == 0 || draws == 0 || b.len() != n {
        return None;
    }
    let members: Vec<Vec<usize>> = (0..k)
        .map(|c| (0..n).filter(|&i| finals[i] == c).collect())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut hits = 0usize;
    for i in 0..n {
        let pools: Vec<Vec<usize>> = members
            .iter()
            .map(|m| m.iter().copied().filter(|&j| j != i).collect())
            .collect();
        if pools.iter().any(|p| p.len() < r) {
            return None;
        }
        for _ in 0..draws {
            let mut best = (f64::INFINITY, 0);
            for (c, pool) in pools.iter().enumerate() {
                let refs = pool.choose_multiple(&mut rng, r);
                let mean = refs.map(|&j| b[i][j]).sum::<f64>() / r as f64;
                if mean < best.0 {
                    best = (mean, c);
                }
            }
            hits += usize::from(best.1 == finals[i]);
        }
    }
    Some(hits as f64 / (n * draws) as f64)
}

/// One scored set's Pearson correlation with a step's spectral coordinate: of the score at that
/// step (where the set is scored at steps) and of the final score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlation {
    pub set: String,
    pub at_step: Option<Pearson>,
    pub final_score: Option<Pearson>,
}

/// Pearson's r of `scores` against `coordinate`, None where a score is missing.
pub fn correlate(coordinate: &[f64], scores: Option<&[f64]>) -> Option<Pearson> {
    pearson(coordinate, scores?)
}

/// A step's spectral coordinate (distance to its cluster 0's centroid minus to its cluster
/// 1's) turned to the final labels: negated when the step's cluster 0 matches a higher final
/// basin than its cluster 1, so that a negative value always leans to the lower-numbered final
/// basin and correlations keep one sign across steps.
pub fn orient(coordinate: &[f64], step: &[usize], aligned: &[usize]) -> Vec<f64> {
    let matched = |c: usize| step.iter().position(|&l| l == c).map(|i| aligned[i]);
    match (matched(0), matched(1)) {
        (Some(a), Some(b)) if a > b => coordinate.iter().map(|x| -x).collect(),
        _ => coordinate.to_vec(),
    }
}

/// The index of the first kept step from which every later checkpoint's accuracy (in training
/// order, the final one last) is >= `PREDICTED`; None when only the final checkpoint is
/// (trivially: it is the target).
pub fn predicted_from(accuracy: &[f64]) -> Option<usize> {
    let from = accuracy
        .iter()
        .rposition(|&a| a < PREDICTED)
        .map_or(0, |i| i + 1);
    (from + 1 < accuracy.len()).then_some(from)
}

/// Relabel `step` to agree with `target` as much as possible (Hungarian assignment on the
/// contingency table). Ties go to the lower label, so the result is deterministic.
pub fn align(step: &[usize], target: &[usize]) -> Vec<usize> {
    let k = |l: &[usize]| l.iter().max().map_or(0, |m| m + 1);
    let n = k(step).max(k(target));
    if n == 0 {
        return Vec::new();
    }
    let mut counts = Matrix::new(n, n, 0i64);
    for (&s, &t) in step.iter().zip(target) {
        counts[(s, t)] += 1;
    }
    let (_, to) = kuhn_munkres(&counts);
    step.iter().map(|&s| to[s]).collect()
}

/// Read each clustering against the last one (the final weights'). `clusterings` are in
/// training order and all over the same models (`seeds`).
pub fn dynamics(clusterings: &[Clustering], seeds: &[u64]) -> anyhow::Result<Dynamics> {
    let last = clusterings
        .last()
        .ok_or_else(|| anyhow::anyhow!("no clusterings"))?;
    for c in clusterings {
        anyhow::ensure!(
            c.assignments.len() == seeds.len(),
            "the clustering at {} has {} models, not the study's {}",
            c.at,
            c.assignments.len(),
            seeds.len()
        );
    }
    let fin = &last.assignments;
    let steps: Vec<Step> = clusterings
        .iter()
        .map(|c| {
            let aligned = align(&c.assignments, fin);
            let same = aligned.iter().zip(fin).filter(|(a, f)| a == f).count();
            Step {
                at: c.at.clone(),
                k: c.assignments.iter().max().map_or(0, |m| m + 1),
                ari: adjusted_rand(&c.assignments, fin),
                accuracy: same as f64 / fin.len().max(1) as f64,
                elsewhere: seeds
                    .iter()
                    .zip(aligned.iter().zip(fin))
                    .filter(|(_, (a, f))| a != f)
                    .map(|(s, _)| *s)
                    .collect(),
                aligned,
            }
        })
        .collect();
    let models = seeds
        .iter()
        .enumerate()
        .map(|(i, &seed)| {
            let path: Vec<usize> = steps.iter().map(|s| s.aligned[i]).collect();
            // The last checkpoint where it was elsewhere; settled from the one after.
            let settled = path.iter().rposition(|&l| l != fin[i]).map_or(0, |p| p + 1);
            Model {
                seed,
                final_basin: fin[i],
                settled_at: steps[settled.min(steps.len() - 1)].at.clone(),
                switches: path.windows(2).filter(|w| w[0] != w[1]).count(),
            }
        })
        .collect();
    let accuracy: Vec<f64> = steps.iter().map(|s| s.accuracy).collect();
    let predicted_from = predicted_from(&accuracy).map(|i| steps[i].at.clone());
    Ok(Dynamics {
        steps,
        models,
        predicted_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(at: &str, a: &[usize]) -> Clustering {
        Clustering {
            at: at.into(),
            assignments: a.to_vec(),
        }
    }

    #[test]
    fn alignment_undoes_a_relabelling() {
        assert_eq!(align(&[1, 1, 0, 0, 2], &[0, 0, 2, 2, 1]), [0, 0, 2, 2, 1]);
        // Two step clusters for one final basin: the larger part keeps the label.
        assert_eq!(
            align(&[0, 0, 1, 2, 2, 2], &[0, 0, 0, 1, 1, 1]),
            [0, 0, 2, 1, 1, 1]
        );
        // Fewer clusters than at the end.
        assert_eq!(align(&[0, 0, 0, 0], &[1, 1, 1, 0]), [1, 1, 1, 1]);
    }

    #[test]
    fn a_model_that_moves_late_settles_late() {
        let seeds = [10, 11, 12, 13, 14];
        let d = dynamics(
            &[
                c("step=1", &[0, 0, 0, 0, 0]),
                c("step=2", &[1, 1, 1, 0, 0]),
                c("step=3", &[1, 1, 0, 0, 0]),
                c("final", &[0, 0, 1, 1, 1]),
            ],
            &seeds,
        )
        .unwrap();
        let acc: Vec<f64> = d.steps.iter().map(|s| s.accuracy).collect();
        assert_eq!(acc, [0.6, 0.8, 1.0, 1.0]);
        assert_eq!(d.steps[3].ari, 1.0);
        assert_eq!(d.steps[2].ari, 1.0);
        assert!(d.steps[0].ari.abs() < 1e-12, "one cluster: ARI 0");
        assert_eq!(d.steps[1].elsewhere, [12]);
        let settled: Vec<&str> = d.models.iter().map(|m| m.settled_at.as_str()).collect();
        assert_eq!(settled, ["step=2", "step=2", "step=3", "step=1", "step=1"]);
        assert_eq!(d.models[2].switches, 2, "into the other basin and back");
        assert_eq!(d.predicted_from.as_deref(), Some("step=3"));
    }

    #[test]
    fn nearest_references_predict_clear_basins_and_refuse_small_ones() {
        // Two tight basins {0, 1, 2} and {3, 4, 5}, far apart; model 2 sits between.
        let far = 1.0;
        let mut b: Vec<Vec<f64>> = (0..6)
            .map(|i| {
                (0..6)
                    .map(|j| match (i == j, (i < 3) == (j < 3)) {
                        (true, _) => 0.0,
                        (false, true) => 0.1,
                        (false, false) => far,
                    })
                    .collect()
            })
            .collect();
        let finals = [0, 0, 0, 1, 1, 1];
        assert_eq!(centroid_accuracy(&b, &finals, 1, 20, 0), Some(1.0));
        assert_eq!(centroid_accuracy(&b, &finals, 2, 20, 0), Some(1.0));
        // Three references per basin: a basin has only two others for its own members.
        assert_eq!(centroid_accuracy(&b, &finals, 3, 20, 0), None);
        assert_eq!(centroid_accuracy(&b, &[0; 6], 1, 20, 0), None);
        // Model 0 closer to the other basin's model 3 than to its own: with one reference per
        // basin it is wrong whenever model 3 is drawn (1 of 3 draws of the other basin, each
        // draw of its own basin at 0.1), and so is model 3 whenever model 0 is drawn.
        b[0][3] = 0.0;
        b[3][0] = 0.0;
        let acc = centroid_accuracy(&b, &finals, 1, 3000, 1).unwrap();
        // Models 0 and 3 each wrong when the other is drawn, with chance 1/3.
        assert!((acc - (6.0 - 2.0 / 3.0) / 6.0).abs() < 0.02, "{acc}");
    }

    #[test]
    fn the_coordinate_keeps_its_sign_across_relabellings() {
        let c = [-1.0, -0.5, 0.5, 1.0];
        // Step cluster 0 is final basin 1: negated.
        assert_eq!(
            orient(&c, &[0, 0, 1, 1], &[1, 1, 0, 0]),
            [1.0, 0.5, -0.5, -1.0]
        );
        assert_eq!(orient(&c, &[0, 0, 1, 1], &[0, 0, 1, 1]), c);
        assert_eq!(orient(&c, &[0, 0, 0, 0], &[1, 1, 1, 1]), c);
        let r = correlate(&c, Some(&[0.1, 0.2, 0.8, 0.9])).unwrap();
        assert!(r.r > 0.9);
        assert!(correlate(&c, None).is_none());
    }

    #[test]
    fn never_predicted_when_a_late_step_falls_short() {
        let d = dynamics(
            &[
                c("step=1", &[0, 0, 1, 1]),
                c("step=2", &[0, 1, 0, 1]),
                c("final", &[0, 0, 1, 1]),
            ],
            &[0, 1, 2, 3],
        )
        .unwrap();
        assert_eq!(d.predicted_from, None);
        assert!(dynamics(&[c("final", &[0, 1])], &[0, 1, 2]).is_err());
    }
}
