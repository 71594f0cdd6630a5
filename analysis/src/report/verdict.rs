//! The sentence at the top of each task, made from the numbers.

use super::tables::compared;
use super::{barrier_unit, esc, num_of, pval_of, Agreement, Agreements, ScoreRow, ScoreTable};
use super::{fine_of, TaskInputs};

/// The barrier the clustering used, as a matrix over the models (seed order).
/// A pair not interpolated is NaN; no barriers at all, an empty matrix.
pub(super) fn barrier_matrix(t: &TaskInputs) -> Vec<Vec<f64>> {
    let Some(m) = t.clustered_set().and_then(|s| s.matrices.get(t.barrier())) else {
        return Vec::new();
    };
    m.value
        .iter()
        .map(|row| row.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
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
pub fn verdict(t: &TaskInputs, tests: &ScoreTable, agreement: &Agreements) -> String {
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
    let barrier = esc(t.barrier());
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
                "{k} basins of {} models, separated by a median {barrier} barrier of {} {unit} \
                 between basins against {} within them.",
                sizes.join(", "),
                f(median(between)),
                f(median(within)),
                unit = barrier_unit(&barrier)
            )
        }
    };
    let caution = cautions(t, &assign, k);
    if !caution.is_empty() {
        s.push_str(&format!(
            " <span class=\"warning\">Caution: {}.</span>",
            caution.join("; ")
        ));
    }
    if k >= 2 {
        let mut differ = Vec::new();
        let mut too_fine = Vec::new();
        let mut smallest: Option<(f64, String)> = None;
        for row in tests.values() {
            let name = format!("{} {}", esc(&row.set), esc(&row.primary));
            let Some(best) = row.strongest() else {
                continue;
            };
            let Some(p) = best.mann_whitney.as_ref().and_then(|m| m.p_holm) else {
                continue;
            };
            let pair = if k > 2 {
                format!("{}, ", compared(best))
            } else {
                String::new()
            };
            if smallest.as_ref().is_none_or(|(q, _)| p < *q) {
                smallest = Some((
                    p,
                    format!("{name} ({pair}p<sub>Holm</sub> = {})", pval_of(Some(p))),
                ));
            }
            if p < 0.05 {
                let means: Vec<String> = row
                    .per_cluster
                    .iter()
                    .map(|c| num_of(Some(c.mean)))
                    .collect();
                match below_resolution(row) {
                    Some(rows) => too_fine.push(format!(
                        "{name} ({}: less than two rows in {rows})",
                        (row.per_cluster.iter())
                            .map(|c| fine_of(c.mean))
                            .collect::<Vec<_>>()
                            .join(" vs ")
                    )),
                    None => differ.push(format!(
                        "{name} ({}; {pair}p<sub>Holm</sub> = {})",
                        means.join(" vs "),
                        pval_of(Some(p))
                    )),
                }
            }
        }
        s.push(' ');
        s.push_str(&match (differ.is_empty(), smallest) {
            (false, _) => format!(
                "Between the basins these scores differ: {}.",
                differ.join("; ")
            ),
            (true, Some((_, name))) => format!(
                "No score differs between the basins at Holm-corrected p &lt; 0.05 by more \
                 than its resolution (the smallest p: {name})."
            ),
            (true, None) => "No score could be compared between the basins.".into(),
        });
        if !too_fine.is_empty() {
            s.push_str(&format!(
                " Not called a difference, because the basins' means differ by less than two \
                 scored rows (a model's accuracy moves in steps of one row): {}.",
                too_fine.join("; ")
            ));
        }
    }
    for (set, a) in agreement {
        let Agreement::Measured(a) = a else {
            continue;
        };
        s.push(' ');
        s.push_str(&match (a.ari, &a.ari_note) {
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
    if let Some(r) = t.expect {
        s.push(' ');
        s.push_str(&super::expect::sentence(r));
    }
    s
}

/// For an accuracy, the number of rows it is scored on when the basins' means differ by less
/// than two of them (a model's accuracy moves in steps of 1 / rows, its resolution), else
/// `None`. A test over models can call 1.000 against 0.999 significant; the page should not
/// call a gap of about one row in a thousand a difference between strategies.
/// Gaps between basin means under this many rows are not called differences.
const RESOLUTION_ROWS: f64 = 2.0;

fn below_resolution(row: &ScoreRow) -> Option<usize> {
    if row.primary != "accuracy" {
        return None;
    }
    let rows = Some(row.counts.score_rows).filter(|&n| n > 0)?;
    let means: Vec<f64> = (row.per_cluster.iter())
        .map(|c| c.mean)
        .filter(|m| m.is_finite())
        .collect();
    let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (hi - lo < RESOLUTION_ROWS / rows as f64).then_some(rows)
}

/// What should make a reader doubt the partition: a basin of one model (an outlier, not a
/// basin), a silhouette well below that of another number of basins, a bootstrap stability
/// below 0.9.
fn cautions(t: &TaskInputs, assign: &[usize], k: usize) -> Vec<String> {
    let mut out = Vec::new();
    if k < 2 {
        return out;
    }
    let names = t.names();
    for c in 0..k {
        let members: Vec<usize> = (0..assign.len()).filter(|&i| assign[i] == c).collect();
        if let [only] = members[..] {
            out.push(format!(
                "basin {c} holds a single model ({}), an outlier rather than a basin",
                esc(names.get(only).map_or("?", String::as_str))
            ));
        }
    }
    if let Some(controls) = t.controls {
        let ks: Vec<_> = controls
            .robustness
            .iter()
            .filter(|v| v.group == "k")
            .collect();
        let own = ks.iter().find(|v| v.reported).and_then(|v| v.silhouette);
        let best = ks
            .iter()
            .filter(|v| !v.reported)
            .filter_map(|v| Some((v.silhouette?, v.partition.k)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let (Some(own), Some((other, at))) = (own, best) {
            if other > own + 0.1 {
                out.push(format!(
                    "the silhouette is {own:.2} with {k} basins but {other:.2} with {at}"
                ));
            }
        }
    }
    if let Some(st) = t.cluster.stability.mean_ari.filter(|a| a.is_finite()) {
        if st < 0.9 {
            out.push(format!(
                "bootstrap stability {st:.2} (below 0.9): the partition changes when the \
                 models are resampled"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{testing, BarriersDoc, ClusterDoc};
    use crate::report::analysis::testing as rows;
    use serde_json::json;

    /// A table of one row.
    fn table(row: ScoreRow) -> ScoreTable {
        [(row.set.clone(), row)].into()
    }

    fn inputs<'a>(cluster: &'a ClusterDoc, barriers: &'a BarriersDoc) -> TaskInputs<'a> {
        TaskInputs {
            task: "nli",
            barriers: Some(barriers),
            cluster,
            diagnostics: None,
            dynamics: None,
            controls: None,
            soups: None,
            blocks: None,
            aligned: None,
            expect: None,
        }
    }

    #[test]
    fn the_verdict_is_made_from_the_numbers() {
        let cluster = testing::cluster(json!({"seeds": [0, 1, 2, 3], "assignments": [0, 0, 1, 1],
            "eval": "dev", "barrier": "convexity"}));
        let barriers = testing::barriers(json!({"dev": {"matrices": {"convexity": {"value": [
            [0.0, 0.01, 0.30, 0.40],
            [0.01, 0.0, 0.50, 0.20],
            [0.30, 0.50, 0.0, 0.03],
            [0.40, 0.20, 0.03, 0.0]]}}}}));
        let t = inputs(&cluster, &barriers);
        let differs = table(rows::row(
            "hans",
            "accuracy",
            &[0.2, 0.9],
            Some((0.001, 0.004)),
        ));
        let v = verdict(&t, &differs, &Agreements::new());
        assert!(
            v.starts_with("2 basins of 2, 2 models, separated by a median convexity barrier of 0.350 nats between basins against 0.020 within them."),
            "{v}"
        );
        assert!(
            v.contains(
                "these scores differ: hans accuracy (0.200 vs 0.900; p<sub>Holm</sub> = 0.004)"
            ),
            "{v}"
        );
        let none = table(rows::row(
            "hans",
            "accuracy",
            &[0.5, 0.52],
            Some((0.6, 0.8)),
        ));
        let labels = ["rule", "artifact", "rule", "artifact"].map(String::from);
        let agreement = [("hans".to_owned(), rows::agreement(&labels, Some(0.5)))].into();
        let v = verdict(&t, &none, &agreement);
        assert!(v.contains("No score differs between the basins at Holm-corrected p &lt; 0.05 by more than its resolution (the smallest p: hans accuracy (p<sub>Holm</sub> = 0.800))."), "{v}");
        assert!(v.ends_with("Against the strategies declared on hans, the basins score an adjusted Rand index of 0.50."), "{v}");
        // 1.000 against 0.9995 on 1000 rows: below one row, so not called a difference even
        // where the test says p < 0.05.
        let mut fine = rows::row("dev", "accuracy", &[1.0, 0.9995], Some((0.01, 0.02)));
        fine.counts.score_rows = 1000;
        let v = verdict(&t, &table(fine), &Agreements::new());
        assert!(!v.contains("these scores differ"), "{v}");
        assert!(v.contains("Not called a difference, because the basins' means differ by less than two scored rows (a model's accuracy moves in steps of one row): dev accuracy (1.0000 vs 0.9995: less than two rows in 1000)."), "{v}");
        // A basin of one model and a low stability are flagged.
        let three = testing::cluster(json!({"seeds": [0, 1, 2, 3], "assignments": [0, 0, 1, 2],
            "eval": "dev", "barrier": "convexity", "stability": {"mean_ari": 0.78}}));
        let v = verdict(
            &inputs(&three, &barriers),
            &ScoreTable::new(),
            &Agreements::new(),
        );
        assert!(v.contains("Caution: basin 1 holds a single model (2), an outlier rather than a basin; basin 2 holds a single model (3)"), "{v}");
        assert!(v.contains("bootstrap stability 0.78 (below 0.9)"), "{v}");
        let one = testing::cluster(
            json!({"seeds": [0, 1], "assignments": [0, 0], "eval": "dev", "barrier": "convexity"}),
        );
        let v = verdict(&inputs(&one, &barriers), &none, &Agreements::new());
        assert_eq!(
            v,
            "All 2 models form one basin (median convexity barrier between them 0.010)."
        );
    }
}
