//! `barriers`: barrier matrices per eval set and definition, with bootstrap confidence
//! intervals, from the evaluate nodes (the endpoints, once per model, at the set's
//! loss-surface rows) and the interpolate nodes (the interior of each path, at the same rows:
//! checked).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use basins_engine::{StageContext, StageKind};
use basins_study::manifest::BarrierKind;
use basins_study::params::BarriersParams;
use basins_study::roles;
use serde_json::{json, Value};

use super::paths::StoredEstimate;
use super::{endpoint, node_files, params, stored_path, Endpoint};
use crate::adaptive::analyse_estimated;
use crate::barriers::{Path, PathBarriers};
use crate::documents::{BarriersDoc, Curve, Matrices, PairEstimate, SetBarriers};
use crate::tensorfile::Entry;

/// Bootstrap replicates kept per pair for cluster stability (the CI uses all of them).
pub const KEPT_REPLICATES: usize = 200;

pub struct BarriersKind;

impl StageKind for BarriersKind {
    fn name(&self) -> &'static str {
        "barriers"
    }
    fn version(&self) -> u32 {
        // 2: endpoints taken at the loss-surface rows of whole-set evaluations.
        2
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: BarriersParams = params(ctx)?;
        let sets = path_sets(ctx, &p)?;
        let mut report = BTreeMap::new();
        let mut metrics = serde_json::Map::new();
        // Rows, each with whether its value is an adaptive estimate.
        let mut rows: Vec<(String, bool)> = Vec::new();
        std::fs::create_dir_all(ctx.out_dir.join("replicates"))?;
        for set in &sets {
            let ends = endpoints(ctx, &p.seeds, set)?;
            let mut results: Vec<((u64, u64), PathBarriers)> = Vec::new();
            let mut estimates = BTreeMap::new();
            for (i, &(a, b)) in p.pairs.iter().enumerate() {
                let (path, estimate) = load_path(ctx, &p.alphas, (a, b), set, &ends)?;
                let seed = u64::from_le_bytes(
                    blake3::hash(format!("{set}/{a}~{b}").as_bytes()).as_bytes()[..8]
                        .try_into()
                        .expect("8 bytes"),
                );
                let r = match &estimate {
                    None => path.analyse(p.bootstrap, seed),
                    // Every alpha saw every example: the grid's own analysis.
                    Some(e) if e.estimate.exact => path.analyse(p.bootstrap, seed),
                    Some(e) => {
                        let mut r = analyse_estimated(&path, &e.forced, p.bootstrap, seed)
                            .map_err(|err| anyhow::anyhow!("{set}: path {a}~{b}: {err}"))?;
                        // The estimated barrier's value and interval are the estimator's.
                        let k = e.barrier.index();
                        r.value[k] = e.estimate.value;
                        r.ci[k] = (e.estimate.low, e.estimate.high);
                        r
                    }
                };
                let estimated = estimate.as_ref().is_some_and(|e| !e.estimate.exact);
                for (k, kind) in BarrierKind::ALL.iter().enumerate() {
                    rows.push((
                        format!(
                            "{set},{a},{b},{},{:.6},{:.6},{:.6}",
                            kind.name(),
                            r.value[k],
                            r.ci[k].0,
                            r.ci[k].1
                        ),
                        estimated,
                    ));
                }
                if let Some(e) = estimate {
                    estimates.insert(
                        format!("{a}~{b}"),
                        PairEstimate {
                            barrier: e.barrier,
                            estimate: e.estimate,
                        },
                    );
                }
                results.push(((a, b), r));
                ctx.progress((i + 1) as u64, p.pairs.len() as u64);
            }
            write_replicates(ctx, set, &results)?;
            let (mut set_report, set_metrics) = matrices(&p.seeds, &p.alphas, &results);
            set_report.estimates = estimates;
            report.insert(set.clone(), set_report);
            metrics.insert(set.clone(), set_metrics);
        }
        // A grid study's table keeps its columns; an adaptive one says which rows estimate.
        let adaptive = report.values().any(|s| !s.estimates.is_empty());
        let mut csv = String::from("set,a,b,kind,value,ci_low,ci_high");
        csv.push_str(if adaptive { ",estimated\n" } else { "\n" });
        for (row, estimated) in rows {
            if adaptive {
                let _ = writeln!(csv, "{row},{estimated}");
            } else {
                let _ = writeln!(csv, "{row}");
            }
        }
        std::fs::write(
            ctx.out_dir.join("barriers.json"),
            serde_json::to_vec_pretty(&BarriersDoc {
                kinds: BarrierKind::ALL
                    .iter()
                    .map(|k| k.name().to_owned())
                    .collect(),
                seeds: p.seeds.clone(),
                sets: report,
            })?,
        )?;
        std::fs::write(ctx.out_dir.join("barriers.csv"), csv)?;
        Ok(json!({ "sets": metrics }))
    }
}

/// The eval sets the paths were scored on (all paths share them).
fn path_sets(ctx: &StageContext, p: &BarriersParams) -> anyhow::Result<Vec<String>> {
    let Some(&(a, b)) = p.pairs.first() else {
        anyhow::bail!("no pairs to compute barriers for");
    };
    let (_, files) = node_files(ctx, &roles::path(a, b))?;
    Ok(files
        .keys()
        .filter_map(|k| k.strip_prefix("path/")?.strip_suffix(".safetensors"))
        .map(str::to_owned)
        .collect())
}

/// Every model's endpoint on `set`, read once from its evaluate node (each model ends
/// seeds - 1 paths).
fn endpoints(
    ctx: &StageContext,
    seeds: &[u64],
    set: &str,
) -> anyhow::Result<BTreeMap<u64, Endpoint>> {
    seeds
        .iter()
        .map(|&seed| Ok((seed, endpoint(ctx, &roles::endpoint(seed), set)?)))
        .collect()
}

/// One path: the endpoints from the evaluate nodes, the interior from the interpolate node.
fn load_path(
    ctx: &StageContext,
    grid: &[f64],
    (a, b): (u64, u64),
    set: &str,
    ends: &BTreeMap<u64, Endpoint>,
) -> anyhow::Result<(Path, Option<StoredEstimate>)> {
    stored_path(ctx, &roles::path(a, b), grid, set, (&ends[&a], &ends[&b]))
}

/// Bootstrap replicates per definition as [replicate, pair] tensors, pairs in params order.
fn write_replicates(
    ctx: &StageContext,
    set: &str,
    results: &[((u64, u64), PathBarriers)],
) -> anyhow::Result<()> {
    let reps = results
        .first()
        .map_or(0, |r| r.1.replicates.len().min(KEPT_REPLICATES));
    let entries: Vec<Entry> = BarrierKind::ALL
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            let mut v = Vec::with_capacity(reps * results.len());
            for r in 0..reps {
                v.extend(results.iter().map(|(_, b)| b.replicates[r][k] as f32));
            }
            Entry::f32(kind.name(), vec![reps, results.len()], &v)
        })
        .collect();
    let pairs: Vec<(u64, u64)> = results.iter().map(|r| r.0).collect();
    crate::tensorfile::write(
        &ctx.output(&format!("replicates/{set}.safetensors"))?,
        &entries,
        Some(("pairs", serde_json::to_string(&pairs)?)),
    )?;
    Ok(())
}

/// Matrices (seed order; null where a pair was not interpolated, 0 on the diagonal) for the
/// value and interval of each definition, the curves, and summary metrics.
fn matrices(
    seeds: &[u64],
    alphas: &[f64],
    results: &[((u64, u64), PathBarriers)],
) -> (SetBarriers, Value) {
    let pos = |s: u64| {
        seeds
            .iter()
            .position(|&x| x == s)
            .expect("pair seeds are study seeds")
    };
    let n = seeds.len();
    let mut kinds = BTreeMap::new();
    let mut metrics = serde_json::Map::new();
    for (k, kind) in BarrierKind::ALL.iter().enumerate() {
        let mut value = vec![vec![None; n]; n];
        let (mut lo, mut hi) = (value.clone(), value.clone());
        for i in 0..n {
            for m in [&mut value, &mut lo, &mut hi] {
                m[i][i] = Some(0.0);
            }
        }
        let mut all = Vec::new();
        for ((a, b), r) in results {
            let (i, j) = (pos(*a), pos(*b));
            for (m, v) in [
                (&mut value, r.value[k]),
                (&mut lo, r.ci[k].0),
                (&mut hi, r.ci[k].1),
            ] {
                // Not a number is written as null, and read as missing.
                let v = Some(v).filter(|v| v.is_finite());
                m[i][j] = v;
                m[j][i] = v;
            }
            all.push(r.value[k]);
        }
        kinds.insert(
            kind.name().to_owned(),
            Matrices {
                ci_high: hi,
                ci_low: lo,
                value,
            },
        );
        metrics.insert(
            kind.name().to_owned(),
            json!({
                "mean": all.iter().sum::<f64>() / all.len().max(1) as f64,
                "max": all.iter().copied().fold(0.0, f64::max),
            }),
        );
    }
    let curves = results
        .iter()
        .map(|((a, b), r)| {
            let curve = Curve {
                accuracy: r.accuracy.clone(),
                loss: r.loss.clone(),
            };
            (format!("{a}~{b}"), curve)
        })
        .collect();
    let mut grid = crate::interpolate::interior(alphas);
    grid.extend([0.0, 1.0]);
    grid.sort_by(f64::total_cmp);
    (
        SetBarriers {
            alphas: grid,
            curves,
            matrices: kinds,
            estimates: BTreeMap::new(),
        },
        Value::Object(metrics),
    )
}
