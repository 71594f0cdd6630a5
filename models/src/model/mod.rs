//! The BERT classifier, its Hugging Face import and export, and the errors a user can meet.

mod attention;
mod bert;
mod config;
mod dense;
pub mod exact;
mod frozen;
mod fused;
mod hf;
pub mod inspect;
mod kernels;
mod weights;

use std::path::PathBuf;

pub use bert::{BertClassifier, Forward};
// Built by `text` (tokens to tensors), read here: a re-export for `model::BatchInput` readers.
pub use crate::text::BatchInput;
pub use config::{check_labels, BertConfig};
pub(crate) use dense::{affine, linear};
pub use frozen::{FrozenBert, FrozenOutput, Workspace};
pub(crate) use fused::{adamw, AdamState};
pub use fused::{seed_dropout, with_composed};
pub use hf::{init_random, load, save, save_base, tensor_table, LoadedModel, TensorInfo};
pub(crate) use hf::{set_slot, slot_values, slots, standard_normal, Slot};
pub use kernels::arithmetic;
pub(crate) use kernels::AdamConsts;

/// Why a checkpoint could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Weights { path: PathBuf, message: String },
    #[error("{}: the checkpoint does not fit the architecture in config.json:\n{}", path.display(), problems.join("\n"))]
    Tensors {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("{}: label order {checkpoint:?} differs from the task's {task:?}; declare the task's labels in the checkpoint's order, or use a checkpoint with the task's order", dir.display())]
    LabelOrder {
        dir: PathBuf,
        checkpoint: Vec<String>,
        task: Vec<String>,
    },
}
