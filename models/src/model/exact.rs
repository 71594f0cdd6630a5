//! LayerNorm, softmax, log-softmax and GELU written so that their gradients are exact and the
//! same from run to run on burn 0.20.1's CPU backend.
//!
//! Why not burn's own: on the ndarray backend `float_recip` uses the CPU's approximate reciprocal
//! instruction (`_mm256_rcp_ps`, about 12 bits; we measured up to 5e-5 relative error) for the
//! part of a buffer that is aligned to the vector width and exact division for the rest. The
//! autodiff backend calls it in the backward pass of `div` (LayerNorm, softmax) and `log`
//! (log-softmax), so gradients carried an error of that size, and which elements got it
//! depended on where the allocator put the buffer: pretraining was not bit-exact between two
//! runs. And `gelu_backward` differentiates the tanh approximation of GELU (8.7e-4 off the exact
//! derivative) while the forward pass is the exact erf form that BERT uses.
//!
//! The forms here use only operations whose backward passes are exact divisions, `powf` with a
//! non-integer exponent, `exp` and multiplications; forward values match burn's to the last bit
//! or one ulp (checked against Hugging Face by the conformance test).
//!
//! On the CPU backends LayerNorm, GELU and softmax run as single fused operations instead (`fused`, much
//! faster, with exact gradients of their own); the composed forms here serve the other backends.
//! The tests check both against f64 references.

use super::fused::on_cpu;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// LayerNorm over the last dimension, with HF BERT's parameter names (weight = gamma, bias = beta).
#[derive(Module, Debug)]
pub struct Norm<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> Norm<B> {
    /// Scale one, shift zero, as PyTorch initialises it.
    pub fn new(width: usize, eps: f64, device: &B::Device) -> Self {
        Norm {
            gamma: Param::from_tensor(Tensor::ones([width], device)),
            beta: Param::from_tensor(Tensor::zeros([width], device)),
            eps,
        }
    }

    /// (x - mean) * (var + eps)^-0.5 * gamma + beta, as PyTorch computes it (it multiplies by
    /// the reciprocal standard deviation too).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        match on_cpu(x) {
            Ok(x) => x.layer_norm(self.gamma.val(), self.beta.val(), self.eps as f32),
            Err(x) => self.composed(x),
        }
    }

    fn composed<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let (var, mean) = x.clone().var_mean_bias(D - 1);
        let rstd = var.add_scalar(self.eps).powf_scalar(-0.5);
        (x - mean) * rstd * self.gamma.val().unsqueeze() + self.beta.val().unsqueeze()
    }
}

/// Softmax along the last dimension.
pub fn softmax<const D: usize, B: Backend>(x: Tensor<B, D>) -> Tensor<B, D> {
    match on_cpu(x) {
        Ok(x) => x.softmax(),
        Err(x) => softmax_composed(x, D - 1),
    }
}

/// Softmax along `dim`; the normaliser is applied as a product with 1/sum, whose gradient burn
/// computes by exact division.
fn softmax_composed<const D: usize, B: Backend>(x: Tensor<B, D>, dim: usize) -> Tensor<B, D> {
    let e = (x.clone() - x.detach().max_dim(dim)).exp();
    let sum = e.clone().sum_dim(dim);
    e * sum.clone().ones_like().div(sum)
}

/// Log-softmax along `dim`. log(sum) is taken on a detached copy and the gradient 1/sum enters
/// through a term that is exactly zero in value, so the loss is bit-identical to burn's and its
/// gradient exact.
pub fn log_softmax<const D: usize, B: Backend>(x: Tensor<B, D>, dim: usize) -> Tensor<B, D> {
    let shifted = x.clone() - x.detach().max_dim(dim);
    let sum = shifted.clone().exp().sum_dim(dim);
    let fixed = sum.clone().detach();
    let log_sum =
        fixed.clone().log() + (sum - fixed.clone()) * fixed.clone().ones_like().div(fixed);
    shifted - log_sum
}

/// GELU, the exact erf form BERT uses.
pub fn gelu<const D: usize, B: Backend>(x: Tensor<B, D>) -> Tensor<B, D> {
    match on_cpu(x) {
        Ok(x) => x.gelu(),
        Err(x) => gelu_composed(x),
    }
}

/// GELU built from operations so that autodiff differentiates the function that is computed
/// (the same operation sequence as burn's forward, so the same values).
fn gelu_composed<const D: usize, B: Backend>(x: Tensor<B, D>) -> Tensor<B, D> {
    let phi = x
        .clone()
        .div_scalar(std::f64::consts::SQRT_2)
        .erf()
        .add_scalar(1.0);
    (x * phi).div_scalar(2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, CpuTrain};
    use burn::tensor::TensorData;

    /// Enough rows that the per-row normalisers fill several vector registers.
    const ROWS: usize = 40;
    const COLS: usize = 30;

    fn values() -> Vec<f32> {
        (0..ROWS * COLS)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect()
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> f32 {
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
            .fold(0f32, f32::max);
        assert!(worst <= tol, "max relative difference {worst:e} > {tol:e}");
        worst
    }

    fn tensor<B: Backend>(v: &[f32]) -> Tensor<B, 2> {
        Tensor::from_data(
            TensorData::new(v.to_vec(), [ROWS, COLS]),
            &Default::default(),
        )
    }

    fn vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// Forward values agree with burn's own functions: bit for bit for the composed forms,
    /// within the fused kernels' polynomial error for the CPU's fused forms.
    #[test]
    fn forward_matches_burn() {
        let v = values();
        let x = tensor::<Cpu>(&v);
        let burn_softmax = vec(burn::tensor::activation::softmax(x.clone(), 1));
        close(&vec(softmax(x.clone())), &burn_softmax, 1e-6);
        close(&vec(softmax_composed(x.clone(), 1)), &burn_softmax, 1e-6);
        assert_eq!(
            vec(log_softmax(x.clone(), 1)),
            vec(burn::tensor::activation::log_softmax(x.clone(), 1))
        );
        let burn_gelu = vec(burn::tensor::activation::gelu(x.clone()));
        assert_eq!(vec(gelu_composed(x.clone())), burn_gelu);
        close(&vec(gelu(x.clone())), &burn_gelu, 1e-6);
        let norm = Norm::<Cpu>::new(COLS, 1e-12, &Default::default());
        let theirs = vec(burn::nn::LayerNormConfig::new(COLS)
            .with_epsilon(1e-12)
            .init::<Cpu>(&Default::default())
            .forward(x.clone()));
        close(&vec(norm.forward(x.clone())), &theirs, 1e-6);
        close(&vec(norm.composed(x.clone())), &theirs, 1e-6);
        // The fused forms run on the autodiff backend too, with the same values.
        let xt = tensor::<CpuTrain>(&v);
        let nt = Norm::<CpuTrain>::new(COLS, 1e-12, &Default::default());
        assert_eq!(vec(nt.forward(xt.clone())), vec(norm.forward(x.clone())));
        assert_eq!(vec(gelu(xt)), vec(gelu(x)));
    }

    /// d/dx sum(w * softmax(x)) = y (w - sum(w y)) with y = softmax(x), in f64; fused and
    /// composed.
    #[test]
    fn softmax_gradient_is_exact() {
        let v = values();
        let w: Vec<f32> = (0..ROWS * COLS).map(|i| (i % 9) as f32 - 4.0).collect();
        let mut want = Vec::new();
        for r in 0..ROWS {
            let row = &v[r * COLS..(r + 1) * COLS];
            let m = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let z: f64 = row.iter().map(|&a| (a as f64 - m).exp()).sum();
            let y: Vec<f64> = row.iter().map(|&a| (a as f64 - m).exp() / z).collect();
            let wr = &w[r * COLS..(r + 1) * COLS];
            let wy: f64 = wr.iter().zip(&y).map(|(&a, b)| a as f64 * b).sum();
            want.extend(
                wr.iter()
                    .zip(&y)
                    .map(|(&a, b)| (b * (a as f64 - wy)) as f32),
            );
        }
        for fused in [true, false] {
            let x = tensor::<CpuTrain>(&v).require_grad();
            let y = if fused {
                softmax(x.clone())
            } else {
                softmax_composed(x.clone(), 1)
            };
            let grads = (y * tensor::<CpuTrain>(&w)).sum().backward();
            close(&vec(x.grad(&grads).unwrap()), &want, 2e-6);
        }
    }

    /// d/dx sum(w * log_softmax(x)) = w - softmax(x) * sum(w), computed here in f64.
    #[test]
    fn log_softmax_gradient_is_exact() {
        let v = values();
        let w: Vec<f32> = (0..ROWS * COLS).map(|i| (i % 7) as f32 - 3.0).collect();
        let x = tensor::<CpuTrain>(&v).require_grad();
        let loss = (log_softmax(x.clone(), 1) * tensor::<CpuTrain>(&w)).sum();
        let grads = loss.backward();
        let got = vec(x.grad(&grads).unwrap());
        let mut want = Vec::new();
        for r in 0..ROWS {
            let row = &v[r * COLS..(r + 1) * COLS];
            let m = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let z: f64 = row.iter().map(|&a| (a as f64 - m).exp()).sum();
            let ws: f64 = w[r * COLS..(r + 1) * COLS].iter().map(|&a| a as f64).sum();
            for (c, &a) in row.iter().enumerate() {
                let p = (a as f64 - m).exp() / z;
                want.push((w[r * COLS + c] as f64 - p * ws) as f32);
            }
        }
        close(&got, &want, 2e-6);
    }

    /// Gradients of sum(w * norm(x)) with gamma = 1 + c/COLS and beta = c/COLS, against f64:
    /// for x, rstd (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)) with ĝ = w gamma; for gamma, the column sums
    /// of w x̂; for beta, those of w. Fused (CPU) and composed forms alike.
    #[test]
    fn norm_gradient_is_exact() {
        let v = values();
        let w: Vec<f32> = (0..ROWS * COLS).map(|i| (i % 5) as f32 - 2.0).collect();
        let scale: Vec<f32> = (0..COLS).map(|c| 1.0 + c as f32 / COLS as f32).collect();
        let shift: Vec<f32> = (0..COLS).map(|c| c as f32 / COLS as f32).collect();
        let (mut want_x, mut want_gamma, mut want_beta) =
            (Vec::new(), vec![0f64; COLS], vec![0f64; COLS]);
        for r in 0..ROWS {
            let row: Vec<f64> = v[r * COLS..(r + 1) * COLS]
                .iter()
                .map(|&a| a as f64)
                .collect();
            let wr: Vec<f64> = w[r * COLS..(r + 1) * COLS]
                .iter()
                .map(|&a| a as f64)
                .collect();
            let mean = row.iter().sum::<f64>() / COLS as f64;
            let var = row.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / COLS as f64;
            let rstd = 1.0 / (var + 1e-12).sqrt();
            let xhat: Vec<f64> = row.iter().map(|a| (a - mean) * rstd).collect();
            let gh: Vec<f64> = (0..COLS).map(|c| wr[c] * scale[c] as f64).collect();
            let mg = gh.iter().sum::<f64>() / COLS as f64;
            let mgx = gh.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / COLS as f64;
            for c in 0..COLS {
                want_x.push((rstd * (gh[c] - mg - xhat[c] * mgx)) as f32);
                want_gamma[c] += wr[c] * xhat[c];
                want_beta[c] += wr[c];
            }
        }
        let to32 = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<_>>();
        let (want_gamma, want_beta) = (to32(want_gamma), to32(want_beta));
        for fused in [true, false] {
            let x = tensor::<CpuTrain>(&v).require_grad();
            let device = Default::default();
            let norm = Norm::<CpuTrain> {
                gamma: Param::from_tensor(Tensor::from_data(scale.as_slice(), &device)),
                beta: Param::from_tensor(Tensor::from_data(shift.as_slice(), &device)),
                eps: 1e-12,
            };
            let y = if fused {
                norm.forward(x.clone())
            } else {
                norm.composed(x.clone())
            };
            let grads = (y * tensor::<CpuTrain>(&w)).sum().backward();
            close(&vec(x.grad(&grads).unwrap()), &want_x, 1e-5);
            close(&vec(norm.gamma.grad(&grads).unwrap()), &want_gamma, 1e-5);
            close(&vec(norm.beta.grad(&grads).unwrap()), &want_beta, 1e-5);
        }
    }

    /// The GELU gradient is Phi(x) + x phi(x), not the tanh approximation's; fused and composed.
    #[test]
    fn gelu_gradient_is_exact() {
        let v = values();
        let want: Vec<f32> = v
            .iter()
            .map(|&a| {
                let a = a as f64;
                let cdf = 0.5 * (1.0 + statrs::function::erf::erf(a / std::f64::consts::SQRT_2));
                let pdf = (-a * a / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
                (cdf + a * pdf) as f32
            })
            .collect();
        for fused in [true, false] {
            let x = tensor::<CpuTrain>(&v).require_grad();
            let y = if fused {
                gelu(x.clone())
            } else {
                gelu_composed(x.clone())
            };
            let grads = y.sum().backward();
            close(&vec(x.grad(&grads).unwrap()), &want, 1e-6);
        }
    }
}
