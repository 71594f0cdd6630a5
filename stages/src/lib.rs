//! basins' stage kinds, registered with the engine: the glue between the engine and the domain
//! crates below (`models` and `analysis` do not see each other, so they compile in parallel):
//!
//! - [`basins_files`]: data sets, generated sets, downloads, the Hub, stored outputs, a stage's
//!   inputs (no model code)
//! - [`basins_models`]: the BERT classifier in burn, training, evaluation, interpolation, and
//!   the model stage kinds
//! - [`basins_analysis`]: diagnostics, barriers, clustering, controls, dynamics, the report
//!
//! - [`kinds`]: the data and analysis stage kinds, and the model kinds re-exported
//! - [`registry`]: every kind this build provides
//!
//! The domain modules are re-exported under their names, so that `basins_stages::model` or
//! `basins_stages::report` reads the same from the CLI and the tests whichever crate holds it.

pub use basins_analysis::{
    adaptive, barriers, cluster, controls, diagnostics, documents, dynamics, plot, report, stats,
    sweep,
};
pub use basins_files::{data, download, generate, hub, inputs, metrics, outputs, tensorfile};
pub use basins_models::{align, backend, bench, eval, interpolate, model, pretrain, text, train};

pub mod kinds;

use std::sync::Arc;

use basins_engine::Registry;

/// Every stage kind this build provides.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(kinds::FinetuneKind));
    r.register(Arc::new(kinds::EvaluateKind));
    r.register(Arc::new(kinds::GenerateKind));
    r.register(Arc::new(kinds::DownloadKind));
    r.register(Arc::new(kinds::HubKind));
    r.register(Arc::new(kinds::HubDataKind));
    r.register(Arc::new(kinds::PretrainKind));
    r.register(Arc::new(kinds::DiagnosticsKind));
    r.register(Arc::new(kinds::InterpolateKind));
    r.register(Arc::new(kinds::AdaptiveInterpolateKind));
    r.register(Arc::new(kinds::InterpolateBlocksKind));
    r.register(Arc::new(kinds::AlignKind));
    r.register(Arc::new(kinds::MergeKind));
    r.register(Arc::new(kinds::GreedySoupKind));
    r.register(Arc::new(kinds::BarriersKind));
    r.register(Arc::new(kinds::ClusterKind));
    r.register(Arc::new(kinds::ControlsKind));
    r.register(Arc::new(kinds::DynamicsKind));
    r.register(Arc::new(kinds::SoupsKind));
    r.register(Arc::new(kinds::BlocksKind));
    r.register(Arc::new(kinds::AlignedKind));
    r.register(Arc::new(kinds::ReportKind));
    r.register(Arc::new(kinds::SweepKind));
    r.with_arithmetic(basins_models::model::arithmetic())
}
