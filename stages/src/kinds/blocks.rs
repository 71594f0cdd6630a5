//! Where the barrier is, from stored outputs (no forward pass here):
//!
//! - `blocks`: each block's barrier for every pair (the path on which only that block moves,
//!   from the `interpolate_blocks` nodes), each block's medians within and between the final
//!   basins, its share of the whole path's barrier between basins, and the adjusted Rand index
//!   of the basins its matrix alone gives;
//! - `aligned`: every pair's barrier before alignment (`barriers/<task>`) and after (the path
//!   to B aligned to A), the permutations' identity shares, the aligned end's loss against B's
//!   own (rounding only, or the permutation was not function-preserving), and the basins of the
//!   aligned matrix against the final ones.
//!
//! Each barrier is the value on the full sample under the clustering's definition; the
//! matrices are clustered with the clustering's method and its number of basins.

use std::collections::BTreeMap;

use basins_engine::{StageContext, StageKind};
use basins_study::manifest::blocks::Hold;
use basins_study::manifest::BarrierKind;
use basins_study::params::{AlignedBarriersParams, BlockBarriersParams, Clustering};
use basins_study::roles;
use serde_json::{json, Value};

use super::cluster::Settings;
use super::paths::path_to_own_end;
use super::{endpoint, node_doc, node_files, params, Endpoint};
use crate::cluster::{adjusted_rand, Square};
use crate::documents::{
    to_bytes, AlignedBasins, AlignedDoc, AlignedPair, BarriersDoc, BlockPair, BlockSummary,
    BlocksDoc, ClusterDoc, MatrixSummary,
};

/// Every seed's endpoint on `set`.
fn endpoints(
    ctx: &StageContext,
    seeds: &[u64],
    set: &str,
) -> anyhow::Result<BTreeMap<u64, Endpoint>> {
    seeds
        .iter()
        .map(|&s| Ok((s, endpoint(ctx, &roles::endpoint(s), set)?)))
        .collect()
}

/// The final basins (seed order) when the node has a clustering input.
fn basins(ctx: &StageContext, seeds: &[u64]) -> anyhow::Result<Option<ClusterDoc>> {
    if ctx.input("cluster").is_err() {
        return Ok(None);
    }
    let c: ClusterDoc = node_doc(ctx, "cluster", "cluster.json")?;
    anyhow::ensure!(
        c.seeds == seeds,
        "cluster.json lists seeds {:?}, this node {seeds:?}",
        c.seeds
    );
    Ok(Some(c))
}

/// The whole paths' barrier for every pair, from `barriers/<task>`.
fn whole(
    ctx: &StageContext,
    set: &str,
    barrier: BarrierKind,
    seeds: &[u64],
    pairs: &[(u64, u64)],
) -> anyhow::Result<Vec<Option<f64>>> {
    let doc: BarriersDoc = node_doc(ctx, "barriers", "barriers.json")?;
    let m = doc.matrices(set, barrier)?;
    pairs
        .iter()
        .map(|&(a, b)| {
            let (i, j) = (pos(seeds, a)?, pos(seeds, b)?);
            Ok(m.value[i][j])
        })
        .collect()
}

fn pos(seeds: &[u64], s: u64) -> anyhow::Result<usize> {
    seeds
        .iter()
        .position(|&x| x == s)
        .ok_or_else(|| anyhow::anyhow!("seed {s} is not among the study's seeds {seeds:?}"))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(crate::barriers::percentile(&v, 0.5))
}

/// A matrix's pairs summarised against the basins, and clustered alone when it is whole.
fn summarise(
    seeds: &[u64],
    values: &[((u64, u64), Option<f64>)],
    cluster: Option<(&ClusterDoc, &Clustering)>,
) -> anyhow::Result<MatrixSummary> {
    let basin = |s: u64| -> Option<usize> {
        let (c, _) = cluster?;
        pos(seeds, s).ok().map(|i| c.assignments[i])
    };
    let (mut within, mut between, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for &((a, b), v) in values {
        let Some(v) = v.filter(|v| v.is_finite()) else {
            continue;
        };
        all.push(v);
        match (basin(a), basin(b)) {
            (Some(x), Some(y)) if x == y => within.push(v),
            (Some(_), Some(_)) => between.push(v),
            _ => {}
        }
    }
    let ari = match cluster {
        Some((c, settings)) => square(seeds, values).map_or(Ok(None), |m| {
            let (delta, _) = settings.delta_for(&m)?;
            let labels = settings.assign(&m, Some(c.k), delta);
            anyhow::Ok(Some(adjusted_rand(&labels, &c.assignments)))
        })?,
        None => None,
    };
    Ok(MatrixSummary {
        ari,
        between: median(between),
        max: all.iter().copied().reduce(f64::max),
        median: median(all),
        within: median(within),
    })
}

/// The symmetric matrix of `values` (mean of both orders where a pair has two), or `None`
/// when a pair is missing or not a number: a matrix with holes is not clustered.
fn square(seeds: &[u64], values: &[((u64, u64), Option<f64>)]) -> Option<Square> {
    let n = seeds.len();
    let mut sum = vec![vec![0.0; n]; n];
    let mut count = vec![vec![0usize; n]; n];
    for &((a, b), v) in values {
        let v = v.filter(|v| v.is_finite())?;
        let (i, j) = (pos(seeds, a).ok()?, pos(seeds, b).ok()?);
        for (x, y) in [(i, j), (j, i)] {
            sum[x][y] += v;
            count[x][y] += 1;
        }
    }
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| match (i == j, count[i][j]) {
                    (true, _) => Some(0.0),
                    (false, 0) => None,
                    (false, c) => Some(sum[i][j] / c as f64),
                })
                .collect()
        })
        .collect()
}

fn same_basin(c: Option<&ClusterDoc>, seeds: &[u64], (a, b): (u64, u64)) -> Option<bool> {
    let c = c?;
    Some(c.assignments[pos(seeds, a).ok()?] == c.assignments[pos(seeds, b).ok()?])
}

pub struct BlocksKind;

impl StageKind for BlocksKind {
    fn name(&self) -> &'static str {
        "blocks"
    }
    fn version(&self) -> u32 {
        1
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: BlockBarriersParams = params(ctx)?;
        let ends = endpoints(ctx, &p.seeds, &p.set)?;
        let cluster = basins(ctx, &p.seeds)?;
        let clustered = cluster.as_ref().zip(p.clustering.as_ref());
        let whole = whole(ctx, &p.set, p.barrier, &p.seeds, &p.pairs)?;
        let k = p.barrier.index();
        let mut blocks: Option<Vec<String>> = None;
        let mut forward_passes = 0u64;
        let mut pairs = Vec::new();
        for (i, (&(a, b), &w)) in p.pairs.iter().zip(&whole).enumerate() {
            let role = roles::block_path(a, b);
            let (node, _) = node_files(ctx, &role)?;
            let node = node.to_owned();
            let meta: Value = node_doc(ctx, &role, "blocks.json")?;
            let names: Vec<String> = serde_json::from_value(meta["blocks"].clone())
                .map_err(|e| anyhow::anyhow!("`{node}`: blocks.json has no block list: {e}"))?;
            forward_passes += meta["forward_passes"].as_u64().unwrap_or(0);
            match &blocks {
                None => blocks = Some(names.clone()),
                Some(first) => anyhow::ensure!(
                    *first == names,
                    "`{node}` moved blocks {names:?}, the first pair {first:?}: the pairs' \
                     models differ in depth"
                ),
            }
            let mut by_hold = BTreeMap::new();
            for hold in &p.hold {
                let start = match hold {
                    Hold::A => &ends[&a],
                    Hold::B => &ends[&b],
                };
                let values = names
                    .iter()
                    .map(|block| {
                        let key = format!("path/{}/{block}/{}.safetensors", hold.name(), p.set);
                        let path = path_to_own_end(ctx, &role, &key, &p.alphas, start)?;
                        let all: Vec<usize> = (0..path.examples()).collect();
                        Ok(Some(path.barriers_over(&all)[k]).filter(|v| v.is_finite()))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                by_hold.insert(hold.name().to_owned(), values);
            }
            pairs.push(BlockPair {
                a,
                b,
                blocks: by_hold,
                same_basin: same_basin(cluster.as_ref(), &p.seeds, (a, b)),
                whole: w,
            });
            ctx.progress((i + 1) as u64, p.pairs.len() as u64);
        }
        let blocks = blocks.unwrap_or_default();
        let whole_values: Vec<((u64, u64), Option<f64>)> =
            p.pairs.iter().copied().zip(whole.iter().copied()).collect();
        let mut summaries = Vec::new();
        for hold in &p.hold {
            for (bi, block) in blocks.iter().enumerate() {
                let values: Vec<((u64, u64), Option<f64>)> = pairs
                    .iter()
                    .map(|r| ((r.a, r.b), r.blocks[hold.name()][bi]))
                    .collect();
                let shares: Vec<f64> = pairs
                    .iter()
                    .filter(|r| r.same_basin == Some(false))
                    .filter_map(|r| {
                        Some(r.blocks[hold.name()][bi]? / r.whole.filter(|w| *w > 0.0)?)
                    })
                    .collect();
                summaries.push(BlockSummary {
                    block: block.clone(),
                    hold: *hold,
                    share_between: median(shares),
                    summary: summarise(&p.seeds, &values, clustered)?,
                });
            }
        }
        let whole = summarise(&p.seeds, &whole_values, clustered)?;
        for s in &summaries {
            ctx.log(format!(
                "{} (held at {}): median within {:?}, between {:?}, ARI {:?}",
                s.block,
                s.hold.name(),
                s.summary.within,
                s.summary.between,
                s.summary.ari
            ));
        }
        let doc = BlocksDoc {
            alphas: p.alphas.clone(),
            barrier: p.barrier.name().to_owned(),
            basins: cluster.as_ref().map(|c| c.assignments.clone()),
            blocks: blocks.clone(),
            forward_passes,
            holds: p.hold.clone(),
            pairs,
            seeds: p.seeds.clone(),
            set: p.set.clone(),
            summaries: summaries.clone(),
            whole,
        };
        std::fs::write(ctx.out_dir.join("blocks.json"), to_bytes(&doc)?)?;
        Ok(json!({
            "blocks": blocks,
            "forward_passes": forward_passes,
            "between": summaries.iter().map(|s| s.summary.between).collect::<Vec<_>>(),
        }))
    }
}

pub struct AlignedKind;

impl StageKind for AlignedKind {
    fn name(&self) -> &'static str {
        "aligned"
    }
    fn version(&self) -> u32 {
        1
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: AlignedBarriersParams = params(ctx)?;
        let ends = endpoints(ctx, &p.seeds, &p.set)?;
        let cluster = basins(ctx, &p.seeds)?;
        let clustered = cluster.as_ref().zip(p.clustering.as_ref());
        let before = whole(ctx, &p.set, p.barrier, &p.seeds, &p.pairs)?;
        let k = p.barrier.index();
        let key = format!("path/{}.safetensors", p.set);
        let mut pairs = Vec::new();
        for (i, (&(a, b), &before)) in p.pairs.iter().zip(&before).enumerate() {
            let path =
                path_to_own_end(ctx, &roles::aligned_path(a, b), &key, &p.alphas, &ends[&a])?;
            let all: Vec<usize> = (0..path.examples()).collect();
            let after = Some(path.barriers_over(&all)[k]).filter(|v| v.is_finite());
            // The aligned B is B with its units reordered: its losses are B's up to rounding.
            let last = path
                .alphas
                .iter()
                .position(|&x| x == 1.0)
                .expect("the path scored its end");
            let end_loss_change = path.loss[last]
                .iter()
                .zip(&ends[&b].loss)
                .map(|(x, y)| f64::from((x - y).abs()))
                .fold(0.0, f64::max);
            let m: Value = node_doc(ctx, &roles::alignment(a, b), "matching.json")?;
            let matching = &m["matching"];
            let num = |v: &Value, what: &str| {
                v.as_f64()
                    .ok_or_else(|| anyhow::anyhow!("matching.json of {a}~{b}: no `{what}`"))
            };
            pairs.push(AlignedPair {
                a,
                after,
                b,
                before,
                distance: [
                    num(&matching["distance_before"], "distance_before")?,
                    num(&matching["distance_after"], "distance_after")?,
                ],
                end_loss_change,
                identity: serde_json::from_value(m["identity"].clone())
                    .map_err(|e| anyhow::anyhow!("matching.json of {a}~{b}: identity: {e}"))?,
                passes: matching["iterations"].as_u64().unwrap_or(0) as usize,
                converged: matching["converged"].as_bool().unwrap_or(false),
                same_basin: same_basin(cluster.as_ref(), &p.seeds, (a, b)),
            });
            ctx.progress((i + 1) as u64, p.pairs.len() as u64);
        }
        let values = |after: bool| -> Vec<((u64, u64), Option<f64>)> {
            pairs
                .iter()
                .map(|r| ((r.a, r.b), if after { r.after } else { r.before }))
                .collect()
        };
        let clustered_after = match clustered {
            Some((c, settings)) => square(&p.seeds, &values(true))
                .map(|m| -> anyhow::Result<AlignedBasins> {
                    let (delta, _) = settings.delta_for(&m)?;
                    let assignments = settings.assign(&m, Some(c.k), delta);
                    Ok(AlignedBasins {
                        ari: adjusted_rand(&assignments, &c.assignments),
                        k: assignments.iter().max().map_or(0, |m| m + 1),
                        assignments,
                    })
                })
                .transpose()?,
            None => None,
        };
        // Summed, then divided once: a share of 1 everywhere stays exactly 1.
        let mut identity: BTreeMap<String, f64> = BTreeMap::new();
        for r in &pairs {
            for (kind, v) in &r.identity {
                *identity.entry(kind.clone()).or_default() += v;
            }
        }
        for v in identity.values_mut() {
            *v /= pairs.len().max(1) as f64;
        }
        let end_loss_change = pairs.iter().map(|r| r.end_loss_change).fold(0.0, f64::max);
        let doc = AlignedDoc {
            after: summarise(&p.seeds, &values(true), clustered)?,
            alphas: p.alphas.clone(),
            barrier: p.barrier.name().to_owned(),
            basins: cluster.as_ref().map(|c| c.assignments.clone()),
            before: summarise(&p.seeds, &values(false), clustered)?,
            clustered: clustered_after,
            identity,
            end_loss_change,
            pairs,
            seeds: p.seeds.clone(),
            set: p.set.clone(),
        };
        ctx.log(format!(
            "median barrier {:?} before alignment, {:?} after; between basins {:?} -> {:?}; \
             largest end loss change {end_loss_change:e}",
            doc.before.median, doc.after.median, doc.before.between, doc.after.between
        ));
        std::fs::write(ctx.out_dir.join("aligned.json"), to_bytes(&doc)?)?;
        Ok(json!({
            "median_before": doc.before.median,
            "median_after": doc.after.median,
            "end_loss_change": end_loss_change,
            "ari_after": doc.clustered.as_ref().map(|c| c.ari),
        }))
    }
}
