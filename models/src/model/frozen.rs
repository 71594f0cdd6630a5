//! `FrozenBert`: a read-only copy of a `BertClassifier`'s weights with a forward pass written
//! for the CPU, which the evaluate and interpolate stages run (they never need gradients).
//!
//! It computes what `BertClassifier::forward` computes, differently:
//! - **Packed tokens.** The examples of a batch sit back to back, without padding; attention
//!   runs per example over its own tokens. Nothing is computed for padding, and an example's
//!   result cannot depend on what it is batched with (the masked form gets the same values,
//!   since a -1e4 score's probability is exactly zero in f32).
//! - **One buffer per step, no copies.** Q, K and V come from one fused product; each head reads
//!   its columns of that buffer through strides (`kernels::View`), so attention needs none of
//!   the `swap_dims` copies of the tensor form; biases and residuals are added in place.
//! - **Vectorised elementwise kernels** (`kernels`), where burn-ndarray calls scalar libm `exp`
//!   and `erf` per element.
//!
//! Values agree with the burn forward pass to about 1e-6 (different summation orders and
//! polynomial `exp`/`erf`), checked here on a random model and against Hugging Face
//! transformers by the MiniLM conformance test.

use anyhow::{bail, Context};
use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::exact::Norm;
use super::kernels::{self, View};
use super::BertClassifier;
use crate::text::Encoded;

/// A Linear layer: weight `[inputs, outputs]` row-major, as burn stores it.
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
}

impl Dense {
    fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// `out = x · W + b` for the `rows` rows of `x`; `out` is resized to fit.
    fn apply(&self, x: &[f32], rows: usize, out: &mut Vec<f32>) {
        let n = self.outputs();
        out.resize(rows * n, 0.0);
        kernels::fill_rows(out, &self.bias);
        self.accumulate(x, rows, out);
    }

    /// `out += x · W + b`: the residual connections.
    fn add_onto(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        kernels::add_bias_rows(out, &self.bias);
        self.accumulate(x, rows, out);
    }

    fn accumulate(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        let n = self.outputs();
        kernels::matmul(
            (out, View::rows(rows, n)),
            (x, View::rows(rows, self.inputs)),
            (&self.weight, View::rows(self.inputs, n)),
            1.0,
            true,
        );
    }
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn apply(&self, x: &mut [f32]) {
        kernels::layer_norm_rows(x, &self.gamma, &self.beta, self.eps);
    }
}

struct FrozenLayer {
    /// Query, key and value side by side: `[hidden, 3 x hidden]`.
    qkv: Dense,
    attn_out: Dense,
    attn_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    out_norm: LayerNorm,
    heads: usize,
}

/// See the module documentation.
pub struct FrozenBert {
    hidden: usize,
    /// `[vocab, hidden]`, `[max positions, hidden]`, `[token types, hidden]`.
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: LayerNorm,
    layers: Vec<FrozenLayer>,
    pooler: Dense,
    classifier: Dense,
}

/// One batch's results.
pub struct FrozenOutput {
    /// Final hidden states, the examples' tokens back to back: `[tokens, hidden]`.
    pub hidden: Vec<f32>,
    /// Example `i`'s tokens are rows `offsets[i]..offsets[i + 1]` of `hidden`.
    pub offsets: Vec<usize>,
    /// `[examples, labels]`.
    pub logits: Vec<f32>,
}

/// Buffers a forward pass reuses from layer to layer, and a worker from batch to batch: fresh
/// buffers of this size (hundreds of MB at batch 128, seq 128) come from the kernel as zeroed
/// pages, which cost 12% of the evaluation time when every batch allocated its own.
#[derive(Default)]
pub struct Workspace {
    /// The hidden states, `[tokens, hidden]`.
    x: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    scores: Vec<f32>,
    inner: Vec<f32>,
}

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> anyhow::Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading a weight tensor: {e:?}"))
}

fn param<B: Backend, const D: usize>(p: &Param<Tensor<B, D>>) -> anyhow::Result<Vec<f32>> {
    values(p.val())
}

fn dense<B: Backend>(l: &Linear<B>) -> anyhow::Result<Dense> {
    let [inputs, outputs] = l.weight.dims();
    let bias = match &l.bias {
        Some(b) => param(b)?,
        None => vec![0.0; outputs],
    };
    Ok(Dense {
        weight: param(&l.weight)?,
        bias,
        inputs,
    })
}

/// Several Linear layers on the same input as one: their output columns side by side.
fn fused(parts: &[Dense]) -> Dense {
    let inputs = parts[0].inputs;
    let mut weight = Vec::with_capacity(inputs * parts.iter().map(Dense::outputs).sum::<usize>());
    for row in 0..inputs {
        for p in parts {
            let n = p.outputs();
            weight.extend_from_slice(&p.weight[row * n..(row + 1) * n]);
        }
    }
    Dense {
        weight,
        bias: parts.iter().flat_map(|p| p.bias.iter().copied()).collect(),
        inputs,
    }
}

fn norm<B: Backend>(n: &Norm<B>) -> anyhow::Result<LayerNorm> {
    Ok(LayerNorm {
        gamma: param(&n.gamma)?,
        beta: param(&n.beta)?,
        eps: n.eps as f32,
    })
}

fn table<B: Backend>(e: &Embedding<B>) -> anyhow::Result<Vec<f32>> {
    param(&e.weight)
}

impl FrozenBert {
    /// Copy the weights out of `model` (from any backend).
    pub fn from_model<B: Backend>(model: &BertClassifier<B>) -> anyhow::Result<FrozenBert> {
        let e = &model.embeddings;
        let hidden = e.word.weight.dims()[1];
        let layers = model
            .layers
            .iter()
            .map(|l| {
                Ok(FrozenLayer {
                    qkv: fused(&[dense(&l.query)?, dense(&l.key)?, dense(&l.value)?]),
                    attn_out: dense(&l.attn_out)?,
                    attn_norm: norm(&l.attn_norm)?,
                    intermediate: dense(&l.intermediate)?,
                    output: dense(&l.output)?,
                    out_norm: norm(&l.out_norm)?,
                    heads: l.heads,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .context("copying the model's weights for the CPU forward pass")?;
        Ok(FrozenBert {
            hidden,
            word: table(&e.word)?,
            position: table(&e.position)?,
            token_type: table(&e.token_type)?,
            embed_norm: norm(&e.norm)?,
            layers,
            pooler: dense(&model.pooler)?,
            classifier: dense(&model.classifier)?,
        })
    }

    pub fn num_labels(&self) -> usize {
        self.classifier.outputs()
    }

    /// Hidden states and logits of a batch (any lengths; nothing is padded).
    pub fn forward(&self, batch: &[&Encoded]) -> anyhow::Result<FrozenOutput> {
        let mut ws = Workspace::default();
        let (offsets, logits) = self.run(batch, &mut ws)?;
        Ok(FrozenOutput {
            hidden: ws.x,
            offsets,
            logits,
        })
    }

    /// Offsets and logits of a batch; the hidden states stay in `ws.x`.
    fn run(
        &self,
        batch: &[&Encoded],
        ws: &mut Workspace,
    ) -> anyhow::Result<(Vec<usize>, Vec<f32>)> {
        let mut offsets = vec![0];
        for e in batch {
            offsets.push(offsets.last().unwrap() + e.ids.len());
        }
        self.embed(batch, &mut ws.x)?;
        let mut x = std::mem::take(&mut ws.x);
        for layer in &self.layers {
            self.layer(layer, &mut x, &offsets, ws);
        }
        let h = self.hidden;
        let cls: Vec<f32> = offsets[..batch.len()]
            .iter()
            .flat_map(|&row| x[row * h..(row + 1) * h].iter().copied())
            .collect();
        ws.x = x;
        let mut pooled = Vec::new();
        self.pooler.apply(&cls, batch.len(), &mut pooled);
        kernels::tanh(&mut pooled);
        let mut logits = Vec::new();
        self.classifier.apply(&pooled, batch.len(), &mut logits);
        Ok((offsets, logits))
    }

    /// Class probabilities, `[examples, labels]` flattened: exp(log_softmax(logits)), as the
    /// burn path computes them. `ws` carries buffers over from the caller's previous batch.
    pub fn probs(&self, batch: &[&Encoded], ws: &mut Workspace) -> anyhow::Result<Vec<f32>> {
        let (_, mut logits) = self.run(batch, ws)?;
        for row in logits.chunks_mut(self.num_labels().max(1)) {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let log_sum = row.iter().map(|&l| (l - m).exp()).sum::<f32>().ln();
            for l in row.iter_mut() {
                *l = (*l - m - log_sum).exp();
            }
        }
        Ok(logits)
    }

    /// Word + position + token-type embeddings, then LayerNorm: `[tokens, hidden]`.
    fn embed(&self, batch: &[&Encoded], x: &mut Vec<f32>) -> anyhow::Result<()> {
        let h = self.hidden;
        let (vocab, positions, types) = (
            self.word.len() / h,
            self.position.len() / h,
            self.token_type.len() / h,
        );
        x.clear();
        for e in batch {
            if e.ids.is_empty() || e.ids.len() != e.type_ids.len() {
                bail!(
                    "an example has {} token ids and {} token types; expected the same number, at least one",
                    e.ids.len(),
                    e.type_ids.len()
                );
            }
            if e.ids.len() > positions {
                bail!(
                    "a sequence of {} tokens is longer than the model's {positions} positions",
                    e.ids.len()
                );
            }
            for (p, (&id, &ty)) in e.ids.iter().zip(&e.type_ids).enumerate() {
                let (id, ty) = (id as usize, ty as usize);
                if id >= vocab {
                    bail!("token id {id} is outside the model's vocabulary of {vocab}");
                }
                if ty >= types {
                    bail!("token type {ty} is outside the model's {types} token types");
                }
                let w = &self.word[id * h..(id + 1) * h];
                let pos = &self.position[p * h..(p + 1) * h];
                let t = &self.token_type[ty * h..(ty + 1) * h];
                x.extend((0..h).map(|i| w[i] + pos[i] + t[i]));
            }
        }
        self.embed_norm.apply(x);
        Ok(())
    }

    /// One post-norm encoder layer on `x` (`[tokens, hidden]`), in place.
    fn layer(&self, l: &FrozenLayer, x: &mut [f32], offsets: &[usize], s: &mut Workspace) {
        let h = self.hidden;
        let tokens = x.len() / h;
        l.qkv.apply(x, tokens, &mut s.qkv);
        s.context.resize(tokens * h, 0.0);
        let d = h / l.heads;
        let scale = 1.0 / (d as f32).sqrt();
        for w in offsets.windows(2) {
            let (start, len) = (w[0], w[1] - w[0]);
            s.scores.resize(len * len, 0.0);
            let rows = &s.qkv[start * 3 * h..];
            for head in 0..l.heads {
                let col = head * d;
                let q = View::strided(len, d, 3 * h);
                let square = View::rows(len, len);
                // scores = q · kᵀ / √d for this head; then each row's softmax.
                kernels::matmul(
                    (&mut s.scores, square),
                    (&rows[col..], q),
                    (&rows[h + col..], q.transposed()),
                    scale,
                    false,
                );
                kernels::softmax_rows(&mut s.scores, len);
                // This head's columns of the context: probabilities · v.
                kernels::matmul(
                    (&mut s.context[start * h + col..], View::strided(len, d, h)),
                    (&s.scores, square),
                    (&rows[2 * h + col..], q),
                    1.0,
                    false,
                );
            }
        }
        l.attn_out.add_onto(&s.context, tokens, x);
        l.attn_norm.apply(x);
        l.intermediate.apply(x, tokens, &mut s.inner);
        kernels::gelu(&mut s.inner);
        l.output.add_onto(&s.inner, tokens, x);
        l.out_norm.apply(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::model::{init_random, BertConfig};
    use crate::text::to_batch;

    fn model() -> BertClassifier<Cpu> {
        let cfg: BertConfig = serde_json::from_value(serde_json::json!({
            "vocab_size": 50, "hidden_size": 24, "num_hidden_layers": 2,
            "num_attention_heads": 3, "intermediate_size": 40, "max_position_embeddings": 40,
        }))
        .unwrap();
        let device = Default::default();
        let mut m = BertClassifier::<Cpu>::new(&cfg, 3, &device);
        init_random(&mut m, 11, &device);
        m
    }

    fn examples() -> Vec<Encoded> {
        (0..9u32)
            .map(|i| {
                let len = 2 + (i as usize * 5) % 17;
                Encoded {
                    ids: (0..len as u32).map(|t| 1 + (i * 7 + t * 3) % 49).collect(),
                    type_ids: (0..len).map(|t| u32::from(t > len / 2)).collect(),
                }
            })
            .collect()
    }

    /// Hidden states (real tokens only) and logits agree with the burn forward pass on a padded
    /// batch, and each example's logits are the same bits alone and in a batch.
    #[test]
    fn matches_the_burn_forward_pass() {
        let m = model();
        let frozen = FrozenBert::from_model(&m).unwrap();
        let ex = examples();
        let refs: Vec<&Encoded> = ex.iter().collect();
        let out = frozen.forward(&refs).unwrap();
        let burn = m.forward(&to_batch::<Cpu>(&refs, 0, &Default::default()));
        let [_, seq, h] = burn.hidden.dims();
        let hidden: Vec<f32> = burn.hidden.into_data().to_vec().unwrap();
        let logits: Vec<f32> = burn.logits.into_data().to_vec().unwrap();
        let mut worst = 0f32;
        for (i, e) in ex.iter().enumerate() {
            let ours = &out.hidden[out.offsets[i] * h..out.offsets[i + 1] * h];
            let theirs = &hidden[i * seq * h..(i * seq + e.ids.len()) * h];
            for (a, b) in ours.iter().zip(theirs) {
                worst = worst.max((a - b).abs());
            }
        }
        assert!(worst < 1e-5, "hidden states differ by {worst}");
        for (a, b) in out.logits.iter().zip(&logits) {
            assert!(
                (a - b).abs() < 1e-5,
                "logits {:?} vs {logits:?}",
                out.logits
            );
        }
        for (i, e) in ex.iter().enumerate() {
            let alone = frozen.forward(&[e]).unwrap().logits;
            assert_eq!(alone, out.logits[i * 3..(i + 1) * 3]);
        }
        let p = frozen.probs(&refs, &mut Workspace::default()).unwrap();
        for row in p.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    /// What a GPU backend runs: the burn forward pass on batches rounded up to a multiple of
    /// 16 positions (`backend::seq_multiple`). The extra padding changes no logit beyond float
    /// noise; on the CPU backends nothing is rounded.
    #[test]
    fn rounding_batches_up_to_a_multiple_changes_no_logit() {
        use crate::backend::{seq_multiple, CpuTrain};
        use crate::text::to_batch_padded;
        assert_eq!((seq_multiple::<Cpu>(), seq_multiple::<CpuTrain>()), (1, 1));
        let m = model();
        let ex = examples();
        let refs: Vec<&Encoded> = ex.iter().collect();
        let device = Default::default();
        let tight = to_batch::<Cpu>(&refs, 0, &device);
        let rounded = to_batch_padded::<Cpu>(&refs, 0, 16, &device);
        assert_eq!(tight.input_ids.dims(), [9, 17]);
        assert_eq!(rounded.input_ids.dims(), [9, 32]);
        let a: Vec<f32> = m.forward(&tight).logits.into_data().to_vec().unwrap();
        let b: Vec<f32> = m.forward(&rounded).logits.into_data().to_vec().unwrap();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn bad_token_ids_and_lengths_are_errors() {
        let frozen = FrozenBert::from_model(&model()).unwrap();
        let bad = Encoded {
            ids: vec![1, 50],
            type_ids: vec![0, 0],
        };
        let e = frozen.forward(&[&bad]).err().unwrap().to_string();
        assert!(
            e.contains("token id 50") && e.contains("vocabulary of 50"),
            "{e}"
        );
        let long = Encoded {
            ids: vec![1; 41],
            type_ids: vec![0; 41],
        };
        let e = frozen.forward(&[&long]).err().unwrap().to_string();
        assert!(e.contains("41 tokens") && e.contains("40 positions"), "{e}");
        let empty = Encoded {
            ids: vec![],
            type_ids: vec![],
        };
        let e = frozen.forward(&[&empty]).err().unwrap().to_string();
        assert!(e.contains("0 token ids"), "{e}");
        assert!(frozen.forward(&[]).unwrap().logits.is_empty());
    }
}
