//! `download`: a public data set's release, fetched once, checked against the digests the
//! engine pinned, and kept as the node's outputs (`train.tsv`, `eval.tsv`), which the data
//! readers read like any file. The cache is the store: a second run finds the node cached and
//! makes no request; `basins gc` treats the files as results.

use basins_engine::{StageContext, StageKind};
use basins_study::params::DownloadParams;
use serde_json::{json, Value};

use super::params;
use crate::download;

pub struct DownloadKind;

impl StageKind for DownloadKind {
    fn name(&self) -> &'static str {
        "download"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fetches(&self) -> bool {
        true
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: DownloadParams = params(ctx)?;
        let spec = p.download;
        let mirror = std::env::var(download::DATA_URL_VAR).ok();
        let url = download::resolve_url(&spec.url, mirror.as_deref());
        ctx.log(format!("fetching {url}"));
        let archive = ctx.scratch.join("archive");
        let bytes = download::fetch(&url, &archive, |done, total| {
            ctx.progress(done, total.unwrap_or(done.max(1)))
        })?;
        ctx.log(format!("{url}: {bytes} bytes"));
        let mut spec_at = spec.clone();
        spec_at.url = url.clone();
        download::unpack(&spec_at, &archive, ctx.out_dir)?;
        let mut files = serde_json::Map::new();
        for (name, pinned) in &spec.files {
            let size = std::fs::metadata(ctx.out_dir.join(name))?.len();
            ctx.log(format!(
                "{name}: {} ({size} bytes, sha256 checked)",
                pinned.member
            ));
            files.insert(
                name.clone(),
                json!({"member": pinned.member, "bytes": size}),
            );
        }
        Ok(json!({ "dataset": spec.dataset, "archive_bytes": bytes, "files": files }))
    }
}
