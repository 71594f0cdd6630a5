//! basins' analysis, with no model code: what the stored per-example outputs of the model
//! stages say. Diagnostic groups, barriers, basins, controls, training dynamics, the report and
//! the sweep page. Editing any of it recompiles neither burn nor the model code.
//!
//! - [`diagnostics`]: metrics per diagnostic group
//! - [`barriers`]: loss and accuracy barriers with bootstrap intervals
//! - [`adaptive`]: a path's barrier from a fraction of the grid's forward passes, with an interval
//! - [`cluster`]: spectral and hierarchical clustering, stability
//! - [`documents`]: `barriers.json`, `cluster.json`, `diagnostics.json` and `dynamics.json`, one
//!   type each for writer and readers
//! - [`stats`]: rank tests, correlations, permutation and bootstrap tests
//! - [`controls`]: output-similarity baselines and robustness of a partition
//! - [`dynamics`]: when in training the basins form
//! - [`report`]: the study's HTML page and `report.json`
//! - [`sweep`]: a sweep's comparison of its sub-studies
//! - [`plot`]: SVG charts (ticks, axes, legends, colour-blind-safe colours) for both pages

pub mod adaptive;
pub mod barriers;
pub mod cluster;
pub mod controls;
pub mod diagnostics;
pub mod documents;
pub mod dynamics;
pub mod plot;
pub mod report;
pub mod stats;
pub mod sweep;
