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

    /// Signed integers (an adaptive path's -1 where it did not evaluate).
    pub fn i64_signed(name: impl Into<String>, shape: Vec<usize>, values: &[i64]) -> Entry {
        Entry {
            name: name.into(),
            dtype: Dtype::I64,
            shape,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// Write `entries` (shapes must match their byte lengths) with at most one string metadata
/// entry. One, because safetensors takes metadata as a `HashMap` and writes it in the map's
/// iteration order, which differs from process to process: two keys made files whose bytes
/// changed between runs (found by `basins verify`). Several values go into one JSON entry.
pub fn write(
    path: &Path,
    entries: &[Entry],
    meta: Option<(&str, String)>,
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
    let meta: Option<HashMap<String, String>> =
        meta.map(|(k, v)| [(k.to_string(), v)].into_iter().collect());
    safetensors::serialize_to_file(views, meta, path)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The same tensors and metadata give the same bytes every time they are written.
    #[test]
    fn writes_are_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let values = [1.0f32, 2.0, 3.0];
        let write_once = |i: usize| {
            let path = dir.path().join(format!("{i}.safetensors"));
            write(
                &path,
                &[
                    Entry::f32("a", vec![3], &values),
                    Entry::i64("b", vec![2], &[4, 5]),
                ],
                Some(("m", r#"{"x": 1, "y": [2, 3]}"#.to_owned())),
            )
            .unwrap();
            std::fs::read(path).unwrap()
        };
        let first = write_once(0);
        assert!((1..20).all(|i| write_once(i) == first));
    }
}
