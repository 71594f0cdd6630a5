//! Not a kind: what the `hub` and `hub_data` kinds share, fetching a resolved repository's
//! files from the Hub into a node's resume directory, each checked against the listing, before
//! the kind moves them (a model's) or reads them (a data set's) into its outputs.

use anyhow::bail;
use basins_engine::StageContext;
use basins_study::manifest::hub::RepoKind;
use serde_json::{json, Value};

use crate::hub::{self, Hub, HubError};

/// The commit a node was given, or the error that it has none.
pub(super) fn commit_of(repo: &str, commit: Option<String>) -> anyhow::Result<String> {
    commit.ok_or_else(|| {
        anyhow::anyhow!("`{repo}`: its revision was not resolved to a commit (see `basins plan`)")
    })
}

/// The repository's info at `commit`, checked to be for that commit.
pub(super) fn info_at(
    hub: &Hub,
    kind: RepoKind,
    repo: &str,
    commit: &str,
) -> anyhow::Result<hub::ModelInfo> {
    let info = hub.repo_info(kind, repo, commit)?;
    if !info.sha.eq_ignore_ascii_case(commit) {
        bail!(
            "{}: asked for commit {commit} of `{repo}`, the Hub answered for {}",
            hub.endpoint(),
            info.sha
        );
    }
    Ok(info)
}

/// Tries per file: a broken connection resumes, a corrupted file starts over.
const TRIES: usize = 3;

/// Files fetched and checked in a node's resume directory, not yet moved into its outputs.
pub(super) struct Fetched {
    /// (where it lies, its name in the repository), in the order asked.
    pub done: Vec<(std::path::PathBuf, String)>,
    /// Per file: bytes, digest kind and value, repository.
    pub listed: serde_json::Map<String, Value>,
    pub bytes: u64,
}

/// Fetch every (repository, commit, file) into the resume directory, each checked against the
/// Hub's size and digest. The directory survives a failure, so no whole file is fetched twice:
/// a broken connection resumes with a `Range` request, a corrupted file starts over.
pub(super) fn fetch_all(
    ctx: &StageContext,
    hub: &Hub,
    kind: RepoKind,
    files: Vec<(&str, &str, &hub::Sibling)>,
) -> anyhow::Result<Fetched> {
    let total: u64 = files.iter().filter_map(|f| f.2.expected_size()).sum();
    let (mut before, mut fetched, mut resumed) = (0u64, 0u64, 0u64);
    let mut listed = serde_json::Map::new();
    let mut done = Vec::new();
    for (repo, at, file) in files {
        // The name comes from the Hub's listing: it must stay inside the resume directory.
        let plain = std::path::Path::new(&file.rfilename)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain {
            bail!(
                "{}: the Hub lists a file `{}` of `{repo}`, which is not a plain relative path",
                hub.endpoint(),
                file.rfilename
            );
        }
        let partial = ctx.resume_dir.join(format!("{}.part", file.rfilename));
        if let Some(dir) = partial.parent() {
            std::fs::create_dir_all(dir)?;
        }
        resumed += std::fs::metadata(&partial).map_or(0, |m| m.len());
        let mut tries = 0;
        loop {
            tries += 1;
            let got = hub.download(kind, repo, at, file, &partial, |done, _| {
                ctx.progress(before + done, total.max(before + done))
            });
            match got {
                Ok(n) => {
                    fetched += n;
                    break;
                }
                Err(e) if e.retryable() && tries < TRIES => {
                    ctx.log(format!("try {tries} of {TRIES}: {e}"));
                    tracing::warn!("{}: {e}; trying again", ctx.node);
                }
                Err(e @ HubError::Broken { .. }) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "downloading `{}` of `{repo}` ({TRIES} tries; `basins run` again \
                         resumes)",
                        file.rfilename
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let size = std::fs::metadata(&partial)?.len();
        before += size;
        let (digest_kind, digest) = file.expected_digest().unwrap_or(("size", String::new()));
        ctx.log(format!(
            "{}: {size} bytes, {digest_kind} checked",
            file.rfilename
        ));
        listed.insert(
            file.rfilename.clone(),
            json!({"bytes": size, "digest": digest_kind, "value": digest, "repo": repo}),
        );
        done.push((partial, file.rfilename.clone()));
    }
    // How much this run fetched is logged, not returned: metrics are part of what downstream
    // keys hash, and a resumed download must give the same outputs as a whole one.
    ctx.log(format!(
        "fetched {fetched} bytes now ({resumed} were already here from an earlier try)"
    ));
    Ok(Fetched {
        done,
        listed,
        bytes: before,
    })
}
