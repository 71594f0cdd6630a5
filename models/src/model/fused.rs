//! LayerNorm, GELU, softmax and dropout as single operations on the CPU backends, for training and for the burn
//! forward pass: one vectorised pass forward (`kernels`) and one backward, each with an exact
//! gradient.
//!
//! Why: composed from burn's tensor operations (`exact.rs`), a LayerNorm is seven full-size
//! operations forward and more backward, each allocating a tensor and walking it once, and
//! GELU's `erf` is a scalar libm call per element. Training MiniLM at seq 32 ran 23% faster
//! with LayerNorm left out and 9% faster with GELU left out (docs/performance.md), so these two
//! are worth an operation of their own. burn 0.20.1 lets a crate define one: a `Backward` step
//! registered with the autodiff graph, as burn's own operations are.
//!
//! Softmax (the attention probabilities) is the third, 15% of a training step at seq 128 in
//! six operations forward. Dropout is the fourth: burn draws its masks one element at a time from a process-wide
//! generator and applies them with two multiplications (6-8% of a training step). Here the
//! mask comes from a ChaCha8 stream in bulk and is applied once; the stream is the calling
//! thread's, seeded per step by `seed_dropout`, so each mask is a function of (seed, step).
//!
//! Model code stays generic over the backend: `on_cpu` recognises the two CPU backends by type
//! at run time and hands every other backend (CUDA) back to the composed form.
//!
//! The optimizer has one here too: `adamw` updates a parameter and its two moments in one
//! pass. Composed, AdamW is seventeen full-size single-threaded operations per parameter, each
//! allocating its result: 15-20% of a MiniLM training step at seq 32.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ndarray::NdArrayTensor;
use burn::nn::Dropout;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::kernels::{self, AdamConsts};
use crate::backend::{Cpu, CpuTrain};

/// `t` as a tensor of backend `T`, if `B` is `T`.
pub(super) fn cast<B: Backend, T: Backend, const D: usize>(
    t: Tensor<B, D>,
) -> Result<Tensor<T, D>, Tensor<B, D>> {
    let boxed: Box<dyn Any> = Box::new(t);
    match boxed.downcast::<Tensor<T, D>>() {
        Ok(t) => Ok(*t),
        Err(boxed) => Err(*boxed
            .downcast::<Tensor<B, D>>()
            .expect("the box holds the tensor put in it")),
    }
}

/// A tensor of one of the CPU backends, still typed as `B` for the caller.
pub enum CpuTensor<B: Backend, const D: usize> {
    Train(Tensor<CpuTrain, D>, PhantomData<B>),
    Infer(Tensor<Cpu, D>, PhantomData<B>),
}

thread_local! {
    static COMPOSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `f` run with every fused CPU operation of the model (LayerNorm, GELU, softmax, Linear,
/// attention) replaced by its composed form, whose gradients are burn's autodiff: what the
/// tests compare the hand-written backward passes with. Dropout and AdamW keep their fused
/// forms (their composed forms draw other masks or round the same way).
pub fn with_composed<R>(f: impl FnOnce() -> R) -> R {
    let before = COMPOSED.with(|c| c.replace(true));
    let out = f();
    COMPOSED.with(|c| c.set(before));
    out
}

/// Whether this thread runs inside [`with_composed`].
pub(super) fn composed() -> bool {
    COMPOSED.with(|c| c.get())
}

/// `Ok` when `B` is a CPU backend (with or without autodiff), else the tensor back.
pub fn on_cpu<B: Backend, const D: usize>(
    t: Tensor<B, D>,
) -> Result<CpuTensor<B, D>, Tensor<B, D>> {
    if composed() {
        return Err(t);
    }
    match cast::<B, CpuTrain, D>(t) {
        Ok(t) => Ok(CpuTensor::Train(t, PhantomData)),
        Err(t) => cast::<B, Cpu, D>(t).map(|t| CpuTensor::Infer(t, PhantomData)),
    }
}

/// The same tensor under the other name of its backend (`T` and `B` are one type: a
/// `CpuTensor` is only built when they are).
pub(super) fn same<T: Backend, B: Backend, const D: usize>(t: Tensor<T, D>) -> Tensor<B, D> {
    match cast::<T, B, D>(t) {
        Ok(t) => t,
        Err(_) => unreachable!("CpuTensor is only built when B is this backend"),
    }
}

impl<B: Backend, const D: usize> CpuTensor<B, D> {
    /// GELU, exact erf form.
    pub fn gelu(self) -> Tensor<B, D> {
        match self {
            CpuTensor::Train(x, _) => same(rows_of(x, gelu_train)),
            CpuTensor::Infer(x, _) => same(in_place(x, |v, _| kernels::gelu(v))),
        }
    }

    /// Softmax over the last dimension.
    pub fn softmax(self) -> Tensor<B, D> {
        match self {
            CpuTensor::Train(x, _) => same(rows_of(x, softmax_train)),
            CpuTensor::Infer(x, _) => same(in_place(x, kernels::softmax_rows)),
        }
    }

    /// LayerNorm over the last dimension.
    pub fn layer_norm(self, gamma: Tensor<B, 1>, beta: Tensor<B, 1>, eps: f32) -> Tensor<B, D> {
        match self {
            CpuTensor::Train(x, _) => {
                let (g, b) = (same(gamma), same(beta));
                same(rows_of(x, |x| norm_train(x, g, b, eps)))
            }
            CpuTensor::Infer(x, _) => {
                let vector = |t: Tensor<B, 1>| {
                    let t: Tensor<Cpu, 1> = same(t);
                    read(t.into_primitive().tensor()).0
                };
                let (g, b) = (vector(gamma), vector(beta));
                same(in_place(x, |v, _| kernels::layer_norm_rows(v, &g, &b, eps)))
            }
        }
    }
}

/// New value, first moment, second moment.
pub type AdamState<B, const D: usize> = (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>);

/// One AdamW update of parameter `p` with gradient `g` and moments `m`, `v` when `B` is the
/// CPU backend: one pass, on all cores in fixed chunks (elementwise, so the bits do not
/// depend on the number of threads), with the moments' buffers updated in place. Any other
/// backend gets its tensors back, for the composed form.
#[allow(clippy::type_complexity)]
pub fn adamw<B: Backend, const D: usize>(
    p: Tensor<B, D>,
    g: Tensor<B, D>,
    m: Tensor<B, D>,
    v: Tensor<B, D>,
    k: &AdamConsts,
) -> Result<AdamState<B, D>, (Tensor<B, D>, Tensor<B, D>, Tensor<B, D>, Tensor<B, D>)> {
    let p = match cast::<B, Cpu, D>(p) {
        Ok(p) => p,
        Err(p) => return Err((p, g, m, v)),
    };
    let shape = p.dims();
    let (p, g) = (contiguous(p), contiguous(same::<B, Cpu, D>(g)));
    let (mut m, mut v) = (
        contiguous(same::<B, Cpu, D>(m)),
        contiguous(same::<B, Cpu, D>(v)),
    );
    let mut out = vec![0.0f32; p.len()];
    const CHUNK: usize = 1 << 14;
    {
        let (ms, vs) = (slice_mut(&mut m), slice_mut(&mut v));
        out.par_chunks_mut(CHUNK)
            .zip(slice(&p).par_chunks(CHUNK))
            .zip(slice(&g).par_chunks(CHUNK))
            .zip(ms.par_chunks_mut(CHUNK))
            .zip(vs.par_chunks_mut(CHUNK))
            .for_each(|((((o, p), g), m), v)| kernels::adamw(o, p, g, m, v, k));
    }
    let tensor =
        |t: FloatTensor<Cpu>| same(Tensor::<Cpu, D>::from_primitive(TensorPrimitive::Float(t)));
    Ok((
        tensor(primitive(out, shape)),
        tensor(NdArrayTensor::from(m)),
        tensor(NdArrayTensor::from(v)),
    ))
}

pub(super) type Shared = ndarray::ArcArray<f32, ndarray::IxDyn>;

/// A CPU tensor's values as an array in standard layout; no copy when it already is one
/// (a moment that only the optimizer holds is then updated where it lies).
fn contiguous<const D: usize>(t: Tensor<Cpu, D>) -> Shared {
    array(t.into_primitive().tensor())
}

/// A CPU primitive's values as an array in standard layout, copied only when it is not one.
pub(super) fn array(p: FloatTensor<Cpu>) -> Shared {
    let a = match p {
        NdArrayTensor::F32(storage) => storage.into_owned(),
        other => {
            let (values, shape) = read(other);
            ndarray::Array::from_shape_vec(ndarray::IxDyn(&shape), values)
                .expect("read gives the values of its shape")
                .into_shared()
        }
    };
    match a.is_standard_layout() {
        true => a,
        false => a.as_standard_layout().into_owned().into_shared(),
    }
}

pub(super) fn slice(a: &Shared) -> &[f32] {
    a.as_slice().expect("contiguous() gives standard layout")
}

/// Copies only when the buffer is shared (copy on write).
fn slice_mut(a: &mut Shared) -> &mut [f32] {
    a.as_slice_mut()
        .expect("contiguous() gives standard layout")
}

thread_local! {
    static DROPOUT_STREAM: RefCell<ChaCha8Rng> = RefCell::new(ChaCha8Rng::seed_from_u64(0));
}

/// Restart this thread's dropout stream at `seed` (the training loops call it before each
/// step's forward pass, next to burn's `Backend::seed` for the other backends).
pub fn seed_dropout(seed: u64) {
    DROPOUT_STREAM.with(|s| *s.borrow_mut() = ChaCha8Rng::seed_from_u64(seed));
}

/// `d` applied to `x`: during training (an autodiff backend) each element is zeroed with
/// probability p and the rest scaled by 1/(1 - p); otherwise `x` unchanged.
pub fn dropout<B: Backend, const D: usize>(d: &Dropout, x: Tensor<B, D>) -> Tensor<B, D> {
    if d.prob == 0.0 || !B::ad_enabled() {
        return x;
    }
    match cast::<B, CpuTrain, D>(x) {
        Ok(x) => same(rows_of(x, |x| dropout_train(x, d.prob))),
        Err(x) => d.forward(x),
    }
}

/// A mask of `n` values: 0 with probability `p`, else 1/(1 - p).
pub(super) fn dropout_mask(n: usize, p: f64) -> Vec<f32> {
    let mut bits = vec![0u32; n];
    DROPOUT_STREAM.with(|s| s.borrow_mut().fill(&mut bits[..]));
    // Keep when the 32-bit draw is below (1 - p) 2^32.
    let keep_below = ((1.0 - p) * 4_294_967_296.0).min(u32::MAX as f64) as u32;
    let scale = (1.0 / (1.0 - p)) as f32;
    bits.iter()
        .map(|&b| if b < keep_below { scale } else { 0.0 })
        .collect()
}

fn dropout_train(x: Tensor<CpuTrain, 2>, p: f64) -> Tensor<CpuTrain, 2> {
    let x = x.into_primitive().tensor();
    let (mut y, shape) = read(x.primitive.clone());
    let mask = dropout_mask(y.len(), p);
    kernels::mul_into(&mut y, &mask);
    finish_unary(Unary::Dropout, &x, y, two(&shape), mask)
}

/// Without autodiff: `f` applied to a copy of `x`'s values seen as rows (with their width).
fn in_place<const D: usize>(
    x: Tensor<Cpu, D>,
    f: impl FnOnce(&mut [f32], usize),
) -> Tensor<Cpu, D> {
    rows_of(x, |x| {
        let (mut v, shape) = read(x.into_primitive().tensor());
        f(&mut v, shape[1]);
        Tensor::from_primitive(TensorPrimitive::Float(primitive(v, two(&shape))))
    })
}

/// Apply `f` to `x` seen as rows of its last dimension.
fn rows_of<T: Backend, const D: usize>(
    x: Tensor<T, D>,
    f: impl FnOnce(Tensor<T, 2>) -> Tensor<T, 2>,
) -> Tensor<T, D> {
    let dims = x.dims();
    let width = dims[D - 1];
    let rows = dims.iter().product::<usize>() / width.max(1);
    f(x.reshape([rows, width])).reshape(dims)
}

/// A CPU tensor's values (row-major) and shape, in one copy. (`Tensor::into_data` walks a
/// tensor whose buffer is shared, as autodiff's saved inputs are, element by element through
/// a dynamic-rank iterator: that was a fifth of the training time.)
fn read(p: FloatTensor<Cpu>) -> (Vec<f32>, Vec<usize>) {
    match &p {
        NdArrayTensor::F32(storage) => {
            let view = storage.view();
            let values = match view.as_slice() {
                Some(values) => values.to_vec(),
                None => view.iter().copied().collect(),
            };
            (values, view.shape().to_vec())
        }
        _ => {
            let data = Tensor::<Cpu, 1>::from_primitive(TensorPrimitive::Float(p)).into_data();
            let shape = data.shape.clone();
            let values = data.convert::<f32>().into_vec::<f32>();
            (values.expect("converted to f32"), shape)
        }
    }
}

/// Values as a CPU tensor primitive, owned by burn-ndarray as its own operations' results are.
/// (Through `TensorData` it would borrow the buffer, and the next operation would copy it.)
pub(super) fn primitive<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FloatTensor<Cpu> {
    let array = ndarray::Array::from_shape_vec(ndarray::IxDyn(&shape), values)
        .expect("a fused operation's output fills its shape");
    NdArrayTensor::from(array.into_shared())
}

fn two(shape: &[usize]) -> [usize; 2] {
    [shape[0], shape[1]]
}

/// What a backward step keeps from its forward pass. Shared, not copied, when burn clones a
/// step's state; printed as a size, not as its values.
#[derive(Clone)]
struct Saved(Arc<Vec<f32>>);

impl fmt::Debug for Saved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Saved({} values)", self.0.len())
    }
}

/// The fused operations of one input, by what their backward pass needs.
#[derive(Debug, Clone, Copy)]
enum Unary {
    /// Saves its input.
    Gelu,
    /// Saves its output.
    Softmax,
    /// Saves its mask (0 or the scale).
    Dropout,
}

#[derive(Debug)]
struct UnaryStep(Unary);

impl Backward<Cpu, 1> for UnaryStep {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Cpu>(&ops.node);
        let Some(parent) = parent else { return };
        let (mut g, shape) = read(grad);
        let saved = &ops.state.0;
        match self.0 {
            Unary::Gelu => kernels::gelu_backward(saved, &mut g),
            Unary::Softmax => kernels::softmax_backward(saved, &mut g, shape[1]),
            Unary::Dropout => kernels::mul_into(&mut g, saved),
        }
        grads.register::<Cpu>(parent.id, primitive(g, two(&shape)));
    }
}

/// `y`, computed from `x` by `op`, as a tensor in `x`'s graph; `saved` is kept for the
/// backward pass when `x` needs a gradient.
fn finish_unary(
    op: Unary,
    x: &FloatTensor<CpuTrain>,
    y: Vec<f32>,
    shape: [usize; 2],
    saved: Vec<f32>,
) -> Tensor<CpuTrain, 2> {
    let y = primitive(y, shape);
    let out = match UnaryStep(op)
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Saved(Arc::new(saved)), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

fn gelu_train(x: Tensor<CpuTrain, 2>) -> Tensor<CpuTrain, 2> {
    let x = x.into_primitive().tensor();
    let (input, shape) = read(x.primitive.clone());
    let mut y = input.clone();
    kernels::gelu(&mut y);
    finish_unary(Unary::Gelu, &x, y, two(&shape), input)
}

fn softmax_train(x: Tensor<CpuTrain, 2>) -> Tensor<CpuTrain, 2> {
    let x = x.into_primitive().tensor();
    let (mut y, shape) = read(x.primitive.clone());
    kernels::softmax_rows(&mut y, shape[1]);
    let output = y.clone();
    finish_unary(Unary::Softmax, &x, y, two(&shape), output)
}

#[derive(Debug)]
struct NormStep;

#[derive(Clone, Debug)]
struct NormSaved {
    /// The normalised input, x̂.
    xhat: Saved,
    /// 1/√(var + eps) per row.
    rstd: Saved,
    gamma: Saved,
}

impl Backward<Cpu, 3> for NormStep {
    type State = NormSaved;

    fn backward(self, ops: Ops<NormSaved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, gamma, beta] = ops.parents;
        let s = ops.state;
        let (mut g, shape) = read(grads.consume::<Cpu>(&ops.node));
        let width = s.gamma.0.len();
        if let Some(beta) = beta {
            let sums = kernels::column_sums(&g, None, width);
            grads.register::<Cpu>(beta.id, primitive(sums, [width]));
        }
        if let Some(gamma) = gamma {
            let sums = kernels::column_sums(&g, Some(&s.xhat.0), width);
            grads.register::<Cpu>(gamma.id, primitive(sums, [width]));
        }
        if let Some(x) = x {
            kernels::layer_norm_backward(&mut g, &s.xhat.0, &s.rstd.0, &s.gamma.0);
            grads.register::<Cpu>(x.id, primitive(g, two(&shape)));
        }
    }
}

fn norm_train(
    x: Tensor<CpuTrain, 2>,
    gamma: Tensor<CpuTrain, 1>,
    beta: Tensor<CpuTrain, 1>,
    eps: f32,
) -> Tensor<CpuTrain, 2> {
    let x = x.into_primitive().tensor();
    let g = gamma.into_primitive().tensor();
    let b = beta.into_primitive().tensor();
    let (mut y, shape) = read(x.primitive.clone());
    let (gv, bv) = (read(g.primitive.clone()).0, read(b.primitive.clone()).0);
    let rows = shape[0];
    let mut xhat = vec![0.0; y.len()];
    let mut rstd = vec![0.0; rows];
    kernels::layer_norm_rows_saving(&mut y, (&gv, &bv, eps), &mut xhat, &mut rstd);
    let y = primitive(y, two(&shape));
    let out = match NormStep
        .prepare::<NoCheckpointing>([x.node.clone(), g.node.clone(), b.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let saved = NormSaved {
                xhat: Saved(Arc::new(xhat)),
                rstd: Saved(Arc::new(rstd)),
                gamma: Saved(Arc::new(gv)),
            };
            prep.finish(saved, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::DropoutConfig;

    #[test]
    fn dropout_masks_follow_the_seed_and_the_gradient_is_the_mask() {
        let device = Default::default();
        let d = DropoutConfig::new(0.25).init();
        let masked = |seed| {
            seed_dropout(seed);
            let x = Tensor::<CpuTrain, 2>::ones([200, 50], &device).require_grad();
            let y = dropout(&d, x.clone());
            let values: Vec<f32> = y.clone().into_data().to_vec().unwrap();
            let grad: Vec<f32> = x
                .grad(&y.sum().backward())
                .unwrap()
                .into_data()
                .to_vec()
                .unwrap();
            (values, grad)
        };
        let (y, grad) = masked(3);
        let zeros = y.iter().filter(|&&v| v == 0.0).count();
        assert!(
            (2300..2700).contains(&zeros),
            "{zeros} of 10000 dropped at p = 0.25"
        );
        assert!(y.iter().all(|&v| v == 0.0 || v == 1.0 / 0.75));
        // y = mask · 1, so d(sum y)/dx is the mask itself.
        assert_eq!(grad, y);
        assert_eq!(masked(3).0, y);
        assert_ne!(masked(4).0, y);
        // Without autodiff (evaluation) nothing is dropped.
        let x = Tensor::<Cpu, 2>::ones([4, 5], &device);
        let v: Vec<f32> = dropout(&d, x).into_data().to_vec().unwrap();
        assert!(v.iter().all(|&a| a == 1.0));
    }
}
