//! The study report: one self-contained HTML page (inline SVG, no script, no network) with,
//! per task, the barrier heatmap in dendrogram order with cluster bands, the interpolation
//! curves within and between clusters, each diagnostic score against the centroid-distance coordinate,
//! and a per-cluster table with tests; then the study's settings and provenance. Everything
//! shown is also in `report.json` and CSV files.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::diagnostics::spread;
use crate::stats::{holm, mann_whitney, pearson, permutation};

/// Relabellings the permutation test enumerates exactly (or draws at random past that).
const PERMUTATIONS: usize = 100_000;

/// Colours for clusters (colour-blind safe, Okabe-Ito).
const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
];

fn colour(c: usize) -> &'static str {
    PALETTE[c % PALETTE.len()]
}

/// A number to 3 decimals, or a dash.
fn num(v: &Value) -> String {
    v.as_f64().map_or("&ndash;".into(), |x| format!("{x:.3}"))
}

/// A number to 4 decimals, or a dash.
fn fine(v: &Value) -> String {
    v.as_f64().map_or("&ndash;".into(), |x| format!("{x:.4}"))
}

/// Escape text for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One task's analysis, as the report stage reads it from its inputs.
pub struct TaskInputs<'a> {
    pub task: &'a str,
    pub barriers: &'a Value,
    pub cluster: &'a Value,
    pub diagnostics: Option<&'a Value>,
}

impl TaskInputs<'_> {
    fn seeds(&self) -> Vec<u64> {
        serde_json::from_value(self.cluster["seeds"].clone()).unwrap_or_default()
    }

    /// How the page names each model, in seed order: a zoo member's name, or the seed.
    pub fn names(&self) -> Vec<String> {
        let names = self.cluster["names"].as_array();
        self.seeds()
            .iter()
            .enumerate()
            .map(|(i, s)| match names.and_then(|n| n[i].as_str()) {
                Some(n) => n.to_owned(),
                None => s.to_string(),
            })
            .collect()
    }

    fn assignments(&self) -> Vec<usize> {
        serde_json::from_value(self.cluster["assignments"].clone()).unwrap_or_default()
    }

    /// Each model's place on the paper's centroid-distance coordinate (distance to the first
    /// cluster's k-means centroid minus distance to the second's, in the spectral embedding).
    pub fn coordinate(&self) -> Vec<f64> {
        self.cluster["coordinate"]
            .as_array()
            .map(|e| e.iter().map(|p| p.as_f64().unwrap_or(f64::NAN)).collect())
            .unwrap_or_default()
    }
}

/// Per-cluster statistics of every eval set's primary score, and Pearson r of each score
/// against the centroid-distance coordinate. For the task's own (in-distribution) splits also a row for
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
        let counts = json!({"rows": set["rows"], "score_rows": set["score_rows"], "surface_rows": set["surface_rows"]});
        let mut row = score_row(t, name, primary, in_distribution, score);
        row["counts"] = counts.clone();
        rows.insert(name.clone(), row);
        if in_distribution && primary != "accuracy" {
            let acc = per_model(&|m| m["overall"]["accuracy"].as_f64());
            let mut row = score_row(t, name, "accuracy", true, acc);
            row["counts"] = json!({"rows": set["rows"], "score_rows": set["rows"], "surface_rows": set["surface_rows"]});
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
        let names: Vec<String> = [&rule["rule"]["above"], &rule["rule"]["below"]]
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
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
                "labels": labels.iter().map(|&l| &names[l]).collect::<Vec<_>>(),
                "contingency": table,
                "ari": if ari.is_finite() && note.is_none() { json!(ari) } else { Value::Null },
                "ari_note": note,
            }),
        );
    }
    Value::Object(out)
}

/// The contingency tables of basins against strategies, with their ARI.
fn strategy_tables(agreement: &Value, t: &TaskInputs) -> String {
    let mut s = String::new();
    for (set, a) in agreement.as_object().into_iter().flatten() {
        if s.is_empty() {
            s.push_str("<h3>Basins and strategies</h3>");
        }
        let Some(names) = a["strategies"].as_array() else {
            let _ = write!(
                s,
                "<p class=\"warning\">{}: {}</p>",
                esc(set),
                esc(&a["error"].to_string())
            );
            continue;
        };
        let _ = write!(
            s,
            "<table id=\"strategies-{}-{}\"><tr><th>{} (score &ge; {} / below)</th>",
            esc(t.task),
            esc(set),
            esc(set),
            num(&a["threshold"])
        );
        for n in names {
            let _ = write!(s, "<th>{}</th>", esc(n.as_str().unwrap_or("")));
        }
        s.push_str("</tr>");
        for (c, row) in a["contingency"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let _ = write!(s, "<tr><td>basin {c}</td>");
            for n in row.as_array().into_iter().flatten() {
                let _ = write!(s, "<td>{n}</td>");
            }
            s.push_str("</tr>");
        }
        match a["ari_note"].as_str() {
            Some(note) => {
                let _ = write!(
                    s,
                    "</table><p class=\"note\">No adjusted Rand index on {}: {}, so there is no \
                     agreement to measure.</p>",
                    esc(set),
                    esc(note)
                );
            }
            None => {
                let _ = write!(
                    s,
                    "</table><p>Adjusted Rand index between the basins and the strategies on {}: \
                     <b>{}</b> (1: the basins are the strategies; about 0: no more agreement \
                     than chance).</p>",
                    esc(set),
                    num(&a["ari"])
                );
            }
        }
    }
    s
}

/// The barrier the clustering used, as a matrix over the models (seed order).
fn barrier_matrix(t: &TaskInputs) -> Vec<Vec<f64>> {
    let set = t.cluster["eval"].as_str().unwrap_or_default();
    let kind = t.cluster["barrier"].as_str().unwrap_or("convexity");
    let m = &t.barriers["sets"][set]["matrices"][kind]["value"];
    m.as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            (row.as_array().into_iter().flatten())
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// What was found, in words made from the numbers: the basins and the barriers within and
/// between them, which scores differ between the basins at Holm-corrected p < 0.05 (or that none
/// does), and how the basins match declared strategies.
pub fn verdict(t: &TaskInputs, tests: &Value, agreement: &Value) -> String {
    let assign = t.assignments();
    let k = assign.iter().max().map_or(0, |m| m + 1);
    let m = barrier_matrix(t);
    let (mut within, mut between) = (Vec::new(), Vec::new());
    for i in 0..assign.len() {
        for j in i + 1..assign.len() {
            let b = m.get(i).and_then(|r| r.get(j)).copied().unwrap_or(f64::NAN);
            if assign[i] == assign[j] {
                within.push(b);
            } else {
                between.push(b);
            }
        }
    }
    let f = |x: Option<f64>| x.map_or("&ndash;".to_owned(), |x| format!("{x:.3}"));
    let barrier = esc(t.cluster["barrier"].as_str().unwrap_or("convexity"));
    let mut s = match k {
        0 => return String::new(),
        1 => format!(
            "All {} models form one basin (median {barrier} barrier between them {}).",
            assign.len(),
            f(median(within))
        ),
        _ => {
            let sizes: Vec<String> = (0..k)
                .map(|c| assign.iter().filter(|&&a| a == c).count().to_string())
                .collect();
            format!(
                "{k} basins of {} models, separated by a median {barrier} barrier of {} between \
                 basins against {} within them.",
                sizes.join(", "),
                f(median(between)),
                f(median(within))
            )
        }
    };
    if k >= 2 {
        let mut differ = Vec::new();
        let mut smallest: Option<(f64, String)> = None;
        for row in tests.as_object().into_iter().flatten().map(|(_, r)| r) {
            let name = format!(
                "{} {}",
                esc(row["set"].as_str().unwrap_or("")),
                esc(row["primary"].as_str().unwrap_or(""))
            );
            let Some(p) = row["comparisons"][0]["mann_whitney"]["p_holm"].as_f64() else {
                continue;
            };
            if smallest.as_ref().is_none_or(|(q, _)| p < *q) {
                smallest = Some((p, name.clone()));
            }
            if p < 0.05 {
                let means: Vec<String> = (row["per_cluster"].as_array().into_iter().flatten())
                    .map(|c| num(&c["mean"]))
                    .collect();
                differ.push(format!(
                    "{name} ({}; p<sub>Holm</sub> = {p:.2e})",
                    means.join(" vs ")
                ));
            }
        }
        s.push(' ');
        s.push_str(&match (differ.is_empty(), smallest) {
            (false, _) => format!(
                "Between the basins these scores differ: {}.",
                differ.join("; ")
            ),
            (true, Some((p, name))) => format!(
                "No score differs between the basins at Holm-corrected p &lt; 0.05 (the \
                 smallest: {name}, p<sub>Holm</sub> = {p:.2})."
            ),
            (true, None) => "No score could be compared between the basins.".into(),
        });
    }
    for (set, a) in agreement.as_object().into_iter().flatten() {
        s.push(' ');
        s.push_str(&match (a["ari"].as_f64(), a["ari_note"].as_str()) {
            (Some(ari), _) => format!(
                "Against the strategies declared on {}, the basins score an adjusted Rand index \
                 of {ari:.2}.",
                esc(set)
            ),
            (None, Some(note)) => format!("On {}, {}.", esc(set), esc(note)),
            (None, None) => String::new(),
        });
    }
    s
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
/// the centroid-distance coordinate; Holm's correction is applied over the task's table.
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
    })
}

/// The barrier matrix of the clustering's eval set and definition, in dendrogram order.
fn heatmap(t: &TaskInputs) -> String {
    let set = t.cluster["eval"].as_str().unwrap_or_default();
    let kind = t.cluster["barrier"].as_str().unwrap_or("convexity");
    let m = &t.barriers["sets"][set]["matrices"][kind]["value"];
    let seeds = t.seeds();
    let order: Vec<u64> =
        serde_json::from_value(t.cluster["dendrogram"]["order"].clone()).unwrap_or_default();
    let assign = t.assignments();
    let pos = |s: u64| seeds.iter().position(|&x| x == s).unwrap_or(0);
    let names = t.names();
    let n = order.len();
    let max = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .filter_map(|(i, j)| m[i][j].as_f64())
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let cell = (360 / n.max(1)).clamp(6, 40);
    let (left, top) = (60, 30);
    let size = left + cell * n + 120;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size}\" height=\"{}\" role=\"img\" aria-label=\"barrier heatmap\">",
        top + cell * n + 40
    );
    for (r, &a) in order.iter().enumerate() {
        let (x, y) = (left + r * cell, top + r * cell);
        let c = colour(assign[pos(a)]);
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"{cell}\" height=\"8\" fill=\"{c}\"/>",
            top - 12
        );
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{y}\" width=\"8\" height=\"{cell}\" fill=\"{c}\"/>",
            left - 12
        );
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            left - 16,
            y + cell / 2 + 3,
            esc(&names[pos(a)])
        );
        for (q, &b) in order.iter().enumerate() {
            let v = m[pos(a)][pos(b)].as_f64();
            let fill = match v {
                Some(v) => {
                    let t = (v / max).clamp(0.0, 1.0);
                    let g = (255.0 * (1.0 - t)) as u8;
                    format!("rgb(255,{g},{g})")
                }
                None => "#ddd".into(),
            };
            let title = v.map_or("not interpolated".into(), |v| format!("{v:.4}"));
            let _ = write!(
                s,
                "<rect x=\"{}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#ccc\" stroke-width=\"0.5\"><title>{} ~ {}: {title}</title></rect>",
                left + q * cell,
                esc(&names[pos(a)]),
                esc(&names[pos(b)])
            );
        }
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\">{kind} barrier on {}, 0 (white) to {max:.3} (red)</text></svg>",
        left,
        top + cell * n + 20,
        esc(set)
    );
    s
}

/// Loss along every path of the clustering's eval set, within clusters in blue, between in
/// red.
fn curves(t: &TaskInputs) -> String {
    let set = t.cluster["eval"].as_str().unwrap_or_default();
    let b = &t.barriers["sets"][set];
    let alphas: Vec<f64> = serde_json::from_value(b["alphas"].clone()).unwrap_or_default();
    let seeds = t.seeds();
    let assign = t.assignments();
    let pos = |s: u64| seeds.iter().position(|&x| x == s).unwrap_or(0);
    let paths: Vec<(bool, Vec<f64>)> = b["curves"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(pair, c)| {
            let (x, y) = pair.split_once('~')?;
            let same = assign[pos(x.parse().ok()?)] == assign[pos(y.parse().ok()?)];
            Some((same, serde_json::from_value(c["loss"].clone()).ok()?))
        })
        .collect();
    let (lo, hi) = paths
        .iter()
        .flat_map(|p| p.1.iter().copied())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (w, h, pad) = (420.0, 240.0, 40.0);
    let span = (hi - lo).max(1e-9);
    let px = |a: f64| pad + a * (w - 2.0 * pad);
    let py = |v: f64| h - pad - (v - lo) / span * (h - 2.0 * pad);
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"interpolation curves\">");
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#444\"/>",
        h - pad,
        w - pad,
        h - pad
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{}\" stroke=\"#444\"/>",
        h - pad
    );
    for (same, loss) in &paths {
        let pts: Vec<String> = alphas
            .iter()
            .zip(loss)
            .map(|(a, v)| format!("{:.1},{:.1}", px(*a), py(*v)))
            .collect();
        let c = if *same { "#0072B2" } else { "#D55E00" };
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-opacity=\"0.6\"/>",
            pts.join(" ")
        );
    }
    let _ = write!(
        s,
        "<text x=\"{pad}\" y=\"16\" font-size=\"11\">loss on {} vs alpha ({lo:.3} to {hi:.3}); blue: same cluster, red: different</text>\
         <text x=\"{pad}\" y=\"{}\" font-size=\"10\">0</text><text x=\"{}\" y=\"{}\" font-size=\"10\">1</text></svg>",
        esc(set),
        h - pad + 14.0,
        w - pad - 4.0,
        h - pad + 14.0
    );
    s
}

/// Each model's score on one set against its centroid-distance coordinate, coloured by cluster.
fn scatter(t: &TaskInputs, set: &str, tests: &Value) -> String {
    let (assign, coord) = (t.assignments(), t.coordinate());
    let score: Vec<f64> = tests[set]["scores"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_f64().unwrap_or(f64::NAN))
        .collect();
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, (hi - lo).max(1e-9))
    };
    let ((xl, xs), (yl, ys)) = (range(&coord), range(&score));
    let (w, h, pad) = (300.0, 220.0, 36.0);
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"score vs coordinate\">");
    let _ = write!(
        s,
        "<rect x=\"{pad}\" y=\"{pad}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>",
        w - 2.0 * pad,
        h - 2.0 * pad
    );
    for i in (0..coord.len().min(score.len())).filter(|&i| score[i].is_finite()) {
        let x = pad + (coord[i] - xl) / xs * (w - 2.0 * pad);
        let y = h - pad - (score[i] - yl) / ys * (h - 2.0 * pad);
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{}\"/>",
            colour(assign[i])
        );
    }
    let r = &tests[set]["pearson_vs_coordinate"];
    let label = match (r["r"].as_f64(), r["p"].as_f64()) {
        (Some(r), Some(p)) => format!("Pearson r = {r:.3} (p = {p:.3})"),
        _ => "Pearson r undefined".into(),
    };
    let _ = write!(
        s,
        "<text x=\"{pad}\" y=\"20\" font-size=\"11\">{}: {label}</text><text x=\"{pad}\" y=\"{}\" font-size=\"10\">centroid-distance coordinate</text></svg>",
        esc(set),
        h - 10.0
    );
    s
}

fn table(tests: &Value, k: usize) -> String {
    let mut s =
        String::from("<table><tr><th>set</th><th>score</th><th>rows scored (score / surface)</th>");
    for c in 0..k {
        let _ = write!(s, "<th>cluster {c}: mean &plusmn; sd (n)</th>");
    }
    s.push_str(
        "<th>Mann-Whitney p (Holm)</th><th>permutation p (Holm)</th><th>Pearson r vs coordinate</th></tr>",
    );
    let f = num;
    let mut notes = Vec::new();
    for t in tests.as_object().into_iter().flatten().map(|(_, t)| t) {
        let id = if t["in_distribution"] == json!(true) {
            " (in-distribution)"
        } else {
            ""
        };
        let set = esc(t["set"].as_str().unwrap_or(""));
        let count = |v: &Value| v.as_u64().map_or("&ndash;".into(), |n| n.to_string());
        let c = &t["counts"];
        let _ = write!(
            s,
            "<tr><td>{set}</td><td>{}{id}</td><td>{} ({} / {})</td>",
            esc(t["primary"].as_str().unwrap_or("")),
            count(&c["rows"]),
            count(&c["score_rows"]),
            count(&c["surface_rows"])
        );
        for c in 0..k {
            let p = &t["per_cluster"][c];
            let _ = write!(
                s,
                "<td>{} &plusmn; {} ({})</td>",
                f(&p["mean"]),
                f(&p["std"]),
                p["n"]
            );
        }
        let first = &t["comparisons"][0];
        let _ = write!(
            s,
            "<td>{} ({})</td><td>{} ({})</td><td>{} (p {})</td></tr>",
            f(&first["mann_whitney"]["p"]),
            f(&first["mann_whitney"]["p_holm"]),
            f(&first["permutation"]["p"]),
            f(&first["permutation"]["p_holm"]),
            f(&t["pearson_vs_coordinate"]["r"]),
            f(&t["pearson_vs_coordinate"]["p"])
        );
        if let Some(ex) = t["excluded"].as_array().filter(|e| !e.is_empty()) {
            let names: Vec<String> = ex.iter().map(|n| esc(n.as_str().unwrap_or(""))).collect();
            notes.push(format!(
                "{set}: no score for model(s) {}, left out of every statistic",
                names.join(", ")
            ));
        }
    }
    s.push_str("</table>");
    if !notes.is_empty() {
        let _ = write!(s, "<p class=\"note\">{}.</p>", notes.join("; "));
    }
    s.push_str("<p>Holm's correction is taken over every comparison in this table.</p>");
    s
}

/// One sentence setting in-distribution accuracy's correlation with the coordinate
/// beside each diagnostic's: where a diagnostic tracks the coordinate and accuracy does not, the
/// basins carry information that accuracy does not.
fn id_comparison(tests: &Value) -> String {
    let rows: Vec<&Value> = tests
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, t)| t)
        .collect();
    let r = |t: &Value| {
        format!(
            "{} {}: r = {}",
            esc(t["set"].as_str().unwrap_or("")),
            esc(t["primary"].as_str().unwrap_or("")),
            num(&t["pearson_vs_coordinate"]["r"])
        )
    };
    let id = rows
        .iter()
        .find(|t| t["in_distribution"] == json!(true) && t["primary"] == "accuracy");
    let diag: Vec<String> = rows
        .iter()
        .filter(|t| t["in_distribution"] == json!(false))
        .map(|t| r(t))
        .collect();
    match id {
        Some(id) if !diag.is_empty() => format!(
            "<p id=\"id-vs-diagnostics\">Spectral coordinate against in-distribution accuracy ({}) and against each diagnostic ({}).</p>",
            r(id),
            diag.join("; ")
        ),
        _ => String::new(),
    }
}

/// The whole page.
pub fn html(
    title: &str,
    tasks: &[(TaskInputs, Value, Value)],
    config: &Value,
    provenance: &Value,
) -> String {
    let mut s = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 8px;font-size:13px}}\
         .row{{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}}pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}}\
         </style></head><body><h1>{t}</h1>",
        t = esc(title)
    );
    for (t, tests, agreement) in tasks {
        let k = t.cluster["k"].as_u64().unwrap_or(0) as usize;
        let sizes = &t.cluster["sizes"];
        let _ = write!(
            s,
            "<h2>Task {}</h2><p class=\"verdict\" id=\"verdict-{0}\"><b>{}</b></p><p id=\"summary-{0}\">{k} basin(s) of sizes {sizes} by {} clustering of the {} barrier on {}; silhouette {}; stability (mean adjusted Rand index over {} bootstrap replicates) {}.</p>",
            esc(t.task),
            verdict(t, tests, agreement),
            esc(t.cluster["method"].as_str().unwrap_or("")),
            esc(t.cluster["barrier"].as_str().unwrap_or("")),
            esc(t.cluster["eval"].as_str().unwrap_or("")),
            num(&t.cluster["silhouette"]),
            t.cluster["stability"]["replicates"],
            num(&t.cluster["stability"]["mean_ari"])
        );
        let _ = write!(
            s,
            "<p>Affinity exp(-B&sup2; / 2&delta;&sup2;) with &delta; = {} ({}).</p>",
            num(&t.cluster["delta_used"]),
            esc(&t.cluster["delta"].to_string())
        );
        if t.cluster["affinity"]["nearly_constant"] == json!(true) {
            let _ = write!(
                s,
                "<p class=\"warning\" id=\"nearly-constant-{}\"><b>Warning:</b> with this &delta; every \
                 off-diagonal affinity lies between {} and {}: the partition rests on small \
                 differences and the eigengap says little. A kernel width at the barriers' scale \
                 (<code>delta = \"median\"</code> in <code>[cluster]</code>) separates them.</p>",
                esc(t.task),
                fine(&t.cluster["affinity"]["min"]),
                fine(&t.cluster["affinity"]["max"])
            );
        }
        let _ = write!(s, "<div class=\"row\">{}{}</div>", heatmap(t), curves(t));
        let _ = write!(
            s,
            "<h3>Diagnostics by basin</h3>{}{}{}<div class=\"row\">",
            table(tests, k),
            id_comparison(tests),
            strategy_tables(agreement, t)
        );
        for name in tests.as_object().into_iter().flatten().map(|(n, _)| n) {
            s.push_str(&scatter(t, name, tests));
        }
        s.push_str("</div>");
    }
    let _ = write!(
        s,
        "<h2>Study settings</h2>{}<details><summary>the settings as JSON</summary><pre>{}</pre></details>\
         <h2>Provenance</h2><pre>{}</pre></body></html>",
        settings_table(config),
        esc(&serde_json::to_string_pretty(config).unwrap_or_default()),
        esc(&serde_json::to_string_pretty(provenance).unwrap_or_default())
    );
    s
}

/// The settings as a table of dotted keys and human numbers (4 significant digits; long lists
/// of numbers shortened to their ends and count).
fn settings_table(config: &Value) -> String {
    let mut rows = Vec::new();
    flatten("", config, &mut rows);
    let mut s = String::from("<table id=\"settings\"><tr><th>setting</th><th>value</th></tr>");
    for (k, v) in rows {
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            esc(&k),
            esc(&v)
        );
    }
    s.push_str("</table>");
    s
}

fn flatten(prefix: &str, v: &Value, rows: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, x) in o {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, rows);
            }
        }
        Value::Null => {}
        other => rows.push((prefix.to_owned(), human(other))),
    }
}

/// A value as a reader wants it: `0.1111111111111111` as `0.1111`, `2e-05` as `2e-5`, a list of
/// ten alphas as `0, 0.1111, …, 1 (10 values)`.
fn human(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
                let s = format!("{x:.3e}");
                // 2.000e-5 -> 2e-5
                let (m, e) = s.split_once('e').unwrap_or((&s, ""));
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            } else {
                let s = format!("{:.4}", x);
                s.trim_end_matches('0').trim_end_matches('.').to_owned()
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(a) if a.len() > 6 && a.iter().all(Value::is_number) => format!(
            "{}, {}, …, {} ({} values)",
            human(&a[0]),
            human(&a[1]),
            human(&a[a.len() - 1]),
            a.len()
        ),
        Value::Array(a) => a.iter().map(human).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(cluster: &'a Value, barriers: &'a Value) -> TaskInputs<'a> {
        TaskInputs {
            task: "nli",
            barriers,
            cluster,
            diagnostics: None,
        }
    }

    #[test]
    fn settings_read_as_numbers_a_person_writes() {
        assert_eq!(human(&json!(0.1111111111111111)), "0.1111");
        assert_eq!(human(&json!(2e-5)), "2e-5");
        assert_eq!(human(&json!(3.0)), "3");
        assert_eq!(human(&json!(32)), "32");
        let alphas: Vec<f64> = (0..10).map(|i| i as f64 / 9.0).collect();
        assert_eq!(human(&json!(alphas)), "0, 0.1111, …, 1 (10 values)");
        let t = settings_table(
            &json!({"finetune": {"hyper": {"lr": 1e-3, "vary": ["data_order"]}}, "x": null}),
        );
        assert!(
            t.contains("<td><code>finetune.hyper.lr</code></td><td>0.001</td>"),
            "{t}"
        );
        assert!(
            t.contains("<td><code>finetune.hyper.vary</code></td><td>data_order</td>"),
            "{t}"
        );
        assert!(!t.contains("<code>x</code>"), "{t}");
    }

    #[test]
    fn the_verdict_is_made_from_the_numbers() {
        let cluster = json!({"seeds": [0, 1, 2, 3], "assignments": [0, 0, 1, 1],
            "eval": "dev", "barrier": "convexity"});
        let barriers = json!({"sets": {"dev": {"matrices": {"convexity": {"value": [
            [0.0, 0.01, 0.30, 0.40],
            [0.01, 0.0, 0.50, 0.20],
            [0.30, 0.50, 0.0, 0.03],
            [0.40, 0.20, 0.03, 0.0]]}}}}});
        let t = inputs(&cluster, &barriers);
        let differs = json!({"hans": {"set": "hans", "primary": "accuracy",
            "per_cluster": [{"mean": 0.2}, {"mean": 0.9}],
            "comparisons": [{"mann_whitney": {"p": 0.001, "p_holm": 0.004}}]}});
        let v = verdict(&t, &differs, &json!({}));
        assert!(
            v.starts_with("2 basins of 2, 2 models, separated by a median convexity barrier of 0.350 between basins against 0.020 within them."),
            "{v}"
        );
        assert!(
            v.contains(
                "these scores differ: hans accuracy (0.200 vs 0.900; p<sub>Holm</sub> = 4.00e-3)"
            ),
            "{v}"
        );
        let none = json!({"hans": {"set": "hans", "primary": "accuracy",
            "per_cluster": [{"mean": 0.5}, {"mean": 0.52}],
            "comparisons": [{"mann_whitney": {"p": 0.6, "p_holm": 0.8}}]}});
        let v = verdict(&t, &none, &json!({"hans": {"ari": 0.5}}));
        assert!(v.contains("No score differs between the basins at Holm-corrected p &lt; 0.05 (the smallest: hans accuracy, p<sub>Holm</sub> = 0.80)."), "{v}");
        assert!(v.ends_with("Against the strategies declared on hans, the basins score an adjusted Rand index of 0.50."), "{v}");
        let one =
            json!({"seeds": [0, 1], "assignments": [0, 0], "eval": "dev", "barrier": "convexity"});
        let v = verdict(&inputs(&one, &barriers), &none, &json!({}));
        assert_eq!(
            v,
            "All 2 models form one basin (median convexity barrier between them 0.010)."
        );
    }
}
