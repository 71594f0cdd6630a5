//! The page's tables: scores by basin with their tests, basins against strategies, and the
//! sentence that sets in-distribution accuracy beside the diagnostics.

use std::fmt::Write as _;

use super::TaskInputs;
use super::{esc, num_of, pval_of, Agreement, Agreements, Comparison, ScoreRow, ScoreTable};

/// The contingency tables of basins against strategies, with their ARI.
pub fn strategies(agreement: &Agreements, t: &TaskInputs) -> String {
    let mut s = String::new();
    for (set, a) in agreement {
        if s.is_empty() {
            s.push_str("<h3>Basins and strategies</h3>");
        }
        let a = match a {
            Agreement::Measured(a) => a,
            Agreement::Refused { error } => {
                let _ = write!(s, "<p class=\"warning\">{}: {}</p>", esc(set), esc(error));
                continue;
            }
        };
        let threshold = num_of(Some(a.threshold));
        let by = match &a.kinds {
            Some(kinds) => format!(
                "accuracy &ge; {threshold} on each kind of <code>{}</code>",
                esc(kinds)
            ),
            None => format!("score &ge; {threshold} / below"),
        };
        let _ = write!(
            s,
            "<table id=\"strategies-{}-{}\"><tr><th>{} ({by})</th>",
            esc(t.task),
            esc(set),
            esc(set)
        );
        for n in &a.strategies {
            let _ = write!(s, "<th>{}</th>", esc(n));
        }
        s.push_str("</tr>");
        for (c, row) in a.contingency.iter().enumerate() {
            let _ = write!(s, "<tr><td>basin {c}</td>");
            for n in row {
                let _ = write!(s, "<td>{n}</td>");
            }
            s.push_str("</tr>");
        }
        match &a.ari_note {
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
                    num_of(a.ari)
                );
            }
        }
    }
    s
}

/// Every score's spread per basin and its tests.
pub fn scores(tests: &ScoreTable, k: usize) -> String {
    let mut s = String::from(
        "<table><tr><th>set</th><th>score</th><th>rows scored (of the set's)</th><th>of them loss-surface rows (of the surface's)</th>",
    );
    for c in 0..k {
        let _ = write!(s, "<th>basin {c}: mean &plusmn; sd (n)</th>");
    }
    s.push_str(
        "<th>compared</th><th>Mann-Whitney p (Holm)</th><th>permutation p (Holm)</th><th>Pearson r vs spectral coordinate (p)</th><th>Spearman &rho; (p)</th></tr>",
    );
    let mut notes = Vec::new();
    for t in tests.values() {
        let id = if t.in_distribution {
            " (in-distribution)"
        } else {
            ""
        };
        let set = esc(&t.set);
        let count = |n: Option<usize>| n.map_or("&ndash;".into(), |n| n.to_string());
        let c = &t.counts;
        let _ = write!(
            s,
            "<tr><td>{set}</td><td>{}{id}</td><td>{} of {}</td><td>{} of {}</td>",
            esc(&t.primary),
            c.score_rows,
            c.rows,
            count(c.shared),
            count(c.surface_rows)
        );
        for c in 0..k {
            let _ = match t.per_cluster.get(c) {
                Some(p) => write!(
                    s,
                    "<td>{} &plusmn; {} ({})</td>",
                    num_of(Some(p.mean)),
                    num_of(Some(p.std)),
                    p.n
                ),
                None => write!(s, "<td>&ndash;</td>"),
            };
        }
        let first = t.strongest();
        let mw = first.and_then(|c| c.mann_whitney.as_ref());
        let perm = first.map(|c| &c.permutation);
        let (pearson, spearman) = (&t.pearson_vs_coordinate, &t.spearman_vs_coordinate);
        let _ = write!(
            s,
            "<td>{}</td><td>{} ({})</td><td>{} ({})</td><td>{} ({})</td><td>{} ({})</td></tr>",
            first.map_or("&ndash;".into(), compared),
            pval_of(mw.map(|m| m.test.p)),
            pval_of(mw.and_then(|m| m.p_holm)),
            pval_of(perm.and_then(|p| p.p)),
            pval_of(perm.and_then(|p| p.p_holm)),
            num_of(pearson.as_ref().map(|c| c.r)),
            pval_of(pearson.as_ref().map(|c| c.p)),
            num_of(spearman.as_ref().map(|c| c.r)),
            pval_of(spearman.as_ref().map(|c| c.p))
        );
        if !t.excluded.is_empty() {
            let names: Vec<String> = t.excluded.iter().map(|n| esc(n)).collect();
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

/// Which basins a comparison sets against each other: `basin 0 vs 1`, `basin 2 vs the rest`.
pub(super) fn compared(c: &Comparison) -> String {
    match c.against.as_str() {
        "cluster 1" => format!("basin {} vs 1", c.cluster),
        rest => format!("basin {} vs {}", c.cluster, esc(rest)),
    }
}

/// One sentence setting in-distribution accuracy's correlation with the coordinate
/// beside each diagnostic's: where a diagnostic tracks the coordinate and accuracy does not, the
/// basins carry information that accuracy does not.
pub fn id_comparison(tests: &ScoreTable) -> String {
    let r = |t: &ScoreRow| {
        format!(
            "{} {}: r = {}",
            esc(&t.set),
            esc(&t.primary),
            num_of(t.pearson_vs_coordinate.as_ref().map(|c| c.r))
        )
    };
    let id = tests
        .values()
        .find(|t| t.in_distribution && t.primary == "accuracy");
    let diag: Vec<String> = tests
        .values()
        .filter(|t| !t.in_distribution)
        .map(r)
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
