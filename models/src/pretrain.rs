//! Masked-language-model pretraining of a small BERT on generated sentences, so that every
//! finetuned model of a study starts from one shared pretrained init, as in the paper (where
//! all runs start from Google's BERT-base). BERT's recipe: 15% of word tokens chosen, of those
//! 80% replaced by `[MASK]`, 10% by a random word, 10% kept; the decoder shares the word
//! embeddings. Inputs are related sentence pairs from the generators (token types 0 and 1),
//! so the type embeddings the finetuned NLI models use are trained too.

use std::path::Path;

use anyhow::Context;
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use basins_study::manifest::PretrainSpec;

use crate::backend::seq_multiple;
use crate::model::{
    affine,
    exact::{gelu, Norm},
    init_random, linear, save_base, slots, standard_normal, BertClassifier, BertConfig, Slot,
};
use crate::text::{Encoded, TextEncoder};
use crate::train::{cross_entropy, epoch_order, lr_factor, scalar, AdamW, RNG_LOCK};
use basins_files::generate::{grammar, nli};
use basins_files::tensorfile::Entry;

/// BERT's special tokens, first in the vocabulary in this order.
const SPECIAL: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
const MASK_ID: u32 = 4;

/// The architecture of a builtin model, as the manifest gives it (defaults filled in).
pub use basins_study::manifest::Architecture;

/// BERT's masked-LM head: transform (dense, GELU, LayerNorm), then the tied word embeddings
/// and an output bias.
#[derive(Module, Debug)]
pub struct MlmHead<B: Backend> {
    pub dense: Linear<B>,
    pub norm: Norm<B>,
    pub bias: Param<Tensor<B, 1>>,
}

#[derive(Module, Debug)]
pub struct MlmModel<B: Backend> {
    pub bert: BertClassifier<B>,
    pub head: MlmHead<B>,
}

impl<B: Backend> MlmModel<B> {
    fn new(cfg: &BertConfig, seed: u64, device: &B::Device) -> Self {
        let mut bert = BertClassifier::new(cfg, 2, device);
        init_random(&mut bert, seed, device);
        let h = cfg.hidden_size;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d6c_6d68);
        let w: Vec<f32> = (0..h * h)
            .map(|_| 0.02 * standard_normal(&mut rng))
            .collect();
        let mut dense = LinearConfig::new(h, h)
            .with_initializer(Initializer::Zeros)
            .init(device);
        dense.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [h, h]), device));
        MlmModel {
            bert,
            head: MlmHead {
                dense,
                norm: Norm::new(h, cfg.layer_norm_eps, device),
                bias: Param::from_tensor(Tensor::zeros([cfg.vocab_size], device)),
            },
        }
    }

    /// Logits over the vocabulary at the flat positions `at` ([batch * seq] indexing).
    fn forward(&self, input: &crate::model::BatchInput<B>, at: Tensor<B, 1, Int>) -> Tensor<B, 2> {
        let hidden = self.bert.encode(input);
        let [b, s, h] = hidden.dims();
        let x = hidden.reshape([b * s, h]).select(0, at);
        let x = self.head.norm.forward(gelu(linear(&self.head.dense, x)));
        let words = self.bert.embeddings.word.weight.val();
        affine(x, words.transpose(), self.head.bias.val())
    }

    /// Every parameter with its Hugging Face name (`BertForMaskedLM`'s for the head).
    fn slots(&mut self) -> Vec<(String, Slot<'_, B>)> {
        let MlmModel { bert, head } = self;
        let mut v = slots(bert);
        v.push((
            "cls.predictions.transform.dense.weight".into(),
            Slot::Matrix {
                param: &mut head.dense.weight,
                transpose: true,
            },
        ));
        v.push((
            "cls.predictions.transform.dense.bias".into(),
            Slot::Vector(head.dense.bias.as_mut().expect("dense has a bias")),
        ));
        v.push((
            "cls.predictions.transform.LayerNorm.weight".into(),
            Slot::Vector(&mut head.norm.gamma),
        ));
        v.push((
            "cls.predictions.transform.LayerNorm.bias".into(),
            Slot::Vector(&mut head.norm.beta),
        ));
        v.push(("cls.predictions.bias".into(), Slot::Vector(&mut head.bias)));
        v
    }

    fn head_entries(&self) -> Vec<Entry> {
        let values = |t: Tensor<B, 1>| t.into_data().convert::<f32>().to_vec::<f32>().expect("f32");
        let h = &self.head;
        let w = h.dense.weight.val();
        let [i, o] = w.dims();
        let wt: Vec<f32> = w
            .transpose()
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32");
        vec![
            Entry::f32("cls.predictions.transform.dense.weight", vec![o, i], &wt),
            Entry::f32(
                "cls.predictions.transform.dense.bias",
                vec![o],
                &values(h.dense.bias.as_ref().expect("bias").val()),
            ),
            Entry::f32(
                "cls.predictions.transform.LayerNorm.weight",
                vec![o],
                &values(h.norm.gamma.val()),
            ),
            Entry::f32(
                "cls.predictions.transform.LayerNorm.bias",
                vec![o],
                &values(h.norm.beta.val()),
            ),
            Entry::f32(
                "cls.predictions.bias",
                vec![h.bias.dims()[0]],
                &values(h.bias.val()),
            ),
        ]
    }
}

/// The config of a builtin model with the grammar's vocabulary.
pub fn config(arch: &Architecture, vocab_size: usize) -> anyhow::Result<BertConfig> {
    anyhow::ensure!(
        arch.heads > 0 && arch.hidden.is_multiple_of(arch.heads),
        "builtin model: hidden {} is not divisible by heads {}",
        arch.hidden,
        arch.heads
    );
    let cfg: BertConfig = serde_json::from_value(json!({
        "vocab_size": vocab_size,
        "hidden_size": arch.hidden,
        "num_hidden_layers": arch.layers,
        "num_attention_heads": arch.heads,
        "intermediate_size": arch.intermediate,
        "max_position_embeddings": arch.max_position,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": arch.dropout(),
        "attention_probs_dropout_prob": arch.dropout(),
        "hidden_act": "gelu",
        "pad_token_id": 0,
        "architectures": ["BertForMaskedLM"],
        "model_type": "bert",
    }))?;
    Ok(cfg)
}

/// Write the tokenizer files (`vocab.txt`: special tokens, then the grammar's words) and
/// return the vocabulary size.
pub fn write_tokenizer(dir: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut vocab: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    vocab.extend(grammar::vocabulary());
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n")?;
    std::fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::to_vec_pretty(&json!({"do_lower_case": true, "model_max_length": 512}))?,
    )?;
    Ok(vocab.len())
}

/// A batch with chosen tokens masked.
struct Masked {
    inputs: Vec<Encoded>,
    /// (example, token) of each masked token, in order.
    at: Vec<(usize, usize)>,
    /// The original id of each masked token.
    targets: Vec<usize>,
}

/// Choose and mask tokens: BERT's 80% `[MASK]`, 10% a random word, 10% kept.
fn mask_batch(batch: &[&Encoded], rng: &mut ChaCha8Rng, prob: f64, vocab: usize) -> Masked {
    let mut inputs = Vec::with_capacity(batch.len());
    let (mut at, mut targets) = (Vec::new(), Vec::new());
    for (b, e) in batch.iter().enumerate() {
        let mut e = (*e).clone();
        for t in 0..e.ids.len() {
            let id = e.ids[t];
            // Never the special tokens ([CLS] first, [SEP]s); only words.
            if (id as usize) < SPECIAL.len() || !rng.random_bool(prob) {
                continue;
            }
            at.push((b, t));
            targets.push(id as usize);
            let r: f64 = rng.random();
            if r < 0.8 {
                e.ids[t] = MASK_ID;
            } else if r < 0.9 {
                e.ids[t] = rng.random_range(SPECIAL.len()..vocab) as u32;
            }
        }
        inputs.push(e);
    }
    if at.is_empty() {
        // A batch of very short pairs may draw no token; mask the first word.
        let e = &mut inputs[0];
        at.push((0, 1));
        targets.push(e.ids[1] as usize);
        e.ids[1] = MASK_ID;
    }
    Masked {
        inputs,
        at,
        targets,
    }
}

/// The batch tensors, padded to a multiple of `multiple` positions, and the masked tokens'
/// flat positions in them. The flat index uses the padded length: on a GPU backend the batch
/// is wider than its longest example (`backend::seq_multiple`), and an index computed from the
/// unpadded length would point at other tokens in every example but the first.
fn mlm_batch<B: Backend>(
    m: &Masked,
    pad_id: u32,
    multiple: usize,
    device: &B::Device,
) -> (crate::model::BatchInput<B>, Tensor<B, 1, Int>) {
    let refs: Vec<&Encoded> = m.inputs.iter().collect();
    let input = crate::text::to_batch_padded::<B>(&refs, pad_id, multiple, device);
    let seq = input.input_ids.dims()[1];
    let flat: Vec<i64> = m.at.iter().map(|&(b, t)| (b * seq + t) as i64).collect();
    let at = Tensor::from_data(TensorData::new(flat, [m.at.len()]), device);
    (input, at)
}

pub struct Pretrained {
    pub log: Vec<Value>,
    pub held_out: Value,
}

/// Pretrain and save a base model (config, weights with the MLM head, tokenizer) into `dir`.
pub fn pretrain<B: AutodiffBackend>(
    arch: &Architecture,
    spec: &PretrainSpec,
    dir: &Path,
    device: &B::Device,
    progress: &crate::train::StepProgress<'_>,
    cancelled: &dyn Fn() -> bool,
) -> anyhow::Result<Pretrained> {
    let vocab = write_tokenizer(dir)?;
    let cfg = config(arch, vocab)?;
    let enc = TextEncoder::from_dir(dir, arch.max_position as usize)
        .context("the generated vocabulary")?;
    let pairs = nli::corpus(spec.seed, spec.sentences as usize);
    let texts: Vec<(&str, Option<&str>)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), Some(b.as_str())))
        .collect();
    let mut encoded = enc.encode(&texts)?;
    let held_out = encoded.split_off(encoded.len() - encoded.len() / 20);
    let mut model = MlmModel::<B>::new(&cfg, spec.seed, device);
    let mut opt = AdamW::<B>::new();
    let n = encoded.len();
    let per_epoch = n.div_ceil(spec.batch_size) as u64;
    let warmup = (spec.warmup_ratio * spec.steps as f64).ceil() as u64;
    let mut log = Vec::new();
    let mut window = Vec::new();
    let mut order = Vec::new();
    // For the progress lines: a smoothed loss and sequences per second.
    let (clock, mut smoothed) = (std::time::Instant::now(), f64::NAN);
    for step in 0..spec.steps {
        if cancelled() {
            return Err(basins_engine::stage::Interrupted::at(format!(
                "step {step}"
            )));
        }
        let epoch = step / per_epoch;
        if step % per_epoch == 0 {
            order = epoch_order(n, spec.seed, epoch);
        }
        let b = (step % per_epoch) as usize;
        let idx = &order[b * spec.batch_size..((b + 1) * spec.batch_size).min(n)];
        let batch: Vec<&Encoded> = idx.iter().map(|&i| &encoded[i]).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed.wrapping_mul(1_000_003) ^ step);
        let masked = mask_batch(&batch, &mut rng, spec.mask_prob, vocab);
        let (input, at) = mlm_batch::<B>(&masked, enc.pad_id, seq_multiple::<B>(), device);
        let targets = masked.targets;
        let (loss, _) = {
            let _guard = RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            B::seed(device, spec.seed.wrapping_add(step));
            crate::model::seed_dropout(spec.seed.wrapping_add(step));
            cross_entropy(model.forward(&input, at), &targets)
        };
        let loss_value = scalar(loss.clone());
        anyhow::ensure!(
            loss_value.is_finite(),
            "pretraining loss became {loss_value} at step {step}"
        );
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = spec.lr * lr_factor(step, warmup, spec.steps);
        opt.step_slots(model.slots(), &grads, lr, spec.weight_decay, 1.0);
        window.push(loss_value);
        smoothed = match smoothed.is_nan() {
            true => loss_value,
            false => 0.95 * smoothed + 0.05 * loss_value,
        };
        if (step + 1) % 50 == 0 || step + 1 == spec.steps {
            let mean = window.iter().sum::<f64>() / window.len() as f64;
            log.push(json!({"step": step + 1, "loss": mean, "lr": lr}));
            window.clear();
        }
        let rate =
            (step + 1) as f64 * spec.batch_size as f64 / clock.elapsed().as_secs_f64().max(1e-9);
        progress(
            step + 1,
            spec.steps,
            &[("loss", smoothed), ("seq_per_s", rate)],
        );
    }
    let model = model.valid();
    let held_out = score(&model, &held_out, &enc, spec, vocab, device);
    save_base(&model.bert, &cfg, model.head_entries(), dir)?;
    Ok(Pretrained { log, held_out })
}

/// Masked-token loss and accuracy on held-out pairs (fixed masks, no dropout).
fn score<B: Backend>(
    model: &MlmModel<B>,
    held_out: &[Encoded],
    enc: &TextEncoder,
    spec: &PretrainSpec,
    vocab: usize,
    device: &B::Device,
) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x5eed);
    let (mut loss, mut correct, mut total) = (0.0, 0usize, 0usize);
    for chunk in held_out.chunks(128) {
        let refs: Vec<&Encoded> = chunk.iter().collect();
        let masked = mask_batch(&refs, &mut rng, spec.mask_prob, vocab);
        let (input, at) = mlm_batch::<B>(&masked, enc.pad_id, seq_multiple::<B>(), device);
        let targets = masked.targets;
        let logits = model.forward(&input, at);
        let pred: Vec<i64> = logits
            .clone()
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .expect("ints");
        correct += pred
            .iter()
            .zip(&targets)
            .filter(|(p, t)| **p as usize == **t)
            .count();
        total += targets.len();
        loss += scalar(cross_entropy(logits, &targets).0) * targets.len() as f64;
    }
    json!({"pairs": held_out.len(), "masked_tokens": total, "loss": loss / total.max(1) as f64,
           "accuracy": correct as f64 / total.max(1) as f64})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    /// What a GPU backend runs: batches padded to 16 positions. The masked tokens' logits must
    /// be the same as in the tight batch (they were not, when the flat index ignored padding).
    #[test]
    fn masked_positions_follow_the_padded_batch() {
        let dir = tempfile::tempdir().unwrap();
        let arch = Architecture {
            layers: 1,
            hidden: 32,
            heads: 2,
            intermediate: 64,
            max_position: 64,
            dropout: Some(0.0),
        };
        let vocab = write_tokenizer(dir.path()).unwrap();
        let cfg = config(&arch, vocab).unwrap();
        let enc = TextEncoder::from_dir(dir.path(), 64).unwrap();
        let pairs = nli::corpus(0, 16);
        let texts: Vec<(&str, Option<&str>)> = pairs
            .iter()
            .map(|(a, b)| (a.as_str(), Some(b.as_str())))
            .collect();
        let encoded = enc.encode(&texts).unwrap();
        let batch: Vec<&Encoded> = encoded.iter().collect();
        let masked = mask_batch(&batch, &mut ChaCha8Rng::seed_from_u64(0), 0.15, vocab);
        assert!(masked.at.iter().any(|&(b, _)| b > 0));
        let device = Default::default();
        let model = MlmModel::<Cpu>::new(&cfg, 0, &device);
        let logits = |multiple: usize| -> (usize, Vec<f32>) {
            let (input, at) = mlm_batch::<Cpu>(&masked, enc.pad_id, multiple, &device);
            let seq = input.input_ids.dims()[1];
            (seq, model.forward(&input, at).into_data().to_vec().unwrap())
        };
        let ((tight_seq, tight), (padded_seq, padded)) = (logits(1), logits(16));
        assert!(padded_seq > tight_seq && padded_seq % 16 == 0);
        let worst = tight
            .iter()
            .zip(&padded)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "padding moved the masked logits by {worst}");
    }
}
