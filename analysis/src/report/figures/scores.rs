//! Per score: the score against the spectral coordinate (with the least-squares line), and a
//! strip plot of the score per basin (with each basin's median).

use std::fmt::Write as _;

use super::{basin_legend, bounded, Figure};
use crate::plot::{category, quantile};
use crate::plot::{Axis, Chart};
use crate::report::{ScoreTable, TaskInputs};
use crate::stats::Pearson;

/// Per score: the score against the spectral coordinate, and the score per basin.
pub fn scores(t: &TaskInputs, tests: &ScoreTable) -> Vec<Figure> {
    let mut out = Vec::new();
    for (name, row) in tests {
        let score: Vec<f64> = (row.scores.iter()).map(|v| v.unwrap_or(f64::NAN)).collect();
        let y_title = format!("{} {}", row.set, row.primary);
        let y_title = y_title
            .strip_suffix(" (held out from the loss surface)")
            .unwrap_or(&y_title)
            .to_owned();
        out.push(scatter(
            t,
            name,
            &score,
            &y_title,
            row.pearson_vs_coordinate.as_ref(),
        ));
        out.push(strip(t, name, &score, &y_title));
    }
    out
}

fn scatter(
    t: &TaskInputs,
    name: &str,
    score: &[f64],
    y_title: &str,
    r: Option<&Pearson>,
) -> Figure {
    let (assign, coord) = (t.assignments(), t.coordinate());
    let points: Vec<(f64, f64, usize)> = (0..coord.len().min(score.len()))
        .filter(|&i| coord[i].is_finite() && score[i].is_finite())
        .map(|i| (coord[i], score[i], assign.get(i).copied().unwrap_or(0)))
        .collect();
    let fit = least_squares(&points);
    let (x0, x1) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.0), h.max(p.0))
        });
    // The line's ends are inside the y range, so it never leaves the frame.
    let ends = fit.map(|(a, b)| [a + b * x0, a + b * x1]);
    let chart = Chart::new(
        340.0,
        270.0,
        Axis::over(points.iter().map(|p| p.0), 4, "spectral coordinate"),
        bounded(
            Axis::over(
                points.iter().map(|p| p.1).chain(ends.into_iter().flatten()),
                4,
                y_title,
            ),
            y_title,
        ),
    );
    let label = match r {
        Some(Pearson { r, p }) => {
            format!("Pearson r = {r:.2} (p = {})", crate::report::p_text(*p))
        }
        None => "Pearson r undefined".into(),
    };
    let mut s = chart.open("score against the coordinate", &label);
    // The least-squares line over the plotted points, drawn across their x range (kept inside
    // the frame where the axis is a bounded score's).
    let (ylo, yhi) = (chart.y.lo, chart.y.hi);
    if let Some((a, b)) = fit {
        // The x range where the line is inside [ylo, yhi].
        let (mut lo, mut hi) = (x0, x1);
        if b.abs() > 1e-300 {
            let (xa, xb) = ((ylo - a) / b, (yhi - a) / b);
            lo = lo.max(xa.min(xb));
            hi = hi.min(xa.max(xb));
        }
        if lo < hi {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>",
                chart.px(lo),
                chart.py(a + b * lo),
                chart.px(hi),
                chart.py(a + b * hi)
            );
        }
    }
    for &(x, y, c) in &points {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4.5\" fill=\"{}\" fill-opacity=\"0.55\" stroke=\"{3}\"/>",
            chart.px(x),
            chart.py(y),
            category(c),
            category(c)
        );
    }
    s.push_str(&basin_legend(&chart, &assign));
    s.push_str("</svg>");
    Figure::new(
        t.task,
        &format!("scatter-{name}"),
        format!(
            "{y_title} of each model against its spectral coordinate, coloured by basin \
             (translucent, so that models on one spot darken it; {} models); the dashed line is \
             the least-squares fit.",
            points.len()
        ),
        s,
    )
}

/// The score of every model in each basin, spread sideways so equal scores stay visible, with
/// each basin's median as a bar.
fn strip(t: &TaskInputs, name: &str, score: &[f64], y_title: &str) -> Figure {
    let assign = t.assignments();
    let k = assign.iter().max().map_or(1, |m| m + 1);
    let members = |c: usize| -> Vec<(usize, f64)> {
        (0..score.len().min(assign.len()))
            .filter(|&i| assign[i] == c && score[i].is_finite())
            .map(|i| (i, score[i]))
            .collect()
    };
    let names = (0..k)
        .map(|c| format!("{c} (n = {})", members(c).len()))
        .collect();
    let chart = Chart::new(
        130.0 + 80.0 * k as f64,
        270.0,
        Axis::categorical(names, "basin"),
        bounded(Axis::over(score.iter().copied(), 4, y_title), y_title),
    );
    let mut s = chart.open("score by basin", &format!("{name} by basin"));
    for c in 0..k {
        let members = members(c);
        let centre = c as f64 + 0.5;
        // Models with equal scores (common: accuracy 1.0) side by side, each tie group centred;
        // others at fixed golden-ratio offsets, so the figure is the same every time.
        let span = (chart.y.hi - chart.y.lo).abs().max(1e-12);
        for (r, &(_, v)) in members.iter().enumerate() {
            let ties: Vec<usize> = (0..members.len())
                .filter(|&q| (members[q].1 - v).abs() < span * 0.01)
                .collect();
            let jitter = if ties.len() > 1 {
                let at = ties.iter().position(|&q| q == r).unwrap_or(0) as f64;
                let step = (0.8 / ties.len() as f64).min(0.12);
                (at - (ties.len() as f64 - 1.0) / 2.0) * step
            } else {
                ((r as f64 * 0.618_034).fract() - 0.5) * 0.5
            };
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\" fill-opacity=\"0.85\"/>",
                chart.px(centre + jitter),
                chart.py(v),
                category(c)
            );
        }
        let values: Vec<f64> = members.iter().map(|m| m.1).collect();
        if let Some(med) = quantile(&values, 0.5) {
            let _ = write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#222\" stroke-width=\"2\"/>",
                chart.px(centre - 0.35),
                chart.px(centre + 0.35),
                y = chart.py(med)
            );
        }
    }
    s.push_str("</svg>");
    Figure::new(
        t.task,
        &format!("strip-{name}"),
        format!("{y_title} of the models in each basin (dots); the bar is the basin's median."),
        s,
    )
}

/// Intercept and slope of the least-squares line through the points (none when x is constant).
fn least_squares(points: &[(f64, f64, usize)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 1e-300).then(|| {
        let b = sxy / sxx;
        (my - b * mx, b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_line_is_least_squares() {
        let (a, b) = least_squares(&[(0.0, 1.0, 0), (1.0, 3.0, 0), (2.0, 5.0, 1)]).unwrap();
        assert!((a - 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12);
        assert!(least_squares(&[(1.0, 1.0, 0), (1.0, 2.0, 0)]).is_none());
    }
}
