//! `basins verify`: re-execute cached nodes into scratch and compare with the cache, by each
//! kind's verify policy.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use basins_cache::{CacheError, Digest, Store};
use serde::Serialize;
use serde_json::Value;

use super::show::{first_bad_output, Check};
use crate::exec::{execute_stage, stage_inputs, Inputs, Ran, Runtime};
use crate::record::{self, ActionRecord, Recipe};
use crate::stage::VerifyPolicy;
use crate::study::{Resolution, Study};
use crate::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    BitExact,
    WithinTolerance,
    Differs,
    /// A stored object no longer hashes to its name (quarantined; `run` recomputes it).
    Corrupt,
    /// An input object is corrupt, so this node cannot be re-executed until `run` heals it.
    InputCorrupt,
    /// Re-execution itself failed.
    Failed,
}

#[derive(Debug, Serialize)]
pub struct VerifiedNode {
    pub node: String,
    pub kind: String,
    pub verdict: Verdict,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    pub not_cached: usize,
    pub nodes: Vec<VerifiedNode>,
    pub by_kind: BTreeMap<String, BTreeMap<String, usize>>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| matches!(n.verdict, Verdict::BitExact | Verdict::WithinTolerance))
    }
}

/// Re-execute cached nodes into scratch and compare with what the cache holds. `sample`
/// picks that many nodes, spread deterministically by key.
pub fn verify(study: &Study, sample: Option<usize>) -> Result<VerifyReport, EngineError> {
    let _in_use = record::use_cache(&study.store)?;
    let plan = study.plan()?;
    let mut fresh: Vec<usize> = (0..plan.nodes.len())
        .filter(|&i| plan.records[i].is_some())
        .collect();
    let not_cached = plan.nodes.len() - fresh.len();
    if let Some(k) = sample {
        fresh.sort_by_key(|&i| {
            Digest::of_tagged("sample", &plan.records[i].as_ref().expect("fresh").key.0)
        });
        fresh.truncate(k);
        fresh.sort_by_key(|&i| study.graph.order.iter().position(|&o| o == i));
    }
    let mut nodes = Vec::new();
    for i in fresh {
        let rec = plan.records[i].as_ref().expect("fresh");
        let (verdict, detail) = verify_one(study, i, rec, &plan.records)
            .unwrap_or_else(|e| (Verdict::Failed, e.to_string()));
        tracing::info!(node = %rec.node, ?verdict, "{detail}");
        nodes.push(VerifiedNode {
            node: rec.node.clone(),
            kind: rec.kind.clone(),
            verdict,
            detail,
        });
    }
    let mut by_kind: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for n in &nodes {
        let v = serde_json::to_value(n.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *by_kind
            .entry(n.kind.clone())
            .or_default()
            .entry(v)
            .or_default() += 1;
    }
    Ok(VerifyReport {
        checked: nodes.len(),
        not_cached,
        nodes,
        by_kind,
    })
}

fn verify_one(
    study: &Study,
    i: usize,
    rec: &ActionRecord,
    records: &[Option<ActionRecord>],
) -> Result<(Verdict, String), EngineError> {
    if let Some(name) = first_bad_output(&study.store, rec, Check::Rehash)? {
        let detail = match study.store.remove_action(&rec.key) {
            Ok(()) => format!(
                "output `{name}` is corrupt; its record was dropped so `basins run` recomputes it"
            ),
            Err(e) => format!("output `{name}` is corrupt; its record could not be dropped ({e})"),
        };
        return Ok((Verdict::Corrupt, detail));
    }
    let Resolution::Known {
        preimage,
        key,
        resolved,
    } = study.resolve(i, &|j| records[j].as_ref())?
    else {
        return Err(EngineError::Internal(format!(
            "the inputs of cached node `{}` are not all cached",
            rec.node
        )));
    };
    let recipe = Recipe {
        key,
        study: study.name().to_owned(),
        node: rec.node.clone(),
        preimage,
        inputs: resolved,
    };
    let inputs = match stage_inputs(&study.store, &recipe)? {
        Inputs::Ready(inputs) => inputs,
        Inputs::Corrupt { node, .. } => {
            return Ok((
                Verdict::InputCorrupt,
                format!("an input object from `{node}` is corrupt"),
            ))
        }
    };
    let scratch = verify_scratch(&study.store)?;
    let result = (|| {
        let out = scratch.join("out");
        std::fs::create_dir_all(&out).map_err(CacheError::io_err("create", &out))?;
        let log = std::fs::File::create(scratch.join("verify.log"))
            .map_err(CacheError::io_err("create", &scratch))?;
        let ran = execute_stage(
            &study.registry,
            &recipe,
            &inputs,
            &out,
            log,
            // Re-execution starts from nothing, never from a run's resumable state.
            &scratch.join("resume"),
            Runtime {
                gpu: None,
                eval_threads: None,
                progress: &|_| {},
                cancel: Arc::new(AtomicBool::new(false)),
            },
        )?;
        let metrics = match ran {
            Ran::Done(metrics) => metrics,
            Ran::Failed(message) => {
                return Err(EngineError::StageFailed {
                    node: recipe.node.clone(),
                    message,
                    log: None,
                })
            }
            Ran::Interrupted => {
                return Err(EngineError::Internal(format!(
                    "`{}` reported an interruption nobody asked for",
                    recipe.node
                )))
            }
        };
        let mut files = BTreeMap::new();
        for entry in walkdir::WalkDir::new(&out)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_file() {
                let rel = entry
                    .path()
                    .strip_prefix(&out)
                    .expect("under out")
                    .to_string_lossy()
                    .into_owned();
                files.insert(
                    rel,
                    Digest::of_bytes(
                        &std::fs::read(entry.path())
                            .map_err(CacheError::io_err("read", entry.path()))?,
                    ),
                );
            }
        }
        Ok::<_, EngineError>((files, metrics))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    let (files, metrics) = result?;
    let recorded: BTreeMap<String, Digest> = rec
        .outputs
        .iter()
        .map(|(k, v)| (k.clone(), v.digest))
        .collect();
    // A record made at another instruction-set level (or by a build that did not say) was
    // summed in another order: say what is compared, and let the kind's tolerance decide.
    let levels = match (rec.arithmetic.as_deref(), study.registry.arithmetic()) {
        (Some(then), Some(now)) if then != now => {
            format!(" (recorded at {then}, re-executed at {now})")
        }
        _ => String::new(),
    };
    if files == recorded && metrics == rec.metrics {
        return Ok((
            Verdict::BitExact,
            format!("all outputs byte-identical{levels}"),
        ));
    }
    let differing: Vec<&String> = recorded
        .keys()
        .chain(files.keys())
        .filter(|k| recorded.get(*k) != files.get(*k))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let kind = study
        .registry
        .get(&rec.kind)
        .expect("kinds checked at open");
    match kind.verify_policy() {
        VerifyPolicy::BitExact => Ok((
            Verdict::Differs,
            format!("outputs differ: {differing:?}{levels}"),
        )),
        VerifyPolicy::Tolerance { metrics: tols } => {
            for (ptr, tol) in &tols {
                let (a, b) = (
                    rec.metrics.pointer(ptr).and_then(Value::as_f64),
                    metrics.pointer(ptr).and_then(Value::as_f64),
                );
                match (a, b) {
                    (Some(a), Some(b)) if (a - b).abs() <= *tol => {}
                    _ => {
                        return Ok((
                            Verdict::Differs,
                            format!(
                                "metric {ptr}: recorded {a:?}, re-executed {b:?} (tolerance \
                                 {tol}){levels}"
                            ),
                        ))
                    }
                }
            }
            Ok((
                Verdict::WithinTolerance,
                format!("files differ ({differing:?}); metrics within tolerance{levels}"),
            ))
        }
    }
}

/// Where `verify` re-executes a node: scratch in the cache, or, on a cache this process cannot
/// write (a read-only snapshot someone wants checked), a directory in the system's temp dir:
/// verifying reads the cache and writes nothing to it.
fn verify_scratch(store: &Store) -> Result<std::path::PathBuf, EngineError> {
    match store.scratch_dir() {
        Ok(s) => Ok(s),
        Err(CacheError::Io { cause, .. })
            if crate::error::storage_refused(&cause)
                || cause.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "basins-verify.{}.{}",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).map_err(CacheError::io_err("create", &dir))?;
            Ok(dir)
        }
        Err(e) => Err(e.into()),
    }
}
