//! Everything basins parses from a user, as a function from arbitrary bytes to "a value or a
//! clean error": a target passes when it returns, and fails when it panics or aborts. The same
//! functions back two drivers: `cargo fuzz` (coverage-guided, `fuzz/`, run for long stretches
//! on a developer's machine by `scripts/fuzz`) and `drive` (stable Rust, corpus replay plus
//! random mutation for a bounded time: the `basins-fuzz` binary, and the `corpus` test that
//! CI runs for 60 s per target).

use std::io::Cursor;
use std::path::Path;

use basins_cache::ActionBytes;
use basins_engine::manifest::{DataFormat, OnBadRow};
use basins_engine::record::{ActionRecord, Recipe};
use basins_stages::data::ReadOptions;

mod drive;
pub mod mutate;

pub use drive::{drive, read_corpus, Finding, Run};

/// A fuzz target: bytes in; returns normally whatever they are.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus directory (`fuzz/corpus/<name>`) and its `cargo fuzz`
/// binary have.
pub const TARGETS: &[(&str, Target)] = &[
    ("manifest", manifest),
    ("data_reader", data_reader),
    ("model_dir", model_dir),
    ("action_record", action_record),
];

/// A manifest (TOML) through loading, validation, expansion into nodes and the graph.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Includes resolve against a directory that does not exist: they fail cleanly.
    let path = Path::new("/nonexistent-basins-fuzz/study.toml");
    if let Ok(m) = basins_engine::Manifest::from_str_at(path, text) {
        let nodes = basins_engine::expand::expand(&m, &Default::default());
        let _ = basins_engine::graph::Graph::new(nodes);
    }
}

const FORMATS: [DataFormat; 7] = [
    DataFormat::Cola,
    DataFormat::Mnli,
    DataFormat::Qqp,
    DataFormat::Hans,
    DataFormat::Paws,
    DataFormat::Jsonl,
    DataFormat::Generated,
];

/// A data file in every supported layout. The first byte picks the layout and whether bad
/// rows stop the reader or are skipped; the rest is the file.
pub fn data_reader(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else {
        return;
    };
    let format = FORMATS[(head as usize) % FORMATS.len()];
    let on_bad_row = if head & 0x80 == 0 {
        OnBadRow::Error
    } else {
        OnBadRow::Skip
    };
    let labels =
        basins_stages::data::default_labels(format).unwrap_or_else(|| vec!["0".into(), "1".into()]);
    let opts = ReadOptions {
        format,
        labels,
        on_bad_row,
        fields: Default::default(),
    };
    if let Ok(ds) = basins_stages::data::read_from(Cursor::new(body), Path::new("fuzz.tsv"), &opts)
    {
        let _ = ds.label_counts();
    }
}

/// A model directory: `config.json` and `model.safetensors`, inspected and loaded as a
/// classifier. The first two bytes (little-endian) are the length of the config; the rest
/// is the weights file.
pub fn model_dir(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let n = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
    let (config, weights) = data[2..].split_at(n);
    let dir = scratch_dir();
    if std::fs::write(dir.join("config.json"), config).is_err()
        || std::fs::write(dir.join("model.safetensors"), weights).is_err()
    {
        return;
    }
    let _ = basins_stages::model::inspect::inspect(&dir);
}

/// One directory per thread, reused across inputs (creating one per input would dominate).
fn scratch_dir() -> std::path::PathBuf {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().expect("a temporary directory");
    }
    DIR.with(|d| d.path().to_owned())
}

/// An action record as stored (envelope or not) through its check, and a recipe.
pub fn action_record(data: &[u8]) {
    if let Some(read) = ActionBytes::parse(data.to_vec()) {
        if let Ok(rec) = serde_json::from_slice::<ActionRecord>(read.bytes()) {
            let _ = rec.self_check(&rec.key);
            let _ = rec.objects_present(&basins_cache::Store::open(scratch_dir()).expect("store"));
        }
    }
    if let Ok(recipe) = serde_json::from_slice::<Recipe>(data) {
        let _ = recipe.preimage.key();
    }
}

/// A tiny BERT directory, for the `model_dir` corpus.
pub fn tiny_model_seed() -> Vec<u8> {
    use basins_stages::backend::Cpu;
    use basins_stages::model::{save, BertClassifier, BertConfig};
    let cfg: BertConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16
    }))
    .expect("config");
    let model = BertClassifier::<Cpu>::new(&cfg, 2, &Default::default());
    let dir = tempfile::tempdir().expect("tempdir");
    save(&model, &cfg, &["a".into(), "b".into()], None, dir.path()).expect("save");
    let config = std::fs::read(dir.path().join("config.json")).expect("config.json");
    let weights = std::fs::read(dir.path().join("model.safetensors")).expect("weights");
    let mut out = (config.len() as u16).to_le_bytes().to_vec();
    out.extend(config);
    out.extend(weights);
    out
}
