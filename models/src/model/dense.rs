//! A Linear layer (`x · W + b`) as one operation of the CPU training backend, forward and
//! backward through `gemm` (`kernels::matmul_parallel`).
//!
//! Why: composed, burn-ndarray runs the product through `matrixmultiply` and the autodiff graph
//! adds a broadcast bias, a transpose and a fresh allocation per step of the backward pass; in
//! that form `matrixmultiply`'s kernel was 32% of a MiniLM training step at seq 128 and its
//! packing 11% (perf, docs/performance.md). Here the forward pass is one
//! product into a buffer that starts as the bias, and the backward pass is the two products
//! `dx = dy · Wᵀ`, `dW = xᵀ · dy` read through strides (no transposed copies) and the bias
//! gradient as column sums. The products are split into row blocks whose size depends only on
//! the shapes, so the bits do not depend on the number of threads.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};

use super::fused::{array, cast, primitive, same, slice, Shared};
use super::kernels::{self, View};
use crate::backend::{Cpu, CpuTrain};

/// `x · W + b` for `x` of shape `[rows, inputs]` (a Linear layer with a bias): the fused
/// operation on the CPU training backend, the composed one elsewhere and under
/// `with_composed`.
pub fn linear<B: Backend>(l: &Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    match l.bias.as_ref() {
        Some(b) => affine(x, l.weight.val(), b.val()),
        None => x.matmul(l.weight.val()),
    }
}

/// `x · w + b`, as [`linear`].
pub fn affine<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>, b: Tensor<B, 1>) -> Tensor<B, 2> {
    if super::fused::composed() {
        return x.matmul(w) + b.unsqueeze();
    }
    match cast::<B, CpuTrain, 2>(x) {
        Ok(x) => same(linear_train(x, same(w), same(b))),
        Err(x) => x.matmul(w) + b.unsqueeze(),
    }
}

/// What the backward pass keeps: the input and the weight, shared with the graph, not copied.
#[derive(Clone, Debug)]
struct LinearSaved {
    x: Shared,
    w: Shared,
}

#[derive(Debug)]
struct LinearStep;

impl Backward<Cpu, 3> for LinearStep {
    type State = LinearSaved;

    fn backward(self, ops: Ops<LinearSaved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, w, b] = ops.parents;
        let s = ops.state;
        let dy = array(grads.consume::<Cpu>(&ops.node));
        let (inputs, outputs) = (s.w.shape()[0], s.w.shape()[1]);
        let rows = s.x.len() / inputs.max(1);
        let dy_values = slice(&dy);
        if let Some(b) = b {
            let sums = kernels::column_sums(dy_values, None, outputs);
            grads.register::<Cpu>(b.id, primitive(sums, [outputs]));
        }
        if let Some(w) = w {
            // dW = xᵀ · dy: [inputs, rows] · [rows, outputs].
            let mut dw = vec![0.0; inputs * outputs];
            kernels::matmul_parallel(
                (&mut dw, outputs),
                (slice(&s.x), View::rows(rows, inputs).transposed()),
                (dy_values, View::rows(rows, outputs)),
            );
            grads.register::<Cpu>(w.id, primitive(dw, [inputs, outputs]));
        }
        if let Some(x) = x {
            // dx = dy · Wᵀ: [rows, outputs] · [outputs, inputs].
            let mut dx = vec![0.0; rows * inputs];
            kernels::matmul_parallel(
                (&mut dx, inputs),
                (dy_values, View::rows(rows, outputs)),
                (slice(&s.w), View::rows(inputs, outputs).transposed()),
            );
            grads.register::<Cpu>(x.id, primitive(dx, [rows, inputs]));
        }
    }
}

fn linear_train(
    x: Tensor<CpuTrain, 2>,
    w: Tensor<CpuTrain, 2>,
    b: Tensor<CpuTrain, 1>,
) -> Tensor<CpuTrain, 2> {
    let (x, w, b) = (
        x.into_primitive().tensor(),
        w.into_primitive().tensor(),
        b.into_primitive().tensor(),
    );
    let (xs, ws, bs) = (
        array(x.primitive.clone()),
        array(w.primitive.clone()),
        array(b.primitive.clone()),
    );
    let (inputs, outputs) = (ws.shape()[0], ws.shape()[1]);
    let rows = xs.len() / inputs.max(1);
    let mut y = vec![0.0; rows * outputs];
    kernels::fill_rows(&mut y, slice(&bs));
    kernels::matmul_parallel_onto(
        (&mut y, outputs),
        (slice(&xs), View::rows(rows, inputs)),
        (slice(&ws), View::rows(inputs, outputs)),
    );
    let y = primitive(y, [rows, outputs]);
    let out = match LinearStep
        .prepare::<NoCheckpointing>([x.node.clone(), w.node.clone(), b.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(LinearSaved { x: xs, w: ws }, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}
