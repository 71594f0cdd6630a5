//! The page's figures, each an SVG that is inlined in the page and also written beside it as a
//! file of its own (`figures/<task>-<figure>.svg`):
//! - the barrier heatmap in dendrogram order, with the dendrogram, basin bands and their
//!   legend, model labels and a colour bar with values;
//! - the loss along every path above what its barrier is measured from (convex hull or chord),
//!   per basin and between basins, with each group's median barrier;
//! - per score, the score against the spectral coordinate (with the least-squares line)
//!   and a strip plot of the score per basin (with each basin's median).

use std::fmt::Write as _;

use super::TaskInputs;

mod scores;

use crate::plot::{category, esc, legend, open_svg, quantile, tick_label, viridis};
use crate::plot::{Axis, Chart, Mark};
pub use scores::scores;

/// One figure: where it is saved (relative to the page), what it shows, and the SVG itself.
pub struct Figure {
    pub file: String,
    pub caption: String,
    pub svg: String,
}

impl Figure {
    pub(super) fn new(task: &str, name: &str, caption: String, svg: String) -> Figure {
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        Figure {
            file: format!("figures/{}-{}.svg", safe(task), safe(name)),
            caption,
            svg,
        }
    }
}

/// The barrier matrix the clustering used, rows and columns in the dendrogram's leaf order.
pub fn heatmap(t: &TaskInputs) -> Figure {
    let (set, kind) = (&t.cluster.eval, t.barrier());
    let m = super::verdict::barrier_matrix(t);
    let seeds = t.seeds();
    let names = t.names();
    let assign = t.assignments();
    let order: Vec<usize> = (t.cluster.dendrogram.order.iter())
        .filter_map(|s| seeds.iter().position(|x| x == s))
        .collect();
    let order = if order.len() == seeds.len() {
        order
    } else {
        (0..seeds.len()).collect()
    };
    let n = order.len();
    let value = |i: usize, j: usize| {
        m.get(i)
            .and_then(|r| r.get(j))
            .copied()
            .filter(|v| v.is_finite())
    };
    let max = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .filter_map(|(i, j)| value(i, j))
        .fold(0.0f64, f64::max);
    let scale = Axis::over([0.0, max.max(1e-9)], 4, "");
    let cell = (340 / n.max(1)).clamp(8, 36) as f64;
    let label_w = 12.0 + 6.0 * names.iter().map(|s| s.chars().count()).max().unwrap_or(1) as f64;
    let (left, dendro_h, band) = (label_w + 14.0, 70.0, 10.0);
    let top = 24.0 + dendro_h + band + 4.0;
    let side = cell * n as f64;
    let title = format!("{kind} barrier on {set} (dendrogram order)");
    let width = (left + side + 90.0).max(12.0 + 7.0 * title.chars().count() as f64);
    let height = top + side + label_w + 24.0;
    let mut s = open_svg(width, height, "barrier heatmap");
    let _ = write!(
        s,
        "<text x=\"4\" y=\"16\" font-size=\"12\" font-weight=\"bold\">{}</text>",
        esc(&title)
    );
    // The dendrogram: average linkage over the same barriers, heights on a scale at its left.
    let merges: Vec<(usize, usize, f64)> = (t.cluster.dendrogram.merges.iter())
        .map(|&(a, b, h, _)| (a, b, h))
        .collect();
    let hmax = merges.iter().map(|m| m.2).fold(0.0f64, f64::max);
    if !merges.is_empty() && merges.len() + 1 == n {
        let h_axis = Axis::over([0.0, hmax.max(1e-9)], 2, "");
        let base = 24.0 + dendro_h;
        let dy = |h: f64| base - (h / h_axis.hi) * (dendro_h - 6.0);
        let mut at: Vec<(f64, f64)> = vec![(0.0, base); n];
        for (r, &i) in order.iter().enumerate() {
            at[i].0 = left + (r as f64 + 0.5) * cell;
        }
        for &(a, b, h) in &merges {
            let (Some(&(xa, ya)), Some(&(xb, yb))) = (at.get(a), at.get(b)) else {
                break;
            };
            let y = dy(h);
            let _ = write!(
                s,
                "<path d=\"M{xa:.1} {ya:.1}V{y:.1}H{xb:.1}V{yb:.1}\" fill=\"none\" stroke=\"#333\"/>"
            );
            at.push(((xa + xb) / 2.0, y));
        }
        let step = h_axis.ticks[1] - h_axis.ticks[0];
        for &v in &h_axis.ticks {
            let y = dy(v);
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#444\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left - 8.0,
                left - 4.0,
                left - 10.0,
                y + 3.5,
                tick_label(v, step),
            );
        }
        let _ = write!(
            s,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"#444\"/>",
            left - 4.0,
            dy(h_axis.hi),
            left - 4.0
        );
    }
    // Cluster bands above the columns and left of the rows, model labels on both sides.
    for (r, &i) in order.iter().enumerate() {
        let c = category(assign.get(i).copied().unwrap_or(0));
        let x = left + r as f64 * cell;
        let y = top + r as f64 * cell;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{cell}\" height=\"{band}\" fill=\"{c}\"/>\
             <rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{band}\" height=\"{cell}\" fill=\"{c}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{name}</text>\
             <text transform=\"translate({:.1} {:.1}) rotate(-90)\" text-anchor=\"end\">{name}</text>",
            top - band - 2.0,
            left - band - 2.0,
            left - band - 5.0,
            y + cell / 2.0 + 3.5,
            x + cell / 2.0 + 3.5,
            top + side + 5.0,
            name = esc(&names[i])
        );
        for (q, &j) in order.iter().enumerate() {
            let (fill, title) = match value(i, j) {
                Some(v) => (viridis(v / scale.hi), format!("{v:.4}")),
                None if i == j => (viridis(0.0), "0".into()),
                None => ("#ccc".into(), "not interpolated".into()),
            };
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\"><title>{} ~ {}: {title}</title></rect>",
                left + q as f64 * cell,
                esc(&names[i]),
                esc(&names[j])
            );
        }
    }
    // The colour bar, with the barrier values its colours stand for.
    let (bx, bh) = (left + side + 14.0, side.max(60.0));
    let steps = 32;
    for k in 0..steps {
        let f = k as f64 / steps as f64;
        let _ = write!(
            s,
            "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"14\" height=\"{:.2}\" fill=\"{}\"/>",
            top + bh * (1.0 - f - 1.0 / steps as f64),
            bh / steps as f64 + 0.3,
            viridis(f + 0.5 / steps as f64)
        );
    }
    let step = scale.ticks[1] - scale.ticks[0];
    for &v in &scale.ticks {
        let y = top + bh * (1.0 - v / scale.hi);
        let _ = write!(
            s,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#444\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            bx + 14.0,
            bx + 18.0,
            bx + 20.0,
            y + 3.5,
            tick_label(v, step)
        );
    }
    let _ = write!(
        s,
        "<text transform=\"translate({:.1} {:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">barrier ({})</text>",
        bx + 62.0,
        top + bh / 2.0,
        super::barrier_unit(kind)
    );
    // Which colour of the bands is which basin.
    s.push_str(&legend(left + side + 10.0, 24.0, &basin_entries(&assign)));
    s.push_str("</svg>");
    let outside = out_of_block(&order, &assign);
    let note = if outside.is_empty() {
        String::new()
    } else {
        let who: Vec<&str> = outside.iter().map(|&i| names[i].as_str()).collect();
        format!(
            " The dendrogram and the basins disagree on {}: in this order they sit inside \
             another basin's block (the dendrogram is average linkage; the basins are {} \
             clustering).",
            who.join(", "),
            super::method_name(t.cluster.method)
        )
    };
    Figure::new(
        t.task,
        "heatmap",
        format!(
            "{kind} barrier ({}) between every pair on {set}, rows and columns in the order of \
             the average-linkage dendrogram above; the coloured bands give each model's basin \
             (legend at the top right; grey cells: pairs not interpolated).{note}",
            super::barrier_unit(kind)
        ),
        s,
    )
}

/// The models (indices) that sit outside their basin's longest contiguous run in the
/// dendrogram's leaf order: where the dendrogram and the clustering disagree.
fn out_of_block(order: &[usize], assign: &[usize]) -> Vec<usize> {
    let basin = |i: usize| assign.get(i).copied();
    // Each basin's longest run: (start, length) in `order`.
    let mut best: std::collections::BTreeMap<usize, (usize, usize)> = Default::default();
    let mut r = 0;
    while r < order.len() {
        let b = basin(order[r]);
        let mut e = r;
        while e < order.len() && basin(order[e]) == b {
            e += 1;
        }
        if let Some(b) = b {
            let cur = best.entry(b).or_insert((r, 0));
            if e - r > cur.1 {
                *cur = (r, e - r);
            }
        }
        r = e;
    }
    let mut out: Vec<usize> = (0..order.len())
        .filter(|&r| {
            basin(order[r])
                .and_then(|b| best.get(&b))
                .is_some_and(|&(start, len)| r < start || r >= start + len)
        })
        .map(|r| order[r])
        .collect();
    out.sort_unstable();
    out
}

/// The loss above the chord (what the convexity barrier measures) along every path of the
/// clustering's eval set: within each basin (in that basin's colour, as in every other figure)
/// and between basins (dark grey), each path between basins oriented from the lower-numbered
/// basin to the higher, with each group's median. Raw losses hid the barrier: endpoints whose
/// losses differ by nats make the chord steep and the medians U-shaped.
pub fn paths(t: &TaskInputs) -> Figure {
    let set = &t.cluster.eval;
    let kind = t.barrier().to_owned();
    // What the barrier measures each path's height above: its lower convex hull (convexity)
    // or the chord between its ends (endpoint; accuracy barriers are shown on the loss too).
    let above = if kind == "convexity" {
        "its convex hull"
    } else {
        "the chord"
    };
    let b = t.clustered_set();
    let alphas: Vec<f64> = b.map(|b| b.alphas.clone()).unwrap_or_default();
    let (seeds, names, assign) = (t.seeds(), t.names(), t.assignments());
    let k = assign.iter().max().map_or(1, |m| m + 1);
    let pos = |s: &str| -> Option<usize> {
        names.iter().position(|n| n == s).or_else(|| {
            let s: u64 = s.parse().ok()?;
            seeds.iter().position(|&x| x == s)
        })
    };
    // Groups 0..k: within basin c; group k: between basins.
    let mut groups: Vec<Vec<Vec<f64>>> = vec![Vec::new(); k + 1];
    for (pair, c) in b.into_iter().flat_map(|b| &b.curves) {
        let Some((x, y)) = pair.split_once('~') else {
            continue;
        };
        let (Some(i), Some(j)) = (pos(x), pos(y)) else {
            continue;
        };
        let (Some(&ai), Some(&aj)) = (assign.get(i), assign.get(j)) else {
            continue;
        };
        let mut loss = c.loss.clone();
        if loss.len() != alphas.len() || alphas.len() < 2 {
            continue;
        }
        if ai > aj {
            loss.reverse();
        }
        groups[if ai == aj { ai } else { k }].push(excess(&kind, &alphas, &loss));
    }
    let all = groups.iter().flatten().flatten().copied().chain([0.0]);
    let chart = Chart::new(
        460.0,
        300.0,
        Axis::fixed(vec![0.0, 0.25, 0.5, 0.75, 1.0], "interpolation weight α"),
        Axis::over(all, 5, &format!("loss above {above} on {set} (nats)")),
    );
    let mut s = chart.open(
        &format!("loss above {above} along the paths"),
        &format!("Loss above {above} along the linear paths"),
    );
    let line = |s: &mut String, ys: &[f64], colour: &str, extra: &str| {
        let pts: Vec<String> = alphas
            .iter()
            .zip(ys)
            .filter(|(_, y)| y.is_finite())
            .map(|(a, y)| format!("{:.1},{:.1}", chart.px(*a), chart.py(*y)))
            .collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" {extra}/>",
            pts.join(" ")
        );
    };
    // Zero: a path on this line has no barrier.
    let _ = write!(
        s,
        "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#000\" stroke-dasharray=\"2 2\"/>",
        chart.px(0.0),
        chart.px(1.0),
        y = chart.py(0.0)
    );
    let colour = |g: usize| if g == k { "#444444" } else { category(g) };
    let label = |g: usize| {
        if g == k && k == 2 {
            "between basins (0 to 1)".to_owned()
        } else if g == k {
            "between basins (lower to higher)".to_owned()
        } else {
            format!("within basin {g}")
        }
    };
    for (g, paths) in groups.iter().enumerate() {
        for p in paths {
            line(
                &mut s,
                p,
                colour(g),
                "stroke-opacity=\"0.2\" stroke-width=\"1\"",
            );
        }
    }
    // Each group's median barrier (the median of its paths' peaks) as a level line: the peaks
    // sit at different α on different paths, so a median curve over α would flatten them.
    let mut entries = Vec::new();
    for (g, paths) in groups.iter().enumerate() {
        if paths.is_empty() {
            continue;
        }
        let peaks: Vec<f64> = paths
            .iter()
            .map(|p| {
                p.iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(0.0, f64::max)
            })
            .collect();
        let Some(med) = quantile(&peaks, 0.5) else {
            continue;
        };
        let dash = if g == k {
            " stroke-dasharray=\"6 3\""
        } else {
            ""
        };
        line(
            &mut s,
            &vec![med; alphas.len()],
            colour(g),
            &format!("stroke-width=\"2.5\"{dash}"),
        );
        entries.push((
            colour(g),
            Mark::Line,
            format!(
                "{}: median barrier {med:.3} ({} paths)",
                label(g),
                paths.len()
            ),
        ));
    }
    s.push_str(&legend(chart.area.0 + 6.0, chart.area.1 + 6.0, &entries));
    s.push_str("</svg>");
    Figure::new(
        t.task,
        "paths",
        format!(
            "Loss on {set} minus {}, in nats, along the straight line between each pair (thin \
             lines): each path's highest point is its {kind} barrier. Within each basin and \
             between basins (from the lower-numbered basin at α = 0 to the higher at α = 1); \
             the thick level lines are each group's median barrier.",
            if kind == "convexity" {
                "the lower convex hull of the sampled losses (the chords of every sub-segment)"
            } else {
                "the chord between the two ends' losses"
            }
        ),
        s,
    )
}

/// A path's height above what its barrier measures from: the lower convex hull of the sampled
/// points for the convexity barrier (whose value is the largest such height), the chord between
/// the ends otherwise (the endpoint barrier's).
fn excess(kind: &str, alphas: &[f64], loss: &[f64]) -> Vec<f64> {
    if kind != "convexity" {
        return above_chord(alphas, loss);
    }
    // Andrew's monotone chain: the lower hull of points already in ascending alpha.
    let mut hull: Vec<(f64, f64)> = Vec::new();
    for (&x, &y) in alphas.iter().zip(loss) {
        if !y.is_finite() {
            continue;
        }
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // Drop b when it lies on or above the segment from a to (x, y).
            if (b.0 - a.0) * (y - a.1) - (b.1 - a.1) * (x - a.0) <= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push((x, y));
    }
    alphas
        .iter()
        .zip(loss)
        .map(|(&x, &y)| {
            let at = hull.windows(2).find(|w| x >= w[0].0 && x <= w[1].0);
            match at {
                Some(w) if w[1].0 > w[0].0 => {
                    let t = (x - w[0].0) / (w[1].0 - w[0].0);
                    y - (w[0].1 + t * (w[1].1 - w[0].1))
                }
                _ => 0.0,
            }
        })
        .collect()
}

/// A path's loss minus the straight line between its two ends' losses.
fn above_chord(alphas: &[f64], loss: &[f64]) -> Vec<f64> {
    let (a0, a1) = (alphas[0], alphas[alphas.len() - 1]);
    let (l0, l1) = (loss[0], loss[loss.len() - 1]);
    alphas
        .iter()
        .zip(loss)
        .map(|(a, l)| {
            let w = if a1 > a0 { (a - a0) / (a1 - a0) } else { 0.0 };
            l - (l0 + w * (l1 - l0))
        })
        .collect()
}

/// A score axis kept to the range its metric can take: accuracies and rates in [0, 1],
/// correlations (MCC) in [-1, 1].
fn bounded(axis: Axis, title: &str) -> Axis {
    if title.contains("accuracy") || title.contains(" f1") || title.contains("rate") {
        axis.within(0.0, 1.0)
    } else if title.contains("mcc") || title.contains("correlation") {
        axis.within(-1.0, 1.0)
    } else {
        axis
    }
}

/// Which colour is which basin, at the top right of the plot area.
fn basin_legend(chart: &Chart, assign: &[usize]) -> String {
    legend(
        chart.area.2 - 86.0,
        chart.area.1 + 4.0,
        &basin_entries(assign),
    )
}

/// One legend entry per basin: its colour and `basin c (members)`.
fn basin_entries(assign: &[usize]) -> Vec<(&'static str, Mark, String)> {
    let k = assign.iter().max().map_or(0, |m| m + 1);
    (0..k)
        .map(|c| {
            let n = assign.iter().filter(|&&a| a == c).count();
            (category(c), Mark::Dot, format!("basin {c} ({n})"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{testing, BarriersDoc, ClusterDoc};
    use serde_json::json;

    fn two_basins() -> (ClusterDoc, BarriersDoc) {
        let cluster = testing::cluster(json!({"seeds": [0, 1, 2, 3], "assignments": [0, 0, 1, 1],
            "eval": "dev", "barrier": "convexity", "coordinate": [-1.0, -0.8, 0.9, 1.1],
            "dendrogram": {"order": [1, 0, 2, 3], "merges": [[0, 1, 0.01, 2], [2, 3, 0.03, 2], [4, 5, 0.35, 4]]}}));
        let barriers = testing::barriers(json!({"dev": {"alphas": [0.0, 0.5, 1.0],
            "matrices": {"convexity": {"value": [
                [0.0, 0.01, 0.30, 0.40],
                [0.01, 0.0, 0.50, 0.20],
                [0.30, 0.50, 0.0, 0.03],
                [0.40, 0.20, 0.03, null]]}},
            "curves": {"0~1": {"loss": [0.5, 0.52, 0.5]}, "0~2": {"loss": [0.5, 0.9, 0.5]},
                       "2~3": {"loss": [0.4, 0.45, 0.5]}}}}));
        (cluster, barriers)
    }

    #[test]
    fn figures_carry_their_values_labels_and_legends() {
        let (cluster, barriers) = two_basins();
        let t = TaskInputs {
            task: "nli",
            barriers: Some(&barriers),
            cluster: &cluster,
            diagnostics: None,
            dynamics: None,
            controls: None,
            soups: None,
            blocks: None,
            aligned: None,
            expect: None,
        };
        let h = heatmap(&t);
        assert_eq!(h.file, "figures/nli-heatmap.svg");
        // Colour bar ticks from 0 to the largest barrier (0.5), in round steps.
        for tick in [
            ">0.0</text>",
            ">0.1</text>",
            ">0.5</text>",
            ">barrier (nats)</text>",
        ] {
            assert!(h.svg.contains(tick), "{tick}");
        }
        // Both basins are one block each in this order: no disagreement to note.
        assert!(!h.caption.contains("disagree"), "{}", h.caption);
        assert!(h.svg.contains("basin 0 (2)") && h.svg.contains("basin 1 (2)"));
        assert_eq!(out_of_block(&[0, 2, 1, 3], &[0, 0, 1, 1]), vec![1, 3]);
        assert_eq!(
            out_of_block(&[0, 1, 3, 2], &[0, 0, 1, 1]),
            Vec::<usize>::new()
        );
        // Three merges: three dendrogram links; both axes name every model.
        assert_eq!(h.svg.matches("<path d=\"M").count(), 3);
        assert_eq!(h.svg.matches(">2</text>").count(), 2);
        // The largest barrier is the top of the colour map.
        assert!(h
            .svg
            .contains(&format!("fill=\"{}\"><title>1 ~ 2: 0.5000", viridis(1.0))));

        let p = paths(&t);
        for label in [
            "interpolation weight α",
            // The y title, on two lines.
            ">loss above its convex hull on dev</text>",
            ">(nats)</text>",
            "within basin 0: median barrier 0.020 (1 paths)",
            "within basin 1: median barrier 0.000 (1 paths)",
            "between basins (0 to 1): median barrier 0.400 (1 paths)",
            ">0.25</text>",
        ] {
            assert!(p.svg.contains(label), "{label}");
        }
        // 0~2 rises 0.4 above its flat chord; 2~3 is on its chord (0.4, 0.45, 0.5).
        assert_eq!(
            above_chord(&[0.0, 0.5, 1.0], &[0.5, 0.9, 0.5]),
            vec![0.0, 0.4, 0.0]
        );
        let flat = above_chord(&[0.0, 0.5, 1.0], &[0.4, 0.45, 0.5]);
        assert!(flat.iter().all(|v| v.abs() < 1e-12), "{flat:?}");
        assert!(p
            .svg
            .contains(">Loss above its convex hull along the linear paths</text>"));

        let mut row = crate::report::analysis::testing::row("hans", "accuracy", &[], None);
        row.scores = vec![Some(0.2), Some(0.25), Some(0.8), None];
        row.pearson_vs_coordinate = Some(crate::stats::Pearson { r: 0.97, p: 0.03 });
        let f = scores(&t, &[("hans".to_owned(), row)].into());
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].file, "figures/nli-scatter-hans.svg");
        for label in [
            "Pearson r = 0.97 (p = 0.030)",
            "spectral coordinate",
            "hans accuracy",
            "basin 1 (2)",
            "stroke-dasharray",
        ] {
            assert!(f[0].svg.contains(label), "{label}");
        }
        // The model without a score is not drawn.
        assert_eq!(f[0].svg.matches("<circle").count(), 3 + 2);
        assert!(
            f[1].svg.contains(">1 (n = 1)</text>"),
            "basins named with their scored sizes"
        );
        assert_eq!(
            f[1].svg.matches("stroke-width=\"2\"").count(),
            2,
            "a median bar per basin"
        );
    }

    /// The highest point above the hull is the convexity barrier, on curves that dip below
    /// their chord and bump on the way (the demo's shape, which the chord alone hid).
    #[test]
    fn the_height_above_the_hull_peaks_at_the_convexity_barrier() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let alphas: Vec<f64> = (0..10).map(|i| i as f64 / 9.0).collect();
        for _ in 0..500 {
            let y: Vec<f64> = alphas
                .iter()
                .map(|a| 3.0 * (a - 0.5f64).powi(2) + rng.random_range(-0.3..0.3))
                .collect();
            let top = excess("convexity", &alphas, &y)
                .into_iter()
                .fold(0.0f64, f64::max);
            let want = crate::barriers::convexity(&alphas, &y);
            assert!((top - want).abs() < 1e-12, "{top} vs {want} on {y:?}");
            let top = excess("endpoint", &alphas, &y)
                .into_iter()
                .fold(0.0f64, f64::max);
            let want = crate::barriers::endpoint(&alphas, &y);
            assert!((top - want).abs() < 1e-12, "{top} vs {want} on {y:?}");
        }
    }
}
