//! Loss barriers on the linear path between two models, from per-example losses at each alpha
//! (the endpoints from each model's own evaluation). Three definitions:
//!
//! - endpoint barrier: the largest height of the loss curve above the straight line joining
//!   its two ends, max over alpha of L(alpha) - ((1 - alpha) L(0) + alpha L(1));
//! - convexity barrier (the paper's default): the largest height of the sampled curve above
//!   the chord of any contiguous sub-segment [i..j] of the grid, floored at 0, so it is zero
//!   exactly when the sampled curve is convex;
//! - accuracy barrier: the largest drop of accuracy below the chord of accuracies.
//!
//! Confidence intervals come from a bootstrap over eval examples: resample the examples (the
//! same resample at every alpha, since a path's points share their examples), recompute the
//! curve and the barrier. No forward pass is repeated.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Per-example results along one path, alphas ascending, endpoints included.
#[derive(Debug, Clone)]
pub struct Path {
    pub alphas: Vec<f64>,
    /// Indexed `[alpha][example]`.
    pub loss: Vec<Vec<f32>>,
    /// Indexed `[alpha][example]`: 1 if the prediction was right.
    pub correct: Vec<Vec<u8>>,
}

/// The height of point k above the chord from i to j.
fn above_chord(alphas: &[f64], y: &[f64], i: usize, j: usize, k: usize) -> f64 {
    let t = (alphas[k] - alphas[i]) / (alphas[j] - alphas[i]);
    y[k] - ((1.0 - t) * y[i] + t * y[j])
}

/// Endpoint barrier of a curve whose first and last points are the two models.
pub fn endpoint(alphas: &[f64], y: &[f64]) -> f64 {
    let last = alphas.len() - 1;
    (0..=last)
        .map(|k| above_chord(alphas, y, 0, last, k))
        .fold(0.0, f64::max)
}

/// Convexity barrier: the largest height above the chord of any contiguous sub-segment.
pub fn convexity(alphas: &[f64], y: &[f64]) -> f64 {
    let n = alphas.len();
    let mut best = 0.0f64;
    for i in 0..n {
        for j in i + 2..n {
            for k in i + 1..j {
                best = best.max(above_chord(alphas, y, i, j, k));
            }
        }
    }
    best
}

/// Accuracy barrier: the largest drop below the chord of accuracies.
pub fn accuracy(alphas: &[f64], acc: &[f64]) -> f64 {
    let neg: Vec<f64> = acc.iter().map(|a| -a).collect();
    endpoint(alphas, &neg)
}

impl Path {
    /// Mean loss and accuracy at each alpha over the examples `idx`.
    fn curves(&self, idx: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let n = idx.len().max(1) as f64;
        let loss = self
            .loss
            .iter()
            .map(|row| idx.iter().map(|&i| row[i] as f64).sum::<f64>() / n)
            .collect();
        let acc = self
            .correct
            .iter()
            .map(|row| idx.iter().map(|&i| row[i] as f64).sum::<f64>() / n)
            .collect();
        (loss, acc)
    }

    pub fn examples(&self) -> usize {
        self.loss.first().map_or(0, Vec::len)
    }

    /// [convexity, endpoint, accuracy] barriers over the examples `idx`.
    pub fn barriers_over(&self, idx: &[usize]) -> [f64; 3] {
        let (loss, acc) = self.curves(idx);
        of_curves(&self.alphas, &loss, &acc)
    }

    /// The full-sample curves and barriers, and `replicates` bootstrap replicates of the
    /// barriers (seeded: the same seed gives the same replicates).
    pub fn analyse(&self, replicates: usize, seed: u64) -> PathBarriers {
        let n = self.examples();
        let all: Vec<usize> = (0..n).collect();
        let (loss, acc) = self.curves(&all);
        let value = self.barriers_over(&all);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut idx = vec![0usize; n];
        let reps: Vec<[f64; 3]> = (0..replicates)
            .map(|_| {
                for x in idx.iter_mut() {
                    *x = rng.random_range(0..n);
                }
                self.barriers_over(&idx)
            })
            .collect();
        PathBarriers::new(loss, acc, value, reps)
    }
}

/// [convexity, endpoint, accuracy] barriers of mean loss and accuracy curves.
pub fn of_curves(alphas: &[f64], loss: &[f64], acc: &[f64]) -> [f64; 3] {
    [
        convexity(alphas, loss),
        endpoint(alphas, loss),
        accuracy(alphas, acc),
    ]
}

/// Linear-interpolated percentile of sorted values (numpy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[derive(Debug, Clone, Serialize)]
pub struct PathBarriers {
    pub loss: Vec<f64>,
    pub accuracy: Vec<f64>,
    /// [convexity, endpoint, accuracy]
    pub value: [f64; 3],
    /// 95% percentile intervals, same order.
    pub ci: [(f64, f64); 3],
    #[serde(skip)]
    pub replicates: Vec<[f64; 3]>,
}

impl PathBarriers {
    /// The curves and barriers with the 95% percentile intervals of their replicates.
    pub fn new(
        loss: Vec<f64>,
        accuracy: Vec<f64>,
        value: [f64; 3],
        replicates: Vec<[f64; 3]>,
    ) -> PathBarriers {
        let ci = |k: usize| {
            let mut v: Vec<f64> = replicates.iter().map(|r| r[k]).collect();
            v.sort_by(f64::total_cmp);
            (percentile(&v, 0.025), percentile(&v, 0.975))
        };
        PathBarriers {
            ci: [ci(0), ci(1), ci(2)],
            loss,
            accuracy,
            value,
            replicates,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convex_curves_have_no_convexity_barrier_and_bumps_do() {
        let a: Vec<f64> = (0..10).map(|i| i as f64 / 9.0).collect();
        let convex: Vec<f64> = a.iter().map(|x| (x - 0.3) * (x - 0.3)).collect();
        assert_eq!(convexity(&a, &convex), 0.0);
        // Nor does a convex curve rise above the chord of its ends.
        assert!(endpoint(&a, &convex) <= 1e-12);
        let bump: Vec<f64> = a
            .iter()
            .map(|x| 1.0 + (std::f64::consts::PI * x).sin())
            .collect();
        let e = endpoint(&a, &bump);
        assert!(
            (e - (std::f64::consts::PI * 4.0 / 9.0).sin()).abs() < 1e-12,
            "{e}"
        );
        assert!(convexity(&a, &bump) >= e);
        // A dip then a bump: the ends' chord misses the bump that a sub-segment catches.
        let w = [1.0, 0.0, 0.5, 0.0, 1.0];
        let a5 = [0.0, 0.25, 0.5, 0.75, 1.0];
        assert_eq!(endpoint(&a5, &w), 0.0);
        assert_eq!(convexity(&a5, &w), 0.5);
    }

    #[test]
    fn barriers_are_the_same_on_the_reversed_path() {
        let a: Vec<f64> = (0..10).map(|i| i as f64 / 9.0).collect();
        let y = [0.3, 0.9, 1.4, 0.7, 0.8, 1.9, 0.6, 0.2, 0.25, 0.4];
        let ra: Vec<f64> = a.iter().rev().map(|x| 1.0 - x).collect();
        let ry: Vec<f64> = y.iter().rev().copied().collect();
        assert!((convexity(&a, &y) - convexity(&ra, &ry)).abs() < 1e-12);
        assert!((endpoint(&a, &y) - endpoint(&ra, &ry)).abs() < 1e-12);
        assert!((accuracy(&a, &y) - accuracy(&ra, &ry)).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_interval_brackets_the_value_and_is_reproducible() {
        let alphas = vec![0.0, 0.5, 1.0];
        let n = 200;
        let mid: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32 * 0.1).collect();
        let path = Path {
            alphas,
            loss: vec![vec![0.2; n], mid, vec![0.3; n]],
            correct: vec![
                vec![1; n],
                (0..n).map(|i| (i % 2) as u8).collect(),
                vec![1; n],
            ],
        };
        let r = path.analyse(300, 7);
        let [conv, end, acc] = r.value;
        // Mean middle loss: 1 + 0.1 * mean(i mod 7 for i < 200) = 1.297; chord there 0.25.
        assert!((end - 1.047).abs() < 1e-5, "{end}");
        assert!((conv - end).abs() < 1e-12);
        assert!((acc - 0.5).abs() < 1e-12);
        for k in 0..3 {
            assert!(r.ci[k].0 <= r.value[k] + 1e-9 && r.value[k] <= r.ci[k].1 + 1e-9);
        }
        assert!(r.ci[0].1 - r.ci[0].0 > 0.0);
        assert_eq!(path.analyse(300, 7).replicates, r.replicates);
    }
}
