//! `basins bench --modes MANIFEST`: one study run twice, its paths measured by the grid
//! protocol and adaptively (`[interpolate] mode`), and compared: forward passes, the paths'
//! wall time, the largest difference between the two barriers, whether each grid value lies
//! in the adaptive interval, and whether the clusterings agree. Both runs share the cache, so
//! the models and their evaluations are computed once; only the paths differ.

use std::path::Path;

use basins_engine::ops::{self, Checked};
use basins_engine::Study;
use basins_stages::cluster::adjusted_rand;
use basins_stages::documents::{BarriersDoc, ClusterDoc};
use basins_study::manifest::{Adaptive, BarrierKind, ExecutorKind};
use basins_study::roles::{task_node, TaskNode};
use basins_study::{Manifest, OpenError};
use serde::Serialize;

use super::super::run::{options, run_study};
use super::super::Context;
use crate::command_prelude::{Progress, Slots};
use crate::error::CliError;
use crate::exit::Exit;

/// The comparison, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub study: String,
    /// The adaptive contract compared (the manifest's, or the defaults).
    pub tolerance: f64,
    pub budget: f64,
    pub tasks: Vec<TaskComparison>,
}

#[derive(Debug, Serialize)]
pub struct TaskComparison {
    pub task: String,
    /// The barrier the adaptive paths estimate (the clustering's).
    pub barrier: BarrierKind,
    /// Seconds the task's path nodes ran, summed (from their records: when a mode's paths
    /// were cached by an earlier run, that run's times).
    pub grid_path_seconds: f64,
    pub adaptive_path_seconds: f64,
    pub sets: Vec<SetComparison>,
    /// Adjusted Rand index of the two clusterings (1: identical), when the study clusters.
    pub ari: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct SetComparison {
    pub set: String,
    pub pairs: usize,
    pub grid_forward_passes: usize,
    pub adaptive_forward_passes: usize,
    /// Pairs every alpha of which saw every example (their value is the grid value).
    pub exact: usize,
    /// Estimates whose interval is within the tolerance.
    pub settled: usize,
    /// The largest |adaptive - grid| over the pairs.
    pub max_abs_difference: f64,
    /// Pairs further than the tolerance from the grid value.
    pub beyond_tolerance: usize,
    /// Of those, the ones flagged: not settled, with an interval that holds the grid value.
    pub beyond_tolerance_flagged: usize,
    /// Estimates whose interval misses the grid value (the contract's failures).
    pub interval_misses: usize,
}

pub fn exec(
    manifest: &Path,
    cx: &Context,
    slots: &Slots,
    progress: &Progress,
) -> anyhow::Result<(Exit, Option<Comparison>)> {
    let m = Manifest::load(manifest).map_err(OpenError::from)?;
    let Some(interp) = m.interpolate.as_ref() else {
        return Err(CliError::NotComparable {
            manifest: manifest.to_path_buf(),
            why: "--modes compares the two interpolation modes, and the study has no \
                  [interpolate]"
                .into(),
        }
        .into());
    };
    let contract = interp.adaptive.unwrap_or_else(|| {
        let d = basins_study::params::Contract::default();
        Adaptive {
            tolerance: d.tolerance,
            budget: d.budget,
        }
    });
    let barrier = m
        .cluster
        .as_ref()
        .map_or(BarrierKind::Convexity, |c| c.barrier);
    if barrier == BarrierKind::Accuracy {
        return Err(CliError::NotComparable {
            manifest: manifest.to_path_buf(),
            why: "[cluster] reads the accuracy barrier, which adaptive mode cannot estimate".into(),
        }
        .into());
    }
    let tasks = m.finetune.tasks.clone();
    let mut studies = Vec::new();
    for adaptive in [None, Some(contract)] {
        let mut m = m.clone();
        if let Some(i) = m.interpolate.as_mut() {
            i.adaptive = adaptive;
        }
        let study = cx.manifest_to_run(m)?;
        eprintln!(
            "{} mode: {}",
            if adaptive.is_some() {
                "adaptive"
            } else {
                "grid"
            },
            cx.cache_line(&study)
        );
        let opts = options(&study, slots, ExecutorKind::Local);
        let summary = run_study(&study, &opts, ExecutorKind::Local, false, progress)?;
        if summary.interrupted {
            return Ok((Exit::Interrupted, None));
        }
        if !summary.failed.is_empty() {
            for f in &summary.failed {
                eprintln!("failed: {}: {}", f.node, f.message);
            }
            return Ok((Exit::Failed, None));
        }
        studies.push(study);
    }
    let (grid, adaptive) = (&studies[0], &studies[1]);
    let mut out = Vec::new();
    for task in &tasks {
        let barriers = task_node(TaskNode::Barriers, task);
        if grid.node_index(&barriers).is_err() {
            continue;
        }
        let g: BarriersDoc = doc(grid, &barriers, "barriers.json")?;
        let a: BarriersDoc = doc(adaptive, &barriers, "barriers.json")?;
        let mut sets = Vec::new();
        for (name, gs) in &g.sets {
            let as_ = a.set(name)?;
            let (gm, am) = (&gs.matrices[barrier.name()], &as_.matrices[barrier.name()]);
            let mut c = SetComparison {
                set: name.clone(),
                pairs: 0,
                grid_forward_passes: 0,
                adaptive_forward_passes: 0,
                exact: 0,
                settled: 0,
                max_abs_difference: 0.0,
                beyond_tolerance: 0,
                beyond_tolerance_flagged: 0,
                interval_misses: 0,
            };
            for (pair, e) in &as_.estimates {
                let (i, j) = g.pair_index(pair)?;
                let (Some(gv), Some(av)) = (gm.value[i][j], am.value[i][j]) else {
                    anyhow::bail!("{name}: pair {pair} has no value in one of the modes");
                };
                let est = &e.estimate;
                c.pairs += 1;
                c.grid_forward_passes += est.grid_forward_passes;
                c.adaptive_forward_passes += est.forward_passes;
                c.exact += usize::from(est.exact);
                c.settled += usize::from(est.settled && !est.exact);
                let d = (av - gv).abs();
                c.max_abs_difference = c.max_abs_difference.max(d);
                // A float's last bits: the adaptive scores batch other examples together.
                let inside = est.low - 1e-6 <= gv && gv <= est.high + 1e-6;
                if d > contract.tolerance {
                    c.beyond_tolerance += 1;
                    c.beyond_tolerance_flagged += usize::from(!est.settled && inside);
                }
                c.interval_misses += usize::from(!est.exact && !inside);
            }
            sets.push(c);
        }
        let cluster = task_node(TaskNode::Cluster, task);
        let ari = match grid.node_index(&cluster) {
            Ok(_) => {
                let gc: ClusterDoc = doc(grid, &cluster, "cluster.json")?;
                let ac: ClusterDoc = doc(adaptive, &cluster, "cluster.json")?;
                Some(adjusted_rand(&gc.assignments, &ac.assignments))
            }
            Err(_) => None,
        };
        out.push(TaskComparison {
            task: task.clone(),
            barrier,
            grid_path_seconds: path_seconds(grid, task)?,
            adaptive_path_seconds: path_seconds(adaptive, task)?,
            sets,
            ari,
        });
    }
    let comparison = Comparison {
        study: grid.name().to_owned(),
        tolerance: contract.tolerance,
        budget: contract.budget,
        tasks: out,
    };
    // The comparison ran; whether the clusterings agree is its finding, not a failure.
    Ok((Exit::Ok, Some(comparison)))
}

/// A cached node's JSON document, checked on the way out of the cache.
fn doc<T: serde::de::DeserializeOwned>(study: &Study, node: &str, file: &str) -> anyhow::Result<T> {
    let outputs = match ops::checked_outputs(study, node)? {
        Some(Checked::Intact(o)) => o,
        Some(Checked::Dropped(name)) => {
            anyhow::bail!("`{node}`'s output `{name}` was corrupt; run the study again")
        }
        None => anyhow::bail!("`{node}` has not run"),
    };
    let path = outputs
        .iter()
        .find(|(n, _)| n == file)
        .map(|(_, p)| p)
        .ok_or_else(|| anyhow::anyhow!("`{node}` has no `{file}`"))?;
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{} (`{node}`'s {file}): {e}", path.display()))
}

/// Seconds the task's pair paths ran (`interpolate/<task>/a~b`; a model's own path to its final
/// weights is not one), summed over their records.
fn path_seconds(study: &Study, task: &str) -> anyhow::Result<f64> {
    let plan = study.plan()?;
    let prefix = format!("interpolate/{task}/");
    let ms: u64 = plan
        .nodes
        .iter()
        .zip(&plan.records)
        .filter(|(n, _)| n.node.starts_with(&prefix) && !n.node.ends_with("~final"))
        .filter_map(|(_, r)| r.as_ref().map(|r| r.duration_ms))
        .sum();
    Ok(ms as f64 / 1000.0)
}

/// The comparison as lines for a terminal.
pub fn print(c: &Comparison) {
    println!(
        "{}: grid protocol vs adaptive (tolerance {}, budget {})",
        c.study, c.tolerance, c.budget
    );
    for t in &c.tasks {
        println!(
            "task {}: {} barrier; path nodes ran {:.1} s (grid) and {:.1} s (adaptive); \
             clusterings {}",
            t.task,
            t.barrier.name(),
            t.grid_path_seconds,
            t.adaptive_path_seconds,
            match t.ari {
                Some(a) if a >= 1.0 - 1e-12 => "identical (ARI 1)".to_owned(),
                Some(a) => format!("differ (ARI {a:.3})"),
                None => "not computed (no [cluster])".to_owned(),
            }
        );
        for s in &t.sets {
            println!(
                "  {}: {} pairs, forward passes {} of {} ({:.1}%), {} exact, {} settled; \
                 max |adaptive - grid| {:.4}; {} beyond the tolerance ({} of them flagged with \
                 an interval holding the grid value); {} intervals miss the grid value",
                s.set,
                s.pairs,
                s.adaptive_forward_passes,
                s.grid_forward_passes,
                100.0 * s.adaptive_forward_passes as f64 / s.grid_forward_passes.max(1) as f64,
                s.exact,
                s.settled,
                s.max_abs_difference,
                s.beyond_tolerance,
                s.beyond_tolerance_flagged,
                s.interval_misses
            );
        }
    }
}
