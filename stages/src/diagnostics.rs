//! Metrics per diagnostic group, from stored per-example outputs of whole sets (no model is
//! run): HANS accuracy by heuristic x gold label and by subcase, CoLA MCC per domain, PAWS
//! accuracy and F1, the generated task's shortcut groups, and one primary score per model and
//! set, the number the paper plots against a model's basin: the manifest's `metric` over its
//! `metric_where` rows, or the paper's default for the format (HANS: accuracy on
//! lexical-overlap non-entailment; PAWS: F1, `--eval_metric f1` in the paper's scripts; CoLA:
//! MCC; otherwise accuracy).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::data::select::matches;
use crate::data::DataFormat;
use crate::eval::metrics;
use crate::outputs::StoredSet;

/// Groups with at most this many values are also crossed with the gold label.
const CROSS_MAX_VALUES: usize = 10;

/// The score that sums a model up on one set, what it is, and how many rows it covers.
#[derive(Debug, Clone, Serialize)]
pub struct Primary {
    pub name: String,
    pub value: f64,
    pub examples: usize,
}

/// A primary score as the manifest declares it (the engine's type: the params' contract).
pub use basins_engine::manifest::Score as ScoreSpec;

#[derive(Debug, Clone, Serialize)]
pub struct SetDiagnostics {
    pub overall: Value,
    /// group -> value -> metrics; crossed groups are named `<group> x label`.
    pub groups: BTreeMap<String, BTreeMap<String, Value>>,
    pub primary: Primary,
}

/// Metrics over a subset of examples (loss, accuracy, MCC, F1 for two labels).
fn subset(set: &StoredSet, idx: &[usize]) -> Value {
    let gold: Vec<usize> = idx.iter().map(|&i| set.gold[i]).collect();
    let pred: Vec<usize> = idx.iter().map(|&i| set.predicted[i]).collect();
    let loss: Vec<f32> = idx.iter().map(|&i| set.loss[i]).collect();
    let mut m = metrics(&set.labels, &gold, &pred, &loss);
    if let Some(o) = m.as_object_mut() {
        o.remove("confusion");
        o.remove("per_label");
    }
    m
}

fn non_entailment(labels: &[String]) -> Option<usize> {
    labels
        .iter()
        .position(|l| l == "non-entailment" || l == "not_entailment")
}

/// Analyse one model's outputs on one set read in `format`, its primary score as `score`
/// declares it or by the format's default.
pub fn analyse(set: &StoredSet, format: DataFormat, score: Option<&ScoreSpec>) -> SetDiagnostics {
    let all: Vec<usize> = (0..set.gold.len()).collect();
    let overall = subset(set, &all);
    let mut groups = BTreeMap::new();
    for g in set.groups.keys() {
        let values = set.by_value(g);
        let cells: BTreeMap<String, Value> = values
            .iter()
            .map(|(v, idx)| (v.to_string(), subset(set, idx)))
            .collect();
        if values.len() <= CROSS_MAX_VALUES {
            let mut crossed = BTreeMap::new();
            for (v, idx) in &values {
                for (l, label) in set.labels.iter().enumerate() {
                    let sub: Vec<usize> =
                        idx.iter().copied().filter(|&i| set.gold[i] == l).collect();
                    if !sub.is_empty() {
                        crossed.insert(format!("{v}/{label}"), subset(set, &sub));
                    }
                }
            }
            groups.insert(format!("{g} x label"), crossed);
        }
        groups.insert(g.clone(), cells);
    }
    let primary = match score {
        Some(spec) => declared(set, spec),
        None => primary(set, format, &overall, &groups),
    };
    SetDiagnostics {
        overall,
        groups,
        primary,
    }
}

/// The declared score: `metric` over the rows passing `where` (NaN, reported as missing
/// downstream, when no row does).
fn declared(set: &StoredSet, spec: &ScoreSpec) -> Primary {
    let idx: Vec<usize> = (0..set.gold.len())
        .filter(|&i| {
            matches(
                &spec.filter,
                |c| set.groups.get(c).map(|col| col[i].as_str()),
                &set.labels[set.gold[i]],
            )
        })
        .collect();
    let m = subset(set, &idx);
    let value = if idx.is_empty() {
        f64::NAN
    } else {
        m[spec.metric.key()].as_f64().unwrap_or(f64::NAN)
    };
    let rows: Vec<String> = spec
        .filter
        .0
        .iter()
        .map(|(k, v)| format!("{k} = {}", v.join("|")))
        .collect();
    let name = if rows.is_empty() {
        spec.metric.key().to_owned()
    } else {
        format!("{} where {}", spec.metric.key(), rows.join(", "))
    };
    Primary {
        name,
        value,
        examples: idx.len(),
    }
}

/// HANS: accuracy on non-entailed lexical-overlap examples (where the heuristic fails; the
/// paper's HANS score). The generated task: accuracy where the overlap shortcut gives the wrong
/// label. CoLA: MCC. Otherwise accuracy.
fn primary(
    set: &StoredSet,
    format: DataFormat,
    overall: &Value,
    groups: &BTreeMap<String, BTreeMap<String, Value>>,
) -> Primary {
    let cell = |group: &str, value: String| {
        groups.get(group).and_then(|g| g.get(&value)).and_then(|m| {
            Some((
                m["accuracy"].as_f64()?,
                m["examples"].as_u64().unwrap_or(0) as usize,
            ))
        })
    };
    if let Some(ne) = non_entailment(&set.labels) {
        let slice = format!("lexical_overlap/{}", set.labels[ne]);
        if let Some((value, examples)) = cell("heuristic x label", slice.clone()) {
            return Primary {
                name: format!("accuracy on {slice}"),
                value,
                examples,
            };
        }
    }
    if let Some((value, examples)) = cell("shortcut", "disagrees".into()) {
        return Primary {
            name: "accuracy where the overlap shortcut is wrong".into(),
            value,
            examples,
        };
    }
    let (name, key) = match format {
        DataFormat::Cola => ("MCC", "mcc"),
        DataFormat::Paws if set.labels.len() == 2 => ("F1", "f1"),
        _ => ("accuracy", "accuracy"),
    };
    Primary {
        name: name.into(),
        value: overall[key].as_f64().unwrap_or(f64::NAN),
        examples: set.gold.len(),
    }
}

/// Mean, standard deviation (n - 1), min and max.
pub fn spread(values: &[f64]) -> Value {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    json!({
        "mean": mean,
        "std": var.sqrt(),
        "min": values.iter().copied().fold(f64::INFINITY, f64::min),
        "max": values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "n": values.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> StoredSet {
        // Four HANS-like examples: the model says entailment everywhere.
        let labels = vec!["entailment".to_string(), "non-entailment".to_string()];
        StoredSet {
            labels,
            loss: vec![0.1, 2.0, 0.2, 3.0],
            gold: vec![0, 1, 0, 1],
            predicted: vec![0, 0, 0, 1],
            groups: [(
                "heuristic".to_string(),
                vec![
                    "lexical_overlap",
                    "lexical_overlap",
                    "subsequence",
                    "subsequence",
                ]
                .into_iter()
                .map(String::from)
                .collect(),
            )]
            .into(),
        }
    }

    #[test]
    fn hans_primary_is_the_non_entailed_overlap_slice() {
        let d = analyse(&set(), DataFormat::Hans, None);
        assert_eq!(d.overall["accuracy"], 0.75);
        assert_eq!(d.primary.value, 0.0);
        assert!(d.primary.name.contains("lexical_overlap/non-entailment"));
        let cross = &d.groups["heuristic x label"];
        assert_eq!(cross["subsequence/non-entailment"]["accuracy"], 1.0);
        assert_eq!(cross["lexical_overlap/entailment"]["examples"], 1);
        assert_eq!(d.groups["heuristic"]["subsequence"]["accuracy"], 1.0);
        let mut s = set();
        s.groups.clear();
        assert_eq!(analyse(&s, DataFormat::Cola, None).primary.name, "MCC");
        assert_eq!(analyse(&s, DataFormat::Paws, None).primary.name, "F1");
        // A declared score: accuracy on the non-entailed rows of any heuristic.
        let spec = ScoreSpec {
            metric: basins_engine::manifest::Metric::Accuracy,
            filter: basins_engine::manifest::Where(
                [("label".to_string(), vec!["non-entailment".to_string()])].into(),
            ),
        };
        let p = analyse(&set(), DataFormat::Hans, Some(&spec)).primary;
        assert_eq!((p.value, p.examples), (0.5, 2));
        assert_eq!(p.name, "accuracy where label = non-entailment");
    }

    #[test]
    fn spread_is_sample_statistics() {
        let s = spread(&[1.0, 2.0, 3.0]);
        assert_eq!(
            (s["mean"].as_f64(), s["std"].as_f64()),
            (Some(2.0), Some(1.0))
        );
        assert_eq!(
            (s["min"].as_f64(), s["max"].as_f64()),
            (Some(1.0), Some(3.0))
        );
    }
}
