//! The stage kinds this crate registers with the engine: the glue between the engine's
//! `StageContext` (params, inputs, output directory) and the model code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use basins_engine::record::OutputClass;
use basins_engine::{StageContext, StageInput, StageKind, VerifyPolicy};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::data::{self, DataFormat, Dataset, OnBadRow, ReadOptions};
use crate::eval::evaluate;
use crate::model::{load, save};
use crate::tensorfile::Entry;
use crate::text::TextEncoder;
use crate::train::{finetune, FinetuneSpec, Hyper, Streams};

/// A model input as a directory: a Hugging Face directory on disk, or an upstream node's
/// `model/` outputs linked into scratch under their names.
pub fn model_dir(ctx: &StageContext, role: &str) -> anyhow::Result<PathBuf> {
    match ctx.input(role)? {
        StageInput::Dir(p) => Ok(p.clone()),
        StageInput::Node { node, files, .. } => {
            let dir = ctx.scratch.join(role.replace(':', "_"));
            std::fs::create_dir_all(&dir)?;
            let mut any = false;
            for (name, path) in files {
                if let Some(rest) = name.strip_prefix("model/") {
                    std::os::unix::fs::symlink(path, dir.join(rest))
                        .with_context(|| format!("linking {name} of {node}"))?;
                    any = true;
                }
            }
            anyhow::ensure!(any, "`{node}` produced no model/ directory");
            Ok(dir)
        }
        StageInput::File(p) => bail!(
            "input `{role}` is a file ({}), not a model directory",
            p.display()
        ),
    }
}

/// A data input: a file (read in the declared format), or a generator node's `file` output
/// (read as generated JSONL).
fn data_file(
    ctx: &StageContext,
    role: &str,
    generated_name: &str,
    declared: DataFormat,
) -> anyhow::Result<(PathBuf, DataFormat)> {
    match ctx.input(role)? {
        StageInput::File(p) => Ok((p.clone(), declared)),
        StageInput::Node { node, files, .. } => {
            let p = files
                .get(generated_name)
                .with_context(|| format!("`{node}` has no output `{generated_name}`"))?;
            Ok((p.clone(), DataFormat::Generated))
        }
        StageInput::Dir(p) => bail!(
            "input `{role}` is a directory ({}), not a data file",
            p.display()
        ),
    }
}

#[derive(Deserialize)]
struct DataParams {
    format: DataFormat,
    labels: Vec<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    on_bad_row: OnBadRow,
}

fn read(path: &Path, format: DataFormat, p: &DataParams) -> anyhow::Result<Dataset> {
    Ok(data::read(
        path,
        &ReadOptions {
            format,
            labels: p.labels.clone(),
            on_bad_row: p.on_bad_row,
            fields: p.fields.clone(),
        },
    )?)
}

/// Model stages compute in f32. Half precision is a manifest option reserved for CUDA; until
/// it is implemented and measured, refuse it rather than silently computing in f32 under a
/// key that says bf16.
fn check_precision(ctx: &StageContext) -> anyhow::Result<()> {
    match ctx.env.get("precision").map(String::as_str) {
        None | Some("f32") => Ok(()),
        Some(p) => bail!(
            "precision `{p}` is not implemented by the model stages yet; use precision = \"f32\""
        ),
    }
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn cuda_device_index(gpu: Option<u32>) -> usize {
    // A subprocess sees only its device, as index 0.
    if std::env::var_os("CUDA_VISIBLE_DEVICES").is_some() {
        0
    } else {
        gpu.unwrap_or(0) as usize
    }
}

pub struct FinetuneKind;

#[derive(Deserialize)]
struct FinetuneParams {
    #[serde(flatten)]
    data: DataParams,
    max_examples: Option<u64>,
    seed: u64,
    hyper: Hyper,
}

impl StageKind for FinetuneKind {
    fn name(&self) -> &'static str {
        "finetune"
    }
    fn version(&self) -> u32 {
        1
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
        if rel.ends_with(".safetensors") {
            OutputClass::Checkpoint
        } else {
            OutputClass::Result
        }
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        check_precision(ctx)?;
        let p: FinetuneParams =
            serde_json::from_value(ctx.params.clone()).context("finetune params")?;
        match ctx.env.get("backend").map(String::as_str) {
            Some("cuda") => {
                #[cfg(feature = "cuda")]
                {
                    let device = burn::backend::cuda::CudaDevice::new(cuda_device_index(ctx.gpu));
                    return run_finetune::<crate::backend::CudaTrain>(ctx, &p, &device);
                }
                #[cfg(not(feature = "cuda"))]
                bail!("this build of basins has no CUDA support (rebuild with `--features cuda`; see the README)");
            }
            _ => run_finetune::<crate::backend::CpuTrain>(ctx, &p, &Default::default()),
        }
    }
}

fn run_finetune<B: AutodiffBackend>(
    ctx: &StageContext,
    p: &FinetuneParams,
    device: &B::Device,
) -> anyhow::Result<Value> {
    let _ = cuda_device_index;
    let base = model_dir(ctx, "model")?;
    let (train_path, format) = data_file(ctx, "train", "train.jsonl", p.data.format)?;
    let streams = Streams::new(p.seed, &p.hyper.vary);
    let train = read(&train_path, format, &p.data)?.stratified(p.max_examples, streams.data_order);
    ctx.log(format!(
        "{} training examples from {}; streams {streams:?}",
        train.examples.len(),
        train_path.display()
    ));
    let spec = FinetuneSpec {
        base: &base,
        labels: &p.data.labels,
        hyper: &p.hyper,
        streams,
        resume_dir: Some(ctx.resume_dir),
    };
    let dev = match ctx.inputs.contains_key("dev") {
        true => {
            let (path, format) = data_file(ctx, "dev", "eval.jsonl", p.data.format)?;
            Some((
                read(&path, format, &p.data)?,
                TextEncoder::from_dir(&base, p.hyper.max_len)?,
            ))
        }
        false => None,
    };
    let eval_dev = |m: &crate::model::BertClassifier<B::InnerBackend>| -> anyhow::Result<Value> {
        let (ds, enc) = dev.as_ref().expect("only called with a dev set");
        let r = evaluate(m, &p.data.labels, enc, ds, 128, device, &|_, _| {})?;
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
        &|d, t| ctx.progress(d, t),
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
    let log: Vec<String> = done.log.iter().map(|v| v.to_string()).collect();
    std::fs::write(ctx.out_dir.join("train_log.jsonl"), log.join("\n") + "\n")?;
    Ok(json!({
        "steps": done.steps,
        "examples": train.examples.len(),
        "final_loss": done.log.last().map_or(Value::Null, |l| l["loss"].clone()),
    }))
}

pub struct EvaluateKind;

#[derive(Deserialize)]
struct EvalSetParams {
    name: String,
    #[serde(flatten)]
    data: DataParams,
    #[serde(default)]
    max_examples: Option<u64>,
}

#[derive(Deserialize)]
struct EvaluateParams {
    eval_sets: Vec<EvalSetParams>,
    max_examples: Option<u64>,
    batch_size: usize,
    labels: Vec<String>,
}

impl StageKind for EvaluateKind {
    fn name(&self) -> &'static str {
        "evaluate"
    }
    fn version(&self) -> u32 {
        1
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
        check_precision(ctx)?;
        let p: EvaluateParams =
            serde_json::from_value(ctx.params.clone()).context("evaluate params")?;
        match ctx.env.get("backend").map(String::as_str) {
            Some("cuda") => {
                #[cfg(feature = "cuda")]
                {
                    let device = burn::backend::cuda::CudaDevice::new(cuda_device_index(ctx.gpu));
                    return run_evaluate::<crate::backend::Cuda>(ctx, &p, &device);
                }
                #[cfg(not(feature = "cuda"))]
                bail!("this build of basins has no CUDA support (rebuild with `--features cuda`; see the README)");
            }
            _ => run_evaluate::<crate::backend::Cpu>(ctx, &p, &Default::default()),
        }
    }
}

fn run_evaluate<B: Backend>(
    ctx: &StageContext,
    p: &EvaluateParams,
    device: &B::Device,
) -> anyhow::Result<Value> {
    let dir = model_dir(ctx, "model")?;
    let loaded = load::<B>(&dir, p.labels.len(), 0, device)?;
    anyhow::ensure!(
        loaded.had_head,
        "{} has no trained classification head to evaluate",
        dir.display()
    );
    let model_labels = loaded.labels.clone().unwrap_or_else(|| p.labels.clone());
    crate::model::check_labels(&model_labels, &p.labels, &dir)?;
    let enc = TextEncoder::from_dir(&dir, 512.min(loaded.config.max_position_embeddings))?;
    std::fs::create_dir_all(ctx.out_dir.join("eval"))?;
    let mut sets = serde_json::Map::new();
    for set in &p.eval_sets {
        let (path, format) = data_file(
            ctx,
            &format!("eval:{}", set.name),
            "eval.jsonl",
            set.data.format,
        )?;
        let limit = match (set.max_examples, p.max_examples) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ds = read(&path, format, &set.data)?.take_first(limit);
        let r = evaluate(
            &loaded.model,
            &model_labels,
            &enc,
            &ds,
            p.batch_size,
            device,
            &|d, t| ctx.progress(d, t),
        )?;
        write_set(&ctx.out_dir.join("eval"), &set.name, &r, &ds)?;
        ctx.log(format!("{}: {}", set.name, r.metrics));
        sets.insert(set.name.clone(), r.metrics);
    }
    let mean = |k: &str| {
        sets.values().filter_map(|m| m[k].as_f64()).sum::<f64>() / sets.len().max(1) as f64
    };
    Ok(json!({"loss_mean": mean("loss"), "accuracy_mean": mean("accuracy"), "sets": sets}))
}

/// Per-example outputs: losses, probabilities, gold and predicted labels as safetensors, and
/// the examples' diagnostic groups as JSON columns.
fn write_set(
    dir: &Path,
    name: &str,
    r: &crate::eval::SetResult,
    ds: &Dataset,
) -> anyhow::Result<()> {
    let n = r.losses.len();
    let probs: Vec<f32> = r.probs.iter().flatten().copied().collect();
    let entries = [
        Entry::f32("loss", vec![n], &r.losses),
        Entry::f32("probs", vec![n, ds.labels.len()], &probs),
        Entry::i64("gold", vec![n], &r.gold),
        Entry::i64("predicted", vec![n], &r.predicted),
    ];
    let path = dir.join(format!("{name}.safetensors"));
    crate::tensorfile::write(
        &path,
        &entries,
        &[("labels", serde_json::to_string(&ds.labels)?)],
    )?;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, e) in ds.examples.iter().enumerate() {
        for (k, v) in &e.groups {
            let col = groups
                .entry(k.clone())
                .or_insert_with(|| vec![String::new(); n]);
            col[i] = v.clone();
        }
    }
    std::fs::write(
        dir.join(format!("{name}.groups.json")),
        serde_json::to_vec(&groups)?,
    )?;
    Ok(())
}
