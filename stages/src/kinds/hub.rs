//! `hub`: a Hugging Face model at a resolved commit, downloaded as the node's outputs
//! (`model/<file>`, the directory every model input reads). The files are those `hub::select`
//! picks, each checked against the Hub's sha256 (LFS) or git blob id before it is published.
//! Bytes arrive in the node's resume directory, which survives a failed or killed run of the
//! same key, so the next try resumes with a `Range` request; nothing reaches the cache until
//! every file is whole and checked. The cache is the store: a second run (any study on the same
//! cache root) finds the node cached and makes no request.

use anyhow::{bail, Context};
use basins_engine::record::OutputClass;
use basins_engine::{StageContext, StageKind};
use basins_study::manifest::hub::RepoKind;
use basins_study::params::HubParams;
use serde_json::{json, Value};

use super::params;
use crate::hub::{self, Hub, HubError};
use basins_files::inputs::weights_apart;

pub struct HubKind;

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

impl StageKind for HubKind {
    fn name(&self) -> &'static str {
        "hub"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fetches(&self) -> bool {
        true
    }
    fn output_class(&self, rel: &str) -> OutputClass {
        match rel {
            r if r.ends_with(".bin") => OutputClass::Checkpoint,
            r => weights_apart(r),
        }
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let HubParams {
            source: p,
            tokenizer,
        } = params(ctx)?;
        let commit = commit_of(&p.repo, p.commit)?;
        let hub = Hub::from_env();
        let info = info_at(&hub, RepoKind::Model, &p.repo, &commit)?;
        let picked = hub::select(&p.repo, &info.siblings, tokenizer.is_some())
            .map_err(anyhow::Error::msg)?;
        // (repository, commit, file) for every file to fetch.
        let mut files: Vec<(&str, &str, &hub::Sibling)> = picked
            .into_iter()
            .map(|f| (p.repo.as_str(), commit.as_str(), f))
            .collect();
        let tok_info;
        let tok_commit;
        if let (Some(t), false) = (&tokenizer, hub::has_tokenizer(&info.siblings)) {
            tok_commit = commit_of(&t.repo, t.commit.clone())?;
            tok_info = info_at(&hub, RepoKind::Model, &t.repo, &tok_commit)?;
            let extra =
                hub::tokenizer_files(&t.repo, &tok_info.siblings).map_err(anyhow::Error::msg)?;
            ctx.log(format!(
                "`{}` has no tokenizer: taking {} file(s) from `{}`@{tok_commit}",
                p.repo,
                extra.len(),
                t.repo
            ));
            files.extend(
                extra
                    .into_iter()
                    .map(|f| (t.repo.as_str(), tok_commit.as_str(), f)),
            );
        }
        let total: u64 = files.iter().filter_map(|f| f.2.expected_size()).sum();
        ctx.log(format!(
            "{}@{commit}: {} files, {total} bytes, from {}",
            p.repo,
            files.len(),
            hub.endpoint()
        ));
        let Fetched {
            done,
            listed,
            bytes,
        } = fetch_all(ctx, &hub, RepoKind::Model, files)?;
        for (partial, name) in done {
            let dest = ctx.output(&format!("model/{name}"))?;
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&partial, &dest)
                .with_context(|| format!("moving {} into the outputs", partial.display()))?;
        }
        Ok(json!({
            "repo": p.repo,
            "commit": commit,
            "files": listed,
            "bytes": bytes,
        }))
    }
}

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
        let partial = ctx.resume_dir.join(format!("{}.part", file.rfilename));
        if let Some(dir) = partial.parent() {
            std::fs::create_dir_all(dir)?;
        }
        resumed += std::fs::metadata(&partial).map_or(0, |m| m.len());
        let mut tries = 0;
        loop {
            tries += 1;
            let got = hub.download_from(kind, repo, at, file, &partial, |done, _| {
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
