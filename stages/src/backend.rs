//! The backends. Model code is generic over `burn::tensor::backend::Backend`; these aliases
//! are what the CLI and stages instantiate.

/// CPU: burn's ndarray backend (SIMD kernels, rayon threads).
pub type Cpu = burn::backend::NdArray<f32>;
/// CPU with gradients, for training.
pub type CpuTrain = burn::backend::Autodiff<Cpu>;

#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda<f32, i32>;
#[cfg(feature = "cuda")]
pub type CudaTrain = burn::backend::Autodiff<Cuda>;
