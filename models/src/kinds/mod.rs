//! The model stage kinds: pretraining, finetuning, evaluation, interpolation (whole paths and
//! block paths), merging and alignment. They live
//! beside the model code, not in `basins-stages`, because each instantiates burn's generic
//! code for every backend the build offers; here it is compiled once, in the one crate built
//! with optimisations, and an edit to the analysis or the report never recompiles it.

mod align;
mod evaluate;
mod finetune;
mod greedy;
mod interpolate;
mod merge;
mod pretrain;

pub use align::AlignKind;
pub use evaluate::EvaluateKind;
pub use finetune::FinetuneKind;
pub use greedy::GreedySoupKind;
pub use interpolate::{open_path, InterpolateBlocksKind, InterpolateKind, PathScores};
pub use merge::MergeKind;
pub use pretrain::PretrainKind;

use std::path::Path;

use anyhow::bail;
use basins_engine::StageContext;

use crate::text::TextEncoder;

/// A finetuned classifier (it must have a trained head, labelled in the task's order), its
/// output labels and its tokenizer.
pub fn load_trained<B: burn::tensor::backend::Backend>(
    dir: &Path,
    labels: &[String],
    device: &B::Device,
) -> anyhow::Result<(crate::model::LoadedModel<B>, Vec<String>, TextEncoder)> {
    let loaded = crate::model::load::<B>(dir, labels.len(), 0, device)?;
    anyhow::ensure!(
        loaded.had_head,
        "{} has no trained classification head to evaluate",
        dir.display()
    );
    let model_labels = loaded.labels.clone().unwrap_or_else(|| labels.to_vec());
    crate::model::check_labels(&model_labels, labels, dir)?;
    let enc = TextEncoder::from_dir(dir, 512.min(loaded.config.max_position_embeddings))?;
    Ok((loaded, model_labels, enc))
}

/// Model stages compute in f32. Half precision is a manifest option reserved for CUDA; until
/// it is implemented and measured, refuse it rather than silently computing in f32 under a
/// key that says bf16.
fn check_precision(ctx: &StageContext) -> anyhow::Result<()> {
    match ctx.env.get("precision").map(String::as_str) {
        None | Some("f32") => Ok(()),
        Some(p) => bail!(
            "precision `{p}` is not implemented by the model stages yet; use precision = \"f32\""
        ),
    }
}

/// Where a model stage computes.
pub enum Device {
    Cpu,
    #[cfg(feature = "cuda")]
    Cuda(burn::backend::cuda::CudaDevice),
    #[cfg(feature = "wgpu")]
    Wgpu(burn::backend::wgpu::WgpuDevice),
}

/// The study's backend (an env entry of the recipe, hence of the key) as a device.
pub fn device(ctx: &StageContext) -> anyhow::Result<Device> {
    check_precision(ctx)?;
    match ctx.env.get("backend").map(String::as_str) {
        Some("cuda") => {
            #[cfg(feature = "cuda")]
            {
                // A subprocess sees only its device, as index 0.
                let index = match std::env::var_os("CUDA_VISIBLE_DEVICES") {
                    Some(_) => 0,
                    None => ctx.gpu.unwrap_or(0) as usize,
                };
                Ok(Device::Cuda(crate::backend::cuda::device(index)?))
            }
            #[cfg(not(feature = "cuda"))]
            bail!(crate::backend::NO_CUDA)
        }
        Some("wgpu") => {
            #[cfg(feature = "wgpu")]
            {
                Ok(Device::Wgpu(crate::backend::wgpu::device()?))
            }
            #[cfg(not(feature = "wgpu"))]
            bail!(crate::backend::NO_WGPU)
        }
        _ => Ok(Device::Cpu),
    }
}
