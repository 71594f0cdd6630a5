//! `soups.json`: every soup of a task beside its members, the ensemble of the same members and
//! the controls, on every eval set (the `soups` kind writes it; the report reads it).

use basins_study::manifest::MergeMethod;
use basins_study::params::SoupGroup;
use serde::{Deserialize, Serialize};

use super::nan;
pub use crate::diagnostics::Spread;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoupsDoc {
    /// The eval sets, in the order every soup's `scores` lists them.
    pub sets: Vec<SoupSet>,
    pub soups: Vec<SoupRow>,
}

/// An eval set and the score the soups are compared by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoupSet {
    /// `diagnostic`: a diagnostic set (the task's own splits are in distribution).
    pub diagnostic: bool,
    pub name: String,
    /// The set's primary score (`accuracy`, `mcc`, ...).
    pub score: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoupRow {
    /// The barrier (the clustering's definition, on its set) from the soup to each member, and
    /// among the members themselves (their pairs' barriers); a uniform soup of two or more
    /// only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barriers: Option<SoupBarriers>,
    /// The greedy soup's chosen members (names), for that soup only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<Vec<String>>,
    #[serde(flatten)]
    pub group: SoupGroup,
    /// Its members' seeds (the greedy soup's: those it was chosen from).
    pub members: Vec<u64>,
    pub method: MergeMethod,
    /// One per set of [`SoupsDoc::sets`].
    pub scores: Vec<SoupScore>,
    /// `basin-0`, `all`, `cross-0-1`, `greedy`.
    pub soup: String,
}

/// A soup's score on one set, and what it is compared with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoupScore {
    /// The ensemble of the same members: their averaged probabilities, scored alike (what a
    /// soup tries to match at one model's cost).
    #[serde(deserialize_with = "nan")]
    pub ensemble: f64,
    /// The soup's score minus its best member's.
    #[serde(deserialize_with = "nan")]
    pub gain: f64,
    /// On the set's loss-surface rows (sets the barriers were measured on only).
    pub loss: Option<SurfaceLoss>,
    pub members: Spread,
    #[serde(deserialize_with = "nan")]
    pub soup: f64,
    /// Whether the soup's score lies within its members' range (for a basin's soup on a
    /// diagnostic set: whether it keeps the basin's behaviour).
    pub within: bool,
}

/// Mean losses on a set's loss-surface rows: the soup's, its members' (the mean of theirs)
/// and the paths' between its members at alpha = 0.5 (what a cross-basin soup is compared
/// with: its pairs' midpoints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SurfaceLoss {
    #[serde(deserialize_with = "nan")]
    pub members: f64,
    /// The mean over the member pairs of their path's loss at alpha = 0.5 (`None`: one
    /// member, or no pair of them interpolated).
    pub midpoints: Option<f64>,
    /// Whether 0.5 is on the grid; otherwise the midpoint is read off the straight line
    /// between the two grid points around it.
    pub midpoint_on_grid: bool,
    /// Member pairs whose path was interpolated.
    pub pairs: usize,
    #[serde(deserialize_with = "nan")]
    pub soup: f64,
}

/// A soup's barriers to its members beside the members' barriers to one another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoupBarriers {
    /// Between the members (every pair of them the barriers node has).
    pub among: Spread,
    /// From the soup to each member.
    pub to_members: Spread,
}
