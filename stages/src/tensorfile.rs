//! Safetensors files as the stages write and read them: checkpoints, optimizer state and
//! per-example evaluation outputs all go through these few functions.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensorError};

/// One tensor to write: name, dtype, shape, little-endian bytes.
pub struct Entry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Entry {
    pub fn f32(name: impl Into<String>, shape: Vec<usize>, values: &[f32]) -> Entry {
        Entry {
            name: name.into(),
            dtype: Dtype::F32,
            shape,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    pub fn i64(name: impl Into<String>, shape: Vec<usize>, values: &[usize]) -> Entry {
        Entry {
            name: name.into(),
            dtype: Dtype::I64,
            shape,
            bytes: values
                .iter()
                .flat_map(|&v| (v as i64).to_le_bytes())
                .collect(),
        }
    }
}

/// Write `entries` (shapes must match their byte lengths) with optional string metadata.
pub fn write(
    path: &Path,
    entries: &[Entry],
    meta: &[(&str, String)],
) -> Result<(), SafeTensorError> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = entries
        .iter()
        .map(|e| {
            Ok((
                e.name.clone(),
                safetensors::tensor::TensorView::new(e.dtype, e.shape.clone(), &e.bytes)?,
            ))
        })
        .collect::<Result<_, SafeTensorError>>()?;
    let meta: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    safetensors::serialize_to_file(views, (!meta.is_empty()).then_some(meta), path)
}

/// Little-endian f32 bytes as values.
pub fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Little-endian i64 bytes as values.
pub fn i64_values(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect()
}
