//! The curves and barriers of a path the adaptive estimator left partly unevaluated: every
//! definition, not only the one it estimated, with bootstrap replicates for the clustering's
//! stability, so that an adaptive study's barrier document has what a grid study's has.
//!
//! At each alpha the examples split in two strata: the forced ones (the largest endpoint
//! losses, evaluated at every alpha) count exactly, and the rest are estimated from the random
//! prefix that alpha saw, scaled to the stratum's size. The mean at alpha is
//! `(sum of forced + rest * mean of seen rest) / n`, the estimator's own per-point estimate.
//! Replicates weight every example with a Poisson(1) count, one draw per example shared by all
//! alphas (a path's points share their examples, as the grid bootstrap's resample is shared):
//! the forced stratum by its weights, the rest by its total weight times the weighted mean of
//! what was seen. With unit weights that is the estimate itself.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::barriers::{of_curves, Path, PathBarriers};

/// Curves, barriers, 95% intervals and `replicates` bootstrap replicates of a path whose
/// unevaluated losses are not numbers; `forced` lists the examples every alpha evaluated first.
pub fn analyse_estimated(
    path: &Path,
    forced: &[usize],
    replicates: usize,
    seed: u64,
) -> anyhow::Result<PathBarriers> {
    let n = path.examples();
    anyhow::ensure!(n > 0, "a path of no examples has no curve");
    let mut is_forced = vec![false; n];
    for &e in forced {
        anyhow::ensure!(e < n, "forced example {e} of a path of {n}");
        is_forced[e] = true;
    }
    for (g, row) in path.loss.iter().enumerate() {
        anyhow::ensure!(
            row.len() == n && path.correct[g].len() == n,
            "alpha {} has {} losses, the path {n} examples",
            path.alphas[g],
            row.len()
        );
        if let Some(e) = forced.iter().find(|&&e| !row[e].is_finite()) {
            anyhow::bail!(
                "forced example {e} was not evaluated at alpha {}",
                path.alphas[g]
            );
        }
        let rest_seen = (0..n).any(|e| !is_forced[e] && row[e].is_finite());
        let rest_exists = is_forced.iter().any(|f| !f);
        anyhow::ensure!(
            rest_seen || !rest_exists,
            "alpha {} saw none of the examples beyond the forced ones: nothing estimates them",
            path.alphas[g]
        );
    }
    let unit = vec![1.0; n];
    let (loss, acc) = curves(path, &is_forced, &unit);
    let value = of_curves(&path.alphas, &loss, &acc);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = vec![0.0; n];
    // Finite by construction: every forced loss is a number and every alpha saw some of the
    // rest, so the percentiles are those of the grid's analysis.
    let reps: Vec<[f64; 3]> = (0..replicates)
        .map(|_| {
            for x in w.iter_mut() {
                *x = poisson_one(&mut rng);
            }
            let (l, a) = curves(path, &is_forced, &w);
            of_curves(&path.alphas, &l, &a)
        })
        .collect();
    Ok(PathBarriers::new(loss, acc, value, reps))
}

/// The stratified mean loss and accuracy at each alpha under example weights `w`.
fn curves(path: &Path, forced: &[bool], w: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let total: f64 = w.iter().sum();
    let rest_total: f64 = w
        .iter()
        .zip(forced)
        .filter(|(_, &f)| !f)
        .map(|(w, _)| w)
        .sum();
    let mut loss = Vec::with_capacity(path.alphas.len());
    let mut acc = Vec::with_capacity(path.alphas.len());
    for (row, correct) in path.loss.iter().zip(&path.correct) {
        let (mut fl, mut fa, mut rl, mut ra, mut rw) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for e in 0..row.len() {
            let (x, c) = (row[e] as f64, correct[e] as f64);
            if forced[e] {
                fl += w[e] * x;
                fa += w[e] * c;
            } else if x.is_finite() {
                rl += w[e] * x;
                ra += w[e] * c;
                rw += w[e];
            }
        }
        // A replicate that drew no seen example of the rest has no estimate of it: the rest's
        // mean is then taken unweighted (a draw of probability e^-m for m seen examples).
        let (rl, ra) = if rw > 0.0 {
            (rl / rw, ra / rw)
        } else {
            let seen: Vec<usize> = (0..row.len())
                .filter(|&e| !forced[e] && row[e].is_finite())
                .collect();
            let m = seen.len().max(1) as f64;
            (
                seen.iter().map(|&e| row[e] as f64).sum::<f64>() / m,
                seen.iter().map(|&e| correct[e] as f64).sum::<f64>() / m,
            )
        };
        let denom = if total > 0.0 { total } else { 1.0 };
        loss.push((fl + rest_total * rl) / denom);
        acc.push((fa + rest_total * ra) / denom);
    }
    (loss, acc)
}

/// A Poisson(1) count by inversion (at most a handful of steps: P(k > 10) < 1e-8).
fn poisson_one(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random();
    let (mut k, mut p) = (0u32, (-1.0f64).exp());
    let mut cdf = p;
    while u > cdf && k < 30 {
        k += 1;
        p /= k as f64;
        cdf += p;
    }
    k as f64
}
