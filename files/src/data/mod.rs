//! Reading labelled text: GLUE's MNLI, QQP and CoLA layouts, HANS, PAWS, and JSONL with
//! configurable fields. Readers stream line by line (a 400k-row MNLI file is read once, never
//! held twice), check every row against the declared label set, and report a bad row as
//! `file:line: what was wrong`, or skip and count it when asked to.

mod check;
mod formats;
pub mod select;

pub use check::{check, default_labels, CheckReport, GroupCounts};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use basins_study::manifest::{DataFormat, OnBadRow};

/// One labelled example. `second` is absent for single-sentence tasks (CoLA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub first: String,
    pub second: Option<String>,
    /// Index into the dataset's label set.
    pub label: usize,
    /// Diagnostic groups: heuristic, subcase, genre, source...
    pub groups: BTreeMap<String, String>,
}

/// How to read one file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: DataFormat,
    pub labels: Vec<String>,
    pub on_bad_row: OnBadRow,
    /// For JSONL: which fields hold `first`, `second`, `label`, and extra group fields.
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub labels: Vec<String>,
    pub examples: Vec<Example>,
    /// Rows skipped under `on_bad_row = "skip"`, with the first few reasons.
    pub skipped: usize,
    pub skipped_examples: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Row {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
}

/// The longest line a reader takes (1 MiB). GLUE rows are a few hundred bytes; a longer line
/// means the file is not text in a supported layout (reading `/dev/zero` once aborted on an
/// allocation failure while looking for a newline).
pub const MAX_LINE: usize = 1 << 20;

/// Open a data file for reading: a regular file, or a FIFO, which its writer ends and which is
/// read once, as a stream (`data check` on a pipe). A device (`/dev/urandom`) never ends.
fn open(path: &Path) -> Result<BufReader<std::fs::File>, DataError> {
    let io = |e| DataError::Io {
        path: path.to_owned(),
        source: e,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let t = file.metadata().map_err(io)?.file_type();
    if !(t.is_file() || std::os::unix::fs::FileTypeExt::is_fifo(&t)) {
        return Err(DataError::File {
            path: path.to_owned(),
            message: "not a regular file (a device or directory is not a data file)".into(),
        });
    }
    Ok(BufReader::with_capacity(1 << 20, file))
}

/// Read a whole file (streaming; rows are parsed as they arrive).
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Dataset, DataError> {
    read_from(open(path)?, path, opts)
}

/// Read rows from any reader; `path` is only what errors and the dataset name.
pub fn read_from(
    reader: impl BufRead,
    path: &Path,
    opts: &ReadOptions,
) -> Result<Dataset, DataError> {
    let mut examples = Vec::new();
    let skipped = visit_rows(reader, path, opts, |e| examples.push(e))?;
    Ok(Dataset {
        path: path.to_owned(),
        labels: opts.labels.clone(),
        examples,
        skipped: skipped.count,
        skipped_examples: skipped.first,
    })
}

/// Rows a reader skipped under `on_bad_row = "skip"`: how many, and the first few reasons.
#[derive(Debug, Default)]
pub struct Skipped {
    pub count: usize,
    pub first: Vec<String>,
}

/// Parse every row of a file and hand each example to `keep`, holding nothing else: what the
/// caller keeps is all the memory a file costs (`data check` keeps counts only).
pub fn visit_file(
    path: &Path,
    opts: &ReadOptions,
    keep: impl FnMut(Example),
) -> Result<Skipped, DataError> {
    visit_rows(open(path)?, path, opts, keep)
}

fn visit_rows(
    mut reader: impl BufRead,
    path: &Path,
    opts: &ReadOptions,
    mut keep: impl FnMut(Example),
) -> Result<Skipped, DataError> {
    let io = |e| DataError::Io {
        path: path.to_owned(),
        source: e,
    };
    let mut parser = formats::Parser::new(opts);
    let mut skipped = Skipped::default();
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        let limit = MAX_LINE as u64 + 1;
        if (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(io)?
            == 0
        {
            break;
        }
        line += 1;
        if buf.len() > MAX_LINE {
            return Err(DataError::Row {
                path: path.to_owned(),
                line,
                message: format!(
                    "the line is longer than {MAX_LINE} bytes: this is not a data file in a \
                     supported layout"
                ),
            });
        }
        let row = match std::str::from_utf8(&buf) {
            Ok(s) => parser.parse(s.trim_end_matches(['\n', '\r']), line),
            Err(e) => Err(format!("not valid UTF-8 (byte {})", e.valid_up_to())),
        };
        match row {
            Ok(Some(ex)) => keep(ex),
            Ok(None) => {}
            Err(message) if opts.on_bad_row == OnBadRow::Skip => {
                skipped.count += 1;
                if skipped.first.len() < 5 {
                    skipped
                        .first
                        .push(format!("{}:{line}: {message}", path.display()));
                }
            }
            Err(message) => {
                return Err(DataError::Row {
                    path: path.to_owned(),
                    line,
                    message,
                })
            }
        }
    }
    if let Some(message) = parser.finish() {
        // Every row bad: say what was wrong with them, not only that nothing is left.
        let message = if skipped.count > 0 {
            format!(
                "{message}: all {} rows were bad; the first: {}",
                skipped.count,
                skipped.first.join("; ")
            )
        } else {
            message
        };
        return Err(DataError::File {
            path: path.to_owned(),
            message,
        });
    }
    if skipped.count > 0 {
        tracing::warn!(file = %path.display(), skipped = skipped.count, "skipped bad rows; first: {:?}", skipped.first.first());
    }
    Ok(skipped)
}

impl Dataset {
    /// The first `n` examples (the paper's protocol for interpolation: the first 512).
    pub fn take_first(mut self, n: Option<u64>) -> Dataset {
        if let Some(n) = n {
            self.examples.truncate(n as usize);
        }
        self
    }

    /// A seeded subsample of `n` examples that keeps each label's share (rounded), in the
    /// file's order.
    pub fn stratified(mut self, n: Option<u64>, seed: u64) -> Dataset {
        let Some(n) = n.map(|n| n as usize) else {
            return self;
        };
        if n >= self.examples.len() {
            return self;
        }
        let total = self.examples.len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut keep = Vec::new();
        let mut by_label: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, e) in self.examples.iter().enumerate() {
            by_label.entry(e.label).or_default().push(i);
        }
        let mut remaining = n;
        let count = by_label.len();
        for (k, (_, mut idx)) in by_label.into_iter().enumerate() {
            let share = if k + 1 == count {
                remaining
            } else {
                (idx.len() * n + total / 2) / total
            };
            let share = share.min(idx.len()).min(remaining);
            idx.shuffle(&mut rng);
            keep.extend_from_slice(&idx[..share]);
            remaining -= share;
        }
        keep.sort_unstable();
        let mut taken: Vec<Option<Example>> = self.examples.into_iter().map(Some).collect();
        self.examples = keep
            .into_iter()
            .map(|i| taken[i].take().expect("each index once"))
            .collect();
        self
    }

    /// The rows of this set's loss-surface subset, in scoring order.
    pub fn surface_rows(&self, surface: &select::Surface) -> Vec<usize> {
        let passing = (0..self.examples.len())
            .filter(|&i| self.matches(&surface.filter, i))
            .collect();
        select::surface_rows(passing, surface)
    }

    /// Whether row `i` passes a `where` filter.
    pub fn matches(&self, filter: &select::Where, i: usize) -> bool {
        let e = &self.examples[i];
        select::matches(
            filter,
            |c| e.groups.get(c).map(String::as_str),
            &self.labels[e.label],
        )
    }

    /// A copy holding only `rows`, in that order.
    pub fn rows(&self, rows: &[usize]) -> Dataset {
        Dataset {
            path: self.path.clone(),
            labels: self.labels.clone(),
            examples: rows.iter().map(|&i| self.examples[i].clone()).collect(),
            skipped: self.skipped,
            skipped_examples: self.skipped_examples.clone(),
        }
    }

    /// Counts per label name.
    pub fn label_counts(&self) -> BTreeMap<String, usize> {
        let mut c: BTreeMap<String, usize> = self.labels.iter().map(|l| (l.clone(), 0)).collect();
        for e in &self.examples {
            *c.get_mut(&self.labels[e.label]).expect("label in set") += 1;
        }
        c
    }
}
