//! `diagnostics`: every model's metrics per diagnostic group on every eval set, from the
//! evaluate nodes' stored per-example outputs, and their spread across models.

use std::collections::BTreeMap;

use basins_engine::{StageContext, StageInput, StageKind};
use serde::Deserialize;

use super::params;
use serde_json::{json, Value};

use basins_engine::manifest::Strategy;

use crate::data::DataFormat;
use crate::diagnostics::{analyse, spread, ScoreSpec, SetDiagnostics};
use crate::outputs::StoredSet;

pub struct DiagnosticsKind;

#[derive(Deserialize)]
struct SetParams {
    name: String,
    format: DataFormat,
    /// A diagnostic set; false for the task's own (in-distribution) splits.
    diagnostic: bool,
    #[serde(default)]
    score: Option<ScoreSpec>,
    /// Each model's strategy by its primary score, where declared.
    #[serde(default)]
    strategy: Option<Strategy>,
}

#[derive(Deserialize)]
struct DiagnosticsParams {
    eval_sets: Vec<SetParams>,
    seeds: Vec<u64>,
}

impl StageKind for DiagnosticsKind {
    fn name(&self) -> &'static str {
        "diagnostics"
    }
    fn version(&self) -> u32 {
        // 3: declared scores (`metric`, `metric_where`), PAWS scored by F1, rows per score.
        // 4: diagnostics.csv written by the csv crate (a carriage return in a group value is
        // quoted now).
        4
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: DiagnosticsParams = params(ctx)?;
        let mut report = serde_json::Map::new();
        let mut metrics = serde_json::Map::new();
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record([
            "set", "seed", "group", "value", "examples", "accuracy", "loss", "mcc", "f1",
        ])?;
        for set in &p.eval_sets {
            let mut per_model: BTreeMap<u64, SetDiagnostics> = BTreeMap::new();
            let (mut rows, mut surface_rows) = (0usize, None);
            for &seed in &p.seeds {
                let role = format!("endpoint:{seed}");
                let StageInput::Node { node, files, .. } = ctx.input(&role)? else {
                    anyhow::bail!("input `{role}` is not an evaluate node");
                };
                let stored = StoredSet::read(node, files, &set.name)?;
                rows = stored.gold.len();
                surface_rows = surface_count(files, &set.name)?.or(surface_rows);
                let d = analyse(&stored, set.format, set.score.as_ref());
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
            let primary: Vec<f64> = per_model.values().map(|d| d.primary.value).collect();
            let name = per_model
                .values()
                .next()
                .map(|d| d.primary.name.clone())
                .unwrap_or_default();
            ctx.log(format!("{}: {name}: {}", set.name, spread(&primary)));
            let mut m = json!({"primary": name, "rows": rows, "surface_rows": surface_rows, "spread": spread(&primary)});
            let mut doc = json!({
                "primary": name,
                "diagnostic": set.diagnostic,
                "rows": rows,
                "score_rows": score_rows,
                "surface_rows": surface_rows,
                "summary": {"primary": spread(&primary), "groups": group_spread(&per_model)},
                "per_model": per_model,
            });
            if let Some(s) = &set.strategy {
                let labels = strategies(s, &per_model);
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for l in labels.values() {
                    *counts.entry(l.as_str()).or_default() += 1;
                }
                ctx.log(format!("{}: strategies {counts:?}", set.name));
                m["strategies"] = json!(counts);
                doc["strategy"] = json!({"rule": s, "labels": labels, "counts": counts});
            }
            metrics.insert(set.name.clone(), m);
            report.insert(set.name.clone(), doc);
        }
        std::fs::write(
            ctx.out_dir.join("diagnostics.json"),
            serde_json::to_vec_pretty(&json!({ "sets": report }))?,
        )?;
        std::fs::write(ctx.out_dir.join("diagnostics.csv"), csv.into_inner()?)?;
        Ok(json!({ "sets": metrics }))
    }
}

/// Each model's strategy (seed -> name) by its primary score.
fn strategies(s: &Strategy, per_model: &BTreeMap<u64, SetDiagnostics>) -> BTreeMap<String, String> {
    per_model
        .iter()
        .map(|(seed, d)| (seed.to_string(), s.label(d.primary.value).to_owned()))
        .collect()
}

/// How many rows the set's loss surface holds, from an evaluate node's `surface.json`.
fn surface_count(
    files: &BTreeMap<String, std::path::PathBuf>,
    set: &str,
) -> anyhow::Result<Option<usize>> {
    let Some(path) = files.get(&format!("eval/{set}.surface.json")) else {
        return Ok(None);
    };
    let doc: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    Ok(doc["rows"].as_array().map(Vec::len))
}

/// Accuracy per group cell: its spread across models.
fn group_spread(per_model: &BTreeMap<u64, SetDiagnostics>) -> Value {
    let mut acc: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for d in per_model.values() {
        for (g, cells) in &d.groups {
            for (v, m) in cells {
                if let Some(a) = m["accuracy"].as_f64() {
                    acc.entry((g.clone(), v.clone())).or_default().push(a);
                }
            }
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for ((g, v), values) in acc {
        out.entry(g).or_default().insert(v, spread(&values));
    }
    json!(out)
}

fn csv_rows(
    csv: &mut csv::Writer<Vec<u8>>,
    set: &str,
    seed: u64,
    d: &SetDiagnostics,
) -> anyhow::Result<()> {
    let mut row = |group: &str, value: &str, m: &Value| {
        let f = |k: &str| m[k].as_f64().map_or(String::new(), |x| format!("{x:.6}"));
        csv.write_record([
            set.to_owned(),
            seed.to_string(),
            group.to_owned(),
            value.to_owned(),
            m["examples"].to_string(),
            f("accuracy"),
            f("loss"),
            f("mcc"),
            f("f1"),
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
