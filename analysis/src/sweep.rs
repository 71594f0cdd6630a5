//! A sweep's comparison of its sub-studies (`[sweep]` in a manifest): per sub-study and task,
//! the basins found, and per diagnostic set the gap between the basins' mean scores (largest
//! minus smallest cluster mean), its Mann-Whitney p, and, where the set declares strategies,
//! the adjusted Rand index of basins against them with its permutation p; as a table and, for
//! one numeric swept key, as curves against its value. Each sub-study is one more test of the
//! same question, so every p-value also gets Holm's correction across the sub-studies
//! ([`holm_across`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plot::{esc, Axis, Chart};
use crate::report::{Agreement, ReportDoc};

/// `sweep.json`: the sweep's title, its swept keys, and one row per sub-study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepDoc {
    pub keys: Vec<String>,
    pub title: String,
    pub variants: Vec<SweepRow>,
}

/// One sub-study: its label, the swept keys' values, and per task what its report found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepRow {
    pub label: String,
    pub tasks: BTreeMap<String, SweepTask>,
    /// The swept keys' values, as the manifest gives them (an object of key to any TOML
    /// value).
    pub values: Value,
}

/// One task of a sub-study: its basins, and per scored set the comparison between them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepTask {
    pub k: usize,
    pub sets: BTreeMap<String, SweepSet>,
    pub sizes: Vec<usize>,
    /// The mean adjusted Rand index over the bootstrap replicates.
    pub stability: Option<f64>,
}

/// One scored set of a task in a sub-study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepSet {
    /// Adjusted Rand index of the basins against the declared strategies (where declared).
    pub ari: Option<f64>,
    /// Its permutation p from the controls (where they ran).
    pub ari_p: Option<f64>,
    /// [`SweepSet::ari_p`] after Holm's correction across the sub-studies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari_p_sweep_holm: Option<f64>,
    /// Basins against strategies (where declared).
    pub contingency: Option<Vec<Vec<usize>>>,
    /// Largest minus smallest basin mean of the score.
    pub gap: Option<f64>,
    pub in_distribution: bool,
    /// The first comparison's Mann-Whitney p, and after Holm's correction in the sub-study.
    pub p: Option<f64>,
    pub p_holm: Option<f64>,
    /// [`SweepSet::p`] after Holm's correction across the sub-studies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_sweep_holm: Option<f64>,
    /// The score's name.
    pub primary: String,
}

/// One sub-study's row of the comparison, from its report's `report.json`.
pub fn summarise(label: &str, values: &Value, report: &ReportDoc) -> SweepRow {
    let mut tasks = BTreeMap::new();
    for (task, t) in &report.tasks {
        let mut sets = BTreeMap::new();
        for (set, row) in &t.tests {
            let means: Vec<f64> = (row.per_cluster.iter())
                .map(|c| c.mean)
                .filter(|m| m.is_finite())
                .collect();
            let gap = (means.len() >= 2).then(|| {
                means.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    - means.iter().copied().fold(f64::INFINITY, f64::min)
            });
            let first = row
                .comparisons
                .first()
                .and_then(|c| c.mann_whitney.as_ref());
            // The controls' permutation test of the basins against the strategies, where run.
            let ari_p = (t.controls.as_ref())
                .and_then(|c| c.partitions.first())
                .and_then(|p| p.strategies.get(set))
                .and_then(|s| s.test.as_ref())
                .map(|test| test.p)
                .filter(|p| p.is_finite());
            let agreement = match t.strategies.get(set) {
                Some(Agreement::Measured(a)) => Some(a),
                _ => None,
            };
            sets.insert(
                set.clone(),
                SweepSet {
                    ari: agreement.and_then(|a| a.ari),
                    ari_p,
                    ari_p_sweep_holm: None,
                    contingency: agreement.map(|a| a.contingency.clone()),
                    gap,
                    in_distribution: row.in_distribution,
                    p: first.map(|m| m.test.p).filter(|p| p.is_finite()),
                    p_holm: first.and_then(|m| m.p_holm),
                    p_sweep_holm: None,
                    primary: row.primary.clone(),
                },
            );
        }
        tasks.insert(
            task.clone(),
            SweepTask {
                k: t.k,
                sets,
                sizes: t.sizes.clone(),
                stability: t.stability,
            },
        );
    }
    SweepRow {
        label: label.to_owned(),
        tasks,
        values: values.clone(),
    }
}

/// Holm's correction across the sub-studies, per task and set: each sub-study's Mann-Whitney p
/// (`p_sweep_holm`) and its ARI permutation p (`ari_p_sweep_holm`) as one family of tests.
pub fn holm_across(rows: &mut [SweepRow]) {
    let mut families: std::collections::BTreeSet<(String, String)> = Default::default();
    for r in rows.iter() {
        for (task, t) in &r.tasks {
            for set in t.sets.keys() {
                families.insert((task.clone(), set.clone()));
            }
        }
    }
    for (task, set) in families {
        correct(rows, &task, &set, |s| s.p, |s| &mut s.p_sweep_holm);
        correct(rows, &task, &set, |s| s.ari_p, |s| &mut s.ari_p_sweep_holm);
    }
}

/// Holm's correction of one p-value of `task`'s `set` over the sub-studies that have it.
fn correct(
    rows: &mut [SweepRow],
    task: &str,
    set: &str,
    p: fn(&SweepSet) -> Option<f64>,
    out: fn(&mut SweepSet) -> &mut Option<f64>,
) {
    let mut sets: Vec<&mut SweepSet> = (rows.iter_mut())
        .filter_map(|r| r.tasks.get_mut(task)?.sets.get_mut(set))
        .filter(|s| p(s).is_some())
        .collect();
    let ps: Vec<f64> = sets.iter().filter_map(|s| p(s)).collect();
    for (s, adj) in sets.iter_mut().zip(crate::stats::holm(&ps)) {
        *out(s) = Some(adj);
    }
}

/// A number to 3 decimals (a small one in scientific notation), or a dash.
fn num(x: Option<f64>) -> String {
    match x.filter(|x| !x.is_nan()) {
        Some(x) if x != 0.0 && x.abs() < 1e-3 => format!("{x:.1e}"),
        Some(x) => format!("{x:.3}"),
        None => "&ndash;".into(),
    }
}

/// The sweep's page: a table of every sub-study, curves of gap and ARI against a single numeric
/// swept key, and a link to each sub-study's own report.
pub fn html(title: &str, keys: &[String], rows: &[SweepRow]) -> String {
    let mut s = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 8px;font-size:13px}}\
         </style></head><body><h1>{t}</h1><p>A sweep over {k}: {n} sub-studies, each a study of \
         its own (its nodes are named after it) whose report is linked below.</p>",
        t = esc(title),
        k = keys
            .iter()
            .map(|k| format!("<code>{}</code>", esc(k)))
            .collect::<Vec<_>>()
            .join(" &times; "),
        n = rows.len()
    );
    let mut pairs: Vec<(String, String)> = Vec::new();
    for r in rows {
        for (task, t) in &r.tasks {
            for set in t.sets.keys() {
                if !pairs.contains(&(task.clone(), set.clone())) {
                    pairs.push((task.clone(), set.clone()));
                }
            }
        }
    }
    s.push_str("<table id=\"sweep\"><tr><th>sub-study</th><th>task</th><th>basins (sizes)</th>");
    s.push_str("<th>set</th><th>score</th><th>gap between basins</th><th>Mann-Whitney p (Holm in the study; Holm across the sweep)</th><th>ARI basins vs strategies (permutation p; Holm across the sweep)</th></tr>");
    for r in rows {
        let label = &r.label;
        for (task, set) in &pairs {
            // A sub-study without this task or set (a sweep over its diagnostics): dashes.
            let t = r.tasks.get(task);
            let c = t.and_then(|t| t.sets.get(set));
            let sizes: Vec<String> = (t.into_iter())
                .flat_map(|t| t.sizes.iter().map(usize::to_string))
                .collect();
            let _ = write!(
                s,
                "<tr><td><a href=\"{l}/index.html\">{l}</a></td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({}; {})</td><td>{} ({}; {})</td></tr>",
                esc(task),
                t.map_or("&ndash;".into(), |t| t.k.to_string()),
                esc(&format!("[{}]", sizes.join(","))),
                esc(set),
                esc(c.map_or("", |c| c.primary.as_str())),
                num(c.and_then(|c| c.gap)),
                num(c.and_then(|c| c.p)),
                num(c.and_then(|c| c.p_holm)),
                num(c.and_then(|c| c.p_sweep_holm)),
                num(c.and_then(|c| c.ari)),
                num(c.and_then(|c| c.ari_p)),
                num(c.and_then(|c| c.ari_p_sweep_holm)),
                l = esc(label)
            );
        }
    }
    s.push_str(
        "</table><p>Each sub-study tests the same question once more: the p-values \
                 after the semicolons are corrected by Holm's method across the sub-studies, \
                 per task and set.</p>",
    );
    if keys.len() == 1 {
        let key = &keys[0];
        let x: Vec<Option<f64>> = (rows.iter())
            .map(|r| r.values.get(key).and_then(Value::as_f64))
            .collect();
        if x.iter().all(Option::is_some) && rows.len() >= 2 {
            let x: Vec<f64> = x.into_iter().flatten().collect();
            s.push_str("<div style=\"display:flex;flex-wrap:wrap;gap:16px\">");
            for (task, set) in &pairs {
                type Field = fn(&SweepSet) -> Option<f64>;
                let fields: [(&str, Field); 2] = [
                    ("gap between basins", |c| c.gap),
                    ("ARI basins vs strategies", |c| c.ari),
                ];
                for (what, field) in fields {
                    let y: Vec<Option<f64>> = (rows.iter())
                        .map(|r| r.tasks.get(task)?.sets.get(set).and_then(field))
                        .collect();
                    if y.iter().any(Option::is_some) {
                        s.push_str(&curve(&format!("{task} / {set}: {what}"), key, &x, &y));
                    }
                }
            }
            s.push_str("</div>");
        }
    }
    s.push_str("</body></html>");
    s
}

/// One quantity against the swept value, with labelled axes and tick values.
fn curve(title: &str, key: &str, x: &[f64], y: &[Option<f64>]) -> String {
    let ys: Vec<f64> = y.iter().flatten().copied().collect();
    // The y axis starts at zero (or below, for a negative value): gaps and indices are read
    // against it.
    let chart = Chart::new(
        360.0,
        240.0,
        Axis::over(x.iter().copied(), 4, key),
        Axis::over(ys.iter().copied().chain([0.0]), 4, ""),
    );
    let mut s = chart.open(title, title);
    let pts: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter_map(|(&a, b)| b.map(|b| (chart.px(a), chart.py(b))))
        .collect();
    let line: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"#0072B2\" stroke-width=\"2\" points=\"{}\"/>",
        line.join(" ")
    );
    for (a, b) in &pts {
        let _ = write!(
            s,
            "<circle cx=\"{a:.1}\" cy=\"{b:.1}\" r=\"3\" fill=\"#0072B2\"/>"
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_is_taken_across_the_sub_studies_per_set() {
        let row = |p: f64, ari_p: Option<f64>| SweepRow {
            label: String::new(),
            values: Value::Null,
            tasks: [(
                "nli".to_owned(),
                SweepTask {
                    k: 2,
                    sizes: vec![2, 2],
                    stability: None,
                    sets: [(
                        "conflict".to_owned(),
                        SweepSet {
                            ari: None,
                            ari_p,
                            ari_p_sweep_holm: None,
                            contingency: None,
                            gap: None,
                            in_distribution: false,
                            p: Some(p),
                            p_holm: None,
                            p_sweep_holm: None,
                            primary: "accuracy".into(),
                        },
                    )]
                    .into(),
                },
            )]
            .into(),
        };
        let mut rows = vec![row(0.01, Some(0.2)), row(0.04, None), row(0.02, Some(0.01))];
        holm_across(&mut rows);
        let got = |i: usize| rows[i].tasks["nli"].sets["conflict"].clone();
        let near = |v: Option<f64>, want: f64| {
            let v = v.unwrap_or(f64::NAN);
            assert!((v - want).abs() < 1e-12, "{v} vs {want}");
        };
        // Sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (as stats::holm).
        near(got(0).p_sweep_holm, 0.03);
        near(got(2).p_sweep_holm, 0.04);
        near(got(1).p_sweep_holm, 0.04);
        // A sub-study without the test is not in the family: two p-values, not three.
        near(got(2).ari_p_sweep_holm, 0.02);
        near(got(0).ari_p_sweep_holm, 0.2);
        assert_eq!(got(1).ari_p_sweep_holm, None);
    }
}
