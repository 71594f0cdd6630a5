//! What the engine writes into the store besides objects: the recipe a node is run from, and
//! the action record that says what it produced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use basins_cache::{Digest, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::key::Preimage;
use crate::EngineError;

/// How an input is found at run time. Not part of the key (the pre-image has the digests);
/// this is what lets `basins exec-node` run a node from its key alone, without the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolved {
    File { path: PathBuf, digest: Digest },
    Dir { path: PathBuf, digest: Digest },
    Node { node: String, key: Digest },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recipe {
    pub key: Digest,
    pub study: String,
    pub node: String,
    pub preimage: Preimage,
    pub inputs: BTreeMap<String, Resolved>,
}

/// What `gc` and `show` group outputs by. A stage says which of its files are checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputClass {
    Checkpoint,
    Result,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputFile {
    pub digest: Digest,
    pub size: u64,
    pub class: OutputClass,
}

/// The action record: written once a node's outputs are published, never before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionRecord {
    pub key: Digest,
    pub study: String,
    pub node: String,
    pub kind: String,
    pub preimage: Preimage,
    pub outputs: BTreeMap<String, OutputFile>,
    pub metrics: Value,
    /// Content hash of what came out (files and metrics): what downstream keys depend on, so
    /// a re-run that produces identical outputs does not invalidate its descendants.
    pub output_hash: Digest,
    pub executor: String,
    pub host: String,
    /// The instruction-set level the CPU kernels ran at (`Registry::with_arithmetic`): what a
    /// bit-exact re-execution needs besides the inputs. Absent in records from before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arithmetic: Option<String>,
    pub pid: u32,
    /// Unix milliseconds.
    pub started_ms: u64,
    pub duration_ms: u64,
    pub exit_status: i32,
    /// Relative to the cache root.
    pub log: Option<PathBuf>,
}

impl ActionRecord {
    pub fn compute_output_hash(outputs: &BTreeMap<String, OutputFile>, metrics: &Value) -> Digest {
        let files: BTreeMap<&String, &Digest> =
            outputs.iter().map(|(k, v)| (k, &v.digest)).collect();
        let bytes = serde_json::to_vec(&(files, metrics)).expect("outputs serialise");
        Digest::of_tagged("basins-outputs", &bytes)
    }

    /// Every output object is present with the recorded size (a cheap stat, not a re-hash;
    /// bytes are verified when they are read).
    pub fn objects_present(&self, store: &Store) -> bool {
        self.outputs.values().all(|o| {
            std::fs::metadata(store.object_path(&o.digest))
                .map(|m| m.len() == o.size)
                .unwrap_or(false)
        })
    }
}

impl ActionRecord {
    /// What a record must say of itself whatever wrote it: it is the record of `key` (its key
    /// field and its preimage's hash), its `output_hash` is the hash of its outputs and
    /// metrics (so an edited metric or digest shows even in a record from before envelopes),
    /// and its log is a path inside the cache's `logs/`.
    pub fn self_check(&self, key: &Digest) -> Result<(), String> {
        if self.key != *key {
            return Err(format!("it names key {}", self.key.short()));
        }
        if self.preimage.key() != *key {
            return Err("its preimage does not hash to its key".into());
        }
        if Self::compute_output_hash(&self.outputs, &self.metrics) != self.output_hash {
            return Err("its outputs and metrics do not match its output hash".into());
        }
        if let Some(log) = &self.log {
            let inside = log.starts_with("logs")
                && log
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !inside {
                return Err(format!("its log path {} leaves the cache", log.display()));
            }
        }
        Ok(())
    }
}

/// The record of `key`, checked (see `Store::get_action` and `ActionRecord::self_check`).
/// A record that is unreadable or fails a check is a miss, not a crash: it is moved to
/// `quarantine/` and the node is recomputed.
pub fn load_record(store: &Store, key: &Digest) -> Result<Option<ActionRecord>, EngineError> {
    let bytes = match store.get_action(key) {
        Ok(None) => return Ok(None),
        Ok(Some(b)) => b,
        Err(basins_cache::CacheError::CorruptRecord { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let problem = match serde_json::from_slice::<ActionRecord>(bytes.bytes()) {
        Ok(r) => match r.self_check(key) {
            Ok(()) => return Ok(Some(r)),
            Err(why) => why,
        },
        Err(e) => format!("it is not a valid record: {e}"),
    };
    store.quarantine_action(key, &problem);
    Ok(None)
}

/// The shared cache lock every reading or writing command holds while it works, so that `gc`
/// never collects under it; says (at the default log level) whom it waits for.
pub fn use_cache(store: &Store) -> Result<basins_cache::CacheUse, EngineError> {
    Ok(store.in_use(|owner| match owner {
        Some(o) => tracing::warn!(
            "waiting for `basins gc` (pid {} on {}, since {}) to finish with the cache {}",
            o.pid,
            o.host,
            o.since,
            store.root().display()
        ),
        None => tracing::warn!(
            "waiting for `basins gc` to finish with the cache {}",
            store.root().display()
        ),
    })?)
}

pub fn recipe_path(store: &Store, key: &Digest) -> PathBuf {
    store
        .root()
        .join("recipes")
        .join(format!("{}.json", key.to_hex()))
}

pub fn save_recipe(store: &Store, recipe: &Recipe) -> Result<(), EngineError> {
    let bytes = serde_json::to_vec(recipe).expect("recipe serialises");
    basins_cache::write_atomic(&recipe_path(store, &recipe.key), &bytes)?;
    Ok(())
}

pub fn load_recipe(store: &Store, key: &Digest) -> Result<Recipe, EngineError> {
    let path = recipe_path(store, key);
    let bytes = std::fs::read(&path).map_err(|e| EngineError::Recipe {
        key: key.short(),
        message: format!("cannot read {}: {e}", path.display()),
    })?;
    let recipe: Recipe = serde_json::from_slice(&bytes).map_err(|e| EngineError::Recipe {
        key: key.short(),
        message: format!("{} is not a valid recipe: {e}", path.display()),
    })?;
    if recipe.preimage.key() != *key {
        return Err(EngineError::Recipe {
            key: key.short(),
            message: format!(
                "{} does not hash to its key (edited or corrupt)",
                path.display()
            ),
        });
    }
    Ok(recipe)
}

/// Where an index of the last key each node id ran under is kept: per study name, and per study
/// name and manifest file (`Scope`).
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every run of a study of this name, from any manifest file (the newest wins).
    Study(&'a str),
    /// Runs of this study from this manifest file: what `plan` and `why` diff against first,
    /// so that two copies of one study in one cache do not explain each other's changes.
    Manifest { study: &'a str, manifest: &'a Path },
}

/// The last key each node id ran under in `scope`: what `plan` and `why` diff against.
pub fn index_path(store: &Store, scope: Scope<'_>, node: &str) -> PathBuf {
    let node = Digest::of_tagged("node-id", node.as_bytes()).to_hex();
    match scope {
        Scope::Study(study) => store.root().join("index").join(study).join(node),
        Scope::Manifest { study, manifest } => {
            let file = Digest::of_tagged("manifest-path", manifest.as_os_str().as_encoded_bytes());
            store
                .root()
                .join("index")
                .join(study)
                .join(format!("manifest-{}", &file.to_hex()[..16]))
                .join(node)
        }
    }
}

pub fn read_index(store: &Store, scope: Scope<'_>, node: &str) -> Option<Digest> {
    let s = std::fs::read_to_string(index_path(store, scope, node)).ok()?;
    s.trim().parse().ok()
}

pub fn write_index(
    store: &Store,
    scope: Scope<'_>,
    node: &str,
    key: &Digest,
) -> Result<(), EngineError> {
    if read_index(store, scope, node) == Some(*key) {
        return Ok(());
    }
    basins_cache::write_atomic(&index_path(store, scope, node), key.to_hex().as_bytes())?;
    Ok(())
}

pub fn log_path(store: &Store, key: &Digest) -> PathBuf {
    store
        .root()
        .join("logs")
        .join(format!("{}.log", key.to_hex()))
}

pub fn relative_to(store: &Store, p: &Path) -> PathBuf {
    p.strip_prefix(store.root()).unwrap_or(p).to_owned()
}
