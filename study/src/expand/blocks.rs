//! Where the barrier is: `[interpolate] blocks` and `align`, at the final weights, on the
//! clustering's set (the first loss-surface set without a `[cluster]`).
//!
//! - `interpolate/<task>/<a>~<b>/blocks` (`interpolate_blocks`): for each block, the path on
//!   which only that block moves from A to B (and, with `hold = "both"`, from B to A inside B);
//! - `blocks/<task>`: each block's barrier matrix, its medians within and between basins, and
//!   the basins its matrix alone gives;
//! - `align/<task>/<a>~<b>`: B's units permuted to match A's (a checkpoint of its own);
//! - `interpolate/<task>/<a>~<b>/aligned`: the path from A to the aligned B, its end scored
//!   too (no evaluate node scores the aligned model);
//! - `aligned/<task>`: every pair's barrier before and after alignment, the permutations'
//!   identity shares, and whether the basins survive.

use basins_engine::node::{Node, Source};

use super::{
    clustered_set, evaluate_id, finetuned, pairs, with_eval_inputs, BarrierKind, Checkpoint,
    EvalSet, Manifest,
};
use crate::params::{
    to_value, AlignParams, AlignedBarriersParams, BlockBarriersParams, BlockPathParams,
    InterpolateParams,
};
use crate::roles::{self, task_node, TaskNode};

/// Weight matching's cap on passes over the permutation groups (Git Re-Basin's default is
/// 100; a pair of demo models settles in a few).
const ALIGN_PASSES: usize = 100;
/// The seed of the group order in each pass.
const ALIGN_SEED: u64 = 0;

/// The block and aligned paths of `task`, and the nodes that read them. `cluster`: the final
/// clustering's node, when the study clusters.
pub(super) fn expand(
    m: &Manifest,
    task: &str,
    surface: &[(EvalSet, Source)],
    cluster: Option<&str>,
    nodes: &mut Vec<Node>,
) {
    let Some(interp) = m.interpolate.as_ref() else {
        return;
    };
    if interp.blocks.is_none() && interp.align.is_none() {
        return;
    }
    let name = m
        .cluster
        .as_ref()
        .and_then(|c| clustered_set(c, surface))
        .or_else(|| surface.first().map(|s| s.0.name()));
    let Some(set) = name.and_then(|n| surface.iter().find(|(e, _)| e.name() == n)) else {
        return;
    };
    let set = std::slice::from_ref(set);
    let t = &m.tasks[task];
    let evals = super::eval_params(m, set);
    let pairs = pairs(&interp.pairs, &m.finetune.seeds);
    let barrier = m
        .cluster
        .as_ref()
        .map_or(BarrierKind::Convexity, |c| c.barrier);
    let clustering = m.cluster.as_ref().map(Into::into);
    let member = |s| m.finetune.member_name(s);
    let summary = |mut n: Node| {
        for &seed in &m.finetune.seeds {
            n = n.input(
                roles::endpoint(seed),
                Source::Node(evaluate_id(m, task, seed, Checkpoint::Final)),
            );
        }
        n = n.input(
            "barriers",
            Source::Node(task_node(TaskNode::Barriers, task)),
        );
        if let Some(c) = cluster {
            n = n.input("cluster", Source::Node(c.to_owned()));
        }
        n
    };
    if let Some(b) = &interp.blocks {
        let params = to_value(&BlockPathParams {
            alphas: interp.alphas.0.clone(),
            eval_sets: evals.clone(),
            batch_size: interp.batch_size as usize,
            labels: t.data.labels.clone(),
            blocks: b.blocks.clone(),
            hold: b.hold.clone(),
        });
        let mut summary_node = summary(Node::new(
            task_node(TaskNode::Blocks, task),
            "blocks",
            to_value(&BlockBarriersParams {
                set: set[0].0.name(),
                alphas: interp.alphas.0.clone(),
                pairs: pairs.clone(),
                seeds: m.finetune.seeds.clone(),
                hold: b.hold.clone(),
                barrier,
                clustering: clustering.clone(),
            }),
        ));
        for &(a, b) in &pairs {
            let id = format!("interpolate/{task}/{}~{}/blocks", member(a), member(b));
            let n = Node::new(id.clone(), "interpolate_blocks", params.clone())
                .input("model_a", finetuned(m, task, a))
                .input("model_b", finetuned(m, task, b));
            nodes.push(with_eval_inputs(n, set));
            summary_node = summary_node.input(roles::block_path(a, b), Source::Node(id));
        }
        nodes.push(summary_node);
    }
    if let Some(method) = interp.align {
        let align = to_value(&AlignParams {
            method,
            labels: t.data.labels.clone(),
            max_passes: ALIGN_PASSES,
            seed: ALIGN_SEED,
        });
        let path = to_value(&InterpolateParams {
            alphas: interp.alphas.0.clone(),
            eval_sets: evals,
            batch_size: interp.batch_size as usize,
            labels: t.data.labels.clone(),
            checkpoint: None,
            to_final: false,
            adaptive: None,
            scores_end: true,
        });
        let mut summary_node = summary(Node::new(
            task_node(TaskNode::Aligned, task),
            "aligned",
            to_value(&AlignedBarriersParams {
                set: set[0].0.name(),
                alphas: interp.alphas.0.clone(),
                pairs: pairs.clone(),
                seeds: m.finetune.seeds.clone(),
                barrier,
                clustering,
            }),
        ));
        for &(a, b) in &pairs {
            let align_id = format!("align/{task}/{}~{}", member(a), member(b));
            nodes.push(
                Node::new(align_id.clone(), "align", align.clone())
                    .input("model_a", finetuned(m, task, a))
                    .input("model_b", finetuned(m, task, b)),
            );
            let id = format!("interpolate/{task}/{}~{}/aligned", member(a), member(b));
            let n = Node::new(id.clone(), "interpolate", path.clone())
                .input("model_a", finetuned(m, task, a))
                .input("model_b", Source::Node(align_id.clone()));
            nodes.push(with_eval_inputs(n, set));
            summary_node = summary_node
                .input(roles::alignment(a, b), Source::Node(align_id))
                .input(roles::aligned_path(a, b), Source::Node(id));
        }
        nodes.push(summary_node);
    }
}
