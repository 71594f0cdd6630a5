//! The adaptive estimates of a study in `[interpolate] mode = "adaptive"`: which pairs'
//! barriers are estimates, with their intervals and what they spent, and whether the
//! partition holds anywhere within the intervals. Nothing for a grid study.

use std::fmt::Write as _;

use super::{esc, fine_of, TaskInputs};

/// Estimated pairs listed on the page (widest interval first); barriers.json has them all.
const SHOWN: usize = 20;

/// The section, or an empty string when no barrier on the clustered set is an adaptive one.
pub fn section(t: &TaskInputs) -> String {
    let Some(set) = t.clustered_set() else {
        return String::new();
    };
    if set.estimates.is_empty() {
        return String::new();
    }
    let total = set.estimates.len();
    let exact = set.estimates.values().filter(|e| e.estimate.exact).count();
    let mut estimated: Vec<_> = set.estimated().collect();
    let settled = estimated.iter().filter(|(_, e)| e.estimate.settled).count();
    let (spent, grid) = set.estimates.values().fold((0, 0), |(s, g), e| {
        (
            s + e.estimate.forward_passes,
            g + e.estimate.grid_forward_passes,
        )
    });
    let barrier = set
        .estimates
        .values()
        .next()
        .map_or("", |e| e.barrier.name());
    let mut s = format!(
        "<h3>Adaptive estimates</h3><p id=\"estimates-{task}\">The {barrier} barriers on {eval} \
         were estimated adaptively: {total} path(s), {exact} of them exact (every alpha on \
         every example), {n} estimates, of which {settled} settled within the tolerance and {u} \
         did not within the budget (their intervals are wider). The paths made {spent} of the \
         grid protocol's {grid} forward passes ({share:.1}%). An estimate's interval is where \
         the grid value is estimated to lie (a statistical interval, not a bound); the other \
         definitions' values on these pairs are estimates from the same partial curves, with \
         bootstrap intervals.",
        task = esc(t.task),
        eval = esc(&t.cluster.eval),
        n = estimated.len(),
        u = estimated.len() - settled,
        share = 100.0 * spent as f64 / grid.max(1) as f64,
    );
    match &t.cluster.estimates {
        Some(r) => {
            let _ = write!(
                s,
                " Reclustered with every estimate moved within its interval (all at the low \
                 ends, all at the high ends, {} uniform draws), the partition was the same in \
                 {} of {} (smallest adjusted Rand index {}).</p>",
                r.draws.saturating_sub(2),
                r.identical,
                r.draws,
                fine_of(r.min_ari)
            );
            if r.identical < r.draws {
                let _ = write!(
                    s,
                    "<p class=\"warning\" id=\"estimates-moved-{}\"><b>Warning:</b> the \
                     partition changes within the estimates' intervals: a smaller tolerance or \
                     a larger budget (or mode = \"grid\") settles it.</p>",
                    esc(t.task)
                );
            }
        }
        None => s.push_str("</p>"),
    }
    if estimated.is_empty() {
        return s;
    }
    estimated.sort_by(|a, b| {
        let w = |e: &crate::documents::PairEstimate| e.estimate.high - e.estimate.low;
        w(b.1).total_cmp(&w(a.1)).then(a.0.cmp(b.0))
    });
    s.push_str(
        "<table><tr><th>pair</th><th>estimate</th><th>interval</th><th>settled</th>\
         <th>forward passes</th></tr>",
    );
    for (pair, e) in estimated.iter().take(SHOWN) {
        let e = &e.estimate;
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>[{}, {}]</td><td>{}</td><td>{} of {}</td></tr>",
            esc(pair),
            fine_of(e.value),
            fine_of(e.low),
            fine_of(e.high),
            if e.settled { "yes" } else { "no" },
            e.forward_passes,
            e.grid_forward_passes
        );
    }
    s.push_str("</table>");
    if estimated.len() > SHOWN {
        let _ = write!(
            s,
            "<p>{} more estimates, narrower, in barriers.json (<code>estimates</code>).</p>",
            estimated.len() - SHOWN
        );
    }
    s
}
