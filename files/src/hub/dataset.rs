//! One split of a Hub dataset repository: which files of the repository's listing make it,
//! and their rows as basins reads them.
//!
//! Parquet is read with the `parquet` crate of arrow-rs, its record API only (no arrow
//! arrays: basins wants rows of a few strings and an integer, and the arrow half of the crate
//! doubles its build), with the Snappy and Zstandard codecs the Hub's writers use (pyarrow's
//! default is Snappy; zstd is already built for the checkpoint zip reader).
//!
//! A split's rows become the JSONL basins' readers take (`{"first", "second", "label",
//! "groups"}`), with the label as its name: integer labels are named by the data set's
//! `ClassLabel` names, which `datasets` writes into every parquet file's metadata (key
//! `huggingface`), never by the task's order, and the names (after `rename`) must be the set's
//! declared labels.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use basins_study::manifest::hub_data::{Columns, HubSplit};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;
use serde::Serialize;

use super::client::Sibling;

/// Whether `rest` (a path under the config's folder) is a file of `split`: the layouts the
/// Hub's writers use are `<split>-00000-of-00001.parquet` (`push_to_hub`),
/// `<split>/0000.parquet` (the parquet conversion) and `<name>-<split>.parquet` (its older
/// form), each perhaps sharded.
fn in_split(rest: &str, split: &str) -> bool {
    let Some(stem) = rest.strip_suffix(".parquet") else {
        return false;
    };
    if let Some(file) = stem.strip_prefix(split).and_then(|r| r.strip_prefix('/')) {
        return !file.contains('/');
    }
    if stem.contains('/') {
        return false;
    }
    // Drop a `-00000-of-00002` shard suffix.
    let unsharded = match stem.rsplit_once("-of-") {
        Some((head, total)) if !total.is_empty() && total.bytes().all(|b| b.is_ascii_digit()) => {
            match head.rsplit_once('-') {
                Some((name, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => stem,
            }
        }
        _ => stem,
    };
    unsharded == split || unsharded.ends_with(&format!("-{split}"))
}

/// The folder a config's files are under: the config's name, or `data` for a data set
/// without configs (`push_to_hub`'s default).
fn prefixes(config: &str) -> Vec<String> {
    let mut p = vec![format!("{config}/")];
    if config == "default" {
        p.push("data/".to_owned());
    }
    p
}

/// The parquet files of `split` of `config`, in name order (shards concatenate in order), or
/// what the repository has instead.
pub fn split_files<'s>(
    repo: &str,
    siblings: &'s [Sibling],
    config: &str,
    split: &str,
) -> Result<Vec<&'s Sibling>, String> {
    let prefixes = prefixes(config);
    let under = |s: &'s Sibling| {
        prefixes
            .iter()
            .find_map(|p| s.rfilename.strip_prefix(p.as_str()))
    };
    let mut files: Vec<&Sibling> = siblings
        .iter()
        .filter(|s| under(s).is_some_and(|rest| in_split(rest, split)))
        .collect();
    files.sort_by(|a, b| a.rfilename.cmp(&b.rfilename));
    if !files.is_empty() {
        return Ok(files);
    }
    let parquet: Vec<&str> = siblings
        .iter()
        .map(|s| s.rfilename.as_str())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    let in_config: Vec<&str> = siblings
        .iter()
        .filter_map(|s| under(s).filter(|r| r.ends_with(".parquet")))
        .collect();
    Err(if parquet.is_empty() {
        format!(
            "data set `{repo}` has no parquet files at this revision: a data set published as a \
             loading script has them on revision \"refs/convert/parquet\""
        )
    } else if in_config.is_empty() {
        let mut configs: Vec<&str> = parquet
            .iter()
            .filter_map(|n| n.split_once('/'))
            .map(|s| s.0)
            .collect();
        configs.dedup();
        format!(
            "data set `{repo}` has no config `{config}` (its parquet files are under: {})",
            configs.join(", ")
        )
    } else {
        format!(
            "data set `{repo}` config `{config}` has no split `{split}` (its files: {})",
            in_config.join(", ")
        )
    })
}

/// What a converted split holds, for the node's metrics.
#[derive(Debug, Clone, Serialize)]
pub struct Converted {
    pub rows: usize,
    /// Rows per label name.
    pub labels: BTreeMap<String, usize>,
    /// The columns read, as found.
    pub columns: BTreeMap<String, String>,
    pub groups: Vec<String>,
    /// The label names the integers were read with, and where they came from.
    pub label_names: Option<Vec<String>>,
    pub label_names_from: &'static str,
}

/// Sentence pairs basins recognises in a schema, in order of preference, when the manifest
/// and the built-in layouts name none.
const PAIRS: [(&str, &str); 4] = [
    ("premise", "hypothesis"),
    ("question1", "question2"),
    ("sentence1", "sentence2"),
    ("question", "sentence"),
];

/// The `ClassLabel` names of `column` in a file's `huggingface` metadata.
fn class_label(meta: &serde_json::Value, column: &str) -> Option<Vec<String>> {
    let features = meta["info"]["features"]
        .as_object()
        .or_else(|| meta["features"].as_object())?;
    let f = features.get(column)?;
    let names = f["names"].as_array()?;
    names
        .iter()
        .map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// A cell as text: strings as they are, other values as parquet writes them (`12`, `true`).
fn text(field: &Field) -> Option<String> {
    match field {
        Field::Str(s) => Some(s.clone()),
        Field::Bytes(b) => std::str::from_utf8(b.data()).ok().map(str::to_owned),
        Field::Null => None,
        other => Some(other.to_string()),
    }
}

fn integer(field: &Field) -> Option<i64> {
    match field {
        Field::Byte(i) => Some(*i as i64),
        Field::Short(i) => Some(*i as i64),
        Field::Int(i) => Some(*i as i64),
        Field::Long(i) => Some(*i),
        Field::UByte(i) => Some(*i as i64),
        Field::UShort(i) => Some(*i as i64),
        Field::UInt(i) => Some(*i as i64),
        Field::ULong(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}

/// The columns to read from a file with `names`: the spec's, else sentence pairs found in
/// the schema, `label`, and no groups.
fn resolve_columns(spec: &Columns, names: &[String]) -> Result<Columns, String> {
    let has = |c: &str| names.iter().any(|n| n == c);
    let (first, second) = match (&spec.first, &spec.second) {
        (Some(f), s) => (f.clone(), s.clone().unwrap_or_default()),
        (None, _) => {
            let found = PAIRS.iter().find(|(a, b)| has(a) && has(b));
            match found {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None if has("sentence") => ("sentence".to_owned(), String::new()),
                None => {
                    return Err(format!(
                        "no sentence columns basins recognises (found {names:?}); name them: \
                         source = {{ ..., columns = {{ first = \"...\", second = \"...\" }} }}"
                    ))
                }
            }
        }
    };
    let label = spec.label.clone().unwrap_or_else(|| "label".to_owned());
    let groups = spec.groups.clone().unwrap_or_default();
    for c in [&first, &label]
        .into_iter()
        .chain((!second.is_empty()).then_some(&second))
        .chain(&groups)
    {
        if !has(c) {
            return Err(format!(
                "no column `{c}` (found {names:?}); `source.columns` names the columns"
            ));
        }
    }
    Ok(Columns {
        first: Some(first),
        second: Some(second),
        label: Some(label),
        groups: Some(groups),
    })
}

/// Read the parquet `files` of one split (in order) and write its rows to `out` as JSONL.
/// `shown` names each file in errors (its path in the repository).
pub fn convert(
    files: &[(&Path, &str)],
    spec: &HubSplit,
    out: &mut impl Write,
) -> Result<Converted, String> {
    let mut done = Converted {
        rows: 0,
        labels: spec.labels.iter().map(|l| (l.clone(), 0)).collect(),
        columns: BTreeMap::new(),
        groups: Vec::new(),
        label_names: None,
        label_names_from: "",
    };
    for (path, shown) in files {
        convert_file(path, shown, spec, out, &mut done)?;
    }
    if done.rows == 0 {
        return Err(format!(
            "split `{}` of `{}` has no rows",
            spec.split, spec.repo
        ));
    }
    Ok(done)
}

fn convert_file(
    path: &Path,
    shown: &str,
    spec: &HubSplit,
    out: &mut impl Write,
    done: &mut Converted,
) -> Result<(), String> {
    let err = |m: String| format!("{shown}: {m}");
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| err(format!("not a parquet file basins can read ({e})")))?;
    let meta = reader.metadata().file_metadata();
    let hf: serde_json::Value = meta
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "huggingface"))
        .and_then(|k| k.value.as_deref())
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or(serde_json::Value::Null);
    let schema = meta.schema();
    let names: Vec<String> = schema
        .get_fields()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    let columns = resolve_columns(&spec.columns, &names).map_err(err)?;
    let (first, second, label) = (
        columns.first.clone().unwrap_or_default(),
        columns.second.clone().unwrap_or_default(),
        columns.label.clone().unwrap_or_default(),
    );
    let groups = columns.groups.clone().unwrap_or_default();
    // The integers' names: the manifest's, else the file's ClassLabel.
    let (names_of_ints, from) = match (&spec.label_names, class_label(&hf, &label)) {
        (Some(n), _) => (Some(n.clone()), "the manifest's `label_names`"),
        (None, Some(n)) => (Some(n), "the data set's ClassLabel"),
        (None, None) => (None, ""),
    };
    let renamed = |name: &str| {
        spec.rename
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    };
    if let Some(n) = &names_of_ints {
        let mut have: Vec<String> = n.iter().map(|l| renamed(l)).collect();
        let mut want = spec.labels.clone();
        have.sort();
        want.sort();
        if have != want {
            return Err(err(format!(
                "the data set's labels are {n:?} ({from}{}), the set's labels are {:?}: they \
                 must be the same names (in any order: integers are read by the data set's \
                 names, never by position){}",
                if spec.rename.is_empty() {
                    String::new()
                } else {
                    format!(", renamed {have:?}")
                },
                spec.labels,
                if spec.rename.is_empty() {
                    "; `source.rename` maps the data set's names to the task's"
                } else {
                    ""
                }
            )));
        }
    }
    let projection: Vec<std::sync::Arc<Type>> = schema
        .get_fields()
        .iter()
        .filter(|f| {
            let n = f.name();
            n == first || n == second || n == label || groups.iter().any(|g| g == n)
        })
        .cloned()
        .collect();
    // Each row's cells come in the projection's order: where each column is, found once.
    let read: Vec<String> = projection.iter().map(|f| f.name().to_owned()).collect();
    let at = |c: &str| read.iter().position(|n| n == c);
    let (first_at, second_at, label_at) = (at(&first), at(&second), at(&label));
    let groups_at: Vec<(&str, Option<usize>)> =
        groups.iter().map(|g| (g.as_str(), at(g))).collect();
    let projection = Type::group_type_builder(schema.name())
        .with_fields(projection)
        .build()
        .map_err(|e| err(e.to_string()))?;
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| err(e.to_string()))?;
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| err(format!("row {i}: {e}")))?;
        let cells = row.into_columns();
        let get = |c: Option<usize>| c.map_or(&Field::Null, |c| &cells[c].1);
        let row_err = |m: String| err(format!("row {i}: {m}"));
        let first_text =
            text(get(first_at)).ok_or_else(|| row_err(format!("`{first}` is empty (null)")))?;
        let second_text = if second.is_empty() {
            None
        } else {
            Some(
                text(get(second_at))
                    .ok_or_else(|| row_err(format!("`{second}` is empty (null)")))?,
            )
        };
        let raw_label = get(label_at);
        let name = match (integer(raw_label), &names_of_ints) {
            (Some(-1), _) => {
                return Err(row_err(format!(
                    "`{label}` is -1, an unlabelled row (GLUE's test splits are unlabelled: use \
                     a validation split)"
                )))
            }
            (Some(k), Some(n)) => n
                .get(usize::try_from(k).unwrap_or(usize::MAX))
                .cloned()
                .ok_or_else(|| {
                    row_err(format!(
                        "`{label}` is {k}, and the data set has {} label names",
                        n.len()
                    ))
                })?,
            (Some(k), None) => {
                return Err(row_err(format!(
                    "`{label}` is the integer {k}, and the file names no labels (no ClassLabel \
                     in its `huggingface` metadata); name them in order: source = {{ ..., \
                     label_names = [...] }}"
                )))
            }
            (None, _) => {
                text(raw_label).ok_or_else(|| row_err(format!("`{label}` is empty (null)")))?
            }
        };
        let name = renamed(&name);
        match done.labels.get_mut(&name) {
            Some(c) => *c += 1,
            None => {
                return Err(row_err(format!(
                    "label `{name}` is not one of the set's labels {:?}",
                    spec.labels
                )))
            }
        }
        let group_values: BTreeMap<&str, String> = groups_at
            .iter()
            .filter_map(|&(g, c)| text(get(c)).map(|v| (g, v)))
            .collect();
        let line = serde_json::json!({
            "first": first_text,
            "second": second_text,
            "label": name,
            "groups": group_values,
        });
        serde_json::to_writer(&mut *out, &line).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(|e| e.to_string())?;
        done.rows += 1;
    }
    done.columns = [("first", &first), ("second", &second), ("label", &label)]
        .into_iter()
        .filter(|(_, c)| !c.is_empty())
        .map(|(k, c)| (k.to_owned(), c.clone()))
        .collect();
    done.groups = groups;
    if names_of_ints.is_some() {
        done.label_names = names_of_ints;
        done.label_names_from = from;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::sibling as sib;

    fn names(repo: &[&str], config: &str, split: &str) -> Result<Vec<String>, String> {
        let all: Vec<Sibling> = repo.iter().map(|n| sib(n)).collect();
        split_files("o/d", &all, config, split)
            .map(|v| v.iter().map(|s| s.rfilename.clone()).collect())
    }

    #[test]
    fn each_layout_of_the_hubs_writers_is_found() {
        let glue = [
            "README.md",
            "mnli/train-00001-of-00002.parquet",
            "mnli/train-00000-of-00002.parquet",
            "mnli/validation_matched-00000-of-00001.parquet",
            "mnli/validation_mismatched-00000-of-00001.parquet",
            "mnli_matched/validation-00000-of-00001.parquet",
            "qqp/validation-00000-of-00001.parquet",
        ];
        assert_eq!(
            names(&glue, "mnli", "train").unwrap(),
            [
                "mnli/train-00000-of-00002.parquet",
                "mnli/train-00001-of-00002.parquet"
            ]
        );
        assert_eq!(
            names(&glue, "mnli", "validation_matched").unwrap(),
            ["mnli/validation_matched-00000-of-00001.parquet"]
        );
        // `validation` is not a prefix match of `validation_matched`.
        let e = names(&glue, "mnli", "validation").unwrap_err();
        assert!(e.contains("no split `validation`"), "{e}");
        let e = names(&glue, "sst2", "validation").unwrap_err();
        assert!(
            e.contains("no config `sst2`") && e.contains("mnli, mnli_matched, qqp"),
            "{e}"
        );
        let converted = [
            "plain_text/train/0000.parquet",
            "plain_text/validation/0000.parquet",
            "plain_text/validation/0001.parquet",
        ];
        assert_eq!(
            names(&converted, "plain_text", "validation").unwrap().len(),
            2
        );
        let old = [
            "plain_text/hans-validation.parquet",
            "plain_text/hans-train.parquet",
        ];
        assert_eq!(
            names(&old, "plain_text", "validation").unwrap(),
            ["plain_text/hans-validation.parquet"]
        );
        let default = [
            "data/test-00000-of-00001.parquet",
            "data/train-00000-of-00001.parquet",
        ];
        assert_eq!(names(&default, "default", "train").unwrap().len(), 1);
        let e = names(&["hans.py", "README.md"], "plain_text", "validation").unwrap_err();
        assert!(e.contains("refs/convert/parquet"), "{e}");
    }

    #[test]
    fn columns_are_found_in_the_schema_or_refused_by_name() {
        let schema: Vec<String> = ["idx", "question1", "question2", "label"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = resolve_columns(&Columns::default(), &schema).unwrap();
        assert_eq!(c.first.as_deref(), Some("question1"));
        assert_eq!(c.second.as_deref(), Some("question2"));
        let bad = Columns {
            groups: Some(vec!["heuristic".into()]),
            ..Columns::default()
        };
        let e = resolve_columns(&bad, &schema).unwrap_err();
        assert!(e.contains("no column `heuristic`"), "{e}");
        let e = resolve_columns(&Columns::default(), &["text".to_owned()]).unwrap_err();
        assert!(e.contains("no sentence columns"), "{e}");
    }

    #[test]
    fn class_labels_are_read_from_either_metadata_shape() {
        let old = serde_json::json!({"info": {"features": {"label": {"names": ["a", "b"], "_type": "ClassLabel"}}}});
        assert_eq!(class_label(&old, "label").unwrap(), ["a", "b"]);
        let new =
            serde_json::json!({"features": {"label": {"names": ["x"], "_type": "ClassLabel"}}});
        assert_eq!(class_label(&new, "label").unwrap(), ["x"]);
        assert!(class_label(&new, "other").is_none());
    }
}
