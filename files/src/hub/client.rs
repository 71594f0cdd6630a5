//! The Hub's HTTP interface, the part basins uses: a model's or a data set's info at a revision
//! (`/api/models/{repo}/revision/{revision}?blobs=true`, `/api/datasets/...`: the commit and every
//! file with its git blob id, and for LFS files their sha256 and size) and a file at a commit
//! (`/{repo}/resolve/{commit}/{file}`, `/datasets/{repo}/resolve/...`), fetched with `Range` so
//! that an interrupted download resumes, and checked against the info's digest before anyone may
//! use it.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use basins_study::manifest::hub::RepoKind;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// `HF_ENDPOINT`: the Hub's address (a mirror, or the tests' local server).
pub const ENDPOINT_VAR: &str = "HF_ENDPOINT";
/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// `HF_HUB_OFFLINE=1`: use only what is downloaded (`basins --offline` sets it).
pub const OFFLINE_VAR: &str = "HF_HUB_OFFLINE";
/// `HF_HUB_DOWNLOAD_TIMEOUT`: seconds a download may wait for the next bytes before it counts as
/// broken (and resumes), as `huggingface_hub` reads it; 60 when unset.
pub const TIMEOUT_VAR: &str = "HF_HUB_DOWNLOAD_TIMEOUT";

/// What a revision's path segment escapes (`refs/pr/1` -> `refs%2Fpr%2F1`).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(
        "{what}: not downloaded, and basins is offline ({OFFLINE_VAR} or --offline); run \
         `basins fetch <manifest>` where the Hub can be reached"
    )]
    Offline { what: String },
    #[error(
        "cannot reach the Hub at {endpoint}: {message}. With no network, use --offline and \
         models already downloaded; behind a mirror, set {ENDPOINT_VAR}"
    )]
    Unreachable {
        endpoint: String,
        url: String,
        message: String,
    },
    #[error("{what}: the Hub answered {code} ({url}){}", advice(*code, *token))]
    Status {
        what: String,
        url: String,
        code: u16,
        token: bool,
    },
    #[error("{url}: the connection broke after {done} bytes ({message}); what arrived is kept and the next try resumes")]
    Broken {
        url: String,
        done: u64,
        message: String,
    },
    /// What arrived is not what the info lists (`found`: its size and digest against theirs).
    #[error("{url}: {found} (a corrupted download: it was discarded)")]
    Corrupt { url: String, found: String },
    #[error("{url}: the Hub's answer is not a repository info ({message})")]
    BadInfo { url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HubError {
    /// Whether another try may succeed (a broken connection, a corrupted body, a server error).
    pub fn retryable(&self) -> bool {
        match self {
            HubError::Broken { .. } | HubError::Corrupt { .. } => true,
            HubError::Status { code, .. } => *code >= 500 || *code == 429,
            _ => false,
        }
    }
}

fn advice(code: u16, token: bool) -> &'static str {
    match (code, token) {
        (401, false) => {
            ": the model is private or gated, or does not exist; if you have access, set HF_TOKEN \
             to a token with read access (https://huggingface.co/settings/tokens)"
        }
        (401, true) | (403, _) => {
            ": HF_TOKEN was sent and refused; accept the model's terms on its Hub page, or use a \
             token with access to it"
        }
        (404, _) => ": no such repository or revision; check the id and `revision` in the manifest",
        (429, _) => ": rate limited; try again later, or set HF_TOKEN",
        _ => "",
    }
}

/// A model's info at one revision.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelInfo {
    /// The commit the revision points at.
    pub sha: String,
    #[serde(default)]
    pub siblings: Vec<Sibling>,
}

/// One file of a model repository.
#[derive(Debug, Clone, Deserialize)]
pub struct Sibling {
    pub rfilename: String,
    #[serde(default)]
    pub size: Option<u64>,
    /// The git blob id (sha1 of `blob <len>\0<bytes>`): the digest of a file kept in git.
    #[serde(default, rename = "blobId")]
    pub blob_id: Option<String>,
    /// For a file kept in LFS: the sha256 and size of its content.
    #[serde(default)]
    pub lfs: Option<Lfs>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lfs {
    pub sha256: String,
    pub size: u64,
}

impl Sibling {
    /// Its size, when the info says.
    pub fn expected_size(&self) -> Option<u64> {
        self.lfs.as_ref().map(|l| l.size).or(self.size)
    }

    /// The digest a download must have: (`sha256` | `git blob sha1`, hex), when the info has one.
    pub fn expected_digest(&self) -> Option<(&'static str, String)> {
        match (&self.lfs, &self.blob_id) {
            (Some(l), _) => Some(("sha256", l.sha256.to_ascii_lowercase())),
            (None, Some(b)) => Some(("git blob sha1", b.to_ascii_lowercase())),
            (None, None) => None,
        }
    }
}

/// The Hub as this process sees it: endpoint, token, offline or not.
#[derive(Clone)]
pub struct Hub {
    endpoint: String,
    token: Option<String>,
    offline: bool,
    agent: ureq::Agent,
}

impl Hub {
    /// From the environment, as `huggingface_hub` reads it: `HF_ENDPOINT`, `HF_TOKEN` (else the
    /// token file `HF_TOKEN_PATH`, `$HF_HOME/token` or `~/.cache/huggingface/token`),
    /// `HF_HUB_OFFLINE`, `HF_HUB_DOWNLOAD_TIMEOUT` (a value that is not a positive number of
    /// seconds is ignored, with a warning).
    pub fn from_env() -> Hub {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let endpoint = var(ENDPOINT_VAR).unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let token = var("HF_TOKEN").or_else(|| {
            let home = var("HF_HOME").map(PathBuf::from).or_else(|| {
                var("HOME").map(|h| PathBuf::from(h).join(".cache").join("huggingface"))
            });
            let file = var("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join("token")))?;
            std::fs::read_to_string(file)
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        });
        let offline = var(OFFLINE_VAR).is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        let mut hub = Hub::new(&endpoint, token, offline);
        if let Some(t) = var(TIMEOUT_VAR) {
            match t.trim().parse::<f64>() {
                Ok(s) if s > 0.0 && s.is_finite() => {
                    hub.agent = agent(Duration::from_secs_f64(s.min(86_400.0)))
                }
                _ => tracing::warn!(
                    "{TIMEOUT_VAR}={t:?} is not a positive number of seconds; using 60"
                ),
            }
        }
        hub
    }

    pub fn new(endpoint: &str, token: Option<String>, offline: bool) -> Hub {
        Hub {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token,
            offline,
            agent: agent(Duration::from_secs(60)),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn offline(&self) -> bool {
        self.offline
    }

    fn get(&self, url: &str) -> ureq::Request {
        let req = self.agent.get(url).set("User-Agent", "basins");
        match &self.token {
            Some(t) => req.set("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }

    fn call(&self, what: &str, req: ureq::Request, url: &str) -> Result<ureq::Response, HubError> {
        match req.call() {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(code, _)) => Err(HubError::Status {
                what: what.to_owned(),
                url: url.to_owned(),
                code,
                token: self.token.is_some(),
            }),
            Err(e) => Err(HubError::Unreachable {
                endpoint: self.endpoint.clone(),
                url: url.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    /// A model's or a data set's commit and files at `revision` (a branch, tag or commit).
    /// The two APIs answer alike: the commit, and each file with its git blob id and, for LFS
    /// files, their sha256 and size.
    pub fn repo_info(
        &self,
        kind: RepoKind,
        repo: &str,
        revision: &str,
    ) -> Result<ModelInfo, HubError> {
        let what = format!("{} `{repo}` at revision `{revision}`", kind.noun());
        if self.offline {
            return Err(HubError::Offline { what });
        }
        let url = format!(
            "{}/api/{}/{repo}/revision/{}?blobs=true",
            self.endpoint,
            kind.plural(),
            utf8_percent_encode(revision, SEGMENT)
        );
        let response = self.call(&what, self.get(&url), &url)?;
        let bad = |message: String| HubError::BadInfo {
            url: url.clone(),
            message,
        };
        let text = response.into_string().map_err(|e| bad(e.to_string()))?;
        let info: ModelInfo = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if !basins_study::manifest::hub::is_commit(&info.sha) {
            return Err(HubError::BadInfo {
                url,
                message: format!("`sha` is `{}`, not a 40-hex commit", info.sha),
            });
        }
        Ok(info)
    }

    /// Fetch `file` of `repo` (a model's or a data set's repository) at `commit` into `to`,
    /// resuming from what `to` already holds, and check it against the info's size and digest.
    /// Returns the bytes this call transferred. On a broken connection what arrived stays in
    /// `to` (the next call resumes); on a digest or size mismatch `to` is removed.
    pub fn download(
        &self,
        kind: RepoKind,
        repo: &str,
        commit: &str,
        file: &Sibling,
        to: &Path,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<u64, HubError> {
        let url = format!(
            "{}/{}{repo}/resolve/{commit}/{}",
            self.endpoint,
            kind.prefix(),
            file.rfilename
                .split('/')
                .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
                .collect::<Vec<_>>()
                .join("/")
        );
        let what = format!(
            "`{}` of {} `{repo}` at {commit}",
            file.rfilename,
            kind.noun()
        );
        if self.offline {
            return Err(HubError::Offline { what });
        }
        let io = |e: std::io::Error| HubError::Io {
            path: to.to_owned(),
            source: e,
        };
        let total = file.expected_size();
        let mut have = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
        if total.is_some_and(|t| have > t) {
            std::fs::remove_file(to).map_err(io)?;
            have = 0;
        }
        let mut fetched = 0;
        if total != Some(have) || have == 0 {
            let mut req = self.get(&url);
            if have > 0 {
                req = req.set("Range", &format!("bytes={have}-"));
            }
            let response = match self.call(&what, req, &url) {
                // The server cannot serve from there: start over.
                Err(HubError::Status { code: 416, .. }) => {
                    have = 0;
                    self.call(&what, self.get(&url), &url)?
                }
                r => r?,
            };
            let resumed = have > 0 && response.status() == 206;
            if !resumed {
                have = 0;
            }
            let mut out = OpenOptions::new()
                .create(true)
                .write(true)
                .append(resumed)
                .truncate(!resumed)
                .open(to)
                .map_err(io)?;
            let mut reader = response.into_reader();
            let mut buf = vec![0u8; 1 << 16];
            let mut done = have;
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        out.sync_all().map_err(io)?;
                        return Err(HubError::Broken {
                            url,
                            done,
                            message: e.to_string(),
                        });
                    }
                };
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(io)?;
                done += n as u64;
                fetched += n as u64;
                progress(done, total);
            }
            out.sync_all().map_err(io)?;
            if let Some(t) = total.filter(|&t| done < t) {
                return Err(HubError::Broken {
                    url,
                    done,
                    message: format!("the body ended {} bytes short of {t}", t - done),
                });
            }
        }
        if let Err(e) = check(file, to, &url) {
            let _ = std::fs::remove_file(to);
            return Err(e);
        }
        Ok(fetched)
    }
}

fn agent(read: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(read)
        .build()
}

/// Check a downloaded file against its size and digest (streamed: weights can be gigabytes).
pub fn check(file: &Sibling, path: &Path, url: &str) -> Result<(), HubError> {
    let io = |e: std::io::Error| HubError::Io {
        path: path.to_owned(),
        source: e,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    let (kind, want) = file.expected_digest().unwrap_or(("size", String::new()));
    let mut sha256 = Sha256::new();
    let mut sha1 = Sha1::new();
    sha1.update(format!("blob {size}\0").as_bytes());
    let mut reader = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        match kind {
            "sha256" => sha256.update(&buf[..n]),
            "git blob sha1" => sha1.update(&buf[..n]),
            _ => {}
        }
    }
    let got = match kind {
        "sha256" => hex(&sha256.finalize()),
        "git blob sha1" => hex(&sha1.finalize()),
        _ => String::new(),
    };
    let size_ok = file.expected_size().is_none_or(|s| s == size);
    if got != want || !size_ok {
        return Err(HubError::Corrupt {
            url: url.to_owned(),
            found: format!(
                "{} is {size} bytes with {kind} {got}, the Hub lists {} bytes with {want}",
                file.rfilename,
                file.expected_size()
                    .map_or("an unknown number of".to_owned(), |s| s.to_string()),
            ),
        });
    }
    Ok(())
}

/// git's blob id: sha1 over `blob <length>\0` and the bytes.
pub fn git_blob_id(bytes: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            git_blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        // the empty blob
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn a_revision_is_one_path_segment() {
        assert_eq!(
            utf8_percent_encode("refs/pr/1", SEGMENT).to_string(),
            "refs%2Fpr%2F1"
        );
        assert_eq!(
            utf8_percent_encode("v1.0-rc_2", SEGMENT).to_string(),
            "v1.0-rc_2"
        );
    }
}
