//! Text to model inputs: the `tokenizers` crate reading a model's `tokenizer.json` (pure Rust:
//! the fancy-regex backend, no C or C++), or its `vocab.txt` as BERT's WordPiece when there is
//! no `tokenizer.json`. Sentence pairs, truncation, and dynamic padding per batch.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{EncodeInput, Tokenizer, TruncationParams, TruncationStrategy};

use basins_files::data::Dataset;

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("{}: {message}", path.display())]
    Load { path: PathBuf, message: String },
    #[error("tokenizing: {0}")]
    Encode(String),
}

/// One encoded example, unpadded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
}

/// A padded batch of encoded sentence pairs, already on the device.
#[derive(Debug, Clone)]
pub struct BatchInput<B: Backend> {
    /// [batch, seq]
    pub input_ids: Tensor<B, 2, Int>,
    /// [batch, seq]
    pub token_type_ids: Tensor<B, 2, Int>,
    /// [batch, seq]; true where a real token is.
    pub attention_mask: Tensor<B, 2, Bool>,
}

/// A model directory's tokenizer, set for truncation to `max_len` and no padding (padding is
/// per batch, to the batch's longest example).
pub struct TextEncoder {
    tok: Tokenizer,
    pub pad_id: u32,
}

impl TextEncoder {
    pub fn from_dir(dir: &Path, max_len: usize) -> Result<TextEncoder, TextError> {
        let json = dir.join("tokenizer.json");
        let mut tok = if json.exists() {
            Tokenizer::from_file(&json).map_err(|e| TextError::Load {
                path: json.clone(),
                message: e.to_string(),
            })?
        } else {
            wordpiece_from_vocab(dir)?
        };
        // HF's MiniLM tokenizer.json pads every input to 128; padding belongs to batching here.
        tok.with_padding(None);
        tok.with_truncation(Some(TruncationParams {
            max_length: max_len,
            strategy: TruncationStrategy::LongestFirst,
            ..Default::default()
        }))
        .map_err(|e| TextError::Load {
            path: dir.to_owned(),
            message: e.to_string(),
        })?;
        check_ids_fit(dir, &tok)?;
        let pad_id = tok.token_to_id("[PAD]").unwrap_or(0);
        Ok(TextEncoder { tok, pad_id })
    }

    /// Encode single sentences (`second` = None) or sentence pairs, in order.
    pub fn encode(&self, examples: &[(&str, Option<&str>)]) -> Result<Vec<Encoded>, TextError> {
        let inputs: Vec<EncodeInput> = examples
            .iter()
            .map(|(a, b)| match b {
                Some(b) => EncodeInput::Dual((*a).into(), (*b).into()),
                None => EncodeInput::Single((*a).into()),
            })
            .collect();
        let encs = self
            .tok
            .encode_batch(inputs, true)
            .map_err(|e| TextError::Encode(e.to_string()))?;
        Ok(encs
            .into_iter()
            .map(|e| Encoded {
                ids: e.get_ids().to_vec(),
                type_ids: e.get_type_ids().to_vec(),
            })
            .collect())
    }
}

impl TextEncoder {
    /// Encode every example of a dataset, in order.
    pub fn encode_dataset(&self, ds: &Dataset) -> Result<Vec<Encoded>, TextError> {
        let texts: Vec<(&str, Option<&str>)> = ds
            .examples
            .iter()
            .map(|e| (e.first.as_str(), e.second.as_deref()))
            .collect();
        self.encode(&texts)
    }
}

/// A token id at or past the model's `vocab_size` would index past its embedding table (a
/// panic inside the forward pass): refused when the tokenizer is loaded, naming both.
fn check_ids_fit(dir: &Path, tok: &Tokenizer) -> Result<(), TextError> {
    if !dir.join("config.json").is_file() {
        // A vocabulary being built (pretrain writes its config afterwards).
        return Ok(());
    }
    // Only the one field this check needs: the model's loader reads and checks the whole file
    // (and `text` stays below `model`, which tokenises through it).
    #[derive(serde::Deserialize)]
    struct Vocab {
        vocab_size: usize,
    }
    let path = dir.join("config.json");
    let load = |message: String| TextError::Load {
        path: dir.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| load(format!("config.json: {e}")))?;
    let vocab_size = serde_json::from_str::<Vocab>(&text)
        .map_err(|e| load(format!("config.json: {e}")))?
        .vocab_size;
    let largest = tok.get_vocab(true).into_iter().max_by_key(|(_, id)| *id);
    match largest {
        Some((token, id)) if id as usize >= vocab_size => Err(TextError::Load {
            path: dir.to_owned(),
            message: format!(
                "the tokenizer gives token `{token}` id {id}, but the model has {vocab_size} \
                 token embeddings (vocab_size in config.json): tokenizer and model differ"
            ),
        }),
        _ => Ok(()),
    }
}

/// BERT's uncased WordPiece pipeline, built from `vocab.txt`.
fn wordpiece_from_vocab(dir: &Path) -> Result<Tokenizer, TextError> {
    let vocab = dir.join("vocab.txt");
    let err = |message: String| TextError::Load {
        path: vocab.clone(),
        message,
    };
    if !vocab.exists() {
        return Err(err(
            "neither tokenizer.json nor vocab.txt is in the model directory".into(),
        ));
    }
    let wp = WordPiece::from_file(&vocab.to_string_lossy())
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| err(e.to_string()))?;
    let mut tok = Tokenizer::new(wp);
    let id = |t: &str| {
        tok.token_to_id(t)
            .ok_or_else(|| err(format!("vocab has no {t}")))
    };
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    let lowercase = lowercase_setting(dir);
    tok.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)));
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    Ok(tok)
}

/// `do_lower_case` from tokenizer_config.json; BERT's uncased default otherwise.
fn lowercase_setting(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["do_lower_case"].as_bool())
        .unwrap_or(true)
}

/// Pad a batch to its longest example, rounded up to the backend's `seq_multiple` (1 on the
/// CPU), and move it to the device.
pub fn to_batch<B: Backend>(
    examples: &[&Encoded],
    pad_id: u32,
    device: &B::Device,
) -> BatchInput<B> {
    to_batch_padded(
        examples,
        pad_id,
        crate::backend::seq_multiple::<B>(),
        device,
    )
}

/// `to_batch` with the sequence length rounded up to a multiple of `multiple`.
pub fn to_batch_padded<B: Backend>(
    examples: &[&Encoded],
    pad_id: u32,
    multiple: usize,
    device: &B::Device,
) -> BatchInput<B> {
    let batch = examples.len();
    let longest = examples
        .iter()
        .map(|e| e.ids.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let seq = longest.div_ceil(multiple.max(1)) * multiple.max(1);
    let mut ids = vec![pad_id as i64; batch * seq];
    let mut types = vec![0i64; batch * seq];
    let mut mask = vec![false; batch * seq];
    for (b, e) in examples.iter().enumerate() {
        for (t, (&id, &ty)) in e.ids.iter().zip(&e.type_ids).enumerate() {
            ids[b * seq + t] = id as i64;
            types[b * seq + t] = ty as i64;
            mask[b * seq + t] = true;
        }
    }
    BatchInput {
        input_ids: Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [batch, seq]), device),
        token_type_ids: Tensor::<B, 2, Int>::from_data(
            TensorData::new(types, [batch, seq]),
            device,
        ),
        attention_mask: Tensor::<B, 2, Bool>::from_data(
            TensorData::new(mask, [batch, seq]),
            device,
        ),
    }
}

/// Batches of example indices grouped by length (sorted, then cut), so that dynamic padding
/// wastes little. `order` fixes the order of equal lengths and of the batches themselves
/// (the data-order stream when training; identity when evaluating).
pub fn length_grouped(lengths: &[usize], batch_size: usize, order: &[usize]) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = order.to_vec();
    idx.sort_by_key(|&i| lengths[i]);
    idx.chunks(batch_size.max(1)).map(|c| c.to_vec()).collect()
}
