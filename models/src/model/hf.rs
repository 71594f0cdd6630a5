//! Hugging Face checkpoints in and out: `config.json` + `model.safetensors` (or, in,
//! `pytorch_model.bin`), with HF's tensor names and PyTorch's layouts. One name table serves both directions, so what we save is
//! exactly what we can load, and what `transformers` loads.

use std::collections::BTreeSet;
use std::path::Path;

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::bert::BertClassifier;
use super::config::BertConfig;
use super::ModelError;
use basins_files::tensorfile::Entry;

/// Tensors a pretraining checkpoint carries that a classifier does not use; skipped silently.
const IGNORED_PREFIXES: [&str; 3] = [
    "cls.",
    "embeddings.position_ids",
    "bert.embeddings.position_ids",
];

/// Files copied next to a saved checkpoint so the directory is usable on its own.
const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

pub(crate) enum Slot<'a, B: Backend> {
    /// A matrix; `transpose` for Linear weights (burn stores [in, out], PyTorch [out, in]).
    Matrix {
        param: &'a mut Param<Tensor<B, 2>>,
        transpose: bool,
    },
    Vector(&'a mut Param<Tensor<B, 1>>),
}

impl<B: Backend> Slot<'_, B> {
    /// The shape in the checkpoint's (PyTorch) layout.
    pub(crate) fn hf_shape(&self) -> Vec<usize> {
        match self {
            Slot::Matrix { param, transpose } => {
                let [a, b] = param.dims();
                if *transpose {
                    vec![b, a]
                } else {
                    vec![a, b]
                }
            }
            Slot::Vector(p) => p.dims().to_vec(),
        }
    }
}

/// Every parameter with its HF name (without the `bert.` prefix for encoder tensors).
pub(crate) fn slots<B: Backend>(m: &mut BertClassifier<B>) -> Vec<(String, Slot<'_, B>)> {
    let mut out: Vec<(String, Slot<'_, B>)> = Vec::new();
    fn linear<'a, B: Backend>(
        out: &mut Vec<(String, Slot<'a, B>)>,
        name: &str,
        l: &'a mut burn::nn::Linear<B>,
    ) {
        out.push((
            format!("{name}.weight"),
            Slot::Matrix {
                param: &mut l.weight,
                transpose: true,
            },
        ));
        out.push((
            format!("{name}.bias"),
            Slot::Vector(l.bias.as_mut().expect("BERT linears have biases")),
        ));
    }
    fn norm<'a, B: Backend>(
        out: &mut Vec<(String, Slot<'a, B>)>,
        name: &str,
        n: &'a mut super::exact::Norm<B>,
    ) {
        out.push((format!("{name}.weight"), Slot::Vector(&mut n.gamma)));
        out.push((format!("{name}.bias"), Slot::Vector(&mut n.beta)));
    }
    let e = &mut m.embeddings;
    out.push((
        "embeddings.word_embeddings.weight".into(),
        Slot::Matrix {
            param: &mut e.word.weight,
            transpose: false,
        },
    ));
    out.push((
        "embeddings.position_embeddings.weight".into(),
        Slot::Matrix {
            param: &mut e.position.weight,
            transpose: false,
        },
    ));
    out.push((
        "embeddings.token_type_embeddings.weight".into(),
        Slot::Matrix {
            param: &mut e.token_type.weight,
            transpose: false,
        },
    ));
    norm(&mut out, "embeddings.LayerNorm", &mut e.norm);
    for (i, l) in m.layers.iter_mut().enumerate() {
        let p = format!("encoder.layer.{i}");
        linear(&mut out, &format!("{p}.attention.self.query"), &mut l.query);
        linear(&mut out, &format!("{p}.attention.self.key"), &mut l.key);
        linear(&mut out, &format!("{p}.attention.self.value"), &mut l.value);
        linear(
            &mut out,
            &format!("{p}.attention.output.dense"),
            &mut l.attn_out,
        );
        norm(
            &mut out,
            &format!("{p}.attention.output.LayerNorm"),
            &mut l.attn_norm,
        );
        linear(
            &mut out,
            &format!("{p}.intermediate.dense"),
            &mut l.intermediate,
        );
        linear(&mut out, &format!("{p}.output.dense"), &mut l.output);
        norm(&mut out, &format!("{p}.output.LayerNorm"), &mut l.out_norm);
    }
    linear(&mut out, "pooler.dense", &mut m.pooler);
    linear(&mut out, "classifier", &mut m.classifier);
    out
}

fn is_head(name: &str) -> bool {
    name.starts_with("classifier.")
}

/// Old TF-converted checkpoints name LayerNorm parameters gamma/beta.
fn aliases(name: &str) -> Vec<String> {
    let mut v = vec![name.to_owned()];
    if name.contains("LayerNorm.weight") {
        v.push(name.replace("LayerNorm.weight", "LayerNorm.gamma"));
    }
    if name.contains("LayerNorm.bias") {
        v.push(name.replace("LayerNorm.bias", "LayerNorm.beta"));
    }
    v
}

/// A model read from a directory.
pub struct LoadedModel<B: Backend> {
    pub model: BertClassifier<B>,
    pub config: BertConfig,
    /// Labels in output order when the checkpoint has a trained head and names its labels.
    pub labels: Option<Vec<String>>,
    /// False when the checkpoint had no classifier (a base model): the head was initialised.
    pub had_head: bool,
    /// Tensors initialised rather than loaded (the head of a base model, a missing pooler).
    pub initialised: Vec<String>,
}

/// Load a Hugging Face BERT directory as a classifier with `num_labels` outputs. A base model's
/// head (and pooler, if absent) is initialised as HF does (normal(0, 0.02), zero bias) from
/// `head_seed`.
pub fn load<B: Backend>(
    dir: &Path,
    num_labels: usize,
    head_seed: u64,
    device: &B::Device,
) -> Result<LoadedModel<B>, ModelError> {
    let config = BertConfig::read(dir)?;
    let weights = super::weights::read(dir, true)?;
    let path = weights.path.clone();
    let names: BTreeSet<String> = weights.tensors.keys().cloned().collect();
    let prefix = if names.iter().any(|n| n.starts_with("bert.")) {
        "bert."
    } else {
        ""
    };
    let had_head = names.contains("classifier.weight");
    // The model is allocated from config.json before the tensors are compared with it, so
    // the config must first be shown to describe weights this file can hold: otherwise a
    // config claiming a huge model aborts on allocation (found by the model_dir fuzz target).
    let needed = config.min_weights();
    let held = weights.file_len as u128 / 4;
    if needed > held {
        return Err(ModelError::Weights {
            path: path.clone(),
            message: format!(
                "config.json describes at least {needed} weights, but the file holds at most \
                 {held} F32 values: the config and the weights are of different models"
            ),
        });
    }
    if num_labels == 0 || num_labels > super::config::MAX_LABELS {
        return Err(ModelError::Weights {
            path: path.clone(),
            message: format!("a classifier with {num_labels} labels (basins takes 1 to 100000)"),
        });
    }
    let mut model = BertClassifier::<B>::new(&config, num_labels, device);
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    let mut initialised = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(head_seed);
    for (name, slot) in slots(&mut model) {
        let full = if is_head(&name) {
            name.clone()
        } else {
            format!("{prefix}{name}")
        };
        let found = aliases(&full).into_iter().find(|n| names.contains(n));
        let expected = slot.hf_shape();
        let Some(found) = found else {
            if is_head(&name) || (name.starts_with("pooler.") && !had_head) {
                init_slot(slot, &mut rng, device);
                initialised.push(full);
            } else {
                problems.push(format!("  missing    {full}  expected shape {expected:?}"));
            }
            continue;
        };
        used.insert(found.clone());
        let stored = &weights.tensors[&found];
        if stored.shape != expected {
            let hint = if is_head(&name) {
                " (the checkpoint's head has a different number of labels)"
            } else {
                ""
            };
            problems.push(format!(
                "  mis-shaped {found}  expected {expected:?}, found {:?}{hint}",
                stored.shape
            ));
            continue;
        }
        match &stored.values {
            Some(values) if values.len() == expected.iter().product::<usize>() => {
                set_slot(slot, values.clone(), &expected, device)
            }
            Some(values) => problems.push(format!(
                "  truncated  {found}  holds {} values for shape {expected:?}",
                values.len()
            )),
            None => problems.push(format!(
                "  dtype      {found}  is {}; only F32 checkpoints are read (save with torch_dtype=float32)",
                stored.dtype
            )),
        }
    }
    for (n, stored) in &weights.tensors {
        if !used.contains(n) && !IGNORED_PREFIXES.iter().any(|p| n.starts_with(p)) {
            problems.push(format!("  unexpected {n}  shape {:?}", stored.shape));
        }
    }
    if !problems.is_empty() {
        return Err(ModelError::Tensors { path, problems });
    }
    let labels = if had_head { config.labels() } else { None };
    Ok(LoadedModel {
        model,
        config,
        labels,
        had_head,
        initialised,
    })
}

pub(crate) fn set_slot<B: Backend>(
    slot: Slot<'_, B>,
    values: Vec<f32>,
    hf_shape: &[usize],
    device: &B::Device,
) {
    match slot {
        Slot::Matrix { param, transpose } => {
            let t = Tensor::<B, 2>::from_data(
                TensorData::new(values, [hf_shape[0], hf_shape[1]]),
                device,
            );
            *param = Param::from_tensor(if transpose { t.transpose() } else { t });
        }
        Slot::Vector(param) => {
            *param = Param::from_tensor(Tensor::<B, 1>::from_data(
                TensorData::new(values, [hf_shape[0]]),
                device,
            ));
        }
    }
}

/// HF's `_init_weights` for Linear layers: weight ~ N(0, 0.02), bias = 0.
fn init_slot<B: Backend>(slot: Slot<'_, B>, rng: &mut ChaCha8Rng, device: &B::Device) {
    let shape = slot.hf_shape();
    let n: usize = shape.iter().product();
    let values = match slot {
        Slot::Matrix { .. } => (0..n).map(|_| 0.02 * standard_normal(rng)).collect(),
        Slot::Vector(_) => vec![0.0; n],
    };
    set_slot(slot, values, &shape, device);
}

/// Initialise every weight as Hugging Face's `_init_weights` does (matrices and embeddings
/// N(0, 0.02), biases 0, LayerNorm scales 1), from `seed` alone: a new model to pretrain, or
/// a tiny one for tests.
pub fn init_random<B: Backend>(model: &mut BertClassifier<B>, seed: u64, device: &B::Device) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (name, slot) in slots(model) {
        let shape = slot.hf_shape();
        let n: usize = shape.iter().product();
        let values = match &slot {
            Slot::Matrix { .. } => (0..n).map(|_| 0.02 * standard_normal(&mut rng)).collect(),
            Slot::Vector(_) if name.ends_with("LayerNorm.weight") => vec![1.0; n],
            Slot::Vector(_) => vec![0.0; n],
        };
        set_slot(slot, values, &shape, device);
    }
}

/// Box-Muller: one standard normal draw, deterministic for a given generator state.
pub(crate) fn standard_normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

pub(crate) fn slot_values<B: Backend>(slot: &Slot<'_, B>) -> Vec<f32> {
    let data = match slot {
        Slot::Matrix { param, transpose } => {
            let t = param.val();
            if *transpose {
                t.transpose().into_data()
            } else {
                t.into_data()
            }
        }
        Slot::Vector(p) => p.val().into_data(),
    };
    data.convert::<f32>().to_vec::<f32>().expect("f32 data")
}

/// Save as a `BertForSequenceClassification` directory that `transformers` loads:
/// `config.json` (with `id2label`), `model.safetensors` with HF names, and the tokenizer
/// files copied from `tokenizer_from`.
pub fn save<B: Backend>(
    model: &BertClassifier<B>,
    config: &BertConfig,
    labels: &[String],
    tokenizer_from: Option<&Path>,
    dir: &Path,
) -> Result<(), ModelError> {
    let cfg = config.clone().with_labels(labels);
    write_dir(model, &cfg, true, Vec::new(), tokenizer_from, dir)
}

/// Save a pretrained base model (no classifier: finetuning initialises one per seed), plus
/// `extra` tensors such as a masked-LM head, which loading as a classifier skips.
pub fn save_base<B: Backend>(
    model: &BertClassifier<B>,
    config: &BertConfig,
    extra: Vec<Entry>,
    dir: &Path,
) -> Result<(), ModelError> {
    write_dir(model, config, false, extra, None, dir)
}

fn write_dir<B: Backend>(
    model: &BertClassifier<B>,
    cfg: &BertConfig,
    with_head: bool,
    extra: Vec<Entry>,
    tokenizer_from: Option<&Path>,
    dir: &Path,
) -> Result<(), ModelError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |e| ModelError::Io { path, source: e }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut model = model.clone();
    let mut entries: Vec<Entry> = slots(&mut model)
        .into_iter()
        .filter(|(name, _)| with_head || !is_head(name))
        .map(|(name, slot)| {
            let full = if is_head(&name) {
                name.clone()
            } else {
                format!("bert.{name}")
            };
            Entry::f32(full, slot.hf_shape(), &slot_values(&slot))
        })
        .collect();
    entries.extend(extra);
    let path = dir.join("model.safetensors");
    basins_files::tensorfile::write(&path, &entries, Some(("format", "pt".to_owned()))).map_err(
        |e| ModelError::Weights {
            path: path.clone(),
            message: e.to_string(),
        },
    )?;
    let cfg_path = dir.join("config.json");
    std::fs::write(
        &cfg_path,
        serde_json::to_vec_pretty(cfg).expect("config serialises"),
    )
    .map_err(io(&cfg_path))?;
    if let Some(src) = tokenizer_from {
        for f in TOKENIZER_FILES {
            let from = src.join(f);
            if from.exists() {
                std::fs::copy(&from, dir.join(f)).map_err(io(&from))?;
            }
        }
    }
    Ok(())
}

/// One tensor of a checkpoint, as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// The tensors of a directory's weight file (`model.safetensors` or `pytorch_model.bin`), by
/// name.
pub fn tensor_table(dir: &Path) -> Result<Vec<TensorInfo>, ModelError> {
    let weights = super::weights::read(dir, false)?;
    Ok(weights
        .tensors
        .into_iter()
        .map(|(name, t)| TensorInfo {
            name,
            dtype: t.dtype,
            shape: t.shape,
        })
        .collect())
}
