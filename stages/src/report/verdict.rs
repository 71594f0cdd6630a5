//! The sentence at the top of each task, made from the numbers.

use serde_json::Value;

use super::{esc, num, TaskInputs};

/// The barrier the clustering used, as a matrix over the models (seed order).
pub(super) fn barrier_matrix(t: &TaskInputs) -> Vec<Vec<f64>> {
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
    if let Some(c) = t.controls {
        s.push(' ');
        s.push_str(&super::controls::sentence(c));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inputs<'a>(cluster: &'a Value, barriers: &'a Value) -> TaskInputs<'a> {
        TaskInputs {
            task: "nli",
            barriers,
            cluster,
            diagnostics: None,
            dynamics: None,
            controls: None,
        }
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
