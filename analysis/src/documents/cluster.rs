//! `cluster.json`: the basins of one barrier matrix.

use basins_study::manifest::{BarrierKind, ClusterDelta, ClusterMethod};
use basins_study::params::Partition;
use serde::{Deserialize, Serialize};

use super::{nan, nan_pairs, nan_vec, nan_vecs};

/// `cluster.json`: the basins of one barrier matrix, how they were found, and how stable they
/// are under the bootstrap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterDoc {
    pub affinity: Affinity,
    /// Each model's basin, in seed order.
    pub assignments: Vec<usize>,
    /// The barrier definition clustered.
    pub barrier: BarrierKind,
    /// Each model's distance to each k-means centroid in the spectral embedding.
    #[serde(deserialize_with = "nan_vecs")]
    pub centroid_distances: Vec<Vec<f64>>,
    /// The paper's one-dimensional placement (distance to centroid 0 minus to centroid 1).
    #[serde(deserialize_with = "nan_vec")]
    pub coordinate: Vec<f64>,
    /// The kernel width as the manifest asked for it.
    pub delta: ClusterDelta,
    /// Why the width used is not what was asked for, when it is not.
    pub delta_note: Option<String>,
    #[serde(deserialize_with = "nan")]
    pub delta_used: f64,
    pub dendrogram: Dendrogram,
    #[serde(deserialize_with = "nan_vec")]
    pub eigenvalues: Vec<f64>,
    /// Each model's coordinates on the two eigenvectors after the trivial one.
    #[serde(deserialize_with = "nan_pairs")]
    pub embedding: Vec<[f64; 2]>,
    /// The eval set whose matrix was clustered.
    pub eval: String,
    pub k: usize,
    pub method: ClusterMethod,
    /// A zoo's member names in seed order; `None` for seeds.
    pub names: Option<Vec<String>>,
    pub seeds: Vec<u64>,
    /// The mean silhouette; `None` where it is not defined (one basin, or one model each).
    pub silhouette: Option<f64>,
    pub sizes: Vec<usize>,
    pub stability: Stability,
    /// With adaptive estimates in the matrix: whether the partition holds anywhere within
    /// their intervals. Absent for grid studies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimates: Option<IntervalRobustness>,
}

/// The partition reclustered (same method, k and kernel width) with every estimated entry
/// moved within its interval: all at the low ends, all at the high ends, and `draws` - 2
/// seeded uniform draws inside the intervals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntervalRobustness {
    /// Pairs whose barrier is an estimate (not exact).
    pub estimated: usize,
    /// Of those, the ones whose interval is wider than the tolerance (budget spent first).
    pub unsettled: usize,
    /// The widest interval.
    #[serde(deserialize_with = "nan")]
    pub widest: f64,
    /// Matrices reclustered.
    pub draws: usize,
    /// Of those, how many gave the same partition (adjusted Rand index 1).
    pub identical: usize,
    #[serde(deserialize_with = "nan")]
    pub min_ari: f64,
    #[serde(deserialize_with = "nan")]
    pub mean_ari: f64,
}

/// The affinity's spread: when it is nearly constant, the partition rests on small differences.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Affinity {
    #[serde(deserialize_with = "nan")]
    pub max: f64,
    #[serde(deserialize_with = "nan")]
    pub min: f64,
    pub nearly_constant: bool,
}

/// Average-linkage merges over the barrier matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dendrogram {
    /// `(a, b, height, size)` per merge, scipy's linkage-matrix rows.
    pub merges: Vec<(usize, usize, f64, usize)>,
    /// The seeds in leaf order.
    pub order: Vec<u64>,
}

/// The partition's stability under the bootstrap replicates of the matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stability {
    /// How often each two models share a basin across replicates (absent with none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_assignment: Option<Vec<Vec<f64>>>,
    /// The mean adjusted Rand index with the full-sample partition; `None` with no replicates.
    pub mean_ari: Option<f64>,
    pub replicates: usize,
}

impl ClusterDoc {
    /// Each model's basin: what expansion reads of this document to make a `[merge]`'s soups
    /// (it parses the stored JSON as a [`Partition`]; a test below holds the two together).
    pub fn partition(&self) -> Partition {
        Partition {
            seeds: self.seeds.clone(),
            assignments: self.assignments.clone(),
        }
    }

    /// How the page names each model, in seed order: a zoo member's name, or the seed.
    pub fn model_names(&self) -> Vec<String> {
        match &self.names {
            Some(n) => n.clone(),
            None => self.seeds.iter().map(u64::to_string).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::documents::testing::cluster;
    use basins_study::params::Partition;

    /// Expansion reads the stored document as a `Partition`: the same basins as the document's.
    #[test]
    fn the_stored_document_reads_as_its_partition() {
        let doc = cluster(json!({"seeds": [3, 5, 9], "assignments": [1, 0, 1]}));
        let stored = serde_json::to_vec(&doc).unwrap();
        let read: Partition = serde_json::from_slice(&stored).unwrap();
        assert_eq!(read, doc.partition());
        assert_eq!(read.basins(), [(0, vec![5]), (1, vec![3, 9])]);
    }
}
