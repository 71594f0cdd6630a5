use std::path::PathBuf;

use basins_cache::CacheError;

use crate::manifest::ManifestError;

/// Everything the engine can refuse or fail at, each with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Manifest(Box<ManifestError>),
    #[error("cache: {0}")]
    Cache(#[from] CacheError),
    #[error("study graph: {0}")]
    Graph(String),
    #[error("this build of basins has no stage kind `{kind}` ({})", if known.is_empty() { "it has none registered".to_owned() } else { format!("it has: {}", known.join(", ")) })]
    UnknownKind { kind: String, known: Vec<String> },
    #[error("node `{node}`: input `{role}` ({}) cannot be read: {message}", path.display())]
    Input {
        node: String,
        role: String,
        path: PathBuf,
        message: String,
    },
    #[error("recipe {key}: {message}")]
    Recipe { key: String, message: String },
    #[error("node `{node}` failed: {message}{}", log.as_ref().map(|l| format!("\n  log: {}", l.display())).unwrap_or_default())]
    StageFailed {
        node: String,
        message: String,
        log: Option<PathBuf>,
    },
    #[error("{0}")]
    Exec(String),
    #[error("the study has no node `{id}`{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    NoSuchNode { id: String, hint: Option<String> },
}

impl From<ManifestError> for EngineError {
    fn from(e: ManifestError) -> Self {
        EngineError::Manifest(Box::new(e))
    }
}
