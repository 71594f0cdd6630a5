//! `interpolate`: one pair of finetuned models, evaluated at every alpha of the grid strictly
//! between the endpoints (alpha 0 and 1 are the models themselves, already evaluated once each
//! by their `evaluate` nodes, never again per pair). Per-example losses and correctness are
//! kept so that barrier confidence intervals need no further forward passes. Each set is
//! scored on its loss-surface rows only (recorded in the output's metadata, so the barriers can
//! check that the endpoints were taken at the same rows).
//!
//! `interpolate_blocks` ([`InterpolateBlocksKind`]) scores each block's own path between a pair
//! (only that block moves), with the same scoring.
//!
//! [`open_path`] loads the same two models and sets for an adaptive path
//! (`interpolate_adaptive`, in `basins-stages`), which scores a few examples at one alpha at a
//! time as its estimator asks.

use basins_engine::stage::Interrupted;
use basins_engine::{StageContext, StageKind, VerifyPolicy};
use burn::tensor::backend::Backend;
use serde_json::{json, Value};

use super::{device, load_trained, Device};
use crate::eval::{CpuForward, EncodedSet, Scorer};
use crate::interpolate::{lerp, lerp_blocks, same_shapes};
use basins_files::inputs::{eval_set, model_dir_at, params, surface_rows};
use basins_files::tensorfile::Entry;
use basins_study::manifest::blocks::Hold;
use basins_study::params::{BlockPathParams, EvalSetParams, InterpolateParams};

pub struct InterpolateKind;

impl StageKind for InterpolateKind {
    fn name(&self) -> &'static str {
        "interpolate"
    }
    fn version(&self) -> u32 {
        // 3: the CPU forward pass is `FrozenBert` (packed tokens, vectorised kernels).
        // 4: the loss-surface selection (filter, numpy-order shuffle, first n) per set.
        // 5: subnormal floats flushed to zero (`backend::flush_subnormals`).
        // 6: the matrix products on AVX-512 microkernels (gemm's `x86-v4`) on CPUs that have
        // them, which sum in another order than the AVX2 ones.
        6
    }
    fn uses_device(&self) -> bool {
        true
    }
    fn verify_policy(&self) -> VerifyPolicy {
        VerifyPolicy::Tolerance {
            metrics: vec![("/loss_max".into(), 1e-4)],
        }
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: InterpolateParams = params(ctx)?;
        anyhow::ensure!(
            p.adaptive.is_none(),
            "an adaptive path's params reached the grid `interpolate` kind; adaptive paths are \
             `interpolate_adaptive` nodes"
        );
        match device(ctx)? {
            Device::Cpu => run::<crate::backend::Cpu>(ctx, &p, &Default::default()),
            #[cfg(feature = "cuda")]
            Device::Cuda(d) => run::<crate::backend::Cuda>(ctx, &p, &d),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(d) => run::<crate::backend::Wgpu>(ctx, &p, &d),
        }
    }
}

/// A path's two models (checked to be of one architecture and label set) and its eval sets,
/// each tokenised once at its loss-surface rows.
struct Ends<'p, B: Backend> {
    a: crate::model::BertClassifier<B>,
    b: crate::model::BertClassifier<B>,
    sets: Vec<(&'p EvalSetParams, EncodedSet, Vec<usize>)>,
    /// Encoder layers (the blocks a block path may move).
    layers: usize,
}

fn open_ends<'p, B: Backend>(
    ctx: &StageContext,
    p: &'p InterpolateParams,
    device: &B::Device,
) -> anyhow::Result<Ends<'p, B>> {
    let at = p.checkpoint.as_deref();
    let (dir_a, dir_b) = (
        model_dir_at(ctx, "model_a", at)?,
        model_dir_at(ctx, "model_b", if p.to_final { None } else { at })?,
    );
    let (a, labels, enc) = load_trained::<B>(&dir_a, &p.labels, device)?;
    let (b, labels_b, _) = load_trained::<B>(&dir_b, &p.labels, device)?;
    anyhow::ensure!(
        labels == labels_b && same_shapes(&a.model, &b.model),
        "{} and {} differ in architecture or labels: there is no straight path between them",
        dir_a.display(),
        dir_b.display()
    );
    // Each set is tokenised once and scored at every alpha.
    let sets = p
        .eval_sets
        .iter()
        .map(|s| {
            let ds = eval_set(ctx, s)?;
            let rows = surface_rows(s, &ds)?;
            let encoded = EncodedSet::new(&labels, &enc, &ds.rows(&rows), p.batch_size)?;
            Ok((s, encoded, rows))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Ends {
        layers: a.config.num_hidden_layers,
        a: a.model,
        b: b.model,
        sets,
    })
}

fn run<B: Backend>(
    ctx: &StageContext,
    p: &InterpolateParams,
    device: &B::Device,
) -> anyhow::Result<Value> {
    let Ends { a, b, sets, .. } = open_ends::<B>(ctx, p, device)?;
    let mut alphas = crate::interpolate::interior(&p.alphas);
    if p.scores_end {
        // Model b is scored by no evaluate node (B aligned to A): its end is part of the path.
        alphas.push(1.0);
    }
    let total: usize = alphas.len() * sets.iter().map(|(_, d, _)| d.len()).sum::<usize>();
    let mut done = 0u64;
    let (metrics, loss_max) = score_path(
        ctx,
        &sets,
        &alphas,
        &|alpha| lerp(&a, &b, alpha),
        "path",
        device,
        (&mut done, total as u64),
    )?;
    Ok(json!({"sets": metrics, "forward_passes": total, "loss_max": loss_max}))
}

/// Score every set at each of `alphas` on the model `at(alpha)`, and write each set's
/// per-example losses and correctness as `<prefix>/<set>.safetensors` (one row per alpha, the
/// alphas and the rows scored in its metadata). Returns each set's curves and the highest mean
/// loss. `progress`: examples scored so far, of how many in all.
fn score_path<B: Backend>(
    ctx: &StageContext,
    sets: &[(&EvalSetParams, EncodedSet, Vec<usize>)],
    alphas: &[f64],
    at: &dyn Fn(f64) -> crate::model::BertClassifier<B>,
    prefix: &str,
    device: &B::Device,
    (done, total): (&mut u64, u64),
) -> anyhow::Result<(serde_json::Map<String, Value>, f64)> {
    let out = ctx.out_dir.join(prefix);
    std::fs::create_dir_all(&out)?;
    // Per set: mean loss and accuracy at each alpha.
    let mut curves: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); sets.len()];
    let mut per_set: Vec<(Vec<f32>, Vec<usize>)> = vec![(Vec::new(), Vec::new()); sets.len()];
    for (i, &alpha) in alphas.iter().enumerate() {
        if ctx.cancelled() {
            return Err(Interrupted::at(format!("{prefix}: alpha {alpha}")));
        }
        let scorer = Scorer::new(&at(alpha), CpuForward::Frozen)?.on(ctx.eval_threads);
        for (k, (_, set, _)) in sets.iter().enumerate() {
            let r = set.score(&scorer, device, &|_, _| {})?;
            let correct: Vec<usize> = r
                .gold
                .iter()
                .zip(&r.predicted)
                .map(|(g, q)| usize::from(g == q))
                .collect();
            per_set[k].0.extend_from_slice(&r.losses);
            per_set[k].1.extend(correct);
            curves[k]
                .0
                .push(r.metrics["loss"].as_f64().unwrap_or(f64::NAN));
            curves[k]
                .1
                .push(r.metrics["accuracy"].as_f64().unwrap_or(f64::NAN));
            *done += set.len() as u64;
            // Examples scored of all; beside it which point of the path this is.
            ctx.progress_with(*done, total, &[("alpha", alpha), ("point", (i + 1) as f64)]);
        }
    }
    let mut metrics = serde_json::Map::new();
    for (k, (set, encoded, rows)) in sets.iter().enumerate() {
        let n = encoded.len();
        let (losses, correct) = &per_set[k];
        basins_files::tensorfile::write(
            &out.join(format!("{}.safetensors", set.name)),
            &[
                Entry::f32("loss", vec![alphas.len(), n], losses),
                Entry::i64("correct", vec![alphas.len(), n], correct),
            ],
            // One metadata entry (see `tensorfile::write`): the grid and the rows scored.
            Some(("path", json!({"alphas": alphas, "rows": rows}).to_string())),
        )?;
        let (loss, acc) = &curves[k];
        metrics.insert(
            set.name.clone(),
            json!({"alphas": alphas, "loss": loss, "accuracy": acc, "examples": n}),
        );
    }
    let loss_max = curves
        .iter()
        .flat_map(|c| c.0.iter().copied())
        .fold(f64::NEG_INFINITY, f64::max);
    Ok((metrics, loss_max))
}

/// `interpolate_blocks`: for one pair, each block's own path (only that block moves; the rest
/// is held at model a, and with `hold` b also at model b, the block then moving from b to a).
/// Every interior alpha and alpha 1 (a model made of both, which nothing else scores) on the
/// clustering's set, written as `path/<hold>/<block>/<set>.safetensors`.
pub struct InterpolateBlocksKind;

impl StageKind for InterpolateBlocksKind {
    fn name(&self) -> &'static str {
        "interpolate_blocks"
    }
    fn version(&self) -> u32 {
        // 2: the matrix products on AVX-512 microkernels (gemm's `x86-v4`) on CPUs that have
        // them, which sum in another order than the AVX2 ones.
        2
    }
    fn uses_device(&self) -> bool {
        true
    }
    fn verify_policy(&self) -> VerifyPolicy {
        VerifyPolicy::Tolerance {
            metrics: vec![("/loss_max".into(), 1e-4)],
        }
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: BlockPathParams = params(ctx)?;
        match device(ctx)? {
            Device::Cpu => run_blocks::<crate::backend::Cpu>(ctx, &p, &Default::default()),
            #[cfg(feature = "cuda")]
            Device::Cuda(d) => run_blocks::<crate::backend::Cuda>(ctx, &p, &d),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(d) => run_blocks::<crate::backend::Wgpu>(ctx, &p, &d),
        }
    }
}

fn run_blocks<B: Backend>(
    ctx: &StageContext,
    p: &BlockPathParams,
    device: &B::Device,
) -> anyhow::Result<Value> {
    let path = InterpolateParams {
        alphas: p.alphas.clone(),
        eval_sets: p.eval_sets.clone(),
        batch_size: p.batch_size,
        labels: p.labels.clone(),
        checkpoint: None,
        to_final: false,
        adaptive: None,
        scores_end: true,
    };
    let ends = open_ends::<B>(ctx, &path, device)?;
    let blocks = p
        .blocks
        .of(ends.layers as u32)
        .map_err(|m| anyhow::anyhow!("[interpolate] blocks: {m}"))?;
    let mut alphas = crate::interpolate::interior(&p.alphas);
    alphas.push(1.0);
    let examples: usize = ends.sets.iter().map(|(_, d, _)| d.len()).sum();
    let total = (p.hold.len() * blocks.len() * alphas.len() * examples) as u64;
    let mut done = 0u64;
    let mut metrics = serde_json::Map::new();
    let mut loss_max = f64::NEG_INFINITY;
    for hold in &p.hold {
        let (from, to) = match hold {
            Hold::A => (&ends.a, &ends.b),
            Hold::B => (&ends.b, &ends.a),
        };
        for block in &blocks {
            let name = block.name();
            let moving = |param: &str| crate::interpolate::block_of(param) == name;
            let (m, max) = score_path(
                ctx,
                &ends.sets,
                &alphas,
                &|alpha| lerp_blocks(from, to, alpha, &moving),
                &format!("path/{}/{name}", hold.name()),
                device,
                (&mut done, total),
            )?;
            loss_max = loss_max.max(max);
            metrics.insert(format!("{}/{name}", hold.name()), Value::Object(m));
        }
    }
    let names: Vec<String> = blocks.iter().map(|b| b.name()).collect();
    // What the `blocks` node reads: which blocks moved (a checkpoint's depth decides
    // `per_layer`'s), and what they cost.
    std::fs::write(
        ctx.out_dir.join("blocks.json"),
        serde_json::to_vec_pretty(&json!({"blocks": names, "forward_passes": total}))?,
    )?;
    Ok(json!({
        "blocks": names,
        "paths": metrics,
        "forward_passes": total,
        "loss_max": loss_max,
    }))
}

/// A path between two finetuned models, scored on demand, a few examples at one alpha at a
/// time: what an adaptive path node (in `basins-stages`, beside the estimator) evaluates.
pub trait PathScores {
    /// The eval sets in params order: name and loss-surface rows.
    fn sets(&self) -> Vec<(String, Vec<usize>)>;
    /// The loss of each of `examples` (indices into set `set`'s surface rows) at `alpha`,
    /// and whether its prediction was right.
    fn score(
        &mut self,
        set: usize,
        alpha: f64,
        examples: &[usize],
    ) -> anyhow::Result<(Vec<f32>, Vec<bool>)>;
}

/// The path of an interpolate node's params, its models loaded on the study's device.
pub fn open_path<'p>(
    ctx: &StageContext,
    p: &'p InterpolateParams,
) -> anyhow::Result<Box<dyn PathScores + 'p>> {
    Ok(match device(ctx)? {
        Device::Cpu => Box::new(OnPath::<crate::backend::Cpu>::open(
            ctx,
            p,
            Default::default(),
        )?),
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => Box::new(OnPath::<crate::backend::Cuda>::open(ctx, p, d)?),
        #[cfg(feature = "wgpu")]
        Device::Wgpu(d) => Box::new(OnPath::<crate::backend::Wgpu>::open(ctx, p, d)?),
    })
}

/// Memory the interpolated models a path keeps ready may take (their f32 weights).
const KEPT_MODEL_BYTES: usize = 2 << 30;

struct OnPath<'p, B: Backend> {
    ends: Ends<'p, B>,
    device: B::Device,
    threads: Option<usize>,
    /// Interpolated models ready to score, most recently used last. The estimator comes back
    /// to an alpha many times (a few examples each time), and building one (the weighted sum
    /// of both models and the forward pass's packed weights) costs about as much as scoring a
    /// hundred MiniLM examples: measured on CoLA, rebuilding at every request spent more time
    /// than the forward passes saved.
    ready: Vec<(f64, Scorer<B>)>,
    /// How many fit in [`KEPT_MODEL_BYTES`] (at least one).
    keep: usize,
}

impl<'p, B: Backend> OnPath<'p, B> {
    fn open(
        ctx: &StageContext,
        p: &'p InterpolateParams,
        device: B::Device,
    ) -> anyhow::Result<Self> {
        let ends = open_ends::<B>(ctx, p, &device)?;
        let params: usize = crate::model::slots(&mut ends.a.clone())
            .iter()
            .map(|(_, s)| s.hf_shape().iter().product::<usize>())
            .sum();
        let bytes = params * std::mem::size_of::<f32>();
        Ok(OnPath {
            keep: (KEPT_MODEL_BYTES / bytes.max(1)).max(1),
            ends,
            device,
            threads: ctx.eval_threads,
            ready: Vec::new(),
        })
    }
}

impl<B: Backend> PathScores for OnPath<'_, B> {
    fn sets(&self) -> Vec<(String, Vec<usize>)> {
        self.ends
            .sets
            .iter()
            .map(|(s, _, rows)| (s.name.clone(), rows.clone()))
            .collect()
    }

    fn score(
        &mut self,
        set: usize,
        alpha: f64,
        examples: &[usize],
    ) -> anyhow::Result<(Vec<f32>, Vec<bool>)> {
        let (_, encoded, _) = self
            .ends
            .sets
            .get(set)
            .ok_or_else(|| anyhow::anyhow!("the path has no eval set {set}"))?;
        match self.ready.iter().position(|(a, _)| *a == alpha) {
            Some(i) => {
                let hit = self.ready.remove(i);
                self.ready.push(hit);
            }
            None => {
                if self.ready.len() >= self.keep {
                    self.ready.remove(0);
                }
                let model = lerp(&self.ends.a, &self.ends.b, alpha);
                let scorer = Scorer::new(&model, CpuForward::Frozen)?.on(self.threads);
                self.ready.push((alpha, scorer));
            }
        }
        let (_, scorer) = self.ready.last().expect("pushed above");
        encoded.score_some(scorer, &self.device, examples)
    }
}
