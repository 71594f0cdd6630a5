//! `controls`: is the barrier partition more than the models' outputs, and does it survive
//! other analysis choices? From the stored outputs of one task's final models: the evaluate
//! nodes' predictions and distributions on the clustering set's loss-surface rows, the barriers
//! node's matrices and mean curves, the cluster node's partition and the diagnostics node's
//! scores and strategies (the analysis is [`crate::controls`]).

use std::collections::BTreeMap;

use basins_engine::{StageContext, StageKind};
use basins_study::manifest::{BarrierKind, ClusterMethod};
use basins_study::params::{Clustering as ClusterSettings, ControlsParams};
use basins_study::roles;
use serde_json::{json, Value};

use super::{node_doc, node_files, params};
use crate::cluster::Square;
use crate::controls::{
    analyse, max_minus_larger_endpoint, Clustering, Inputs, Method, Width, SOURCES,
};
use crate::documents::{BarriersDoc, ClusterDoc, DiagnosticsDoc};
use crate::outputs::StoredSet;

pub struct ControlsKind;

/// The name of the "largest loss minus the larger endpoint" definition in the robustness table.
pub const MAX_MINUS_ENDPOINT: &str = "max_minus_endpoint";

/// The node's `[cluster]` settings as the controls' analysis takes them.
fn clustering(c: &ClusterSettings) -> anyhow::Result<Clustering> {
    let delta = match c.delta.fixed().map_err(anyhow::Error::msg)? {
        Some(d) => Width::Fixed(d),
        None => Width::TimesMedian(1.0),
    };
    Ok(Clustering {
        method: match c.method {
            ClusterMethod::Spectral => Method::Spectral,
            ClusterMethod::Hierarchical => Method::Hierarchical,
        },
        k: c.k.fixed(),
        delta,
    })
}

impl StageKind for ControlsKind {
    fn name(&self) -> &'static str {
        "controls"
    }
    fn version(&self) -> u32 {
        1
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: ControlsParams = params(ctx)?;
        let barrier = p.clustering.barrier.name().to_owned();
        let barriers_doc: BarriersDoc = node_doc(ctx, "barriers", "barriers.json")?;
        let cluster: ClusterDoc = node_doc(ctx, "cluster", "cluster.json")?;
        let diagnostics: DiagnosticsDoc = node_doc(ctx, "diagnostics", "diagnostics.json")?;
        let reported = cluster.assignments;
        anyhow::ensure!(
            cluster.seeds == p.seeds,
            "cluster.json's models differ from the study's"
        );
        let barriers = matrices(&barriers_doc, &p.set, &p.seeds)?;
        let (mut predicted, mut probs, mut rows) = (Vec::new(), Vec::new(), None);
        for &seed in &p.seeds {
            let (node, files) = node_files(ctx, &roles::endpoint(seed))?;
            let s = StoredSet::read(node, files, &p.set)?;
            let surface =
                StoredSet::surface_rows(node, files, &p.set, s.gold.len())?.ok_or_else(|| {
                    anyhow::anyhow!("`{node}` recorded no loss-surface rows for `{}`", p.set)
                })?;
            anyhow::ensure!(
                rows.as_ref().is_none_or(|r| *r == surface),
                "`{node}` has other loss-surface rows on `{}` than the other models",
                p.set
            );
            predicted.push(surface.iter().map(|&r| s.predicted[r]).collect());
            probs.push(surface.iter().map(|&r| s.probs[r].clone()).collect());
            rows = Some(surface);
        }
        let Known {
            strategies,
            names,
            thresholds,
            scores,
        } = known(&diagnostics, &p.seeds)?;
        let inputs = Inputs {
            set: p.set.clone(),
            rows: rows.map_or(0, |r| r.len()),
            barrier,
            barriers,
            reported,
            clustering: clustering(&p.clustering)?,
            predicted,
            probs,
            strategies,
            strategy_names: names,
            thresholds,
            scores,
            permutations: p.permutations,
            bootstrap: p.bootstrap,
            seed: 0,
        };
        ctx.log(format!(
            "controls on `{}`: {} models, {} rows, {} bootstrap resamples",
            p.set,
            p.seeds.len(),
            inputs.rows,
            p.bootstrap
        ));
        let c = analyse(&inputs)?;
        std::fs::write(
            ctx.out_dir.join("controls.json"),
            serde_json::to_vec_pretty(&c)?,
        )?;
        let summary: serde_json::Map<String, Value> = SOURCES
            .iter()
            .filter_map(|s| c.source(s))
            .map(|s| {
                let ari: BTreeMap<&String, Option<f64>> = s
                    .strategies
                    .iter()
                    .map(|(set, f)| (set, f.test.as_ref().map(|t| t.ari)))
                    .collect();
                (
                    s.source.clone(),
                    json!({"k": s.partition.k, "ari_vs_barrier": s.ari_vs_barrier, "ari_vs_strategies": ari}),
                )
            })
            .collect();
        ctx.log(format!("{}", Value::Object(summary.clone())));
        Ok(Value::Object(summary))
    }
}

/// An input node's JSON document.
/// Every barrier definition's matrix on `set`, and the largest mean loss along each path
/// minus its larger endpoint, from the stored mean curves.
fn matrices(
    doc: &BarriersDoc,
    set: &str,
    seeds: &[u64],
) -> anyhow::Result<BTreeMap<String, Square>> {
    let s = doc.set(set)?;
    let mut out = BTreeMap::new();
    for kind in BarrierKind::ALL {
        let m = doc.matrices(set, kind)?.square().map_err(|e| {
            anyhow::anyhow!(
                "the {} barrier matrix on `{set}`: {e}; the controls need every pair",
                kind.name()
            )
        })?;
        out.insert(kind.name().to_owned(), m);
    }
    let n = seeds.len();
    let mut m = vec![vec![0.0; n]; n];
    for (i, a) in seeds.iter().enumerate() {
        for (j, b) in seeds.iter().enumerate().skip(i + 1) {
            let curve = s
                .curves
                .get(&format!("{a}~{b}"))
                .ok_or_else(|| anyhow::anyhow!("no mean loss curve for {a}~{b} on `{set}`"))?;
            let v = max_minus_larger_endpoint(&curve.loss);
            anyhow::ensure!(
                v.is_finite(),
                "the loss curve {a}~{b} on `{set}` is not finite"
            );
            m[i][j] = v;
            m[j][i] = v;
        }
    }
    out.insert(MAX_MINUS_ENDPOINT.to_owned(), m);
    Ok(out)
}

/// What diagnostics.json knows of the models: declared strategies (per set: each model's index
/// into the set's strategy names), the same drawn at other thresholds, and every set's primary
/// score per model.
struct Known {
    strategies: BTreeMap<String, Vec<usize>>,
    names: BTreeMap<String, Vec<String>>,
    thresholds: BTreeMap<String, Vec<(f64, Vec<usize>)>>,
    scores: BTreeMap<String, Vec<f64>>,
}

fn known(doc: &DiagnosticsDoc, seeds: &[u64]) -> anyhow::Result<Known> {
    let (mut strategies, mut scores, mut thresholds, mut all_names) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    for (name, set) in &doc.sets {
        if let Some(s) = seeds.iter().find(|s| !set.per_model.contains_key(s)) {
            anyhow::bail!("diagnostics.json has no diagnostics of model {s} on `{name}`");
        }
        scores.insert(name.clone(), set.primary_scores(seeds));
        let Some(rule) = &set.strategy else {
            continue;
        };
        let none =
            |s: u64| anyhow::anyhow!("diagnostics.json: model {s} of `{name}` has no strategy");
        strategies.insert(name.clone(), rule.indices(seeds).map_err(none)?);
        let drawn: Vec<(f64, Vec<usize>)> = rule
            .thresholds
            .iter()
            .map(|t| Ok((t.threshold, t.indices(&rule.names, seeds).map_err(none)?)))
            .collect::<anyhow::Result<_>>()?;
        thresholds.insert(name.clone(), drawn);
        all_names.insert(name.clone(), rule.names.clone());
    }
    Ok(Known {
        strategies,
        names: all_names,
        thresholds,
        scores,
    })
}
