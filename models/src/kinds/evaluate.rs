//! `evaluate`: one finetuned model on every eval set, whole, keeping per-example outputs so
//! that later stages aggregate by group without running the model again. Each set's
//! loss-surface rows are recorded beside them (`eval/<set>.surface.json`): the barriers take a
//! path's endpoint losses from these outputs at exactly the rows the interpolation scored.

use basins_engine::{StageContext, StageKind, VerifyPolicy};
use burn::tensor::backend::Backend;
use serde_json::{json, Value};

use super::{device, load_trained, Device};
use crate::eval::{CpuForward, EncodedSet, Scorer};
use basins_files::inputs::{eval_set, model_dir_at, params, surface_rows};
use basins_files::outputs::write_set;
use basins_study::params::EvaluateParams;

pub struct EvaluateKind;

impl StageKind for EvaluateKind {
    fn name(&self) -> &'static str {
        "evaluate"
    }
    fn version(&self) -> u32 {
        // 3: the CPU forward pass is `FrozenBert` (packed tokens, vectorised kernels).
        // 4: every set scored whole; the loss-surface rows recorded per set.
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
            metrics: vec![("/loss_mean".into(), 1e-4), ("/accuracy_mean".into(), 1e-3)],
        }
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: EvaluateParams = params(ctx)?;
        match device(ctx)? {
            Device::Cpu => run_evaluate::<crate::backend::Cpu>(ctx, &p, &Default::default()),
            #[cfg(feature = "cuda")]
            Device::Cuda(d) => run_evaluate::<crate::backend::Cuda>(ctx, &p, &d),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(d) => run_evaluate::<crate::backend::Wgpu>(ctx, &p, &d),
        }
    }
}

fn run_evaluate<B: Backend>(
    ctx: &StageContext,
    p: &EvaluateParams,
    device: &B::Device,
) -> anyhow::Result<Value> {
    let dir = model_dir_at(ctx, "model", p.checkpoint.as_deref())?;
    let (loaded, model_labels, enc) = load_trained::<B>(&dir, &p.labels, device)?;
    std::fs::create_dir_all(ctx.out_dir.join("eval"))?;
    ctx.log(format!(
        "evaluating batches on {} thread(s)",
        crate::backend::eval_threads::<B>(ctx.eval_threads)
    ));
    // One read-only copy of the weights scores every set.
    let scorer = Scorer::new(&loaded.model, CpuForward::Frozen)?.on(ctx.eval_threads);
    let mut sets = serde_json::Map::new();
    for set in &p.eval_sets {
        let ds = eval_set(ctx, set)?;
        let rows = surface_rows(set, &ds)?;
        let encoded = EncodedSet::new(&model_labels, &enc, &ds, p.batch_size)?;
        let r = encoded.score(&scorer, device, &|d, t| ctx.progress(d, t))?;
        write_set(&ctx.out_dir.join("eval"), &set.name, &r, &ds)?;
        std::fs::write(
            ctx.output(&format!("eval/{}.surface.json", set.name))?,
            serde_json::to_vec(&json!({"selection": set.surface, "rows": rows}))?,
        )?;
        let mut m = r.metrics;
        // The endpoint of every path through this model: the loss on the surface rows.
        let surface_loss =
            rows.iter().map(|&i| f64::from(r.losses[i])).sum::<f64>() / rows.len() as f64;
        m["surface_examples"] = json!(rows.len());
        m["surface_loss"] = json!(surface_loss);
        ctx.log(format!(
            "{}: {} rows scored, {} in the loss surface; {m}",
            set.name,
            ds.examples.len(),
            rows.len()
        ));
        sets.insert(set.name.clone(), m);
    }
    let mean = |k: &str| {
        sets.values().filter_map(|m| m[k].as_f64()).sum::<f64>() / sets.len().max(1) as f64
    };
    Ok(json!({"loss_mean": mean("loss"), "accuracy_mean": mean("accuracy"), "sets": sets}))
}
