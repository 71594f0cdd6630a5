//! Permutation alignment of BERT classifiers: the hidden units of a network can be reordered
//! without changing its function, so two models may sit in different basins only because
//! their units are numbered differently. Weight matching (Ainsworth et al., "Git Re-Basin",
//! 2023) finds the reordering of model B that best matches model A's weights; interpolating
//! from A to the reordered B then asks whether a barrier survives it.
//!
//! The permutation respects the transformer's structure (the spec of
//! Jeevesh8/trfrmr_weight_matching, which the paper's `cur_dev` branch uses for `--do_perm`):
//!
//! - one **residual** permutation of the hidden size, shared by the embeddings, every
//!   LayerNorm, every attention output and FFN output and the pooler's input (the residual
//!   stream adds them, so they must agree);
//! - per layer, the **heads** as blocks (a head's query, key and value move together), and
//!   within each head a **key** permutation shared by the query and the key (their dot product
//!   is what the head computes) and a **value** permutation (undone by the attention output's
//!   input columns);
//! - per layer, the **FFN** permutation of the intermediate units (GELU is elementwise).
//!
//! The pooler's output units could be permuted too (tanh is elementwise; the classifier's
//! columns would follow), but the spec leaves them in place, and so does this: there the
//! matching is driven by the classifier's columns, which each finetuning run initialises from
//! its own seed. Measured on the short demo (2026-12-07), matching the pooler as well moved a
//! third of its units and raised the median barrier between basins from 0.21 to 0.95 nats,
//! although the weights' inner product rose.
//!
//! LayerNorm is invariant to a permutation of its units (mean and variance do not change) once
//! its scale and shift are permuted alike, so the permuted model computes the same logits up
//! to the order of floating-point sums.
//!
//! Everything here is on the host in HF's layout (`[out, in]` matrices): the weights of one
//! model are a few hundred MB at most, and the cost matrices are products of them (ndarray's
//! GEMM).

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::model::{set_slot, slot_values, slots, BertClassifier, BertConfig};

/// The unit counts a permutation of one architecture has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
}

impl Shape {
    pub fn of(config: &BertConfig) -> Shape {
        Shape {
            layers: config.num_hidden_layers,
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            intermediate: config.intermediate_size,
        }
    }

    fn head_dim(&self) -> usize {
        self.hidden / self.heads.max(1)
    }
}

/// A reordering of a model's units, as gathers: unit `i` of the permuted model is unit
/// `perm[i]` of the original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permutation {
    pub residual: Vec<usize>,
    pub layers: Vec<LayerPermutation>,
}

/// One layer's attention and FFN permutations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPermutation {
    /// Head `i` of the permuted layer is head `heads[i]` of the original.
    pub heads: Vec<usize>,
    /// Within permuted head `i`, query and key dimension `p` is dimension `key[i][p]` of the
    /// original head `heads[i]`.
    pub key: Vec<Vec<usize>>,
    /// As `key`, for the value dimensions.
    pub value: Vec<Vec<usize>>,
    pub ffn: Vec<usize>,
}

/// Why a permutation cannot be used or found.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlignError {
    #[error("hidden size {hidden} is not a multiple of the {heads} attention heads")]
    Heads { hidden: usize, heads: usize },
    #[error("the permutation's `{group}` is not a permutation of 0..{n}")]
    NotPermutation { group: String, n: usize },
    #[error("the two models differ in `{name}`: shapes {a:?} and {b:?}")]
    Shapes {
        name: String,
        a: Vec<usize>,
        b: Vec<usize>,
    },
    #[error("`{0}` is not a parameter of a BERT classifier")]
    Unknown(String),
    #[error("the linear assignment of `{group}` failed: {message}")]
    Assignment { group: String, message: String },
}

fn identity(n: usize) -> Vec<usize> {
    (0..n).collect()
}

fn shuffled(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut v = identity(n);
    v.shuffle(rng);
    v
}

fn is_permutation(v: &[usize], n: usize) -> bool {
    let mut seen = vec![false; n];
    v.len() == n
        && v.iter()
            .all(|&i| i < n && !std::mem::replace(&mut seen[i], true))
}

impl Permutation {
    pub fn identity(s: &Shape) -> Permutation {
        let dh = s.head_dim();
        Permutation {
            residual: identity(s.hidden),
            layers: (0..s.layers)
                .map(|_| LayerPermutation {
                    heads: identity(s.heads),
                    key: vec![identity(dh); s.heads],
                    value: vec![identity(dh); s.heads],
                    ffn: identity(s.intermediate),
                })
                .collect(),
        }
    }

    /// A uniformly random permutation of every group, from `seed` alone.
    pub fn random(s: &Shape, seed: u64) -> Permutation {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dh = s.head_dim();
        Permutation {
            residual: shuffled(s.hidden, &mut rng),
            layers: (0..s.layers)
                .map(|_| LayerPermutation {
                    heads: shuffled(s.heads, &mut rng),
                    key: (0..s.heads).map(|_| shuffled(dh, &mut rng)).collect(),
                    value: (0..s.heads).map(|_| shuffled(dh, &mut rng)).collect(),
                    ffn: shuffled(s.intermediate, &mut rng),
                })
                .collect(),
        }
    }

    /// Check every group against the architecture.
    pub fn check(&self, s: &Shape) -> Result<(), AlignError> {
        if s.heads == 0 || !s.hidden.is_multiple_of(s.heads) {
            return Err(AlignError::Heads {
                hidden: s.hidden,
                heads: s.heads,
            });
        }
        let dh = s.head_dim();
        let bad = |group: String, n: usize| AlignError::NotPermutation { group, n };
        let check = |v: &[usize], n: usize, group: &str| {
            is_permutation(v, n)
                .then_some(())
                .ok_or_else(|| bad(group.to_owned(), n))
        };
        check(&self.residual, s.hidden, "residual")?;
        if self.layers.len() != s.layers {
            return Err(bad("layers".into(), s.layers));
        }
        for (l, p) in self.layers.iter().enumerate() {
            check(&p.heads, s.heads, &format!("layer.{l}.heads"))?;
            check(&p.ffn, s.intermediate, &format!("layer.{l}.ffn"))?;
            for (what, v) in [("key", &p.key), ("value", &p.value)] {
                if v.len() != s.heads {
                    return Err(bad(format!("layer.{l}.{what}"), s.heads));
                }
                for (h, v) in v.iter().enumerate() {
                    check(v, dh, &format!("layer.{l}.{what}.{h}"))?;
                }
            }
        }
        Ok(())
    }

    /// The gather over a group's units (a layer's key or value over the whole hidden size,
    /// heads included).
    fn index(&self, g: Group) -> Vec<usize> {
        let full = |heads: &[usize], within: &[Vec<usize>]| -> Vec<usize> {
            let dh = within.first().map_or(0, Vec::len);
            heads
                .iter()
                .zip(within)
                .flat_map(|(&h, w)| w.iter().map(move |&p| h * dh + p))
                .collect()
        };
        match g {
            Group::Residual => self.residual.clone(),
            Group::Key(l) => full(&self.layers[l].heads, &self.layers[l].key),
            Group::Value(l) => full(&self.layers[l].heads, &self.layers[l].value),
            Group::Ffn(l) => self.layers[l].ffn.clone(),
        }
    }

    /// The share of units each kind of group leaves in place (1 for the identity).
    pub fn identity_shares(&self) -> IdentityShares {
        let share = |vs: &mut dyn Iterator<Item = &Vec<usize>>| -> f64 {
            let (mut fixed, mut n) = (0usize, 0usize);
            for v in vs {
                fixed += v.iter().enumerate().filter(|(i, &p)| *i == p).count();
                n += v.len();
            }
            if n == 0 {
                1.0
            } else {
                fixed as f64 / n as f64
            }
        };
        IdentityShares {
            residual: share(&mut std::iter::once(&self.residual)),
            heads: share(&mut self.layers.iter().map(|l| &l.heads)),
            key: share(&mut self.layers.iter().flat_map(|l| &l.key)),
            value: share(&mut self.layers.iter().flat_map(|l| &l.value)),
            ffn: share(&mut self.layers.iter().map(|l| &l.ffn)),
        }
    }
}

/// The share of each kind of unit a permutation leaves where it was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdentityShares {
    pub residual: f64,
    pub heads: f64,
    pub key: f64,
    pub value: f64,
    pub ffn: f64,
}

/// A permutation group: the units one axis of some parameters indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Residual,
    Key(usize),
    Value(usize),
    Ffn(usize),
}

impl Group {
    fn name(self) -> String {
        match self {
            Group::Residual => "residual".into(),
            Group::Key(l) => format!("layer.{l}.key"),
            Group::Value(l) => format!("layer.{l}.value"),
            Group::Ffn(l) => format!("layer.{l}.ffn"),
        }
    }
}

/// The groups the axes of parameter `name` (HF name, HF layout) are indexed by: rows, then
/// columns (a vector has rows only).
fn axes(name: &str) -> Result<[Option<Group>; 2], AlignError> {
    use Group::*;
    let unknown = || AlignError::Unknown(name.to_owned());
    if let Some(rest) = name.strip_prefix("embeddings.") {
        return Ok(match rest {
            "LayerNorm.weight" | "LayerNorm.bias" => [Some(Residual), None],
            _ if rest.ends_with("_embeddings.weight") => [None, Some(Residual)],
            _ => return Err(unknown()),
        });
    }
    if let Some(rest) = name.strip_prefix("encoder.layer.") {
        let (l, rest) = rest.split_once('.').ok_or_else(unknown)?;
        let l: usize = l.parse().map_err(|_| unknown())?;
        return Ok(match rest {
            "attention.self.query.weight" | "attention.self.key.weight" => {
                [Some(Key(l)), Some(Residual)]
            }
            "attention.self.query.bias" | "attention.self.key.bias" => [Some(Key(l)), None],
            "attention.self.value.weight" => [Some(Value(l)), Some(Residual)],
            "attention.self.value.bias" => [Some(Value(l)), None],
            "attention.output.dense.weight" => [Some(Residual), Some(Value(l))],
            "intermediate.dense.weight" => [Some(Ffn(l)), Some(Residual)],
            "intermediate.dense.bias" => [Some(Ffn(l)), None],
            "output.dense.weight" => [Some(Residual), Some(Ffn(l))],
            "attention.output.dense.bias"
            | "output.dense.bias"
            | "attention.output.LayerNorm.weight"
            | "attention.output.LayerNorm.bias"
            | "output.LayerNorm.weight"
            | "output.LayerNorm.bias" => [Some(Residual), None],
            _ => return Err(unknown()),
        });
    }
    Ok(match name {
        // The pooler reads the residual stream; its own units stay in place (see above).
        "pooler.dense.weight" => [None, Some(Residual)],
        "pooler.dense.bias" | "classifier.weight" | "classifier.bias" => [None, None],
        _ => return Err(unknown()),
    })
}

/// One parameter on the host, in HF's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A model's parameters on the host, by HF name (without `bert.`), in slot order.
pub type Host = Vec<(String, HostTensor)>;

pub fn to_host<B: Backend>(m: &BertClassifier<B>) -> Host {
    let mut m = m.clone();
    slots(&mut m)
        .into_iter()
        .map(|(name, s)| {
            let t = HostTensor {
                shape: s.hf_shape(),
                values: slot_values(&s),
            };
            (name, t)
        })
        .collect()
}

/// `template` with its parameters replaced by `host` (in slot order, as [`to_host`] gives).
pub fn from_host<B: Backend>(template: &BertClassifier<B>, host: &Host) -> BertClassifier<B> {
    let mut out = template.clone();
    let device = template.classifier.weight.val().device();
    for ((_, slot), (_, t)) in slots(&mut out).into_iter().zip(host) {
        set_slot(slot, t.values.clone(), &t.shape, &device);
    }
    out
}

/// `t` (HF layout) with its rows gathered by `rows` and its columns by `cols`.
fn gather(t: &HostTensor, rows: Option<&[usize]>, cols: Option<&[usize]>) -> HostTensor {
    let (r, c) = match t.shape[..] {
        [r, c] => (r, c),
        [r] => (r, 1),
        _ => unreachable!("BERT parameters are vectors and matrices"),
    };
    let mut values = Vec::with_capacity(t.values.len());
    for i in 0..r {
        let src = rows.map_or(i, |p| p[i]);
        let row = &t.values[src * c..(src + 1) * c];
        match cols {
            Some(p) => values.extend(p.iter().map(|&j| row[j])),
            None => values.extend_from_slice(row),
        }
    }
    HostTensor {
        shape: t.shape.clone(),
        values,
    }
}

/// A model's parameters with `perm` applied: the same function, its units reordered.
pub fn permute(host: &Host, perm: &Permutation, s: &Shape) -> Result<Host, AlignError> {
    perm.check(s)?;
    host.iter()
        .map(|(name, t)| {
            let [r, c] = axes(name)?;
            let (ri, ci) = (r.map(|g| perm.index(g)), c.map(|g| perm.index(g)));
            Ok((name.clone(), gather(t, ri.as_deref(), ci.as_deref())))
        })
        .collect()
}

/// [`permute`] on a burn model.
pub fn permute_model<B: Backend>(
    m: &BertClassifier<B>,
    perm: &Permutation,
    s: &Shape,
) -> Result<BertClassifier<B>, AlignError> {
    Ok(from_host(m, &permute(&to_host(m), perm, s)?))
}

/// What weight matching found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matching {
    pub permutation: Permutation,
    /// Full passes over the groups run (at most the cap; fewer when a pass improved nothing).
    pub iterations: usize,
    /// Whether the last pass improved nothing (a fixed point of the coordinate ascent).
    pub converged: bool,
    /// `sum <W_A, W_B>` over every parameter, before and after the permutation.
    pub inner_before: f64,
    pub inner_after: f64,
    /// `||theta_A - theta_B||` before and after.
    pub distance_before: f64,
    pub distance_after: f64,
}

/// Weight matching of `b` to `a`: coordinate ascent on `sum <W_A, P(W_B)>` over the
/// permutation groups (residual; per layer the heads with their key and value dimensions; per
/// layer the FFN units), each step a linear assignment (scipy's algorithm, the
/// `lsap` crate) with every other group held; groups in a random order per pass from `seed`,
/// at most `max_passes` passes, stopping after a pass that improves nothing. Starts at the
/// identity, and a group moves only when that raises the objective, so identical models stay
/// identical.
pub fn weight_matching(
    a: &Host,
    b: &Host,
    s: &Shape,
    max_passes: usize,
    seed: u64,
) -> Result<Matching, AlignError> {
    for ((na, ta), (nb, tb)) in a.iter().zip(b) {
        if na != nb || ta.shape != tb.shape {
            return Err(AlignError::Shapes {
                name: na.clone(),
                a: ta.shape.clone(),
                b: tb.shape.clone(),
            });
        }
    }
    let mut perm = Permutation::identity(s);
    perm.check(s)?;
    let axes: Vec<[Option<Group>; 2]> = a.iter().map(|(n, _)| axes(n)).collect::<Result<_, _>>()?;
    // The attention's key and value are matched together (heads are shared); the rest alone.
    let mut steps: Vec<Step> = vec![Step::Residual];
    for l in 0..s.layers {
        steps.push(Step::Attention(l));
        steps.push(Step::Ffn(l));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut passes, mut converged) = (0, false);
    while passes < max_passes {
        passes += 1;
        let mut order = steps.clone();
        order.shuffle(&mut rng);
        let mut improved = false;
        for step in order {
            improved |= step.improve(a, b, &axes, s, &mut perm)?;
        }
        if !improved {
            converged = true;
            break;
        }
    }
    let permuted = permute(b, &perm, s)?;
    let (inner_before, distance_before) = compare(a, b);
    let (inner_after, distance_after) = compare(a, &permuted);
    Ok(Matching {
        permutation: perm,
        iterations: passes,
        converged,
        inner_before,
        inner_after,
        distance_before,
        distance_after,
    })
}

/// `sum <a, b>` and `||a - b||` over every parameter (f64 sums).
fn compare(a: &Host, b: &Host) -> (f64, f64) {
    let (mut inner, mut sq) = (0.0f64, 0.0f64);
    for ((_, x), (_, y)) in a.iter().zip(b) {
        for (&p, &q) in x.values.iter().zip(&y.values) {
            inner += p as f64 * q as f64;
            sq += (p as f64 - q as f64).powi(2);
        }
    }
    (inner, sq.sqrt())
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Residual,
    Attention(usize),
    Ffn(usize),
}

/// A group's cost matrix: `C[i][j]` = how well unit i of A matches unit j of B, summed over
/// every parameter axis the group indexes, with B's other axes already permuted. In f64, so
/// that near ties between units resolve the same way whatever GEMM kernel the CPU runs.
fn cost(
    a: &Host,
    b: &Host,
    axes: &[[Option<Group>; 2]],
    perm: &Permutation,
    g: Group,
) -> Array2<f64> {
    let n = perm.index(g).len();
    let mut c = Array2::<f64>::zeros((n, n));
    let wide = |t: &HostTensor, rows: usize, cols: usize| {
        Array2::from_shape_vec(
            (rows, cols),
            t.values.iter().map(|&v| f64::from(v)).collect(),
        )
        .expect("a parameter's values fill its shape")
    };
    for (((_, ta), (_, tb)), [r, col]) in a.iter().zip(b).zip(axes) {
        let (rows, cols) = match ta.shape[..] {
            [r, c] => (r, c),
            [r] => (r, 1),
            _ => unreachable!("BERT parameters are vectors and matrices"),
        };
        if *r == Some(g) {
            // Rows are the group's units: C += A B'^T, B' with its columns permuted.
            let ci = col.map(|h| perm.index(h));
            let bp = gather(tb, None, ci.as_deref());
            c += &wide(ta, rows, cols).dot(&wide(&bp, rows, cols).t());
        } else if *col == Some(g) {
            // Columns are the group's units: C += A^T B', B' with its rows permuted.
            let ri = r.map(|h| perm.index(h));
            let bp = gather(tb, ri.as_deref(), None);
            c += &wide(ta, rows, cols).t().dot(&wide(&bp, rows, cols));
        }
    }
    c
}

/// The assignment of an `n` x `n` matrix (row-major) maximising `sum_i C[i][p[i]]`: what each
/// weight-matching step solves (checked against scipy's `linear_sum_assignment` in
/// `tests/align_reference.rs`).
pub fn max_assignment(cost: &[f64], n: usize) -> Result<Vec<usize>, AlignError> {
    let c = ndarray::ArrayView2::from_shape((n, n), cost).map_err(|e| AlignError::Assignment {
        group: "matrix".into(),
        message: e.to_string(),
    })?;
    Ok(assign(c, "matrix")?.0)
}

/// The assignment maximising `sum_i C[i][p[i]]` and that sum.
fn assign(c: ArrayView2<f64>, group: &str) -> Result<(Vec<usize>, f64), AlignError> {
    let n = c.nrows();
    let flat: Vec<f64> = c.iter().copied().collect();
    if let Some(x) = flat.iter().find(|x| !x.is_finite()) {
        return Err(AlignError::Assignment {
            group: group.to_owned(),
            message: format!(
                "a cost is not a finite number ({x}): the weights hold NaN or infinity"
            ),
        });
    }
    let (rows, cols) = lsap::solve(n, n, &flat, true).map_err(|e| AlignError::Assignment {
        group: group.to_owned(),
        message: e.to_string(),
    })?;
    let mut p = vec![0; n];
    for (r, c) in rows.into_iter().zip(cols) {
        p[r] = c;
    }
    let score = (0..n).map(|i| c[[i, p[i]]]).sum();
    Ok((p, score))
}

fn score(c: &Array2<f64>, p: &[usize]) -> f64 {
    p.iter().enumerate().map(|(i, &j)| c[[i, j]]).sum()
}

/// A new assignment is taken only when it beats the current one by more than rounding.
fn better(new: f64, old: f64) -> bool {
    new > old + 1e-9 * old.abs().max(1.0)
}

impl Step {
    /// Re-solve this step's groups with the others held; whether the objective rose.
    fn improve(
        self,
        a: &Host,
        b: &Host,
        axes: &[[Option<Group>; 2]],
        s: &Shape,
        perm: &mut Permutation,
    ) -> Result<bool, AlignError> {
        let single = |g: Group, perm: &Permutation| -> Result<Option<Vec<usize>>, AlignError> {
            let c = cost(a, b, axes, perm, g);
            let (p, new) = assign(c.view(), &g.name())?;
            Ok(better(new, score(&c, &perm.index(g))).then_some(p))
        };
        match self {
            Step::Residual => Ok(single(Group::Residual, perm)?
                .map(|p| perm.residual = p)
                .is_some()),
            Step::Ffn(l) => Ok(single(Group::Ffn(l), perm)?
                .map(|p| perm.layers[l].ffn = p)
                .is_some()),
            Step::Attention(l) => {
                // Heads as blocks: the score of head i of A against head j of B is the best
                // matching of their key dimensions plus that of their value dimensions; the
                // heads are then assigned on those scores.
                let (h, dh) = (s.heads, s.head_dim());
                let ck = cost(a, b, axes, perm, Group::Key(l));
                let cv = cost(a, b, axes, perm, Group::Value(l));
                let old = score(&ck, &perm.index(Group::Key(l)))
                    + score(&cv, &perm.index(Group::Value(l)));
                let block = |c: &Array2<f64>, i: usize, j: usize, what: &str| {
                    let v = c.slice(ndarray::s![i * dh..(i + 1) * dh, j * dh..(j + 1) * dh]);
                    assign(v, &format!("layer.{l}.{what}"))
                };
                let mut heads = Array2::<f64>::zeros((h, h));
                let mut within = vec![vec![(Vec::new(), Vec::new()); h]; h];
                for i in 0..h {
                    for j in 0..h {
                        let (pk, sk) = block(&ck, i, j, "key")?;
                        let (pv, sv) = block(&cv, i, j, "value")?;
                        heads[[i, j]] = sk + sv;
                        within[i][j] = (pk, pv);
                    }
                }
                let (hp, new) = assign(heads.view(), &format!("layer.{l}.heads"))?;
                if !better(new, old) {
                    return Ok(false);
                }
                let layer = &mut perm.layers[l];
                layer.key = (0..h).map(|i| within[i][hp[i]].0.clone()).collect();
                layer.value = (0..h).map(|i| within[i][hp[i]].1.clone()).collect();
                layer.heads = hp;
                Ok(true)
            }
        }
    }
}

/// Weight matching of `b` to `a` on burn models: the matching, and `b` permuted by it.
pub fn align_models<B: Backend>(
    a: &BertClassifier<B>,
    b: &BertClassifier<B>,
    config: &BertConfig,
    max_passes: usize,
    seed: u64,
) -> Result<(Matching, BertClassifier<B>), AlignError> {
    let s = Shape::of(config);
    let (ha, hb) = (to_host(a), to_host(b));
    let m = weight_matching(&ha, &hb, &s, max_passes, seed)?;
    let permuted = from_host(b, &permute(&hb, &m.permutation, &s)?);
    Ok((m, permuted))
}

/// Parameter names by block, for the per-block report of a matching: how far the aligned B
/// moved towards A in each block.
pub fn block_distances(a: &Host, b: &Host) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for ((name, x), (_, y)) in a.iter().zip(b) {
        let block = crate::interpolate::block_of(name);
        let sq: f64 = x
            .values
            .iter()
            .zip(&y.values)
            .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
            .sum();
        *out.entry(block).or_default() += sq;
    }
    out.into_iter().map(|(k, v)| (k, v.sqrt())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use crate::model::init_random;
    use crate::text::{to_batch, Encoded};

    fn config(layers: usize, hidden: usize, heads: usize, intermediate: usize) -> BertConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 50, "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": heads, "intermediate_size": intermediate,
            "max_position_embeddings": 16,
        }))
        .unwrap()
    }

    fn model(cfg: &BertConfig, seed: u64) -> BertClassifier<Cpu> {
        let mut m = BertClassifier::new(cfg, 3, &Default::default());
        init_random(&mut m, seed, &Default::default());
        // HF's initialisation leaves biases at 0 and LayerNorms at 1, where a wrongly permuted
        // bias or scale would go unnoticed: give every parameter values of its own.
        let mut h = to_host(&m);
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 1000);
        for (_, t) in &mut h {
            for v in &mut t.values {
                *v += 0.1 * crate::model::standard_normal(&mut rng);
            }
        }
        from_host(&m, &h)
    }

    fn logits(m: &BertClassifier<Cpu>) -> Vec<f32> {
        let examples: Vec<Encoded> = (0..6u32)
            .map(|i| Encoded {
                ids: (0..(5 + i)).map(|t| (t * 7 + i * 3) % 50).collect(),
                type_ids: (0..(5 + i)).map(|t| u32::from(t > 2)).collect(),
            })
            .collect();
        let refs: Vec<&Encoded> = examples.iter().collect();
        let batch = to_batch::<Cpu>(&refs, 0, &Default::default());
        m.forward(&batch)
            .logits
            .into_data()
            .to_vec::<f32>()
            .unwrap()
    }

    fn max_diff(x: &[f32], y: &[f32]) -> f32 {
        x.iter()
            .zip(y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn a_random_permutation_keeps_the_function() {
        let cfg = config(2, 16, 4, 32);
        let s = Shape::of(&cfg);
        let m = model(&cfg, 1);
        let p = Permutation::random(&s, 7);
        assert!(p.identity_shares().residual < 0.5);
        let pm = permute_model(&m, &p, &s).unwrap();
        let (x, y) = (logits(&m), logits(&pm));
        assert!(max_diff(&x, &y) < 1e-5, "{x:?} vs {y:?}");
        // And it is a real reordering: the weights moved.
        assert_ne!(to_host(&m), to_host(&pm));
    }

    #[test]
    fn a_wrong_permutation_changes_the_function() {
        // The test above can fail: permuting one group without its partners changes logits.
        let cfg = config(1, 16, 4, 32);
        let s = Shape::of(&cfg);
        let m = model(&cfg, 2);
        let mut h = to_host(&m);
        let p = Permutation::random(&s, 3);
        for (name, t) in &mut h {
            if name == "encoder.layer.0.intermediate.dense.weight" {
                *t = gather(t, Some(&p.layers[0].ffn), None);
            }
        }
        let broken = from_host(&m, &h);
        assert!(max_diff(&logits(&m), &logits(&broken)) > 1e-3);
    }

    #[test]
    fn weight_matching_recovers_a_planted_permutation() {
        let cfg = config(2, 16, 4, 32);
        let s = Shape::of(&cfg);
        let a = model(&cfg, 3);
        let planted = Permutation::random(&s, 11);
        let b = permute_model(&a, &planted, &s).unwrap();
        let (m, aligned) = align_models(&a, &b, &cfg, 100, 0).unwrap();
        // B = P(A), so aligning B to A applies P's inverse: the composition is the identity,
        // and the aligned B is A exactly (gathers move values without arithmetic).
        assert_eq!(to_host(&aligned), to_host(&a));
        assert!(m.converged);
        assert_eq!(m.distance_after, 0.0);
        assert!(m.distance_before > 1.0);
        // The recovered permutation, applied to A, gives B back: it is the planted one's
        // inverse, group by group.
        let inv = |p: &[usize]| {
            let mut q = vec![0; p.len()];
            for (i, &j) in p.iter().enumerate() {
                q[j] = i;
            }
            q
        };
        assert_eq!(m.permutation.residual, inv(&planted.residual));
        for (got, put) in m.permutation.layers.iter().zip(&planted.layers) {
            assert_eq!(got.ffn, inv(&put.ffn));
            assert_eq!(got.heads, inv(&put.heads));
        }
    }

    #[test]
    fn identical_models_stay_unpermuted() {
        let cfg = config(1, 8, 2, 16);
        let s = Shape::of(&cfg);
        let a = to_host(&model(&cfg, 4));
        let m = weight_matching(&a, &a, &s, 100, 0).unwrap();
        assert_eq!(m.permutation, Permutation::identity(&s));
        assert_eq!(m.iterations, 1);
        let shares = m.permutation.identity_shares();
        assert_eq!((shares.residual, shares.heads, shares.ffn), (1.0, 1.0, 1.0));
    }

    #[test]
    fn matching_never_lowers_the_objective_on_unrelated_models() {
        let cfg = config(2, 16, 4, 32);
        let s = Shape::of(&cfg);
        let (a, b) = (to_host(&model(&cfg, 5)), to_host(&model(&cfg, 6)));
        let m = weight_matching(&a, &b, &s, 100, 0).unwrap();
        assert!(m.inner_after >= m.inner_before);
        assert!(m.distance_after <= m.distance_before);
        // Still a function-preserving permutation of B.
        let bm = model(&cfg, 6);
        let pm = permute_model(&bm, &m.permutation, &s).unwrap();
        assert!(max_diff(&logits(&bm), &logits(&pm)) < 1e-5);
    }

    #[test]
    fn bad_permutations_are_refused() {
        let s = Shape::of(&config(1, 8, 2, 16));
        let mut p = Permutation::identity(&s);
        p.layers[0].ffn[0] = 1;
        assert_eq!(
            p.check(&s),
            Err(AlignError::NotPermutation {
                group: "layer.0.ffn".into(),
                n: 16
            })
        );
        let s = Shape {
            layers: 1,
            hidden: 9,
            heads: 2,
            intermediate: 4,
        };
        assert_eq!(
            Permutation::identity(&s).check(&s),
            Err(AlignError::Heads {
                hidden: 9,
                heads: 2
            })
        );
    }
}
