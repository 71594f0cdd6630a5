//! `hub`: a Hugging Face model at a resolved commit, downloaded as the node's outputs
//! (`model/<file>`, the directory every model input reads). The files are those `hub::select`
//! picks, each checked against the Hub's sha256 (LFS) or git blob id before it is published.
//! Bytes arrive in the node's resume directory, which survives a failed or killed run of the
//! same key, so the next try resumes with a `Range` request; nothing reaches the cache until
//! every file is whole and checked. The cache is the store: a second run (any study on the same
//! cache root) finds the node cached and makes no request.

use anyhow::Context;
use basins_engine::record::OutputClass;
use basins_engine::{StageContext, StageKind};
use basins_study::manifest::hub::RepoKind;
use basins_study::params::HubParams;
use serde_json::{json, Value};

use super::hub_files::{commit_of, fetch_all, info_at, Fetched};
use super::params;
use crate::hub::{self, Hub};
use basins_files::inputs::weights_apart;

pub struct HubKind;

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
