//! `basins status`: counts of fresh, to-run and blocked nodes per kind, the running run, and
//! the last run's failures.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::study::{Status, Study};
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
