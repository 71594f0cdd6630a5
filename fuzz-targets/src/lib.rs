//! Everything basins parses from a user, as a function from arbitrary bytes to "a value or a
//! clean error": a target passes when it returns, and fails when it panics or aborts. The same
//! functions back two drivers: `cargo fuzz` (coverage-guided, `fuzz/`, run for long stretches
//! on a developer's machine by `scripts/fuzz`) and `drive` (stable Rust, corpus replay plus
//! random mutation for a bounded time: the `basins-fuzz` binary, and the `corpus` test that
//! CI runs for 60 s per target).

use std::io::Cursor;
use std::path::Path;

use basins_cache::ActionBytes;
use basins_engine::record::{ActionRecord, Recipe};
use basins_stages::data::ReadOptions;
use basins_study::manifest::{DataFormat, OnBadRow};

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
    ("cli_flags", cli_flags),
    ("include_graph", include_graph),
];

/// A manifest (TOML) through loading, validation, expansion into nodes and the graph.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Includes resolve against a directory that does not exist: they fail cleanly.
    let path = Path::new("/nonexistent-basins-fuzz/study.toml");
    if let Ok(m) = basins_study::Manifest::from_str_at(path, text) {
        let nodes = basins_study::expand::expand(&m, &Default::default());
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

/// Command-line arguments, NUL-separated, through clap and every value parser (seconds, data
/// formats, `--field`, seed lists, ...), then what a parsed value becomes before any work is
/// done (`--progress-every 1e20` once parsed and then panicked turning into a `Duration`).
/// Parsing only: nothing runs, so nothing is read or written.
pub fn cli_flags(data: &[u8]) {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let args =
        std::iter::once(OsStr::new("basins")).chain(data.split(|b| *b == 0).map(OsStr::from_bytes));
    if let Ok(cli) = <basins::cli::Cli as clap::Parser>::try_parse_from(args) {
        if let Some(p) = cli.command.progress() {
            let _ = p.interval();
        }
    }
}

/// Up to 32 manifest files that include one another, loaded from the first. The first byte is
/// the number of files; then, per file, a count (0-3) and that many include targets (an index;
/// one past the last names a file that does not exist); the rest, split at NUL bytes, is each
/// file's own TOML. Loading must end with a manifest or an error however the files include each
/// other (cycles, self-includes, chains, a file included from everywhere), never overflow
/// the stack or run for ever (31 files that each include the next twice once made 2^31 reads).
pub fn include_graph(data: &[u8]) {
    let mut bytes = data.iter().copied();
    let mut next = || bytes.next().unwrap_or(0) as usize;
    let n = next() % 32 + 1;
    let includes: Vec<Vec<usize>> = (0..n)
        .map(|_| (0..next() % 4).map(|_| next() % (n + 1)).collect())
        .collect();
    let used = 1 + includes.iter().map(|i| 1 + i.len()).sum::<usize>();
    let rest = data.get(used..).unwrap_or_default();
    let mut bodies = rest.split(|b| *b == 0);
    let dir = scratch_dir().join("includes");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for (i, inc) in includes.iter().enumerate() {
        let list: Vec<String> = inc.iter().map(|j| format!("\"f{j}.toml\"")).collect();
        let mut text = format!("include = [{}]\n", list.join(", ")).into_bytes();
        text.extend_from_slice(bodies.next().unwrap_or_default());
        if std::fs::write(dir.join(format!("f{i}.toml")), text).is_err() {
            return;
        }
    }
    if let Ok(m) = basins_study::Manifest::load(&dir.join("f0.toml")) {
        let _ = basins_study::expand::expand(&m, &Default::default());
    }
}
