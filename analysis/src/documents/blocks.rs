//! `blocks.json` (the `blocks` kind: which blocks of the network carry each pair's barrier) and
//! `aligned.json` (the `aligned` kind: each pair's barrier before and after model B's units are
//! matched to A's); the report reads both.

use std::collections::BTreeMap;

use basins_study::manifest::blocks::Hold;
use serde::{Deserialize, Serialize};

/// Medians of one barrier matrix's pairs, and the basins its matrix alone gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixSummary {
    /// Adjusted Rand index of the clustering of this matrix alone (the study's method, its
    /// number of basins) against the final basins; `None` without a clustering, or when the
    /// matrix cannot be clustered.
    pub ari: Option<f64>,
    /// Median over the pairs in different basins (`None` without basins or such pairs).
    pub between: Option<f64>,
    pub max: Option<f64>,
    pub median: Option<f64>,
    /// Median over the pairs in one basin.
    pub within: Option<f64>,
}

/// One block's barriers summarised, for one place the other blocks are held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockSummary {
    pub block: String,
    pub hold: Hold,
    /// Median over the pairs in different basins of this block's barrier over the whole
    /// path's: how much of a between-basin barrier this block alone raises.
    pub share_between: Option<f64>,
    #[serde(flatten)]
    pub summary: MatrixSummary,
}

/// One pair's barriers, block by block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockPair {
    pub a: u64,
    pub b: u64,
    /// Per place held (`a`, `b`), one barrier per block in [`BlocksDoc::blocks`] order.
    pub blocks: BTreeMap<String, Vec<Option<f64>>>,
    /// Whether the two models share a final basin (`None` without a clustering).
    pub same_basin: Option<bool>,
    /// The whole path's barrier (every block moving), from `barriers/<task>`.
    pub whole: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlocksDoc {
    pub alphas: Vec<f64>,
    pub barrier: String,
    /// The final basins in seed order, when the study clusters.
    pub basins: Option<Vec<usize>>,
    pub blocks: Vec<String>,
    /// Forward passes the block paths took (examples scored, summed over alphas).
    pub forward_passes: u64,
    pub holds: Vec<Hold>,
    pub pairs: Vec<BlockPair>,
    pub seeds: Vec<u64>,
    pub set: String,
    /// One per hold and block, holds first.
    pub summaries: Vec<BlockSummary>,
    /// The whole path's barriers summarised alike, for comparison.
    pub whole: MatrixSummary,
}

/// One pair before and after alignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlignedPair {
    pub a: u64,
    /// The barrier from A to B aligned to A.
    pub after: Option<f64>,
    pub b: u64,
    /// The plain path's barrier, from `barriers/<task>`.
    pub before: Option<f64>,
    /// `||theta_A - P(theta_B)||` before (P the identity) and after.
    pub distance: [f64; 2],
    /// The largest difference, over the loss-surface rows, between the aligned B's loss (the
    /// path's alpha 1) and B's own: rounding only, or the permutation changed the function.
    pub end_loss_change: f64,
    /// The share of each kind of unit (residual, heads, key, value, ffn) the
    /// permutation leaves in place.
    pub identity: BTreeMap<String, f64>,
    /// Passes weight matching ran, and whether the last one changed nothing.
    pub passes: usize,
    pub converged: bool,
    pub same_basin: Option<bool>,
}

/// The basins of the aligned barriers, against the final ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlignedBasins {
    /// Adjusted Rand index against the final basins.
    pub ari: f64,
    pub assignments: Vec<usize>,
    pub k: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlignedDoc {
    pub after: MatrixSummary,
    pub alphas: Vec<f64>,
    pub barrier: String,
    /// The final basins in seed order, when the study clusters.
    pub basins: Option<Vec<usize>>,
    pub before: MatrixSummary,
    /// The aligned barriers clustered as the study clusters (`None` without a clustering).
    pub clustered: Option<AlignedBasins>,
    /// Mean over pairs of each kind's identity share.
    pub identity: BTreeMap<String, f64>,
    /// The largest [`AlignedPair::end_loss_change`] over the pairs.
    pub end_loss_change: f64,
    pub pairs: Vec<AlignedPair>,
    pub seeds: Vec<u64>,
    pub set: String,
}
