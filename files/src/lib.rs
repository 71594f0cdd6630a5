//! The files basins' stages read and write, with no model code: data sets and their readers,
//! the generated sets, downloads from data releases and the Hugging Face Hub, safetensors, the
//! per-example outputs of the model stages, the metrics computed from them, and a stage's
//! params and inputs resolved to files. Both `basins-models` (burn) and `basins-analysis`
//! build on it, and compile in parallel.
//!
//! - [`data`]: readers for GLUE, HANS, PAWS and JSONL, and `basins data check`
//! - [`generate`]: the HANS-style set, the generated NLI tasks, the pretraining corpus
//! - [`download`]: public data sets fetched from their release and checked against pinned digests
//! - [`hub`]: models and data sets from the Hugging Face Hub, resolved to commits and checked
//! - [`tensorfile`]: safetensors in and out
//! - [`outputs`]: per-example results as the model stages store them
//! - [`metrics`]: loss, accuracy, MCC and F1 of one set's results
//! - [`inputs`]: a stage's params and inputs as files (shared by every kind)

pub mod data;
pub mod download;
pub mod generate;
pub mod hub;
pub mod inputs;
pub mod metrics;
pub mod outputs;
pub mod tensorfile;
