//! Small SVG charts for the report pages: tick values a person would choose, axes with tick
//! labels and titles, legends, and colours readable by colour-blind readers (Okabe-Ito for
//! categories, viridis for magnitudes). Plain SVG strings: the pages stay one self-contained
//! file with no script, and every figure can also be saved on its own.

use std::fmt::Write as _;

/// Colours for categories (clusters, path kinds): Okabe and Ito's colour-blind-safe set.
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
];

/// The colour of category `c`.
pub fn category(c: usize) -> &'static str {
    PALETTE[c % PALETTE.len()]
}

/// Escape text for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Viridis at `t` in [0, 1] (dark purple to yellow; perceptually uniform and readable in grey),
/// interpolated between nine of matplotlib's stops.
pub fn viridis(t: f64) -> String {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// Round tick values (steps of 1, 2 or 5 times a power of ten) covering `[lo, hi]` with about
/// `target` intervals; the first tick is at or below `lo` and the last at or above `hi`.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = match (lo.is_finite(), hi.is_finite()) {
        (true, true) if hi > lo => (lo, hi),
        (true, true) => (lo - 0.5 * lo.abs().max(1.0), lo + 0.5 * lo.abs().max(1.0)),
        _ => (0.0, 1.0),
    };
    let step = nice_step((hi - lo) / target.max(1) as f64);
    // Within rounding error of a tick counts as on it.
    let first = (lo / step + 1e-9).floor() as i64;
    let last = (hi / step - 1e-9).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    p * if m < 1.5 {
        1.0
    } else if m < 3.0 {
        2.0
    } else if m < 7.0 {
        5.0
    } else {
        10.0
    }
}

/// A tick value with as many decimals as its step needs (`0.25`, `1.0` on a 0.2 grid, `2e-6`).
pub fn tick_label(v: f64, step: f64) -> String {
    // No "-0.0" from a sum that should be zero.
    let v = if v.abs() < step.abs() * 1e-6 { 0.0 } else { v };
    // The fewest decimals that write every multiple of the step exactly (0.25 needs two).
    let decimals = (0..=5)
        .find(|&d| {
            let scaled = step.abs() * 10f64.powi(d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(6) as usize;
    if decimals > 4 {
        let s = format!("{v:.1e}");
        return if v == 0.0 {
            "0".into()
        } else {
            s.replace(".0e", "e")
        };
    }
    format!("{v:.decimals$}")
}

/// One axis: its range (tick-aligned), ticks and title.
#[derive(Debug, Clone)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub title: String,
    /// Names written between consecutive ticks instead of the tick values (a categorical axis:
    /// the ticks are the categories' edges).
    pub categories: Vec<String>,
}

impl Axis {
    /// An axis over the finite values of `values`, widened to round ticks.
    pub fn over(values: impl IntoIterator<Item = f64>, target: usize, title: &str) -> Axis {
        let (lo, hi) = values
            .into_iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        let ticks = ticks(lo, hi, target);
        Axis::fixed(ticks, title)
    }

    /// The axis kept inside the range a metric can take (an accuracy never runs to 1.001 because
    /// round ticks widened it): ticks outside `[lo, hi]` dropped, the ends moved to the bound.
    pub fn within(mut self, lo: f64, hi: f64) -> Axis {
        if self.lo < lo {
            self.lo = lo;
        }
        if self.hi > hi {
            self.hi = hi;
        }
        let eps = (self.hi - self.lo).abs() * 1e-9;
        self.ticks
            .retain(|&t| t >= self.lo - eps && t <= self.hi + eps);
        for end in [self.lo, self.hi] {
            if !self.ticks.iter().any(|&t| (t - end).abs() <= eps) {
                self.ticks.push(end);
            }
        }
        self.ticks.sort_by(f64::total_cmp);
        self
    }

    /// An axis with the given ticks (their ends are its range; at least two).
    pub fn fixed(ticks: Vec<f64>, title: &str) -> Axis {
        Axis {
            lo: ticks[0],
            hi: ticks[ticks.len() - 1],
            ticks,
            title: title.to_owned(),
            categories: Vec::new(),
        }
    }

    /// One unit per category, named at its centre.
    pub fn categorical(names: Vec<String>, title: &str) -> Axis {
        let ticks = (0..=names.len().max(1)).map(|i| i as f64).collect();
        Axis {
            categories: names,
            ..Axis::fixed(ticks, title)
        }
    }

    fn step(&self) -> f64 {
        match self.ticks.as_slice() {
            [a, b, ..] => b - a,
            _ => 1.0,
        }
    }

    /// Where `v` falls along the axis, 0 at `lo` and 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo).max(1e-300)
    }
}

/// A chart with an x and a y axis around a plot area; `px`/`py` map values to pixels.
pub struct Chart {
    pub width: f64,
    pub height: f64,
    /// The plot area: left, top, right, bottom edges in pixels.
    pub area: (f64, f64, f64, f64),
    pub x: Axis,
    pub y: Axis,
}

impl Chart {
    /// A `width` x `height` chart with room for tick labels and titles around the plot area.
    pub fn new(width: f64, height: f64, x: Axis, y: Axis) -> Chart {
        Chart {
            width,
            height,
            area: (58.0, 30.0, width - 14.0, height - 42.0),
            x,
            y,
        }
    }

    pub fn px(&self, v: f64) -> f64 {
        let (l, _, r, _) = self.area;
        l + self.x.frac(v) * (r - l)
    }

    pub fn py(&self, v: f64) -> f64 {
        let (_, t, _, b) = self.area;
        b - self.y.frac(v) * (b - t)
    }

    /// The opening tag, the title above the plot area, the frame, grid lines, tick values and
    /// axis titles. The caller adds marks and closes with `</svg>`.
    pub fn open(&self, label: &str, title: &str) -> String {
        let (l, t, r, b) = self.area;
        let mut s = open_svg(self.width, self.height, label);
        let _ = write!(
            s,
            "<text x=\"{l}\" y=\"16\" font-size=\"12\" font-weight=\"bold\">{}</text>",
            esc(title)
        );
        let (xs, ys) = (self.x.step(), self.y.step());
        for &v in &self.x.ticks {
            let x = self.px(v);
            let _ = write!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{t}\" x2=\"{x:.1}\" y2=\"{b}\" stroke=\"#eee\"/>\
                 <line x1=\"{x:.1}\" y1=\"{b}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444\"/>",
                b + 4.0,
            );
            if self.x.categories.is_empty() {
                let _ = write!(
                    s,
                    "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    b + 15.0,
                    tick_label(v, xs)
                );
            }
        }
        for (i, name) in self.x.categories.iter().enumerate() {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                self.px(i as f64 + 0.5),
                b + 15.0,
                esc(name)
            );
        }
        for &v in &self.y.ticks {
            let y = self.py(v);
            let _ = write!(
                s,
                "<line x1=\"{l}\" y1=\"{y:.1}\" x2=\"{r}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\
                 <line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{l}\" y2=\"{y:.1}\" stroke=\"#444\"/>",
                l - 4.0,
            );
            if self.y.categories.is_empty() {
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                    l - 6.0,
                    y + 3.5,
                    tick_label(v, ys)
                );
            }
        }
        for (i, name) in self.y.categories.iter().enumerate() {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                l - 6.0,
                self.py(i as f64 + 0.5) + 3.5,
                esc(name)
            );
        }
        let _ = write!(
            s,
            "<rect x=\"{l}\" y=\"{t}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#444\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\
             ",
            r - l,
            b - t,
            (l + r) / 2.0,
            self.height - 6.0,
            esc(&self.x.title),
        );
        // A long y title goes on two lines rather than being cut.
        let lines = wrap(&self.y.title, ((b - t) / 5.8) as usize, 2);
        let n = lines.len() as f64;
        for (i, line) in lines.iter().enumerate() {
            let _ = write!(
                s,
                "<text transform=\"translate({:.1} {:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                14.0 - 6.0 * (n - 1.0) + 12.0 * i as f64,
                (t + b) / 2.0,
                esc(line)
            );
        }
        s
    }
}

/// `text` on at most `lines` lines of at most `max` characters, broken at spaces; the last line
/// cut with an ellipsis if the text is longer still.
pub fn wrap(text: &str, max: usize, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let len = cur.chars().count() + usize::from(!cur.is_empty()) + word.chars().count();
        if !cur.is_empty() && len > max && out.len() + 1 < lines {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    out.push(shorten(&cur, max));
    out
}

/// `text` cut to `max` characters with an ellipsis (axis titles that would run off the figure;
/// captions carry the whole name).
pub fn shorten(text: &str, max: usize) -> String {
    match text.chars().count() > max {
        true => {
            let kept: String = text.chars().take(max.saturating_sub(1)).collect();
            format!("{}…", kept.trim_end())
        }
        false => text.to_owned(),
    }
}

/// An `<svg>` opening tag that also reads well saved on its own.
pub fn open_svg(width: f64, height: f64, label: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"10\" \
         role=\"img\" aria-label=\"{}\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
        esc(label)
    )
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    Line,
    Dot,
}

/// How wide `legend` draws the box for these entries.
pub fn legend_width(entries: &[(&str, Mark, String)]) -> f64 {
    26.0 + 6.0
        * entries
            .iter()
            .map(|e| e.2.chars().count())
            .max()
            .unwrap_or(0) as f64
}

/// A legend box at (`x`, `y`) (its top-left corner), one entry per line.
pub fn legend(x: f64, y: f64, entries: &[(&str, Mark, String)]) -> String {
    let width = legend_width(entries);
    let mut s = format!(
        "<rect x=\"{x}\" y=\"{y}\" width=\"{width:.0}\" height=\"{}\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>",
        6 + 14 * entries.len()
    );
    for (i, (colour, mark, text)) in entries.iter().enumerate() {
        let cy = y + 11.0 + 14.0 * i as f64;
        let _ = match mark {
            Mark::Line => write!(
                s,
                "<line x1=\"{:.1}\" y1=\"{cy:.1}\" x2=\"{:.1}\" y2=\"{cy:.1}\" stroke=\"{colour}\" stroke-width=\"2.5\"/>",
                x + 5.0,
                x + 19.0
            ),
            Mark::Dot => write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{cy:.1}\" r=\"4\" fill=\"{colour}\"/>",
                x + 12.0
            ),
        };
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 23.0,
            cy + 3.5,
            esc(text)
        );
    }
    s
}

/// The `q`-quantile of the finite values (`barriers::percentile`: linear between order
/// statistics, numpy's default), or none when no value is finite.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(crate::barriers::percentile(&v, q.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let labels =
            |t: &[f64]| -> Vec<String> { t.iter().map(|&v| tick_label(v, t[1] - t[0])).collect() };
        assert_eq!(
            labels(&ticks(0.0, 1.0, 4)),
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        assert_eq!(
            labels(&ticks(-3.2, 7.9, 4)),
            ["-4", "-2", "0", "2", "4", "6", "8"]
        );
        let t = ticks(0.013, 0.087, 4);
        assert_eq!(t.first().map(|v| (v * 100.0).round()), Some(0.0));
        assert!(*t.last().unwrap() >= 0.087);
        assert_eq!(tick_label(t[1], t[1] - t[0]), "0.02");
        assert_eq!(tick_label(3.0, 1.0), "3");
        assert_eq!(tick_label(2e-6, 1e-6), "2e-6");
        // A single value or no value still gives an axis.
        assert!(ticks(0.5, 0.5, 4).len() >= 2);
        assert_eq!(
            ticks(f64::INFINITY, f64::NEG_INFINITY, 4).first(),
            Some(&0.0)
        );
    }

    #[test]
    fn long_titles_are_shortened() {
        assert_eq!(shorten("accuracy", 8), "accuracy");
        assert_eq!(shorten("accuracy on hans", 8), "accurac…");
        assert_eq!(
            wrap("conflict accuracy where construction = generic", 24, 2),
            ["conflict accuracy where", "construction = generic"]
        );
        assert_eq!(wrap("a b c d e f", 3, 2), ["a b", "c…"]);
        let acc = Axis::fixed(vec![0.996, 0.998, 1.0, 1.002], "").within(0.0, 1.0);
        assert_eq!((acc.lo, acc.hi), (0.996, 1.0));
        assert_eq!(acc.ticks, vec![0.996, 0.998, 1.0]);
    }

    #[test]
    fn viridis_runs_from_purple_to_yellow() {
        assert_eq!(viridis(0.0), "#440154");
        assert_eq!(viridis(1.0), "#fde725");
        assert_eq!(viridis(f64::NAN), "#440154");
    }

    #[test]
    fn quantiles_match_numpy() {
        // numpy.quantile([1, 2, 3, 4], [0.25, 0.5]) == [1.75, 2.5]
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.25), Some(1.75));
        assert_eq!(quantile(&[4.0, 1.0, f64::NAN, 3.0, 2.0], 0.5), Some(2.5));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
