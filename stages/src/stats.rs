//! The tests the report puts beside each cluster comparison: Mann-Whitney U (two-sided, normal
//! approximation with tie correction, as SciPy's `method="asymptotic"` with continuity
//! correction), a permutation test on the difference of means, and Pearson's r with its
//! t-test p-value. Distributions from statrs.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

#[derive(Debug, Clone, Serialize)]
pub struct MannWhitney {
    /// U of the first sample.
    pub u: f64,
    pub p: f64,
}

/// Average ranks (1-based) with ties sharing their mean rank; returns the ranks and the tie
/// correction term sum(t^3 - t).
fn ranks(values: &[f64]) -> (Vec<f64>, f64) {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut r = vec![0.0; values.len()];
    let mut ties = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && values[idx[j + 1]] == values[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    (r, ties)
}

/// Two-sided Mann-Whitney U test of `x` against `y`. None when a sample is empty.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (r, ties) = ranks(&all);
    let r1: f64 = r[..x.len()].iter().sum();
    let u = r1 - n1 * (n1 + 1.0) / 2.0;
    let n = n1 + n2;
    let mu = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    let p = if var <= 0.0 {
        1.0
    } else {
        let z = ((u - mu).abs() - 0.5).max(0.0) / var.sqrt();
        (2.0 * (1.0 - Normal::standard().cdf(z))).min(1.0)
    };
    Some(MannWhitney { u, p })
}

/// Two-sided permutation test on the difference of means: the share of `permutations` random
/// relabellings (plus the observed one) with a difference at least as large. Deterministic.
pub fn permutation(x: &[f64], y: &[f64], permutations: usize, seed: u64) -> Option<f64> {
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let observed = (mean(x) - mean(y)).abs();
    let mut all: Vec<f64> = x.iter().chain(y).copied().collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut extreme = 1usize;
    for _ in 0..permutations {
        all.shuffle(&mut rng);
        let (a, b) = all.split_at(x.len());
        if (mean(a) - mean(b)).abs() >= observed - 1e-12 {
            extreme += 1;
        }
    }
    Some(extreme as f64 / (permutations + 1) as f64)
}

#[derive(Debug, Clone, Serialize)]
pub struct Pearson {
    pub r: f64,
    pub p: f64,
}

/// Pearson's r and its two-sided p-value (t with n - 2 degrees of freedom). None with fewer
/// than 3 points or no variance.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<Pearson> {
    let n = x.len();
    if n < 3 || y.len() != n {
        return None;
    }
    let (mx, my) = (
        x.iter().sum::<f64>() / n as f64,
        y.iter().sum::<f64>() / n as f64,
    );
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let df = (n - 2) as f64;
    let p = if r.abs() >= 1.0 {
        0.0
    } else {
        let t = r * (df / (1.0 - r * r)).sqrt();
        let dist = StudentsT::new(0.0, 1.0, df).expect("df > 0");
        2.0 * (1.0 - dist.cdf(t.abs()))
    };
    Some(Pearson { r, p })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu([1,2,3,4,5], [6,7,8,9,10], method="asymptotic")
        // -> U = 0.0, p = 0.012185780355344813 (SciPy 1.x, checked 2026-11-27)
        let r = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert_eq!(r.u, 0.0);
        assert!((r.p - 0.012_185_780_355).abs() < 1e-9, "{}", r.p);
        // Ties: mannwhitneyu([1,2,2,3], [2,3,3,4], method="asymptotic") -> U = 3.0,
        // p = 0.1720337089218229
        let t = mann_whitney(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0]).unwrap();
        assert_eq!(t.u, 3.0);
        assert!((t.p - 0.172_033_708_92).abs() < 1e-9, "{}", t.p);
    }

    #[test]
    fn permutation_and_pearson_behave() {
        let far = permutation(&[0.0, 0.1, 0.2, 0.1], &[1.0, 1.1, 0.9, 1.2], 2000, 1).unwrap();
        assert!(far < 0.05, "{far}");
        let same = permutation(&[0.0, 1.0, 0.5], &[0.5, 1.0, 0.0], 2000, 1).unwrap();
        assert!(same > 0.5, "{same}");
        // scipy.stats.pearsonr([1,2,3,4,5], [2,4,5,4,5]) -> r = 0.7745966692414835,
        // p = 0.1240270626575546
        let p = pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]).unwrap();
        assert!((p.r - 0.774_596_669_241).abs() < 1e-9);
        assert!((p.p - 0.124_027_062_658).abs() < 1e-9, "{}", p.p);
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
    }
}
