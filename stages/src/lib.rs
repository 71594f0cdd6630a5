//! The domain stages of basins: data, models, finetuning, interpolation, analysis and reports,
//! each a `StageKind` registered with the engine.
//!
//! - [`model`]: the BERT classifier in burn, and Hugging Face import/export
//! - [`text`]: tokenization, sentence pairs, dynamic padding
//! - [`backend`]: the burn backends a build offers (ndarray CPU; CUDA with `--features cuda`)
//!
//! Stage kinds still to be registered (tracked as issues): data readers and generators,
//! finetune and evaluate, interpolation, barriers, clustering, the report. Until then, `basins`
//! refuses studies that need them by naming the missing kind, and the engine is exercised
//! through `basins-testkit`.

pub mod backend;
pub mod model;
pub mod text;

use basins_engine::Registry;

/// Every stage kind this build provides.
pub fn registry() -> Registry {
    Registry::new()
}
