//! A manifest as the engine's [`Study`]: its name, file, cache, environment, executor settings
//! and expanded nodes.

use std::path::{Path, PathBuf};

use basins_engine::{EngineError, ErrorClass, Registry, Study, StudyDef};
use serde::Serialize;

use basins_engine::ops::{self, Checked};

use crate::expand::{awaited, expand_known, Known};
use crate::manifest::{Manifest, ManifestError};
use crate::params::Partition;

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
///
/// Nodes that expand from results (a `[merge]`'s soups, from each task's clustering) are in it
/// when those results are cached and current: `basins run` opens the study again after a run
/// that added such results, and runs what they expand to.
pub fn study(
    m: &Manifest,
    registry: Registry,
    cache: Option<PathBuf>,
) -> Result<Study, EngineError> {
    let first = open_with(m, registry.clone(), cache.clone(), &Known::default())?;
    let awaited = awaited(m);
    if awaited.is_empty() {
        return Ok(first);
    }
    let known = read_known(&first, &awaited)?;
    if known.partitions.is_empty() {
        return Ok(first);
    }
    open_with(m, registry, cache, &known)
}

/// The nodes of `awaited` whose results are cached, read: each a task's final clustering. A
/// cached document that does not read as one is an error (the cluster kind wrote it).
fn read_known(study: &Study, awaited: &[String]) -> Result<Known, EngineError> {
    let mut known = Known::default();
    for id in awaited {
        let Some(Checked::Intact(outputs)) = ops::checked_outputs(study, id)? else {
            continue;
        };
        let Some((_, path)) = outputs.iter().find(|(name, _)| name == "cluster.json") else {
            continue;
        };
        let bad = |message: String| EngineError::Input {
            node: id.clone(),
            role: "cluster.json".into(),
            path: path.clone(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let p: Partition = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a clustering's basins: {e}")))?;
        if p.seeds.len() != p.assignments.len() {
            return Err(bad(format!(
                "{} seeds and {} basin assignments",
                p.seeds.len(),
                p.assignments.len()
            )));
        }
        known.partitions.insert(id.clone(), p);
    }
    Ok(known)
}

fn open_with(
    m: &Manifest,
    registry: Registry,
    cache: Option<PathBuf>,
    known: &Known,
) -> Result<Study, EngineError> {
    let nodes = expand_known(m, registry.build(), known);
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
