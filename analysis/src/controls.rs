//! Controls for a basin finding, from what the evaluate and barriers nodes already stored (no
//! forward pass):
//!
//! - **output-similarity baselines** on the loss surface's rows: how often two models'
//!   predictions disagree, and the mean Jensen-Shannon divergence of their predicted
//!   distributions (the two quantities the paper's `metrics.py` also computes). If clustering
//!   these gives the barrier basins, the barrier says nothing the outputs do not;
//! - **robustness**: the partition again under every other barrier definition (including the
//!   "largest loss along the path minus the larger endpoint", from the stored mean curves),
//!   kernel width, number of basins and clustering method.
//!
//! Each matrix is clustered as the study clusters its barriers ([`Clustering`]), so the
//! partitions differ only in what they are computed from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::{adjusted_rand, average_linkage, median_delta, silhouette, spectral, Square};
use crate::stats::{ari_permutation, bootstrap_draws, interval, mann_whitney, AriTest, Interval};

/// Pairwise share of rows on which two models' predicted labels differ.
/// `predicted[model][row]`.
pub fn disagreement(predicted: &[Vec<usize>]) -> Square {
    pairwise(predicted.len(), |i, j| {
        let (a, b) = (&predicted[i], &predicted[j]);
        let n = a.len().max(1) as f64;
        a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / n
    })
}

/// Jensen-Shannon divergence (natural log) of two distributions: half the Kullback-Leibler
/// divergence of each from their mean. Equals `scipy.spatial.distance.jensenshannon(p, q)**2`.
pub fn js_divergence(p: &[f32], q: &[f32]) -> f64 {
    // Each distribution is renormalised in f64, as scipy's is: a stored softmax sums to 1
    // within float rounding, and the divergence of near-identical models is of that order.
    let norm = |v: &[f32]| -> Vec<f64> {
        let s: f64 = v.iter().map(|&x| f64::from(x)).sum();
        v.iter().map(|&x| f64::from(x) / s).collect()
    };
    let (p, q) = (norm(p), norm(q));
    let kl_to_mean = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| {
                let m = (x + y) / 2.0;
                if x > 0.0 {
                    x * (x / m).ln()
                } else {
                    0.0
                }
            })
            .sum()
    };
    ((kl_to_mean(&p, &q) + kl_to_mean(&q, &p)) / 2.0).max(0.0)
}

/// Pairwise mean Jensen-Shannon divergence over rows. `probs[model][row][label]`.
pub fn jensen_shannon(probs: &[Vec<Vec<f32>>]) -> Square {
    pairwise(probs.len(), |i, j| {
        let (a, b) = (&probs[i], &probs[j]);
        let n = a.len().max(1) as f64;
        a.iter()
            .zip(b)
            .map(|(p, q)| js_divergence(p, q))
            .sum::<f64>()
            / n
    })
}

/// The largest mean loss along a path minus the larger of its two ends (0 when an end is the
/// highest point): the barrier as "how much higher than the worse model" it climbs.
pub fn max_minus_larger_endpoint(curve: &[f64]) -> f64 {
    let (Some(&first), Some(&last)) = (curve.first(), curve.last()) else {
        return f64::NAN;
    };
    let top = curve.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (top - first.max(last)).max(0.0)
}

/// A symmetric matrix with a zero diagonal from a pair function (called once per pair).
fn pairwise(n: usize, mut f: impl FnMut(usize, usize) -> f64) -> Square {
    let mut m = vec![vec![0.0; n]; n];
    let pairs = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j)));
    for (i, j) in pairs {
        let v = f(i, j);
        m[i][j] = v;
        m[j][i] = v;
    }
    m
}

/// How a study clusters a distance matrix: the method, the number of clusters (None: chosen
/// from the data, by eigengap or the dendrogram's largest gap) and the spectral kernel width.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Clustering {
    pub method: Method,
    pub k: Option<usize>,
    pub delta: Width,
}

/// Spectral clustering (the paper's) or average linkage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Spectral,
    Hierarchical,
}

/// A kernel width: a fixed number, or a multiple of the matrix's median off-diagonal value
/// (1.0: the median heuristic), which carries a width over to a matrix of another scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Width {
    Fixed(f64),
    TimesMedian(f64),
}

impl Width {
    /// The width for matrix `b` (1.0 when every off-diagonal value is 0, as the cluster kind
    /// falls back).
    pub fn for_matrix(self, b: &Square) -> f64 {
        match self {
            Width::Fixed(d) => d,
            Width::TimesMedian(f) => median_delta(b).map_or(1.0, |m| f * m),
        }
    }

    /// The same width as a multiple of `b`'s median, so that it carries over to a matrix of
    /// another scale (a fixed width on the barrier matrix means nothing on a disagreement one).
    pub fn relative_to(self, b: &Square) -> Width {
        match self {
            Width::Fixed(d) => Width::TimesMedian(median_delta(b).map_or(1.0, |m| d / m)),
            w => w,
        }
    }
}

/// One partition and what the clustering saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partition {
    pub labels: Vec<usize>,
    pub k: usize,
    /// The kernel width used (spectral only).
    pub delta: Option<f64>,
    /// The Laplacian's eigenvalues, ascending (spectral only).
    pub eigenvalues: Option<Vec<f64>>,
}

impl Clustering {
    pub fn partition(&self, b: &Square) -> Partition {
        match self.method {
            Method::Spectral => {
                let delta = self.delta.for_matrix(b);
                let s = spectral(b, self.k, delta);
                Partition {
                    labels: s.assignments,
                    k: s.k,
                    delta: Some(delta),
                    eigenvalues: Some(s.eigenvalues),
                }
            }
            Method::Hierarchical => {
                let h = average_linkage(b);
                let k = self.k.unwrap_or_else(|| h.gap_k());
                Partition {
                    labels: h.cut(k),
                    k,
                    delta: None,
                    eigenvalues: None,
                }
            }
        }
    }
}

/// The rows and columns `idx` of a matrix (a bootstrap resample of the models: a model drawn
/// twice is at distance 0 from its copy).
pub fn submatrix(b: &Square, idx: &[usize]) -> Square {
    idx.iter()
        .map(|&i| idx.iter().map(|&j| b[i][j]).collect())
        .collect()
}

/// What the controls are computed from: the stored outputs of one task's final models.
pub struct Inputs {
    /// The clustering's eval set and the rows of its loss surface.
    pub set: String,
    pub rows: usize,
    /// The barrier definition the study clusters on, and every definition's matrix on the set.
    pub barrier: String,
    pub barriers: BTreeMap<String, Square>,
    /// The study's partition (the cluster node's) and how it was made.
    pub reported: Vec<usize>,
    pub clustering: Clustering,
    /// Each model's predicted labels and distributions on the surface rows.
    pub predicted: Vec<Vec<usize>>,
    pub probs: Vec<Vec<Vec<f32>>>,
    /// Declared strategies per diagnostic set: each model's label index into the set's names.
    pub strategies: BTreeMap<String, Vec<usize>>,
    pub strategy_names: BTreeMap<String, Vec<String>>,
    /// The strategies drawn again at other thresholds, per set: (threshold, label indices).
    pub thresholds: BTreeMap<String, Vec<(f64, Vec<usize>)>>,
    /// Each set's primary score per model (NaN where missing).
    pub scores: BTreeMap<String, Vec<f64>>,
    /// Relabellings for the permutation p, resamples for the bootstrap, and its seed.
    pub permutations: usize,
    pub bootstrap: usize,
    pub seed: u64,
}

/// The three partitions compared: the barrier basins and the two output-similarity baselines.
pub const SOURCES: [&str; 3] = ["barrier", "disagreement", "jensen_shannon"];

/// `controls.json`: what the report shows and `report.json` carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Controls {
    pub set: String,
    pub rows: usize,
    pub barrier: String,
    pub bootstrap: usize,
    pub permutations: usize,
    /// In [`SOURCES`] order.
    pub partitions: Vec<SourcePartition>,
    /// Per strategy set and baseline: the bootstrap interval (same resamples) of the barrier
    /// partition's ARI minus the baseline's. Above 0 throughout: the barrier matches the
    /// strategies better than that baseline does.
    pub differences: BTreeMap<String, BTreeMap<String, Option<Interval>>>,
    pub robustness: Vec<Variant>,
    /// Per strategy set: the strategies named at other thresholds on the same score, and each
    /// partition's ARI with them (a label is one score and a threshold; this shows how much
    /// the agreement rests on the threshold).
    pub thresholds: BTreeMap<String, Vec<ThresholdRow>>,
    /// Per strategy set: every name a strategy can take (the index in the counts above).
    pub strategy_names: BTreeMap<String, Vec<String>>,
}

/// The strategies at one threshold: how many models each strategy names (by its index among
/// the set's strategy names), and each partition's ARI with the labels (None where every model
/// gets one label).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdRow {
    pub threshold: f64,
    pub counts: BTreeMap<usize, usize>,
    pub ari: BTreeMap<String, Option<f64>>,
}

/// One partition of the models and how well it matches what is known of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourcePartition {
    pub source: String,
    pub matrix: Square,
    pub partition: Partition,
    pub silhouette: Option<f64>,
    /// 1: the same partition as the barrier basins.
    pub ari_vs_barrier: f64,
    pub strategies: BTreeMap<String, StrategyFit>,
    pub scores: BTreeMap<String, ScoreGap>,
}

/// A partition against declared strategies: the index with its permutation p-value, and its
/// bootstrap interval over models (each resample clustered again).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StrategyFit {
    pub test: Option<AriTest>,
    pub interval: Option<Interval>,
}

/// A score between a partition's clusters: each cluster's mean, the gap between the highest
/// and lowest, and the Mann-Whitney test of those two clusters (named by `pair`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreGap {
    pub means: Vec<Option<f64>>,
    pub gap: Option<f64>,
    /// (lowest-mean cluster, highest-mean cluster).
    pub pair: Option<(usize, usize)>,
    pub u: Option<f64>,
    pub p: Option<f64>,
}

/// The study's partition made another way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    /// `definition`, `width`, `k` or `method`.
    pub group: String,
    pub setting: String,
    /// This is the study's own setting.
    pub reported: bool,
    pub partition: Partition,
    pub silhouette: Option<f64>,
    /// Spectral: the gap between the k-th and (k+1)-th smallest eigenvalue.
    pub eigengap: Option<f64>,
    pub ari_vs_reported: f64,
    pub ari_vs_strategies: BTreeMap<String, f64>,
}

impl Controls {
    pub fn source(&self, name: &str) -> Option<&SourcePartition> {
        self.partitions.iter().find(|p| p.source == name)
    }
}

/// Every control for one study.
pub fn analyse(inp: &Inputs) -> anyhow::Result<Controls> {
    let reported_matrix = inp
        .barriers
        .get(&inp.barrier)
        .ok_or_else(|| anyhow::anyhow!("no `{}` barrier matrix on `{}`", inp.barrier, inp.set))?;
    let n = inp.reported.len();
    anyhow::ensure!(
        reported_matrix.len() == n && inp.predicted.len() == n && inp.probs.len() == n,
        "the barrier matrix, the partition and the outputs cover different models"
    );
    let k = inp.reported.iter().max().map_or(1, |m| m + 1);
    // The study's kernel width, carried to the baselines relative to each matrix's median.
    let relative = inp.clustering.delta.relative_to(reported_matrix);
    let baseline = Clustering {
        k: Some(k),
        delta: relative,
        ..inp.clustering
    };
    let matrices = [
        reported_matrix.clone(),
        disagreement(&inp.predicted),
        jensen_shannon(&inp.probs),
    ];
    let full: Vec<Partition> = matrices
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == 0 {
                Partition {
                    labels: inp.reported.clone(),
                    k,
                    delta: Some(inp.clustering.delta.for_matrix(m)),
                    eigenvalues: None,
                }
            } else {
                baseline.partition(m)
            }
        })
        .collect();
    // Bootstrap: the same resamples for every source, each clustered again with its full-data
    // width and k, scored against the resampled strategies.
    let draws = bootstrap_draws(n, inp.bootstrap, inp.seed);
    let mut reps: BTreeMap<&str, Vec<Vec<Option<f64>>>> = BTreeMap::new();
    for (set, labels) in &inp.strategies {
        let per_source: Vec<Vec<Option<f64>>> = matrices
            .iter()
            .zip(&full)
            .map(|(m, p)| {
                let fixed = Clustering {
                    k: Some(p.k),
                    delta: Width::Fixed(p.delta.unwrap_or(1.0)),
                    ..inp.clustering
                };
                draws
                    .iter()
                    .map(|idx| {
                        let truth: Vec<usize> = idx.iter().map(|&i| labels[i]).collect();
                        if truth.iter().all(|&l| l == truth[0]) {
                            return None;
                        }
                        let found = fixed.partition(&submatrix(m, idx)).labels;
                        Some(adjusted_rand(&found, &truth))
                    })
                    .collect()
            })
            .collect();
        reps.insert(set, per_source);
    }
    let partitions = SOURCES
        .iter()
        .enumerate()
        .map(|(s, &source)| SourcePartition {
            source: source.to_owned(),
            silhouette: silhouette(&matrices[s], &full[s].labels),
            ari_vs_barrier: adjusted_rand(&full[0].labels, &full[s].labels),
            strategies: inp
                .strategies
                .iter()
                .map(|(set, labels)| {
                    // With one strategy there is nothing to agree on (an index of 0 would read
                    // as "the partition ignores the strategies"): no test.
                    let two = labels.iter().any(|&l| l != labels[0]);
                    let fit = StrategyFit {
                        test: ari_permutation(&full[s].labels, labels, inp.permutations, inp.seed)
                            .filter(|_| two),
                        interval: interval(&reps[set.as_str()][s]),
                    };
                    (set.clone(), fit)
                })
                .collect(),
            scores: inp
                .scores
                .iter()
                .map(|(set, v)| (set.clone(), score_gap(&full[s].labels, v)))
                .collect(),
            matrix: matrices[s].clone(),
            partition: full[s].clone(),
        })
        .collect();
    let differences = reps
        .iter()
        .map(|(set, per_source)| {
            let d = (1..SOURCES.len())
                .map(|s| {
                    let diff: Vec<Option<f64>> = per_source[0]
                        .iter()
                        .zip(&per_source[s])
                        .map(|(a, b)| Some((*a)? - (*b)?))
                        .collect();
                    (SOURCES[s].to_owned(), interval(&diff))
                })
                .collect();
            (set.to_string(), d)
        })
        .collect();
    Ok(Controls {
        set: inp.set.clone(),
        rows: inp.rows,
        barrier: inp.barrier.clone(),
        bootstrap: inp.bootstrap,
        permutations: inp.permutations,
        partitions,
        differences,
        robustness: robustness(inp, k),
        thresholds: inp
            .thresholds
            .iter()
            .map(|(set, drawn)| (set.clone(), thresholds(drawn, &full)))
            .collect(),
        strategy_names: inp.strategy_names.clone(),
    })
}

/// Strategy labels drawn at other thresholds, against each partition.
fn thresholds(drawn: &[(f64, Vec<usize>)], partitions: &[Partition]) -> Vec<ThresholdRow> {
    drawn
        .iter()
        .map(|(t, labels)| {
            let mut counts = BTreeMap::new();
            labels
                .iter()
                .for_each(|&l| *counts.entry(l).or_default() += 1);
            let one = counts.len() < 2;
            ThresholdRow {
                threshold: *t,
                counts,
                ari: SOURCES
                    .iter()
                    .zip(partitions)
                    .map(|(s, p)| {
                        let ari = (!one).then(|| adjusted_rand(&p.labels, labels));
                        ((*s).to_owned(), ari)
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A score's means per cluster, the largest gap and its Mann-Whitney test.
fn score_gap(labels: &[usize], score: &[f64]) -> ScoreGap {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    let members = |c: usize| -> Vec<f64> {
        (0..labels.len())
            .filter(|&i| labels[i] == c && score[i].is_finite())
            .map(|i| score[i])
            .collect()
    };
    let means: Vec<Option<f64>> = (0..k)
        .map(|c| {
            let m = members(c);
            (!m.is_empty()).then(|| m.iter().sum::<f64>() / m.len() as f64)
        })
        .collect();
    let known: Vec<(usize, f64)> = means
        .iter()
        .enumerate()
        .filter_map(|(c, m)| Some((c, (*m)?)))
        .collect();
    let lo = known.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
    let hi = known.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
    let (pair, gap, test) = match (lo, hi) {
        (Some(lo), Some(hi)) if lo.0 != hi.0 => (
            Some((lo.0, hi.0)),
            Some(hi.1 - lo.1),
            mann_whitney(&members(lo.0), &members(hi.0)),
        ),
        _ => (None, None, None),
    };
    ScoreGap {
        means,
        gap,
        pair,
        u: test.as_ref().map(|t| t.u),
        p: test.map(|t| t.p),
    }
}

/// The study's partition under each other barrier definition, kernel width, k from 2 to 4, and
/// the other clustering method; each against the study's partition and the strategies.
fn robustness(inp: &Inputs, k: usize) -> Vec<Variant> {
    let b = &inp.barriers[&inp.barrier];
    let n = inp.reported.len();
    let own = Clustering {
        k: Some(k),
        ..inp.clustering
    };
    let relative = own.delta.relative_to(b);
    let mut out = Vec::new();
    let mut push = |group: &str, setting: String, m: &Square, c: Clustering, reported: bool| {
        let partition = c.partition(m);
        let eigengap = partition.eigenvalues.as_ref().and_then(|e| {
            let k = partition.k;
            (k >= 1 && k < e.len()).then(|| e[k] - e[k - 1])
        });
        out.push(Variant {
            group: group.to_owned(),
            setting,
            reported,
            silhouette: silhouette(m, &partition.labels),
            eigengap,
            ari_vs_reported: adjusted_rand(&inp.reported, &partition.labels),
            // Only strategies that tell models apart: with one, an index of 0 says nothing.
            ari_vs_strategies: inp
                .strategies
                .iter()
                .filter(|(_, l)| l.iter().any(|&x| x != l[0]))
                .map(|(set, l)| (set.clone(), adjusted_rand(&partition.labels, l)))
                .collect(),
            partition,
        });
    };
    for (name, m) in &inp.barriers {
        let c = Clustering {
            delta: if *name == inp.barrier {
                own.delta
            } else {
                relative
            },
            ..own
        };
        push("definition", name.clone(), m, c, *name == inp.barrier);
    }
    let widths = [
        ("1".to_owned(), Width::Fixed(1.0)),
        ("median".to_owned(), Width::TimesMedian(1.0)),
        ("median / 2".to_owned(), Width::TimesMedian(0.5)),
        ("median x 2".to_owned(), Width::TimesMedian(2.0)),
    ];
    if own.method == Method::Spectral {
        for (label, w) in widths {
            let reported = w == own.delta;
            push("width", label, b, Clustering { delta: w, ..own }, reported);
        }
    }
    for kk in 2..=4usize.min(n.saturating_sub(1)) {
        push(
            "k",
            kk.to_string(),
            b,
            Clustering { k: Some(kk), ..own },
            kk == k,
        );
    }
    let other = match own.method {
        Method::Spectral => Method::Hierarchical,
        Method::Hierarchical => Method::Spectral,
    };
    push(
        "method",
        format!("{other:?}").to_lowercase(),
        b,
        Clustering {
            method: other,
            ..own
        },
        false,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::adjusted_rand;

    #[test]
    fn disagreement_and_divergence_are_what_they_say() {
        let d = disagreement(&[vec![0, 1, 1, 0], vec![0, 1, 0, 0], vec![1, 0, 0, 1]]);
        assert_eq!(d[0][1], 0.25);
        assert_eq!(d[1][0], 0.25);
        assert_eq!(d[0][2], 1.0);
        assert_eq!(d[2][2], 0.0);
        // Identical distributions: 0; disjoint ones: ln 2.
        assert_eq!(js_divergence(&[0.3, 0.7], &[0.3, 0.7]), 0.0);
        assert!((js_divergence(&[1.0, 0.0], &[0.0, 1.0]) - 2f64.ln()).abs() < 1e-12);
        // scipy.spatial.distance.jensenshannon([0.2, 0.8], [0.6, 0.4]) ** 2
        //   = 0.08630462173553435 (scipy 1.17)
        let js = js_divergence(&[0.2, 0.8], &[0.6, 0.4]);
        assert!((js - 0.086_304_621_735_534_23).abs() < 1e-7, "{js}");
        let m = jensen_shannon(&[
            vec![vec![1.0, 0.0], vec![0.5, 0.5]],
            vec![vec![0.0, 1.0], vec![0.5, 0.5]],
        ]);
        assert!((m[0][1] - 2f64.ln() / 2.0).abs() < 1e-12);
    }

    #[test]
    fn max_minus_endpoint_is_the_climb_above_the_worse_model() {
        assert_eq!(max_minus_larger_endpoint(&[0.1, 0.5, 0.3]), 0.2);
        assert_eq!(max_minus_larger_endpoint(&[0.1, 0.2, 0.3]), 0.0);
        assert!(max_minus_larger_endpoint(&[]).is_nan());
    }

    #[test]
    fn a_width_relative_to_the_median_follows_the_matrix_scale() {
        let b: Square = vec![
            vec![0.0, 0.1, 2.0, 2.0],
            vec![0.1, 0.0, 2.0, 2.0],
            vec![2.0, 2.0, 0.0, 0.1],
            vec![2.0, 2.0, 0.1, 0.0],
        ];
        let scaled: Square = b
            .iter()
            .map(|r| r.iter().map(|x| x / 100.0).collect())
            .collect();
        let c = Clustering {
            method: Method::Spectral,
            k: Some(2),
            delta: Width::TimesMedian(1.0),
        };
        let (p, q) = (c.partition(&b), c.partition(&scaled));
        assert_eq!(adjusted_rand(&p.labels, &q.labels), 1.0);
        assert!((p.delta.unwrap() / q.delta.unwrap() - 100.0).abs() < 1e-9);
        let h = Clustering {
            method: Method::Hierarchical,
            k: None,
            delta: Width::Fixed(1.0),
        };
        assert_eq!(h.partition(&b).k, 2);
        assert_eq!(
            submatrix(&b, &[0, 0, 2]),
            vec![
                vec![0.0, 0.0, 2.0],
                vec![0.0, 0.0, 2.0],
                vec![2.0, 2.0, 0.0]
            ]
        );
    }
}
