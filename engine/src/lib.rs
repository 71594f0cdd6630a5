//! The basins engine: from a TOML manifest to cached results, knowing nothing of burn or ML.
//!
//! Read in the order a study flows (see `../shared/design.md`):
//! - [`manifest`]: parse, include, validate -> [`Manifest`] (with `[sweep]`, its sub-studies)
//! - [`expand`]: manifest -> stage instances ([`Node`]) with stable ids and declared inputs (a
//!   sweep's sub-studies under their labels)
//! - [`graph`]: the petgraph DAG and its topological order
//! - [`key`]: recipe keys over canonical pre-images, and typed [`DirtyReason`]s
//! - [`study`]: a loaded study and `plan` (what would run, and why)
//! - [`stage`]: the [`StageKind`] trait the domain plugs into, and the [`Registry`]
//! - [`exec`]: [`Executor`]s (in-process, subprocess) and `run_recipe`, the one way a node runs;
//!   [`slurm`]: the Slurm executor
//! - [`schedule`]: the scheduler behind `basins run`
//! - [`events`]: typed events and the reporters that show them
//! - [`ops`]: status, show, verify and gc
//! - [`record`]: recipes, action records and the per-study index in the cache
//! - [`paths`]: paths built from names, never outside their root
//! - [`roles`]: the input roles that wire nodes together, spelled once for expansion and kinds
//! - [`testkit`]: cheap stage kinds with no ML, for tests and benchmarks of the engine itself

pub mod events;
pub mod exec;
pub mod expand;
pub mod graph;
pub mod key;
pub mod manifest;
pub mod ops;
pub mod paths;
pub mod record;
pub mod roles;
pub mod schedule;
pub mod slurm;
pub mod stage;
pub mod study;
pub mod testkit;

mod error;

pub use basins_cache::{Digest, Store};
pub use error::{EngineError, ErrorClass};
pub use exec::{Executor, InProcess, Subprocess};
pub use expand::Node;
pub use key::{DirtyReason, RecipeKey};
pub use manifest::Manifest;
pub use stage::{Registry, StageContext, StageInput, StageKind, VerifyPolicy};
pub use study::Study;
