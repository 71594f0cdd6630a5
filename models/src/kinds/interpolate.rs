//! `interpolate`: one pair of finetuned models, evaluated at every alpha of the grid strictly
//! between the endpoints (alpha 0 and 1 are the models themselves, already evaluated once each
//! by their `evaluate` nodes, never again per pair). Per-example losses and correctness are
//! kept so that barrier confidence intervals need no further forward passes. Each set is
//! scored on its loss-surface rows only (recorded in the output's metadata, so the barriers can
//! check that the endpoints were taken at the same rows).

use basins_engine::stage::Interrupted;
use basins_engine::{StageContext, StageKind, VerifyPolicy};
use burn::tensor::backend::Backend;
use serde_json::{json, Value};

use super::{device, load_trained, Device};
use crate::eval::{CpuForward, EncodedSet, Scorer};
use crate::interpolate::{lerp, same_shapes};
use basins_files::inputs::{eval_set, model_dir_at, params, surface_rows};
use basins_files::tensorfile::Entry;
use basins_study::params::InterpolateParams;

pub struct InterpolateKind;

impl StageKind for InterpolateKind {
    fn name(&self) -> &'static str {
        "interpolate"
    }
    fn version(&self) -> u32 {
        // 3: the CPU forward pass is `FrozenBert` (packed tokens, vectorised kernels).
        // 4: the loss-surface selection (filter, numpy-order shuffle, first n) per set.
        // 5: subnormal floats flushed to zero (`backend::flush_subnormals`).
        5
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
        match device(ctx)? {
            Device::Cpu => run::<crate::backend::Cpu>(ctx, &p, &Default::default()),
            #[cfg(feature = "cuda")]
            Device::Cuda(d) => run::<crate::backend::Cuda>(ctx, &p, &d),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(d) => run::<crate::backend::Wgpu>(ctx, &p, &d),
        }
    }
}

fn run<B: Backend>(
    ctx: &StageContext,
    p: &InterpolateParams,
    device: &B::Device,
) -> anyhow::Result<Value> {
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
    let alphas = crate::interpolate::interior(&p.alphas);
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
    let total: usize = alphas.len() * sets.iter().map(|(_, d, _)| d.len()).sum::<usize>();
    let out = ctx.out_dir.join("path");
    std::fs::create_dir_all(&out)?;
    // Per set: mean loss and accuracy at each interior alpha.
    let mut curves: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); sets.len()];
    let mut per_set: Vec<(Vec<f32>, Vec<usize>)> = vec![(Vec::new(), Vec::new()); sets.len()];
    let mut done = 0u64;
    for (i, &alpha) in alphas.iter().enumerate() {
        if ctx.cancelled() {
            return Err(Interrupted::at(format!("alpha {alpha}")));
        }
        let scorer =
            Scorer::new(&lerp(&a.model, &b.model, alpha), CpuForward::Frozen)?.on(ctx.eval_threads);
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
            done += set.len() as u64;
            // Examples scored of all; beside it which point of the path this is.
            ctx.progress_with(
                done,
                total as u64,
                &[("alpha", alpha), ("point", (i + 1) as f64)],
            );
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
    Ok(json!({"sets": metrics, "forward_passes": total, "loss_max": loss_max}))
}
