//! A sweep's comparison of its sub-studies (`[sweep]` in a manifest): per sub-study and task,
//! the basins found, and per diagnostic set the gap between the basins' mean scores (largest
//! minus smallest cluster mean), its Mann-Whitney p, and, where the set declares strategies,
//! the adjusted Rand index of basins against them with its permutation p; as a table and, for
//! one numeric swept key, as curves against its value. Each sub-study is one more test of the
//! same question, so every p-value also gets Holm's correction across the sub-studies
//! ([`holm_across`]).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::plot::{esc, Axis, Chart};

/// One sub-study's row of the comparison, from its report's `report.json`.
pub fn summarise(label: &str, values: &Value, report: &Value) -> Value {
    let mut tasks = serde_json::Map::new();
    for (task, t) in report["tasks"].as_object().into_iter().flatten() {
        let mut sets = serde_json::Map::new();
        for (set, row) in t["tests"].as_object().into_iter().flatten() {
            let means: Vec<f64> = row["per_cluster"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["mean"].as_f64())
                .filter(|m| m.is_finite())
                .collect();
            let gap = (means.len() >= 2).then(|| {
                means.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    - means.iter().copied().fold(f64::INFINITY, f64::min)
            });
            let first = &row["comparisons"][0]["mann_whitney"];
            // The controls' permutation test of the basins against the strategies, where run.
            let ari_p = t["controls"]["partitions"][0]["strategies"][set]["test"]["p"].clone();
            sets.insert(
                set.clone(),
                json!({
                    "primary": row["primary"],
                    "in_distribution": row["in_distribution"],
                    "gap": gap,
                    "p": first["p"],
                    "p_holm": first["p_holm"],
                    "ari": t["strategies"][set]["ari"],
                    "ari_p": ari_p,
                    "contingency": t["strategies"][set]["contingency"],
                }),
            );
        }
        tasks.insert(
            task.clone(),
            json!({"k": t["k"], "sizes": t["sizes"], "stability": t["stability"], "sets": sets}),
        );
    }
    json!({"label": label, "values": values, "tasks": tasks})
}

/// Holm's correction across the sub-studies, per task and set: each sub-study's Mann-Whitney p
/// (`p_sweep_holm`) and its ARI permutation p (`ari_p_sweep_holm`) as one family of tests.
pub fn holm_across(rows: &mut [Value]) {
    let mut families: std::collections::BTreeSet<(String, String)> = Default::default();
    for r in rows.iter() {
        for (task, t) in r["tasks"].as_object().into_iter().flatten() {
            for (set, _) in t["sets"].as_object().into_iter().flatten() {
                families.insert((task.clone(), set.clone()));
            }
        }
    }
    for (task, set) in families {
        for (field, out) in [("p", "p_sweep_holm"), ("ari_p", "ari_p_sweep_holm")] {
            let at: Vec<(usize, f64)> = rows
                .iter()
                .enumerate()
                .filter_map(|(i, r)| Some((i, r["tasks"][&task]["sets"][&set][field].as_f64()?)))
                .collect();
            let ps: Vec<f64> = at.iter().map(|a| a.1).collect();
            for ((i, _), adj) in at.iter().zip(crate::stats::holm(&ps)) {
                rows[*i]["tasks"][&task]["sets"][&set][out] = json!(adj);
            }
        }
    }
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x != 0.0 && x.abs() < 1e-3 => format!("{x:.1e}"),
        Some(x) => format!("{x:.3}"),
        None if v.is_null() => "&ndash;".into(),
        None => esc(&v.to_string()),
    }
}

/// The sweep's page: a table of every sub-study, curves of gap and ARI against a single numeric
/// swept key, and a link to each sub-study's own report.
pub fn html(title: &str, keys: &[String], rows: &[Value]) -> String {
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
        for (task, t) in r["tasks"].as_object().into_iter().flatten() {
            for set in t["sets"].as_object().into_iter().flatten().map(|(k, _)| k) {
                if !pairs.contains(&(task.clone(), set.clone())) {
                    pairs.push((task.clone(), set.clone()));
                }
            }
        }
    }
    s.push_str("<table id=\"sweep\"><tr><th>sub-study</th><th>task</th><th>basins (sizes)</th>");
    s.push_str("<th>set</th><th>score</th><th>gap between basins</th><th>Mann-Whitney p (Holm in the study; Holm across the sweep)</th><th>ARI basins vs strategies (permutation p; Holm across the sweep)</th></tr>");
    for r in rows {
        let label = r["label"].as_str().unwrap_or("");
        for (task, set) in &pairs {
            let t = &r["tasks"][task];
            let c = &t["sets"][set];
            let _ = write!(
                s,
                "<tr><td><a href=\"{l}/index.html\">{l}</a></td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({}; {})</td><td>{} ({}; {})</td></tr>",
                esc(task),
                t["k"],
                esc(&t["sizes"].to_string()),
                esc(set),
                esc(c["primary"].as_str().unwrap_or("")),
                num(&c["gap"]),
                num(&c["p"]),
                num(&c["p_holm"]),
                num(&c["p_sweep_holm"]),
                num(&c["ari"]),
                num(&c["ari_p"]),
                num(&c["ari_p_sweep_holm"]),
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
        let x: Vec<Option<f64>> = rows.iter().map(|r| r["values"][key].as_f64()).collect();
        if x.iter().all(Option::is_some) && rows.len() >= 2 {
            let x: Vec<f64> = x.into_iter().flatten().collect();
            s.push_str("<div style=\"display:flex;flex-wrap:wrap;gap:16px\">");
            for (task, set) in &pairs {
                for (what, field) in [
                    ("gap between basins", "gap"),
                    ("ARI basins vs strategies", "ari"),
                ] {
                    let y: Vec<Option<f64>> = rows
                        .iter()
                        .map(|r| r["tasks"][task]["sets"][set][field].as_f64())
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
        let row = |p: f64, ari_p: Option<f64>| json!({"tasks": {"nli": {"sets": {"conflict": {"p": p, "ari_p": ari_p}}}}});
        let mut rows = vec![row(0.01, Some(0.2)), row(0.04, None), row(0.02, Some(0.01))];
        holm_across(&mut rows);
        let got = |i: usize, f: &str| rows[i]["tasks"]["nli"]["sets"]["conflict"][f].as_f64();
        let near = |i: usize, f: &str, want: f64| {
            let v = got(i, f).unwrap_or(f64::NAN);
            assert!((v - want).abs() < 1e-12, "{f} of row {i}: {v} vs {want}");
        };
        // Sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (as stats::holm).
        near(0, "p_sweep_holm", 0.03);
        near(2, "p_sweep_holm", 0.04);
        near(1, "p_sweep_holm", 0.04);
        // A sub-study without the test is not in the family: two p-values, not three.
        near(2, "ari_p_sweep_holm", 0.02);
        near(0, "ari_p_sweep_holm", 0.2);
        assert_eq!(got(1, "ari_p_sweep_holm"), None);
    }
}
