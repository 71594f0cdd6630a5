//! The domain stages of basins: data, models, finetuning, interpolation, analysis and reports,
//! each a `StageKind` registered with the engine.
//!
//! Models:
//! - [`model`]: the BERT classifier in burn, and Hugging Face import/export
//! - [`text`]: tokenization, sentence pairs, dynamic padding
//! - [`backend`]: the burn backends a build offers (ndarray CPU; CUDA with `--features cuda`)
//! - [`hub`]: models from the Hugging Face Hub, resolved to commits and checked
//! - [`pretrain`], [`train`], [`eval`]: masked-LM pretraining, finetuning, evaluation
//! - [`interpolate`]: models on the straight line between two others
//!
//! Data:
//! - [`data`]: readers for GLUE, HANS, PAWS and JSONL, and `basins data check`
//! - [`generate`]: the HANS-style set, the generated NLI tasks, the pretraining corpus
//! - [`download`]: public data sets fetched from their release and checked against pinned digests
//! - [`outputs`]: per-example results as the model stages store them
//!
//! Analysis:
//! - [`diagnostics`]: metrics per diagnostic group
//! - [`barriers`]: loss and accuracy barriers with bootstrap intervals
//! - [`cluster`]: spectral and hierarchical clustering, stability
//! - [`controls`]: output-similarity baselines and robustness of a partition
//! - [`report`]: the study's HTML page and `report.json`
//! - [`sweep`]: a sweep's comparison of its sub-studies
//! - [`plot`]: SVG charts (ticks, axes, legends, colour-blind-safe colours) for both pages
//!
//! - [`kinds`]: the stage kinds registered with the engine
//! - [`bench`], [`tensorfile`]: throughput measurement; safetensors in and out

pub mod backend;
pub mod barriers;
pub mod bench;
pub mod cluster;
pub mod controls;
pub mod data;
pub mod diagnostics;
pub mod download;
pub mod dynamics;
pub mod eval;
pub mod generate;
pub mod hub;
pub mod interpolate;
pub mod kinds;
pub mod model;
pub mod outputs;
pub mod plot;
pub mod pretrain;
pub mod report;
pub mod stats;
pub mod sweep;
pub mod tensorfile;
pub mod text;
pub mod train;

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
    r.register(Arc::new(kinds::PretrainKind));
    r.register(Arc::new(kinds::DiagnosticsKind));
    r.register(Arc::new(kinds::InterpolateKind));
    r.register(Arc::new(kinds::BarriersKind));
    r.register(Arc::new(kinds::ClusterKind));
    r.register(Arc::new(kinds::ControlsKind));
    r.register(Arc::new(kinds::DynamicsKind));
    r.register(Arc::new(kinds::ReportKind));
    r.register(Arc::new(kinds::SweepKind));
    r
}
