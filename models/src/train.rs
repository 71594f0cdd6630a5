//! Finetuning: AdamW with Hugging Face's defaults (betas 0.9/0.999, eps 1e-8, decoupled weight
//! decay not applied to biases and LayerNorm), linear warmup then linear decay, global-norm
//! gradient clipping, dropout, epochs or max steps. The seed drives three independent streams
//! (data order, head initialisation, dropout), so a study can vary one and hold the others.
//! Periodic checkpoints make a killed run resumable, ending (on CPU) with exactly the weights
//! of an uninterrupted one: every random draw is a function of (stream seed, step).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context};
use burn::module::{AutodiffModule, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};

use crate::model::{
    adamw, check_labels, load, save, slots, AdamConsts, AdamState, BertClassifier, BertConfig, Slot,
};
use crate::text::{to_batch, Encoded, TextEncoder};
use basins_files::data::Dataset;
use basins_files::tensorfile::Entry;

/// The backends' random generators are process-wide: a forward pass that draws dropout masks
/// holds this lock from reseeding to the end of the pass, so concurrent nodes in one process
/// stay reproducible.
pub(crate) static RNG_LOCK: Mutex<()> = Mutex::new(());

/// Where a training loop reports its step of the total, with values to show beside it (the
/// smoothed loss, sequences per second).
pub type StepProgress<'a> = dyn Fn(u64, u64, &[(&str, f64)]) + 'a;

/// The manifest layer's type, so that what `[finetune]` resolves to and what training reads
/// cannot drift apart.
pub use basins_study::manifest::FinetuneHyper as Hyper;
pub use basins_study::manifest::Keep;
use basins_study::manifest::SeedStream;

/// The three random streams a seed controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Streams {
    pub data_order: u64,
    pub head_init: u64,
    pub dropout: u64,
}

impl Streams {
    /// Streams named in `vary` follow `seed`; the others stay at seed 0's value.
    pub fn new(seed: u64, vary: &[SeedStream]) -> Streams {
        let derive = |stream: SeedStream| {
            let s = if vary.contains(&stream) { seed } else { 0 };
            // The names are the manifest's, and part of every seed's stream.
            let h = blake3::hash(format!("basins-stream/{}/{s}", stream.name()).as_bytes());
            u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
        };
        Streams {
            data_order: derive(SeedStream::DataOrder),
            head_init: derive(SeedStream::HeadInit),
            dropout: derive(SeedStream::Dropout),
        }
    }
}

/// HF's `get_linear_schedule_with_warmup`, as the factor for update number `step` (0-based).
pub fn lr_factor(step: u64, warmup: u64, total: u64) -> f64 {
    if step < warmup {
        step as f64 / warmup.max(1) as f64
    } else {
        ((total.saturating_sub(step)) as f64 / (total.saturating_sub(warmup)).max(1) as f64)
            .max(0.0)
    }
}

enum Moments<B: Backend> {
    M1(Tensor<B, 1>, Tensor<B, 1>),
    M2(Tensor<B, 2>, Tensor<B, 2>),
}

/// AdamW over the model's named parameters, with global-norm clipping.
pub struct AdamW<B: AutodiffBackend> {
    moments: BTreeMap<String, Moments<B::InnerBackend>>,
    pub steps: u64,
}

fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("LayerNorm"))
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// What one AdamW step of one parameter needs besides the tensors.
#[derive(Debug, Clone, Copy)]
struct Update {
    /// The gradient's clipping factor (1 when its global norm is within bounds).
    scale: f64,
    lr: f64,
    /// 0 for parameters that do not decay.
    wd: f64,
    /// The step number, from 1.
    t: u64,
}

impl Update {
    /// The scalars rounded to `f32` as burn rounds a scalar operand (`as f32`), so that the
    /// fused CPU update computes what `adam_update` computes.
    fn consts(&self) -> AdamConsts {
        AdamConsts {
            scale: self.scale as f32,
            beta1: BETA1 as f32,
            one_minus_beta1: (1.0 - BETA1) as f32,
            beta2: BETA2 as f32,
            one_minus_beta2: (1.0 - BETA2) as f32,
            decay: (self.wd > 0.0).then_some((self.lr * self.wd) as f32),
            correction1: (1.0 - BETA1.powi(self.t as i32)) as f32,
            correction2: (1.0 - BETA2.powi(self.t as i32)) as f32,
            eps: EPS as f32,
            lr: self.lr as f32,
        }
    }
}

/// AdamW composed from burn's tensor operations: what backends other than the CPU run.
fn adam_update<B: Backend, const D: usize>(
    p: Tensor<B, D>,
    g: Tensor<B, D>,
    m: Tensor<B, D>,
    v: Tensor<B, D>,
    u: Update,
) -> AdamState<B, D> {
    let (b1, b2, eps, lr) = (BETA1, BETA2, EPS, u.lr);
    let g = g.mul_scalar(u.scale);
    let m = m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1);
    let v = v.mul_scalar(b2) + g.clone().mul(g).mul_scalar(1.0 - b2);
    let bc1 = 1.0 - b1.powi(u.t as i32);
    let bc2 = 1.0 - b2.powi(u.t as i32);
    let p = if u.wd > 0.0 {
        p.clone() - p.mul_scalar(lr * u.wd)
    } else {
        p
    };
    let step = m.clone().div_scalar(bc1) / (v.clone().div_scalar(bc2).sqrt().add_scalar(eps));
    (p - step.mul_scalar(lr), m, v)
}

/// One AdamW update of parameter values `p` with gradient `g`: one fused pass on the CPU
/// (`model::adamw`), composed elsewhere; the same bits either way on the CPU (unit test).
fn adam_step<B: Backend, const D: usize>(
    p: Tensor<B, D>,
    g: Tensor<B, D>,
    m: Tensor<B, D>,
    v: Tensor<B, D>,
    u: Update,
) -> AdamState<B, D> {
    match adamw(p, g, m, v, &u.consts()) {
        Ok(state) => state,
        Err((p, g, m, v)) => adam_update(p, g, m, v, u),
    }
}

type InnerTensor<B, const D: usize> = Tensor<<B as AutodiffBackend>::InnerBackend, D>;

/// One AdamW update of one parameter, in place (zero moments on its first step); returns
/// the new moments.
fn step_param<B: AutodiffBackend, const D: usize>(
    param: &mut Param<Tensor<B, D>>,
    g: InnerTensor<B, D>,
    moments: Option<(InnerTensor<B, D>, InnerTensor<B, D>)>,
    u: Update,
) -> (InnerTensor<B, D>, InnerTensor<B, D>) {
    let p = param.val().inner();
    let (m, v) = moments.unwrap_or_else(|| (p.zeros_like(), p.zeros_like()));
    let (p, m, v) = adam_step(p, g, m, v, u);
    *param = Param::initialized(param.id, Tensor::from_inner(p).require_grad());
    (m, v)
}

impl<B: AutodiffBackend> AdamW<B> {
    pub fn new() -> Self {
        AdamW {
            moments: BTreeMap::new(),
            steps: 0,
        }
    }

    /// One update of a classifier; returns the gradient's global norm before clipping.
    pub fn step(
        &mut self,
        model: &mut BertClassifier<B>,
        grads: &GradientsParams,
        lr: f64,
        wd: f64,
        clip: f64,
    ) -> f64 {
        self.step_slots(slots(model), grads, lr, wd, clip)
    }

    /// One update of named parameters (a classifier's, or a pretraining model's with its
    /// masked-LM head); parameters without a gradient are left alone.
    pub(crate) fn step_slots(
        &mut self,
        mut params: Vec<(String, Slot<'_, B>)>,
        grads: &GradientsParams,
        lr: f64,
        wd: f64,
        clip: f64,
    ) -> f64 {
        let mut sq: Option<Tensor<B::InnerBackend, 1>> = None;
        for (_, slot) in &params {
            let s = match slot {
                Slot::Matrix { param, .. } => grads
                    .get::<B::InnerBackend, 2>(param.id)
                    .map(|g| g.powi_scalar(2).sum()),
                Slot::Vector(param) => grads
                    .get::<B::InnerBackend, 1>(param.id)
                    .map(|g| g.powi_scalar(2).sum()),
            };
            if let Some(s) = s {
                sq = Some(match sq {
                    Some(acc) => acc + s,
                    None => s,
                });
            }
        }
        let norm = sq.map_or(0.0, |s| {
            s.into_scalar()
                .to_string()
                .parse::<f64>()
                .unwrap_or(0.0)
                .sqrt()
        });
        let scale = if clip > 0.0 && norm > clip {
            clip / (norm + 1e-6)
        } else {
            1.0
        };
        self.steps += 1;
        let t = self.steps;
        for (name, slot) in params.iter_mut() {
            let wd = if decays(name) { wd } else { 0.0 };
            let update = Update { scale, lr, wd, t };
            match slot {
                Slot::Matrix { param, .. } => {
                    let Some(g) = grads.get::<B::InnerBackend, 2>(param.id) else {
                        continue;
                    };
                    let prev = match self.moments.remove(name) {
                        Some(Moments::M2(m, v)) => Some((m, v)),
                        _ => None,
                    };
                    let (m, v) = step_param::<B, 2>(param, g, prev, update);
                    self.moments.insert(name.clone(), Moments::M2(m, v));
                }
                Slot::Vector(param) => {
                    let Some(g) = grads.get::<B::InnerBackend, 1>(param.id) else {
                        continue;
                    };
                    let prev = match self.moments.remove(name) {
                        Some(Moments::M1(m, v)) => Some((m, v)),
                        _ => None,
                    };
                    let (m, v) = step_param::<B, 1>(param, g, prev, update);
                    self.moments.insert(name.clone(), Moments::M1(m, v));
                }
            }
        }
        norm
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut entries = Vec::new();
        for (name, m) in &self.moments {
            let (a, b, shape) = match m {
                Moments::M1(a, b) => (
                    a.clone().into_data(),
                    b.clone().into_data(),
                    a.dims().to_vec(),
                ),
                Moments::M2(a, b) => (
                    a.clone().into_data(),
                    b.clone().into_data(),
                    a.dims().to_vec(),
                ),
            };
            for (prefix, d) in [("m", a), ("v", b)] {
                let values = d
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                entries.push(Entry::f32(
                    format!("{prefix}/{name}"),
                    shape.clone(),
                    &values,
                ));
            }
        }
        basins_files::tensorfile::write(path, &entries, Some(("steps", self.steps.to_string())))?;
        Ok(())
    }

    fn load(path: &Path, device: &<B::InnerBackend as Backend>::Device) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)?;
        let steps = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("steps"))
            .and_then(|s| s.parse().ok())
            .context("optimizer state has no step count")?;
        let st = safetensors::SafeTensors::deserialize(&bytes)?;
        let mut moments = BTreeMap::new();
        for name in st.names() {
            let Some(param) = name.strip_prefix("m/") else {
                continue;
            };
            let read = |n: &str| -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
                let t = st.tensor(n)?;
                Ok((
                    t.shape().to_vec(),
                    basins_files::tensorfile::f32_values(t.data()),
                ))
            };
            let (shape, m) = read(name)?;
            let (_, v) = read(&format!("v/{param}"))?;
            let entry = match shape.len() {
                1 => Moments::M1(
                    Tensor::from_data(TensorData::new(m, [shape[0]]), device),
                    Tensor::from_data(TensorData::new(v, [shape[0]]), device),
                ),
                2 => Moments::M2(
                    Tensor::from_data(TensorData::new(m, [shape[0], shape[1]]), device),
                    Tensor::from_data(TensorData::new(v, [shape[0], shape[1]]), device),
                ),
                n => bail!("optimizer state `{param}` has rank {n}"),
            };
            moments.insert(param.to_owned(), entry);
        }
        Ok(AdamW { moments, steps })
    }
}

impl<B: AutodiffBackend> Default for AdamW<B> {
    fn default() -> Self {
        Self::new()
    }
}

/// A one-element tensor's value. Through text because burn 0.20's `into_scalar` returns the
/// backend's element type, which has no common conversion to f64.
pub(crate) fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_scalar().to_string().parse().unwrap_or(f64::NAN)
}

/// Mean cross-entropy of a batch, and the per-example losses.
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    labels: &[usize],
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let [b, _] = logits.dims();
    let device = logits.device();
    let idx = Tensor::<B, 2, Int>::from_data(
        TensorData::new(labels.iter().map(|&l| l as i64).collect::<Vec<_>>(), [b, 1]),
        &device,
    );
    let per = crate::model::exact::log_softmax(logits, 1)
        .gather(1, idx)
        .reshape([b])
        .neg();
    (per.clone().mean(), per)
}

/// Everything a finetuning run needs besides the data.
pub struct FinetuneSpec<'a> {
    pub base: &'a Path,
    pub labels: &'a [String],
    pub hyper: &'a Hyper,
    pub streams: Streams,
    /// Where periodic checkpoints live; a run finding one there resumes from it.
    pub resume_dir: Option<&'a Path>,
    /// Where the checkpoints `hyper.keep` asks for are written, as `step=<n>/` model
    /// directories (one already there, from a run that was killed after it, is kept as is).
    pub keep_dir: Option<&'a Path>,
}

/// Scores the model being trained every `eval_every` steps (metrics go into the log).
pub type InTrainingEval<'a, B> = &'a dyn Fn(&BertClassifier<B>) -> anyhow::Result<Value>;

pub struct Finetuned<B: Backend> {
    pub model: BertClassifier<B>,
    pub config: BertConfig,
    pub log: Vec<Value>,
    pub steps: u64,
    pub resumed_from: Option<u64>,
}

/// The order in which training examples are visited: one seeded permutation per epoch.
pub(crate) fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(
        seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ));
    idx
}

pub fn finetune<B: AutodiffBackend>(
    spec: &FinetuneSpec,
    train: &Dataset,
    device: &B::Device,
    progress: &StepProgress<'_>,
    cancelled: &dyn Fn() -> bool,
    eval: Option<InTrainingEval<'_, B::InnerBackend>>,
) -> anyhow::Result<Finetuned<B::InnerBackend>> {
    let h = spec.hyper;
    let mut loaded = load::<B>(spec.base, spec.labels.len(), spec.streams.head_init, device)?;
    if let Some(l) = &loaded.labels {
        check_labels(l, spec.labels, spec.base)?;
    }
    loaded.model.set_dropout(h.dropout);
    let enc = TextEncoder::from_dir(spec.base, h.max_len)?;
    let encoded = enc.encode_dataset(train)?;
    let n = encoded.len();
    anyhow::ensure!(n > 0, "no training examples");
    let per_epoch = n.div_ceil(h.batch_size) as u64;
    let total = h
        .max_steps
        .unwrap_or_else(|| (h.epochs * per_epoch as f64).ceil() as u64)
        .max(1);
    let warmup = (h.warmup_ratio * total as f64).ceil() as u64;
    if let Some(Keep::Steps(steps)) = &h.keep {
        if let Some(s) = steps.iter().find(|&&s| s >= total) {
            anyhow::bail!(
                "finetune.keep: step {s} is not before the run's last step ({total} steps of batch \
                 {}); the final weights are always kept (`final`)",
                h.batch_size
            );
        }
    }
    let mut model = loaded.model;
    let mut opt = AdamW::<B>::new();
    let mut log = Vec::new();
    let mut resumed_from = None;
    if let Some(dir) = spec.resume_dir.filter(|d| d.join("state.json").exists()) {
        let state: Value = serde_json::from_slice(&std::fs::read(dir.join("state.json"))?)?;
        let step = state["step"].as_u64().context("resume state has no step")?;
        let ckpt = load::<B>(&dir.join("model"), spec.labels.len(), 0, device)?;
        model = ckpt.model;
        model.set_dropout(h.dropout);
        opt = AdamW::<B>::load(&dir.join("optimizer.safetensors"), &device.clone())?;
        log = serde_json::from_value(state["log"].clone())?;
        resumed_from = Some(step);
        tracing::info!(step, "resuming finetuning from checkpoint");
    }
    let labels_of = |idx: &[usize]| {
        idx.iter()
            .map(|&i| train.examples[i].label)
            .collect::<Vec<_>>()
    };
    let mut order_epoch = u64::MAX;
    let mut order = Vec::new();
    let mut window = Vec::new();
    // For the progress lines: a smoothed loss and this run's sequences per second.
    let (clock, mut seen, mut smoothed) = (std::time::Instant::now(), 0usize, f64::NAN);
    for step in opt.steps..total {
        if cancelled() {
            return Err(basins_engine::stage::Interrupted::at(format!(
                "step {step}"
            )));
        }
        let epoch = step / per_epoch;
        if epoch != order_epoch {
            order = epoch_order(n, spec.streams.data_order, epoch);
            order_epoch = epoch;
        }
        let b = (step % per_epoch) as usize;
        let idx = &order[b * h.batch_size..((b + 1) * h.batch_size).min(n)];
        let batch: Vec<&Encoded> = idx.iter().map(|&i| &encoded[i]).collect();
        let input = to_batch::<B>(&batch, enc.pad_id, device);
        let (loss, _) = {
            let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            B::seed(device, spec.streams.dropout.wrapping_add(step));
            crate::model::seed_dropout(spec.streams.dropout.wrapping_add(step));
            cross_entropy(model.forward(&input).logits, &labels_of(idx))
        };
        let loss_value: f64 = loss
            .clone()
            .into_scalar()
            .to_string()
            .parse()
            .unwrap_or(f64::NAN);
        anyhow::ensure!(
            loss_value.is_finite(),
            "training loss became {loss_value} at step {step}"
        );
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = h.lr * lr_factor(step, warmup, total);
        let norm = opt.step(&mut model, &grads, lr, h.weight_decay, h.grad_clip);
        window.push(loss_value);
        seen += idx.len();
        smoothed = match smoothed.is_nan() {
            true => loss_value,
            false => 0.95 * smoothed + 0.05 * loss_value,
        };
        if (step + 1) % 10 == 0 || step + 1 == total {
            let mean = window.iter().sum::<f64>() / window.len() as f64;
            log.push(json!({"step": step + 1, "epoch": (step + 1) as f64 / per_epoch as f64, "loss": mean, "lr": lr, "grad_norm": norm}));
            window.clear();
        }
        if let Some(eval) = eval.filter(|_| h.eval_every > 0 && (step + 1) % h.eval_every == 0) {
            log.push(json!({"step": step + 1, "eval": eval(&model.valid())?}));
        }
        if let (Some(keep), Some(dir)) = (&h.keep, spec.keep_dir) {
            let at = dir.join(format!("step={}", step + 1));
            if keep.keeps(step + 1, total) && !at.exists() {
                // Written whole under another name, then renamed: a kill leaves no half copy.
                let tmp = dir.join(format!(".step={}.partial", step + 1));
                let _ = std::fs::remove_dir_all(&tmp);
                crate::model::save(
                    &model.valid(),
                    &loaded.config,
                    spec.labels,
                    Some(spec.base),
                    &tmp,
                )?;
                std::fs::rename(&tmp, &at)?;
            }
        }
        if let Some(dir) = spec.resume_dir {
            if h.checkpoint_every > 0 && (step + 1) % h.checkpoint_every == 0 && step + 1 < total {
                write_resume(
                    dir,
                    &model,
                    &loaded.config,
                    spec.labels,
                    &opt,
                    step + 1,
                    &log,
                )?;
            }
        }
        let rate = seen as f64 / clock.elapsed().as_secs_f64().max(1e-9);
        progress(step + 1, total, &[("loss", smoothed), ("seq_per_s", rate)]);
    }
    Ok(Finetuned {
        model: model.valid(),
        config: loaded.config,
        log,
        steps: total,
        resumed_from,
    })
}

/// Write a resumable checkpoint atomically (a complete directory replaces the old one).
fn write_resume<B: AutodiffBackend>(
    dir: &Path,
    model: &BertClassifier<B>,
    config: &BertConfig,
    labels: &[String],
    opt: &AdamW<B>,
    step: u64,
    log: &[Value],
) -> anyhow::Result<()> {
    let tmp = dir.with_extension("writing");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    save(&model.valid(), config, labels, None, &tmp.join("model"))?;
    opt.save(&tmp.join("optimizer.safetensors"))?;
    std::fs::write(
        tmp.join("state.json"),
        serde_json::to_vec(&json!({"step": step, "log": log}))?,
    )?;
    let old = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old)?;
    }
    std::fs::rename(&tmp, dir)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_hf() {
        // warmup 2 of 10: 0, 0.5, then 1 decaying linearly to 0.125 at the last update.
        let f: Vec<f64> = (0..10).map(|s| lr_factor(s, 2, 10)).collect();
        assert_eq!(f[0], 0.0);
        assert_eq!(f[1], 0.5);
        assert_eq!(f[2], 1.0);
        assert_eq!(f[9], 0.125);
    }

    #[test]
    fn streams_follow_only_what_varies() {
        let all = [
            SeedStream::DataOrder,
            SeedStream::HeadInit,
            SeedStream::Dropout,
        ];
        let (a, b) = (Streams::new(1, &all), Streams::new(2, &all));
        assert!(
            a.data_order != b.data_order && a.head_init != b.head_init && a.dropout != b.dropout
        );
        let only_order = [SeedStream::DataOrder];
        let (a, b) = (Streams::new(1, &only_order), Streams::new(2, &only_order));
        assert_ne!(a.data_order, b.data_order);
        assert_eq!((a.head_init, a.dropout), (b.head_init, b.dropout));
    }

    #[test]
    fn fused_adamw_gives_the_composed_bits() {
        use crate::backend::Cpu;
        use burn::tensor::Distribution;
        let device = Default::default();
        // Larger than one parallel chunk, and not a multiple of it.
        let shape = [37, 1000];
        let normal =
            |scale: f64| Tensor::<Cpu, 2>::random(shape, Distribution::Normal(0.0, scale), &device);
        let bits = |t: &Tensor<Cpu, 2>| -> Vec<u32> {
            let v = t.clone().into_data().to_vec::<f32>().unwrap();
            v.iter().map(|x| x.to_bits()).collect()
        };
        for (wd, scale) in [(0.01, 1.0), (0.0, 0.37)] {
            let p = normal(0.05);
            let (mut fused, mut composed) = (
                (p.clone(), p.zeros_like(), p.zeros_like()),
                (p.clone(), p.zeros_like(), p.zeros_like()),
            );
            for t in 1..=3 {
                let g = normal(0.01);
                let (p, m, v) = fused;
                let u = Update {
                    scale,
                    lr: 2e-5,
                    wd,
                    t,
                };
                fused = adamw(p, g.clone(), m, v, &u.consts())
                    .unwrap_or_else(|_| panic!("Cpu is the CPU backend"));
                let (p, m, v) = composed;
                composed = adam_update(p, g, m, v, u);
                for (a, b) in [
                    (&fused.0, &composed.0),
                    (&fused.1, &composed.1),
                    (&fused.2, &composed.2),
                ] {
                    assert_eq!(bits(a), bits(b), "wd {wd}, scale {scale}, step {t}");
                }
            }
            // The update did something.
            assert_ne!(bits(&fused.0), bits(&p));
        }
    }
}
