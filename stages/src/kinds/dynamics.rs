//! `dynamics`: one task's clusterings at its kept steps and at the end, read against the final
//! one (`crate::dynamics`). Inputs `cluster@<checkpoint>` and `barriers@<checkpoint>`, in
//! training order in the params; the evaluate nodes of each model at each checkpoint
//! (`start:<seed>@<step>`, `end:<seed>`) for the scores and the own-final paths.

use std::collections::BTreeMap;

use basins_engine::{StageContext, StageKind};
use basins_study::manifest::Checkpoint;
use basins_study::params::{DynamicsParams, DynamicsSetParams};
use basins_study::roles;
use serde_json::{json, Value};

use super::{endpoint, node_doc, node_files, params, path_between};
use crate::cluster::Square;
use crate::controls::disagreement;
use crate::diagnostics::analyse;
use crate::documents::{
    to_bytes, BarriersDoc, ClusterDoc, Cost, DynamicsDoc, OwnFinal, Prediction, StepCorrelations,
};
use crate::dynamics::{
    centroid_accuracy, correlate, dynamics, orient, own_step, predicted_from, CentroidPrediction,
    Clustering, Correlation, Dynamics, OwnStep,
};
use crate::interpolate::interior;
use crate::outputs::StoredSet;

pub struct DynamicsKind;

/// The evaluate node of model `seed` at checkpoint `at`.
fn evaluate_role(seed: u64, at: &str) -> String {
    if at == "final" {
        roles::end(seed)
    } else {
        roles::start(seed, at)
    }
}

/// Each model's primary score on `set` at checkpoint `at`, in `seeds` order.
fn scores(
    ctx: &StageContext,
    seeds: &[u64],
    set: &DynamicsSetParams,
    at: &str,
) -> anyhow::Result<Vec<f64>> {
    Ok(step_scores(ctx, seeds, set, at)?.0)
}

/// Each model's primary score on `set` at checkpoint `at` (NaN where it is not a number), and
/// the rows the score takes.
fn step_scores(
    ctx: &StageContext,
    seeds: &[u64],
    set: &DynamicsSetParams,
    at: &str,
) -> anyhow::Result<(Vec<f64>, u64)> {
    let mut rows = 0;
    let values = seeds
        .iter()
        .map(|&seed| {
            let (node, files) = node_files(ctx, &evaluate_role(seed, at))?;
            let (name, score) = (set.name(), set.set.score.as_ref());
            let stored = StoredSet::read(node, files, name)?;
            let surface = StoredSet::surface_rows(node, files, name, stored.gold.len())?;
            let d = analyse(&stored, set.eval().data.format, score, surface.as_deref());
            rows = d.primary.examples as u64;
            Ok(d.primary.value)
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((values, rows))
}

/// Each model's predicted labels on `set`'s loss-surface rows at checkpoint `at`.
fn step_predictions(
    ctx: &StageContext,
    seeds: &[u64],
    set: &str,
    at: &str,
) -> anyhow::Result<Vec<Vec<usize>>> {
    seeds
        .iter()
        .map(|&seed| {
            let (node, files) = node_files(ctx, &evaluate_role(seed, at))?;
            let stored = StoredSet::read(node, files, set)?;
            let surface = StoredSet::surface_rows(node, files, set, stored.gold.len())?
                .ok_or_else(|| anyhow::anyhow!("`{node}` recorded no surface rows for `{set}`"))?;
            Ok(surface.iter().map(|&r| stored.predicted[r]).collect())
        })
        .collect()
}

/// One checkpoint's file from a node input, parsed.
/// Each kept step's barriers from every model to its own final weights.
fn own_barriers(
    ctx: &StageContext,
    p: &DynamicsParams,
    kind: usize,
    finals: &[usize],
) -> anyhow::Result<Vec<OwnStep>> {
    let own = &p.own;
    let ends = p
        .seeds
        .iter()
        .map(|&s| endpoint(ctx, &evaluate_role(s, "final"), &own.set))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    let kept = p.steps.iter().filter(|a| **a != Checkpoint::Final);
    for at in kept.map(ToString::to_string) {
        let at = at.as_str();
        let mut values = Vec::new();
        for (seed, end) in p.seeds.iter().zip(&ends) {
            let start = endpoint(ctx, &evaluate_role(*seed, at), &own.set)?;
            let path = path_between(
                ctx,
                &roles::own(*seed, at),
                &own.alphas,
                &own.set,
                (&start, end),
            )?;
            let all: Vec<usize> = (0..path.examples()).collect();
            values.push(path.barriers_over(&all)[kind]);
        }
        out.push(own_step(at, values, finals));
    }
    Ok(out)
}

/// Each checkpoint's predictions: by its clustering and by nearest references.
fn predictions(
    ctx: &StageContext,
    p: &DynamicsParams,
    d: &Dynamics,
    finals: &[usize],
) -> anyhow::Result<Vec<Prediction>> {
    let n = p.seeds.len() as u64;
    let k = finals.iter().max().map_or(0, |m| m + 1) as u64;
    let first = p
        .seeds
        .first()
        .ok_or_else(|| anyhow::anyhow!("no models"))?;
    let rows = endpoint(ctx, &evaluate_role(*first, "final"), &p.own.set)?.rows() as u64;
    let path = interior(&p.own.alphas).len() as u64 * rows;
    let largest = (0..k as usize)
        .map(|c| finals.iter().filter(|&&f| f == c).count())
        .max()
        .unwrap_or(0);
    let majority = Cost {
        accuracy: largest as f64 / n.max(1) as f64,
        forward_passes: 0,
    };
    let set = p
        .scored
        .iter()
        .find(|s| s.name() == p.own.set)
        .ok_or_else(|| anyhow::anyhow!("the clustering's set `{}` is not scored", p.own.set))?;
    // Nearest references by a distance matrix over the models, per number of references.
    let nearest = |m: &Square, cost: u64| -> Vec<CentroidPrediction> {
        p.predict
            .references
            .iter()
            .filter_map(|&r| {
                centroid_accuracy(m, finals, r, p.predict.draws, 0).map(|accuracy| {
                    CentroidPrediction {
                        references: r,
                        accuracy,
                        draws: p.predict.draws,
                        forward_passes: cost,
                    }
                })
            })
            .collect()
    };
    p.steps
        .iter()
        .map(ToString::to_string)
        .zip(&d.steps)
        .map(|(at, step)| {
            let doc: BarriersDoc = node_doc(ctx, &roles::barriers_at(&at), "barriers.json")?;
            let b = doc
                .matrices(&p.own.set, p.own.barrier)?
                .square()
                .map_err(|e| anyhow::anyhow!("the barriers at {at} on `{}`: {e}", p.own.set))?;
            let centroid = p
                .predict
                .references
                .iter()
                .filter_map(|&r| {
                    centroid_accuracy(&b, finals, r, p.predict.draws, 0).map(|accuracy| {
                        CentroidPrediction {
                            references: r,
                            accuracy,
                            draws: p.predict.draws,
                            forward_passes: r as u64 * k * path + rows,
                        }
                    })
                })
                .collect();
            // All n (n - 1) / 2 paths and n endpoints, shared by the n runs.
            let clustering = (n * (n - 1) / 2 * path + n * rows).div_ceil(n.max(1));
            let (score, score_rows) = step_scores(ctx, &p.seeds, set, &at)?;
            let by_score: Square = score
                .iter()
                .map(|a| score.iter().map(|b| (a - b).abs()).collect())
                .collect();
            let predicted = step_predictions(ctx, &p.seeds, &p.own.set, &at)?;
            Ok(Prediction {
                at: at.clone(),
                clustering: Cost {
                    accuracy: step.accuracy,
                    forward_passes: clustering,
                },
                centroid,
                majority: majority.clone(),
                // A score that is not a number predicts nothing (never basin 0 by default).
                score: if score.iter().all(|s| s.is_finite()) {
                    nearest(&by_score, score_rows)
                } else {
                    ctx.log(format!(
                        "{at}: a score on `{}` is not a number: no score predictor",
                        set.name()
                    ));
                    Vec::new()
                },
                outputs: nearest(&disagreement(&predicted), rows),
            })
        })
        .collect()
}

/// Each scored set's correlation with every checkpoint's spectral coordinate (turned to the
/// final labels), at that checkpoint's score and at the final one.
fn correlations(
    ctx: &StageContext,
    p: &DynamicsParams,
    d: &Dynamics,
    clusterings: &[Clustering],
    coordinates: &[Vec<f64>],
) -> anyhow::Result<Vec<StepCorrelations>> {
    let finals: BTreeMap<&str, Vec<f64>> = p
        .scored
        .iter()
        .map(|s| Ok((s.name(), scores(ctx, &p.seeds, s, "final")?)))
        .collect::<anyhow::Result<_>>()?;
    let mut out = Vec::new();
    for ((c, step), coordinate) in clusterings.iter().zip(&d.steps).zip(coordinates) {
        let oriented = orient(coordinate, &c.assignments, &step.aligned);
        let mut sets = Vec::new();
        for s in &p.scored {
            let here = match (c.at.as_str(), s.at_steps) {
                ("final", _) => Some(finals[s.name()].clone()),
                (at, true) => Some(scores(ctx, &p.seeds, s, at)?),
                (_, false) => None,
            };
            sets.push(Correlation {
                set: s.name().to_owned(),
                at_step: correlate(&oriented, here.as_deref()),
                final_score: correlate(&oriented, Some(&finals[s.name()])),
            });
        }
        out.push(StepCorrelations {
            at: c.at.clone(),
            coordinate: oriented,
            sets,
        });
    }
    Ok(out)
}

impl StageKind for DynamicsKind {
    fn name(&self) -> &'static str {
        "dynamics"
    }
    fn version(&self) -> u32 {
        // 2: the barrier from each kept step to the model's own final weights (`own_final`).
        // 3: predictions by nearest reference runs with their forward passes (`prediction`),
        // each set's correlation with the spectral coordinate per checkpoint (`correlations`).
        // 4: baselines beside them (`majority`, nearest references by `score` and by output
        // disagreement, `outputs`); held-out scores honoured.
        4
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: DynamicsParams = params(ctx)?;
        let mut coordinates = Vec::new();
        let clusterings = p
            .steps
            .iter()
            .map(|at| {
                let c: ClusterDoc = node_doc(ctx, &roles::cluster_at(at), "cluster.json")?;
                anyhow::ensure!(
                    c.coordinate.iter().all(|x| x.is_finite()),
                    "cluster.json at {at}: a coordinate is not a number"
                );
                coordinates.push(c.coordinate);
                Ok(Clustering {
                    at: at.to_string(),
                    assignments: c.assignments,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let d = dynamics(&clusterings, &p.seeds)?;
        let finals: Vec<usize> = d.models.iter().map(|m| m.final_basin).collect();
        let kind = p.own.barrier.index();
        let own = OwnFinal {
            barrier: p.own.barrier,
            set: p.own.set.clone(),
            steps: own_barriers(ctx, &p, kind, &finals)?,
        };
        let prediction = predictions(ctx, &p, &d, &finals)?;
        let centroid_from: BTreeMap<String, Option<String>> = p
            .predict
            .references
            .iter()
            .map(|&r| {
                let acc: Vec<f64> = prediction
                    .iter()
                    .map(|s| {
                        s.centroid
                            .iter()
                            .find(|c| c.references == r)
                            .map_or(0.0, |c| c.accuracy)
                    })
                    .collect();
                (
                    r.to_string(),
                    predicted_from(&acc).map(|i| p.steps[i].to_string()),
                )
            })
            .collect();
        let correlations = correlations(ctx, &p, &d, &clusterings, &coordinates)?;
        for (s, pr) in d.steps.iter().zip(&prediction) {
            let centroid: Vec<String> = pr
                .centroid
                .iter()
                .map(|c| format!("{:.0}% from {} a basin", 100.0 * c.accuracy, c.references))
                .collect();
            ctx.log(format!(
                "{}: k = {}, ARI {:.3} against the final basins, {:.0}% already in theirs; \
                 nearest references: {}",
                s.at,
                s.k,
                s.ari,
                100.0 * s.accuracy,
                if centroid.is_empty() {
                    "none".into()
                } else {
                    centroid.join(", ")
                }
            ));
        }
        let record = json!({
            "ari": d.steps.iter().map(|s| s.ari).collect::<Vec<_>>(),
            "accuracy": d.steps.iter().map(|s| s.accuracy).collect::<Vec<_>>(),
            "predicted_from": d.predicted_from,
            "predicted_from_centroid": centroid_from,
            "own_final_mean": own.steps.iter().map(|s| s.mean).collect::<Vec<_>>(),
        });
        let doc = DynamicsDoc {
            correlations,
            dynamics: d,
            own_final: own,
            predicted_from_centroid: centroid_from,
            prediction,
            seeds: p.seeds.clone(),
        };
        std::fs::write(ctx.out_dir.join("dynamics.json"), to_bytes(&doc)?)?;
        Ok(record)
    }
}
