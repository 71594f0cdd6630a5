//! The page's training-dynamics section for a task with kept steps (`dynamics/<task>`): when the
//! final basins were settled, as a sentence, a table per checkpoint, the agreement curves (ARI
//! and prediction accuracy against the final clustering) and the basin flow (each model as a
//! line across checkpoints, at its matched basin, coloured by its final one).

use std::fmt::Write as _;

use super::figures::Figure;
use super::num_of;
use crate::documents::{DynamicsDoc, OwnFinal, Prediction};
use crate::dynamics::{CentroidPrediction, OwnStep, Step, PREDICTED};
use crate::plot::{category, esc, legend, legend_width, Axis, Chart, Mark};
use crate::stats::Pearson;

/// The section's HTML (figures inline) and its figures, to be saved as files too.
pub fn section(task: &str, d: &DynamicsDoc, names: &[String]) -> (String, Vec<Figure>) {
    let steps = &d.dynamics.steps;
    let mut s = format!(
        "<h3>When the basins formed</h3><p id=\"dynamics-{}\">{}</p>",
        esc(task),
        sentence(d)
    );
    s.push_str("<table><tr><th>checkpoint</th><th>basins</th><th>adjusted Rand index against the final basins</th><th>models already in their final basin</th><th>models elsewhere</th></tr>");
    let name_of = |seed: &u64| -> String {
        (d.seeds.iter().position(|x| x == seed))
            .and_then(|i| names.get(i).cloned())
            .unwrap_or_else(|| seed.to_string())
    };
    for st in steps {
        let elsewhere: Vec<String> = st.elsewhere.iter().map(name_of).collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&st.at),
            st.k,
            num_of(Some(st.ari)),
            percent(st.accuracy),
            if elsewhere.is_empty() {
                "none".into()
            } else {
                esc(&elsewhere.join(", "))
            }
        );
    }
    s.push_str("</table>");
    let mut figures = vec![agreement(task, steps), flow(task, d, steps)];
    if !d.own_final.steps.is_empty() {
        s.push_str(&own_sentence(&d.own_final));
        figures.push(own_final(task, d, &d.own_final));
    }
    if !d.prediction.is_empty() {
        s.push_str(&prediction_table(d, &d.prediction));
        figures.push(prediction(task, &d.prediction));
    }
    if !d.correlations.is_empty() {
        s.push_str(&correlation_table(d));
    }
    (s, figures)
}

/// A forward-pass count with thousands separators (`37,422`), so that costs side by side
/// compare at a glance.
fn passes(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The numbers of reference runs a basin the predictions were made with, ascending.
fn reference_counts(pred: &[Prediction]) -> Vec<usize> {
    pred.iter()
        .flat_map(|p| p.centroid.iter().map(|c| c.references))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The final basin predicted at each checkpoint, by its clustering and by nearest reference
/// runs, with what each prediction costs.
fn prediction_table(d: &DynamicsDoc, pred: &[Prediction]) -> String {
    let refs = reference_counts(pred);
    let mut s = String::from(
        "<p>Predicting each run's final basin from its checkpoint: by the checkpoint's own \
         clustering (every pair interpolated at that step), or by the nearest of the final \
         basins' reference runs (the mean barrier at that step to a few runs per basin that were \
         trained to the end; accuracy averaged over random choices of them, the run itself never \
         among them). Forward passes are one model on one loss-surface row, per predicted run.",
    );
    let from: Vec<String> = refs
        .iter()
        .map(|r| {
            let at = (d.predicted_from_centroid.get(&r.to_string())).and_then(Option::as_deref);
            format!(
                "{r} a basin: {}",
                at.map_or("not before the end".into(), |a| format!("from {}", esc(a)))
            )
        })
        .collect();
    if !from.is_empty() {
        let _ = write!(
            s,
            " At least {:.0}% with reference runs, {}.",
            100.0 * PREDICTED,
            from.join("; ")
        );
    }
    s.push_str(
        "</p><table><tr><th>checkpoint</th><th>by its clustering</th><th>forward passes</th>",
    );
    for r in &refs {
        let _ = write!(
            s,
            "<th>{r} reference{} a basin</th><th>forward passes</th>",
            if *r == 1 { "" } else { "s" }
        );
    }
    s.push_str("</tr>");
    for p in pred {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            esc(&p.at),
            percent(p.clustering.accuracy),
            passes(p.clustering.forward_passes)
        );
        for r in &refs {
            match Prediction::with(&p.centroid, *r) {
                Some(c) => {
                    let _ = write!(
                        s,
                        "<td>{}</td><td>{}</td>",
                        percent(c.accuracy),
                        passes(c.forward_passes)
                    );
                }
                None => s.push_str("<td>n/a</td><td>&ndash;</td>"),
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s.push_str(&baseline_table(pred, &refs));
    s
}

/// The predictions a cheaper read of each checkpoint gives, beside the barrier's: every run
/// in the largest final basin, and the nearest references by the run's score or by how often
/// its predictions disagree with theirs; each with its forward passes per predicted run.
fn baseline_table(pred: &[Prediction], refs: &[usize]) -> String {
    let Some(first) = pred.first() else {
        return String::new();
    };
    let cost = |of: &[CentroidPrediction]| -> String {
        of.first()
            .map_or("&ndash;".into(), |c| passes(c.forward_passes))
    };
    let mut s = format!(
        "<p>Baselines, each predicting the same final basins: every run in the largest final \
         basin (no forward pass); the nearest references by the run's score on the clustering's \
         set at the checkpoint ({} forward passes: one evaluation of the run on the score's \
         rows); by how often its predictions on the loss-surface rows disagree with the \
         references' ({} forward passes). The references' own evaluations serve every predicted \
         run and are not counted.</p><table id=\"dynamics-baselines\"><tr><th>checkpoint</th>\
         <th>largest basin</th>",
        cost(&first.score),
        cost(&first.outputs)
    );
    for kind in ["score", "outputs"] {
        for r in refs {
            let _ = write!(
                s,
                "<th>by {}, {r} reference{} a basin</th>",
                if kind == "score" { "score" } else { "outputs" },
                if *r == 1 { "" } else { "s" }
            );
        }
    }
    s.push_str("</tr>");
    for p in pred {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td>",
            esc(&p.at),
            percent(p.majority.accuracy)
        );
        for of in [&p.score, &p.outputs] {
            for r in refs {
                let hit = Prediction::with(of, *r);
                let _ = write!(
                    s,
                    "<td>{}</td>",
                    hit.map_or("n/a".into(), |c| percent(c.accuracy))
                );
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

/// Each set's Pearson correlation with the spectral coordinate at each checkpoint.
fn correlation_table(d: &DynamicsDoc) -> String {
    let c = &d.correlations;
    let sets: Vec<&String> = (c.first().into_iter())
        .flat_map(|step| step.sets.iter().map(|s| &s.set))
        .collect();
    let mut s = String::from(
        "<p>Each set's score against the checkpoint's spectral coordinate (Pearson r, p in \
         brackets; the coordinate turned so that negative leans to final basin 0 at every \
         checkpoint): the score at that checkpoint, where the set is scored at kept steps, and \
         the score the model ends with. A strong r for the final score at an early checkpoint \
         means the basin geometry there already tells the strategy a run ends with.</p>\
         <table><tr><th>checkpoint</th>",
    );
    for name in &sets {
        let _ = write!(
            s,
            "<th>{0}: at the checkpoint</th><th>{0}: final score</th>",
            esc(name)
        );
    }
    s.push_str("</tr>");
    let r = |v: Option<&Pearson>| -> String {
        match v {
            Some(&Pearson { r, p }) => format!(
                "{r:.2} ({})",
                if p < 0.001 {
                    "p &lt; 0.001".into()
                } else {
                    format!("p = {p:.3}")
                }
            ),
            _ => "&ndash;".into(),
        }
    };
    for step in c {
        let _ = write!(s, "<tr><td>{}</td>", esc(&step.at));
        for name in &sets {
            let set = step.sets.iter().find(|x| &x.set == *name);
            let _ = write!(
                s,
                "<td>{}</td><td>{}</td>",
                r(set.and_then(|x| x.at_step.as_ref())),
                r(set.and_then(|x| x.final_score.as_ref()))
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

/// Prediction accuracy by checkpoint: by the clustering and by each number of references.
fn prediction(task: &str, pred: &[Prediction]) -> Figure {
    let mut entries: Vec<(&str, Vec<f64>, String)> = vec![(
        "#D55E00",
        pred.iter().map(|p| p.clustering.accuracy).collect(),
        "by the checkpoint's clustering".into(),
    )];
    let palette = ["#009E73", "#0072B2", "#CC79A7", "#E69F00"];
    let refs = reference_counts(pred);
    for (i, r) in refs.iter().enumerate() {
        entries.push((
            palette[i % palette.len()],
            pred.iter()
                .map(|p| Prediction::with(&p.centroid, *r).map_or(f64::NAN, |c| c.accuracy))
                .collect(),
            format!(
                "nearest of {r} reference{} a basin",
                if *r == 1 { "" } else { "s" }
            ),
        ));
    }
    let at: Vec<String> = pred.iter().map(|p| p.at.clone()).collect();
    curves(
        task,
        "dynamics-prediction",
        at,
        &entries,
        (
            "share predicted",
            "prediction of the final basin by checkpoint",
            "Predicting the final basin",
        ),
        "The accuracy of predicting each run's final basin from its checkpoint alone: by the \
         checkpoint's clustering of all runs, and by the mean barrier to a few reference runs of \
         each final basin (averaged over random choices of them). The dashed line is the 90% the \
         page calls predicted; the table above gives each prediction's forward passes."
            .into(),
    )
}

/// Whether the runs leave the basin they were in at the kept steps, in words.
fn own_sentence(own: &OwnFinal) -> String {
    let parts: Vec<String> = own
        .steps
        .iter()
        .map(|st| {
            format!(
                "{} mean {} (largest {})",
                esc(&st.at),
                num_of(Some(st.mean)),
                num_of(Some(st.max))
            )
        })
        .collect();
    format!(
        "<p>The {} barrier on {} between each model's checkpoint and its own final weights: {}. \
         A barrier near zero means the run stayed in one basin from that step to the end; a \
         high one, that it crossed a ridge afterwards.</p>",
        esc(own.barrier.name()),
        esc(&own.set),
        parts.join("; ")
    )
}

/// The barrier from each kept step to the model's own final weights: a line per model, coloured
/// by its final basin, and each basin's mean.
fn own_final(task: &str, d: &DynamicsDoc, own: &OwnFinal) -> Figure {
    let steps = &own.steps;
    let finals = d.final_basins();
    let k_final = finals.iter().max().map_or(1, |m| m + 1);
    let value = |st: &OwnStep, i: usize| st.barriers.get(i).copied().unwrap_or(f64::NAN);
    let all = steps
        .iter()
        .flat_map(|st| (0..finals.len()).map(move |i| value(st, i)))
        .filter(|v| v.is_finite());
    let y = Axis::over(all.chain([0.0]), 5, "barrier to its own final weights");
    let names: Vec<String> = steps.iter().map(|s| s.at.clone()).collect();
    let mut chart = Chart::new(460.0, 300.0, Axis::categorical(names, "checkpoint"), y);
    chart.area.1 = 12.0 + 14.0 * k_final as f64;
    let mut s = chart.open(
        "barrier from each checkpoint to the model's final weights",
        "Barrier to its own final weights",
    );
    let line = |ys: Vec<f64>| -> String {
        ys.iter()
            .enumerate()
            .filter(|(_, y)| y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", chart.px(x as f64 + 0.5), chart.py(*y)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (i, &f) in finals.iter().enumerate() {
        let ys: Vec<f64> = steps.iter().map(|st| value(st, i)).collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1\" stroke-opacity=\"0.45\"/>",
            line(ys),
            category(f)
        );
    }
    for c in 0..k_final {
        let ys: Vec<f64> = steps
            .iter()
            .map(|st| st.by_final_basin.get(c).copied().unwrap_or(f64::NAN))
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"3\"/>",
            line(ys),
            category(c)
        );
    }
    let entries: Vec<(&str, Mark, String)> = (0..k_final)
        .map(|c| {
            (
                category(c),
                Mark::Line,
                format!("ends in basin {c}: mean (thick), models (thin)"),
            )
        })
        .collect();
    s.push_str(&legend(
        chart.area.2 - legend_width(&entries),
        2.0,
        &entries,
    ));
    s.push_str("</svg>");
    Figure::new(
        task,
        "dynamics-own-final",
        format!(
            "For each model, the {} barrier on {} along the straight line from its checkpoint at \
             each kept step to its own final weights (thin lines), and the mean over the models \
             of each final basin (thick). A model whose line stays near zero never left the \
             basin it was in at that step.",
            own.barrier.name(),
            own.set
        ),
        s,
    )
}

/// A share as a percentage, `n/a` when it is not a number.
fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:.0}%", 100.0 * x)
    } else {
        "n/a".into()
    }
}

/// From which step the final basins are predicted, in words.
fn sentence(d: &DynamicsDoc) -> String {
    let models = d.dynamics.models.len();
    match &d.dynamics.predicted_from {
        Some(at) => format!(
            "From <b>{}</b> on, the clustering of the checkpoints alone puts at least {:.0}% of the \
             {models} models in the basin they end in (labels matched to the final clustering's).",
            esc(at),
            100.0 * PREDICTED
        ),
        None => format!(
            "No kept step's clustering puts {:.0}% of the {models} models in the basin they end \
             in: the final basins are not settled by the last kept step.",
            100.0 * PREDICTED
        ),
    }
}

fn labels(steps: &[Step]) -> Vec<String> {
    steps.iter().map(|s| s.at.clone()).collect()
}

/// ARI and prediction accuracy against the final clustering, per checkpoint.
fn agreement(task: &str, steps: &[Step]) -> Figure {
    let entries = [
        (
            "#0072B2",
            steps.iter().map(|s| s.ari).collect(),
            "adjusted Rand index".to_string(),
        ),
        (
            "#D55E00",
            steps.iter().map(|s| s.accuracy).collect(),
            "share in the final basin".to_string(),
        ),
    ];
    curves(
        task,
        "dynamics-agreement",
        labels(steps),
        &entries,
        (
            "agreement",
            "agreement with the final basins by checkpoint",
            "Agreement with the final basins",
        ),
        "Each checkpoint's clustering against the final one: the adjusted Rand index (1: the \
         same partition; about 0: no more alike than chance) and the share of models whose \
         matched basin is already their final one, which is the accuracy of predicting the \
         final basin from that checkpoint alone. The dashed line is the 90% the page calls \
         predicted."
            .into(),
    )
}

/// Lines with dots across the checkpoints (named `at`), the 90% threshold dashed, a legend
/// at the bottom right (every curve here ends at 1 on the right). `text`: the y axis's name,
/// the figure's accessible name and its title.
fn curves(
    task: &str,
    id: &str,
    at: Vec<String>,
    entries: &[(&str, Vec<f64>, String)],
    text: (&str, &str, &str),
    caption: String,
) -> Figure {
    let y = Axis::over(
        entries
            .iter()
            .flat_map(|(_, ys, _)| ys.iter().copied())
            .chain([0.0, 1.0]),
        5,
        text.0,
    );
    let chart = Chart::new(460.0, 300.0, Axis::categorical(at, "checkpoint"), y);
    let mut s = chart.open(text.1, text.2);
    for (colour, ys, _) in entries {
        let pts: Vec<(f64, f64)> = ys
            .iter()
            .enumerate()
            .filter(|(_, y)| y.is_finite())
            .map(|(i, y)| (chart.px(i as f64 + 0.5), chart.py(*y)))
            .collect();
        let line: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            line.join(" ")
        );
        for (x, y) in pts {
            let _ = write!(
                s,
                "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{colour}\"/>"
            );
        }
    }
    // The prediction threshold.
    let ty = chart.py(PREDICTED);
    let _ = write!(
        s,
        "<line x1=\"{}\" y1=\"{ty:.1}\" x2=\"{}\" y2=\"{ty:.1}\" stroke=\"#777\" stroke-dasharray=\"4 3\"/>",
        chart.area.0, chart.area.2
    );
    let legend_entries: Vec<(&str, Mark, String)> = entries
        .iter()
        .map(|(c, _, t)| (*c, Mark::Line, t.clone()))
        .chain([(
            "#777",
            Mark::Line,
            format!("{:.0}%: predicted", 100.0 * PREDICTED),
        )])
        .collect();
    s.push_str(&legend(
        chart.area.2 - legend_width(&legend_entries) - 6.0,
        chart.area.3 - 6.0 - 14.0 * legend_entries.len() as f64 - 6.0,
        &legend_entries,
    ));
    s.push_str("</svg>");
    Figure::new(task, id, caption, s)
}

/// Each model as a line across checkpoints at its matched basin, coloured by its final basin.
fn flow(task: &str, d: &DynamicsDoc, steps: &[Step]) -> Figure {
    let models = &d.dynamics.models;
    let finals = d.final_basins();
    let k_final = finals.iter().max().map_or(1, |m| m + 1);
    // A step that misses a model (never written so) draws it at basin 0.
    let aligned = |i: usize| -> Vec<usize> {
        steps
            .iter()
            .map(|s| s.aligned.get(i).copied().unwrap_or(0))
            .collect()
    };
    // A basin with no final counterpart shows as "other" above the final ones.
    let extra = (0..models.len()).any(|i| aligned(i).iter().any(|&l| l >= k_final));
    let mut rows: Vec<String> = (0..k_final).map(|c| format!("basin {c}")).collect();
    if extra {
        rows.push("other".into());
    }
    let n_rows = rows.len();
    let mut chart = Chart::new(
        460.0,
        300.0,
        Axis::categorical(labels(steps), "checkpoint"),
        Axis::categorical(rows, "basin (matched)"),
    );
    // Room above the plot area for the legend (one line per final basin).
    chart.area.1 = 12.0 + 14.0 * k_final as f64;
    let mut s = chart.open("basin flow across checkpoints", "Basin flow");
    let n = models.len().max(1);
    for (i, &f) in finals.iter().enumerate() {
        // Spread the models of a row so that lines do not sit on one another.
        let offset = 0.2 + 0.6 * (i as f64 + 0.5) / n as f64;
        let pts: Vec<String> = aligned(i)
            .iter()
            .enumerate()
            .map(|(x, &l)| {
                format!(
                    "{:.1},{:.1}",
                    chart.px(x as f64 + 0.5),
                    chart.py(l.min(n_rows - 1) as f64 + offset)
                )
            })
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-opacity=\"0.8\"/>",
            pts.join(" "),
            category(f)
        );
    }
    let entries: Vec<(&str, Mark, String)> = (0..k_final)
        .map(|c| {
            let count = finals.iter().filter(|&&f| f == c).count();
            (
                category(c),
                Mark::Line,
                format!("ends in basin {c} ({count})"),
            )
        })
        .collect();
    // Above the plot area's top right, clear of the lines.
    s.push_str(&legend(
        chart.area.2 - legend_width(&entries),
        2.0,
        &entries,
    ));
    s.push_str("</svg>");
    Figure::new(
        task,
        "dynamics-flow",
        "Each model is a line across the checkpoints, at the basin its checkpoint was clustered \
         into (labels matched to the final clustering's), coloured by the basin it ends in; a \
         line that changes row is a model that moved."
            .into(),
        s,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A dynamics.json of three models over two checkpoints, with `more` over its empty
    /// own-final steps, predictions and correlations.
    fn doc(predicted: Value, more: Value) -> DynamicsDoc {
        let mut d = json!({"seeds": [3, 5, 8], "dynamics": {
            "steps": [
                {"at": "step=10", "k": 2, "ari": -0.2, "accuracy": 0.3333, "aligned": [1, 2, 0], "elsewhere": [3, 5]},
                {"at": "final", "k": 2, "ari": 1.0, "accuracy": 1.0, "aligned": [0, 0, 1], "elsewhere": []}],
            "models": [
                {"seed": 3, "final_basin": 0, "settled_at": "final", "switches": 1},
                {"seed": 5, "final_basin": 0, "settled_at": "final", "switches": 1},
                {"seed": 8, "final_basin": 1, "settled_at": "final", "switches": 1}],
            "predicted_from": predicted},
            "own_final": {"set": "nli.eval", "barrier": "convexity", "steps": []},
            "prediction": [], "predicted_from_centroid": {}, "correlations": []});
        if let (Some(d), Value::Object(more)) = (d.as_object_mut(), more) {
            d.extend(more);
        }
        serde_json::from_value(d).expect("a whole dynamics.json")
    }

    #[test]
    fn the_section_names_models_and_says_when_basins_are_predicted() {
        let names = ["a".to_string(), "b".into(), "c".into()];
        let (html, figs) = section("nli", &doc(Value::Null, json!({})), &names);
        assert!(html.contains("not settled by the last kept step"), "{html}");
        assert!(html.contains("<td>a, b</td>"), "{html}");
        assert!(
            html.contains("<td>33%</td>") && html.contains("<td>-0.200</td>"),
            "{html}"
        );
        assert_eq!(figs.len(), 2);
        // One line per model in the flow; the unmatched cluster gets an "other" row.
        assert_eq!(figs[1].svg.matches("<polyline").count(), 3);
        assert!(figs[1].svg.contains(">other<"));
        assert!(figs[0].svg.contains("step=10") && figs[0].svg.contains(">final<"));
        let (html, _) = section("nli", &doc(json!("step=10"), json!({})), &names);
        assert!(html.contains("From <b>step=10</b> on"), "{html}");
        // With the own-final barriers: a sentence and a third figure, a line per model plus
        // one per final basin.
        let own = json!({"set": "nli.eval", "barrier": "convexity", "steps": [
            {"at": "step=10", "barriers": [0.1, 0.0, 0.4], "mean": 0.1667, "max": 0.4, "by_final_basin": [0.05, 0.4]}]});
        let d = doc(Value::Null, json!({"own_final": own}));
        let (html, figs) = section("nli", &d, &names);
        assert!(
            html.contains("step=10 mean 0.167 (largest 0.400)"),
            "{html}"
        );
        assert_eq!(figs.len(), 3);
        assert_eq!(figs[2].svg.matches("<polyline").count(), 5);

        // Predictions by nearest references and the correlations: a table each, a figure with
        // one line for the clustering and one per number of references.
        let prediction = json!([
            {"at": "step=10", "clustering": {"accuracy": 0.3333, "forward_passes": 1_638_400},
             "centroid": [{"references": 1, "accuracy": 0.95, "draws": 200, "forward_passes": 41_472}],
             "majority": {"accuracy": 0.65, "forward_passes": 0},
             "score": [{"references": 1, "accuracy": 0.8, "draws": 200, "forward_passes": 484}],
             "outputs": [{"references": 1, "accuracy": 0.9, "draws": 200, "forward_passes": 486}]},
            {"at": "final", "clustering": {"accuracy": 1.0, "forward_passes": 1_638_400},
             "centroid": [{"references": 1, "accuracy": 1.0, "draws": 200, "forward_passes": 41_472}],
             "majority": {"accuracy": 0.65, "forward_passes": 0}, "score": [], "outputs": []}]);
        let correlations = json!([
            {"at": "step=10", "coordinate": [0.1, 0.2, -0.3], "sets": [
                {"set": "conflict", "at_step": null, "final_score": {"r": -0.81, "p": 0.0004}}]},
            {"at": "final", "coordinate": [0.1, 0.2, -0.3], "sets": [
                {"set": "conflict", "at_step": {"r": -0.9, "p": 0.02}, "final_score": {"r": -0.9, "p": 0.02}}]}]);
        let d = doc(
            Value::Null,
            json!({"own_final": own, "prediction": prediction,
                "predicted_from_centroid": {"1": "step=10"}, "correlations": correlations}),
        );
        let (html, figs) = section("nli", &d, &names);
        assert_eq!(figs.len(), 4);
        assert_eq!(figs[3].file, "figures/nli-dynamics-prediction.svg");
        assert_eq!(figs[3].svg.matches("<polyline").count(), 2);
        assert!(html.contains("1 a basin: from step=10"), "{html}");
        // The baselines beside it, with what each costs.
        assert!(
            html.contains("(484 forward passes: one evaluation"),
            "{html}"
        );
        assert!(
            html.contains("<td>step=10</td><td>65%</td><td>80%</td><td>90%</td>"),
            "{html}"
        );
        assert!(
            html.contains(
                "<td>step=10</td><td>33%</td><td>1,638,400</td><td>95%</td><td>41,472</td>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<td>step=10</td><td>&ndash;</td><td>-0.81 (p &lt; 0.001)</td>"),
            "{html}"
        );
        assert!(html.contains("<td>-0.90 (p = 0.020)</td>"), "{html}");
    }
}
