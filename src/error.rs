//! What the CLI itself refuses or fails at, beyond the engine's errors.

use std::path::PathBuf;

use basins_engine::ErrorClass;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("the study has no [report] section, so there is no report to write")]
    NoReportSection,
    #[error("the report node has no record after a successful run")]
    NoReportRecord,
    #[error("the report file `{0}` was corrupt again right after it was recomputed; check the cache's disk")]
    ReportCorruptAgain(String),
    #[error("{op} {}: {cause}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}: the model's outputs are not numbers for {broken} of {total} input(s); its weights hold NaN or infinite values (`basins model inspect` lists its tensors)", dir.display())]
    NotNumbers {
        dir: PathBuf,
        broken: usize,
        total: usize,
    },
    /// A sequence length from a flag (`--max-len`, `--seq`) the model's position table cannot
    /// hold (it would index past the table: a panic in the forward pass).
    #[error("{flag} {max_len}: the model in {} takes 1 to {positions} tokens (max_position_embeddings in its config.json)", dir.display())]
    MaxLen {
        flag: &'static str,
        dir: PathBuf,
        max_len: usize,
        positions: usize,
    },
    #[error("--labels: label `{0}` is listed twice; each label once, in model output order")]
    DuplicateLabel(String),
    #[error("--out {}: it is {found}; basins writes {expected} there (a new path, or {expected} it may replace)", path.display())]
    OutTarget {
        path: PathBuf,
        found: &'static str,
        expected: &'static str,
    },
    #[error("--field names JSONL fields, and --format is {0}: its columns are fixed (leave --field out, or use --format jsonl)")]
    FieldsNotJsonl(String),
    #[error("give at least one --pair FIRST SECOND or --text SENTENCE")]
    NoExamples,
    #[error("--format jsonl needs --labels (the label set is declared, then checked)")]
    NoLabels,
    /// The reader's message names the file and line already.
    #[error("{message}")]
    Data { file: PathBuf, message: String },
    #[error("{}: {bad} bad rows", file.display())]
    BadRows { file: PathBuf, bad: usize },
    #[error("{0}")]
    Generator(String),
    #[error("exec-node needs --cache DIR")]
    NoCache,
    #[error("`{key}` is not a recipe key: {message}")]
    NotAKey { key: String, message: String },
    #[error("{}", unresolved_text(.0))]
    Unresolved(Vec<(String, String)>),
    #[error("`{0}` has no cached result yet: run the study first (`basins run`)")]
    NotCached(String),
    #[error("`{node}`'s cached file `{name}` was corrupt: it is quarantined; run the study again, then export")]
    ExportCorrupt { node: String, name: String },
    #[error("`{node}` holds no checkpoint{}{}", step.map(|s| format!(" at step {s}")).unwrap_or_default(), if steps.is_empty() { String::new() } else { format!(" (steps it kept: {steps}; pass --step)") })]
    NoCheckpoint {
        node: String,
        step: Option<u64>,
        steps: String,
    },
    #[error("{}: not empty; export writes a new directory (choose another, or empty it)", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: holds the report of another study ({other}); pass --out DIR to write this one elsewhere, or --overwrite to replace it", dir.display())]
    ReportOfAnother { dir: PathBuf, other: String },
    #[error("{}: not a report folder (it holds other files); pass --out DIR to write the report elsewhere", .0.display())]
    NotAReportFolder(PathBuf),
    #[error("{}: {why}", manifest.display())]
    NotComparable { manifest: PathBuf, why: String },
}

fn unresolved_text(refs: &[(String, String)]) -> String {
    let mut s = format!(
        "{} Hub revision(s) (models, data sets) not resolved to a commit, so nothing can run:",
        refs.len()
    );
    for (what, why) in refs {
        s.push_str(&format!("\n  {what}: {why}"));
    }
    s
}

impl CliError {
    /// Exhaustive on purpose, as `EngineError::class` is.
    pub fn class(&self) -> ErrorClass {
        match self {
            CliError::NoReportSection
            | CliError::NotNumbers { .. }
            | CliError::MaxLen { .. }
            | CliError::DuplicateLabel(_)
            | CliError::FieldsNotJsonl(_)
            | CliError::OutTarget { .. }
            | CliError::NoExamples
            | CliError::NoLabels
            | CliError::Data { .. }
            | CliError::BadRows { .. }
            | CliError::Generator(_)
            | CliError::NoCache
            | CliError::NotAKey { .. }
            | CliError::Unresolved(_)
            | CliError::NotCached(_)
            | CliError::NoCheckpoint { .. }
            | CliError::NotEmpty(_)
            | CliError::ReportOfAnother { .. }
            | CliError::NotAReportFolder(_)
            | CliError::NotComparable { .. } => ErrorClass::BadInput,
            CliError::NoReportRecord
            | CliError::ReportCorruptAgain(_)
            | CliError::ExportCorrupt { .. }
            | CliError::Io { .. } => ErrorClass::Fault,
        }
    }

    pub fn io(op: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.to_path_buf();
        move |cause| CliError::Io { op, path, cause }
    }
}
