//! Metrics per diagnostic group, from stored per-example outputs of whole sets (no model is
//! run): HANS accuracy by heuristic x gold label and by subcase, CoLA MCC per domain, PAWS
//! accuracy and F1, the generated task's shortcut groups, and one primary score per model and
//! set, the number the paper plots against a model's basin: the manifest's `metric` over its
//! `metric_where` rows, or the paper's default for the format (HANS: accuracy on
//! lexical-overlap non-entailment; PAWS: F1, `--eval_metric f1` in the paper's scripts; CoLA:
//! MCC; otherwise accuracy).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use basins_files::data::select::matches;
use basins_files::data::DataFormat;
use basins_files::metrics::metrics;
use basins_files::outputs::StoredSet;

use crate::documents::nan;

/// Groups with at most this many values are also crossed with the gold label.
const CROSS_MAX_VALUES: usize = 10;

/// The score that sums a model up on one set, what it is, and how many rows it covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Primary {
    pub name: String,
    #[serde(deserialize_with = "nan")]
    pub value: f64,
    pub examples: usize,
    /// How many of the score's rows the set's loss surface also holds (None: no surface
    /// recorded). Above 0, a basin found on the surface is scored partly on its own rows.
    pub surface_overlap: Option<usize>,
}

/// A primary score as the manifest declares it (the engine's type: the params' contract).
pub use basins_study::manifest::Score as ScoreSpec;

/// One model's diagnostics on one set (an entry of `diagnostics.json`'s `per_model`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetDiagnostics {
    pub overall: Subset,
    /// group -> value -> metrics; crossed groups are named `<group> x label`.
    pub groups: BTreeMap<String, BTreeMap<String, Subset>>,
    pub primary: Primary,
}

/// Metrics over a subset of a set's rows: the model stages' metrics less their confusion
/// matrix and per-label counts. Fields in alphabetical order (the bytes the untyped document
/// wrote); `f1` only with two labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subset {
    #[serde(deserialize_with = "nan")]
    pub accuracy: f64,
    pub examples: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    #[serde(deserialize_with = "nan")]
    pub loss: f64,
    #[serde(deserialize_with = "nan")]
    pub mcc: f64,
}

impl Subset {
    /// The named metric (`accuracy`, `loss`, `mcc`, `f1`); NaN for F1 without two labels.
    pub fn get(&self, metric: &str) -> f64 {
        match metric {
            "accuracy" => self.accuracy,
            "loss" => self.loss,
            "mcc" => self.mcc,
            "f1" => self.f1.unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    }
}

/// Metrics over a subset of examples (loss, accuracy, MCC, F1 for two labels).
fn subset(set: &StoredSet, idx: &[usize]) -> Subset {
    let gold: Vec<usize> = idx.iter().map(|&i| set.gold[i]).collect();
    let pred: Vec<usize> = idx.iter().map(|&i| set.predicted[i]).collect();
    let loss: Vec<f32> = idx.iter().map(|&i| set.loss[i]).collect();
    let m = metrics(&set.labels, &gold, &pred, &loss);
    let number = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
    Subset {
        accuracy: number("accuracy"),
        examples: idx.len(),
        f1: m.get("f1").map(|_| number("f1")),
        loss: number("loss"),
        mcc: number("mcc"),
    }
}

fn non_entailment(labels: &[String]) -> Option<usize> {
    labels
        .iter()
        .position(|l| l == "non-entailment" || l == "not_entailment")
}

/// Analyse one model's outputs on one set read in `format`, its primary score as `score`
/// declares it or by the format's default. `surface`: the set's loss-surface rows where known
/// (a held-out score leaves them out; every score counts how many of its rows they hold).
pub fn analyse(
    set: &StoredSet,
    format: DataFormat,
    score: Option<&ScoreSpec>,
    surface: Option<&[usize]>,
) -> SetDiagnostics {
    let all: Vec<usize> = (0..set.gold.len()).collect();
    let overall = subset(set, &all);
    let mut groups = BTreeMap::new();
    for g in set.groups.keys() {
        let values = set.by_value(g);
        let cells: BTreeMap<String, Subset> = values
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
        Some(spec) => declared(set, spec, surface),
        None => primary(set, format, surface),
    };
    SetDiagnostics {
        overall,
        groups,
        primary,
    }
}

/// The declared score: `metric` over the rows passing `where`, less the loss-surface rows
/// when `held_out` (NaN, reported as missing downstream, when no row is left).
fn declared(set: &StoredSet, spec: &ScoreSpec, surface: Option<&[usize]>) -> Primary {
    let on_surface = surface_mask(set, surface);
    let idx: Vec<usize> = (0..set.gold.len())
        .filter(|&i| {
            matches(
                &spec.filter,
                |c| set.groups.get(c).map(|col| col[i].as_str()),
                &set.labels[set.gold[i]],
            )
        })
        .filter(|&i| !(spec.held_out && on_surface.as_ref().is_some_and(|m| m[i])))
        .collect();
    let m = subset(set, &idx);
    let value = if idx.is_empty() {
        f64::NAN
    } else {
        m.get(spec.metric.key())
    };
    let rows: Vec<String> = spec
        .filter
        .0
        .iter()
        .map(|(k, v)| format!("{k} = {}", v.join("|")))
        .collect();
    let mut name = if rows.is_empty() {
        spec.metric.key().to_owned()
    } else {
        format!("{} where {}", spec.metric.key(), rows.join(", "))
    };
    if spec.held_out {
        name.push_str(" (held out from the loss surface)");
    }
    Primary {
        name,
        value,
        examples: idx.len(),
        surface_overlap: overlap(&idx, on_surface.as_deref()),
    }
}

/// Which rows the loss surface holds, as a mask over the set (None when not known).
fn surface_mask(set: &StoredSet, surface: Option<&[usize]>) -> Option<Vec<bool>> {
    surface.map(|rows| {
        let n = set.gold.len();
        let mut m = vec![false; n];
        rows.iter().filter(|&&r| r < n).for_each(|&r| m[r] = true);
        m
    })
}

/// How many of the score's rows are also loss-surface rows.
fn overlap(idx: &[usize], on_surface: Option<&[bool]>) -> Option<usize> {
    on_surface.map(|m| idx.iter().filter(|&&i| m[i]).count())
}

/// HANS: accuracy on non-entailed lexical-overlap examples (where the heuristic fails; the
/// paper's HANS score). The generated task: accuracy where the overlap shortcut gives the wrong
/// label. CoLA: MCC. Otherwise accuracy.
fn primary(set: &StoredSet, format: DataFormat, surface: Option<&[usize]>) -> Primary {
    let on_surface = surface_mask(set, surface);
    let column = |g: &str, pick: &dyn Fn(&str, usize) -> bool| -> Option<Vec<usize>> {
        let col = set.groups.get(g)?;
        let idx: Vec<usize> = (0..set.gold.len())
            .filter(|&i| pick(&col[i], set.gold[i]))
            .collect();
        (!idx.is_empty()).then_some(idx)
    };
    let scored = |name: String, key: &str, idx: Vec<usize>| Primary {
        name,
        value: subset(set, &idx).get(key),
        examples: idx.len(),
        surface_overlap: overlap(&idx, on_surface.as_deref()),
    };
    if let Some(ne) = non_entailment(&set.labels) {
        if let Some(idx) = column("heuristic", &|h, g| h == "lexical_overlap" && g == ne) {
            let slice = format!("lexical_overlap/{}", set.labels[ne]);
            return scored(format!("accuracy on {slice}"), "accuracy", idx);
        }
    }
    if let Some(idx) = column("shortcut", &|v, _| v == "disagrees") {
        return scored(
            "accuracy where the overlap shortcut is wrong".into(),
            "accuracy",
            idx,
        );
    }
    let (name, key) = match format {
        DataFormat::Cola => ("MCC", "mcc"),
        DataFormat::Paws if set.labels.len() == 2 => ("F1", "f1"),
        _ => ("accuracy", "accuracy"),
    };
    scored(name.into(), key, (0..set.gold.len()).collect())
}

/// A model's accuracy on one kind of conflict (one value of a strategy's `kinds` column).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindScore {
    pub kind: String,
    /// The gold label of the kind's rows (the rule's answer there); the most common one if
    /// they differ.
    pub gold: String,
    pub accuracy: f64,
    pub rows: usize,
}

/// Accuracy per value of `column`, leaving out the `exclude` rows (a held-out score's surface).
pub fn kind_scores(set: &StoredSet, column: &str, exclude: Option<&[usize]>) -> Vec<KindScore> {
    let skip = surface_mask(set, exclude);
    let mut out = Vec::new();
    for (kind, idx) in set.by_value(column) {
        let idx: Vec<usize> = idx
            .into_iter()
            .filter(|&i| !skip.as_ref().is_some_and(|m| m[i]))
            .collect();
        if idx.is_empty() {
            continue;
        }
        let mut counts = vec![0usize; set.labels.len()];
        idx.iter().for_each(|&i| counts[set.gold[i]] += 1);
        let gold = (0..counts.len())
            .max_by_key(|&l| (counts[l], usize::MAX - l))
            .unwrap_or(0);
        let right = idx
            .iter()
            .filter(|&&i| set.gold[i] == set.predicted[i])
            .count();
        out.push(KindScore {
            kind: kind.to_owned(),
            gold: set.labels[gold].clone(),
            accuracy: right as f64 / idx.len() as f64,
            rows: idx.len(),
        });
    }
    out
}

/// Every name a strategy can give with `kinds`, in the report's column order: `above`,
/// `below`, `always <label>` for each label, `mixed`.
pub fn behaviour_names(s: &ScoreStrategy, labels: &[String]) -> Vec<String> {
    let mut names = vec![s.above.clone(), s.below.clone()];
    names.extend(labels.iter().map(|l| format!("always {l}")));
    names.push("mixed".to_owned());
    names
}

/// A model's strategy from its accuracy on each kind of conflict at threshold `t`: the rule
/// (at or above `t`) on every kind `above`; on none `below`; on exactly the kinds whose gold
/// label is one label L, the artifact on the rest, it answers L everywhere: `always L`;
/// anything else `mixed`. `labels` orders the label set, for the name.
pub fn behaviour_label(s: &ScoreStrategy, kinds: &[KindScore], t: f64) -> String {
    let follows: Vec<bool> = kinds.iter().map(|k| k.accuracy >= t).collect();
    if follows.iter().all(|&f| f) {
        return s.above.clone();
    }
    if follows.iter().all(|&f| !f) {
        return s.below.clone();
    }
    // Following the rule on exactly the kinds of one gold label: that label everywhere.
    let golds: std::collections::BTreeSet<&str> = kinds.iter().map(|k| k.gold.as_str()).collect();
    for g in golds {
        if kinds.iter().zip(&follows).all(|(k, &f)| f == (k.gold == g)) {
            return format!("always {g}");
        }
    }
    "mixed".to_owned()
}

/// The strategy type the manifest declares (the engine's: the params' contract).
pub use basins_study::manifest::Strategy as ScoreStrategy;

/// The thresholds strategy labels are also drawn at, to show how much agreement rests on one.
pub const THRESHOLDS: [f64; 5] = [0.3, 0.4, 0.5, 0.6, 0.7];

/// Values' spread across models (or a basin's members): mean, standard deviation (n - 1), min
/// and max; with no values the min and max are written as `null` (infinite) and read back as
/// NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    #[serde(deserialize_with = "nan")]
    pub max: f64,
    #[serde(deserialize_with = "nan")]
    pub mean: f64,
    #[serde(deserialize_with = "nan")]
    pub min: f64,
    pub n: usize,
    #[serde(deserialize_with = "nan")]
    pub std: f64,
}

impl std::fmt::Display for Spread {
    /// As JSON, the way the node's log has always shown it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

/// Mean, standard deviation (n - 1), min and max.
pub fn spread(values: &[f64]) -> Spread {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Spread {
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        n: values.len(),
        std: var.sqrt(),
    }
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
            probs: vec![
                vec![0.9, 0.1],
                vec![0.8, 0.2],
                vec![0.9, 0.1],
                vec![0.3, 0.7],
            ],
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
        let d = analyse(&set(), DataFormat::Hans, None, None);
        assert_eq!(d.overall.accuracy, 0.75);
        assert_eq!(d.primary.value, 0.0);
        assert!(d.primary.name.contains("lexical_overlap/non-entailment"));
        let cross = &d.groups["heuristic x label"];
        assert_eq!(cross["subsequence/non-entailment"].accuracy, 1.0);
        assert_eq!(cross["lexical_overlap/entailment"].examples, 1);
        assert_eq!(d.groups["heuristic"]["subsequence"].accuracy, 1.0);
        let mut s = set();
        s.groups.clear();
        assert_eq!(
            analyse(&s, DataFormat::Cola, None, None).primary.name,
            "MCC"
        );
        assert_eq!(analyse(&s, DataFormat::Paws, None, None).primary.name, "F1");
        // A declared score: accuracy on the non-entailed rows of any heuristic.
        let spec = ScoreSpec {
            metric: basins_study::manifest::Metric::Accuracy,
            filter: basins_study::manifest::Where(
                [("label".to_string(), vec!["non-entailment".to_string()])].into(),
            ),
            held_out: false,
        };
        let p = analyse(&set(), DataFormat::Hans, Some(&spec), Some(&[1])).primary;
        assert_eq!((p.value, p.examples), (0.5, 2));
        assert_eq!(p.name, "accuracy where label = non-entailment");
        assert_eq!(p.surface_overlap, Some(1));
        // Held out: row 1 is on the surface, so only row 3 (right) is scored.
        let held = ScoreSpec {
            held_out: true,
            ..spec
        };
        let p = analyse(&set(), DataFormat::Hans, Some(&held), Some(&[1])).primary;
        assert_eq!((p.value, p.examples, p.surface_overlap), (1.0, 1, Some(0)));
        assert!(
            p.name.ends_with("(held out from the loss surface)"),
            "{}",
            p.name
        );
    }

    #[test]
    fn behaviour_names_the_rule_the_artifact_one_label_and_mixed() {
        let s = ScoreStrategy {
            threshold: 0.5,
            above: "rule".into(),
            below: "artifact".into(),
            kinds: Some("construction".into()),
        };
        let k = |acc: [f64; 2]| {
            vec![
                KindScore {
                    kind: "a".into(),
                    gold: "non-entailment".into(),
                    accuracy: acc[0],
                    rows: 10,
                },
                KindScore {
                    kind: "b".into(),
                    gold: "entailment".into(),
                    accuracy: acc[1],
                    rows: 10,
                },
            ]
        };
        assert_eq!(behaviour_label(&s, &k([0.9, 0.8]), 0.5), "rule");
        assert_eq!(behaviour_label(&s, &k([0.1, 0.2]), 0.5), "artifact");
        // Right on the entailed kind, wrong on the other: entailment everywhere.
        assert_eq!(
            behaviour_label(&s, &k([0.0, 1.0]), 0.5),
            "always entailment"
        );
        assert_eq!(
            behaviour_label(&s, &k([0.9, 0.1]), 0.5),
            "always non-entailment"
        );
        // The threshold moves a partial rule-follower.
        assert_eq!(behaviour_label(&s, &k([0.45, 0.9]), 0.4), "rule");
        let mut three = k([0.9, 0.9]);
        three.push(KindScore {
            kind: "c".into(),
            gold: "entailment".into(),
            accuracy: 0.1,
            rows: 5,
        });
        assert_eq!(behaviour_label(&s, &three, 0.5), "mixed");
        let labels = vec!["entailment".to_string(), "non-entailment".to_string()];
        assert_eq!(
            behaviour_names(&s, &labels),
            [
                "rule",
                "artifact",
                "always entailment",
                "always non-entailment",
                "mixed"
            ]
        );
        // Per-kind accuracy from stored outputs, the surface rows left out when asked.
        let ks = kind_scores(&set(), "heuristic", None);
        assert_eq!(ks.len(), 2);
        assert_eq!(
            (ks[0].kind.as_str(), ks[0].accuracy, ks[0].rows),
            ("lexical_overlap", 0.5, 2)
        );
        let held = kind_scores(&set(), "heuristic", Some(&[1]));
        assert_eq!(
            (held[0].accuracy, held[0].rows, held[0].gold.as_str()),
            (1.0, 1, "entailment")
        );
    }

    #[test]
    fn spread_is_sample_statistics() {
        let s = spread(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.std, s.min, s.max, s.n), (2.0, 1.0, 1.0, 3.0, 3));
        // No values: the extremes are infinite, written as null, read back as NaN.
        let none = spread(&[]);
        let text = serde_json::to_string(&none).unwrap();
        assert!(
            text.contains(r#""max":null"#) && text.contains(r#""min":null"#),
            "{text}"
        );
        let back: Spread = serde_json::from_str(&text).unwrap();
        assert!(back.max.is_nan() && back.min.is_nan());
        assert_eq!((back.mean, back.n), (0.0, 0));
    }
}
