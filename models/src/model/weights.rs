//! A checkpoint's tensors as stored, whichever file holds them: `model.safetensors`, or
//! PyTorch's pickle `pytorch_model.bin`, which many Hub BERTs (McCoy et al.'s MultiBERTs-era
//! zoos among them) still ship alone. Both become one table of names, dtypes, shapes and F32
//! values, so the loader checks names and shapes the same way for either.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use super::ModelError;

/// The weight files a directory may hold, in the order they are preferred (safetensors first:
/// it cannot run code and needs no unpickling).
pub const FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// One stored tensor.
pub struct Stored {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// The values, when the tensor is F32 (the only dtype the model takes).
    pub values: Option<Vec<f32>>,
}

/// Every tensor of a checkpoint file.
pub struct Weights {
    pub path: PathBuf,
    /// The file's size: a bound on how many values it can hold.
    pub file_len: u64,
    pub tensors: BTreeMap<String, Stored>,
}

/// The weight file of a checkpoint directory.
pub fn path(dir: &Path) -> Result<PathBuf, ModelError> {
    FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .ok_or_else(|| ModelError::Weights {
            path: dir.to_owned(),
            message: "no model.safetensors or pytorch_model.bin in this directory".to_owned(),
        })
}

/// Read every tensor of a directory's weight file; with `values` false, names, dtypes and
/// shapes only.
pub fn read(dir: &Path, values: bool) -> Result<Weights, ModelError> {
    let path = path(dir)?;
    let meta = std::fs::metadata(&path).map_err(|e| ModelError::Io {
        path: path.clone(),
        source: e,
    })?;
    // A device (`/dev/zero` linked as the weights) would be read until memory runs out.
    if !meta.is_file() {
        return Err(ModelError::Weights {
            path,
            message: "not a regular file (a weight file is a file, not a device or FIFO)".into(),
        });
    }
    let file_len = meta.len();
    let tensors = if path.ends_with("pytorch_model.bin") {
        read_pytorch(&path, values)?
    } else {
        read_safetensors(&path, values)?
    };
    Ok(Weights {
        path,
        file_len,
        tensors,
    })
}

/// The largest safetensors header read (the format's own limit: 100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// Check a safetensors file's header against its length before the whole file is read, so
/// memory follows what the header declares and the file really holds (a large file of zeros
/// declares an empty header and is refused after 8 bytes).
fn check_safetensors_length(path: &Path) -> Result<(), ModelError> {
    use std::io::Read;
    let bad = |message: String| ModelError::Weights {
        path: path.to_owned(),
        message: format!("not a valid safetensors file: {message}"),
    };
    let io = |e| ModelError::Io {
        path: path.to_owned(),
        source: e,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| {
        bad(format!(
            "{len} bytes, shorter than its 8-byte header length"
        ))
    })?;
    let n = u64::from_le_bytes(n);
    if n == 0 || n > MAX_HEADER || 8 + n > len {
        return Err(bad(format!(
            "its header length is {n} bytes in a file of {len} (at most {MAX_HEADER}, and \
             within the file)"
        )));
    }
    let mut header = Vec::new();
    (&mut f).take(n).read_to_end(&mut header).map_err(io)?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("its header is not a JSON object: {e}")))?;
    let end = header
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .filter_map(|(_, v)| v["data_offsets"][1].as_u64())
        .max()
        .unwrap_or(0);
    if 8 + n + end != len {
        return Err(bad(format!(
            "its header declares {} bytes, the file holds {len}",
            8 + n + end
        )));
    }
    Ok(())
}

fn read_safetensors(path: &Path, values: bool) -> Result<BTreeMap<String, Stored>, ModelError> {
    check_safetensors_length(path)?;
    let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let bad = |e: safetensors::SafeTensorError| ModelError::Weights {
        path: path.to_owned(),
        message: format!("not a valid safetensors file: {e}"),
    };
    let st = SafeTensors::deserialize(&bytes).map_err(bad)?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let values = (values && view.dtype() == Dtype::F32)
            .then(|| basins_files::tensorfile::f32_values(view.data()));
        out.insert(
            name,
            Stored {
                dtype: format!("{:?}", view.dtype()),
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok(out)
}

/// PyTorch's formats, read by burn-store's pickle reader (no Python). A hostile file must
/// give an error, never a panic: the reader runs under `catch_unwind`.
fn read_pytorch(path: &Path, values: bool) -> Result<BTreeMap<String, Stored>, ModelError> {
    use burn::tensor::DType;
    use burn_store::pytorch::PytorchReader;
    let bad = |message: String| ModelError::Weights {
        path: path.to_owned(),
        message: format!("not a readable PyTorch checkpoint: {message}"),
    };
    let reader = std::panic::catch_unwind(|| PytorchReader::new(path))
        .map_err(|_| bad("the pickle reader failed on it".into()))?
        .map_err(|e| bad(e.to_string()))?;
    // burn-store 0.20.1 reads the legacy (pre-1.6, non-zip) format's tensors as zeros (every
    // tensor of models/tests/fixtures/tiny-bert/legacy): refused rather than loaded wrong.
    if reader.metadata().is_legacy_format() {
        return Err(bad(
            "it is in torch's legacy (pre-1.6) format, which basins cannot yet read correctly; \
             convert it once: python -c \"import torch; torch.save(torch.load('pytorch_model.bin'), \
             'pytorch_model.bin')\" (torch's zip format), or save it as safetensors"
                .into(),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, snap) in reader.tensors() {
        let values = if values && snap.dtype == DType::F32 {
            let data = snap.to_data().map_err(|e| bad(format!("{name}: {e:?}")))?;
            Some(
                data.to_vec::<f32>()
                    .map_err(|e| bad(format!("{name}: {e:?}")))?,
            )
        } else {
            None
        };
        let dtype = match snap.dtype {
            DType::F32 => "F32".to_owned(),
            DType::F16 => "F16".to_owned(),
            DType::BF16 => "BF16".to_owned(),
            DType::F64 => "F64".to_owned(),
            other => format!("{other:?}"),
        };
        out.insert(
            name.clone(),
            Stored {
                dtype,
                shape: snap.shape.clone(),
                values,
            },
        );
    }
    Ok(out)
}
