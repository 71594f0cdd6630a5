use std::path::PathBuf;

use crate::Digest;

/// Everything that can go wrong in the store, each with the path involved.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The I/O error is in the message and not a `source`, so that a `{:#}` chain prints it
    /// once.
    #[error("{op} {}: {cause}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("object {digest} is corrupt (its bytes hash to {actual}); {}", match quarantined { Some(q) => format!("moved to {}", q.display()), None => "left in place (it could not be moved)".into() })]
    Corrupt {
        digest: Digest,
        actual: Digest,
        quarantined: Option<PathBuf>,
    },
    #[error("action record {} failed its check ({why}); {}", key.short(), match quarantined { Some(q) => format!("moved to {}", q.display()), None => "left in place (it could not be moved)".into() })]
    CorruptRecord {
        key: Digest,
        why: String,
        quarantined: Option<PathBuf>,
    },
    #[error("object {0} is missing from the store")]
    Missing(Digest),
    #[error("action record {} is not valid JSON: {source}", path.display())]
    BadRecord {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl CacheError {
    /// Wrap an I/O error with the operation and path (for `map_err`).
    pub fn io_err(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> CacheError {
        let path = path.into();
        move |cause| CacheError::Io { op, path, cause }
    }
}
