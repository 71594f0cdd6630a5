//! `basins data check`: what a data file holds (rows, labels, groups), or its first errors,
//! before a study spends hours on it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;

use super::{visit_file, DataError, DataFormat, OnBadRow, ReadOptions};

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
/// cannot be read at all (missing, no header, no rows) is an error. Rows are counted as they
/// stream past and never kept: memory is the counts (a group's values beyond
/// `MAX_GROUP_VALUES` are remembered as 8-byte hashes, for `distinct`), not the file.
pub fn check(
    path: &Path,
    format: DataFormat,
    labels: Vec<String>,
    fields: BTreeMap<String, String>,
) -> Result<CheckReport, DataError> {
    let mut rows = 0usize;
    let mut per_label = vec![0usize; labels.len()];
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    let skipped = visit_file(
        path,
        &ReadOptions {
            format,
            labels: labels.clone(),
            on_bad_row: OnBadRow::Skip,
            fields,
        },
        |e| {
            rows += 1;
            per_label[e.label] += 1;
            for (k, v) in e.groups {
                match groups.get_mut(&k) {
                    Some(t) => t.add(v),
                    None => groups.entry(k).or_default().add(v),
                }
            }
        },
    )?;
    Ok(CheckReport {
        file: path.display().to_string(),
        format,
        per_label: labels.iter().cloned().zip(per_label).collect(),
        labels,
        rows,
        groups: groups
            .into_iter()
            .map(|(k, t)| (k, t.into_counts()))
            .collect(),
        bad_rows: skipped.count,
        errors: skipped.first,
    })
}

/// One group's values as they stream past: counts while there are few, then only hashes.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, usize>,
    overflow: Option<HashSet<u64>>,
}

impl Tally {
    fn add(&mut self, v: String) {
        if let Some(seen) = &mut self.overflow {
            seen.insert(hash(&v));
            return;
        }
        *self.counts.entry(v).or_default() += 1;
        if self.counts.len() > MAX_GROUP_VALUES {
            self.overflow = Some(self.counts.keys().map(|k| hash(k)).collect());
            self.counts.clear();
        }
    }

    fn into_counts(self) -> GroupCounts {
        match self.overflow {
            Some(seen) => GroupCounts {
                distinct: seen.len(),
                counts: BTreeMap::new(),
            },
            None => GroupCounts {
                distinct: self.counts.len(),
                counts: self.counts,
            },
        }
    }
}

fn hash(v: &str) -> u64 {
    let d = blake3::hash(v.as_bytes());
    u64::from_le_bytes(d.as_bytes()[..8].try_into().expect("8 bytes"))
}
