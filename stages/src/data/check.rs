//! `basins data check`: what a data file holds (rows, labels, groups), or its first errors,
//! before a study spends hours on it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{read, DataError, DataFormat, OnBadRow, ReadOptions};

/// The label set a layout uses when the user names none (GLUE's and HANS's own).
pub fn default_labels(format: DataFormat) -> Option<Vec<String>> {
    let l: &[&str] = match format {
        DataFormat::Cola | DataFormat::Qqp | DataFormat::Paws => &["0", "1"],
        DataFormat::Mnli => &["entailment", "neutral", "contradiction"],
        DataFormat::Hans | DataFormat::Generated => &["entailment", "non-entailment"],
        DataFormat::Jsonl => return None,
    };
    Some(l.iter().map(|s| s.to_string()).collect())
}

/// Groups with more distinct values than this are summarised by their count.
const MAX_GROUP_VALUES: usize = 40;

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub file: String,
    pub format: DataFormat,
    pub labels: Vec<String>,
    pub rows: usize,
    pub per_label: BTreeMap<String, usize>,
    /// group -> value -> rows (omitted values beyond `MAX_GROUP_VALUES` counted in `distinct`).
    pub groups: BTreeMap<String, GroupCounts>,
    /// Bad rows: how many, and the first few as `file:line: what was wrong`.
    pub bad_rows: usize,
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct GroupCounts {
    pub distinct: usize,
    pub counts: BTreeMap<String, usize>,
}

/// Read the whole file, collecting bad rows instead of stopping at the first. A file that
/// cannot be read at all (missing, no header, no rows) is an error.
pub fn check(
    path: &Path,
    format: DataFormat,
    labels: Vec<String>,
    fields: BTreeMap<String, String>,
) -> Result<CheckReport, DataError> {
    let ds = read(
        path,
        &ReadOptions {
            format,
            labels: labels.clone(),
            on_bad_row: OnBadRow::Skip,
            fields,
        },
    )?;
    let mut all: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for e in &ds.examples {
        for (k, v) in &e.groups {
            *all.entry(k.clone())
                .or_default()
                .entry(v.clone())
                .or_default() += 1;
        }
    }
    let groups = all
        .into_iter()
        .map(|(k, counts)| {
            let distinct = counts.len();
            let counts = if distinct > MAX_GROUP_VALUES {
                BTreeMap::new()
            } else {
                counts
            };
            (k, GroupCounts { distinct, counts })
        })
        .collect();
    Ok(CheckReport {
        file: path.display().to_string(),
        format,
        per_label: ds.label_counts(),
        labels,
        rows: ds.examples.len(),
        groups,
        bad_rows: ds.skipped,
        errors: ds.skipped_examples,
    })
}
