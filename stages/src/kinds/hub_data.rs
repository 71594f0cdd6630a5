//! `hub_data`: one split of a Hub dataset repository at a resolved commit. Its parquet files
//! (those `hub::dataset::split_files` finds in the listing) are fetched into the node's resume
//! directory with `Range` resumes and checked against the Hub's sha256, exactly as a model's
//! files are; only then are their rows read and written as the node's one output,
//! `rows.jsonl`, which every data reader takes. A label the data set names differently from the
//! set, an unlabelled row or a missing column fails the node with the file and row, and
//! nothing reaches the cache.

use anyhow::Context;
use basins_engine::{StageContext, StageKind};
use basins_study::manifest::hub::RepoKind;
use basins_study::params::HubDataParams;
use serde_json::{json, Value};

use super::hub_files::{commit_of, fetch_all, info_at, Fetched};
use super::params;
use crate::hub::{self, Hub};

pub struct HubDataKind;

impl StageKind for HubDataKind {
    fn name(&self) -> &'static str {
        "hub_data"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fetches(&self) -> bool {
        true
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let HubDataParams { data: p } = params(ctx)?;
        let commit = commit_of(&p.repo, p.commit.clone())?;
        let hub = Hub::from_env();
        let info = info_at(&hub, RepoKind::Dataset, &p.repo, &commit)?;
        let files = hub::dataset::split_files(&p.repo, &info.siblings, &p.config, &p.split)
            .map_err(anyhow::Error::msg)?;
        let total: u64 = files.iter().filter_map(|f| f.expected_size()).sum();
        ctx.log(format!(
            "data set {}@{commit}, {}/{}: {} file(s), {total} bytes, from {}",
            p.repo,
            p.config,
            p.split,
            files.len(),
            hub.endpoint()
        ));
        let asked = files
            .into_iter()
            .map(|f| (p.repo.as_str(), commit.as_str(), f))
            .collect();
        let Fetched {
            done,
            listed,
            bytes,
        } = fetch_all(ctx, &hub, RepoKind::Dataset, asked)?;
        let out = ctx.output("rows.jsonl")?;
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?,
        );
        let read: Vec<(&std::path::Path, &str)> = done
            .iter()
            .map(|(path, name)| (path.as_path(), name.as_str()))
            .collect();
        let converted = hub::dataset::convert(&read, &p, &mut w).map_err(|e| {
            anyhow::anyhow!(
                "data set `{}` at {commit}, {}/{}: {e}",
                p.repo,
                p.config,
                p.split
            )
        })?;
        std::io::Write::flush(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        ctx.log(format!(
            "{} rows ({}), labels from {}",
            converted.rows,
            converted
                .labels
                .iter()
                .map(|(l, n)| format!("{l} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            if converted.label_names_from.is_empty() {
                "the label column's strings"
            } else {
                converted.label_names_from
            }
        ));
        Ok(json!({
            "dataset": format!("{}/{}/{}", p.repo, p.config, p.split),
            "repo": p.repo,
            "commit": commit,
            "files": listed,
            "bytes": bytes,
            "rows": converted.rows,
            "labels": converted.labels,
            "columns": converted.columns,
            "groups": converted.groups,
            "label_names": converted.label_names,
        }))
    }
}
