use std::fmt;
use std::path::{Path, PathBuf};

pub use basins_engine::did_you_mean;

/// A place in a manifest file, 1-based like every editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn from_offset(file: &Path, src: &str, offset: usize) -> Location {
        let offset = offset.min(src.len());
        let before = &src[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            file: file.to_owned(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Why a manifest was refused. Every variant that concerns file content names where.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: `{key}`: {message}{}", hint_suffix(.expected, .hint))]
    Invalid {
        at: Location,
        /// The dotted key the problem is in, e.g. `finetune.lr`.
        key: String,
        message: String,
        expected: Option<String>,
        hint: Option<String>,
    },
}

fn hint_suffix(expected: &Option<String>, hint: &Option<String>) -> String {
    let mut s = String::new();
    if let Some(e) = expected {
        s.push_str(&format!("\n  expected: {e}"));
    }
    if let Some(h) = hint {
        s.push_str(&format!("\n  help: {h}"));
    }
    s
}

impl ManifestError {
    /// The key path of an `Invalid` error (used by tests and `--json` callers).
    pub fn key(&self) -> Option<&str> {
        match self {
            ManifestError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let src = "a = 1\n[b]\nccc = 2\n";
        let loc = Location::from_offset(Path::new("m.toml"), src, src.find("ccc").unwrap() + 1);
        assert_eq!((loc.line, loc.column), (3, 2));
        assert_eq!(
            did_you_mean("lrr", ["lr", "seeds"]).as_deref(),
            Some("did you mean `lr`?")
        );
        assert_eq!(did_you_mean("zzz", ["lr", "seeds"]), None);
    }
}
