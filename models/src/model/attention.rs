//! Masked multi-head self-attention (scores, softmax, dropout, context) as one operation of the
//! CPU training backend, with a hand-written backward pass.
//!
//! Why: composed, attention is a `swap_dims` copy of Q, K and V per head layout, a batched
//! product per (example, head) through `matrixmultiply`, the mask broadcast over a
//! `[batch, heads, seq, seq]` score tensor, softmax and dropout each allocating that tensor
//! again, and the same chain backward: the `swap_dims` copies alone were 9% of a MiniLM training
//! step at seq 128, and the fresh pages these tensors fault in part of another 20% (perf,
//! docs/performance.md). Here each example's heads read their columns of the fused
//! Q/K/V buffer through strides, as `FrozenBert` does. With right padding (what the tokenizer's
//! batches have) the layers run on the real tokens alone, packed back to back (`KeyMask`,
//! `BertClassifier::encode`): nothing is computed for padding, in attention or in the Linear
//! layers, LayerNorm and GELU around it: 43% of the tokens of CoLA's dev set in batches of 32
//! padded to their longest are padding. A mask with holes keeps the padded rows and skips only the keys past an example's
//! last real token.
//!
//! Forward, per example and head (`n` keys, `L` queries, `d` columns, scale `1/√d`):
//! `S = scale · Q Kᵀ + mask`, `P = softmax(S)`, `P' = P ∘ dropout`, `C = P' V`.
//! Backward, from `dC`: `dP' = dC Vᵀ`, `dV = P'ᵀ dC`, `dP = dP' ∘ dropout`,
//! `dS = P ∘ (dP - rowsum(dP ∘ P))`, `dQ = scale · dS K`, `dK = scale · dSᵀ Q`.
//! Examples run in parallel, each on one thread, so the bits do not depend on the thread count;
//! the dropout masks are drawn in order on the calling thread before, from the stream that
//! `seed_dropout` sets.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::fused::{array, cast, dropout_mask, primitive, same, slice, Shared};
use super::kernels::{self, View};
use crate::backend::{Cpu, CpuTrain};

/// Where each example's tokens are, read once per forward pass for every layer.
#[derive(Debug)]
pub struct KeyMask {
    batch: usize,
    seq: usize,
    layout: Layout,
}

#[derive(Debug)]
enum Layout {
    /// Every example's real tokens come first (right padding, what `to_batch` builds): the
    /// layers run on the real tokens alone, back to back, example `b` at rows
    /// `offsets[b]..offsets[b + 1]` (`KeyMask::packed_rows` says which rows of the padded
    /// batch those are). Nothing is computed for padding.
    Packed { offsets: Vec<usize> },
    /// A mask with holes: padded rows, the additive mask (0 on real tokens, -1e4 on padding,
    /// `BertClassifier::encode`'s), keys up to each example's last real token (all of them
    /// when it has none, where the masked form attends uniformly to every key).
    Padded {
        additive: Vec<f32>,
        keys: Vec<usize>,
    },
}

/// One example's rows of the buffers an attention pass reads and writes.
#[derive(Debug, Clone)]
struct Span {
    /// Its first row.
    start: usize,
    queries: usize,
    keys: usize,
    /// Where its additive mask lies in `Layout::Padded::additive`, when it has one.
    mask_at: Option<usize>,
}

impl KeyMask {
    /// The fused form's layout, when `B` is the CPU training backend and the composed forms
    /// are not asked for; `None` otherwise.
    pub fn on_cpu<B: Backend>(mask: &Tensor<B, 2, Bool>) -> Option<KeyMask> {
        if super::fused::composed() || !is_cpu_train::<B>() {
            return None;
        }
        let [batch, seq] = mask.dims();
        let real: Vec<bool> = mask.clone().into_data().convert::<bool>().to_vec().ok()?;
        let rows: Vec<&[bool]> = real.chunks(seq.max(1)).collect();
        let lengths: Vec<usize> = rows
            .iter()
            .map(|r| r.iter().filter(|&&t| t).count())
            .collect();
        let prefix = rows
            .iter()
            .zip(&lengths)
            .all(|(r, &n)| n > 0 && r[..n].iter().all(|&t| t));
        let layout = match prefix {
            true => Layout::Packed {
                offsets: std::iter::once(0)
                    .chain(lengths.iter().scan(0, |end, n| {
                        *end += n;
                        Some(*end)
                    }))
                    .collect(),
            },
            false => Layout::Padded {
                additive: real.iter().map(|&r| if r { 0.0 } else { -1.0e4 }).collect(),
                keys: rows
                    .iter()
                    .map(|row| row.iter().rposition(|&r| r).map_or(seq, |last| last + 1))
                    .collect(),
            },
        };
        Some(KeyMask { batch, seq, layout })
    }

    /// With the packed layout, the padded batch's flat row (`b x seq + t`) of every real
    /// token, in order: what the layers' input is gathered from and their output scattered to.
    pub fn packed_rows(&self) -> Option<Vec<i64>> {
        match &self.layout {
            Layout::Packed { offsets } => Some(
                offsets
                    .windows(2)
                    .enumerate()
                    .flat_map(|(b, w)| (0..w[1] - w[0]).map(move |t| (b * self.seq + t) as i64))
                    .collect(),
            ),
            Layout::Padded { .. } => None,
        }
    }

    fn spans(&self) -> Vec<Span> {
        match &self.layout {
            Layout::Packed { offsets } => offsets
                .windows(2)
                .map(|w| Span {
                    start: w[0],
                    queries: w[1] - w[0],
                    keys: w[1] - w[0],
                    mask_at: None,
                })
                .collect(),
            Layout::Padded { keys, .. } => (0..self.batch)
                .map(|b| Span {
                    start: b * self.seq,
                    queries: self.seq,
                    keys: keys[b],
                    mask_at: Some(b * self.seq),
                })
                .collect(),
        }
    }

    fn additive(&self) -> &[f32] {
        match &self.layout {
            Layout::Packed { .. } => &[],
            Layout::Padded { additive, .. } => additive,
        }
    }
}

/// `buffer` (rows `width` wide) cut into each span's rows, for one parallel task per example.
fn per_span<'a>(mut buffer: &'a mut [f32], spans: &[Span], width: usize) -> Vec<&'a mut [f32]> {
    spans
        .iter()
        .map(|s| {
            let (rows, rest) = std::mem::take(&mut buffer).split_at_mut(s.queries * width);
            buffer = rest;
            rows
        })
        .collect()
}

fn is_cpu_train<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<CpuTrain>()
}

/// The attention context `[rows, hidden]` from the fused `[rows, 3 x hidden]` query/key/value
/// buffer, its rows in `mask`'s layout (the real tokens packed, or the padded batch), with
/// dropout probability `p` on the probabilities (0 when not training). `B` must be the CPU
/// training backend (`KeyMask::on_cpu` said so).
pub fn attention<B: Backend>(
    qkv: Tensor<B, 2>,
    mask: &KeyMask,
    heads: usize,
    p: f64,
) -> Tensor<B, 2> {
    match cast::<B, CpuTrain, 2>(qkv) {
        Ok(qkv) => same(attention_train(qkv, mask, heads, p)),
        Err(_) => unreachable!("a KeyMask is only built for the CPU training backend"),
    }
}

/// One head's probabilities with its dropout factors applied (into `scratch`), or the
/// probabilities themselves without dropout: what multiplies V forward and dC backward.
fn after_dropout<'a>(
    probs: &'a [f32],
    factors: Option<&[f32]>,
    scratch: &'a mut [f32],
) -> &'a [f32] {
    match factors {
        Some(f) => {
            scratch.copy_from_slice(probs);
            kernels::mul_into(scratch, f);
            scratch
        }
        None => probs,
    }
}

/// The shapes every example's heads share.
#[derive(Debug, Clone, Copy)]
struct Dims {
    hidden: usize,
    heads: usize,
}

impl Dims {
    fn head(&self) -> usize {
        self.hidden / self.heads
    }

    fn width(&self) -> usize {
        3 * self.hidden
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head() as f32).sqrt()
    }

    /// Head `h`'s query, key or value columns (`part` 0, 1, 2) of an example's first `n` rows.
    fn part(&self, part: usize, h: usize, n: usize) -> (usize, View) {
        (
            part * self.hidden + h * self.head(),
            View::strided(n, self.head(), self.width()),
        )
    }
}

/// What the backward pass keeps.
#[derive(Clone, Debug)]
struct AttentionSaved {
    qkv: Shared,
    dims: Dims,
    spans: Arc<Vec<Span>>,
    /// Per example, `[heads, queries, keys]`: the softmax probabilities before dropout.
    probs: Arc<Vec<Vec<f32>>>,
    /// Per example, the dropout factors (0 or 1/(1 - p)) of its probabilities, when p > 0.
    drops: Arc<Vec<Option<Vec<f32>>>>,
}

#[derive(Debug)]
struct AttentionStep;

fn attention_train(
    qkv: Tensor<CpuTrain, 2>,
    mask: &KeyMask,
    heads: usize,
    p: f64,
) -> Tensor<CpuTrain, 2> {
    let qkv = qkv.into_primitive().tensor();
    let values = array(qkv.primitive.clone());
    let dims = Dims {
        hidden: values.shape()[1] / 3,
        heads,
    };
    let (h, width) = (dims.hidden, dims.width());
    let spans = mask.spans();
    let rows: usize = spans.iter().map(|s| s.queries).sum();
    let drops: Vec<Option<Vec<f32>>> = spans
        .iter()
        .map(|s| (p > 0.0).then(|| dropout_mask(heads * s.queries * s.keys, p)))
        .collect();
    let mut context = vec![0.0; rows * h];
    let mut probs = vec![Vec::new(); spans.len()];
    let (buffer, additive) = (slice(&values), mask.additive());
    per_span(&mut context, &spans, h)
        .into_par_iter()
        .zip(probs.par_iter_mut())
        .enumerate()
        .for_each(|(b, (ctx, probs))| {
            let Span {
                start,
                queries: l,
                keys: n,
                mask_at,
            } = spans[b];
            let rows = &buffer[start * width..(start + l) * width];
            *probs = vec![0.0; heads * l * n];
            let mut dropped = vec![0.0; if p > 0.0 { l * n } else { 0 }];
            for head in 0..heads {
                let (q_at, q) = dims.part(0, head, l);
                let (k_at, k) = dims.part(1, head, n);
                let (v_at, v) = dims.part(2, head, n);
                let s = &mut probs[head * l * n..(head + 1) * l * n];
                kernels::matmul(
                    (s, View::rows(l, n)),
                    (&rows[q_at..], q),
                    (&rows[k_at..], k.transposed()),
                    dims.scale(),
                    false,
                );
                if let Some(at) = mask_at {
                    for row in s.chunks_exact_mut(n) {
                        row.iter_mut()
                            .zip(&additive[at..at + n])
                            .for_each(|(v, a)| *v += a);
                    }
                }
                kernels::softmax_rows(s, n);
                let factors = drops[b]
                    .as_ref()
                    .map(|f| &f[head * l * n..(head + 1) * l * n]);
                let weights = after_dropout(s, factors, &mut dropped);
                kernels::matmul(
                    (
                        &mut ctx[head * dims.head()..],
                        View::strided(l, dims.head(), h),
                    ),
                    (weights, View::rows(l, n)),
                    (&rows[v_at..], v),
                    1.0,
                    false,
                );
            }
        });
    let y = primitive(context, [rows, h]);
    let out = match AttentionStep
        .prepare::<NoCheckpointing>([qkv.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let saved = AttentionSaved {
                qkv: values,
                dims,
                spans: Arc::new(spans),
                probs: Arc::new(probs),
                drops: Arc::new(drops),
            };
            prep.finish(saved, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

impl Backward<Cpu, 1> for AttentionStep {
    type State = AttentionSaved;

    fn backward(self, ops: Ops<AttentionSaved, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = array(grads.consume::<Cpu>(&ops.node));
        let Some(parent) = parent else { return };
        let s = ops.state;
        let dims = s.dims;
        let (h, width, d) = (dims.hidden, dims.width(), dims.head());
        let rows: usize = s.spans.iter().map(|s| s.queries).sum();
        let (dctx, buffer) = (slice(&grad), slice(&s.qkv));
        let mut dqkv = vec![0.0; rows * width];
        per_span(&mut dqkv, &s.spans, width)
            .into_par_iter()
            .enumerate()
            .for_each(|(b, dq)| {
                let Span {
                    start,
                    queries: l,
                    keys: n,
                    ..
                } = s.spans[b];
                let rows = &buffer[start * width..(start + l) * width];
                let dc = &dctx[start * h..(start + l) * h];
                let mut dp = vec![0.0; l * n];
                let mut dropped = vec![0.0; if s.drops[b].is_some() { l * n } else { 0 }];
                for head in 0..dims.heads {
                    let (q_at, q) = dims.part(0, head, l);
                    let (k_at, k) = dims.part(1, head, n);
                    let (v_at, v) = dims.part(2, head, n);
                    let probs = &s.probs[b][head * l * n..(head + 1) * l * n];
                    let factors = s.drops[b]
                        .as_ref()
                        .map(|f| &f[head * l * n..(head + 1) * l * n]);
                    let weights = after_dropout(probs, factors, &mut dropped);
                    let dc_head = (&dc[head * d..], View::strided(l, d, h));
                    // dP' = dC · Vᵀ
                    kernels::matmul(
                        (&mut dp, View::rows(l, n)),
                        dc_head,
                        (&rows[v_at..], v.transposed()),
                        1.0,
                        false,
                    );
                    // dV = P'ᵀ · dC
                    kernels::matmul(
                        (&mut dq[v_at..], v),
                        (weights, View::rows(l, n).transposed()),
                        dc_head,
                        1.0,
                        false,
                    );
                    if let Some(f) = factors {
                        kernels::mul_into(&mut dp, f);
                    }
                    kernels::softmax_backward(probs, &mut dp, n);
                    // dQ = scale · dS · K, dK = scale · dSᵀ · Q
                    kernels::matmul(
                        (&mut dq[q_at..], q),
                        (&dp, View::rows(l, n)),
                        (&rows[k_at..], k),
                        dims.scale(),
                        false,
                    );
                    kernels::matmul(
                        (&mut dq[k_at..], k),
                        (&dp, View::rows(l, n).transposed()),
                        (&rows[q_at..], q),
                        dims.scale(),
                        false,
                    );
                }
            });
        grads.register::<Cpu>(parent.id, primitive(dqkv, [rows, width]));
    }
}
