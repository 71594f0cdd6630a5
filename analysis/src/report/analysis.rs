//! The numbers under each task's table: per-basin spread of every score, tests between basins
//! with Holm's correction, correlation with the spectral coordinate, and agreement with
//! declared strategies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::TaskInputs;
use crate::diagnostics::{spread, Spread};
use crate::documents::nan;
use crate::stats::{holm, mann_whitney, pearson, permutation, spearman, MannWhitney, Pearson};

/// Relabellings the permutation test enumerates exactly (or draws at random past that).
const PERMUTATIONS: usize = 100_000;

/// The task's table of scores by basin (`report.json`'s `tests`), by row name: a set's name,
/// or `<set> accuracy` for the extra accuracy row of an in-distribution split.
pub type ScoreTable = BTreeMap<String, ScoreRow>;

/// One score across the models: per-basin spread, tests between basins, correlation with the
/// spectral coordinate. Fields in alphabetical order, as `report.json` has them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreRow {
    /// One basin against the other (two), or each against the rest (more).
    pub comparisons: Vec<Comparison>,
    pub counts: Counts,
    /// The models without a finite score, left out of every statistic.
    pub excluded: Vec<String>,
    /// One of the task's own splits (not a diagnostic set).
    pub in_distribution: bool,
    pub pearson_vs_coordinate: Option<Pearson>,
    pub per_cluster: Vec<Spread>,
    /// The score's name.
    pub primary: String,
    /// Each model's score, in seed order (`None`: not a number).
    pub scores: Vec<Option<f64>>,
    /// The eval set.
    pub set: String,
    /// Scores bunch at 0 and 1 on a conflict set: the rank correlation moves less with them.
    pub spearman_vs_coordinate: Option<Pearson>,
}

/// How many rows a score covers, of the set's and of the loss surface's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counts {
    pub rows: usize,
    pub score_rows: usize,
    /// Scored rows that are also loss-surface rows.
    pub shared: Option<usize>,
    pub surface_rows: Option<usize>,
}

/// One comparison of a basin's scores with the others'.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// `cluster 1` (two basins) or `the rest`.
    pub against: String,
    pub cluster: usize,
    pub mann_whitney: Option<Corrected<MannWhitney>>,
    pub permutation: PermutationP,
}

/// A test's result with its p-value after Holm's correction over the task's table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Corrected<T> {
    #[serde(flatten)]
    pub test: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_holm: Option<f64>,
}

/// The permutation test's p-value (`None`: a sample is empty or not finite), and after Holm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PermutationP {
    pub p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_holm: Option<f64>,
}

impl ScoreRow {
    /// The comparison with the smallest Mann-Whitney p (with two basins, the only one).
    pub fn strongest(&self) -> Option<&Comparison> {
        self.comparisons.iter().min_by(|a, b| {
            let p = |c: &Comparison| c.mann_whitney.as_ref().map_or(f64::INFINITY, |m| m.test.p);
            p(a).total_cmp(&p(b))
        })
    }
}

/// Per diagnostic set that declares strategies, the basins against them (`report.json`'s
/// `strategies`).
pub type Agreements = BTreeMap<String, Agreement>;

/// Basins against the strategies a diagnostic set declares.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Agreement {
    Measured(Contingency),
    /// Why the comparison is not made.
    Refused {
        error: String,
    },
}

/// The contingency table of basins against strategies, and their adjusted Rand index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Contingency {
    /// `None` where it says nothing: see `ari_note`.
    pub ari: Option<f64>,
    /// Why there is no index (one strategy, or one basin).
    pub ari_note: Option<String>,
    /// basin -> strategy -> models.
    pub contingency: Vec<Vec<usize>>,
    /// The rule's group of conflict kinds, if it names one.
    pub kinds: Option<String>,
    /// Each model's strategy, in seed order.
    pub labels: Vec<String>,
    /// The strategies, in column order.
    pub strategies: Vec<String>,
    #[serde(deserialize_with = "nan")]
    pub threshold: f64,
}

/// Per-cluster statistics of every eval set's primary score, and Pearson r of each score
/// against the spectral coordinate. For the task's own (in-distribution) splits also a row for
/// plain accuracy when the primary score is something else (CoLA's MCC): the paper's question is
/// whether basins say more about a model than its in-distribution accuracy does, so the page
/// shows both correlations side by side.
pub fn cluster_tests(t: &TaskInputs) -> ScoreTable {
    let mut rows = ScoreTable::new();
    let Some(diag) = t.diagnostics else {
        return rows;
    };
    let seeds = t.seeds();
    for (name, set) in &diag.sets {
        let in_distribution = !set.diagnostic;
        let counts = Counts {
            rows: set.rows,
            score_rows: set.score_rows,
            shared: set.score_surface_overlap,
            surface_rows: set.surface_rows,
        };
        let score = set.primary_scores(&seeds);
        let row = score_row(t, name, &set.primary, in_distribution, score, counts);
        rows.insert(name.clone(), row);
        if in_distribution && set.primary != "accuracy" {
            let acc = set.scores(&seeds, |d| d.overall.accuracy);
            // Accuracy is over every row.
            let counts = Counts {
                rows: set.rows,
                score_rows: set.rows,
                shared: set.surface_rows,
                surface_rows: set.surface_rows,
            };
            let row = score_row(t, name, "accuracy", true, acc, counts);
            rows.insert(format!("{name} accuracy"), row);
        }
    }
    holm_correct(&mut rows);
    rows
}

/// Ground truth, where a diagnostic set declares each model's strategy (`strategy` in the
/// manifest): per such set, the strategies in model order, the contingency table of basins
/// against strategies, and their adjusted Rand index (1: the basins are the strategies; about
/// 0: no more agreement than chance).
pub fn strategy_agreement(t: &TaskInputs) -> Agreements {
    let mut out = Agreements::new();
    let Some(diag) = t.diagnostics else {
        return out;
    };
    let (seeds, assign) = (t.seeds(), t.assignments());
    let k = assign.iter().max().map_or(0, |m| m + 1);
    for (name, set) in &diag.sets {
        let Some(rule) = &set.strategy else {
            continue;
        };
        // Every model has a strategy, or the comparison is not made (and says why).
        let Ok(labels) = rule.indices(&seeds) else {
            let error = "a model has no strategy label".to_owned();
            out.insert(name.clone(), Agreement::Refused { error });
            continue;
        };
        // Every name a strategy can take, in column order (with `kinds`: also "always <label>"
        // and "mixed").
        let names = &rule.names;
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
            Agreement::Measured(Contingency {
                ari: (ari.is_finite() && note.is_none()).then_some(ari),
                ari_note: note,
                contingency: table,
                kinds: rule.rule.kinds.clone(),
                labels: labels.iter().map(|&l| names[l].clone()).collect(),
                strategies: names.clone(),
                threshold: rule.rule.threshold,
            }),
        );
    }
    out
}

/// Holm's correction over every comparison in the task's table, separately for the
/// Mann-Whitney and the permutation p-values (`p_holm` beside each `p`).
fn holm_correct(rows: &mut ScoreTable) {
    let all = || rows.values().flat_map(|r| r.comparisons.iter());
    let mw: Vec<f64> = all()
        .filter_map(|c| c.mann_whitney.as_ref().map(|m| m.test.p))
        .filter(|p| p.is_finite())
        .collect();
    let perm: Vec<f64> = all()
        .filter_map(|c| c.permutation.p)
        .filter(|p| p.is_finite())
        .collect();
    let (mut mw, mut perm) = (holm(&mw).into_iter(), holm(&perm).into_iter());
    for c in rows.values_mut().flat_map(|r| r.comparisons.iter_mut()) {
        if let Some(m) = c.mann_whitney.as_mut().filter(|m| m.test.p.is_finite()) {
            m.p_holm = mw.next();
        }
        if c.permutation.p.is_some_and(f64::is_finite) {
            c.permutation.p_holm = perm.next();
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
    counts: Counts,
) -> ScoreRow {
    let (assign, coord) = (t.assignments(), t.coordinate());
    let k = assign.iter().max().map_or(0, |m| m + 1);
    // A model without a finite score is left out of every statistic, and named.
    let names = t.names();
    let kept: Vec<usize> = (0..score.len()).filter(|&i| score[i].is_finite()).collect();
    let excluded: Vec<String> = (0..score.len())
        .filter(|i| !kept.contains(i))
        .map(|i| names[i].clone())
        .collect();
    let members = |c: usize, inside: bool| -> Vec<f64> {
        kept.iter()
            .filter(|&&i| (assign[i] == c) == inside)
            .map(|&i| score[i])
            .collect()
    };
    let per_cluster: Vec<Spread> = (0..k).map(|c| spread(&members(c, true))).collect();
    // Two clusters: one against the other; more: each against the rest.
    let comparisons: Vec<Comparison> = (0..k)
        .filter(|&c| k > 2 || c == 0)
        .filter(|_| k >= 2)
        .map(|c| {
            let (inside, outside) = (members(c, true), members(c, false));
            Comparison {
                against: if k == 2 { "cluster 1" } else { "the rest" }.to_owned(),
                cluster: c,
                mann_whitney: mann_whitney(&inside, &outside)
                    .map(|test| Corrected { test, p_holm: None }),
                permutation: PermutationP {
                    p: permutation(&inside, &outside, PERMUTATIONS, 0),
                    p_holm: None,
                },
            }
        })
        .collect();
    let (cx, sy): (Vec<f64>, Vec<f64>) = kept
        .iter()
        .filter(|&&i| i < coord.len())
        .map(|&i| (coord[i], score[i]))
        .unzip();
    ScoreRow {
        comparisons,
        counts,
        excluded,
        in_distribution,
        pearson_vs_coordinate: pearson(&cx, &sy),
        per_cluster,
        primary: primary.to_owned(),
        scores: score.iter().map(|v| v.is_finite().then_some(*v)).collect(),
        set: set.to_owned(),
        spearman_vs_coordinate: spearman(&cx, &sy),
    }
}

/// Rows and agreements from the few fields the page's tests look at (the rest empty).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A score row of `set`'s `primary` with these basin means, and with `p` (Mann-Whitney's,
    /// and after Holm's correction) one comparison of basin 0 with basin 1.
    pub fn row(set: &str, primary: &str, means: &[f64], p: Option<(f64, f64)>) -> ScoreRow {
        let per_cluster = means
            .iter()
            .map(|&mean| Spread {
                max: mean,
                mean,
                min: mean,
                n: 1,
                std: 0.0,
            })
            .collect();
        let comparisons = p
            .map(|(p, p_holm)| Comparison {
                against: "cluster 1".into(),
                cluster: 0,
                mann_whitney: Some(Corrected {
                    test: MannWhitney {
                        u: 0.0,
                        p,
                        method: "exact".into(),
                    },
                    p_holm: Some(p_holm),
                }),
                permutation: PermutationP {
                    p: None,
                    p_holm: None,
                },
            })
            .into_iter()
            .collect();
        ScoreRow {
            comparisons,
            counts: Counts {
                rows: 0,
                score_rows: 0,
                shared: None,
                surface_rows: None,
            },
            excluded: Vec::new(),
            in_distribution: false,
            pearson_vs_coordinate: None,
            per_cluster,
            primary: primary.into(),
            scores: Vec::new(),
            set: set.into(),
            spearman_vs_coordinate: None,
        }
    }

    /// An agreement with these strategy labels (in model order) and index.
    pub fn agreement(labels: &[String], ari: Option<f64>) -> Agreement {
        let mut strategies: Vec<String> = labels.to_vec();
        strategies.sort();
        strategies.dedup();
        Agreement::Measured(Contingency {
            ari,
            ari_note: None,
            contingency: Vec::new(),
            kinds: None,
            labels: labels.to_vec(),
            strategies,
            threshold: 0.5,
        })
    }
}
