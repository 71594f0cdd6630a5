//! Adaptive barrier estimation: a path's loss barrier as the grid protocol computes it (every
//! grid alpha on every loss-surface example), from a fraction of its forward passes, with an
//! interval and a stated contract.
//!
//! **What is estimated.** The grid barrier is a maximum of linear functionals of the mean-loss
//! curve at the grid's alphas, floored at 0: for the convexity barrier the height of every point
//! above the chord of every sub-segment (i < k < j), for the endpoint barrier the heights above
//! the chord of the whole path. Each functional is a mean over examples of a per-example height,
//! so each can be estimated from some of the examples.
//!
//! **How.** Every interior alpha is evaluated on a first block of examples, so no grid point is
//! skipped: a wiggle at any alpha is seen whatever the curve's smoothness (the CoLA MiniLM
//! barriers come from wiggles next to the endpoints that no coarse grid sees, and on the 20-seed
//! demo fixed subsets of one, three or four alphas moved the clustering). Then, while the
//! interval is wider than the tolerance and the budget allows, the functional with the highest
//! upper bound among those that could still be the maximum has the examples of its interior
//! alphas doubled. The
//! endpoints' losses are known for every example (each model's own evaluation) and order the
//! examples: the `certain` examples with the largest endpoint loss come first and always count
//! exactly, the rest follow in a seeded random order. Without that, one example at 6 nats moves
//! a mean over 512 by 0.012, and a random prefix that lacks it claims a tight interval around
//! the wrong value (measured on the demo's in-distribution set: 76 of 190 intervals missed).
//!
//! **The interval.** A functional evaluated on every example is exact. Otherwise the mean of its
//! unseen examples is estimated from the random part of the prefix: standard error from the
//! prefix's spread, never below the spread of the endpoint losses over the examples not forced
//! first (a prefix that happens to be flat must not claim certainty), with the finite-population
//! correction, `z` standard errors either side. The barrier's interval is [largest lower bound,
//! largest upper bound], floored at 0 like the barrier.
//!
//! **The contract.** An estimate is *settled* when its interval is at most `tolerance` wide; its
//! value (the largest estimated height) lies inside the interval, so a settled value is within
//! `tolerance` of the grid value whenever the interval holds the grid value. The interval is a
//! statistical statement (normal approximation over a random prefix), not a bound: a height
//! carried by a few examples that neither the prefix nor the endpoints' largest losses contain
//! can lie outside it. An estimate that is not settled when the budget runs out is reported with
//! its interval and marked as such; one whose every alpha saw every example is *exact*.

//!
//! **In a study.** `[interpolate] mode = "adaptive"` makes each pair an `interpolate_adaptive`
//! node (`basins-stages`), which runs [`estimate`] with the models' forward passes as its
//! [`Losses`] and stores the losses it made; the barriers node reads the estimate and computes
//! the other definitions from the same partial curves ([`analyse_estimated`]).
//!
//! `heights` repeats `barriers::convexity`'s chord on purpose: the barriers' loop is the grid's
//! cached arithmetic (its rounding is in every stored matrix), and the estimator needs each
//! height's weights, not only the maximum.

use basins_study::manifest::BarrierKind;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::diagnostics::spread;

pub use basins_study::params::Contract;

/// Where a path's per-example losses come from: forward passes of the interpolated models, or
/// stored grid losses (see [`Replay`]).
pub trait Losses {
    /// The losses of `examples` (indices into the loss-surface rows) at grid point `point`
    /// (an index into the grid, never an endpoint).
    fn at(&mut self, point: usize, examples: &[usize]) -> anyhow::Result<Vec<f32>>;
}

/// A path's losses at every grid point, already computed (a grid-mode path node's output): the
/// estimator replayed on them counts the forward passes it would have made.
pub struct Replay<'a> {
    /// `[grid point][example]`, endpoints included.
    pub loss: &'a [Vec<f32>],
}

impl Losses for Replay<'_> {
    fn at(&mut self, point: usize, examples: &[usize]) -> anyhow::Result<Vec<f32>> {
        let row = self
            .loss
            .get(point)
            .ok_or_else(|| anyhow::anyhow!("no stored losses at grid point {point}"))?;
        examples
            .iter()
            .map(|&e| {
                row.get(e).copied().ok_or_else(|| {
                    anyhow::anyhow!("grid point {point} has {} examples, not {e}", row.len())
                })
            })
            .collect()
    }
}

/// One path's barrier, estimated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    /// The largest estimated height (0 if none is positive).
    pub value: f64,
    /// The interval the grid value is estimated to lie in.
    pub low: f64,
    pub high: f64,
    /// The interval is at most the tolerance wide.
    pub settled: bool,
    /// Every interior alpha saw every example: the value is the grid value.
    pub exact: bool,
    /// Forward passes made (examples evaluated, summed over interior alphas).
    pub forward_passes: usize,
    /// The grid protocol's: interior alphas x examples.
    pub grid_forward_passes: usize,
    /// Per interior alpha, in grid order: how many examples it saw.
    pub examples: Vec<usize>,
}

/// A height functional: point `k` above the chord from `i` to `j`, with the chord's weights.
struct Height {
    i: usize,
    k: usize,
    j: usize,
    wi: f64,
    wj: f64,
}

fn heights(alphas: &[f64], kind: BarrierKind) -> Vec<Height> {
    let last = alphas.len() - 1;
    let chord = |i: usize, j: usize, k: usize| {
        let t = (alphas[k] - alphas[i]) / (alphas[j] - alphas[i]);
        Height {
            i,
            k,
            j,
            wi: 1.0 - t,
            wj: t,
        }
    };
    match kind {
        BarrierKind::Endpoint => (1..last).map(|k| chord(0, last, k)).collect(),
        _ => (0..=last)
            .flat_map(|i| (i + 2..=last).flat_map(move |j| (i + 1..j).map(move |k| (i, j, k))))
            .map(|(i, j, k)| chord(i, j, k))
            .collect(),
    }
}

/// What one functional's examples so far say: estimate and standard error (0 when exact).
struct Measured {
    estimate: f64,
    se: f64,
    /// Examples it is measured on (the shortest prefix among its points).
    prefix: usize,
}

/// The example order: the `certain` largest endpoint losses first (largest first, ties by
/// index), then the rest shuffled by `seed`.
pub fn example_order(ends: (&[f32], &[f32]), certain: usize, seed: u64) -> Vec<usize> {
    let n = ends.0.len();
    let worst = |e: usize| ends.0[e].max(ends.1[e]);
    let mut by_loss: Vec<usize> = (0..n).collect();
    by_loss.sort_by(|&a, &b| worst(b).total_cmp(&worst(a)).then(a.cmp(&b)));
    let forced = certain.min(n);
    let mut rest = by_loss.split_off(forced);
    rest.sort_unstable();
    rest.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    by_loss.extend(rest);
    by_loss
}

/// The estimator's state for one path: the losses seen so far, in example order.
struct Path {
    order: Vec<usize>,
    forced: usize,
    /// Per grid point, losses of `order[..seen[g].len()]`; endpoints complete.
    seen: Vec<Vec<f64>>,
    /// The spread of the endpoints' larger loss over the examples not forced first.
    floor: f64,
}

impl Path {
    fn n(&self) -> usize {
        self.order.len()
    }

    fn measure(&self, h: &Height) -> Measured {
        let n = self.n();
        let prefix = [h.i, h.k, h.j]
            .iter()
            .map(|&g| self.seen[g].len())
            .min()
            .unwrap_or(0);
        let at = |p: usize| self.seen[h.k][p] - h.wi * self.seen[h.i][p] - h.wj * self.seen[h.j][p];
        if prefix == n {
            let estimate = (0..n).map(at).sum::<f64>() / n as f64;
            return Measured {
                estimate,
                se: 0.0,
                prefix,
            };
        }
        let forced = self.forced.min(prefix);
        let (rest_total, rest_seen) = (n - forced, prefix - forced);
        let exact_part: f64 = (0..forced).map(at).sum();
        let sampled = spread(&(forced..prefix).map(at).collect::<Vec<_>>());
        let (mean, sd) = (sampled.mean, sampled.std.max(self.floor));
        let fpc = if rest_total > 1 {
            ((rest_total - rest_seen) as f64 / (rest_total - 1) as f64).sqrt()
        } else {
            0.0
        };
        let share = rest_total as f64 / n as f64;
        Measured {
            estimate: (exact_part + rest_total as f64 * mean) / n as f64,
            se: sd / (rest_seen.max(1) as f64).sqrt() * fpc * share,
            prefix,
        }
    }

    /// Evaluate grid point `g` on the examples up to `upto` in order.
    fn extend(&mut self, g: usize, upto: usize, losses: &mut dyn Losses) -> anyhow::Result<usize> {
        let from = self.seen[g].len();
        if upto <= from {
            return Ok(0);
        }
        let got = losses.at(g, &self.order[from..upto])?;
        anyhow::ensure!(
            got.len() == upto - from,
            "asked for {} losses at grid point {g}, got {}",
            upto - from,
            got.len()
        );
        self.seen[g].extend(got.iter().map(|&x| x as f64));
        Ok(upto - from)
    }
}

/// Estimate one path's `kind` barrier on the grid `alphas` (ascending, endpoints 0 and 1
/// included) from the endpoints' per-example losses `ends` and interior losses drawn from
/// `losses`, under `contract`.
pub fn estimate(
    alphas: &[f64],
    ends: (&[f32], &[f32]),
    kind: BarrierKind,
    contract: &Contract,
    losses: &mut dyn Losses,
) -> anyhow::Result<Estimate> {
    anyhow::ensure!(
        kind != BarrierKind::Accuracy,
        "the accuracy barrier is not estimated adaptively (it is a barrier of 0/1 outcomes; \
         cluster on the convexity or endpoint barrier)"
    );
    anyhow::ensure!(
        alphas.len() >= 2 && alphas.windows(2).all(|w| w[0] < w[1]),
        "the grid must be at least two ascending alphas, got {alphas:?}"
    );
    let n = ends.0.len();
    anyhow::ensure!(
        n > 0 && ends.1.len() == n,
        "the endpoints' losses must cover the same examples ({} and {})",
        n,
        ends.1.len()
    );
    anyhow::ensure!(
        contract.tolerance >= 0.0
            && contract.budget > 0.0
            && contract.budget <= 1.0
            && contract.block >= 2
            && contract.z > 0.0,
        "an adaptive contract needs tolerance >= 0, 0 < budget <= 1, block >= 2 and z > 0: {contract:?}"
    );
    let last = alphas.len() - 1;
    let interior = last.saturating_sub(1);
    let order = example_order(ends, contract.certain, contract.seed);
    let forced = contract.certain.min(n);
    let worst: Vec<f64> = order[forced..]
        .iter()
        .map(|&e| ends.0[e].max(ends.1[e]) as f64)
        .collect();
    let floor = spread(&worst).std;
    let mut seen = vec![Vec::new(); alphas.len()];
    seen[0] = order.iter().map(|&e| ends.0[e] as f64).collect();
    seen[last] = order.iter().map(|&e| ends.1[e] as f64).collect();
    let mut path = Path {
        order,
        forced,
        seen,
        floor,
    };
    let funcs = heights(alphas, kind);
    let grid = interior * n;
    let cap = (contract.budget * grid as f64).ceil() as usize;
    // The first pass: every interior alpha on the first block (and at least two examples
    // beyond the forced ones, so that the random part has a spread).
    let first = contract.block.max(forced + 2).min(n);
    let mut spent = 0;
    for g in 1..last {
        spent += path.extend(g, first, losses)?;
    }
    loop {
        let measured: Vec<Measured> = funcs.iter().map(|h| path.measure(h)).collect();
        let bound = |m: &Measured, sign: f64| m.estimate + sign * contract.z * m.se;
        let low = measured.iter().map(|m| bound(m, -1.0)).fold(0.0, f64::max);
        let high = measured.iter().map(|m| bound(m, 1.0)).fold(0.0, f64::max);
        let value = measured.iter().map(|m| m.estimate).fold(0.0, f64::max);
        let done = |settled: bool| Estimate {
            value,
            low,
            high,
            settled,
            exact: (1..last).all(|g| path.seen[g].len() == n),
            forward_passes: spent,
            grid_forward_passes: grid,
            examples: (1..last).map(|g| path.seen[g].len()).collect(),
        };
        if high - low <= contract.tolerance {
            return Ok(done(true));
        }
        // Contenders: functionals that could still be the largest and are not exact, highest
        // upper bound first; the first whose doubling fits the budget grows.
        let mut contenders: Vec<usize> = (0..funcs.len())
            .filter(|&f| measured[f].se > 0.0 && bound(&measured[f], 1.0) > low)
            .collect();
        contenders.sort_by(|&a, &b| {
            bound(&measured[b], 1.0)
                .total_cmp(&bound(&measured[a], 1.0))
                .then(a.cmp(&b))
        });
        let grow = contenders.into_iter().find_map(|f| {
            let h = &funcs[f];
            let target = (2 * measured[f].prefix).min(n);
            let points: Vec<usize> = [h.i, h.k, h.j]
                .into_iter()
                .filter(|&g| g != 0 && g != last)
                .collect();
            let cost: usize = points
                .iter()
                .map(|&g| target.saturating_sub(path.seen[g].len()))
                .sum();
            (spent + cost <= cap).then_some((points, target))
        });
        let Some((points, target)) = grow else {
            return Ok(done(false));
        };
        for g in points {
            spent += path.extend(g, target, losses)?;
        }
    }
}

/// The grid protocol's value of the same barrier, from every grid point's losses (a replay's
/// reference).
pub fn grid_value(alphas: &[f64], loss: &[Vec<f32>], kind: BarrierKind) -> f64 {
    let curve: Vec<f64> = loss
        .iter()
        .map(|row| row.iter().map(|&x| x as f64).sum::<f64>() / row.len().max(1) as f64)
        .collect();
    match kind {
        BarrierKind::Endpoint => crate::barriers::endpoint(alphas, &curve),
        _ => crate::barriers::convexity(alphas, &curve),
    }
}

mod estimated;
pub use estimated::analyse_estimated;

#[cfg(test)]
mod tests;
