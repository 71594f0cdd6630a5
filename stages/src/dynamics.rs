//! When do basins form: the clusterings of kept checkpoints read against the final one.
//!
//! Cluster labels are arbitrary per clustering, so each step's labels are first matched to the
//! final clustering's (the Hungarian assignment maximising the models both put together). Then
//! per step: the adjusted Rand index against the final partition (label-free), the share of
//! models already in their final basin (the accuracy of predicting the final basin from that
//! step's clustering alone), and which models are not; per model, the step from which it stays
//! in its final basin.

use pathfinding::prelude::{kuhn_munkres, Matrix};
use serde::Serialize;

use crate::cluster::adjusted_rand;

/// The accuracy from which the final basin counts as predicted (the 90%).
pub const PREDICTED: f64 = 0.9;

/// One checkpoint's clustering: `at` is `step=<n>` or `final`.
#[derive(Debug, Clone)]
pub struct Clustering {
    pub at: String,
    pub assignments: Vec<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Step {
    pub at: String,
    pub k: usize,
    /// Adjusted Rand index against the final clustering (1 at the final step).
    pub ari: f64,
    /// Labels matched to the final clustering's; a cluster with no final counterpart (more
    /// clusters than at the end) gets a label >= the final k.
    pub aligned: Vec<usize>,
    /// Share of models whose matched label is their final basin.
    pub accuracy: f64,
    /// Models (by seed) not yet in their final basin.
    pub elsewhere: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Model {
    pub seed: u64,
    pub final_basin: usize,
    /// The first checkpoint from which the model stays in its final basin.
    pub settled_at: String,
    /// Times its matched label changed between consecutive checkpoints.
    pub switches: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OwnStep {
    pub at: String,
    /// Per model, in `seeds` order.
    pub barriers: Vec<f64>,
    pub mean: f64,
    pub max: f64,
    /// Mean over the models of each final basin (index = basin).
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
    // None when only the final clustering reaches it (trivially: it is the target).
    let from = steps
        .iter()
        .rposition(|s| s.accuracy < PREDICTED)
        .map_or(0, |p| p + 1);
    let predicted_from = (from + 1 < steps.len()).then(|| steps[from].at.clone());
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
