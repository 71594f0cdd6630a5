//! The architecture as Hugging Face's `config.json` states it, and the label map.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ModelError;

/// The fields of a BERT `config.json` that decide the computation. Unknown fields are kept in
/// `extra` and written back on save, so a round trip loses nothing `transformers` cares about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_max_position")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub pad_token_id: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn default_max_position() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_act() -> String {
    "gelu".into()
}
fn default_model_type() -> String {
    "bert".into()
}

/// The largest `config.json` read: a BERT's is under 1 KB, one with a label map of 100,000
/// names a few MB.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The most labels a classifier may have (as `model::hf` loads it).
pub const MAX_LABELS: usize = 100_000;

/// A small text file of a model directory, from a regular file of at most `max` bytes (a
/// `config.json` linked to `/dev/zero` was once read until the OOM killer came).
pub fn read_small(path: &Path, max: u64) -> Result<String, ModelError> {
    use std::io::Read;
    let io = |e| ModelError::Io {
        path: path.to_owned(),
        source: e,
    };
    let bad = |message: String| ModelError::Config {
        path: path.to_owned(),
        message,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    if !f.metadata().map_err(io)?.is_file() {
        return Err(bad(
            "not a regular file (a device or FIFO is not a model file)".into(),
        ));
    }
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(bad(format!(
            "larger than {} MiB, the most basins reads of this file",
            max >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text: {e}")))
}

impl BertConfig {
    pub fn read(dir: &Path) -> Result<BertConfig, ModelError> {
        let path = dir.join("config.json");
        let text = read_small(&path, MAX_CONFIG_BYTES)?;
        let cfg: BertConfig = serde_json::from_str(&text).map_err(|e| ModelError::Config {
            path: path.clone(),
            message: format!("line {} column {}: {e}", e.line(), e.column()),
        })?;
        cfg.check(&path)?;
        Ok(cfg)
    }

    fn check(&self, path: &Path) -> Result<(), ModelError> {
        let bad = |message: String| {
            Err(ModelError::Config {
                path: path.to_owned(),
                message,
            })
        };
        // Sizes are checked before anything is allocated from them: a `vocab_size` of 10^12
        // once aborted `model inspect` with an allocation failure. The limits are far above any
        // BERT (multilingual vocabularies: 250k; BERT-large: 1024 hidden, 24 layers).
        for (name, value, max) in [
            ("vocab_size", self.vocab_size, 4_000_000),
            ("hidden_size", self.hidden_size, 16_384),
            ("num_hidden_layers", self.num_hidden_layers, 256),
            ("num_attention_heads", self.num_attention_heads, 256),
            ("intermediate_size", self.intermediate_size, 65_536),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                65_536,
            ),
            ("type_vocab_size", self.type_vocab_size, 1_024),
        ] {
            if value == 0 || value > max {
                return bad(format!(
                    "{name} is {value}; basins takes 1 to {max} (a larger model is not a BERT \
                     it can hold)"
                ));
            }
        }
        if self.pad_token_id >= self.vocab_size {
            return bad(format!(
                "pad_token_id {} is outside the vocabulary ({} tokens)",
                self.pad_token_id, self.vocab_size
            ));
        }
        if let Some(n) = self.id2label.as_ref().map(BTreeMap::len) {
            if n == 0 || n > MAX_LABELS {
                return bad(format!(
                    "id2label has {n} labels; a classifier has 1 to {MAX_LABELS}"
                ));
            }
        }
        // transformers reads `num_labels` when there is no label map and writes it beside one
        // in some versions; a value basins would silently ignore (0, a string, one that
        // disagrees with `id2label`) is refused instead.
        if let Some(v) = self.extra.get("num_labels") {
            let n = v.as_u64().filter(|&n| n >= 1 && n <= MAX_LABELS as u64);
            let Some(n) = n else {
                return bad(format!(
                    "num_labels is {v}; a classifier has 1 to {MAX_LABELS} labels"
                ));
            };
            if let Some(m) = self.id2label.as_ref().map(BTreeMap::len) {
                if m as u64 != n {
                    return bad(format!(
                        "num_labels is {n} but id2label names {m} labels; they must agree"
                    ));
                }
            }
        }
        if self.model_type != "bert" {
            return bad(format!(
                "model_type `{}` is not supported (only `bert`)",
                self.model_type
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        // burn's dropout asserts its probability is in [0, 1]; a finetune with p = 1 learns
        // nothing. Both are config errors, not panics (found by the model_dir fuzz target).
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("{name} is {p}; a dropout probability is in [0, 1)"));
            }
        }
        if !(self.layer_norm_eps.is_finite()
            && self.layer_norm_eps > 0.0
            && self.layer_norm_eps < 1.0)
        {
            return bad(format!(
                "layer_norm_eps is {}; it must be a small positive number (BERT: 1e-12)",
                self.layer_norm_eps
            ));
        }
        if self.hidden_act != "gelu" {
            return bad(format!(
                "hidden_act `{}` is not supported (only the exact erf `gelu` that BERT uses)",
                self.hidden_act
            ));
        }
        Ok(())
    }

    /// A lower bound on the weights a checkpoint of this config holds (embeddings and each
    /// layer's attention and feed-forward matrices), computed without overflow.
    pub fn min_weights(&self) -> u128 {
        let (h, i) = (self.hidden_size as u128, self.intermediate_size as u128);
        let embeddings =
            (self.vocab_size + self.max_position_embeddings + self.type_vocab_size) as u128 * h;
        embeddings + self.num_hidden_layers as u128 * (4 * h * h + 2 * h * i)
    }

    /// Labels in output order, when the checkpoint names them (`id2label`). HF fills
    /// `LABEL_0, LABEL_1` when nobody did; those say nothing about order and are ignored.
    pub fn labels(&self) -> Option<Vec<String>> {
        let map = self.id2label.as_ref()?;
        let mut v: Vec<(usize, String)> = map
            .iter()
            .filter_map(|(k, l)| Some((k.parse().ok()?, l.clone())))
            .collect();
        v.sort();
        if v.iter().enumerate().any(|(i, (k, _))| *k != i) {
            return None;
        }
        let labels: Vec<String> = v.into_iter().map(|(_, l)| l).collect();
        if labels
            .iter()
            .enumerate()
            .all(|(i, l)| *l == format!("LABEL_{i}"))
        {
            return None;
        }
        Some(labels)
    }

    /// Set the label map for a classifier with these labels.
    pub fn with_labels(mut self, labels: &[String]) -> BertConfig {
        self.id2label = Some(
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.clone()))
                .collect(),
        );
        self.label2id = Some(
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.clone(), i))
                .collect(),
        );
        self.architectures = Some(vec!["BertForSequenceClassification".into()]);
        self
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

/// A checkpoint's label order must be the task's: checkpoint zoos disagree on it (MNLI models
/// exist in at least three orders), and a silent mismatch would ruin a study.
pub fn check_labels(checkpoint: &[String], task: &[String], dir: &Path) -> Result<(), ModelError> {
    if checkpoint == task {
        return Ok(());
    }
    Err(ModelError::LabelOrder {
        dir: dir.to_owned(),
        checkpoint: checkpoint.to_vec(),
        task: task.to_vec(),
    })
}
