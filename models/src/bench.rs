//! `basins bench`: train and eval throughput (sequences per second) of a model directory at
//! fixed shapes, the same shapes `scripts/bench_torch.py` runs with PyTorch, and evaluation of
//! a real dev set with and without dynamic padding.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::backend::{Compute, CpuTrain, FloatKind};
use crate::eval::{CpuForward, Scorer};
use crate::model::{load, BertClassifier};
use crate::text::{length_grouped, to_batch, Encoded, TextEncoder};
use crate::train::{cross_entropy, AdamW};
use basins_files::data::{read, DataFormat, OnBadRow, ReadOptions};

#[derive(Debug, Clone)]
pub struct BenchSpec {
    pub seqs: Vec<usize>,
    pub train_batch: usize,
    pub eval_batch: usize,
    /// Timed steps (after one untimed warm-up step).
    pub train_steps: usize,
    pub eval_batches: usize,
    /// The CPU evaluation forward pass to time (the stages use `CpuForward::Frozen`).
    pub cpu_forward: CpuForward,
}

#[derive(Debug, Serialize)]
pub struct ShapeResult {
    pub seq: usize,
    pub train_batch: usize,
    pub train_seq_per_s: f64,
    pub eval_batch: usize,
    pub eval_seq_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct PaddingResult {
    pub file: String,
    pub examples: usize,
    /// The first pass over the file, its batch shapes new (on a GPU: compilation and
    /// autotuning included).
    pub dynamic_first_pass_seq_per_s: f64,
    pub dynamic_seq_per_s: f64,
    pub padded_to_max_len_seq_per_s: f64,
    /// Finetuning on the file: consecutive batches of `train_batch` examples in file order,
    /// each padded to its longest (what the finetune stage's batches are), an AdamW step each.
    pub train_dynamic_seq_per_s: f64,
    pub mean_tokens: f64,
    pub max_len: usize,
    /// What "dynamic" batches are rounded up to on this backend (`backend::seq_multiple`).
    pub seq_multiple: usize,
}

fn random_batch(n: usize, seq: usize, vocab: usize, rng: &mut ChaCha8Rng) -> Vec<Encoded> {
    (0..n)
        .map(|_| {
            let mut ids: Vec<u32> = (0..seq)
                .map(|_| rng.random_range(1000..vocab as u32))
                .collect();
            ids[0] = 101;
            ids[seq - 1] = 102;
            let type_ids = (0..seq).map(|t| u32::from(t >= seq / 2)).collect();
            Encoded { ids, type_ids }
        })
        .collect()
}

/// Training throughput: one untimed warm-up step on `batches[0]`, then `steps` timed steps on
/// the batches that follow it (cycling), each padded with `pad_id` to its longest example.
fn time_train<B: AutodiffBackend>(
    model: BertClassifier<B>,
    batches: &[Vec<&Encoded>],
    pad_id: u32,
    steps: usize,
    device: &B::Device,
) -> f64 {
    let mut model = model;
    let mut opt = AdamW::<B>::new();
    let mut step = |model: &mut BertClassifier<B>, refs: &[&Encoded]| {
        let labels: Vec<usize> = (0..refs.len()).map(|i| i % 2).collect();
        let input = to_batch::<B>(refs, pad_id, device);
        let (loss, _) = cross_entropy(model.forward(&input).logits, &labels);
        let grads = GradientsParams::from_grads(loss.backward(), &*model);
        opt.step(model, &grads, 1e-5, 0.01, 1.0);
    };
    step(&mut model, &batches[0]);
    sync::<B>(device);
    let t = Instant::now();
    let mut seqs = 0;
    for i in 0..steps {
        let b = &batches[(1 + i) % batches.len()];
        step(&mut model, b);
        seqs += b.len();
    }
    // A GPU backend queues work: the clock stops when the device has done it.
    sync::<B>(device);
    seqs as f64 / t.elapsed().as_secs_f64()
}

fn sync<B: Backend>(device: &B::Device) {
    if let Err(e) = B::sync(device) {
        tracing::warn!("device sync failed: {e:?}");
    }
}

fn time_eval<B: Backend>(
    model: &BertClassifier<B>,
    batches: &[Vec<&Encoded>],
    forward: CpuForward,
    device: &B::Device,
) -> anyhow::Result<f64> {
    // The scorer is built inside the timed region, as an evaluate stage builds it per model.
    let probs = |batches: &[Vec<&Encoded>]| {
        Scorer::new(model, forward)?.batch_probs(batches, 0, device, &mut |_| {})
    };
    // One untimed batch of every distinct shape: a GPU backend compiles and autotunes kernels
    // the first time it sees a shape, which is a one-off cost, not throughput.
    let mut seen = std::collections::HashSet::new();
    for b in batches {
        let seq = b.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        if seen.insert((b.len(), seq)) {
            probs(std::slice::from_ref(b))?;
        }
    }
    // Timed as the evaluate and interpolate stages run it (batches on several CPU threads).
    let t = Instant::now();
    probs(batches)?;
    let n: usize = batches.iter().map(Vec::len).sum();
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// What one `basins bench` measures.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub shapes: Vec<ShapeResult>,
    pub padding: Option<PaddingResult>,
}

/// Time every shape of `spec`, then (with `cola`) a real dev set with and without dynamic
/// padding, on `compute` in `float` precision. `report` sees each shape as it is done.
pub fn bench(
    dir: &Path,
    spec: &BenchSpec,
    cola: Option<&Path>,
    compute: Compute,
    float: FloatKind,
    report: &dyn Fn(&ShapeResult),
) -> anyhow::Result<BenchResult> {
    match (compute, float) {
        (Compute::Cpu, FloatKind::F32) => {
            bench_on::<CpuTrain>(dir, spec, cola, &Default::default(), report)
        }
        (Compute::Cpu, _) => anyhow::bail!("half precision is only offered with --backend cuda"),
        #[cfg(feature = "cuda")]
        (Compute::Cuda(i), f) => {
            use burn::backend::Autodiff;
            let device = crate::backend::cuda::device(i)?;
            match f {
                FloatKind::F32 => {
                    bench_on::<crate::backend::CudaTrain>(dir, spec, cola, &device, report)
                }
                FloatKind::F16 => {
                    bench_on::<Autodiff<crate::backend::CudaF16>>(dir, spec, cola, &device, report)
                }
                FloatKind::Bf16 => {
                    bench_on::<Autodiff<crate::backend::CudaBf16>>(dir, spec, cola, &device, report)
                }
            }
        }
        #[cfg(not(feature = "cuda"))]
        (Compute::Cuda(_), _) => anyhow::bail!(crate::backend::NO_CUDA),
        #[cfg(feature = "wgpu")]
        (Compute::Wgpu, FloatKind::F32) => bench_on::<crate::backend::WgpuTrain>(
            dir,
            spec,
            cola,
            &crate::backend::wgpu::device()?,
            report,
        ),
        #[cfg(not(feature = "wgpu"))]
        (Compute::Wgpu, FloatKind::F32) => anyhow::bail!(crate::backend::NO_WGPU),
        (Compute::Wgpu, _) => anyhow::bail!("half precision is only offered with --backend cuda"),
    }
}

fn bench_on<B: AutodiffBackend>(
    dir: &Path,
    spec: &BenchSpec,
    cola: Option<&Path>,
    device: &B::Device,
    report: &dyn Fn(&ShapeResult),
) -> anyhow::Result<BenchResult> {
    let config = crate::model::BertConfig::read(dir)?;
    let positions = config.max_position_embeddings;
    if let Some(&seq) = spec.seqs.iter().find(|&&s| s == 0 || s > positions) {
        anyhow::bail!(
            "--seq {seq}: the model in {} takes 1 to {positions} tokens (max_position_embeddings)",
            dir.display()
        );
    }
    // The fixed-shape comparison pads to 128, or to what the model takes if that is less. The
    // file is read and encoded before anything is timed, so a bad one is refused at once (a
    // `--cola /dev/null` once failed only after minutes of timing runs).
    let max_len = positions.min(128);
    let cola = cola.map(|c| encode_cola(dir, c, max_len)).transpose()?;
    let shapes = shapes_on::<B>(dir, spec, config.vocab_size, device, report)?;
    let padding = cola
        .map(|c| {
            let batches: Vec<Vec<&Encoded>> = c
                .encoded
                .chunks(spec.train_batch)
                .map(|b| b.iter().collect())
                .collect();
            let model = load::<B>(dir, 2, 0, device)?.model;
            let train = time_train::<B>(model, &batches, c.pad_id, spec.train_steps, device);
            padding_on::<B::InnerBackend>(dir, &c, spec, max_len, train, device)
        })
        .transpose()?;
    Ok(BenchResult { shapes, padding })
}

/// A CoLA-layout file, read and encoded for [`padding_on`].
struct EncodedFile {
    path: PathBuf,
    encoded: Vec<Encoded>,
    pad_id: u32,
}

fn encode_cola(dir: &Path, cola: &Path, max_len: usize) -> anyhow::Result<EncodedFile> {
    let labels = vec!["0".to_string(), "1".to_string()];
    let ds = read(
        cola,
        &ReadOptions {
            format: DataFormat::Cola,
            labels,
            on_bad_row: OnBadRow::Error,
            fields: Default::default(),
        },
    )?;
    let enc = TextEncoder::from_dir(dir, max_len)?;
    Ok(EncodedFile {
        path: cola.to_owned(),
        encoded: enc.encode_dataset(&ds)?,
        pad_id: enc.pad_id,
    })
}

fn shapes_on<B: AutodiffBackend>(
    dir: &Path,
    spec: &BenchSpec,
    vocab: usize,
    device: &B::Device,
    report: &dyn Fn(&ShapeResult),
) -> anyhow::Result<Vec<ShapeResult>> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut out = Vec::new();
    for &seq in &spec.seqs {
        let train_model = load::<B>(dir, 2, 0, device)?.model;
        let train_batch = random_batch(spec.train_batch, seq, vocab, &mut rng);
        let refs: Vec<&Encoded> = train_batch.iter().collect();
        let train = time_train::<B>(train_model, &[refs], 0, spec.train_steps, device);
        let eval_model = load::<B::InnerBackend>(dir, 2, 0, device)?.model;
        let examples = random_batch(spec.eval_batch * spec.eval_batches, seq, vocab, &mut rng);
        let batches: Vec<Vec<&Encoded>> = examples
            .chunks(spec.eval_batch)
            .map(|c| c.iter().collect())
            .collect();
        let eval = time_eval::<B::InnerBackend>(&eval_model, &batches, spec.cpu_forward, device)?;
        let r = ShapeResult {
            seq,
            train_batch: spec.train_batch,
            train_seq_per_s: train,
            eval_batch: spec.eval_batch,
            eval_seq_per_s: eval,
        };
        report(&r);
        out.push(r);
    }
    Ok(out)
}

/// Evaluate a CoLA-layout file twice: batches grouped by length and padded to their longest
/// example, and every example padded to `max_len` (what a fixed-shape pipeline does); with the
/// training throughput on it, measured before.
fn padding_on<B: Backend>(
    dir: &Path,
    cola: &EncodedFile,
    spec: &BenchSpec,
    max_len: usize,
    train_dynamic_seq_per_s: f64,
    device: &B::Device,
) -> anyhow::Result<PaddingResult> {
    let (batch, forward) = (spec.eval_batch, spec.cpu_forward);
    let encoded = &cola.encoded;
    let model = load::<B>(dir, 2, 0, device)?.model;
    let lengths: Vec<usize> = encoded.iter().map(|e| e.ids.len()).collect();
    let order: Vec<usize> = (0..encoded.len()).collect();
    let dynamic: Vec<Vec<&Encoded>> = length_grouped(&lengths, batch, &order)
        .iter()
        .map(|b| b.iter().map(|&i| &encoded[i]).collect())
        .collect();
    let padded_examples: Vec<Encoded> = encoded
        .iter()
        .map(|e| {
            let mut p = e.clone();
            p.ids.resize(max_len, cola.pad_id);
            p.type_ids.resize(max_len, 0);
            p
        })
        .collect();
    // Padding tokens attended as real ones would change results; here only speed is measured.
    let padded: Vec<Vec<&Encoded>> = padded_examples
        .chunks(batch)
        .map(|c| c.iter().collect())
        .collect();
    // The first pass over the file, before any of its batch shapes has been seen: what one
    // evaluation costs when the shapes are new (on a GPU, compiling and autotuning included).
    let t = Instant::now();
    Scorer::new(&model, forward)?.batch_probs(&dynamic, 0, device, &mut |_| {})?;
    let first_pass = encoded.len() as f64 / t.elapsed().as_secs_f64();
    Ok(PaddingResult {
        file: cola.path.display().to_string(),
        examples: encoded.len(),
        dynamic_first_pass_seq_per_s: first_pass,
        dynamic_seq_per_s: time_eval::<B>(&model, &dynamic, forward, device)?,
        padded_to_max_len_seq_per_s: time_eval::<B>(&model, &padded, forward, device)?,
        train_dynamic_seq_per_s,
        mean_tokens: lengths.iter().sum::<usize>() as f64 / lengths.len().max(1) as f64,
        max_len,
        seq_multiple: crate::backend::seq_multiple::<B>(),
    })
}
