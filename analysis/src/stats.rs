//! The tests the report puts beside each cluster comparison, each the same computation as
//! SciPy's (cross-checked against it in `analysis/tests/python_reference.rs`):
//!
//! - Mann-Whitney U, two-sided, with SciPy's `method="auto"`: the exact null distribution when
//!   one sample has at most 8 values and there are no ties, else the normal approximation with
//!   tie and continuity corrections;
//! - a permutation test on the difference of means with `scipy.stats.permutation_test`'s
//!   definition: every relabelling when there are at most `resamples` of them (exact), else
//!   `resamples` random ones with the +1 correction; two-sided p = 2 min(p_less, p_greater);
//! - Pearson's r with its t-test p-value, and Spearman's rho (Pearson on average ranks, the
//!   same t-test: `scipy.stats.spearmanr`), which scores bunched at 0 and 1 move less;
//! - the adjusted Rand index of a partition against labels with a permutation p-value
//!   (relabel the models) and a bootstrap interval over models;
//! - Holm's step-down correction for several tests in one report.
//!
//! Every test refuses non-finite input (None), so a NaN score can never become a p-value.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MannWhitney {
    /// U of the first sample.
    #[serde(deserialize_with = "crate::documents::nan")]
    pub u: f64,
    #[serde(deserialize_with = "crate::documents::nan")]
    pub p: f64,
    /// `exact` or `asymptotic`, chosen as SciPy's `method="auto"` chooses.
    pub method: String,
}

fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
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

/// Two-sided Mann-Whitney U test of `x` against `y`. None when a sample is empty or a value is
/// not finite.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    if x.is_empty() || y.is_empty() || !all_finite(x) || !all_finite(y) {
        return None;
    }
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (r, ties) = ranks(&all);
    let r1: f64 = r[..x.len()].iter().sum();
    let u = r1 - n1 * (n1 + 1.0) / 2.0;
    // SciPy: both samples over 8, or any tie, use the normal approximation.
    let exact = (x.len() <= 8 || y.len() <= 8) && ties == 0.0;
    let p = if exact {
        let big = u.max(n1 * n2 - u).round() as usize;
        (2.0 * u_survival(x.len(), y.len(), big)).min(1.0)
    } else {
        let n = n1 + n2;
        let mu = n1 * n2 / 2.0;
        let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
        if var <= 0.0 {
            1.0
        } else {
            let z = ((u - mu).abs() - 0.5).max(0.0) / var.sqrt();
            (2.0 * normal_cdf(-z)).min(1.0)
        }
    };
    Some(MannWhitney {
        u,
        p,
        method: if exact { "exact" } else { "asymptotic" }.to_owned(),
    })
}

/// The standard normal CDF as Cephes' `ndtr` (SciPy's) computes it: from erf near 0, from
/// erfc in the tails, so that small tail probabilities keep their digits.
fn normal_cdf(a: f64) -> f64 {
    let x = a * std::f64::consts::FRAC_1_SQRT_2;
    let z = x.abs();
    if z < std::f64::consts::FRAC_1_SQRT_2 {
        0.5 + 0.5 * libm::erf(x)
    } else {
        let y = 0.5 * libm::erfc(z);
        if x > 0.0 {
            1.0 - y
        } else {
            y
        }
    }
}

/// P(U >= u) under the null for samples of sizes `n1` and `n2` without ties. The counts of each
/// U are the coefficients of the Gaussian binomial [n1 + n2 choose m]_q (m the smaller size),
/// built as the product of (1 - q^(N - m + i)) / (1 - q^i) for i = 1..m in exact integers (the
/// caller only asks for m <= 8, where the counts fit an i128 for any realistic N).
fn u_survival(n1: usize, n2: usize, u: usize) -> f64 {
    let (m, n) = (n1.min(n2), n1.max(n2));
    let degree = m * n;
    // After step i the polynomial is [n + i choose i]_q (degree i n); the product before the
    // division reaches i n + i.
    let mut c = vec![0i128; degree + m + 1];
    c[0] = 1;
    let mut deg = 0usize;
    for i in 1..=m {
        // Multiply by (1 - q^a), then divide by (1 - q^i): both exact on integer coefficients.
        let a = n + i;
        let product = deg + a;
        for k in (a..=product).rev() {
            c[k] -= c[k - a];
        }
        for k in i..=product {
            c[k] += c[k - i];
        }
        deg = product - i;
    }
    let count: i128 = c[..=degree].iter().sum();
    let tail: i128 = c[u.min(degree + 1)..=degree].iter().sum();
    tail as f64 / count as f64
}

/// Two-sided permutation test of the difference of means `mean(x) - mean(y)`, defined as
/// `scipy.stats.permutation_test(..., permutation_type="independent")` defines it: when the
/// relabellings number at most `resamples`, all of them are enumerated (the observed one
/// included) and the p-value is exact; otherwise `resamples` random relabellings (seeded) with
/// p = (count + 1) / (resamples + 1). Two-sided p = min(1, 2 min(P(null <= obs), P(null >=
/// obs))), comparisons within SciPy's relative tolerance of 100 machine epsilons. None when a
/// sample is empty or a value is not finite.
pub fn permutation(x: &[f64], y: &[f64], resamples: usize, seed: u64) -> Option<f64> {
    if x.is_empty() || y.is_empty() || !all_finite(x) || !all_finite(y) {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let observed = mean(x) - mean(y);
    let gamma = (observed * 100.0 * f64::EPSILON).abs();
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (mut less, mut greater, mut count) = (0usize, 0usize, 0usize);
    let mut tally = |d: f64| {
        less += usize::from(d <= observed + gamma);
        greater += usize::from(d >= observed - gamma);
        count += 1;
    };
    let n = all.len();
    let exact = binomial(n, x.len()).is_some_and(|c| c <= resamples as f64);
    if exact {
        // Every way of choosing which values form the first sample.
        let k = x.len();
        let mut pick: Vec<usize> = (0..k).collect();
        let mut mask = vec![false; n];
        loop {
            mask.iter_mut().for_each(|m| *m = false);
            pick.iter().for_each(|&i| mask[i] = true);
            let (a, b): (Vec<f64>, Vec<f64>) = {
                let a = (0..n).filter(|&i| mask[i]).map(|i| all[i]).collect();
                let b = (0..n).filter(|&i| !mask[i]).map(|i| all[i]).collect();
                (a, b)
            };
            tally(mean(&a) - mean(&b));
            // Next combination in lexicographic order.
            let Some(i) = (0..k).rev().find(|&i| pick[i] < n - k + i) else {
                break;
            };
            pick[i] += 1;
            for j in i + 1..k {
                pick[j] = pick[j - 1] + 1;
            }
        }
        let (l, g) = (less as f64 / count as f64, greater as f64 / count as f64);
        Some((2.0 * l.min(g)).min(1.0))
    } else {
        let mut shuffled = all;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..resamples {
            shuffled.shuffle(&mut rng);
            let (a, b) = shuffled.split_at(x.len());
            tally(mean(a) - mean(b));
        }
        let adjusted = |c: usize| (c + 1) as f64 / (resamples + 1) as f64;
        Some((2.0 * adjusted(less).min(adjusted(greater))).min(1.0))
    }
}

/// n choose k as a float (None past f64's range).
fn binomial(n: usize, k: usize) -> Option<f64> {
    let k = k.min(n - k);
    let mut c = 1.0f64;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    c.is_finite().then_some(c.round())
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Pearson {
    pub r: f64,
    pub p: f64,
}

/// Pearson's r and its two-sided p-value (t with n - 2 degrees of freedom). None with fewer
/// than 3 points, no variance, or a value that is not finite.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<Pearson> {
    let n = x.len();
    if n < 3 || y.len() != n || !all_finite(x) || !all_finite(y) {
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
        2.0 * dist.cdf(-t.abs())
    };
    Some(Pearson { r, p })
}

/// Spearman's rho and its two-sided p-value: Pearson's r of the average ranks with the same
/// t-test, as `scipy.stats.spearmanr` computes both. None as for [`pearson`] (a constant
/// sample has no ranks to correlate).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<Pearson> {
    if x.len() != y.len() || !all_finite(x) || !all_finite(y) {
        return None;
    }
    pearson(&ranks(x).0, &ranks(y).0)
}

/// The adjusted Rand index of a partition against labels, and how surprising it is.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AriTest {
    pub ari: f64,
    /// One-sided permutation p-value: the share of relabellings of the models (the labels'
    /// counts kept) whose index reaches the observed one.
    pub p: f64,
    /// `exact` when every distinct relabelling was scored, else `monte_carlo` with the +1
    /// correction.
    pub method: String,
    pub relabellings: usize,
}

/// The adjusted Rand index of `partition` against `labels` with its permutation p-value. When
/// the distinct arrangements of `labels` number at most `resamples`, every one is scored
/// (multiset permutations in lexicographic order) and p is exact; otherwise `resamples`
/// seeded shuffles give p = (count + 1) / (resamples + 1). Ties within 1e-12 count as reaching
/// it. None with fewer than 2 models or lengths that differ.
pub fn ari_permutation(
    partition: &[usize],
    labels: &[usize],
    resamples: usize,
    seed: u64,
) -> Option<AriTest> {
    let n = labels.len();
    if n < 2 || partition.len() != n {
        return None;
    }
    let ari = crate::cluster::adjusted_rand(partition, labels);
    let reaches = |l: &[usize]| crate::cluster::adjusted_rand(partition, l) >= ari - 1e-12;
    let mut counts = std::collections::BTreeMap::<usize, usize>::new();
    for &l in labels {
        *counts.entry(l).or_default() += 1;
    }
    // n! / prod(count!) distinct arrangements.
    let mut arrangements = 1.0f64;
    let mut placed = 0usize;
    for &c in counts.values() {
        arrangements *= binomial(placed + c, c).unwrap_or(f64::INFINITY);
        placed += c;
    }
    if arrangements <= resamples as f64 {
        let mut l: Vec<usize> = labels.to_vec();
        l.sort_unstable();
        let (mut hit, mut total) = (0usize, 0usize);
        loop {
            hit += usize::from(reaches(&l));
            total += 1;
            if !next_permutation(&mut l) {
                break;
            }
        }
        Some(AriTest {
            ari,
            p: hit as f64 / total as f64,
            method: "exact".into(),
            relabellings: total,
        })
    } else {
        let mut l = labels.to_vec();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut hit = 0usize;
        for _ in 0..resamples {
            l.shuffle(&mut rng);
            hit += usize::from(reaches(&l));
        }
        Some(AriTest {
            ari,
            p: (hit + 1) as f64 / (resamples + 1) as f64,
            method: "monte_carlo".into(),
            relabellings: resamples,
        })
    }
}

/// The next lexicographic arrangement of `v` in place (false after the last one).
fn next_permutation(v: &mut [usize]) -> bool {
    let Some(i) = (1..v.len()).rev().find(|&i| v[i - 1] < v[i]) else {
        return false;
    };
    let j = (i..v.len())
        .rev()
        .find(|&j| v[j] > v[i - 1])
        .expect("v[i] > v[i-1]");
    v.swap(i - 1, j);
    v[i..].reverse();
    true
}

/// A percentile bootstrap interval.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    /// Replicates that gave a number (a resample can hold one label only and is then
    /// skipped, counted here).
    pub replicates: usize,
    pub skipped: usize,
}

/// `resamples` bootstrap resamples of `n` models: indices drawn with replacement, seeded, so
/// that several statistics can share the same draws (a paired comparison).
pub fn bootstrap_draws(n: usize, resamples: usize, seed: u64) -> Vec<Vec<usize>> {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples)
        .map(|_| (0..n).map(|_| rng.random_range(0..n)).collect())
        .collect()
}

/// The 95% percentile interval of bootstrap replicates, each a number or None where its
/// resample did not define the statistic (counted as skipped). None when none gave a number.
pub fn interval(replicates: &[Option<f64>]) -> Option<Interval> {
    let mut values: Vec<f64> = replicates
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Interval {
        low: crate::barriers::percentile(&values, 0.025),
        high: crate::barriers::percentile(&values, 0.975),
        replicates: values.len(),
        skipped: replicates.len() - values.len(),
    })
}

/// A 95% percentile interval of `statistic` over `resamples` bootstrap resamples of the models
/// ([`bootstrap_draws`]). `statistic` gets the drawn indices and returns None where the
/// resample does not define it.
pub fn bootstrap_models(
    n: usize,
    resamples: usize,
    seed: u64,
    mut statistic: impl FnMut(&[usize]) -> Option<f64>,
) -> Option<Interval> {
    let values: Vec<Option<f64>> = bootstrap_draws(n, resamples, seed)
        .iter()
        .map(|idx| statistic(idx))
        .collect();
    interval(&values)
}

/// Holm's step-down adjustment of several p-values (family-wise error), in the input order:
/// sorted ascending, the i-th smallest (from 0) becomes max over j <= i of min(1, (m - j) p_j).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu([1,2,3,4,5], [6,7,8,9,10]) (SciPy 1.17: exact, no ties)
        // -> U = 0.0, p = 0.007936507936507936 = 2 / C(10, 5)
        let r = mann_whitney(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]).unwrap();
        assert_eq!((r.u, r.method.as_str()), (0.0, "exact"));
        assert!((r.p - 0.007_936_507_936_507_936).abs() < 1e-15, "{}", r.p);
        // mannwhitneyu([0.3,1.2,2.5], [0.1,0.5,0.9,1.5,3.0,4.0]) -> U = 8.0, p = 0.9047619047619047
        let r = mann_whitney(&[0.3, 1.2, 2.5], &[0.1, 0.5, 0.9, 1.5, 3.0, 4.0]).unwrap();
        assert_eq!(r.u, 8.0);
        assert!((r.p - 0.904_761_904_761_904_7).abs() < 1e-15, "{}", r.p);
        // Ties: mannwhitneyu([1,2,2,3], [2,3,3,4]) -> asymptotic, U = 3.0,
        // p = 0.1720337089218229
        let t = mann_whitney(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0]).unwrap();
        assert_eq!((t.u, t.method.as_str()), (3.0, "asymptotic"));
        assert!((t.p - 0.172_033_708_92).abs() < 1e-9, "{}", t.p);
        assert!(mann_whitney(&[f64::NAN, 1.0], &[2.0]).is_none());
    }

    #[test]
    fn exact_u_distribution_sums_to_one_and_is_symmetric() {
        for (n1, n2) in [(1, 1), (3, 5), (8, 8), (2, 40)] {
            assert_eq!(u_survival(n1, n2, 0), 1.0);
            let mn = n1 * n2;
            for u in 0..=mn {
                // P(U >= u) = P(U <= mn - u) = 1 - P(U >= mn - u + 1)
                let a = u_survival(n1, n2, u);
                let b = 1.0 - u_survival(n2, n1, mn - u + 1);
                assert!((a - b).abs() < 1e-12, "{n1} {n2} {u}: {a} {b}");
            }
        }
    }

    #[test]
    fn permutation_pearson_and_holm_behave() {
        // scipy.stats.permutation_test of the mean difference, 70 relabellings, all enumerated
        // -> p = 0.02857142857142857 (2 / 70)
        let far = permutation(&[0.0, 0.1, 0.2, 0.1], &[1.0, 1.1, 0.9, 1.2], 10_000, 1).unwrap();
        assert!((far - 2.0 / 70.0).abs() < 1e-15, "{far}");
        // Too many relabellings for the budget: random ones, p from (count + 1) / (n + 1).
        let mc = permutation(&[0.0, 0.1, 0.2, 0.1], &[1.0, 1.1, 0.9, 1.2], 50, 1).unwrap();
        assert!(mc >= 2.0 / 51.0, "{mc}");
        let same = permutation(&[0.0, 1.0, 0.5], &[0.5, 1.0, 0.0], 2000, 1).unwrap();
        assert!(same > 0.5, "{same}");
        assert!(permutation(&[0.0, f64::NAN], &[1.0], 100, 0).is_none());
        // scipy.stats.pearsonr([1,2,3,4,5], [2,4,5,4,5]) -> r = 0.7745966692414835,
        // p = 0.1240270626575546
        let p = pearson(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]).unwrap();
        assert!((p.r - 0.774_596_669_241).abs() < 1e-9);
        assert!((p.p - 0.124_027_062_658).abs() < 1e-9, "{}", p.p);
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
        assert!(pearson(&[1.0, 2.0, f64::NAN], &[1.0, 2.0, 3.0]).is_none());
        // Holm: sorted 0.01, 0.02, 0.04 -> 0.03, max(0.03, 0.04), max(0.04, 0.04)
        let h = holm(&[0.04, 0.01, 0.02]);
        for (a, b) in h.iter().zip([0.04, 0.03, 0.04]) {
            assert!((a - b).abs() < 1e-15, "{h:?}");
        }
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
    }

    #[test]
    fn spearman_and_the_ari_tests_behave() {
        // scipy.stats.spearmanr([1,2,3,4,5], [5,6,7,8,7]) -> 0.8207826816681233,
        // p = 0.08858700531354381
        let s = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).unwrap();
        assert!((s.r - 0.820_782_681_668_123_3).abs() < 1e-12, "{}", s.r);
        assert!((s.p - 0.088_587_005_313_543_81).abs() < 1e-10, "{}", s.p);
        assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
        // Six models, two labels of three: 20 arrangements, 2 of them the partition itself
        // (either labelling) -> p = 2 / 20.
        let t = ari_permutation(&[0, 0, 0, 1, 1, 1], &[1, 1, 1, 0, 0, 0], 1000, 0).unwrap();
        assert_eq!(
            (t.ari, t.method.as_str(), t.relabellings),
            (1.0, "exact", 20)
        );
        assert!((t.p - 0.1).abs() < 1e-15, "{}", t.p);
        // Past the budget: random relabellings, never below 1 / (resamples + 1).
        let mc = ari_permutation(&[0, 0, 0, 1, 1, 1], &[1, 1, 1, 0, 0, 0], 10, 0).unwrap();
        assert_eq!(mc.method, "monte_carlo");
        assert!(mc.p >= 1.0 / 11.0);
        let mut v = vec![0, 0, 1];
        let mut seen = vec![v.clone()];
        while next_permutation(&mut v) {
            seen.push(v.clone());
        }
        assert_eq!(seen, vec![vec![0, 0, 1], vec![0, 1, 0], vec![1, 0, 0]]);
        // A perfect partition's interval is [1, 1]; a resample of one label is skipped.
        let a = [0, 0, 0, 1, 1, 1];
        let ci = bootstrap_models(6, 200, 3, |idx| {
            let x: Vec<usize> = idx.iter().map(|&i| a[i]).collect();
            (x.iter().any(|&l| l != x[0])).then(|| crate::cluster::adjusted_rand(&x, &x))
        })
        .unwrap();
        assert_eq!((ci.low, ci.high), (1.0, 1.0));
        assert_eq!(ci.replicates + ci.skipped, 200);
    }
}
