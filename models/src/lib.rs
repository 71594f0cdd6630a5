//! basins' model code, the one crate that instantiates burn's generic tensor code (and so the
//! one built with optimisations even in test builds): the BERT classifier, tokenization,
//! backends, pretraining, finetuning, evaluation and interpolation, and the stage kinds that
//! run them.
//!
//! - [`model`]: the BERT classifier in burn, and Hugging Face import/export
//! - [`text`]: tokenization, sentence pairs, dynamic padding
//! - [`backend`]: the burn backends a build offers (ndarray CPU; CUDA, wgpu as features)
//! - [`pretrain`], [`train`], [`eval`]: masked-LM pretraining, finetuning, evaluation
//! - [`interpolate`]: models on the straight line between two others
//! - [`align`]: permutation alignment of BERT classifiers (weight matching)
//! - [`merge`]: weight-space merges (the average, task arithmetic, TIES-merging)
//! - [`bench`]: throughput measurement
//! - [`kinds`]: the model stage kinds (pretrain, finetune, evaluate, interpolate and
//!   interpolate_blocks, merge and greedy_soup, align)

pub mod align;
pub mod backend;
pub mod bench;
pub mod eval;
pub mod interpolate;
pub mod kinds;
pub mod merge;
pub mod model;
pub mod pretrain;
pub mod text;
pub mod train;

#[cfg(test)]
mod tests;
