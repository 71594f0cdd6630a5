//! The domain stages of basins: data, models, finetuning, interpolation, analysis and reports,
//! each a `StageKind` registered with the engine.
//!
//! The model, data and analysis stage kinds are tracked as separate issues (BERT in burn; data
//! readers and generators; interpolation, barriers, clustering and the report). Until they are
//! registered here, `basins` refuses studies that need them by naming the missing kind, and
//! the engine is exercised through `basins-testkit`.

use basins_engine::Registry;

/// Every stage kind this build provides.
pub fn registry() -> Registry {
    Registry::new()
}
