//! One module per verb, each with its flags (`Args`) and one `exec` (cargo's `commands/`),
//! and the [`Context`] every verb gets; `cli` maps the parsed command line onto them.

pub mod bench;
pub mod data;
pub mod exec_node;
pub mod export;
pub mod fetch;
pub mod gc;
pub mod graph;
pub mod model;
pub mod plan;
pub mod report;
pub mod run;
pub mod show;
pub mod status;
pub mod verify;

use std::path::{Path, PathBuf};

use basins_engine::{Registry, Study};
use basins_stages::hub::Hub;
use basins_study::pin::{self, How, Pin};
use basins_study::{Manifest, OpenError};

use crate::error::CliError;

/// What every verb may need besides its own flags.
pub struct Context {
    /// The stage kinds of this binary (the real ones, or the testkit's).
    pub registry: Registry,
    /// `--cache DIR`.
    pub cache: Option<PathBuf>,
}

impl Context {
    /// Load a study, resolving its Hub revisions to commits first (online, or from what an
    /// earlier online run remembered). An unresolved revision leaves its `hub/` node without a
    /// commit: `plan` shows it; [`Context::open_to_run`] refuses.
    pub fn open(&self, manifest: &Path) -> anyhow::Result<Study> {
        Ok(self.open_pinned(manifest)?.0)
    }

    /// [`Context::open`], and the resolution of each Hub reference.
    pub fn open_pinned(&self, manifest: &Path) -> anyhow::Result<(Study, Vec<Pin>)> {
        let m = Manifest::load(manifest).map_err(OpenError::from)?;
        self.open_manifest(m)
    }

    /// [`Context::open_pinned`] of a manifest already loaded (and perhaps changed, as
    /// `bench --modes` changes the interpolation mode).
    pub fn open_manifest(&self, mut m: Manifest) -> anyhow::Result<(Study, Vec<Pin>)> {
        let cache = self
            .cache
            .clone()
            .map(|c| std::path::absolute(&c).unwrap_or(c));
        let root = cache.clone().unwrap_or_else(|| m.study.cache.clone());
        let pins = pin::pin(&mut m, &root, &Hub::from_env());
        for p in &pins {
            if let How::Fallback(why) = &p.how {
                tracing::warn!(
                    "{}: using the commit resolved earlier ({}), because {why}",
                    p.what,
                    p.commit.as_deref().unwrap_or("?")
                );
            }
        }
        let study = basins_study::study(&m, self.registry.clone(), cache)?;
        Ok((study, pins))
    }

    /// [`Context::open`] for verbs that run nodes: every Hub revision must be resolved.
    pub fn open_to_run(&self, manifest: &Path) -> anyhow::Result<Study> {
        let m = Manifest::load(manifest).map_err(OpenError::from)?;
        self.manifest_to_run(m)
    }

    /// The nodes whose results more nodes expand from (each task's clustering, for a
    /// `[merge]`'s soups): a run that runs one of them opens the study again. A manifest that
    /// does not load has none here: opening it says why.
    pub fn awaited(&self, manifest: &Path) -> Vec<String> {
        Manifest::load(manifest).map_or_else(|_| Vec::new(), |m| basins_study::expand::awaited(&m))
    }

    /// [`Context::open_to_run`] of a manifest already loaded.
    pub fn manifest_to_run(&self, m: Manifest) -> anyhow::Result<Study> {
        let (study, pins) = self.open_manifest(m)?;
        let unresolved: Vec<(String, String)> = pins
            .into_iter()
            .filter_map(|p| p.commit.err().map(|why| (p.what, why)))
            .collect();
        if !unresolved.is_empty() {
            return Err(CliError::Unresolved(unresolved).into());
        }
        Ok(study)
    }
}

impl Context {
    /// Where the study's cache is and why there: the first line of `plan`, `run` and
    /// `report`. An empty cache is said as such, with the rule that put it there (a copy of a
    /// manifest saved in another folder gets a cache of its own, because `cache` is relative to
    /// the manifest's folder), since "everything is new" otherwise reads like a bug.
    pub fn cache_line(&self, study: &Study) -> String {
        let root = study.store.root().display().to_string();
        let manifest = &study.path;
        let folder = manifest.parent().filter(|p| !p.as_os_str().is_empty());
        let canonical = |p: &Path| std::fs::canonicalize(p).ok();
        let default = canonical(folder.unwrap_or(Path::new("."))).map(|f| f.join(".basins"));
        let why = if self.cache.is_some() {
            "given by --cache".to_owned()
        } else if default.is_some() && default == canonical(study.store.root()) {
            format!("the default, `.basins` beside {}", manifest.display())
        } else {
            format!(
                "`cache` in [study] of {}, relative to the manifest's folder",
                manifest.display()
            )
        };
        if !study.cache_is_empty() {
            return format!("cache    {root} ({why})");
        }
        format!(
            "cache    {root} ({why}) is empty: nothing has run with it yet, so every node is \
             new. A copy of a manifest in another folder gets a cache of its own; to reuse \
             another study's results, point `cache` (or --cache) at its cache"
        )
    }
}
