//! Pinning: a manifest's Hub revisions resolved to commits, the phase between loading a manifest
//! and expanding it (the `hub/<name>` nodes' keys hold the commits). Online, every branch or tag
//! is asked of the Hub each time (so a new upstream commit shows as a `plan` reason: the
//! `hub/<name>` node's key holds the commit) and the answer is remembered under the cache root
//! (`hub/refs/<owner>/<name>/<revision>.json`, like `huggingface_hub`'s `refs/`). Offline, or
//! when the Hub cannot be reached, the remembered commit is used and the plan says so; with no
//! remembered commit the reference stays unresolved, the plan lists it, and `run` refuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use percent_encoding::utf8_percent_encode;
use serde::{Deserialize, Serialize};

use crate::manifest::hub::{HubRef, RepoKind};
use crate::manifest::Manifest;

/// Who answers "which commit is this revision now?": the Hub's HTTP client
/// (`basins_files::hub::Hub`), or a test's stand-in. HTTP lives with the files basins
/// downloads; the phase lives here.
pub trait Revisions {
    /// Whether asking is forbidden (`--offline`): remembered commits only.
    fn offline(&self) -> bool;
    /// Where the answers come from, for the log.
    fn endpoint(&self) -> &str;
    /// The commit `revision` of `repo` (a model or a data set repository) names now.
    fn commit(&self, kind: RepoKind, repo: &str, revision: &str) -> Result<String, Unanswered>;
}

/// Why a revision has no commit from the Hub.
#[derive(Debug, Clone)]
pub enum Unanswered {
    /// The network or the Hub failed (unreachable, a 5xx): remembered commits stand in.
    Unreachable(String),
    /// The Hub's answer about the repository is final (401, 404, a malformed answer).
    Final(String),
}

/// Where a revision's commit came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// The revision is a commit.
    Given,
    /// Asked of the Hub now.
    Online,
    /// Remembered from an earlier resolution, because basins is offline.
    Remembered,
    /// Remembered, because the Hub could not be reached (the error).
    Fallback(String),
}

/// One reference's resolution.
#[derive(Debug, Clone)]
pub struct Pin {
    /// `owner/name@revision`.
    pub what: String,
    /// The commit, or why there is none.
    pub commit: Result<String, String>,
    pub how: How,
}

#[derive(Serialize, Deserialize)]
struct Remembered {
    commit: String,
    /// Seconds since the epoch when the Hub said so.
    resolved_at: u64,
}

/// `hub/refs/<repo>/<revision>.json` for a model, `hub/refs/datasets/<repo>/...` for a data
/// set (as the Hub's own URLs keep the two apart).
fn ref_path(root: &Path, r: &HubRef) -> PathBuf {
    let rev = utf8_percent_encode(&r.revision, percent_encoding::NON_ALPHANUMERIC).to_string();
    root.join("hub")
        .join("refs")
        .join(format!("{}{}", r.kind.prefix(), r.repo))
        .join(format!("{rev}.json"))
}

fn remembered(root: &Path, r: &HubRef) -> Option<String> {
    let text = std::fs::read_to_string(ref_path(root, r)).ok()?;
    let r: Remembered = serde_json::from_str(&text).ok()?;
    crate::manifest::hub::is_commit(&r.commit).then_some(r.commit)
}

fn remember(root: &Path, at: &HubRef, commit: &str) {
    let r = Remembered {
        commit: commit.to_owned(),
        resolved_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let path = ref_path(root, at);
    let bytes = serde_json::to_vec_pretty(&r).expect("serialises");
    // Written whole or not at all; remembering is a convenience for offline plans, so failing
    // to write it is a warning, not an error.
    let write = || -> std::io::Result<()> {
        let dir = path.parent().expect("under the cache root");
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &bytes)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::warn!("could not remember {} -> {commit}: {e}", at.display());
    }
}

/// Resolve every unpinned Hub reference of `manifest` (and its sweep's sub-studies), filling in
/// the commits. Each distinct `repo@revision` is asked once. Returns one entry per distinct
/// reference, in the order the manifest has them.
pub fn pin(manifest: &mut Manifest, cache_root: &Path, hub: &dyn Revisions) -> Vec<Pin> {
    let mut done: BTreeMap<(RepoKind, String, String), Pin> = BTreeMap::new();
    let mut order = Vec::new();
    // Once the Hub is unreachable, the other references are not asked (a 100-member zoo would
    // wait for 100 timeouts): they take the remembered commits, as offline.
    let mut away: Option<String> = None;
    for r in manifest.hub_refs_mut() {
        let key = (r.kind, r.repo.clone(), r.revision.clone());
        if !done.contains_key(&key) {
            let pin = resolve(r, cache_root, hub, &away);
            if let How::Fallback(why) = &pin.how {
                away = Some(why.clone());
            } else if let (Err(why), None) = (&pin.commit, &away) {
                if why.starts_with("cannot reach the Hub") {
                    away = Some(why.clone());
                }
            }
            order.push(key.clone());
            done.insert(key.clone(), pin);
        }
        r.commit = done[&key].commit.as_ref().ok().cloned();
    }
    order.into_iter().map(|k| done[&k].clone()).collect()
}

fn resolve(r: &HubRef, root: &Path, hub: &dyn Revisions, away: &Option<String>) -> Pin {
    let what = r.display();
    if let Some(c) = r.commit.as_deref() {
        return Pin {
            what,
            commit: Ok(c.to_owned()),
            how: How::Given,
        };
    }
    let fallback = |how: How, why: String| match remembered(root, r) {
        Some(c) => Pin {
            what: what.clone(),
            commit: Ok(c),
            how,
        },
        None => Pin {
            what: what.clone(),
            commit: Err(why),
            how: How::Remembered,
        },
    };
    if hub.offline() {
        return fallback(
            How::Remembered,
            "offline, and never resolved online: run `basins fetch` where the Hub can be \
             reached, or pin `revision` to a commit"
                .to_owned(),
        );
    }
    if let Some(why) = away {
        return fallback(How::Fallback(why.clone()), why.clone());
    }
    tracing::info!("resolving {what} at {}", hub.endpoint());
    match hub.commit(r.kind, &r.repo, &r.revision) {
        Ok(commit) => {
            remember(root, r, &commit);
            Pin {
                what,
                commit: Ok(commit),
                how: How::Online,
            }
        }
        Err(Unanswered::Unreachable(why)) => fallback(How::Fallback(why.clone()), why),
        Err(Unanswered::Final(why)) => Pin {
            what,
            commit: Err(why),
            how: How::Online,
        },
    }
}
