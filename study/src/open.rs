//! A manifest as the engine's [`Study`]: its name, file, cache, environment, executor settings
//! and expanded nodes.

use std::path::{Path, PathBuf};

use basins_engine::{EngineError, ErrorClass, Registry, Study, StudyDef};
use serde::Serialize;

use crate::expand::expand;
use crate::manifest::{Manifest, ManifestError};

/// Why a study could not be opened from its manifest.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Manifest(Box<ManifestError>),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<ManifestError> for OpenError {
    fn from(e: ManifestError) -> Self {
        OpenError::Manifest(Box::new(e))
    }
}

impl OpenError {
    /// A bad manifest is the user's input; the engine's errors say their own class.
    pub fn class(&self) -> ErrorClass {
        match self {
            OpenError::Manifest(_) => ErrorClass::BadInput,
            OpenError::Engine(e) => e.class(),
        }
    }
}

/// The study `m` describes, with the cache `cache` (`--cache`) in place of the manifest's. Hub
/// revisions are taken as they stand: [`crate::pin::pin`] them first.
pub fn study(
    m: &Manifest,
    registry: Registry,
    cache: Option<PathBuf>,
) -> Result<Study, EngineError> {
    let nodes = expand(m, registry.build());
    let def = StudyDef {
        name: m.study.name.clone(),
        path: m.path.clone(),
        cache: cache.unwrap_or_else(|| m.study.cache.clone()),
        env: [
            ("backend".to_owned(), ser_name(&m.study.backend)),
            ("precision".to_owned(), ser_name(&m.study.precision)),
        ]
        .into(),
        nodes,
        executor: m.study.executor,
        slurm: m.study.slurm.clone(),
    };
    Study::new(def, registry)
}

/// Load the manifest at `path` and open its study, without asking the Hub (unpinned revisions
/// leave their `hub/` nodes without a commit).
pub fn open(path: &Path, registry: Registry, cache: Option<PathBuf>) -> Result<Study, OpenError> {
    Ok(study(&Manifest::load(path)?, registry, cache)?)
}

/// A unit enum's serde name (`cpu`, `f32`): how the environment spells settings.
fn ser_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
