//! `greedy_soup`: the greedy soup of a task's models (Wortsman et al., 2022): members in order
//! of their score on a held-out split (read from their evaluate nodes), best first; each added
//! to the uniform soup if the soup with it scores at least as well on that split. The split is
//! one the manifest names (`[merge] greedy`), so that the test split stays untouched. Written as
//! a checkpoint like a `merge` node's, with `greedy.json`: the order, each candidate's score
//! and whether it was kept.

use basins_engine::record::OutputClass;
use basins_engine::{StageContext, StageKind, VerifyPolicy};
use basins_study::params::GreedyParams;
use basins_study::roles;
use burn::tensor::backend::Backend;
use serde::Serialize;
use serde_json::{json, Value};

use super::{device, load_trained, Device};
use crate::eval::{CpuForward, EncodedSet, Scorer};
use crate::merge::{merge, Method};
use crate::model::{save, LoadedModel};
use basins_files::inputs::{eval_set, node_files, params, weights_apart};
use basins_files::outputs::StoredSet;

pub struct GreedySoupKind;

impl StageKind for GreedySoupKind {
    fn name(&self) -> &'static str {
        "greedy_soup"
    }
    fn version(&self) -> u32 {
        // 2: the matrix products on AVX-512 microkernels (gemm's `x86-v4`) on CPUs that have
        // them, which sum in another order than the AVX2 ones.
        2
    }
    fn uses_device(&self) -> bool {
        true
    }
    /// The choices rest on accuracies, which GPU reductions may move by an example.
    fn verify_policy(&self) -> VerifyPolicy {
        VerifyPolicy::Tolerance {
            metrics: vec![("/accuracy".into(), 1e-3)],
        }
    }
    fn output_class(&self, rel: &str) -> OutputClass {
        weights_apart(rel)
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: GreedyParams = params(ctx)?;
        match device(ctx)? {
            Device::Cpu => run_greedy::<crate::backend::Cpu>(ctx, &p, &Default::default()),
            #[cfg(feature = "cuda")]
            Device::Cuda(d) => run_greedy::<crate::backend::Cuda>(ctx, &p, &d),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(d) => run_greedy::<crate::backend::Wgpu>(ctx, &p, &d),
        }
    }
}

/// One candidate's turn.
#[derive(Debug, Serialize)]
struct Step {
    member: String,
    /// Its own score on the split (what ordered it).
    own: f64,
    /// The soup's score with it added.
    soup: f64,
    kept: bool,
}

fn run_greedy<B: Backend>(
    ctx: &StageContext,
    p: &GreedyParams,
    device: &B::Device,
) -> anyhow::Result<Value> {
    let set = &p.set.name;
    let mut order = Vec::with_capacity(p.members.len());
    for (i, m) in p.members.iter().enumerate() {
        let (node, files) = node_files(ctx, &roles::endpoint(m.seed))?;
        let s = StoredSet::read(node, files, set)?;
        anyhow::ensure!(!s.gold.is_empty(), "`{node}` scored no rows of `{set}`");
        let right = s
            .gold
            .iter()
            .zip(&s.predicted)
            .filter(|(g, q)| g == q)
            .count();
        order.push((right as f64 / s.gold.len() as f64, i));
    }
    // Best first; ties in the members' order.
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let dirs = super::merge::member_dirs(ctx, &p.members, &p.labels)?;

    let ds = eval_set(ctx, &p.set)?;
    let (first_score, first) = order[0];
    let (best, model_labels, enc) = load_trained::<B>(&dirs[first], &p.labels, device)?;
    let encoded = EncodedSet::new(&model_labels, &enc, &ds, p.batch_size)?;
    let mut kept: Vec<(usize, LoadedModel<B>)> = vec![(first, best)];
    let mut score = first_score;
    let mut steps = vec![Step {
        member: p.members[first].name.clone(),
        own: first_score,
        soup: first_score,
        kept: true,
    }];
    let total = order.len() as u64;
    ctx.progress(1, total);
    for (done, &(own, i)) in order.iter().enumerate().skip(1) {
        if ctx.cancelled() {
            anyhow::bail!("interrupted at candidate {}", p.members[i].name);
        }
        let (candidate, _, _) = load_trained::<B>(&dirs[i], &p.labels, device)?;
        let mut refs: Vec<_> = kept.iter().map(|(_, l)| &l.model).collect();
        refs.push(&candidate.model);
        let soup = uniform(&refs)?;
        let r = encoded.score(
            &Scorer::new(&soup, CpuForward::Frozen)?.on(ctx.eval_threads),
            device,
            &|_, _| {},
        )?;
        let with = r.metrics["accuracy"].as_f64().unwrap_or(f64::NAN);
        let keep = with >= score;
        ctx.log(format!(
            "{}: own {own:.4}, soup with it {with:.4} ({})",
            p.members[i].name,
            if keep { "kept" } else { "left out" }
        ));
        steps.push(Step {
            member: p.members[i].name.clone(),
            own,
            soup: with,
            kept: keep,
        });
        if keep {
            score = with;
            kept.push((i, candidate));
        }
        ctx.progress(done as u64 + 1, total);
    }
    let refs: Vec<_> = kept.iter().map(|(_, l)| &l.model).collect();
    let soup = uniform(&refs)?;
    save(
        &soup,
        &kept[0].1.config,
        &p.labels,
        Some(&dirs[kept[0].0]),
        &ctx.out_dir.join("model"),
    )?;
    let members: Vec<&str> = kept
        .iter()
        .map(|(i, _)| p.members[*i].name.as_str())
        .collect();
    let doc = json!({"set": set, "steps": steps, "members": members, "accuracy": score});
    std::fs::write(
        ctx.out_dir.join("greedy.json"),
        serde_json::to_vec_pretty(&doc)?,
    )?;
    ctx.log(format!(
        "greedy soup of {} of {} models: {}",
        members.len(),
        p.members.len(),
        members.join(", ")
    ));
    Ok(json!({"members": members, "accuracy": score, "set": set}))
}

fn uniform<B: Backend>(
    models: &[&crate::model::BertClassifier<B>],
) -> anyhow::Result<crate::model::BertClassifier<B>> {
    let n = models.len();
    Ok(merge(
        models,
        None,
        &Method::Average {
            weights: vec![1.0 / n as f64; n],
        },
    )?)
}
