//! The plug-in point for the domain: a `StageKind` says how to run one node and how to compare
//! two of its outputs. The engine never learns what a model or a dataset is.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use basins_cache::Digest;
use serde_json::Value;

use crate::record::OutputClass;

/// How `basins verify` judges a re-execution of this kind.
#[derive(Debug, Clone, PartialEq)]
pub enum VerifyPolicy {
    /// Every output file must be byte-identical.
    BitExact,
    /// Files may differ; each named metric (a JSON pointer into the metrics, such as
    /// `/loss`) must agree within `abs` (reductions on a GPU are not bit-reproducible).
    Tolerance { metrics: Vec<(String, f64)> },
}

/// A stage's failure, as text for the log and the user.
pub type StageError = anyhow::Error;

pub trait StageKind: Send + Sync {
    fn name(&self) -> &'static str;
    /// Bumped by hand whenever the kind's outputs for the same inputs would change. Never
    /// derived from source text: cosmetic edits must not rerun a 100-seed study.
    fn version(&self) -> u32;
    /// Whether the node wants an accelerator when the study's backend has one.
    fn uses_device(&self) -> bool {
        false
    }
    /// Whether the node downloads what it outputs (a model or data set from the network): the
    /// plan says "to fetch" rather than "to run", and `basins fetch` runs exactly these.
    fn fetches(&self) -> bool {
        false
    }
    fn verify_policy(&self) -> VerifyPolicy {
        VerifyPolicy::BitExact
    }
    fn output_class(&self, _relative_path: &str) -> OutputClass {
        OutputClass::Result
    }
    /// Run one node: read `ctx.inputs`, write files under `ctx.out_dir`, return metrics.
    fn run(&self, ctx: &StageContext) -> Result<Value, StageError>;
}

/// One input as a stage sees it.
#[derive(Debug, Clone)]
pub enum StageInput {
    File(PathBuf),
    Dir(PathBuf),
    /// An upstream node's outputs: relative name -> verified object path, and each one's
    /// content digest (what a page cites as provenance, so that nothing outside the cache
    /// crate reads the store's layout), plus its metrics.
    Node {
        node: String,
        files: BTreeMap<String, PathBuf>,
        digests: BTreeMap<String, Digest>,
        metrics: Value,
    },
}

/// How far a running node is: `done` of `total` units (steps, examples, pairs), and named values
/// worth showing beside it (a training loss, sequences per second).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, f64>,
}

impl Progress {
    pub fn new(done: u64, total: u64) -> Progress {
        Progress {
            done,
            total,
            values: BTreeMap::new(),
        }
    }
}

/// Where a node's progress goes (the scheduler's channel, or a parent process's pipe).
pub type ProgressSink<'a> = dyn Fn(Progress) + Send + Sync + 'a;

/// The error a stage returns when it stops because the run was cancelled
/// ([`StageContext::cancelled`]): the engine reports the node as interrupted, to run next
/// time, and not as failed. Any other error, even one raised after Ctrl-C, is a failure.
#[derive(Debug, thiserror::Error)]
#[error("interrupted at {at}")]
pub struct Interrupted {
    pub at: String,
}

impl Interrupted {
    pub fn at(at: impl Into<String>) -> anyhow::Error {
        Interrupted { at: at.into() }.into()
    }
}

/// Everything a running node may use. Built by the engine; stages only read it.
pub struct StageContext<'a> {
    pub node: &'a str,
    pub params: &'a Value,
    pub env: &'a BTreeMap<String, String>,
    pub inputs: &'a BTreeMap<String, StageInput>,
    pub out_dir: &'a Path,
    /// Private working space, removed when the node ends; never published.
    pub scratch: &'a Path,
    /// Survives a killed run of the same recipe key: periodic checkpoints go here, so a rerun
    /// resumes. Removed once the node's outputs are published.
    pub resume_dir: &'a Path,
    /// The accelerator this node was given (`--gpus`), if any.
    pub gpu: Option<u32>,
    /// Threads this node may evaluate batches on: the machine's cores shared among the nodes
    /// running at once. `None`: the stage's own choice (all cores; a Slurm task's allocation).
    pub eval_threads: Option<usize>,
    pub(crate) progress: &'a ProgressSink<'a>,
    pub(crate) log: Mutex<std::fs::File>,
    pub(crate) cancel: Arc<AtomicBool>,
}

impl StageContext<'_> {
    /// `rel` under this node's output directory, refused unless it is a plain relative path
    /// (names from a manifest are validated at load time; this is the second line).
    pub fn output(&self, rel: &str) -> anyhow::Result<std::path::PathBuf> {
        crate::paths::under(self.out_dir, rel).map_err(|e| anyhow::anyhow!(e))
    }

    /// Report progress (steps, examples) to the engine's bars and progress lines.
    pub fn progress(&self, done: u64, total: u64) {
        (self.progress)(Progress::new(done, total));
    }

    /// Progress with values to show beside it, e.g. `[("loss", 0.61), ("seq_per_s", 310.0)]`.
    pub fn progress_with(&self, done: u64, total: u64, values: &[(&str, f64)]) {
        let mut p = Progress::new(done, total);
        p.values = values
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        (self.progress)(p);
    }

    /// A line in this node's log file (and in the tracing log at debug level).
    pub fn log(&self, line: impl AsRef<str>) {
        tracing::debug!(node = self.node, "{}", line.as_ref());
        if let Ok(mut f) = self.log.lock() {
            let _ = writeln!(f, "{}", line.as_ref());
        }
    }

    /// True once the user pressed Ctrl-C: long stages should return [`Interrupted`] soon after.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub fn input(&self, role: &str) -> anyhow::Result<&StageInput> {
        self.inputs
            .get(role)
            .ok_or_else(|| anyhow::anyhow!("node `{}` has no input `{role}`", self.node))
    }
}

/// Which build of basins this is. Report pages show it, so it is part of their keys (and of
/// theirs only): a new build renders its own page and takes nothing else from the cache anew.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Build {
    pub version: String,
    /// The git commit the binary was built from, or `unknown` (a build outside a checkout).
    pub commit: String,
}

impl Default for Build {
    fn default() -> Build {
        Build {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commit: "unknown".to_owned(),
        }
    }
}

/// The stage kinds one build of basins knows, by name, and which build that is.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<String, Arc<dyn StageKind>>,
    build: Build,
    arithmetic: Option<String>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Say which build this is (the CLI passes its git commit).
    pub fn with_build(mut self, build: Build) -> Registry {
        self.build = build;
        self
    }

    pub fn build(&self) -> &Build {
        &self.build
    }

    /// Say which instruction-set level this build's CPU kernels run at on this host
    /// (`x86-64-v4`, `x86-64-v3`, ...). Kernels chosen at run time by CPU feature sum in
    /// different orders, so a result is bit-reproducible only at the level it was made at: every
    /// record says it, and `verify` says what it compared when it re-executes at another.
    pub fn with_arithmetic(mut self, level: impl Into<String>) -> Registry {
        self.arithmetic = Some(level.into());
        self
    }

    pub fn arithmetic(&self) -> Option<&str> {
        self.arithmetic.as_deref()
    }

    pub fn register(&mut self, kind: Arc<dyn StageKind>) {
        self.kinds.insert(kind.name().to_owned(), kind);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn StageKind>> {
        self.kinds.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }
}
