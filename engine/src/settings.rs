//! How a study's nodes are run: which executor, and what each Slurm job asks for. The manifest's
//! `[study]` section sets these; the engine's executors read them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// Stages run inside the `basins` process.
    Local,
    /// Each node runs as `basins exec-node` in a child process.
    Subprocess,
    /// Each node runs as `basins exec-node` in a Slurm job (arrays per stage kind).
    Slurm,
}

/// What one job asks Slurm for. Each value is passed to `sbatch` as its own argument, never
/// through a shell.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmResources {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub mem: Option<String>,
    pub cpus: Option<u32>,
    pub gpus: Option<u32>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Further `sbatch` arguments, one list element per argument.
    pub extra_args: Option<Vec<String>>,
}

impl SlurmResources {
    /// These settings with `over`'s set fields taking precedence (the manifest overlay).
    pub fn overlaid(&self, over: &SlurmResources) -> SlurmResources {
        let pick = |a: &Option<String>, b: &Option<String>| b.clone().or_else(|| a.clone());
        SlurmResources {
            partition: pick(&self.partition, &over.partition),
            time: pick(&self.time, &over.time),
            mem: pick(&self.mem, &over.mem),
            cpus: over.cpus.or(self.cpus),
            gpus: over.gpus.or(self.gpus),
            account: pick(&self.account, &over.account),
            qos: pick(&self.qos, &over.qos),
            extra_args: over.extra_args.clone().or_else(|| self.extra_args.clone()),
        }
    }
}

/// `[study.slurm]` resolved: defaults for every job, overrides per stage kind, pacing.
#[derive(Debug, Clone, Serialize)]
pub struct SlurmSettings {
    pub resources: SlurmResources,
    pub kinds: BTreeMap<String, SlurmResources>,
    /// Jobs (array tasks) in flight at once; also each array's `%` throttle.
    pub max_jobs: u32,
    /// The longest pause between two `squeue` queries (the back-off's ceiling).
    pub poll_max_s: f64,
    /// How long a job may have left Slurm before its record must be visible in the cache (a
    /// shared filesystem's attribute caching can hide a new file for tens of seconds).
    pub record_latency_s: f64,
}

impl SlurmSettings {
    /// What a job of `kind` asks for.
    pub fn resources_for(&self, kind: &str) -> SlurmResources {
        match self.kinds.get(kind) {
            Some(over) => self.resources.overlaid(over),
            None => self.resources.clone(),
        }
    }
}
