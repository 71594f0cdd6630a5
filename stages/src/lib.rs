//! The domain stages of basins: data, models, finetuning, interpolation, analysis and reports,
//! each a `StageKind` registered with the engine.
//!
//! - [`model`]: the BERT classifier in burn, and Hugging Face import/export
//! - [`text`]: tokenization, sentence pairs, dynamic padding
//! - [`backend`]: the burn backends a build offers (ndarray CPU; CUDA with `--features cuda`)
//!
//! - [`data`]: dataset readers
//! - [`train`], [`eval`]: finetuning and evaluation
//! - [`kinds`]: the stage kinds registered with the engine (`finetune`, `evaluate`)
//!
//! Stage kinds still to come (tracked as issues): data generators and `pretrain`,
//! interpolation, barriers, clustering, the report. Until then, `basins` refuses studies that
//! need them by naming the missing kind, and the engine is exercised through `basins-testkit`.

pub mod backend;
pub mod bench;
pub mod data;
pub mod diagnostics;
pub mod eval;
pub mod generate;
pub mod kinds;
pub mod model;
pub mod outputs;
pub mod pretrain;
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
    r.register(Arc::new(kinds::PretrainKind));
    r.register(Arc::new(kinds::DiagnosticsKind));
    r
}
