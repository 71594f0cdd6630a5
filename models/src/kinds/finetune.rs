//! `finetune`: one seed of one task, from a base model to a finetuned checkpoint.

use anyhow::Context;
use basins_engine::record::OutputClass;
use basins_engine::{StageContext, StageKind, VerifyPolicy};
use burn::tensor::backend::AutodiffBackend;
use serde_json::{json, Value};

use super::{device, Device};
use crate::eval::{CpuForward, EncodedSet, Scorer};
use crate::model::save;
use crate::text::TextEncoder;
use crate::train::{finetune, FinetuneSpec, Streams};
use basins_files::inputs::{data_file, model_dir, params, read, weights_apart};
use basins_study::params::FinetuneParams;

pub struct FinetuneKind;

impl StageKind for FinetuneKind {
    fn name(&self) -> &'static str {
        "finetune"
    }
    fn version(&self) -> u32 {
        // 3: Linear layers as one [batch x seq, in] product (weight gradients sum in another order).
        // 4: LayerNorm and GELU as fused CPU operations (`model::fused`); dev-set metrics in
        // the training log from `FrozenBert`.
        // 5: subnormal floats flushed to zero (`backend::flush_subnormals`).
        // 6: the dev-set metrics' matrix products on AVX-512 microkernels (gemm's `x86-v4`) on
        // CPUs that have them, which sum in another order than the AVX2 ones.
        // 7: training on the CPU through the fused Linear and attention operations
        // (`model::dense`, `model::attention`): gemm products, hand-written backward passes,
        // attention over each example's real keys, dropout masks drawn per example.
        7
    }
    fn uses_device(&self) -> bool {
        true
    }
    fn verify_policy(&self) -> VerifyPolicy {
        // Bit-exact on CPU; GPU reductions are not, so judge the training loss there.
        VerifyPolicy::Tolerance {
            metrics: vec![("/final_loss".into(), 1e-3)],
        }
    }
    fn output_class(&self, rel: &str) -> OutputClass {
        weights_apart(rel)
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: FinetuneParams = params(ctx)?;
        match device(ctx)? {
            Device::Cpu => run_finetune::<crate::backend::CpuTrain>(ctx, &p, &Default::default()),
            #[cfg(feature = "cuda")]
            Device::Cuda(d) => run_finetune::<crate::backend::CudaTrain>(ctx, &p, &d),
            #[cfg(feature = "wgpu")]
            Device::Wgpu(d) => run_finetune::<crate::backend::WgpuTrain>(ctx, &p, &d),
        }
    }
}

fn run_finetune<B: AutodiffBackend>(
    ctx: &StageContext,
    p: &FinetuneParams,
    device: &B::Device,
) -> anyhow::Result<Value> {
    let base = model_dir(ctx, "model")?;
    // A longer max_len than the model has positions indexes past its position table (a panic
    // deep in training); a manifest can say either, so it is checked here, against the model.
    let positions = crate::model::BertConfig::read(&base)?.max_position_embeddings;
    anyhow::ensure!(
        p.hyper.max_len <= positions,
        "[finetune] max_len = {} is longer than the model takes: {} has {positions} positions \
         (max_position_embeddings in its config.json); use max_len <= {positions}",
        p.hyper.max_len,
        base.display()
    );
    let (train_path, format) = data_file(ctx, "train", "train", p.data.format)?;
    let streams = Streams::new(p.seed, &p.hyper.vary);
    let train = read(&train_path, format, &p.data)?.stratified(p.max_examples, streams.data_order);
    ctx.log(format!(
        "{} training examples from {}; streams {streams:?}",
        train.examples.len(),
        train_path.display()
    ));
    let kept = ctx.resume_dir.join("kept");
    std::fs::create_dir_all(&kept)?;
    let spec = FinetuneSpec {
        base: &base,
        labels: &p.data.labels,
        hyper: &p.hyper,
        streams,
        resume_dir: Some(ctx.resume_dir),
        // Beside the resume point, so that a killed run's kept steps survive into the rerun.
        keep_dir: Some(&kept),
    };
    let dev = match ctx.inputs.contains_key("dev") {
        true => {
            // Tokenised once; scored at every in-training evaluation.
            let (path, format) = data_file(ctx, "dev", "eval", p.data.format)?;
            let enc = TextEncoder::from_dir(&base, p.hyper.max_len)?;
            let ds = read(&path, format, &p.data)?;
            Some(EncodedSet::new(&p.data.labels, &enc, &ds, 128)?)
        }
        false => None,
    };
    let eval_dev = |m: &crate::model::BertClassifier<B::InnerBackend>| -> anyhow::Result<Value> {
        let set = dev.as_ref().expect("only called with a dev set");
        let r = set.score(
            &Scorer::new(m, CpuForward::Frozen)?.on(ctx.eval_threads),
            device,
            &|_, _| {},
        )?;
        Ok(
            json!({"loss": r.metrics["loss"], "accuracy": r.metrics["accuracy"], "mcc": r.metrics["mcc"]}),
        )
    };
    let eval: Option<crate::train::InTrainingEval<'_, B::InnerBackend>> =
        dev.as_ref().map(|_| &eval_dev as _);
    let done = finetune::<B>(
        &spec,
        &train,
        device,
        &|d, t, values| ctx.progress_with(d, t, values),
        &|| ctx.cancelled(),
        eval,
    )?;
    if let Some(step) = done.resumed_from {
        ctx.log(format!("resumed from step {step}"));
    }
    save(
        &done.model,
        &done.config,
        &p.data.labels,
        Some(&base),
        &ctx.out_dir.join("model"),
    )?;
    let mut steps_kept = Vec::new();
    if let Some(keep) = &p.hyper.keep {
        let out = ctx.out_dir.join("checkpoints");
        std::fs::create_dir_all(&out)?;
        for step in (1..done.steps).filter(|&s| keep.keeps(s, done.steps)) {
            let name = format!("step={step}");
            move_dir(&kept.join(&name), &out.join(&name))
                .with_context(|| format!("the checkpoint kept at step {step}"))?;
            steps_kept.push(step);
        }
    }
    let log: Vec<String> = done.log.iter().map(|v| v.to_string()).collect();
    std::fs::write(ctx.out_dir.join("train_log.jsonl"), log.join("\n") + "\n")?;
    Ok(json!({
        "steps": done.steps,
        "examples": train.examples.len(),
        "final_loss": done.log.last().map_or(Value::Null, |l| l["loss"].clone()),
        "kept": steps_kept,
    }))
}

/// Move a directory within the cache (a rename), or copy it where the two are on different
/// file systems.
fn move_dir(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    anyhow::ensure!(from.is_dir(), "{} was not written", from.display());
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        std::fs::copy(e.path(), to.join(e.file_name()))?;
    }
    Ok(())
}
