//! What `basins model inspect` and `basins model predict` show: enough to check an imported or
//! finetuned checkpoint without writing code; and [`Composed`], a checkpoint's composed forward
//! pass on any compiled-in backend for the conformance tests.

use std::path::Path;

use burn::module::Module;
use burn::tensor::activation::softmax;
use serde::Serialize;

use super::hf::{load, tensor_table, LoadedModel, TensorInfo};
use super::{BertClassifier, BertConfig, ModelError};
use burn::tensor::backend::Backend;

use crate::backend::{Compute, Cpu};
use crate::text::{to_batch, to_batch_padded, Encoded, TextEncoder};

#[derive(Debug, Serialize)]
pub struct Summary {
    pub dir: String,
    pub architecture: String,
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub max_position: usize,
    /// Parameters of the classifier basins builds (encoder, pooler, head).
    pub parameters: usize,
    /// Whether the checkpoint has a trained classification head.
    pub has_head: bool,
    pub labels: Option<Vec<String>>,
    pub tensors: Vec<TensorInfo>,
}

pub fn inspect(dir: &Path) -> Result<Summary, ModelError> {
    let config = BertConfig::read(dir)?;
    let tensors = tensor_table(dir)?;
    let head = tensors.iter().find(|t| t.name == "classifier.weight");
    let num_labels = head.map_or(2, |t| t.shape[0]);
    let device = Default::default();
    let loaded = load::<Cpu>(dir, num_labels, 0, &device)?;
    Ok(Summary {
        dir: dir.display().to_string(),
        architecture: config
            .architectures
            .clone()
            .and_then(|a| a.first().cloned())
            .unwrap_or_else(|| "BertModel".into()),
        layers: config.num_hidden_layers,
        hidden: config.hidden_size,
        heads: config.num_attention_heads,
        intermediate: config.intermediate_size,
        vocab: config.vocab_size,
        max_position: config.max_position_embeddings,
        parameters: loaded.model.num_params(),
        has_head: loaded.had_head,
        labels: loaded
            .had_head
            .then(|| label_names(&loaded.labels, num_labels)),
        tensors,
    })
}

fn label_names(labels: &Option<Vec<String>>, n: usize) -> Vec<String> {
    labels
        .clone()
        .unwrap_or_else(|| (0..n).map(|i| format!("LABEL_{i}")).collect())
}

#[derive(Debug, Serialize)]
pub struct Prediction {
    pub first: String,
    pub second: Option<String>,
    pub tokens: usize,
    pub probabilities: Vec<(String, f32)>,
    pub predicted: String,
    /// Final hidden states, one row per token (`[CLS]` first), when asked for.
    pub hidden: Option<Vec<Vec<f32>>>,
}

#[derive(Debug, Serialize)]
pub struct Predictions {
    /// False for a base model: its head was initialised from seed 0 and its probabilities
    /// mean nothing (its hidden states do).
    pub trained_head: bool,
    pub predictions: Vec<Prediction>,
}

/// Run the model on each example alone (no padding), on `compute`.
pub fn predict(
    dir: &Path,
    examples: &[(String, Option<String>)],
    max_len: usize,
    with_hidden: bool,
    compute: Compute,
) -> Result<Predictions, anyhow::Error> {
    match compute {
        Compute::Cpu => predict_on::<Cpu>(dir, examples, max_len, with_hidden, &Default::default()),
        #[cfg(feature = "cuda")]
        Compute::Cuda(i) => predict_on::<crate::backend::Cuda>(
            dir,
            examples,
            max_len,
            with_hidden,
            &crate::backend::cuda::device(i)?,
        ),
        #[cfg(not(feature = "cuda"))]
        Compute::Cuda(_) => anyhow::bail!(crate::backend::NO_CUDA),
        #[cfg(feature = "wgpu")]
        Compute::Wgpu => predict_on::<crate::backend::Wgpu>(
            dir,
            examples,
            max_len,
            with_hidden,
            &crate::backend::wgpu::device()?,
        ),
        #[cfg(not(feature = "wgpu"))]
        Compute::Wgpu => anyhow::bail!(crate::backend::NO_WGPU),
    }
}

fn predict_on<B: Backend>(
    dir: &Path,
    examples: &[(String, Option<String>)],
    max_len: usize,
    with_hidden: bool,
    device: &B::Device,
) -> Result<Predictions, anyhow::Error> {
    let tensors = tensor_table(dir)?;
    let num_labels = tensors
        .iter()
        .find(|t| t.name == "classifier.weight")
        .map_or(2, |t| t.shape[0]);
    let loaded = load::<B>(dir, num_labels, 0, device)?;
    let labels = label_names(&loaded.labels, num_labels);
    let enc = TextEncoder::from_dir(dir, max_len)?;
    let texts: Vec<(&str, Option<&str>)> = examples
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_deref()))
        .collect();
    let encoded = enc.encode(&texts)?;
    let mut predictions = Vec::new();
    for (e, (a, b)) in encoded.iter().zip(examples) {
        let out = loaded
            .model
            .forward(&to_batch::<B>(&[e], enc.pad_id, device));
        let probs: Vec<f32> = softmax(out.logits, 1)
            .into_data()
            .convert::<f32>()
            .to_vec()?;
        let best = probs
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .map_or(0, |(i, _)| i);
        let hidden = with_hidden.then(|| {
            let [_, seq, h] = out.hidden.dims();
            let v: Vec<f32> = out
                .hidden
                .into_data()
                .convert::<f32>()
                .to_vec()
                .unwrap_or_default();
            (0..seq).map(|t| v[t * h..(t + 1) * h].to_vec()).collect()
        });
        predictions.push(Prediction {
            first: a.clone(),
            second: b.clone(),
            tokens: e.ids.len(),
            probabilities: labels.iter().cloned().zip(probs.iter().copied()).collect(),
            predicted: labels[best].clone(),
            hidden,
        });
    }
    Ok(Predictions {
        trained_head: loaded.had_head,
        predictions,
    })
}

/// A checkpoint loaded for burn's composed forward pass (the one training and the GPU backends
/// run) on one of the compiled-in backends, behind no generic parameter. The conformance tests
/// call it, so that their crates do not instantiate a backend's generics again: the wgpu test
/// doing so took 244 s of the test build at opt-level 3, its longest unit.
pub enum Composed {
    Cpu(LoadedModel<Cpu>),
    #[cfg(feature = "wgpu")]
    Wgpu(
        LoadedModel<crate::backend::Wgpu>,
        burn::backend::wgpu::WgpuDevice,
    ),
}

impl Composed {
    /// The checkpoint in `dir` with a `num_labels`-way head, on `compute` (the CPU, or wgpu's
    /// default adapter).
    pub fn load(dir: &Path, num_labels: usize, compute: Compute) -> anyhow::Result<Composed> {
        match compute {
            Compute::Cpu => Ok(Composed::Cpu(load::<Cpu>(
                dir,
                num_labels,
                0,
                &Default::default(),
            )?)),
            #[cfg(feature = "wgpu")]
            Compute::Wgpu => {
                let device = crate::backend::wgpu::device()?;
                let loaded = load::<crate::backend::Wgpu>(dir, num_labels, 0, &device)?;
                Ok(Composed::Wgpu(loaded, device))
            }
            other => anyhow::bail!("the composed forward pass is not offered on {other} here"),
        }
    }

    /// Whether the checkpoint had a trained head, and the tensors initialised rather than
    /// loaded.
    pub fn loaded(&self) -> (bool, &[String]) {
        match self {
            Composed::Cpu(m) => (m.had_head, &m.initialised),
            #[cfg(feature = "wgpu")]
            Composed::Wgpu(m, _) => (m.had_head, &m.initialised),
        }
    }

    /// The CPU model itself (for `FrozenBert::from_model`), when on the CPU.
    pub fn cpu(&self) -> Option<&BertClassifier<Cpu>> {
        match self {
            Composed::Cpu(m) => Some(&m.model),
            #[cfg(feature = "wgpu")]
            Composed::Wgpu(..) => None,
        }
    }

    /// Final hidden states and logits of `batch`, padded with `pad_id` to a multiple of
    /// `multiple` positions.
    pub fn hidden_rows(
        &self,
        batch: &[&Encoded],
        pad_id: u32,
        multiple: usize,
    ) -> anyhow::Result<HiddenRows> {
        match self {
            Composed::Cpu(m) => {
                hidden_rows_on(&m.model, batch, pad_id, multiple, &Default::default())
            }
            #[cfg(feature = "wgpu")]
            Composed::Wgpu(m, device) => hidden_rows_on(&m.model, batch, pad_id, multiple, device),
        }
    }
}

/// What [`Composed::hidden_rows`] returns, per example of the batch.
pub struct HiddenRows {
    /// Its final hidden states at its own positions, `[position][hidden]` flattened.
    pub hidden: Vec<Vec<f32>>,
    pub logits: Vec<Vec<f32>>,
}

fn hidden_rows_on<B: Backend>(
    model: &BertClassifier<B>,
    batch: &[&Encoded],
    pad_id: u32,
    multiple: usize,
    device: &B::Device,
) -> anyhow::Result<HiddenRows> {
    let input = to_batch_padded::<B>(batch, pad_id, multiple, device);
    let out = model.forward(&input);
    let [b, seq, h] = out.hidden.dims();
    let hidden: Vec<f32> = out.hidden.into_data().convert::<f32>().to_vec()?;
    let logits: Vec<f32> = out.logits.into_data().convert::<f32>().to_vec()?;
    let n = logits.len() / b.max(1);
    let rows = (0..b)
        .map(|i| hidden[i * seq * h..i * seq * h + batch[i].ids.len() * h].to_vec())
        .collect();
    Ok(HiddenRows {
        hidden: rows,
        logits: logits.chunks(n.max(1)).map(<[f32]>::to_vec).collect(),
    })
}
