//! Basins from a barrier matrix: spectral clustering on the affinity exp(-B^2 / (2 delta^2))
//! (the paper: delta = 1, k = 2), k given or chosen by the eigengap; average-linkage
//! hierarchical clustering with its dendrogram leaf order; silhouette; the 2-D spectral
//! embedding; agreement between clusterings (adjusted Rand index) for stability. The
//! eigenproblem is nalgebra's symmetric eigensolver, the linkage kodama's.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A square matrix of barriers (distances): symmetric, zero diagonal, finite, >= 0.
pub type Square = Vec<Vec<f64>>;

/// What spectral clustering found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Spectral {
    pub k: usize,
    pub assignments: Vec<usize>,
    /// Eigenvalues of the normalised Laplacian, ascending.
    pub eigenvalues: Vec<f64>,
    /// Each model's coordinates on the two eigenvectors after the trivial one (random-walk
    /// normalisation, sign fixed so that the largest entry is positive).
    pub embedding: Vec<[f64; 2]>,
}

/// Check a barrier matrix: square, symmetric, finite, non-negative.
pub fn check(b: &Square) -> Result<(), String> {
    let n = b.len();
    for (i, row) in b.iter().enumerate() {
        if row.len() != n {
            return Err(format!("row {i} has {} entries, not {n}", row.len()));
        }
        for (j, &v) in row.iter().enumerate() {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("entry ({i}, {j}) is {v}"));
            }
            if (v - b[j][i]).abs() > 1e-9 {
                return Err(format!("entry ({i}, {j}) differs from ({j}, {i})"));
            }
        }
    }
    Ok(())
}

/// The paper's affinity: exp(-B^2 / (2 delta^2)).
pub fn affinity(b: &Square, delta: f64) -> DMatrix<f64> {
    let n = b.len();
    DMatrix::from_fn(n, n, |i, j| {
        (-b[i][j].powi(2) / (2.0 * delta * delta)).exp()
    })
}

/// The number of clusters with the largest eigengap, among 1..=n/2 (1: a single basin).
pub fn eigengap_k(eigenvalues: &[f64]) -> usize {
    let max_k = (eigenvalues.len() / 2).max(1);
    (1..=max_k)
        .filter(|&k| k < eigenvalues.len())
        .max_by(|&a, &b| {
            let gap = |k: usize| eigenvalues[k] - eigenvalues[k - 1];
            gap(a).total_cmp(&gap(b)).then(b.cmp(&a))
        })
        .unwrap_or(1)
}

/// Ng-Jordan-Weiss spectral clustering with `k` clusters (None: by eigengap).
pub fn spectral(b: &Square, k: Option<usize>, delta: f64) -> Spectral {
    let n = b.len();
    let a = affinity(b, delta);
    let d: Vec<f64> = (0..n).map(|i| a.row(i).sum()).collect();
    let inv_sqrt: Vec<f64> = d.iter().map(|x| 1.0 / x.sqrt()).collect();
    let lap = DMatrix::from_fn(n, n, |i, j| {
        let norm = a[(i, j)] * inv_sqrt[i] * inv_sqrt[j];
        if i == j {
            1.0 - norm
        } else {
            -norm
        }
    });
    let eig = SymmetricEigen::new(lap);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| eig.eigenvalues[x].total_cmp(&eig.eigenvalues[y]));
    let eigenvalues: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    let k = k.unwrap_or_else(|| eigengap_k(&eigenvalues)).clamp(1, n);
    let vector = |c: usize| -> Vec<f64> {
        let col = eig.eigenvectors.column(order[c]);
        let mut v: Vec<f64> = (0..n).map(|i| col[i]).collect();
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        v
    };
    // Rows of the first k eigenvectors, each normalised to unit length.
    let cols: Vec<Vec<f64>> = (0..k).map(vector).collect();
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let r: Vec<f64> = cols.iter().map(|c| c[i]).collect();
            let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            r.into_iter().map(|x| x / norm).collect()
        })
        .collect();
    let assignments = canonical(&kmeans(&rows, k, 0));
    let coord = |c: usize, i: usize| {
        if c < n {
            vector(c)[i] * inv_sqrt[i]
        } else {
            0.0
        }
    };
    let embedding = (0..n).map(|i| [coord(1, i), coord(2, i)]).collect();
    Spectral {
        k,
        assignments,
        eigenvalues,
        embedding,
    }
}

/// Relabel clusters in order of first appearance, so equal partitions compare equal.
pub fn canonical(labels: &[usize]) -> Vec<usize> {
    let mut map = std::collections::HashMap::new();
    labels
        .iter()
        .map(|l| {
            let next = map.len();
            *map.entry(*l).or_insert(next)
        })
        .collect()
}

/// Lloyd's k-means with k-means++ starts, the best of 20 by inertia; deterministic by seed.
pub fn kmeans(points: &[Vec<f64>], k: usize, seed: u64) -> Vec<usize> {
    let n = points.len();
    if k <= 1 || n <= k {
        return (0..n).map(|i| if k <= 1 { 0 } else { i }).collect();
    }
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut best: Option<(f64, Vec<usize>)> = None;
    for _ in 0..20 {
        let mut centres = vec![points[rng.random_range(0..n)].clone()];
        while centres.len() < k {
            let d: Vec<f64> = points
                .iter()
                .map(|p| {
                    centres
                        .iter()
                        .map(|c| dist(p, c))
                        .fold(f64::INFINITY, f64::min)
                })
                .collect();
            let total: f64 = d.iter().sum();
            let mut r = rng.random::<f64>() * total;
            let pick = d.iter().position(|&x| {
                r -= x;
                r <= 0.0
            });
            centres.push(points[pick.unwrap_or(n - 1)].clone());
        }
        let mut labels = vec![0usize; n];
        for _ in 0..100 {
            let new: Vec<usize> = points
                .iter()
                .map(|p| {
                    (0..k)
                        .min_by(|&a, &b| dist(p, &centres[a]).total_cmp(&dist(p, &centres[b])))
                        .expect("k >= 1")
                })
                .collect();
            let changed = new != labels;
            labels = new;
            for (c, centre) in centres.iter_mut().enumerate() {
                let members: Vec<&Vec<f64>> = points
                    .iter()
                    .zip(&labels)
                    .filter(|(_, &l)| l == c)
                    .map(|(p, _)| p)
                    .collect();
                if !members.is_empty() {
                    for (d, x) in centre.iter_mut().enumerate() {
                        *x = members.iter().map(|m| m[d]).sum::<f64>() / members.len() as f64;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let inertia: f64 = points
            .iter()
            .zip(&labels)
            .map(|(p, &l)| dist(p, &centres[l]))
            .sum();
        if best.as_ref().is_none_or(|(b, _)| inertia < *b - 1e-12) {
            best = Some((inertia, labels));
        }
    }
    best.expect("20 restarts").1
}

/// Mean silhouette with the barrier as the distance (None with one cluster or all singletons).
pub fn silhouette(b: &Square, labels: &[usize]) -> Option<f64> {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    if k < 2 {
        return None;
    }
    let n = labels.len();
    let mut total = 0.0;
    let mut counted = 0usize;
    for i in 0..n {
        let mean_to = |c: usize| -> Option<f64> {
            let d: Vec<f64> = (0..n)
                .filter(|&j| j != i && labels[j] == c)
                .map(|j| b[i][j])
                .collect();
            (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64)
        };
        let Some(a) = mean_to(labels[i]) else {
            counted += 1; // a singleton scores 0
            continue;
        };
        let nearest = (0..k)
            .filter(|&c| c != labels[i])
            .filter_map(mean_to)
            .fold(f64::INFINITY, f64::min);
        let s = if a.max(nearest) > 0.0 {
            (nearest - a) / a.max(nearest)
        } else {
            0.0
        };
        total += s;
        counted += 1;
    }
    Some(total / counted as f64)
}

/// Average-linkage (UPGMA) clustering: the dendrogram's leaf order, its merges (a, b, height,
/// size; clusters numbered as in SciPy: leaves 0..n, merge m makes n + m) and a cut into `k`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hierarchy {
    pub order: Vec<usize>,
    pub merges: Vec<(usize, usize, f64, usize)>,
}

pub fn average_linkage(b: &Square) -> Hierarchy {
    let n = b.len();
    if n < 2 {
        return Hierarchy {
            order: (0..n).collect(),
            merges: vec![],
        };
    }
    let mut condensed: Vec<f64> = b
        .iter()
        .enumerate()
        .flat_map(|(i, row)| row[i + 1..].iter().copied())
        .collect();
    let d = kodama::linkage(&mut condensed, n, kodama::Method::Average);
    let merges: Vec<(usize, usize, f64, usize)> = d
        .steps()
        .iter()
        .map(|s| (s.cluster1, s.cluster2, s.dissimilarity, s.size))
        .collect();
    let mut order = Vec::with_capacity(n);
    let mut stack = vec![n + merges.len() - 1];
    while let Some(c) = stack.pop() {
        if c < n {
            order.push(c);
        } else {
            let (a, b, _, _) = merges[c - n];
            stack.push(b);
            stack.push(a);
        }
    }
    Hierarchy { order, merges }
}

impl Hierarchy {
    /// Cut into `k` clusters (undo the last k - 1 merges).
    pub fn cut(&self, k: usize) -> Vec<usize> {
        let n = self.order.len();
        let mut parent: Vec<usize> = (0..n + self.merges.len()).collect();
        for (m, &(a, b, _, _)) in self.merges.iter().enumerate().take(n.saturating_sub(k)) {
            parent[a] = n + m;
            parent[b] = n + m;
        }
        let root = |mut c: usize| {
            while parent[c] != c {
                c = parent[c];
            }
            c
        };
        canonical(&(0..n).map(root).collect::<Vec<_>>())
    }

    /// The k after the largest jump in merge height (1 when there is one merge or none).
    pub fn gap_k(&self) -> usize {
        let n = self.order.len();
        let h: Vec<f64> = self.merges.iter().map(|m| m.2).collect();
        (1..h.len())
            .max_by(|&a, &b| (h[a] - h[a - 1]).total_cmp(&(h[b] - h[b - 1])))
            .map_or(1, |m| n - m)
    }
}

/// Adjusted Rand index of two partitions (1: identical up to relabelling).
pub fn adjusted_rand(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len();
    let ka = a.iter().max().map_or(0, |m| m + 1);
    let kb = b.iter().max().map_or(0, |m| m + 1);
    let mut t = vec![vec![0f64; kb]; ka];
    for (&x, &y) in a.iter().zip(b) {
        t[x][y] += 1.0;
    }
    let c2 = |x: f64| x * (x - 1.0) / 2.0;
    let sum_cells: f64 = t.iter().flatten().map(|&x| c2(x)).sum();
    let sum_a: f64 = t.iter().map(|r| c2(r.iter().sum())).sum();
    let sum_b: f64 = (0..kb).map(|j| c2(t.iter().map(|r| r[j]).sum())).sum();
    let expected = sum_a * sum_b / c2(n as f64);
    let max = (sum_a + sum_b) / 2.0;
    if (max - expected).abs() < 1e-12 {
        1.0
    } else {
        (sum_cells - expected) / (max - expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two basins: barriers 0.05 inside, 2.0 across.
    fn two_basins(sizes: [usize; 2]) -> Square {
        let n = sizes[0] + sizes[1];
        let side = |i: usize| usize::from(i >= sizes[0]);
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| match (i == j, side(i) == side(j)) {
                        (true, _) => 0.0,
                        (false, true) => 0.05 + 0.01 * ((i + j) % 3) as f64,
                        (false, false) => 2.0,
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn two_basins_are_found_with_k_given_or_by_eigengap() {
        let b = two_basins([3, 5]);
        check(&b).unwrap();
        for k in [Some(2), None] {
            let s = spectral(&b, k, 1.0);
            assert_eq!(s.k, 2);
            assert_eq!(s.assignments, vec![0, 0, 0, 1, 1, 1, 1, 1]);
            assert!(s.eigenvalues[0].abs() < 1e-9);
        }
        let s = spectral(&b, Some(2), 1.0);
        // The Fiedler coordinate separates the basins by sign.
        let first: Vec<f64> = s.embedding.iter().map(|e| e[0]).collect();
        assert!(first[..3].iter().all(|&x| x * first[3] < 0.0));
        assert!(silhouette(&b, &s.assignments).unwrap() > 0.9);
        let h = average_linkage(&b);
        assert_eq!(h.cut(2), vec![0, 0, 0, 1, 1, 1, 1, 1]);
        assert_eq!(h.gap_k(), 2);
        let pos = |x: usize| h.order.iter().position(|&o| o == x).unwrap();
        assert!((0..3).all(|i| pos(i) < 3) || (0..3).all(|i| pos(i) >= 5));
    }

    #[test]
    fn one_basin_by_eigengap_and_rand_index() {
        let flat: Square = (0..6)
            .map(|i| (0..6).map(|j| if i == j { 0.0 } else { 0.02 }).collect())
            .collect();
        assert_eq!(spectral(&flat, None, 1.0).k, 1);
        assert_eq!(silhouette(&flat, &[0; 6]), None);
        assert_eq!(adjusted_rand(&[0, 0, 1, 1], &[1, 1, 0, 0]), 1.0);
        assert!(adjusted_rand(&[0, 0, 1, 1], &[0, 1, 0, 1]) < 0.0);
        let mut bad = two_basins([2, 2]);
        bad[0][1] = f64::NAN;
        assert!(check(&bad).is_err());
    }
}
