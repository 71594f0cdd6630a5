//! Basins from a barrier matrix: spectral clustering on the affinity exp(-B^2 / (2 delta^2))
//! (the paper: delta = 1, k = 2), computed as scikit-learn's `SpectralClustering(affinity=
//! "precomputed", assign_labels="kmeans")` computes it, which is what the paper's code calls
//! (`src/constellations/theoretical/clustering.py`); k given or chosen by the eigengap; the
//! paper's centroid-distance coordinate; average-linkage hierarchical clustering with its
//! dendrogram leaf order; silhouette; agreement between clusterings (adjusted Rand index) for
//! stability. The eigenproblem is nalgebra's symmetric eigensolver, the linkage kodama's.
//! `analysis/tests/python_reference.rs` checks partitions and coordinates against scikit-learn.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A square matrix of barriers (distances): symmetric, zero diagonal, finite, >= 0.
pub type Square = Vec<Vec<f64>>;

/// Off-diagonal affinities spanning less than this are "nearly constant": the partition then
/// rests on differences of a few percent in affinity, and the eigengap says little.
pub const NEARLY_CONSTANT_SPAN: f64 = 0.05;

/// What spectral clustering found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Spectral {
    pub k: usize,
    pub assignments: Vec<usize>,
    /// Eigenvalues of the normalised Laplacian (diagonal of the affinity ignored, as SciPy's
    /// `csgraph.laplacian` ignores it), ascending.
    pub eigenvalues: Vec<f64>,
    /// Each model's coordinates on the two eigenvectors after the trivial one, in
    /// scikit-learn's `spectral_embedding` scale (eigenvector / sqrt(degree), sign fixed so
    /// that the entry of largest magnitude is positive); 0 where n is too small.
    pub embedding: Vec<[f64; 2]>,
    /// Each model's distance to each k-means centroid in the k-dimensional embedding, clusters
    /// in `assignments` order (the paper's `get_sc_centroid_dists`).
    pub centroid_distances: Vec<Vec<f64>>,
    /// The paper's one-dimensional placement: distance to centroid 0 minus distance to
    /// centroid 1 (negative inside cluster 0); all 0 with one cluster.
    pub coordinate: Vec<f64>,
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

/// The median-heuristic kernel width: the median of the positive off-diagonal barriers (a pair
/// at the typical barrier gets affinity exp(-1/2) = 0.61, so affinities spread over (0, 1)
/// whatever the barriers' scale). None when no pair has a barrier.
pub fn median_delta(b: &Square) -> Option<f64> {
    let mut v: Vec<f64> = b
        .iter()
        .enumerate()
        .flat_map(|(i, row)| row[i + 1..].iter().copied())
        .filter(|&x| x > 0.0)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(crate::barriers::percentile(&v, 0.5))
}

/// The smallest and largest off-diagonal affinity (both 1 with fewer than two models).
pub fn affinity_range(b: &Square, delta: f64) -> (f64, f64) {
    let a = affinity(b, delta);
    let n = b.len();
    let mut range: Option<(f64, f64)> = None;
    for i in 0..n {
        for j in i + 1..n {
            let v = a[(i, j)];
            range = Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
        }
    }
    range.unwrap_or((1.0, 1.0))
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

/// Spectral clustering with `k` clusters (None: by eigengap), as scikit-learn computes it:
/// the symmetric normalised Laplacian of the affinity without its diagonal, its k
/// eigenvectors of smallest eigenvalue divided by sqrt(degree) (`spectral_embedding` with
/// `drop_first=False`), each sign-fixed, and k-means on those rows.
pub fn spectral(b: &Square, k: Option<usize>, delta: f64) -> Spectral {
    let n = b.len();
    let a = affinity(b, delta);
    // SciPy's csgraph.laplacian(normed=True): the diagonal is ignored; an isolated node (no
    // weight to any other) keeps a 0 on the Laplacian's diagonal and a scale of 1.
    let degree: Vec<f64> = (0..n)
        .map(|i| (0..n).filter(|&j| j != i).map(|j| a[(i, j)]).sum())
        .collect();
    let scale: Vec<f64> = degree
        .iter()
        .map(|&d| if d > 0.0 { d.sqrt() } else { 1.0 })
        .collect();
    let lap = DMatrix::from_fn(n, n, |i, j| match (i == j, degree[i] > 0.0) {
        (true, true) => 1.0,
        (true, false) => 0.0,
        (false, _) => -a[(i, j)] / (scale[i] * scale[j]),
    });
    let eig = SymmetricEigen::new(lap);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| eig.eigenvalues[x].total_cmp(&eig.eigenvalues[y]));
    let eigenvalues: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    let k = k
        .unwrap_or_else(|| eigengap_k(&eigenvalues))
        .clamp(1, n.max(1));
    // Embedding vector c: eigenvector / sqrt(degree), sign fixed on its largest entry (the
    // first one among equals, as numpy's argmax).
    let vector = |c: usize| -> Vec<f64> {
        let col = eig.eigenvectors.column(order[c]);
        let mut v: Vec<f64> = (0..n).map(|i| col[i] / scale[i]).collect();
        let mut big = 0usize;
        for i in 1..n {
            if v[i].abs() > v[big].abs() {
                big = i;
            }
        }
        if v.get(big).is_some_and(|&x| x < 0.0) {
            v.iter_mut().for_each(|x| *x = -*x);
        }
        v
    };
    let cols: Vec<Vec<f64>> = (0..k.min(n)).map(vector).collect();
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| cols.iter().map(|c| c[i]).collect())
        .collect();
    let (assignments, centroids) = kmeans(&rows, k, 0);
    let centroid_distances: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| centroids.iter().map(|c| euclid(r, c)).collect())
        .collect();
    let coordinate = centroid_distances
        .iter()
        .map(|d| if d.len() >= 2 { d[0] - d[1] } else { 0.0 })
        .collect();
    let coord = |c: usize, i: usize| if c < n { vector(c)[i] } else { 0.0 };
    let embedding = (0..n).map(|i| [coord(1, i), coord(2, i)]).collect();
    Spectral {
        k,
        assignments,
        eigenvalues,
        embedding,
        centroid_distances,
        coordinate,
    }
}

fn euclid(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
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

/// Lloyd's k-means with k-means++ starts, the best of 50 by inertia (scikit-learn's
/// `SpectralClustering` takes the best of 10); deterministic by seed. Labels are canonical
/// (numbered by first appearance) and the centroids, the means of their members, follow them.
pub fn kmeans(points: &[Vec<f64>], k: usize, seed: u64) -> (Vec<usize>, Vec<Vec<f64>>) {
    let n = points.len();
    let dim = points.first().map_or(0, Vec::len);
    let means = |labels: &[usize], k: usize| -> Vec<Vec<f64>> {
        (0..k)
            .map(|c| {
                let members: Vec<&Vec<f64>> = points
                    .iter()
                    .zip(labels)
                    .filter(|(_, &l)| l == c)
                    .map(|(p, _)| p)
                    .collect();
                let count = members.len().max(1) as f64;
                (0..dim)
                    .map(|d| members.iter().map(|m| m[d]).sum::<f64>() / count)
                    .collect()
            })
            .collect()
    };
    if k <= 1 || n <= k {
        let labels: Vec<usize> = (0..n).map(|i| if k <= 1 { 0 } else { i }).collect();
        let centres = means(&labels, if k <= 1 { 1 } else { n });
        return (labels, centres);
    }
    let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut best: Option<(f64, Vec<usize>)> = None;
    for _ in 0..50 {
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
        let mut labels = vec![usize::MAX; n];
        for _ in 0..300 {
            let new: Vec<usize> = points
                .iter()
                .map(|p| {
                    (0..k)
                        .min_by(|&a, &b| dist(p, &centres[a]).total_cmp(&dist(p, &centres[b])))
                        .expect("k >= 1")
                })
                .collect();
            if new == labels {
                break;
            }
            labels = new;
            for (c, m) in means(&labels, k).into_iter().enumerate() {
                // An emptied cluster keeps its centre.
                if labels.contains(&c) {
                    centres[c] = m;
                }
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
    let labels = canonical(&best.expect("50 restarts").1);
    let used = labels.iter().max().map_or(0, |m| m + 1);
    let centres = means(&labels, used);
    (labels, centres)
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

    #[test]
    fn a_partition_within_its_intervals_holds_or_moves_as_the_intervals_allow() {
        let b = two_basins([3, 3]);
        let part = average_linkage(&b).cut(2);
        let recluster = |m: &Square| average_linkage(m).cut(2);
        // Narrow intervals around the values: every draw gives the same partition.
        let narrow = [Uncertain {
            i: 0,
            j: 3,
            low: 1.9,
            high: 2.1,
        }];
        let aris = within_intervals(&b, &narrow, 50, 0, &part, &recluster);
        assert_eq!(aris.len(), 50);
        assert!(aris.iter().all(|&a| a == 1.0), "{aris:?}");
        // Model 0's barriers to the other basin could be smaller than within its own: the low
        // ends (the first draw) move it, the high ends (the second, the values) keep it.
        let wide: Vec<Uncertain> = (3..6)
            .map(|j| Uncertain {
                i: 0,
                j,
                low: 0.0,
                high: 2.0,
            })
            .collect();
        let aris = within_intervals(&b, &wide, 50, 0, &part, &recluster);
        assert!(aris[0] < 1.0, "{aris:?}");
        assert_eq!(aris[1], 1.0);
        assert_eq!(aris, within_intervals(&b, &wide, 50, 0, &part, &recluster));
    }

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

/// A matrix entry known only within an interval: models `i` and `j`, `low` to `high`.
#[derive(Debug, Clone, Copy)]
pub struct Uncertain {
    pub i: usize,
    pub j: usize,
    pub low: f64,
    pub high: f64,
}

/// Agreement (adjusted Rand index) of `recluster` on `draws` matrices with every uncertain
/// entry moved within its interval (the first all at the low ends, the second all at the
/// high ends, the rest uniform draws seeded by `seed`) with `partition`.
pub fn within_intervals(
    b: &Square,
    entries: &[Uncertain],
    draws: usize,
    seed: u64,
    partition: &[usize],
    recluster: &dyn Fn(&Square) -> Vec<usize>,
) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..draws)
        .map(|d| {
            let mut moved = b.clone();
            for e in entries {
                let v = match d {
                    0 => e.low,
                    1 => e.high,
                    _ => e.low + (e.high - e.low) * rng.random::<f64>(),
                };
                moved[e.i][e.j] = v;
                moved[e.j][e.i] = v;
            }
            adjusted_rand(partition, &recluster(&moved))
        })
        .collect()
}
