//! The read-mostly commands: status, show, verify and gc.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use basins_cache::{CacheError, Digest, Store};
use serde::Serialize;
use serde_json::Value;

use crate::exec::{execute_stage, stage_inputs, Inputs, Ran, Runtime};
use crate::key::DirtyReason;
use crate::record::{self, ActionRecord, OutputClass, Recipe};
use crate::stage::VerifyPolicy;
use crate::study::{Resolution, Status, Study};
use crate::EngineError;

#[derive(Debug, Default, Serialize)]
pub struct KindCounts {
    pub fresh: usize,
    pub run: usize,
    pub blocked: usize,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub study: String,
    pub cache: String,
    pub nodes: usize,
    pub by_kind: BTreeMap<String, KindCounts>,
    /// Failures recorded by the most recent `basins run` of this study.
    pub last_run_failures: Vec<Value>,
    /// The most recent run, if it has not finished: its nodes running now and where they are.
    pub running: Option<RunningRun>,
}

#[derive(Debug, Serialize)]
pub struct RunningRun {
    pub run_id: String,
    /// False when the process that ran it is gone (killed): the run will not finish.
    pub alive: bool,
    pub nodes: Vec<RunningNode>,
}

#[derive(Debug, Serialize)]
pub struct RunningNode {
    pub node: String,
    /// Its last `node_progress` event (`done`, `total`, values), if it reported any.
    pub progress: Option<Value>,
    /// Seconds since it started, and since its last progress, by the run log's clock.
    pub running_s: f64,
    pub updated_s: Option<f64>,
}

pub fn status(study: &Study) -> Result<StatusReport, EngineError> {
    let plan = study.plan()?;
    let mut by_kind: BTreeMap<String, KindCounts> = BTreeMap::new();
    for p in &plan.nodes {
        let c = by_kind.entry(p.kind.clone()).or_default();
        match p.status {
            Status::Fresh => c.fresh += 1,
            Status::Run | Status::Fetch => c.run += 1,
            Status::Blocked => c.blocked += 1,
        }
    }
    Ok(StatusReport {
        study: study.name().to_owned(),
        cache: study.store.root().display().to_string(),
        nodes: plan.nodes.len(),
        by_kind,
        last_run_failures: last_run_failures(study),
        running: running(study),
    })
}

/// The events of the study's most recent run log, with its run id.
fn latest_run(study: &Study) -> Option<(String, Vec<Value>)> {
    let dir = crate::paths::under(&study.store.root().join("runs"), study.name()).ok()?;
    let latest = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .max()?;
    let id = latest.file_stem()?.to_string_lossy().into_owned();
    let events = std::fs::read_to_string(latest)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    Some((id, events))
}

/// What the most recent run is doing, unless it finished.
fn running(study: &Study) -> Option<RunningRun> {
    let (run_id, events) = latest_run(study)?;
    if events.iter().any(|e| e["event"] == "run_finished") {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let ago = |e: &Value| {
        e["time_ms"]
            .as_u64()
            .map(|t| now.saturating_sub(t) as f64 / 1000.0)
    };
    let mut nodes: Vec<RunningNode> = Vec::new();
    for e in &events {
        let node = e["node"].as_str().unwrap_or("");
        match e["event"].as_str().unwrap_or("") {
            "node_started" => nodes.push(RunningNode {
                node: node.to_owned(),
                progress: None,
                running_s: ago(e).unwrap_or(0.0),
                updated_s: None,
            }),
            "node_progress" => {
                if let Some(n) = nodes.iter_mut().find(|n| n.node == node) {
                    let mut p = e.clone();
                    if let Some(o) = p.as_object_mut() {
                        for k in ["event", "node", "time_ms"] {
                            o.remove(k);
                        }
                    }
                    n.progress = Some(p);
                    n.updated_s = ago(e);
                }
            }
            "node_executed" | "node_reused" | "node_failed" | "node_interrupted" | "node_retry" => {
                nodes.retain(|n| n.node != node)
            }
            _ => {}
        }
    }
    // Run ids are `<unix ms>-<pid>`.
    let pid: Option<u64> = run_id.rsplit('-').next().and_then(|p| p.parse().ok());
    let alive = pid.is_some_and(basins_cache::process_alive);
    Some(RunningRun {
        run_id,
        alive,
        nodes,
    })
}

fn last_run_failures(study: &Study) -> Vec<Value> {
    latest_run(study)
        .map(|(_, events)| {
            events
                .into_iter()
                .filter(|v| v["event"] == "node_failed")
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Serialize)]
pub struct ShownOutput {
    pub name: String,
    pub path: String,
    pub size: u64,
    pub class: OutputClass,
}

#[derive(Debug, Serialize)]
pub struct ShowReport {
    pub node: String,
    pub kind: String,
    pub status: Status,
    pub key: Option<Digest>,
    pub reasons: Vec<DirtyReason>,
    pub outputs: Vec<ShownOutput>,
    pub metrics: Value,
    pub record: Option<ActionRecord>,
    pub log: Option<String>,
}

pub fn show(study: &Study, id: &str) -> Result<ShowReport, EngineError> {
    let i = study.node_index(id)?;
    let _in_use = record::use_cache(&study.store)?;
    let mut plan = study.plan()?;
    // What `show` hands out (paths to open) is checked like everything leaving the cache.
    if let Some(rec) = &plan.records[i] {
        if let Some(bad) = first_bad_output(&study.store, rec, Check::Memo)? {
            tracing::warn!(
                node = %rec.node,
                "output `{bad}` is corrupt or missing: its record is dropped, so `basins run` recomputes it"
            );
            study
                .store
                .remove_action(&rec.key)
                .map_err(|e| EngineError::CorruptOutput {
                    node: rec.node.clone(),
                    output: bad.clone(),
                    message: format!("its record cannot be dropped ({e})"),
                })?;
            plan = study.plan()?;
        }
    }
    let p = plan.nodes.swap_remove(i);
    let rec = plan.records.swap_remove(i);
    let outputs = rec
        .iter()
        .flat_map(|r| r.outputs.iter())
        .map(|(name, o)| ShownOutput {
            name: name.clone(),
            path: study.store.object_path(&o.digest).display().to_string(),
            size: o.size,
            class: o.class,
        })
        .collect();
    Ok(ShowReport {
        node: p.node,
        kind: p.kind,
        status: p.status,
        key: p.key,
        reasons: p.reasons,
        outputs,
        metrics: rec.as_ref().map_or(Value::Null, |r| r.metrics.clone()),
        log: rec
            .as_ref()
            .and_then(|r| r.log.as_ref())
            .map(|l| study.store.root().join(l).display().to_string()),
        record: rec,
    })
}

/// What leaving the cache found for a node's outputs.
pub enum Checked {
    /// Every output hashes to its name: (name, object path).
    Intact(Vec<(String, std::path::PathBuf)>),
    /// An output was corrupt or missing: it is quarantined and the node's record dropped, so the
    /// next run recomputes the node. Names the first bad output.
    Dropped(String),
}

/// A cached node's outputs, each checked against its digest on the way out of the cache (what
/// `basins report` copies must be what was recorded, never a flipped byte).
pub fn checked_outputs(study: &Study, id: &str) -> Result<Option<Checked>, EngineError> {
    let i = study.node_index(id)?;
    let _in_use = record::use_cache(&study.store)?;
    let mut plan = study.plan()?;
    let Some(rec) = plan.records.swap_remove(i) else {
        return Ok(None);
    };
    if let Some(bad) = first_bad_output(&study.store, &rec, Check::Memo)? {
        study.store.remove_action(&rec.key)?;
        return Ok(Some(Checked::Dropped(bad)));
    }
    let out = rec
        .outputs
        .iter()
        .map(|(name, o)| (name.clone(), study.store.object_path(&o.digest)))
        .collect();
    Ok(Some(Checked::Intact(out)))
}

/// How hard to look at an object: trust a remembered check of an untouched file, or hash it.
#[derive(Clone, Copy)]
enum Check {
    Memo,
    Rehash,
}

/// The name of a record's first output that is missing or does not hash to its digest (that
/// object is quarantined), or `None` when all are intact.
fn first_bad_output(
    store: &Store,
    rec: &ActionRecord,
    how: Check,
) -> Result<Option<String>, EngineError> {
    for (name, o) in &rec.outputs {
        let checked = match how {
            Check::Memo => store.verified_object(&o.digest),
            Check::Rehash => store.rehashed_object(&o.digest),
        };
        match checked {
            Ok(_) => {}
            Err(CacheError::Corrupt { .. }) | Err(CacheError::Missing(_)) => {
                return Ok(Some(name.clone()))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

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
    if files == recorded && metrics == rec.metrics {
        return Ok((Verdict::BitExact, "all outputs byte-identical".into()));
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
        VerifyPolicy::BitExact => Ok((Verdict::Differs, format!("outputs differ: {differing:?}"))),
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
                                "metric {ptr}: recorded {a:?}, re-executed {b:?} (tolerance {tol})"
                            ),
                        ))
                    }
                }
            }
            Ok((
                Verdict::WithinTolerance,
                format!("files differ ({differing:?}); metrics within tolerance"),
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

#[derive(Debug, Default, Serialize)]
pub struct Bytes {
    pub checkpoints: u64,
    pub results: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct GcSummary {
    pub dry_run: bool,
    pub kept_actions: usize,
    pub removed_actions: usize,
    pub removed_by_kind: BTreeMap<String, Bytes>,
    pub kept_by_kind: BTreeMap<String, Bytes>,
    /// Objects no record refers to (from interrupted runs).
    pub unreferenced_bytes: u64,
    pub temp_files: usize,
    /// Resume directories (partial downloads, a killed finetune's last checkpoint) of recipes
    /// no named study would run now; those of nodes still to run are kept, to resume.
    pub abandoned_resume_bytes: u64,
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

fn add(map: &mut BTreeMap<String, Bytes>, kind: &str, class: OutputClass, size: u64) {
    let b = map.entry(kind.to_owned()).or_default();
    match class {
        OutputClass::Checkpoint => b.checkpoints += size,
        OutputClass::Result => b.results += size,
    }
}

/// Keep what the named studies currently use (their fresh nodes); remove everything else in
/// their shared cache.
pub fn gc(studies: &[Study], dry_run: bool) -> Result<GcSummary, EngineError> {
    let store: &Store = &studies.first().ok_or(EngineError::NoManifests)?.store;
    // Taken before the live set is read: no run can publish between reading and removing.
    let exclusive = match store.exclusive(|users| {
        let who: Vec<String> = users
            .iter()
            .map(|u| format!("pid {} on {} (since {})", u.pid, u.host, u.since))
            .collect();
        tracing::warn!(
            "waiting for the processes using the cache {} to finish: {}",
            store.root().display(),
            if who.is_empty() {
                "(unregistered)".to_owned()
            } else {
                who.join(", ")
            }
        );
    }) {
        Ok(lock) => Some(lock),
        // A dry run removes nothing, so on a cache this process cannot write (where even the
        // lock file cannot be made) it counts without the lock rather than fail.
        Err(CacheError::Io { cause, path, .. })
            if dry_run
                && (crate::error::storage_refused(&cause)
                    || cause.kind() == std::io::ErrorKind::PermissionDenied) =>
        {
            tracing::warn!(
                "the cache cannot be written ({}: {cause}): a dry run counts without the gc \
                 lock, so a run publishing meanwhile may not be seen",
                path.display()
            );
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut live_actions = HashSet::new();
    let mut live_objects = HashSet::new();
    let mut wanted = HashSet::new();
    let mut summary = GcSummary {
        dry_run,
        ..Default::default()
    };
    for study in studies {
        if study.store.root() != store.root() {
            return Err(EngineError::DifferentCaches {
                first: store.root().to_owned(),
                other: study.store.root().to_owned(),
            });
        }
        let plan = study.plan()?;
        for p in &plan.nodes {
            if let (Some(k), Status::Run | Status::Fetch) = (p.key, p.status) {
                wanted.insert(k);
            }
        }
        for rec in plan.records.into_iter().flatten() {
            if live_actions.insert(rec.key) {
                for o in rec.outputs.values() {
                    if live_objects.insert(o.digest) {
                        add(&mut summary.kept_by_kind, &rec.kind, o.class, o.size);
                    }
                }
            }
        }
    }
    let mut attributed = HashSet::new();
    for key in store.action_keys() {
        if live_actions.contains(&key) {
            continue;
        }
        if let Some(rec) = record::load_record(store, &key)? {
            for o in rec.outputs.values() {
                if !live_objects.contains(&o.digest)
                    && attributed.insert(o.digest)
                    && store.has_object(&o.digest)
                {
                    add(&mut summary.removed_by_kind, &rec.kind, o.class, o.size);
                }
            }
        }
        if !dry_run {
            let _ = std::fs::remove_file(record::recipe_path(store, &key));
            let _ = std::fs::remove_file(record::log_path(store, &key));
            let _ = std::fs::remove_dir_all(crate::exec::resume_path(store, &key));
        }
    }
    let resume_root = store.root().join("resume");
    for entry in std::fs::read_dir(&resume_root)
        .into_iter()
        .flatten()
        .flatten()
    {
        let keep = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<Digest>().ok())
            .is_some_and(|k| wanted.contains(&k) || live_actions.contains(&k));
        if !keep {
            summary.abandoned_resume_bytes += dir_bytes(&entry.path());
            if !dry_run {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let report = store.gc(exclusive.as_ref(), &live_actions, &live_objects, dry_run)?;
    summary.kept_actions = live_actions.len();
    summary.removed_actions = report.actions.len();
    summary.unreferenced_bytes = report
        .objects
        .iter()
        .filter(|o| !attributed.contains(&o.digest))
        .map(|o| o.size)
        .sum();
    summary.temp_files = report.temp_files;
    Ok(summary)
}
