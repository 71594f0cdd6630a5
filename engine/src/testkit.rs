//! Cheap stage kinds with no ML, registered under the study's real kind names, so that the
//! engine's behaviour (keys, caching, scheduling, crash safety, verify, gc) is tested and
//! benchmarked through the real CLI in milliseconds. The `basins-testkit` binary uses them.
//!
//! Each kind reads every input byte and its params, derives its outputs deterministically from
//! them (blake3), and so behaves like a real stage from the cache's point of view: change any
//! input or param and the output changes; change nothing and it is bit-identical.
//!
//! Environment knobs, for tests only:
//! - `BASINS_TESTKIT_SLEEP_MS`: each node sleeps this long (in 10 steps, reporting progress),
//!   which makes `kill -9` in the middle of a run practical to test;
//! - `BASINS_TESTKIT_FAIL`: a glob over node ids that fail with an error;
//! - `BASINS_TESTKIT_PANIC`: a glob over node ids that panic, as a library's `unwrap` would;
//! - `BASINS_TESTKIT_JITTER`: a glob over node ids whose outputs get a run-dependent byte,
//!   as GPU reductions would, to exercise `verify`'s tolerance rules;
//! - `BASINS_TESTKIT_BUMP`: comma-separated kind names whose implementation version is 2
//!   instead of 1, as after a change to a stage's code.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::record::OutputClass;
use crate::schedule::glob_match;
use crate::stage::{Registry, StageContext, StageInput, StageKind, VerifyPolicy};

/// The kind names a study expands into.
pub const KINDS: [&str; 19] = [
    "generate",
    "pretrain",
    "finetune",
    "evaluate",
    "interpolate",
    "interpolate_adaptive",
    "interpolate_blocks",
    "align",
    "merge",
    "greedy_soup",
    "soups",
    "blocks",
    "aligned",
    "barriers",
    "cluster",
    "diagnostics",
    "controls",
    "report",
    "sweep",
];

pub struct Synthetic {
    name: &'static str,
}

pub fn registry() -> Registry {
    let mut r = Registry::new();
    for name in KINDS {
        r.register(Arc::new(Synthetic { name }));
    }
    r
}

fn env_glob(var: &str, node: &str) -> bool {
    std::env::var(var)
        .map(|p| p.split(',').any(|g| glob_match(g, node)))
        .unwrap_or(false)
}

impl StageKind for Synthetic {
    fn name(&self) -> &'static str {
        self.name
    }

    fn version(&self) -> u32 {
        // Far from any real kind's version: the testkit's kinds carry the real kinds' names so
        // that it can run real manifests, and with the same version a real `basins` would take
        // a testkit record in a shared cache for its own (seen: a demo cache whose
        // `generate/nli` held the testkit's `out.json`).
        const TESTKIT: u32 = 1_000_000;
        let bumped = std::env::var("BASINS_TESTKIT_BUMP").unwrap_or_default();
        if bumped.split(',').any(|k| k == self.name) {
            TESTKIT + 2
        } else {
            TESTKIT + 1
        }
    }

    fn uses_device(&self) -> bool {
        matches!(
            self.name,
            "pretrain" | "finetune" | "evaluate" | "interpolate" | "interpolate_adaptive"
        )
    }

    fn verify_policy(&self) -> VerifyPolicy {
        match self.name {
            // Stand-ins for the kinds that will run on a GPU: judged on metrics.
            "evaluate" | "interpolate" | "interpolate_adaptive" => VerifyPolicy::Tolerance {
                metrics: vec![("/value".into(), 1e-9)],
            },
            _ => VerifyPolicy::BitExact,
        }
    }

    fn output_class(&self, rel: &str) -> OutputClass {
        if rel.ends_with(".bin") {
            OutputClass::Checkpoint
        } else {
            OutputClass::Result
        }
    }

    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let sleep_ms: u64 = std::env::var("BASINS_TESTKIT_SLEEP_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        for step in 1..=10u64 {
            if ctx.cancelled() {
                return Err(crate::stage::Interrupted::at(format!("step {step}")));
            }
            std::thread::sleep(Duration::from_millis(sleep_ms / 10));
            ctx.progress_with(step, 10, &[("step", step as f64)]);
        }
        if env_glob("BASINS_TESTKIT_FAIL", ctx.node) {
            bail!("injected failure (BASINS_TESTKIT_FAIL)");
        }
        if env_glob("BASINS_TESTKIT_PANIC", ctx.node) {
            panic!("injected panic (BASINS_TESTKIT_PANIC)");
        }
        let mut h = blake3::Hasher::new();
        h.update(self.name.as_bytes());
        h.update(&self.version().to_le_bytes());
        h.update(&serde_json::to_vec(ctx.params)?);
        let mut upstream_values = Vec::new();
        for (role, input) in ctx.inputs {
            h.update(role.as_bytes());
            match input {
                StageInput::File(p) => {
                    h.update(
                        &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
                    );
                }
                StageInput::Dir(p) => {
                    h.update(p.to_string_lossy().as_bytes());
                }
                StageInput::Node { files, metrics, .. } => {
                    for (name, path) in files {
                        h.update(name.as_bytes());
                        h.update(
                            &std::fs::read(path)
                                .with_context(|| format!("reading {}", path.display()))?,
                        );
                    }
                    upstream_values.extend(metrics["value"].as_f64());
                }
            }
        }
        let digest = h.finalize();
        let own = u64::from_le_bytes(digest.as_bytes()[..8].try_into().expect("8 bytes")) as f64
            / u64::MAX as f64;
        let mean_up = if upstream_values.is_empty() {
            0.0
        } else {
            upstream_values.iter().sum::<f64>() / upstream_values.len() as f64
        };
        let value = 0.5 * own + 0.5 * mean_up;
        let mut out = json!({"node": ctx.node, "kind": self.name, "digest": digest.to_hex().as_str(), "value": value});
        if env_glob("BASINS_TESTKIT_JITTER", ctx.node) {
            out["jitter"] = json!(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos()
                .to_string());
        }
        std::fs::write(
            ctx.out_dir.join("out.json"),
            serde_json::to_vec_pretty(&out)?,
        )?;
        if self.name == "finetune" || self.name == "pretrain" {
            // A "checkpoint": 64 KiB derived from the digest, so gc has something to weigh.
            let mut bytes = vec![0u8; 64 * 1024];
            blake3::Hasher::new()
                .update(digest.as_bytes())
                .finalize_xof()
                .fill(&mut bytes);
            std::fs::write(ctx.out_dir.join("model.bin"), bytes)?;
        }
        ctx.log(format!("{} value={value:.6}", ctx.node));
        ctx.log(format!(
            "gpu={:?} CUDA_VISIBLE_DEVICES={}",
            ctx.gpu,
            std::env::var("CUDA_VISIBLE_DEVICES").unwrap_or_default()
        ));
        Ok(json!({"value": value, "inputs": ctx.inputs.len()}))
    }
}
