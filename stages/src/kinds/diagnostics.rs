//! `diagnostics`: every model's metrics per diagnostic group on every eval set, from the
//! evaluate nodes' stored per-example outputs, and their spread across models.

use std::collections::BTreeMap;

use basins_engine::{StageContext, StageInput, StageKind};
use basins_study::params::DiagnosticsParams;
use basins_study::roles;

use super::params;
use serde_json::{json, Value};

use basins_study::manifest::Strategy;

use crate::diagnostics::{
    analyse, behaviour_label, behaviour_names, kind_scores, spread, KindScore, SetDiagnostics,
    Spread, Subset, THRESHOLDS,
};
use crate::documents::{
    to_bytes, DiagnosedSet, DiagnosticsDoc, StrategyLabels, Summary, ThresholdLabels,
};
use crate::outputs::StoredSet;

pub struct DiagnosticsKind;

impl StageKind for DiagnosticsKind {
    fn name(&self) -> &'static str {
        "diagnostics"
    }
    fn version(&self) -> u32 {
        // 3: declared scores (`metric`, `metric_where`), PAWS scored by F1, rows per score.
        // 4: diagnostics.csv written by the csv crate (a carriage return in a group value is
        // quoted now).
        // 5: held-out scores (`metric_held_out`); each score counts the rows it shares with
        // the loss surface (`score_surface_overlap`, `primary.surface_overlap`); strategies
        // from behaviour on each kind of conflict (`strategy.kinds`), every name a strategy can
        // take (`names`), and the labels at thresholds 0.3 to 0.7 (`thresholds`).
        5
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: DiagnosticsParams = params(ctx)?;
        let mut report = BTreeMap::new();
        let mut metrics = serde_json::Map::new();
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record([
            "set", "seed", "group", "value", "examples", "accuracy", "loss", "mcc", "f1",
        ])?;
        for scored in &p.eval_sets {
            let set = &scored.set;
            let mut per_model: BTreeMap<u64, SetDiagnostics> = BTreeMap::new();
            // With a strategy's `kinds`: each model's accuracy on each kind of conflict.
            let mut kinds: BTreeMap<u64, Vec<KindScore>> = BTreeMap::new();
            let mut label_set: Vec<String> = Vec::new();
            let (mut rows, mut surface_rows) = (0usize, None);
            for &seed in &p.seeds {
                let role = roles::endpoint(seed);
                let StageInput::Node { node, files, .. } = ctx.input(&role)? else {
                    anyhow::bail!("input `{role}` is not an evaluate node");
                };
                let stored = StoredSet::read(node, files, &set.name)?;
                rows = stored.gold.len();
                let surface = StoredSet::surface_rows(node, files, &set.name, rows)?;
                surface_rows = surface.as_ref().map(Vec::len).or(surface_rows);
                let d = analyse(
                    &stored,
                    set.data.format,
                    scored.score.as_ref(),
                    surface.as_deref(),
                );
                if let Some(column) = scored.strategy.as_ref().and_then(|s| s.kinds.as_ref()) {
                    let held_out = scored.score.as_ref().is_some_and(|s| s.held_out);
                    let exclude = surface.as_deref().filter(|_| held_out);
                    let k = kind_scores(&stored, column, exclude);
                    anyhow::ensure!(
                        !k.is_empty(),
                        "the strategy of `{}` takes its kinds from the group `{column}`, which \
                         no row of the set has (its groups: {:?})",
                        set.name,
                        stored.groups.keys().collect::<Vec<_>>()
                    );
                    kinds.insert(seed, k);
                }
                label_set = stored.labels.clone();
                // A score that is not a number never reaches a statistic unflagged.
                anyhow::ensure!(
                    d.primary.value.is_finite(),
                    "the score of model {seed} on `{}` ({}) is {} over {} of its {rows} rows; \
                     check the set's `metric_where`",
                    set.name,
                    d.primary.name,
                    d.primary.value,
                    d.primary.examples
                );
                csv_rows(&mut csv, &set.name, seed, &d)?;
                per_model.insert(seed, d);
            }
            let score_rows = per_model.values().next().map_or(0, |d| d.primary.examples);
            // Rows the score shares with the loss surface (the same for every model).
            let score_surface_overlap = per_model
                .values()
                .next()
                .and_then(|d| d.primary.surface_overlap);
            let primary: Vec<f64> = per_model.values().map(|d| d.primary.value).collect();
            let name = per_model
                .values()
                .next()
                .map(|d| d.primary.name.clone())
                .unwrap_or_default();
            ctx.log(format!("{}: {name}: {}", set.name, spread(&primary)));
            let mut m = json!({"primary": name, "rows": rows, "surface_rows": surface_rows, "spread": spread(&primary)});
            let strategy = match &scored.strategy {
                Some(s) => {
                    let names = match s.kinds {
                        Some(_) => behaviour_names(s, &label_set),
                        None => vec![s.above.clone(), s.below.clone()],
                    };
                    let labels = strategies(s, &per_model, &kinds, s.threshold);
                    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                    for l in labels.values() {
                        *counts.entry(l.clone()).or_default() += 1;
                    }
                    ctx.log(format!("{}: strategies {counts:?}", set.name));
                    m["strategies"] = json!(counts);
                    // The labels again at other thresholds: how much the agreement rests on one.
                    let thresholds = THRESHOLDS
                        .iter()
                        .map(|&t| ThresholdLabels {
                            labels: strategies(s, &per_model, &kinds, t),
                            threshold: t,
                        })
                        .collect();
                    Some(StrategyLabels {
                        counts,
                        kinds,
                        labels,
                        names,
                        rule: s.clone(),
                        thresholds,
                    })
                }
                None => None,
            };
            let doc = DiagnosedSet {
                diagnostic: set.diagnostic(),
                summary: Summary {
                    groups: group_spread(&per_model),
                    primary: spread(&primary),
                },
                per_model,
                primary: name,
                rows,
                score_rows,
                score_surface_overlap,
                strategy,
                surface_rows,
            };
            metrics.insert(set.name.clone(), m);
            report.insert(set.name.clone(), doc);
        }
        std::fs::write(
            ctx.out_dir.join("diagnostics.json"),
            to_bytes(&DiagnosticsDoc { sets: report })?,
        )?;
        std::fs::write(ctx.out_dir.join("diagnostics.csv"), csv.into_inner()?)?;
        Ok(json!({ "sets": metrics }))
    }
}

/// Each model's strategy (seed -> name) at threshold `t`: by its accuracy on each kind of
/// conflict where the strategy names `kinds`, else by its primary score.
fn strategies(
    s: &Strategy,
    per_model: &BTreeMap<u64, SetDiagnostics>,
    kinds: &BTreeMap<u64, Vec<KindScore>>,
    t: f64,
) -> BTreeMap<u64, String> {
    per_model
        .iter()
        .map(|(seed, d)| {
            let label = match kinds.get(seed) {
                Some(k) => behaviour_label(s, k, t),
                None if d.primary.value >= t => s.above.clone(),
                None => s.below.clone(),
            };
            (*seed, label)
        })
        .collect()
}

/// Accuracy per group cell: its spread across models (a cell's accuracy that is not a
/// number is left out of it, as the untyped document's `null` was).
fn group_spread(
    per_model: &BTreeMap<u64, SetDiagnostics>,
) -> BTreeMap<String, BTreeMap<String, Spread>> {
    let mut acc: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for d in per_model.values() {
        for (g, cells) in &d.groups {
            for (v, m) in cells {
                if m.accuracy.is_finite() {
                    acc.entry((g.clone(), v.clone()))
                        .or_default()
                        .push(m.accuracy);
                }
            }
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, Spread>> = BTreeMap::new();
    for ((g, v), values) in acc {
        out.entry(g).or_default().insert(v, spread(&values));
    }
    out
}

fn csv_rows(
    csv: &mut csv::Writer<Vec<u8>>,
    set: &str,
    seed: u64,
    d: &SetDiagnostics,
) -> anyhow::Result<()> {
    let mut row = |group: &str, value: &str, m: &Subset| {
        // A metric that is not a number (or F1 without two labels) is an empty field.
        let f = |x: f64| {
            if x.is_finite() {
                format!("{x:.6}")
            } else {
                String::new()
            }
        };
        csv.write_record([
            set.to_owned(),
            seed.to_string(),
            group.to_owned(),
            value.to_owned(),
            m.examples.to_string(),
            f(m.accuracy),
            f(m.loss),
            f(m.mcc),
            f(m.f1.unwrap_or(f64::NAN)),
        ])
    };
    row("all", "all", &d.overall)?;
    for (g, cells) in &d.groups {
        for (v, m) in cells {
            row(g, v, m)?;
        }
    }
    Ok(())
}
