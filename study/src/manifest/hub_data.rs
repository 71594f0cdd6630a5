//! Data sets from Hugging Face Hub dataset repositories:
//! `source = { hub = "nyu-mll/glue", config = "mnli", revision = "<commit>", ... }`.
//!
//! The Hub publishes a data set as parquet files per config and split (GLUE's `nyu-mll/glue`
//! as `mnli/validation_matched-00000-of-00001.parquet`; a data set published as a loading
//! script has its parquet conversion on the `refs/convert/parquet` revision, as
//! `plain_text/validation/0000.parquet`), each an LFS file whose sha256 the repository's
//! listing gives. A commit fixes the bytes, so like a model the reference is resolved to a
//! commit before the plan, and the commit is what enters the download node's key. Which files
//! make a split, and which of their columns are the sentences, the label and the diagnostic
//! groups, is decided by the `download` node from the listing and the files' schema; the
//! manifest can name the columns, and the data sets the paper uses have theirs built in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::hub::HubRef;
use super::raw::DataFormat;

/// Which columns of a parquet file are what basins reads. Unset fields are the built-in
/// layout's (see [`layout`]) or, for other data sets, found in the file's schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// The first sentence (premise, question1, sentence1, sentence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    /// The second sentence of a pair task; `""` for a single-sentence task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<String>,
    /// The label column (`label`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Columns kept as diagnostic groups, for `where` filters and per-group scores (HANS's
    /// heuristic, subcase and template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl Columns {
    /// These columns, with the unset ones taken from `base`.
    pub fn or(&self, base: &Columns) -> Columns {
        Columns {
            first: self.first.clone().or_else(|| base.first.clone()),
            second: self.second.clone().or_else(|| base.second.clone()),
            label: self.label.clone().or_else(|| base.label.clone()),
            groups: self.groups.clone().or_else(|| base.groups.clone()),
        }
    }
}

/// A task's or diagnostic's data from a Hub dataset repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HubData {
    pub source: HubRef,
    /// The config (GLUE's `mnli`); `default` for a data set without configs.
    pub config: String,
    /// The split a task trains on (`train`), when it is finetuned.
    pub train: Option<String>,
    /// Eval set name -> split (`matched` -> `validation_matched`); a diagnostic's one split
    /// is named `eval`.
    pub eval: BTreeMap<String, String>,
    pub columns: Columns,
    /// The label names in the order of the label column's integers, for files whose schema
    /// does not carry the data set's `ClassLabel` names.
    pub label_names: Option<Vec<String>>,
    /// A data set label -> the task's name for it (GLUE QQP's `duplicate` -> `1`).
    pub rename: BTreeMap<String, String>,
}

/// A built-in layout: the format a data set is (which the analysis's defaults read, as for
/// files) and its columns.
pub struct Layout {
    pub format: DataFormat,
    pub columns: Columns,
}

fn cols(first: &str, second: Option<&str>, groups: &[&str]) -> Columns {
    Columns {
        first: Some(first.to_owned()),
        second: Some(second.unwrap_or("").to_owned()),
        label: Some("label".to_owned()),
        groups: Some(groups.iter().map(|g| g.to_string()).collect()),
    }
}

/// The layouts basins knows by name: GLUE's configs, HANS and PAWS (the Hub keeps the old,
/// unprefixed ids as aliases, so both are accepted).
pub fn layout(repo: &str, config: &str) -> Option<Layout> {
    let (format, columns) = match (repo, config) {
        ("nyu-mll/glue" | "glue", c) => match c {
            "cola" => (DataFormat::Cola, cols("sentence", None, &[])),
            "sst2" => (DataFormat::Jsonl, cols("sentence", None, &[])),
            "mnli" | "mnli_matched" | "mnli_mismatched" | "ax" => {
                (DataFormat::Mnli, cols("premise", Some("hypothesis"), &[]))
            }
            "qqp" => (DataFormat::Qqp, cols("question1", Some("question2"), &[])),
            "qnli" => (DataFormat::Jsonl, cols("question", Some("sentence"), &[])),
            "mrpc" | "rte" | "wnli" | "stsb" => {
                (DataFormat::Jsonl, cols("sentence1", Some("sentence2"), &[]))
            }
            _ => return None,
        },
        ("jhu-cogsci/hans" | "hans", _) => (
            DataFormat::Hans,
            cols(
                "premise",
                Some("hypothesis"),
                &["heuristic", "subcase", "template"],
            ),
        ),
        ("google-research-datasets/paws" | "paws", _) => {
            (DataFormat::Paws, cols("sentence1", Some("sentence2"), &[]))
        }
        _ => return None,
    };
    Some(Layout { format, columns })
}

/// What one `download/<repo>/<config>/<split>` node fetches and writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubSplit {
    pub repo: String,
    /// `None`: the revision was not resolved (the CLI refuses to run it).
    pub commit: Option<String>,
    pub config: String,
    pub split: String,
    pub columns: Columns,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
    /// The set's declared labels: the data set's label names (renamed) must be these.
    pub labels: Vec<String>,
}

impl HubData {
    /// The node params of one of its splits, for a set with `labels`.
    pub fn split(&self, split: &str, labels: &[String]) -> HubSplit {
        HubSplit {
            repo: self.source.repo.clone(),
            commit: self.source.commit.clone(),
            config: self.config.clone(),
            split: split.to_owned(),
            columns: self.columns.clone(),
            label_names: self.label_names.clone(),
            rename: self.rename.clone(),
            labels: labels.to_vec(),
        }
    }

    /// The node id of a split: `download/<repo>/<config>/<split>`.
    pub fn node_id(&self, split: &str) -> String {
        format!("download/{}/{}/{split}", self.source.repo, self.config)
    }
}

/// `source` as written: a data set basins knows by name (`"glue/cola"`), or a table naming a
/// Hub dataset repository.
#[derive(Debug, Clone)]
pub enum RawSource {
    Named(String),
    Hub(Box<RawHubData>),
}

/// `source = { hub = "...", ... }` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHubData {
    pub hub: String,
    pub config: Option<String>,
    pub revision: Option<String>,
    /// A task's training split.
    pub train: Option<String>,
    /// A task's eval sets: name -> split.
    pub eval: Option<BTreeMap<String, String>>,
    /// A diagnostic's split.
    pub split: Option<String>,
    pub columns: Option<Columns>,
    pub label_names: Option<Vec<String>>,
    pub rename: Option<BTreeMap<String, String>>,
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawSource;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a data set's name (\"glue/cola\") or a Hub dataset table \
                     ({ hub = \"nyu-mll/glue\", config = \"mnli\", revision = \"...\" })",
                )
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RawSource, E> {
                Ok(RawSource::Named(s.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawSource, A::Error> {
                RawHubData::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|h| RawSource::Hub(Box::new(h)))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_name_each_paper_set_and_its_columns() {
        let mnli = layout("nyu-mll/glue", "mnli").unwrap();
        assert_eq!(mnli.format, DataFormat::Mnli);
        assert_eq!(mnli.columns.first.as_deref(), Some("premise"));
        let hans = layout("jhu-cogsci/hans", "plain_text").unwrap();
        assert_eq!(
            hans.columns.groups.unwrap(),
            ["heuristic", "subcase", "template"]
        );
        assert_eq!(
            layout("glue", "cola").unwrap().columns.second.as_deref(),
            Some("")
        );
        assert!(layout("nyu-mll/glue", "nope").is_none());
        assert!(layout("someone/else", "default").is_none());
        let given = Columns {
            first: Some("q".into()),
            ..Columns::default()
        };
        let merged = given.or(&layout("glue", "qqp").unwrap().columns);
        assert_eq!(merged.first.as_deref(), Some("q"));
        assert_eq!(merged.second.as_deref(), Some("question2"));
    }
}
