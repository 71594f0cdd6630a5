//! The backends. Model code is generic over `burn::tensor::backend::Backend`; these aliases
//! are what the CLI and stages instantiate.

use std::fmt;
use std::str::FromStr;

/// CPU: burn's ndarray backend (SIMD kernels, rayon threads).
pub type Cpu = burn::backend::NdArray<f32>;
/// CPU with gradients, for training.
pub type CpuTrain = burn::backend::Autodiff<Cpu>;

/// CUDA through burn's CubeCL backend, with kernel fusion and autotuning (burn-cuda's defaults).
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda<f32, i32>;
#[cfg(feature = "cuda")]
pub type CudaTrain = burn::backend::Autodiff<Cuda>;
/// Half-precision CUDA backends, offered to `basins bench` only: see docs/performance.md for
/// why the model stages stay in f32.
#[cfg(feature = "cuda")]
pub type CudaF16 = burn::backend::Cuda<burn::tensor::f16, i32>;
#[cfg(feature = "cuda")]
pub type CudaBf16 = burn::backend::Cuda<burn::tensor::bf16, i32>;

/// Any GPU through wgpu (Vulkan, Metal, DX12), or Mesa's lavapipe on the CPU: burn's CubeCL
/// backend with kernel fusion and autotuning, as for CUDA; kernels compiled to WGSL/SPIR-V.
#[cfg(feature = "wgpu")]
pub type Wgpu = burn::backend::Wgpu<f32, i32>;
#[cfg(feature = "wgpu")]
pub type WgpuTrain = burn::backend::Autodiff<Wgpu>;

/// Whether `B` is the CPU backend, where evaluation runs `model::FrozenBert`.
pub fn is_cpu<B: burn::tensor::backend::Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<Cpu>()
}

/// What a batch's sequence length is rounded up to. On the CPU, 1: every padding token is
/// computed, so batches pad to their longest example and no further. On a GPU, 16: CubeCL
/// compiles and autotunes a matrix product for each new problem key (9-16 s each on an H200,
/// docs/performance.md), and the key holds the power-of-two factor of the sequence length as
/// well as its size rounded to a power of two, so raw lengths (CoLA's run from 3 to 40 tokens)
/// would each be tuned anew; multiples of 16 leave four keys per power-of-two size at most,
/// keep tensor-core tiles aligned (Hugging Face's `pad_to_multiple_of` serves the same end),
/// and cost a GPU little, whose time at these sizes goes to kernel launches. Padding never
/// changes a logit (tests), only which positions are computed.
pub fn seq_multiple<B: burn::tensor::backend::Backend>() -> usize {
    let training_on_cpu = std::any::TypeId::of::<B>() == std::any::TypeId::of::<CpuTrain>();
    match is_cpu::<B>() || training_on_cpu {
        true => 1,
        false => 16,
    }
}

/// How many threads evaluate batches at once (see `eval::Scorer::batch_probs`): on the CPU
/// backend, where each batch's forward pass (`model::FrozenBert`) runs on one thread, the
/// number `asked` (a study node's share of the cores, `StageContext::eval_threads`) or else the
/// CPU count; one on a GPU, which gains nothing from more. Results do not depend on it.
pub fn eval_threads<B: burn::tensor::backend::Backend>(asked: Option<usize>) -> usize {
    if !is_cpu::<B>() {
        return 1;
    }
    asked
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Where a command outside a study (`basins bench`, `basins model predict`) computes; study
/// stages take theirs from the manifest's `backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    Cpu,
    /// A CUDA device by index (`cuda` is `cuda:0`).
    Cuda(usize),
    /// wgpu's default adapter (the first GPU it finds; lavapipe where there is none).
    Wgpu,
}

impl FromStr for Compute {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("unknown backend `{s}`: expected `cpu`, `cuda`, `cuda:N` or `wgpu`");
        match s {
            "cpu" => Ok(Compute::Cpu),
            "cuda" => Ok(Compute::Cuda(0)),
            "wgpu" => Ok(Compute::Wgpu),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Compute::Cuda)
                .ok_or_else(bad),
        }
    }
}

impl fmt::Display for Compute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compute::Cpu => f.write_str("cpu"),
            Compute::Cuda(i) => write!(f, "cuda:{i}"),
            Compute::Wgpu => f.write_str("wgpu"),
        }
    }
}

/// The float type a benchmark computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatKind {
    F32,
    F16,
    Bf16,
}

impl FromStr for FloatKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(FloatKind::F32),
            "f16" => Ok(FloatKind::F16),
            "bf16" => Ok(FloatKind::Bf16),
            _ => Err(format!(
                "unknown precision `{s}`: expected `f32`, `f16` or `bf16`"
            )),
        }
    }
}

impl fmt::Display for FloatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FloatKind::F32 => "f32",
            FloatKind::F16 => "f16",
            FloatKind::Bf16 => "bf16",
        })
    }
}

/// What the CubeCL backends (CUDA, wgpu) share: where compiled kernels and autotune results
/// persist, and a first-use check that turns a runtime's panic into an error.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub mod cubecl {
    use std::path::PathBuf;
    use std::sync::Once;

    use burn::cubecl::config::{cache::CacheConfig, GlobalConfig};
    use burn::tensor::backend::Backend;
    use burn::tensor::{ElementConversion, Tensor};

    /// Where CubeCL keeps compiled kernels and autotune results between processes:
    /// `BASINS_KERNEL_CACHE`, else `$XDG_CACHE_HOME/basins/cubecl`, else `~/.cache/basins/cubecl`.
    pub fn kernel_cache_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("BASINS_KERNEL_CACHE") {
            return PathBuf::from(d);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("basins").join("cubecl")
    }

    /// Configure CubeCL once, before its first use. Its defaults write the autotune cache into
    /// a `target/` folder beside the nearest `Cargo.toml` above the working directory (a user's
    /// project, or wherever basins happens to run) and keep no compiled kernels, so every new
    /// process compiles and autotunes again: on an H200 we measured 10 to 16 s per matrix-product
    /// shape. Both now persist in [`kernel_cache_dir`]. `CUBECL_AUTOTUNE_LEVEL` and the other
    /// `CUBECL_*` variables still apply; a `cubecl.toml` is not read.
    pub fn configure() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let dir = kernel_cache_dir();
            let mut config = GlobalConfig::default();
            config.autotune.cache = CacheConfig::File(dir.clone());
            config.compilation.cache = Some(CacheConfig::File(dir));
            let config = config.override_from_env();
            // `set` panics when CubeCL was already used in this process; then its own
            // configuration stays, which is only slower.
            let _ = std::panic::catch_unwind(|| GlobalConfig::set(config));
        });
    }

    /// Sum four ones on `device`. The runtimes panic when they cannot reach a device (no
    /// driver, no adapter); this says so as an error instead.
    pub fn probe<B: Backend>(device: &B::Device, runtime: &str) -> Result<(), String> {
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        // The device handle is only read; a panic leaves nothing half-changed to observe.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Tensor::<B, 1>::ones([4], device)
                .sum()
                .into_scalar()
                .elem::<f32>()
        }));
        std::panic::set_hook(quiet);
        match outcome {
            Ok(4.0) => Ok(()),
            Ok(v) => Err(format!("a test sum of four ones gave {v}")),
            Err(p) => Err(p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| format!("the {runtime} runtime panicked"))),
        }
    }
}

/// CUDA set-up shared by every entry point (study stages, `bench`, `model predict`).
#[cfg(feature = "cuda")]
pub mod cuda {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use burn::backend::cuda::CudaDevice;

    use super::cubecl::{configure, probe};
    use super::Cuda;

    /// The device, after checking once per process that CUDA works on it. The CUDA runtime
    /// panics when it cannot load the driver (no GPU, or `LD_LIBRARY_PATH` pointing at the
    /// toolkit's `stubs/` folder); this turns that into an error that says what to check.
    pub fn device(index: usize) -> anyhow::Result<CudaDevice> {
        static CHECKED: Mutex<Option<HashMap<usize, Result<(), String>>>> = Mutex::new(None);
        configure();
        let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
        let result = checked
            .get_or_insert_with(HashMap::new)
            .entry(index)
            .or_insert_with(|| probe::<Cuda>(&CudaDevice::new(index), "CUDA"))
            .clone();
        result.map(|()| CudaDevice::new(index)).map_err(|e| {
            anyhow::anyhow!(
                "CUDA device {index} is not usable: {e}\n\
                 basins loads libcuda.so (the NVIDIA driver) and libnvrtc.so (the CUDA toolkit) \
                 at run time: check that `nvidia-smi` sees the GPU and that LD_LIBRARY_PATH \
                 does not name the toolkit's `stubs/` folder"
            )
        })
    }
}

/// wgpu set-up shared by every entry point.
#[cfg(feature = "wgpu")]
pub mod wgpu {
    use std::sync::OnceLock;

    use burn::backend::wgpu::WgpuDevice;

    use super::cubecl::{configure, probe};
    use super::Wgpu;

    /// wgpu's default adapter (`WGPU_ADAPTER_NAME`, `WGPU_BACKEND` and the other `WGPU_*`
    /// variables choose among several), after checking once per process that it computes.
    pub fn device() -> anyhow::Result<WgpuDevice> {
        static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
        configure();
        let device = WgpuDevice::DefaultDevice;
        CHECKED
            .get_or_init(|| probe::<Wgpu>(&device, "wgpu"))
            .clone()
            .map(|()| device)
            .map_err(|e| {
                anyhow::anyhow!(
                    "no wgpu device is usable: {e}\n\
                     wgpu needs a Vulkan, Metal or DX12 driver at run time; on a Linux machine \
                     without a GPU, Mesa's lavapipe provides one on the CPU (Debian: `apt-get \
                     install mesa-vulkan-drivers`)"
                )
            })
    }
}

/// The error a build without wgpu gives when asked for it.
pub const NO_WGPU: &str =
    "this build of basins has no wgpu support (rebuild with `--features wgpu`; see the README)";

/// The error a CPU-only build gives when asked for CUDA.
pub const NO_CUDA: &str =
    "this build of basins has no CUDA support (rebuild with `--features cuda`; see the README)";

/// Treat subnormal floats as zero, in inputs and results (x86's DAZ and FTZ bits), for this
/// thread and every thread it starts afterwards (a new thread inherits the floating-point
/// control word). Call it first thing in `main`, before rayon's and matrixmultiply's worker
/// pools exist, or they keep the default mode.
///
/// Why: on Intel CPUs an AVX-512 or AVX2 multiply with a subnormal operand takes a microcode
/// assist, about 40x slower (measured on a 512x384x1536 sgemm: 0.10 s with normal inputs, 4.4 s
/// with a third of them subnormal). Finetuning real text produces subnormals (GELU's tails,
/// masked attention), and MiniLM's CoLA finetuning ran 4 seq/s against 16 seq/s on random
/// tokens. AMD CPUs barely slow down, so the cost was machine-dependent. Flushing changes
/// results only by amounts below 1.2e-38 per value, but those can change the bits of a result,
/// so the model stages' versions were bumped with it (docs/performance.md). PyTorch exposes the
/// same choice as `torch.set_flush_denormal(True)`. On other architectures this does nothing.
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: setting MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) bits changes
    // only how later floating-point results are rounded; no memory is touched.
    #[allow(deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_parses_devices_and_rejects_others() {
        assert_eq!("cpu".parse(), Ok(Compute::Cpu));
        assert_eq!("cuda".parse(), Ok(Compute::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(Compute::Cuda(3)));
        assert_eq!("wgpu".parse(), Ok(Compute::Wgpu));
        let err = "gpu".parse::<Compute>().unwrap_err();
        assert!(err.contains("`gpu`") && err.contains("cuda:N"), "{err}");
        assert!("cuda:x".parse::<Compute>().is_err());
        assert_eq!("bf16".parse(), Ok(FloatKind::Bf16));
        assert!("fp8".parse::<FloatKind>().is_err());
    }
}
