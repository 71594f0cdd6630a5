//! Public data sets basins downloads itself by name (`source = "glue/cola"` on a task or
//! diagnostic): where each is released, which archive members a study reads (or, for a release
//! that is one file, that file), and their sha256, pinned here. The digests are of the members,
//! not of the archive, so a mirror that repacks the same files (or a test server that zips
//! `../shared/data/cola`) is accepted and a changed file never is. Data sets on the Hub are not
//! listed here: their digests come from the Hub's listing at a pinned commit (`hub_data`).
//! The pinned digests and the URL are the download node's params, hence in its key: a new
//! release is a visible `plan` reason, never a silent change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::raw::DataFormat;

/// One file a study reads from a release archive.
pub struct Member {
    /// `train` or `eval`: which split of the task (or the diagnostic's file) it is.
    pub split: &'static str,
    /// Its path inside the archive.
    pub path: &'static str,
    pub sha256: &'static str,
}

/// A data set basins can download.
pub struct Dataset {
    pub name: &'static str,
    pub about: &'static str,
    pub format: DataFormat,
    pub labels: &'static [&'static str],
    /// The name of the task's eval split (`<task>.<eval_split>`).
    pub eval_split: &'static str,
    /// The release: a zip archive, or (`single_file`) the one file itself.
    pub url: &'static str,
    pub single_file: bool,
    pub members: &'static [Member],
}

const COLA_URL: &str = "https://nyu-mll.github.io/CoLA/cola_public_1.1.zip";
const COLA_DEV: Member = Member {
    split: "eval",
    path: "cola_public/raw/in_domain_dev.tsv",
    sha256: "77176f6a03faa5a1c4f23c69971fc1bff565931112fb65af47b2d6e24b7f42f7",
};

/// PAWS-QQP is not distributed ready-made: PAWS publishes pair ids, and its
/// `qqp_generate_data.py` fills them in from Quora's original release. The paper's authors
/// committed what that script made to their repository (`get_paws.sh`, then
/// `paws_final/dev_and_test.tsv`: the 677 rows their evaluation reads); basins fetches that
/// file at the commit that holds it and checks it against the digest of those bytes.
const PAWS_QQP_URL: &str = "https://raw.githubusercontent.com/aNOnWhyMooS/connectivity/\
     8142bf1d4680ef326bef55c706715b7e3eacd245/paws_final/dev_and_test.tsv";

/// Every data set `source` accepts by name.
pub const DATASETS: [Dataset; 3] = [
    Dataset {
        name: "glue/cola",
        about: "CoLA public release 1.1: in-domain train (8,551 rows) and dev (527), GLUE's task",
        format: DataFormat::Cola,
        labels: &["0", "1"],
        eval_split: "dev",
        url: COLA_URL,
        single_file: false,
        members: &[
            Member {
                split: "train",
                path: "cola_public/raw/in_domain_train.tsv",
                sha256: "f320a10f92d3bce6b29152fde322a362eac39238e50d8de0c8815457fdf4fc12",
            },
            COLA_DEV,
        ],
    },
    Dataset {
        name: "cola/out-of-domain",
        about: "CoLA public release 1.1: out-of-domain dev (516 rows), the paper's CoLA diagnostic",
        format: DataFormat::Cola,
        labels: &["0", "1"],
        eval_split: "dev",
        url: COLA_URL,
        single_file: false,
        members: &[Member {
            split: "eval",
            path: "cola_public/raw/out_of_domain_dev.tsv",
            sha256: "201b9c57b2a20f1282242eec0ed8995729e3be19c29a46c047b3727338836c05",
        }],
    },
    Dataset {
        name: "paws/qqp",
        about: "PAWS-QQP dev and test (677 rows) as the paper generated it, its QQP diagnostic",
        format: DataFormat::Paws,
        labels: &["0", "1"],
        eval_split: "dev_and_test",
        url: PAWS_QQP_URL,
        single_file: true,
        members: &[Member {
            split: "eval",
            path: "dev_and_test.tsv",
            sha256: "4cd621b3f1c0fa70d13992bfe928a868124444a226b1ce6386b2fc949aaad233",
        }],
    },
];

/// The data set of that name.
pub fn find(name: &str) -> Option<&'static Dataset> {
    DATASETS.iter().find(|d| d.name == name)
}

/// What a download node fetches and checks: the release URL and, per output (`train.tsv`,
/// `eval.tsv`), the archive member and its sha256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadSpec {
    pub dataset: String,
    pub url: String,
    /// The URL is the one file, not an archive (left out when false: the keys of archive
    /// downloads read as before).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_file: bool,
    /// The task's name for its eval split (`dev`: `<task>.dev`).
    pub eval_split: String,
    pub files: BTreeMap<String, PinnedMember>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinnedMember {
    pub member: String,
    pub sha256: String,
}

impl Dataset {
    /// The download node's spec: one output per member, named `<split>.tsv`.
    pub fn spec(&self) -> DownloadSpec {
        DownloadSpec {
            dataset: self.name.to_owned(),
            url: self.url.to_owned(),
            single_file: self.single_file,
            eval_split: self.eval_split.to_owned(),
            files: self
                .members
                .iter()
                .map(|m| {
                    (
                        format!("{}.tsv", m.split),
                        PinnedMember {
                            member: m.path.to_owned(),
                            sha256: m.sha256.to_owned(),
                        },
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_digests_are_sha256_hex() {
        for (i, d) in DATASETS.iter().enumerate() {
            assert!(DATASETS[..i].iter().all(|e| e.name != d.name), "{}", d.name);
            assert_eq!(find(d.name).map(|f| f.name), Some(d.name));
            for m in d.members {
                assert!(m.split == "train" || m.split == "eval", "{}", m.split);
                assert_eq!(m.sha256.len(), 64);
                assert!(m.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
        assert!(find("glue/colaa").is_none());
    }
}
