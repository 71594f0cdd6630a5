//! The page's tables: scores by basin with their tests, basins against strategies, and the
//! sentence that sets in-distribution accuracy beside the diagnostics.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{esc, num, pval, TaskInputs};

/// The contingency tables of basins against strategies, with their ARI.
pub fn strategies(agreement: &Value, t: &TaskInputs) -> String {
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
        let by = match a["kinds"].as_str() {
            Some(kinds) => format!(
                "accuracy &ge; {} on each kind of <code>{}</code>",
                num(&a["threshold"]),
                esc(kinds)
            ),
            None => format!("score &ge; {} / below", num(&a["threshold"])),
        };
        let _ = write!(
            s,
            "<table id=\"strategies-{}-{}\"><tr><th>{} ({by})</th>",
            esc(t.task),
            esc(set),
            esc(set)
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

/// Every score's spread per basin and its tests.
pub fn scores(tests: &Value, k: usize) -> String {
    let mut s = String::from(
        "<table><tr><th>set</th><th>score</th><th>rows scored (of the set's)</th><th>of them loss-surface rows (of the surface's)</th>",
    );
    for c in 0..k {
        let _ = write!(s, "<th>basin {c}: mean &plusmn; sd (n)</th>");
    }
    s.push_str(
        "<th>compared</th><th>Mann-Whitney p (Holm)</th><th>permutation p (Holm)</th><th>Pearson r vs spectral coordinate (p)</th><th>Spearman &rho; (p)</th></tr>",
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
            "<tr><td>{set}</td><td>{}{id}</td><td>{} of {}</td><td>{} of {}</td>",
            esc(t["primary"].as_str().unwrap_or("")),
            count(&c["score_rows"]),
            count(&c["rows"]),
            count(&c["shared"]),
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
        let first = strongest(t);
        let _ = write!(
            s,
            "<td>{}</td><td>{} ({})</td><td>{} ({})</td><td>{} ({})</td><td>{} ({})</td></tr>",
            compared(first),
            pval(&first["mann_whitney"]["p"]),
            pval(&first["mann_whitney"]["p_holm"]),
            pval(&first["permutation"]["p"]),
            pval(&first["permutation"]["p_holm"]),
            f(&t["pearson_vs_coordinate"]["r"]),
            pval(&t["pearson_vs_coordinate"]["p"]),
            f(&t["spearman_vs_coordinate"]["r"]),
            pval(&t["spearman_vs_coordinate"]["p"])
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
    s.push_str(
        "<p>Holm's correction is taken over every comparison in this table. The basins are \
         clusters found from the data, so these tests treat them as fixed: a p-value here says \
         the scores differ between the groups found, not that such groups exist. \
         With more than two basins each is compared with the rest, and the table shows the \
         comparison with the smallest p (named in <i>compared</i>). Loss-surface rows among the \
         scored rows: above 0, the basins were found partly on the rows they are scored on.</p>",
    );
    s
}

/// A score row's comparison with the smallest Mann-Whitney p (with two basins, the only one).
pub(super) fn strongest(row: &Value) -> &Value {
    row["comparisons"]
        .as_array()
        .into_iter()
        .flatten()
        .min_by(|a, b| {
            let p = |c: &Value| c["mann_whitney"]["p"].as_f64().unwrap_or(f64::INFINITY);
            p(a).total_cmp(&p(b))
        })
        .unwrap_or(&Value::Null)
}

/// Which basins a comparison sets against each other: `basin 0 vs 1`, `basin 2 vs the rest`.
pub(super) fn compared(c: &Value) -> String {
    match (c["cluster"].as_u64(), c["against"].as_str()) {
        (Some(a), Some("cluster 1")) => format!("basin {a} vs 1"),
        (Some(a), Some(rest)) => format!("basin {a} vs {}", esc(rest)),
        _ => "&ndash;".into(),
    }
}

/// One sentence setting in-distribution accuracy's correlation with the coordinate
/// beside each diagnostic's: where a diagnostic tracks the coordinate and accuracy does not, the
/// basins carry information that accuracy does not.
pub fn id_comparison(tests: &Value) -> String {
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
