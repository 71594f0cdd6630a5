//! The basins engine: from a study's nodes to cached results, knowing nothing of burn, ML or
//! manifests (`basins-study` reads those and hands the engine its nodes).
//!
//! Read in the order a study flows (see `../shared/design.md`):
//! - [`node`]: a stage instance ([`Node`]): id, kind, params and named inputs
//! - [`graph`]: the petgraph DAG and its topological order
//! - [`key`]: recipe keys over canonical pre-images, and typed [`DirtyReason`]s
//! - [`study`]: a study (name, cache, environment, nodes) and `plan` (what would run, and why)
//! - [`settings`]: how nodes run: the executor, and what Slurm jobs ask for
//! - [`stage`]: the [`StageKind`] trait the domain plugs into, and the [`Registry`]
//! - [`exec`]: [`Executor`]s (in-process, subprocess) and `run_recipe`, the one way a node runs;
//!   [`slurm`]: the Slurm executor
//! - [`schedule`]: the scheduler behind `basins run`
//! - [`events`]: typed events and the reporters that show them
//! - [`ops`]: status, show, verify and gc
//! - [`record`]: recipes, action records and the per-study index in the cache
//! - [`paths`]: paths built from names, never outside their root
//! - [`testkit`]: cheap stage kinds with no ML, for tests and benchmarks of the engine itself

pub mod events;
pub mod exec;
pub mod graph;
pub mod key;
pub mod node;
pub mod ops;
pub mod paths;
pub mod record;
pub mod schedule;
pub mod settings;
pub mod slurm;
pub mod stage;
pub mod study;
pub mod testkit;

mod error;

pub use basins_cache::{Digest, Store};
pub use error::{did_you_mean, EngineError, ErrorClass};
pub use exec::{Executor, InProcess, Subprocess};
pub use key::{DirtyReason, RecipeKey};
pub use node::Node;
pub use stage::{Registry, StageContext, StageInput, StageKind, VerifyPolicy};
pub use study::{Study, StudyDef};
