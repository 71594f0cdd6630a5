//! "Where is the barrier?": a task's per-block barriers (`blocks.json`) and its barriers after
//! permutation alignment (`aligned.json`), when the study asked for them.
//!
//! - the blocks table: each block's median barrier within and between basins, its share of the
//!   whole path's barrier between basins, and the adjusted Rand index of the basins its matrix
//!   alone gives; the whole path's row first, for comparison;
//! - the pairs x blocks heatmap: one row per pair, within-basin pairs first (basin by basin),
//!   then the pairs across basins, one column per block and place held, beside the whole path;
//! - the alignment table: the barrier's medians before and after, the share of each kind of
//!   unit the permutations leave in place, and whether the basins survive (the aligned matrix
//!   clustered as the study clusters, against the final basins), with a scatter of each pair's
//!   barrier after against before.

use std::fmt::Write as _;

use super::figures::Figure;
use super::{barrier_unit, esc, num_of, TaskInputs};
use crate::documents::{AlignedDoc, BlocksDoc, MatrixSummary};
use crate::plot::{category, legend, open_svg, tick_label, viridis, Axis, Chart, Mark};

/// The section's HTML and its figures (none when the study asked for neither).
pub fn section(t: &TaskInputs) -> (String, Vec<Figure>) {
    if t.blocks.is_none() && t.aligned.is_none() {
        return (String::new(), Vec::new());
    }
    let mut s = format!(
        "<h3 id=\"where-{0}\">Where is the barrier?</h3>",
        esc(t.task)
    );
    let mut figures = Vec::new();
    if let Some(b) = t.blocks {
        s.push_str(&blocks_table(t, b));
        figures.push(heatmap(t, b));
    }
    if let Some(a) = t.aligned {
        s.push_str(&aligned_table(t, a));
        figures.push(scatter(t, a));
    }
    (s, figures)
}

fn summary_cells(m: &MatrixSummary) -> String {
    format!(
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        num_of(m.within),
        num_of(m.between),
        num_of(m.max),
        num_of(m.ari)
    )
}

fn hold_text(hold: &str) -> &'static str {
    if hold == "a" {
        "the first model"
    } else {
        "the second model"
    }
}

fn blocks_table(t: &TaskInputs, b: &BlocksDoc) -> String {
    let unit = barrier_unit(&b.barrier);
    let mut s = format!(
        "<p>Each block's own path: only that block's parameters move from one model to the other \
         while every other parameter stays at one end (Adilova et al., 2024). The {} barrier \
         ({unit}) on the loss-surface rows of {}, {} pairs, {} forward passes. The adjusted Rand \
         index compares the basins of each block's matrix alone (the study's clustering, with \
         its {} basins) with the final basins; the share is the block's barrier over the whole \
         path's, median over the pairs across basins.</p><table id=\"blocks-{}\"><tr><th>block</th>\
         <th>others held at</th><th>median within basins</th><th>median between basins</th>\
         <th>largest</th><th>ARI vs basins</th><th>share of the whole barrier between basins</th></tr>\
         <tr><td><b>whole path</b></td><td>&ndash;</td>{}<td>1</td></tr>",
        esc(&b.barrier),
        esc(&b.set),
        b.pairs.len(),
        b.forward_passes,
        t.cluster.k,
        esc(t.task),
        summary_cells(&b.whole),
    );
    for row in &b.summaries {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td>{}<td>{}</td></tr>",
            esc(&row.block),
            hold_text(row.hold.name()),
            summary_cells(&row.summary),
            num_of(row.share_between)
        );
    }
    s.push_str("</table>");
    s.push_str(&blocks_finding(t, b));
    s
}

/// The sentence under the table: which block's own path rises highest between basins, and
/// which blocks' matrices alone give the basins back.
fn blocks_finding(t: &TaskInputs, b: &BlocksDoc) -> String {
    let label = |r: &crate::documents::BlockSummary| {
        if b.holds.len() > 1 {
            format!("{} (others held at {})", r.block, hold_text(r.hold.name()))
        } else {
            r.block.clone()
        }
    };
    let highest = b
        .summaries
        .iter()
        .filter_map(|r| Some((r, r.summary.between?)))
        .max_by(|x, y| x.1.total_cmp(&y.1));
    let Some((top, between)) = highest else {
        return String::new();
    };
    let recovering: Vec<String> = b
        .summaries
        .iter()
        .filter(|r| r.summary.ari.is_some_and(|a| a >= 0.9))
        .map(label)
        .collect();
    let whole = b
        .whole
        .between
        .map_or("&ndash;".into(), |w| format!("{w:.3}"));
    format!(
        "<p id=\"blocks-finding-{}\">Between basins the highest single-block barrier comes from \
         moving {}: median {between:.3}, against {whole} for the whole path. {}</p>",
        esc(t.task),
        esc(&label(top)),
        if recovering.is_empty() {
            "No block's matrix alone gives the basins back (adjusted Rand index below 0.9 for \
             every block)."
                .to_owned()
        } else {
            format!(
                "The basins come back (adjusted Rand index at least 0.9) from the matrix of {} \
                 alone.",
                esc(&recovering.join(", "))
            )
        }
    )
}

fn aligned_table(t: &TaskInputs, a: &AlignedDoc) -> String {
    let unit = barrier_unit(&a.barrier);
    let mut s = format!(
        "<p>Permutation alignment (weight matching, Ainsworth et al., 2023): the second model's \
         residual stream, attention heads (with their key and value dimensions) and FFN units \
         permuted to best match the first's weights, then the path taken again. The \
         permuted model computes the same function: its loss on every loss-surface row differs \
         from the original's by at most {:.1e} nats. The {} barrier ({unit}) on {}:</p>\
         <table id=\"aligned-{}\"><tr><th></th><th>median within basins</th>\
         <th>median between basins</th><th>largest</th><th>ARI vs basins</th></tr>\
         <tr><td>before alignment</td>{}</tr><tr><td>after alignment</td>{}</tr></table>",
        a.end_loss_change,
        esc(&a.barrier),
        esc(&a.set),
        esc(t.task),
        summary_cells(&a.before),
        summary_cells(&a.after)
    );
    let shares: Vec<String> = a
        .identity
        .iter()
        .map(|(k, v)| format!("{} {}", esc(k), num_of(Some(*v))))
        .collect();
    let _ = write!(
        s,
        "<p id=\"aligned-identity-{}\">Share of units each permutation leaves in place (mean over \
         pairs): {}.</p>",
        esc(t.task),
        shares.join(", ")
    );
    if let Some(c) = &a.clustered {
        let survive = if c.ari >= 0.999 {
            "the basins survive alignment: the aligned barriers give the same partition"
        } else if c.ari > 0.5 {
            "the basins mostly survive alignment"
        } else {
            "the basins do not survive alignment"
        };
        let _ = write!(
            s,
            "<p id=\"aligned-basins-{}\">Clustered as the study clusters, the aligned barriers \
             give {} basin(s); adjusted Rand index against the final basins {}: {survive}.</p>",
            esc(t.task),
            c.k,
            num_of(Some(c.ari))
        );
    }
    s
}

/// One heatmap column: its label's value for pair `i` (an index into the document's pairs).
type Column<'a> = Box<dyn Fn(usize) -> Option<f64> + 'a>;

/// Pairs x (whole path, each block per place held), rows grouped by basin.
fn heatmap(t: &TaskInputs, b: &BlocksDoc) -> Figure {
    let names = t.names();
    let seeds = &b.seeds;
    let name = |s: u64| {
        seeds
            .iter()
            .position(|&x| x == s)
            .and_then(|i| names.get(i).cloned())
            .unwrap_or_else(|| s.to_string())
    };
    let basin = |s: u64| {
        let i = seeds.iter().position(|&x| x == s)?;
        b.basins.as_ref().map(|v| v[i])
    };
    // Within basin 0, within basin 1, ..., then across basins.
    let mut rows: Vec<usize> = (0..b.pairs.len()).collect();
    rows.sort_by_key(|&i| {
        let p = &b.pairs[i];
        match (basin(p.a), basin(p.b)) {
            (Some(x), Some(y)) if x == y => (0, x, p.a, p.b),
            (Some(x), Some(y)) => (1, x.min(y) * 1000 + x.max(y), p.a, p.b),
            _ => (2, 0, p.a, p.b),
        }
    });
    let mut columns: Vec<(String, Column)> = vec![("whole".into(), Box::new(|i| b.pairs[i].whole))];
    for hold in &b.holds {
        for (k, block) in b.blocks.iter().enumerate() {
            let h = hold.name().to_owned();
            let label = if b.holds.len() > 1 {
                format!("{block} ({h})")
            } else {
                block.clone()
            };
            columns.push((
                label,
                Box::new(move |i| b.pairs[i].blocks.get(&h).and_then(|v| v[k])),
            ));
        }
    }
    let max = (0..b.pairs.len())
        .flat_map(|i| columns.iter().filter_map(move |(_, f)| f(i)))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let cell_w = 46.0;
    let cell_h = (360.0 / rows.len().max(1) as f64).clamp(2.0, 14.0);
    let label_w = if cell_h >= 9.0 { 70.0 } else { 16.0 };
    let (left, top) = (label_w + 10.0, 96.0);
    let width = left + cell_w * columns.len() as f64 + 90.0;
    let height = top + cell_h * rows.len() as f64 + 20.0;
    let mut s = open_svg(width.max(380.0), height, "per-block barrier heatmap");
    let _ = write!(
        s,
        "<text x=\"4\" y=\"16\" font-size=\"12\" font-weight=\"bold\">{} barrier of each \
         block's own path, by pair</text>",
        esc(&b.barrier)
    );
    for (c, (label, _)) in columns.iter().enumerate() {
        let x = left + (c as f64 + 0.5) * cell_w;
        let _ = write!(
            s,
            "<text transform=\"translate({x:.1} {:.1}) rotate(-45)\" font-size=\"10\">{}</text>",
            top - 6.0,
            esc(label)
        );
    }
    for (r, &i) in rows.iter().enumerate() {
        let p = &b.pairs[i];
        let y = top + r as f64 * cell_h;
        let band = match (basin(p.a), basin(p.b)) {
            (Some(x), Some(z)) if x == z => category(x),
            _ => "#999",
        };
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"6\" height=\"{cell_h:.1}\" fill=\"{band}\"/>",
            left - 8.0
        );
        if cell_h >= 9.0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"end\">{}~{}</text>",
                left - 10.0,
                y + cell_h - 2.0,
                esc(&name(p.a)),
                esc(&name(p.b))
            );
        }
        for (c, (_, f)) in columns.iter().enumerate() {
            let fill = f(i).map_or("#fff".to_owned(), |v| viridis(v / max));
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{cell_w:.1}\" height=\"{cell_h:.1}\" fill=\"{fill}\"/>",
                left + c as f64 * cell_w
            );
        }
    }
    // The colour bar.
    let bx = left + cell_w * columns.len() as f64 + 16.0;
    let bh = (cell_h * rows.len() as f64).max(60.0);
    for k in 0..20 {
        let v = 1.0 - k as f64 / 20.0;
        let _ = write!(
            s,
            "<rect x=\"{bx:.1}\" y=\"{:.1}\" width=\"12\" height=\"{:.1}\" fill=\"{}\"/>",
            top + bh * k as f64 / 20.0,
            bh / 20.0 + 0.5,
            viridis(v)
        );
    }
    let axis = Axis::over([0.0, max], 4, "");
    let step = axis.ticks.get(1).map_or(1.0, |t| t - axis.ticks[0]);
    for &v in axis.ticks.iter().filter(|&&v| v <= max) {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"end\">{}</text>",
            bx + 40.0,
            top + bh * (1.0 - v / max) + 3.0,
            tick_label(v, step)
        );
    }
    let _ = write!(
        s,
        "<text transform=\"translate({:.1} {:.1}) rotate(-90)\" font-size=\"10\" \
         text-anchor=\"middle\">barrier ({})</text>",
        bx + 52.0,
        top + bh / 2.0,
        barrier_unit(&b.barrier)
    );
    s.push_str("</svg>");
    Figure::new(
        t.task,
        "blocks",
        format!(
            "Each pair's {} barrier ({}) when only one block moves, beside the whole path's. Rows: \
             pairs within each basin (band colour), then pairs across basins (grey band).",
            b.barrier,
            barrier_unit(&b.barrier)
        ),
        s,
    )
}

/// Each pair's barrier after alignment against before, within and across basins.
fn scatter(t: &TaskInputs, a: &AlignedDoc) -> Figure {
    let values: Vec<f64> = a
        .pairs
        .iter()
        .flat_map(|p| [p.before, p.after])
        .flatten()
        .chain([0.0])
        .collect();
    let axis = |title: &str| Axis::over(values.iter().copied(), 4, title);
    let unit = barrier_unit(&a.barrier);
    let chart = Chart::new(
        420.0,
        340.0,
        axis(&format!("barrier before alignment ({unit})")),
        axis(&format!("after alignment ({unit})")),
    );
    let mut s = chart.open(
        "barriers before and after alignment",
        &format!("{} barrier before and after alignment", a.barrier),
    );
    let (lo, hi) = (chart.x.lo, chart.x.hi);
    let _ = write!(
        s,
        "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>",
        chart.px(lo),
        chart.py(lo),
        chart.px(hi),
        chart.py(hi)
    );
    for p in &a.pairs {
        let (Some(x), Some(y)) = (p.before, p.after) else {
            continue;
        };
        let colour = match p.same_basin {
            Some(true) => category(0),
            Some(false) => category(1),
            None => "#555",
        };
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\" fill-opacity=\"0.7\"/>",
            chart.px(x),
            chart.py(y)
        );
    }
    if a.pairs.iter().any(|p| p.same_basin.is_some()) {
        let entries = [
            ("pairs within a basin", Mark::Dot, category(0).to_owned()),
            ("pairs across basins", Mark::Dot, category(1).to_owned()),
        ];
        s.push_str(&legend(chart.area.0 + 8.0, chart.area.1 + 8.0, &entries));
    }
    s.push_str("</svg>");
    Figure::new(
        t.task,
        "aligned",
        format!(
            "Each pair's {} barrier after the second model is permuted to match the first, \
             against before; on the dashed line alignment changed nothing.",
            a.barrier
        ),
        s,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::documents::testing;

    fn summary(between: f64, ari: f64) -> MatrixSummary {
        MatrixSummary {
            ari: Some(ari),
            between: Some(between),
            max: Some(between),
            median: Some(between),
            within: Some(0.0),
        }
    }

    #[test]
    fn the_section_names_the_block_that_carries_the_barrier_and_whether_basins_survive() {
        let cluster = testing::cluster(json!({"seeds": [0, 1, 2], "assignments": [0, 0, 1]}));
        let blocks: BlocksDoc = serde_json::from_value(json!({
            "alphas": [0.0, 0.5, 1.0], "barrier": "convexity", "basins": [0, 0, 1],
            "blocks": ["embeddings", "layer.0"], "forward_passes": 12, "holds": ["a"],
            "pairs": [
                {"a": 0, "b": 1, "blocks": {"a": [0.0, 0.01]}, "same_basin": true, "whole": 0.02},
                {"a": 0, "b": 2, "blocks": {"a": [0.1, 0.7]}, "same_basin": false, "whole": 0.9},
                {"a": 1, "b": 2, "blocks": {"a": [0.1, 0.8]}, "same_basin": false, "whole": 1.0}
            ],
            "seeds": [0, 1, 2], "set": "conflict",
            "summaries": [
                {"block": "embeddings", "hold": "a", "share_between": 0.1,
                 "ari": 0.0, "between": 0.1, "max": 0.1, "median": 0.1, "within": 0.0},
                {"block": "layer.0", "hold": "a", "share_between": 0.8,
                 "ari": 1.0, "between": 0.75, "max": 0.8, "median": 0.7, "within": 0.01}
            ],
            "whole": {"ari": 1.0, "between": 0.95, "max": 1.0, "median": 0.9, "within": 0.02}
        }))
        .unwrap();
        let aligned = AlignedDoc {
            after: summary(0.2, 0.3),
            alphas: vec![0.0, 0.5, 1.0],
            barrier: "convexity".into(),
            basins: Some(vec![0, 0, 1]),
            before: summary(0.95, 1.0),
            clustered: Some(crate::documents::AlignedBasins {
                ari: 0.3,
                assignments: vec![0, 1, 1],
                k: 2,
            }),
            identity: [("residual".to_owned(), 0.25)].into(),
            end_loss_change: 1e-6,
            pairs: Vec::new(),
            seeds: vec![0, 1, 2],
            set: "conflict".into(),
        };
        let t = TaskInputs {
            task: "nli",
            barriers: None,
            cluster: &cluster,
            diagnostics: None,
            dynamics: None,
            controls: None,
            soups: None,
            blocks: Some(&blocks),
            aligned: Some(&aligned),
            expect: None,
        };
        let (html, figures) = section(&t);
        assert!(
            html.contains("comes from moving layer.0: median 0.750, against 0.950 for the whole"),
            "{html}"
        );
        assert!(html.contains("from the matrix of layer.0 alone"), "{html}");
        assert!(
            html.contains("the basins do not survive alignment"),
            "{html}"
        );
        assert!(html.contains("residual 0.250"), "{html}");
        assert_eq!(figures.len(), 2);
        // Pairs within basin 0 come before the pairs across basins in the heatmap.
        let svg = &figures[0].svg;
        assert!(svg.find("0~1").unwrap() < svg.find("0~2").unwrap());
        // A study without either has no section.
        let none = TaskInputs {
            blocks: None,
            aligned: None,
            ..t
        };
        assert_eq!(section(&none).0, "");
        // Basins that come back whole are said to survive.
        let mut whole = aligned.clone();
        whole.clustered.as_mut().unwrap().ari = 1.0;
        let t = TaskInputs {
            aligned: Some(&whole),
            ..none
        };
        assert!(section(&t).0.contains("the basins survive alignment"));
    }
}
