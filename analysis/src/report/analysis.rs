//! The numbers under each task's table: per-basin spread of every score, tests between basins
//! with Holm's correction, correlation with the spectral coordinate, and agreement with
//! declared strategies.

use serde_json::{json, Value};

use super::TaskInputs;
use crate::diagnostics::spread;
use crate::stats::{holm, mann_whitney, pearson, permutation, spearman};

/// Relabellings the permutation test enumerates exactly (or draws at random past that).
const PERMUTATIONS: usize = 100_000;

/// Per-cluster statistics of every eval set's primary score, and Pearson r of each score
/// against the spectral coordinate. For the task's own (in-distribution) splits also a row for
/// plain accuracy when the primary score is something else (CoLA's MCC): the paper's question is
/// whether basins say more about a model than its in-distribution accuracy does, so the page
/// shows both correlations side by side. Rows are keyed by set name (`<set> accuracy` for the
/// extra rows) and carry `set`, `primary` (the score's name) and `in_distribution`.
pub fn cluster_tests(t: &TaskInputs) -> Value {
    let mut rows = serde_json::Map::new();
    let Some(diag) = t.diagnostics else {
        return json!({});
    };
    let seeds = t.seeds();
    for (name, set) in diag["sets"].as_object().into_iter().flatten() {
        let per_model = |pick: &dyn Fn(&Value) -> Option<f64>| -> Vec<f64> {
            seeds
                .iter()
                .map(|s| pick(&set["per_model"][s.to_string()]).unwrap_or(f64::NAN))
                .collect()
        };
        let primary = set["primary"].as_str().unwrap_or("");
        let in_distribution = set["diagnostic"] == json!(false);
        let score = per_model(&|m| m["primary"]["value"].as_f64());
        let counts = json!({"rows": set["rows"], "score_rows": set["score_rows"], "surface_rows": set["surface_rows"], "shared": set["score_surface_overlap"]});
        let mut row = score_row(t, name, primary, in_distribution, score);
        row["counts"] = counts.clone();
        rows.insert(name.clone(), row);
        if in_distribution && primary != "accuracy" {
            let acc = per_model(&|m| m["overall"]["accuracy"].as_f64());
            let mut row = score_row(t, name, "accuracy", true, acc);
            row["counts"] = json!({"rows": set["rows"], "score_rows": set["rows"], "surface_rows": set["surface_rows"], "shared": set["surface_rows"]});
            rows.insert(format!("{name} accuracy"), row);
        }
    }
    holm_correct(&mut rows);
    Value::Object(rows)
}

/// Ground truth, where a diagnostic set declares each model's strategy (`strategy` in the
/// manifest): per such set, the strategies in model order, the contingency table of basins
/// against strategies, and their adjusted Rand index (1: the basins are the strategies; about
/// 0: no more agreement than chance).
pub fn strategy_agreement(t: &TaskInputs) -> Value {
    let Some(diag) = t.diagnostics else {
        return json!({});
    };
    let (seeds, assign) = (t.seeds(), t.assignments());
    let k = assign.iter().max().map_or(0, |m| m + 1);
    let mut out = serde_json::Map::new();
    for (name, set) in diag["sets"].as_object().into_iter().flatten() {
        let Some(rule) = set.get("strategy") else {
            continue;
        };
        // Every name a strategy can take, in column order (with `kinds`: also "always <label>"
        // and "mixed").
        let names: Vec<String> = serde_json::from_value(rule["names"].clone()).unwrap_or_default();
        let labels: Vec<Option<usize>> = seeds
            .iter()
            .map(|s| {
                let l = rule["labels"][s.to_string()].as_str()?;
                names.iter().position(|n| n == l)
            })
            .collect();
        // Every model has a strategy, or the comparison is not made (and says why).
        let Some(labels) = labels.into_iter().collect::<Option<Vec<usize>>>() else {
            out.insert(
                name.clone(),
                json!({"error": "a model has no strategy label"}),
            );
            continue;
        };
        let mut table = vec![vec![0usize; names.len()]; k];
        for (&c, &l) in assign.iter().zip(&labels) {
            table[c][l] += 1;
        }
        // With one strategy (or one basin) there is nothing to agree on: the index's 0 would
        // read as "the basins ignore the strategies", so it is left out and the page says why.
        let distinct = |v: &[usize]| v.iter().collect::<std::collections::BTreeSet<_>>().len();
        let note = match (distinct(&labels), distinct(&assign)) {
            (1, _) => Some(format!(
                "every model follows one strategy ({})",
                names[labels[0]]
            )),
            (_, 1) => Some("every model is in one basin".to_owned()),
            _ => None,
        };
        let ari = crate::cluster::adjusted_rand(&assign, &labels);
        out.insert(
            name.clone(),
            json!({
                "strategies": names,
                "threshold": rule["rule"]["threshold"],
                "kinds": rule["rule"]["kinds"],
                "labels": labels.iter().map(|&l| &names[l]).collect::<Vec<_>>(),
                "contingency": table,
                "ari": if ari.is_finite() && note.is_none() { json!(ari) } else { Value::Null },
                "ari_note": note,
            }),
        );
    }
    Value::Object(out)
}

/// Holm's correction over every comparison in the task's table, separately for the
/// Mann-Whitney and the permutation p-values (`p_holm` beside each `p`).
fn holm_correct(rows: &mut serde_json::Map<String, Value>) {
    for (test, field) in [("mann_whitney", "p"), ("permutation", "p")] {
        let mut at: Vec<(String, usize)> = Vec::new();
        let mut ps: Vec<f64> = Vec::new();
        for (name, row) in rows.iter() {
            for (c, cmp) in row["comparisons"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(p) = cmp[test][field].as_f64() {
                    at.push((name.clone(), c));
                    ps.push(p);
                }
            }
        }
        for ((name, c), adj) in at.into_iter().zip(holm(&ps)) {
            rows[&name]["comparisons"][c][test]["p_holm"] = json!(adj);
        }
    }
}

/// One score across the models: per-cluster spread, tests between clusters, Pearson r against
/// the spectral coordinate; Holm's correction is applied over the task's table.
fn score_row(
    t: &TaskInputs,
    set: &str,
    primary: &str,
    in_distribution: bool,
    score: Vec<f64>,
) -> Value {
    let (assign, coord) = (t.assignments(), t.coordinate());
    let k = assign.iter().max().map_or(0, |m| m + 1);
    // A model without a finite score is left out of every statistic, and named.
    let names = t.names();
    let kept: Vec<usize> = (0..score.len()).filter(|&i| score[i].is_finite()).collect();
    let excluded: Vec<&String> = (0..score.len())
        .filter(|i| !kept.contains(i))
        .map(|i| &names[i])
        .collect();
    let members = |c: usize, inside: bool| -> Vec<f64> {
        kept.iter()
            .filter(|&&i| (assign[i] == c) == inside)
            .map(|&i| score[i])
            .collect()
    };
    let per_cluster: Vec<Value> = (0..k).map(|c| spread(&members(c, true))).collect();
    // Two clusters: one against the other; more: each against the rest.
    let comparisons: Vec<Value> = (0..k)
        .filter(|&c| k > 2 || c == 0)
        .filter(|_| k >= 2)
        .map(|c| {
            let (inside, outside) = (members(c, true), members(c, false));
            json!({
                "cluster": c,
                "against": if k == 2 { "cluster 1".to_string() } else { "the rest".to_string() },
                "mann_whitney": mann_whitney(&inside, &outside),
                "permutation": {"p": permutation(&inside, &outside, PERMUTATIONS, 0)},
            })
        })
        .collect();
    let (cx, sy): (Vec<f64>, Vec<f64>) = kept
        .iter()
        .filter(|&&i| i < coord.len())
        .map(|&i| (coord[i], score[i]))
        .unzip();
    json!({
        "set": set,
        "primary": primary,
        "in_distribution": in_distribution,
        "scores": score.iter().map(|v| if v.is_finite() { json!(v) } else { Value::Null }).collect::<Vec<_>>(),
        "excluded": excluded,
        "per_cluster": per_cluster,
        "comparisons": comparisons,
        "pearson_vs_coordinate": pearson(&cx, &sy),
        // Scores bunch at 0 and 1 on a conflict set: the rank correlation moves less with them.
        "spearman_vs_coordinate": spearman(&cx, &sy),
    })
}
