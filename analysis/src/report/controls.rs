//! "Is it the geometry, or just the outputs?": the barrier basins beside the partitions that
//! output similarity gives, with the inference a reader needs (the agreement with the
//! strategies, its permutation p and bootstrap interval, the paired difference), and the
//! robustness of the partition to the analysis choices.

use std::fmt::Write as _;

use super::{esc, num_of, pval_of, TaskInputs};
use crate::controls::{Controls, Variant};

/// ARI at or above this between two partitions reads as "the same partition".
const SAME: f64 = 0.8;

fn source_name(source: &str) -> &'static str {
    match source {
        "barrier" => "barrier basins",
        "disagreement" => "prediction disagreement",
        "jensen_shannon" => "Jensen-Shannon divergence",
        _ => "?",
    }
}

fn n(x: f64) -> String {
    num_of(Some(x))
}

fn opt(x: Option<f64>) -> String {
    x.map_or("&ndash;".into(), n)
}

fn sizes(labels: &[usize]) -> String {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    (0..k)
        .map(|c| labels.iter().filter(|&&l| l == c).count().to_string())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The strategy set the headline comparison uses: the first that declares strategies.
fn strategy_set(c: &Controls) -> Option<&String> {
    c.source("barrier")?.strategies.keys().next()
}

/// One sentence: does the barrier partition tell more about the strategies than the outputs
/// do? Decided by the bootstrap intervals of the paired ARI differences (the same resampled
/// models clustered by each matrix); without declared strategies, by how far the partitions
/// agree.
pub fn sentence(c: &Controls) -> String {
    let Some(barrier) = c.source("barrier") else {
        return String::new();
    };
    let baselines: Vec<_> = c
        .partitions
        .iter()
        .filter(|p| p.source != "barrier")
        .collect();
    // Declared strategies that tell models apart (with one strategy there is no agreement to
    // measure, and the partitions are compared with each other only).
    let set = strategy_set(c).filter(|s| barrier.strategies[*s].test.is_some());
    let Some(set) = set else {
        let agree: Vec<String> = baselines
            .iter()
            .map(|b| format!("{} ARI {}", source_name(&b.source), n(b.ari_vs_barrier)))
            .collect();
        let same = baselines.iter().all(|b| b.ari_vs_barrier >= SAME);
        let why = if strategy_set(c).is_some() {
            "every model follows one declared strategy, so no partition can agree with them"
        } else {
            "with no declared strategies the page cannot say which partition is closer to how \
             the models generalize"
        };
        return format!(
            "Clustered the same way, output similarity on the same {} rows gives {} the barrier \
             basins ({}); {why}.",
            c.rows,
            if same {
                "nearly the same partition as"
            } else {
                "a different partition from"
            },
            agree.join(", ")
        );
    };
    let ari = |p: &crate::controls::SourcePartition| p.strategies[set].test.as_ref().map(|t| t.ari);
    let others: Vec<String> = baselines
        .iter()
        .map(|b| format!("{} {}", source_name(&b.source), opt(ari(b))))
        .collect();
    let diffs = &c.differences[set];
    let better = baselines
        .iter()
        .all(|b| diffs[&b.source].as_ref().is_some_and(|d| d.low > 0.0));
    let worse = baselines
        .iter()
        .any(|b| diffs[&b.source].as_ref().is_some_and(|d| d.high < 0.0));
    let head = format!(
        "Against the strategies on {}, the barrier basins score ARI {} and output similarity: {}",
        esc(set),
        opt(ari(barrier)),
        others.join(", ")
    );
    if better {
        format!(
            "{head}: the barrier partition matches the strategies better than either baseline \
             (the bootstrap intervals of the differences exclude 0), so the loss geometry tells \
             more than the models' outputs on these rows."
        )
    } else if worse {
        format!(
            "{head}: output similarity matches the strategies better than the barrier partition \
             does, so here the barrier adds nothing to the models' outputs."
        )
    } else {
        let higher = baselines.iter().all(|b| match (ari(barrier), ari(b)) {
            (Some(x), Some(y)) => x > y,
            _ => false,
        });
        if higher {
            format!(
                "{head}: the barrier partition scores higher, but the bootstrap intervals of the \
                 differences include 0, so these models cannot tell whether the loss geometry \
                 says more than the outputs do."
            )
        } else {
            format!(
                "{head}: the barrier partition does no better than the baselines (the bootstrap \
                 intervals of the differences include 0), so on these rows the loss geometry \
                 tells no more than the models' outputs do."
            )
        }
    }
}

/// The section: the three partitions side by side, the robustness table, and their sentences.
pub fn section(t: &TaskInputs, c: &Controls) -> String {
    let task = esc(t.task);
    let mut s = format!(
        "<h3 id=\"controls-{task}\">Is it the geometry, or the outputs?</h3><p>Each partition \
         below clusters one matrix over the models, made on the same {} loss-surface rows of \
         {}, with the study's method and number of basins (the kernel width carried over \
         relative to each matrix's median): the {} barrier, the share of rows on which two \
         models' predictions differ, and the mean Jensen-Shannon divergence of their predicted \
         distributions. ARI: adjusted Rand index; its p-value relabels the models \
         ({} relabellings), its interval resamples the models ({} resamples, each clustered \
         again).</p>",
        c.rows,
        esc(&c.set),
        esc(&c.barrier),
        c.permutations,
        c.bootstrap
    );
    let strategy_sets: Vec<&String> = c
        .source("barrier")
        .map(|b| b.strategies.keys().collect())
        .unwrap_or_default();
    let score_sets: Vec<&String> = c
        .source("barrier")
        .map(|b| b.scores.keys().collect())
        .unwrap_or_default();
    let _ = write!(
        s,
        "<table id=\"partitions-{task}\"><tr><th>partition</th><th>sizes</th><th>ARI with the barrier basins</th><th>silhouette</th>"
    );
    for set in &strategy_sets {
        let _ = write!(
            s,
            "<th>ARI with the strategies on {} [95% interval] (p)</th>",
            esc(set)
        );
    }
    for set in &score_sets {
        let _ = write!(
            s,
            "<th>{} score: gap between clusters (Mann-Whitney p)</th>",
            esc(set)
        );
    }
    s.push_str("</tr>");
    for p in &c.partitions {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            source_name(&p.source),
            sizes(&p.partition.labels),
            n(p.ari_vs_barrier),
            opt(p.silhouette)
        );
        for set in &strategy_sets {
            let f = &p.strategies[*set];
            let ci = f.interval.as_ref().map_or("&ndash;".into(), |i| {
                format!("[{}, {}]", n(i.low), n(i.high))
            });
            let _ = write!(
                s,
                "<td>{} {ci} ({})</td>",
                opt(f.test.as_ref().map(|t| t.ari)),
                pval_of(f.test.as_ref().map(|t| t.p))
            );
        }
        for set in &score_sets {
            let g = &p.scores[*set];
            let pair = g
                .pair
                .map_or(String::new(), |(lo, hi)| format!(", cluster {hi} vs {lo}"));
            let _ = write!(s, "<td>{}{pair} ({})</td>", opt(g.gap), pval_of(g.p));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<p id=\"controls-verdict-{task}\"><b>{}</b>",
        sentence(c)
    );
    if let Some(set) = strategy_set(c) {
        let d: Vec<String> = c.differences[set]
            .iter()
            .map(|(b, i)| {
                format!(
                    "{}: {}",
                    source_name(b),
                    i.as_ref().map_or("&ndash;".into(), |i| format!(
                        "[{}, {}]",
                        n(i.low),
                        n(i.high)
                    ))
                )
            })
            .collect();
        let _ = write!(
            s,
            " Barrier ARI minus baseline ARI over the same resamples, 95% interval: {}.",
            d.join("; ")
        );
    }
    s.push_str("</p>");
    s.push_str(&circularity(t, c));
    s.push_str(&robustness(t, c));
    s.push_str(&thresholds(t, c));
    s
}

/// Each partition's ARI with the strategies re-drawn at thresholds 0.3 to 0.7.
fn thresholds(t: &TaskInputs, c: &Controls) -> String {
    let mut s = String::new();
    for (set, rows) in &c.thresholds {
        let _ = write!(
            s,
            "<table id=\"thresholds-{}-{}\"><tr><th>strategy threshold on {}</th><th>models per strategy</th>",
            esc(t.task),
            esc(set),
            esc(set)
        );
        for p in &c.partitions {
            let _ = write!(s, "<th>ARI: {}</th>", source_name(&p.source));
        }
        s.push_str("</tr>");
        let names = c.strategy_names.get(set);
        for r in rows {
            let counts: Vec<String> = r
                .counts
                .iter()
                .map(|(l, n)| {
                    let name = names.and_then(|v| v.get(*l)).map_or("?", String::as_str);
                    format!("{} {n}", esc(name))
                })
                .collect();
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td>",
                r.threshold,
                counts.join(", ")
            );
            for p in &c.partitions {
                let _ = write!(
                    s,
                    "<td>{}</td>",
                    opt(r.ari.get(&p.source).copied().flatten())
                );
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
    }
    if !s.is_empty() {
        s.push_str(
            "<p>A strategy label is one score and a threshold: the table draws the labels again \
             at other thresholds (&ndash;: every model gets one label).</p>",
        );
    }
    s
}

/// Whether the clustering set's score was taken on the rows the basins were found on.
fn circularity(t: &TaskInputs, c: &Controls) -> String {
    let Some(set) = t.diagnostics.and_then(|d| d.sets.get(&c.set)) else {
        return String::new();
    };
    let (rows, Some(shared)) = (set.score_rows, set.score_surface_overlap) else {
        return String::new();
    };
    let task = esc(t.task);
    if shared == 0 {
        format!(
            "<p id=\"circularity-{task}\">The {} score is held out: none of its {rows} rows is \
             one of the {} loss-surface rows the basins were found on, so the score and the \
             strategies named by it test the basins on data they were not found from.</p>",
            esc(&c.set),
            c.rows
        )
    } else {
        format!(
            "<p class=\"warning\" id=\"circularity-{task}\"><b>Partly circular:</b> {shared} of \
             the {rows} rows the {} score is taken on are loss-surface rows the basins were \
             found on, so the tests above ask in part whether barriers on these rows track \
             behaviour on the same rows (<code>metric_held_out = true</code> with a \
             <code>surface</code> of part of the rows scores the rest).</p>",
            esc(&c.set)
        )
    }
}

/// Settings whose partition the verdict on stability counts: every definition of a loss
/// barrier, kernel width and method at the study's k (a different k is shown, not counted).
fn counted(v: &Variant) -> bool {
    v.group != "k" && !v.reported
}

fn robustness(t: &TaskInputs, c: &Controls) -> String {
    let task = esc(t.task);
    let strategy_sets: Vec<&String> = c
        .robustness
        .first()
        .map(|v| v.ari_vs_strategies.keys().collect())
        .unwrap_or_default();
    let mut s = format!(
        "<table id=\"robustness-{task}\"><tr><th>choice</th><th>setting</th><th>k</th><th>sizes</th><th>ARI with the reported basins</th>"
    );
    for set in &strategy_sets {
        let _ = write!(s, "<th>ARI with the strategies on {}</th>", esc(set));
    }
    s.push_str("<th>silhouette</th><th>eigengap</th></tr>");
    for v in &c.robustness {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&v.group),
            esc(&v.setting),
            if v.reported { " (reported)" } else { "" },
            v.partition.k,
            sizes(&v.partition.labels),
            n(v.ari_vs_reported)
        );
        for set in &strategy_sets {
            let _ = write!(
                s,
                "<td>{}</td>",
                opt(v.ari_vs_strategies.get(*set).copied())
            );
        }
        let _ = write!(
            s,
            "<td>{}</td><td>{}</td></tr>",
            opt(v.silhouette),
            opt(v.eigengap)
        );
    }
    s.push_str("</table>");
    let moved: Vec<String> = c
        .robustness
        .iter()
        .filter(|v| counted(v) && v.ari_vs_reported < SAME)
        .map(|v| {
            format!(
                "{} {} (ARI {})",
                esc(&v.group),
                esc(&v.setting),
                n(v.ari_vs_reported)
            )
        })
        .collect();
    let total = c.robustness.iter().filter(|v| counted(v)).count();
    let _ = write!(
        s,
        "<p id=\"robustness-verdict-{task}\">{}</p>",
        if moved.is_empty() {
            format!(
                "<b>Stable</b>: all {total} other barrier definitions, kernel widths and methods \
                 give the reported partition at ARI &ge; {SAME} (k = 2 to 4 are shown, not counted)."
            )
        } else {
            format!(
                "<b>Not stable</b>: {} of {total} other choices move the partition below ARI \
                 {SAME}: {}.",
                moved.len(),
                moved.join("; ")
            )
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::controls::{analyse, Clustering, Inputs, Method, Width};

    /// Models in two basins (the first half, the second half) by their barriers;
    /// `strategies` and `predicted` as given.
    fn inputs(strategies: Vec<usize>, predicted: Vec<Vec<usize>>) -> Inputs {
        let n = strategies.len();
        let side = |i: usize| usize::from(i >= n / 2);
        let b: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| match (i == j, side(i) == side(j)) {
                        (true, _) => 0.0,
                        (false, true) => 0.05,
                        (false, false) => 1.0,
                    })
                    .collect()
            })
            .collect();
        let barriers: BTreeMap<String, Vec<Vec<f64>>> = ["convexity", "endpoint", "accuracy"]
            .iter()
            .map(|k| (k.to_string(), b.clone()))
            .collect();
        let probs = predicted
            .iter()
            .map(|p| {
                p.iter()
                    .map(|&l| {
                        if l == 0 {
                            vec![0.9, 0.1]
                        } else {
                            vec![0.2, 0.8]
                        }
                    })
                    .collect()
            })
            .collect();
        let drawn = vec![(0.5, strategies.clone())];
        Inputs {
            set: "conflict".into(),
            rows: predicted[0].len(),
            barrier: "convexity".into(),
            barriers,
            reported: (0..n).map(side).collect(),
            clustering: Clustering {
                method: Method::Spectral,
                k: Some(2),
                delta: Width::Fixed(1.0),
            },
            predicted,
            probs,
            strategies: [("conflict".to_string(), strategies)].into(),
            strategy_names: [(
                "conflict".to_string(),
                vec!["rule".into(), "artifact".into()],
            )]
            .into(),
            thresholds: [("conflict".to_string(), drawn)].into(),
            scores: [(
                "conflict".to_string(),
                (0..n).map(|i| 1.0 - side(i) as f64).collect(),
            )]
            .into(),
            permutations: 10_000,
            bootstrap: 200,
            seed: 0,
        }
    }

    #[test]
    fn the_sentence_follows_the_paired_intervals() {
        // Twelve models: the barrier basins are the strategies; the outputs alternate.
        let halves: Vec<usize> = (0..12).map(|i| usize::from(i >= 6)).collect();
        let alternate: Vec<Vec<usize>> = (0..12).map(|i| vec![i % 2, i % 2]).collect();
        let c = analyse(&inputs(halves.clone(), alternate)).unwrap();
        let b = c.source("barrier").unwrap();
        let t = b.strategies["conflict"].test.as_ref().unwrap();
        // 924 arrangements of six and six, two of them the partition.
        assert_eq!((t.ari, t.method.as_str()), (1.0, "exact"));
        assert!((t.p - 2.0 / 924.0).abs() < 1e-12, "{}", t.p);
        assert!(c.source("disagreement").unwrap().ari_vs_barrier < 0.5);
        let s = sentence(&c);
        assert!(
            s.contains("matches the strategies better than either baseline"),
            "{s}"
        );
        // Six models, the same picture: too few to tell (the intervals reach 0).
        let small = analyse(&inputs(
            vec![0, 0, 0, 1, 1, 1],
            vec![
                vec![0, 0],
                vec![1, 1],
                vec![0, 0],
                vec![1, 1],
                vec![0, 0],
                vec![1, 1],
            ],
        ))
        .unwrap();
        let t = small.source("barrier").unwrap().strategies["conflict"]
            .test
            .clone()
            .unwrap();
        // 20 arrangements of three and three, two of them the partition: p = 0.1.
        assert!((t.p - 0.1).abs() < 1e-12, "{}", t.p);
        assert!(
            sentence(&small).contains("cannot tell whether"),
            "{}",
            sentence(&small)
        );
        // Outputs that agree with the basins: no better.
        let same = analyse(&inputs(
            vec![0, 0, 0, 1, 1, 1],
            vec![
                vec![0, 0],
                vec![0, 0],
                vec![0, 0],
                vec![1, 1],
                vec![1, 1],
                vec![1, 1],
            ],
        ))
        .unwrap();
        assert!(
            sentence(&same).contains("does no better than the baselines"),
            "{}",
            sentence(&same)
        );
        // One strategy: no test, and the sentence says why.
        let one = analyse(&inputs(
            vec![0; 6],
            vec![
                vec![0, 0],
                vec![0, 0],
                vec![0, 0],
                vec![1, 1],
                vec![1, 1],
                vec![1, 1],
            ],
        ))
        .unwrap();
        assert!(one.source("barrier").unwrap().strategies["conflict"]
            .test
            .is_none());
        assert!(sentence(&one).contains("every model follows one declared strategy"));
        // The robustness table holds the reported setting, reproducing the partition.
        let own = one.robustness.iter().find(|v| v.reported).unwrap();
        assert_eq!(own.ari_vs_reported, 1.0);
        assert_eq!(one.thresholds["conflict"][0].ari["barrier"], None);
        assert!(one
            .robustness
            .iter()
            .all(|v| v.ari_vs_strategies.is_empty()));
    }
}
