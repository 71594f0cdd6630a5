//! CPU kernels for `FrozenBert` and the fused training operations: matrix products through the
//! `gemm` crate and the elementwise work of a BERT layer (GELU, softmax, LayerNorm) as loops the
//! compiler vectorises.
//!
//! Why not burn-ndarray's: its `exp` and `erf` are scalar libm calls, every elementwise step
//! allocates a new tensor and walks it once more, and attention needs `swap_dims` copies. Those
//! were most of the evaluation time (docs/performance.md). Here each step is one pass over a
//! buffer the caller owns, and `pulp` compiles the loops for AVX-512 or AVX2+FMA when the CPU
//! has them (scalar code otherwise), choosing at run time ([`arithmetic`] says which).
//!
//! `exp` and `erf` are the branch-free polynomial forms vectorised math libraries use (Cephes'
//! `expf`, Abramowitz & Stegun 7.1.26 for `erf`, which is what PyTorch's vectorised GELU uses);
//! their errors are bounded by the tests below.

use pulp::{Arch, Simd, WithSimd};

/// How a matrix lies in a slice: its shape, and the steps between rows and between columns,
/// so that transposed and strided operands (one head's columns of a fused Q/K/V buffer, K read
/// as Kᵀ) need no copy.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl View {
    /// A dense row-major matrix.
    pub fn rows(rows: usize, cols: usize) -> View {
        View::strided(rows, cols, cols)
    }

    /// Row-major with rows `row_stride` apart (a column block of a wider matrix).
    pub fn strided(rows: usize, cols: usize, row_stride: usize) -> View {
        View {
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    pub fn transposed(self) -> View {
        View {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// The number of elements a slice must hold for this view to stay inside it.
    fn span(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return 0;
        }
        (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
    }
}

/// `c = a · b` for a row-major `c` (`cols` wide), on all cores: the rows of `c` are split into
/// blocks whose size depends only on the shapes, each one product, so the bits do not depend
/// on the number of threads. For the training operations, whose products are too large for one
/// core and which run one at a time.
pub fn matmul_parallel((c, cols): (&mut [f32], usize), a: (&[f32], View), b: (&[f32], View)) {
    parallel(c, cols, a, b, false)
}

/// `c += a · b`, as [`matmul_parallel`].
pub fn matmul_parallel_onto(c: (&mut [f32], usize), a: (&[f32], View), b: (&[f32], View)) {
    parallel(c.0, c.1, a, b, true)
}

fn parallel(c: &mut [f32], cols: usize, (a, av): (&[f32], View), b: (&[f32], View), acc: bool) {
    use rayon::prelude::*;
    let rows = av.rows;
    assert_eq!(c.len(), rows * cols, "matmul_parallel output size");
    if rows == 0 || cols == 0 {
        return;
    }
    // About eight blocks (enough to balance any small core count), at least 32 rows each, so
    // that packing `b` once per block stays small next to the block's product.
    let block = rows.div_ceil(8).next_multiple_of(16).max(32);
    c.par_chunks_mut(block * cols)
        .enumerate()
        .for_each(|(i, c)| {
            let first = i * block;
            let n = c.len() / cols;
            let a_view = View { rows: n, ..av };
            matmul(
                (c, View::rows(n, cols)),
                (&a[first * av.row_stride..], a_view),
                b,
                1.0,
                acc,
            );
        });
}

/// `c = scale · a · b`, or `c += scale · a · b` when `accumulate`. Single-threaded: callers
/// run whole batches on separate threads, which keeps results independent of the thread count.
pub fn matmul(
    (c, cv): (&mut [f32], View),
    (a, av): (&[f32], View),
    (b, bv): (&[f32], View),
    scale: f32,
    accumulate: bool,
) {
    assert!(
        av.cols == bv.rows && cv.rows == av.rows && cv.cols == bv.cols,
        "matmul shapes {av:?} x {bv:?} -> {cv:?}"
    );
    assert!(a.len() >= av.span() && b.len() >= bv.span() && c.len() >= cv.span());
    if cv.rows == 0 || cv.cols == 0 {
        return;
    }
    if av.cols == 0 {
        if !accumulate {
            for r in 0..cv.rows {
                for k in 0..cv.cols {
                    c[r * cv.row_stride + k * cv.col_stride] = 0.0;
                }
            }
        }
        return;
    }
    // SAFETY: the asserts above keep every index the views describe inside the slices, and `c`
    // is borrowed mutably, so it overlaps neither `a` nor `b`.
    unsafe {
        gemm::gemm(
            cv.rows,
            cv.cols,
            av.cols,
            c.as_mut_ptr(),
            cv.col_stride as isize,
            cv.row_stride as isize,
            accumulate,
            a.as_ptr(),
            av.col_stride as isize,
            av.row_stride as isize,
            b.as_ptr(),
            bv.col_stride as isize,
            bv.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Lanes of the accumulators in the reductions: independent partial sums let the compiler use
/// vector registers (float addition is not associative, so a single running sum stays scalar).
const LANES: usize = 16;

#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

#[inline(always)]
fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let d = c[i] - mean;
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>()
}

#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = acc[i].max(c[i]);
        }
    }
    acc.iter()
        .chain(tail)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// eˣ, Cephes' `expf`: 2ⁿ · p(r) with r = x - n ln 2 in [-ln2/2, ln2/2], within 2 ulp. Inputs
/// below -87.3 give about 1e-38 instead of a subnormal or zero; every caller adds the result to
/// terms of order one or multiplies it by a bounded factor, where that is invisible.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.336_54, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// erf(x) within 5e-7 absolute (Abramowitz & Stegun 7.1.26: 1.5e-7 in exact arithmetic; f32
/// rounding in `1 - p·t·e^(-x²)` adds the rest, near |x| = 0.2).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let mut p = 1.061_405_4;
    p = p * t - 1.453_152;
    p = p * t + 1.421_413_8;
    p = p * t - 0.284_496_74;
    p = p * t + 0.254_829_6;
    (1.0 - p * t * exp(-a * a)).copysign(x)
}

/// The instruction-set level the CPU kernels run at on this host: `gemm`'s microkernels and
/// `dispatch` choose it at run time (AVX-512 where the CPU has avx512f/bw/cd/dq/vl, else
/// AVX2 with FMA, else SSE2). The elementwise kernels give the same bits at every level (their
/// reductions accumulate in a fixed `LANES`-wide order, and nothing is fused into an FMA
/// implicitly); the matrix products do not (another microkernel adds partial products in
/// another order), so a record says this and `verify` compares across levels by tolerance.
pub fn arithmetic() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        match Arch::new() {
            Arch::V4(_) => "x86-64-v4 (AVX-512)",
            Arch::V3(_) => "x86-64-v3 (AVX2, FMA)",
            _ => "x86-64 (SSE2)",
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

/// Runs a kernel's loop inside a function compiled for the best instruction set the CPU has
/// (`pulp`): the loop must be written in `with_simd`, which is inlined there. (A closure
/// passed to `Arch::dispatch` is not reliably inlined, and then runs as plain SSE.)
fn dispatch<K: WithSimd>(kernel: K) -> K::Output {
    Arch::new().dispatch(kernel)
}

struct Gelu<'a>(&'a mut [f32]);

impl WithSimd for Gelu<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for v in self.0.iter_mut() {
            let a = *v;
            *v = 0.5 * a * (1.0 + erf(a * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// GELU in place, BERT's exact erf form: x · Φ(x) = x/2 · (1 + erf(x/√2)).
pub fn gelu(x: &mut [f32]) {
    dispatch(Gelu(x))
}

/// tanh in place (the pooler: one row per example, so plain `f32::tanh`).
pub fn tanh(x: &mut [f32]) {
    for v in x {
        *v = v.tanh();
    }
}

struct Softmax<'a> {
    x: &'a mut [f32],
    width: usize,
}

impl WithSimd for Softmax<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for row in self.x.chunks_exact_mut(self.width) {
            let m = max(row);
            for v in row.iter_mut() {
                *v = exp(*v - m);
            }
            let inv = 1.0 / sum(row);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

/// Softmax of each row of `x` (rows `width` long) in place.
pub fn softmax_rows(x: &mut [f32], width: usize) {
    dispatch(Softmax { x, width })
}

/// A row's mean and 1/√(var + eps), with the biased variance, as PyTorch computes them.
#[inline(always)]
fn mean_rstd(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let var = sum_sq_dev(row, mean) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

struct LayerNorm<'a> {
    x: &'a mut [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

impl WithSimd for LayerNorm<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let width = self.gamma.len();
        for row in self.x.chunks_exact_mut(width) {
            let (mean, rstd) = mean_rstd(row, self.eps);
            for ((v, g), b) in row.iter_mut().zip(self.gamma).zip(self.beta) {
                *v = (*v - mean) * rstd * g + b;
            }
        }
    }
}

/// LayerNorm of each row of `x` in place: (x - mean) / √(var + eps) · gamma + beta, with the
/// biased variance, as PyTorch computes it.
pub fn layer_norm_rows(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    assert_eq!(beta.len(), gamma.len());
    dispatch(LayerNorm {
        x,
        gamma,
        beta,
        eps,
    })
}

struct AddRows<'a> {
    x: &'a mut [f32],
    row: &'a [f32],
}

impl WithSimd for AddRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for dst in self.x.chunks_exact_mut(self.row.len()) {
            for (v, b) in dst.iter_mut().zip(self.row) {
                *v += b;
            }
        }
    }
}

/// Each row of `x` plus `bias` (rows `bias.len()` wide), in place.
pub fn add_bias_rows(x: &mut [f32], bias: &[f32]) {
    dispatch(AddRows { x, row: bias })
}

struct GeluBackward<'a> {
    x: &'a [f32],
    grad: &'a mut [f32],
}

impl WithSimd for GeluBackward<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        // d/dx x·Φ(x) = Φ(x) + x·φ(x)
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        for (g, &a) in self.grad.iter_mut().zip(self.x) {
            let cdf = 0.5 * (1.0 + erf(a * std::f32::consts::FRAC_1_SQRT_2));
            let pdf = INV_SQRT_2PI * exp(-0.5 * a * a);
            *g *= cdf + a * pdf;
        }
    }
}

/// `grad *= GELU'(x)`, elementwise.
pub fn gelu_backward(x: &[f32], grad: &mut [f32]) {
    assert_eq!(x.len(), grad.len());
    dispatch(GeluBackward { x, grad })
}

struct NormSaving<'a> {
    x: &'a mut [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
    xhat: &'a mut [f32],
    rstd: &'a mut [f32],
}

impl WithSimd for NormSaving<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let width = self.gamma.len();
        let rows = self
            .x
            .chunks_exact_mut(width)
            .zip(self.xhat.chunks_exact_mut(width));
        for ((row, xhat), rstd) in rows.zip(self.rstd.iter_mut()) {
            let mean;
            (mean, *rstd) = mean_rstd(row, self.eps);
            for (((v, h), g), b) in row.iter_mut().zip(xhat).zip(self.gamma).zip(self.beta) {
                *h = (*v - mean) * *rstd;
                *v = *h * g + b;
            }
        }
    }
}

/// `layer_norm_rows`, also keeping what the backward pass needs: the normalised rows
/// (`xhat`, the size of `x`) and each row's 1/√(var + eps) (`rstd`, one per row).
pub fn layer_norm_rows_saving(
    x: &mut [f32],
    (gamma, beta, eps): (&[f32], &[f32], f32),
    xhat: &mut [f32],
    rstd: &mut [f32],
) {
    let width = gamma.len();
    assert!(beta.len() == width && xhat.len() == x.len() && rstd.len() * width == x.len());
    dispatch(NormSaving {
        x,
        gamma,
        beta,
        eps,
        xhat,
        rstd,
    })
}

struct NormBackward<'a> {
    grad: &'a mut [f32],
    xhat: &'a [f32],
    rstd: &'a [f32],
    gamma: &'a [f32],
    scratch: &'a mut [f32],
}

impl WithSimd for NormBackward<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let width = self.gamma.len();
        let n = width as f32;
        let dxhat = self.scratch;
        let rows = self
            .grad
            .chunks_exact_mut(width)
            .zip(self.xhat.chunks_exact(width));
        for ((g, xhat), &rstd) in rows.zip(self.rstd) {
            for ((d, gv), gm) in dxhat.iter_mut().zip(g.iter()).zip(self.gamma) {
                *d = gv * gm;
            }
            let mean_d = sum(dxhat) / n;
            let mean_dx = dot(dxhat, xhat) / n;
            for ((gv, d), h) in g.iter_mut().zip(dxhat.iter()).zip(xhat) {
                *gv = rstd * (d - mean_d - h * mean_dx);
            }
        }
    }
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The input gradient of LayerNorm, in place of the output gradient `grad`:
/// rstd · (ĝ - mean(ĝ) - x̂ · mean(ĝ x̂)) with ĝ = grad · gamma, row by row.
pub fn layer_norm_backward(grad: &mut [f32], xhat: &[f32], rstd: &[f32], gamma: &[f32]) {
    let width = gamma.len();
    assert!(xhat.len() == grad.len() && rstd.len() * width == grad.len());
    let mut scratch = vec![0.0; width];
    dispatch(NormBackward {
        grad,
        xhat,
        rstd,
        gamma,
        scratch: &mut scratch,
    })
}

/// Column sums of `rows` (`width` wide) of `a`, or of `a · b` elementwise: the gradients of
/// LayerNorm's shift and scale. Rows are added in order, so the result does not depend on
/// anything but the inputs.
pub fn column_sums(a: &[f32], b: Option<&[f32]>, width: usize) -> Vec<f32> {
    let mut out = vec![0.0; width];
    for (r, ra) in a.chunks_exact(width).enumerate() {
        match b {
            None => out.iter_mut().zip(ra).for_each(|(o, x)| *o += x),
            Some(b) => {
                let rb = &b[r * width..(r + 1) * width];
                for ((o, x), y) in out.iter_mut().zip(ra).zip(rb) {
                    *o += x * y;
                }
            }
        }
    }
    out
}

struct SoftmaxBackward<'a> {
    y: &'a [f32],
    grad: &'a mut [f32],
    width: usize,
}

impl WithSimd for SoftmaxBackward<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let rows = self
            .grad
            .chunks_exact_mut(self.width)
            .zip(self.y.chunks_exact(self.width));
        for (g, y) in rows {
            let gy = dot(g, y);
            for (gv, yv) in g.iter_mut().zip(y) {
                *gv = yv * (*gv - gy);
            }
        }
    }
}

/// The input gradient of a row softmax with output `y`, in place of the output gradient:
/// y · (g - Σ g·y), row by row.
pub fn softmax_backward(y: &[f32], grad: &mut [f32], width: usize) {
    assert_eq!(y.len(), grad.len());
    dispatch(SoftmaxBackward { y, grad, width })
}

/// `x *= m`, elementwise.
pub fn mul_into(x: &mut [f32], m: &[f32]) {
    assert_eq!(x.len(), m.len());
    for (v, f) in x.iter_mut().zip(m) {
        *v *= f;
    }
}

/// Each row of `dst` set to `bias` (rows `bias.len()` wide).
pub fn fill_rows(dst: &mut [f32], bias: &[f32]) {
    for row in dst.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The instruction-set levels this CPU has, for running a kernel at each.
    #[derive(Clone, Copy)]
    enum Level {
        Scalar,
        #[cfg(target_arch = "x86_64")]
        V3(pulp::x86::V3),
        #[cfg(target_arch = "x86_64")]
        V4(pulp::x86::V4),
    }

    fn levels() -> Vec<Level> {
        #[allow(unused_mut)]
        let mut l = vec![Level::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            l.extend(pulp::x86::V3::try_new().map(Level::V3));
            l.extend(pulp::x86::V4::try_new().map(Level::V4));
        }
        l
    }

    macro_rules! at {
        ($level:expr, $kernel:expr) => {
            match $level {
                Level::Scalar => Simd::vectorize(pulp::Scalar::new(), $kernel),
                #[cfg(target_arch = "x86_64")]
                Level::V3(s) => Simd::vectorize(s, $kernel),
                #[cfg(target_arch = "x86_64")]
                Level::V4(s) => Simd::vectorize(s, $kernel),
            }
        };
    }

    /// What `arithmetic()` promises of the elementwise kernels: the same bits at every level
    /// the CPU has (only the matrix products' microkernels differ between levels).
    #[test]
    fn the_elementwise_kernels_give_the_same_bits_at_every_level() {
        let (rows, width) = (7, 67);
        let x: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 7919) % 2003) as f32 / 250.0 - 4.0)
            .collect();
        let gamma: Vec<f32> = (0..width).map(|i| 0.5 + (i % 5) as f32 / 7.0).collect();
        let beta: Vec<f32> = (0..width).map(|i| (i % 3) as f32 / 11.0 - 0.1).collect();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
        let mut seen: Vec<Vec<Vec<u32>>> = Vec::new();
        for level in levels() {
            let mut out = Vec::new();
            let mut g = x.clone();
            at!(level, Gelu(&mut g));
            out.push(bits(&g));
            let mut p = x.clone();
            at!(level, Softmax { x: &mut p, width });
            out.push(bits(&p));
            let mut n = x.clone();
            let (mut xhat, mut rstd) = (vec![0f32; x.len()], vec![0f32; rows]);
            at!(
                level,
                NormSaving {
                    x: &mut n,
                    gamma: &gamma,
                    beta: &beta,
                    eps: 1e-12,
                    xhat: &mut xhat,
                    rstd: &mut rstd,
                }
            );
            out.extend([bits(&n), bits(&xhat), bits(&rstd)]);
            let mut gb = p.clone();
            at!(
                level,
                GeluBackward {
                    x: &x,
                    grad: &mut gb
                }
            );
            out.push(bits(&gb));
            let mut nb = g.clone();
            let mut scratch = vec![0f32; width];
            at!(
                level,
                NormBackward {
                    grad: &mut nb,
                    xhat: &xhat,
                    rstd: &rstd,
                    gamma: &gamma,
                    scratch: &mut scratch,
                }
            );
            out.push(bits(&nb));
            let mut sb = g.clone();
            at!(
                level,
                SoftmaxBackward {
                    y: &p,
                    grad: &mut sb,
                    width
                }
            );
            out.push(bits(&sb));
            seen.push(out);
        }
        assert!(seen.len() >= 2 || !cfg!(target_arch = "x86_64"));
        for (l, s) in seen.iter().enumerate().skip(1) {
            for (k, (a, b)) in seen[0].iter().zip(s).enumerate() {
                assert!(
                    a == b,
                    "kernel output {k} differs between level 0 and level {l}"
                );
            }
        }
    }

    fn grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect()
    }

    #[test]
    fn exp_is_within_two_ulp() {
        for x in grid(-87.0, 88.0, 200_001) {
            let x = x as f32;
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 2.5e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1e4) >= 0.0 && exp(-1e4) < 2e-38);
        assert!(exp(f32::NEG_INFINITY) < 2e-38);
    }

    #[test]
    fn erf_and_gelu_are_within_bounds() {
        let xs = grid(-9.0, 9.0, 100_001);
        let mut g: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        gelu(&mut g);
        for (&x, &got) in xs.iter().zip(&g) {
            let x32 = x as f32 as f64;
            let e = statrs::function::erf::erf(x32);
            assert!((erf(x32 as f32) as f64 - e).abs() < 5e-7, "erf({x32})");
            let want = 0.5 * x32 * (1.0 + statrs::function::erf::erf(x32 / 2f64.sqrt()));
            assert!(
                (got as f64 - want).abs() < 1e-6 * x32.abs().max(1.0),
                "gelu({x32}) = {got}, want {want}"
            );
        }
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(-20.0), -1.0);
    }

    fn rows(n: usize, width: usize) -> Vec<f32> {
        (0..n * width)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect()
    }

    #[test]
    fn softmax_and_layer_norm_match_f64() {
        // A width that is not a multiple of the lanes, so the tails are exercised.
        let width = 37;
        let x = rows(9, width);
        let mut s = x.clone();
        softmax_rows(&mut s, width);
        let gamma: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 / 40.0).collect();
        let beta: Vec<f32> = (0..width).map(|i| i as f32 / 100.0 - 0.2).collect();
        let mut n = x.clone();
        layer_norm_rows(&mut n, &gamma, &beta, 1e-12);
        for (r, row) in x.chunks(width).enumerate() {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            let m = row.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
            let mean = row.iter().sum::<f64>() / width as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / width as f64;
            for c in 0..width {
                let p = (row[c] - m).exp() / z;
                assert!((s[r * width + c] as f64 - p).abs() < 1e-7);
                let y = (row[c] - mean) / (var + 1e-12).sqrt() * gamma[c] as f64 + beta[c] as f64;
                assert!((n[r * width + c] as f64 - y).abs() < 2e-6);
            }
        }
    }

    #[test]
    fn matmul_handles_strided_and_transposed_views() {
        // a: 3x4 inside a buffer 6 wide; b given as 5x4, used transposed (4x5); c: 3x5.
        let a: Vec<f32> = (0..18).map(|i| i as f32 * 0.5 - 3.0).collect();
        let bt: Vec<f32> = (0..20).map(|i| (i % 7) as f32 - 2.0).collect();
        let mut c = vec![1.0f32; 15];
        let av = View::strided(3, 4, 6);
        let bv = View::rows(5, 4).transposed();
        matmul((&mut c, View::rows(3, 5)), (&a, av), (&bt, bv), 0.5, true);
        for i in 0..3 {
            for j in 0..5 {
                let dot: f32 = (0..4).map(|k| a[i * 6 + k] * bt[j * 4 + k]).sum();
                assert!((c[i * 5 + j] - (1.0 + 0.5 * dot)).abs() < 1e-5);
            }
        }
        matmul((&mut c, View::rows(3, 5)), (&a, av), (&bt, bv), 1.0, false);
        let dot: f32 = (0..4).map(|k| a[6 + k] * bt[4 + k]).sum();
        assert!((c[5 + 1] - dot).abs() < 1e-5);
    }
}

/// The scalars of one AdamW step, as the `f32` values the update multiplies and divides by.
/// They are rounded from `f64` exactly as burn rounds a scalar operand, so the fused update
/// and the composed one (`train::adam_update`) compute the same bits.
#[derive(Debug, Clone, Copy)]
pub struct AdamConsts {
    /// The gradient's clipping factor (1 when the norm is within bounds).
    pub scale: f32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    /// `lr * weight_decay`, absent for parameters that do not decay.
    pub decay: Option<f32>,
    /// Bias corrections `1 - beta^t`.
    pub correction1: f32,
    pub correction2: f32,
    pub eps: f32,
    pub lr: f32,
}

/// One AdamW update: `m` and `v` in place, the new parameter values into `out`. The same
/// operations in the same order as the composed form (no fused multiply-adds, which would
/// round differently).
pub fn adamw(out: &mut [f32], p: &[f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &AdamConsts) {
    let n = out.len();
    assert!(p.len() == n && g.len() == n && m.len() == n && v.len() == n);
    for i in 0..n {
        let g = g[i] * k.scale;
        let mi = m[i] * k.beta1 + g * k.one_minus_beta1;
        let vi = v[i] * k.beta2 + (g * g) * k.one_minus_beta2;
        let pi = match k.decay {
            Some(d) => p[i] - p[i] * d,
            None => p[i],
        };
        let step = (mi / k.correction1) / ((vi / k.correction2).sqrt() + k.eps);
        out[i] = pi - step * k.lr;
        m[i] = mi;
        v[i] = vi;
    }
}
