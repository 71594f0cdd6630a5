//! The table the page's title asks for: one row per model, its basin, each score and each
//! declared strategy, and whether the strategy is its basin's; the models that break their
//! basin's pattern are named in a sentence, not left to be found in clusters.csv.

use std::fmt::Write as _;

use super::{esc, num_of, Agreement, Agreements, ScoreTable, TaskInputs};

/// The most common strategy in each basin (`None` for an empty basin or a tie).
fn majority(assign: &[usize], labels: &[String], k: usize) -> Vec<Option<String>> {
    (0..k)
        .map(|c| {
            let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
            for (a, l) in assign.iter().zip(labels) {
                if *a == c {
                    *counts.entry(l.as_str()).or_default() += 1;
                }
            }
            let top = counts.values().copied().max()?;
            let mut at = counts.iter().filter(|(_, &n)| n == top);
            let (first, _) = at.next()?;
            at.next().is_none().then(|| first.to_string())
        })
        .collect()
}

/// The per-model table and the sentence naming the models whose strategy is not their basin's.
pub fn table(t: &TaskInputs, tests: &ScoreTable, agreement: &Agreements) -> String {
    let (names, assign, coord) = (t.names(), t.assignments(), t.coordinate());
    if assign.is_empty() || names.len() != assign.len() {
        return String::new();
    }
    let k = assign.iter().max().map_or(0, |m| m + 1);
    let scores: Vec<(String, &[Option<f64>])> = tests
        .values()
        .map(|r| (format!("{} {}", r.set, r.primary), &r.scores[..]))
        .collect();
    // Per strategy set: each model's strategy, and each basin's most common one.
    type Labels<'a> = (&'a String, &'a Vec<String>, Vec<Option<String>>);
    let strategies: Vec<Labels> = agreement
        .iter()
        .filter_map(|(set, a)| match a {
            Agreement::Measured(a) if a.labels.len() == assign.len() => {
                Some((set, &a.labels, majority(&assign, &a.labels, k)))
            }
            _ => None,
        })
        .collect();
    let mut s = format!(
        "<h3>Each model</h3><table id=\"models-{}\"><tr><th>model</th><th>basin</th><th>spectral coordinate</th>",
        esc(t.task)
    );
    for (name, _) in &scores {
        let _ = write!(s, "<th>{}</th>", esc(name));
    }
    for (set, _, _) in &strategies {
        let _ = write!(
            s,
            "<th>strategy on {0}</th><th>the basin's most common strategy on {0}?</th>",
            esc(set)
        );
    }
    s.push_str("</tr>");
    let mut order: Vec<usize> = (0..assign.len()).collect();
    order.sort_by(|&a, &b| {
        (assign[a], coord.get(a).copied().unwrap_or(0.0))
            .partial_cmp(&(assign[b], coord.get(b).copied().unwrap_or(0.0)))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut odd = Vec::new();
    for &i in &order {
        let _ = write!(
            s,
            "<tr class=\"model\"><td>{}</td><td>{}</td><td>{}</td>",
            esc(&names[i]),
            assign[i],
            coord.get(i).map_or("&ndash;".into(), |c| format!("{c:.3}"))
        );
        for (_, values) in &scores {
            let _ = write!(s, "<td>{}</td>", num_of(values.get(i).copied().flatten()));
        }
        for (set, labels, major) in &strategies {
            let agrees = match &major[assign[i]] {
                Some(m) if *m == labels[i] => "yes".to_owned(),
                Some(m) => {
                    odd.push(format!(
                        "{} is in basin {} (mostly {}) but follows {} on {}",
                        esc(&names[i]),
                        assign[i],
                        esc(m),
                        esc(&labels[i]),
                        esc(set)
                    ));
                    "<b>no</b>".to_owned()
                }
                None => "tie".to_owned(),
            };
            let _ = write!(s, "<td>{}</td><td>{agrees}</td>", esc(&labels[i]));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    if !strategies.is_empty() {
        let sentence = match odd.len() {
            0 => "Every model follows its basin's most common strategy.".to_owned(),
            1 => format!("One model breaks its basin's pattern: {}.", odd[0]),
            n => format!(
                "{n} models break their basin's pattern: {}.",
                odd.join("; ")
            ),
        };
        let _ = write!(s, "<p id=\"mismatches-{}\">{sentence}</p>", esc(t.task));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::testing;
    use crate::report::analysis::testing as rows;
    use serde_json::json;

    #[test]
    fn one_row_per_model_and_the_odd_ones_named() {
        let cluster = testing::cluster(
            json!({"seeds": [0, 1, 2, 3, 4], "assignments": [0, 0, 0, 1, 1],
            "coordinate": [-1.0, -0.9, -0.5, 0.8, 1.0]}),
        );
        let t = TaskInputs {
            task: "nli",
            barriers: None,
            cluster: &cluster,
            diagnostics: None,
            dynamics: None,
            controls: None,
            soups: None,
            blocks: None,
            aligned: None,
            expect: None,
        };
        let mut row = rows::row("hans", "accuracy", &[], None);
        row.scores = [0.9, 0.8, 0.48, 1.0, 0.1].map(Some).to_vec();
        let tests = [("hans".to_owned(), row)].into();
        let labels = ["rule", "rule", "artifact", "rule", "artifact"];
        let agreement = [(
            "hans".to_owned(),
            rows::agreement(&labels.map(String::from), None),
        )]
        .into();
        let html = table(&t, &tests, &agreement);
        assert_eq!(html.matches("<tr class=\"model\">").count(), 5);
        // Basin 1 is a tie (one of each): no model there is called odd.
        assert!(
            html.contains("One model breaks its basin's pattern: 2 is in basin 0 (mostly rule) but follows artifact on hans."),
            "{html}"
        );
        assert!(html.contains("<td>0.480</td>"), "{html}");
        assert!(html.contains("<td>tie</td>"), "{html}");
    }
}
