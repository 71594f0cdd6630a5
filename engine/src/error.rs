use std::path::PathBuf;

use basins_cache::CacheError;

/// Everything the engine can refuse or fail at, each with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Not a `source`: the message says it all, once.
    #[error("cache: {0}")]
    Cache(CacheError),
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
    /// The filesystem under the cache refused a write (full, over quota, read-only) while a
    /// node ran: not the node's failure, and no other node can do better, so the run stops.
    #[error("the cache could not be written while running `{node}`: {message}\n  (free space on the cache's filesystem or make it writable, then run again: finished nodes are kept)")]
    CacheWrite { node: String, message: String },
    /// An output that `show` was to hand out no longer hashes to its name, and its record
    /// could not be dropped (a read-only cache): said with the output, not as a bare I/O error.
    #[error("output `{output}` of `{node}` is corrupt or missing in the cache, and {message}\n  (make the cache writable and run `basins run`: it recomputes the node)")]
    CorruptOutput {
        node: String,
        output: String,
        message: String,
    },
    /// A stage kind's version differs from the one its recipe was made with: the recipe came
    /// from another build of basins (an `exec-node` of a different binary, say).
    #[error("recipe for `{node}` was made for `{kind}` version {recipe_version}, this build has version {build_version}")]
    KindVersion {
        node: String,
        kind: String,
        recipe_version: u32,
        build_version: u32,
    },
    /// A helper program (`basins exec-node`, `sbatch`) could not be started or waited for.
    #[error("{action} {}: {cause}", program.display())]
    Program {
        action: &'static str,
        program: PathBuf,
        cause: String,
    },
    /// The Slurm executor cannot reach Slurm.
    #[error("the slurm executor {0}")]
    SlurmUnavailable(String),
    /// An executor reported a node done but its action record is not in the cache.
    #[error("`{node}` finished without writing its record (key {key})")]
    MissingRecord { node: String, key: String },
    /// The executor itself (not the stage) panicked.
    #[error("the executor panicked running `{node}`: {message}")]
    ExecutorPanicked { node: String, message: String },
    /// A name that was to become a path under `root` is not a plain relative name.
    #[error("`{name}` cannot be a path under {}: it is not a plain relative name", root.display())]
    NotPlainName { root: PathBuf, name: String },
    /// A declared input directory is not a directory (or cannot be walked).
    #[error("input directory {}: {message}", path.display())]
    InputDir { path: PathBuf, message: String },
    /// `gc` was given no manifest.
    #[error("gc needs at least one manifest")]
    NoManifests,
    /// A broken invariant of the engine: a bug, reported rather than panicking.
    #[error("internal error: {0}; please report it")]
    Internal(String),
    #[error("the study has no node `{id}`{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    NoSuchNode { id: String, hint: Option<String> },
    #[error("the manifests use different caches ({} and {}); run gc once per cache", first.display(), other.display())]
    DifferentCaches { first: PathBuf, other: PathBuf },
}

/// What kind of failure an error is, which decides the exit code (README: exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The user's input is wrong: manifest, names, data files, flags.
    BadInput,
    /// A node failed (its stage returned an error or panicked).
    NodeFailed,
    /// The engine or the cache's storage failed.
    Fault,
}

impl EngineError {
    /// Exhaustive on purpose: a new variant does not compile until someone decides its class.
    pub fn class(&self) -> ErrorClass {
        match self {
            EngineError::UnknownKind { .. }
            | EngineError::Input { .. }
            | EngineError::NoSuchNode { .. }
            | EngineError::DifferentCaches { .. }
            | EngineError::NotPlainName { .. }
            | EngineError::InputDir { .. }
            | EngineError::NoManifests
            | EngineError::SlurmUnavailable(_) => ErrorClass::BadInput,
            EngineError::StageFailed { .. } => ErrorClass::NodeFailed,
            EngineError::Cache(_)
            | EngineError::CacheWrite { .. }
            | EngineError::CorruptOutput { .. }
            | EngineError::Graph(_)
            | EngineError::Recipe { .. }
            | EngineError::KindVersion { .. }
            | EngineError::Program { .. }
            | EngineError::MissingRecord { .. }
            | EngineError::ExecutorPanicked { .. }
            | EngineError::Internal(_) => ErrorClass::Fault,
        }
    }

    /// A fault of the engine or of the cache's storage rather than of a node: the scheduler
    /// stops the run on one instead of recording a failed node.
    pub fn is_fault(&self) -> bool {
        matches!(self, EngineError::Cache(_) | EngineError::CacheWrite { .. })
    }
}

/// Whether an I/O error means the filesystem cannot take writes (ENOSPC, EDQUOT, EROFS).
pub fn storage_refused(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28) | Some(122) | Some(30))
}

impl From<CacheError> for EngineError {
    fn from(e: CacheError) -> Self {
        EngineError::Cache(e)
    }
}

/// "did you mean" over a list of known names, when one is close enough to be a typo.
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(given, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!("did you mean `{k}`?"))
}
