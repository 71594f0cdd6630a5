//! Data sets from Hub dataset repositories, through the CLI, against the local fake Hub
//! (`tests/hub/fake_hub.rs`) serving small parquet files in each layout the paper's sets come
//! in: GLUE's config folders (`nyu-mll/glue`, `mnli/validation_matched-00000-of-00001.parquet`),
//! the parquet conversion of a loading-script data set (`jhu-cogsci/hans` on
//! `refs/convert/parquet`, `plain_text/validation/0000.parquet`) and PAWS's
//! (`google-research-datasets/paws`). The files are written as `datasets` writes them: Snappy,
//! the features (with each `ClassLabel`'s names) in the `huggingface` key of the file's
//! metadata; the Hub lists each with its LFS sha256.
//!
//! Resolution before the plan, a download that drops mid-file and resumes, a corrupted file
//! refused, offline plans with and without a remembered commit, labels read by their
//! `ClassLabel` names whatever order the task declares, a label set that does not match
//! refused, and the rows read by a real study.

mod common;
#[allow(dead_code)]
#[path = "hub/fake_hub.rs"]
mod fake_hub;

use std::collections::BTreeMap;
use std::sync::Arc;

use fake_hub::{ok, serve_repos, text, Files, Mode, Study};
use serde_json::{json, Value};

// What the fake Hub's model side expects of its includer.
const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
const COMMIT_A: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
const COMMIT_B: &str = "0123456789abcdef0123456789abcdef01234567";

const GLUE_COMMIT: &str = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c";
const HANS_COMMIT: &str = "1111111111111111111111111111111111111111";
const PAWS_COMMIT: &str = "2222222222222222222222222222222222222222";

/// A column of a fixture file: strings, or integers with their `ClassLabel` names (or none).
enum Col {
    Text(&'static str, Vec<String>),
    Int(&'static str, Vec<i64>, Option<&'static [&'static str]>),
}

/// A parquet file as `datasets` writes one: Snappy, its features in the `huggingface` key.
fn parquet(cols: &[Col]) -> Vec<u8> {
    use parquet::basic::Compression;
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let fields: Vec<String> = cols
        .iter()
        .map(|c| match c {
            Col::Text(n, _) => format!("OPTIONAL BYTE_ARRAY {n} (STRING);"),
            Col::Int(n, ..) => format!("OPTIONAL INT64 {n};"),
        })
        .collect();
    let schema = parquet::schema::parser::parse_message_type(&format!(
        "message schema {{ {} }}",
        fields.join(" ")
    ))
    .unwrap();
    let features: serde_json::Map<String, Value> = cols
        .iter()
        .map(|c| match c {
            Col::Text(n, _) => (n.to_string(), json!({"dtype": "string", "_type": "Value"})),
            Col::Int(n, _, Some(names)) => (
                n.to_string(),
                json!({"names": names, "_type": "ClassLabel"}),
            ),
            Col::Int(n, _, None) => (n.to_string(), json!({"dtype": "int64", "_type": "Value"})),
        })
        .collect();
    let meta = json!({"info": {"features": features}}).to_string();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![KeyValue::new("huggingface".to_owned(), meta)]))
        .build();
    let mut buf = Vec::new();
    let mut w = SerializedFileWriter::new(&mut buf, Arc::new(schema), Arc::new(props)).unwrap();
    let mut rg = w.next_row_group().unwrap();
    for c in cols {
        let mut col = rg.next_column().unwrap().unwrap();
        match c {
            Col::Text(_, v) => {
                let vals: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                col.typed::<ByteArrayType>()
                    .write_batch(&vals, Some(&vec![1; v.len()]), None)
                    .unwrap();
            }
            Col::Int(_, v, _) => {
                col.typed::<Int64Type>()
                    .write_batch(v, Some(&vec![1; v.len()]), None)
                    .unwrap();
            }
        }
        col.close().unwrap();
    }
    rg.close().unwrap();
    w.close().unwrap();
    buf
}

const SUBJECTS: [&str; 4] = ["the doctor", "the lawyer", "the artist", "the student"];
const VERBS: [&str; 3] = ["saw", "helped", "called"];

/// `n` NLI rows: premise, hypothesis and a GLUE label (0 entailment, 1 neutral, 2 contradiction).
fn nli_rows(n: usize, seed: usize) -> (Vec<String>, Vec<String>, Vec<i64>) {
    let (mut p, mut h, mut l) = (vec![], vec![], vec![]);
    for i in 0..n {
        let (a, b) = (SUBJECTS[(i + seed) % 4], SUBJECTS[(i / 4 + 1 + seed) % 4]);
        let v = VERBS[(i + 2 * seed) % 3];
        p.push(format!("{a} {v} {b} ."));
        let label = (i % 3) as i64;
        h.push(match label {
            0 => format!("{a} {v} someone ."),
            1 => format!("{a} {v} {b} yesterday ."),
            _ => format!("{a} never {v} {b} ."),
        });
        l.push(label);
    }
    (p, h, l)
}

const GLUE_MNLI: &[&str] = &["entailment", "neutral", "contradiction"];

fn glue_mnli(n: usize, seed: usize) -> Vec<u8> {
    let (p, h, l) = nli_rows(n, seed);
    parquet(&[
        Col::Text("premise", p),
        Col::Text("hypothesis", h),
        Col::Int("label", l, Some(GLUE_MNLI)),
        Col::Int("idx", (0..n as i64).collect(), None),
    ])
}

/// HANS as its parquet conversion has it: two labels, the parses, the three group columns.
fn hans(n: usize) -> Vec<u8> {
    let (p, h, _) = nli_rows(n, 3);
    let heuristic: Vec<String> = (0..n)
        .map(|i| ["lexical_overlap", "subsequence", "constituent"][i % 3].to_owned())
        .collect();
    parquet(&[
        Col::Text("premise", p.clone()),
        Col::Text("hypothesis", h),
        Col::Int(
            "label",
            (0..n as i64).map(|i| (i / 3) % 2).collect(),
            Some(&["entailment", "non-entailment"]),
        ),
        Col::Text(
            "parse_premise",
            p.iter().map(|s| format!("(ROOT {s})")).collect(),
        ),
        Col::Text("heuristic", heuristic),
        Col::Text(
            "subcase",
            (0..n).map(|i| format!("sub_{}", i % 2)).collect(),
        ),
        Col::Text(
            "template",
            (0..n).map(|i| format!("temp{}", i % 5)).collect(),
        ),
    ])
}

/// PAWS's layout: id, sentence1, sentence2, a two-way label named "0" and "1".
fn paws(n: usize) -> Vec<u8> {
    let (p, h, l) = nli_rows(n, 5);
    parquet(&[
        Col::Int("id", (1..=n as i64).collect(), None),
        Col::Text("sentence1", p),
        Col::Text("sentence2", h),
        Col::Int(
            "label",
            l.iter().map(|x| x % 2).collect(),
            Some(&["0", "1"]),
        ),
    ])
}

fn files(list: &[(&str, Vec<u8>)]) -> Files {
    list.iter()
        .map(|(n, b)| (n.to_string(), b.clone()))
        .collect()
}

/// The fake Hub with GLUE (MNLI, QQP-less), HANS's conversion and PAWS.
fn hub() -> fake_hub::Hub {
    let hub = serve_repos(BTreeMap::new());
    hub.add_dataset(
        "nyu-mll/glue",
        "main",
        GLUE_COMMIT,
        files(&[
            ("README.md", b"---\ndataset_info: ...\n---\n".to_vec()),
            ("mnli/train-00000-of-00002.parquet", glue_mnli(40, 0)),
            ("mnli/train-00001-of-00002.parquet", glue_mnli(32, 1)),
            (
                "mnli/validation_matched-00000-of-00001.parquet",
                glue_mnli(30, 2),
            ),
            ("mnli/test_matched-00000-of-00001.parquet", {
                let (p, h, _) = nli_rows(6, 0);
                parquet(&[
                    Col::Text("premise", p),
                    Col::Text("hypothesis", h),
                    Col::Int("label", vec![-1; 6], Some(GLUE_MNLI)),
                ])
            }),
        ]),
    );
    hub.add_dataset(
        "jhu-cogsci/hans",
        "refs/convert/parquet",
        HANS_COMMIT,
        files(&[
            ("plain_text/train/0000.parquet", hans(12)),
            ("plain_text/validation/0000.parquet", hans(36)),
        ]),
    );
    hub.add_dataset(
        "google-research-datasets/paws",
        "main",
        PAWS_COMMIT,
        files(&[("labeled_final/validation-00000-of-00001.parquet", paws(20))]),
    );
    hub
}

/// A study whose task and diagnostics all come from the Hub; the task declares MNLI's labels
/// in the feather BERTs' order, not GLUE's.
fn manifest(mnli_revision: &str) -> String {
    format!(
        r#"[study]
name = "hubdata"
cache = "cache"

[models.tiny]
builtin = {{ layers = 1, hidden = 32, heads = 2, intermediate = 64, max_position = 64 }}
pretrain = {{ steps = 5, sentences = 200 }}

[tasks.mnli]
source = {{ hub = "nyu-mll/glue", config = "mnli", revision = "{mnli_revision}", train = "train", eval = {{ matched = "validation_matched" }} }}
labels = ["contradiction", "entailment", "neutral"]

[diagnostics.hans]
task = "mnli"
source = {{ hub = "jhu-cogsci/hans", config = "plain_text", revision = "refs/convert/parquet", split = "validation" }}
labels = ["entailment", "non-entailment"]
surface = {{ where = {{ heuristic = "lexical_overlap" }}, n = 8 }}

[diagnostics.paws]
task = "mnli"
source = {{ hub = "google-research-datasets/paws", config = "labeled_final", split = "validation", rename = {{ "0" = "neutral", "1" = "entailment" }} }}
labels = ["entailment", "neutral"]

[finetune]
model = "tiny"
tasks = ["mnli"]
seeds = "0..1"
lr = 1e-3
batch_size = 8
max_steps = 2
max_len = 32
"#
    )
}

/// A study against the fake Hub, whose dropped connections are noticed after 2 s without a byte
/// (`HF_HUB_DOWNLOAD_TIMEOUT`; the default 60 s would make the resume test take minutes).
fn study(endpoint: &str, manifest: &str) -> Study {
    Study::new(endpoint, manifest).with_env("HF_HUB_DOWNLOAD_TIMEOUT", "2")
}

/// The rows a split's node wrote.
fn rows(s: &Study, node: &str) -> Vec<Value> {
    let out = s.cli(&["show", "m.toml", node, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    let path = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "rows.jsonl")
        .unwrap_or_else(|| panic!("{node} has no rows.jsonl: {v}"))["path"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const MATCHED: &str = "download/nyu-mll/glue/mnli/validation_matched";
const TRAIN: &str = "download/nyu-mll/glue/mnli/train";
const HANS: &str = "download/jhu-cogsci/hans/plain_text/validation";
const PAWS: &str = "download/google-research-datasets/paws/labeled_final/validation";

#[test]
fn hub_data_sets_resolve_download_resume_and_read_by_their_label_names() {
    let hub = hub();
    let s = study(&hub.url, &manifest(GLUE_COMMIT));

    // The plan resolves the branch and the conversion ref before anything runs, and lists a
    // download per split.
    let plan = ok(&s.cli(&["plan", "m.toml"]));
    assert!(
        plan.contains(&format!("datasets/jhu-cogsci/hans@refs/convert/parquet: commit {HANS_COMMIT} (asked the Hub now)")),
        "{plan}"
    );
    assert!(
        plan.contains("datasets/nyu-mll/glue@bcdcba79d07b"),
        "{plan}"
    );
    for node in [MATCHED, TRAIN, HANS, PAWS] {
        assert!(plan.contains(node), "{node}: {plan}");
    }

    // The connection drops mid-file: the fetch fails, nothing is cached, and what arrived is
    // kept; the next fetch resumes with a Range request.
    hub.set_mode(Mode::Drop);
    let broken = s.cli(&["fetch", "m.toml"]);
    assert!(!broken.status.success(), "{}", text(&broken));
    assert!(
        text(&broken).contains("connection broke"),
        "{}",
        text(&broken)
    );
    hub.set_mode(Mode::Good);
    let before = hub.downloads().len();
    let fetched = ok(&s.cli(&["fetch", "m.toml"]));
    for node in [MATCHED, TRAIN, HANS, PAWS] {
        assert!(fetched.contains(node), "{node}: {fetched}");
    }
    assert!(
        fetched.contains("nyu-mll/glue/mnli/validation_matched@bcdcba79d07b"),
        "{fetched}"
    );
    let resumed: Vec<_> = hub.downloads()[before..]
        .iter()
        .filter_map(|d| d.range.clone())
        .collect();
    assert!(!resumed.is_empty(), "no Range request after the drop");
    // The model is builtin: only the data sets were asked for.
    assert!(hub
        .downloads()
        .iter()
        .all(|d| d.url.starts_with("/datasets/")));

    // Integers are named by the data set's ClassLabel (GLUE's order), whatever order the task
    // declares: a GLUE 0 is `entailment`, never the task's first label.
    let matched = rows(&s, MATCHED);
    assert_eq!(matched.len(), 30);
    let (_, _, gold) = nli_rows(30, 2);
    for (row, g) in matched.iter().zip(&gold) {
        assert_eq!(row["label"], GLUE_MNLI[*g as usize], "{row}");
    }
    assert_eq!(matched[0]["first"], nli_rows(30, 2).0[0]);
    assert_eq!(rows(&s, TRAIN).len(), 72, "both shards, in order");
    let hans = rows(&s, HANS);
    assert_eq!(hans.len(), 36);
    assert_eq!(hans[4]["groups"]["heuristic"], "subsequence");
    assert_eq!(hans[4]["label"], "non-entailment");
    assert!(hans[0]["groups"].get("parse_premise").is_none());
    let paws = rows(&s, PAWS);
    assert_eq!(paws.len(), 20);
    assert_eq!(paws[1]["label"], "entailment", "PAWS's `1`, renamed");
    let shown: Value =
        serde_json::from_slice(&s.cli(&["show", "m.toml", HANS, "--json"]).stdout).unwrap();
    let metrics = &shown["metrics"];
    assert_eq!(metrics["commit"], HANS_COMMIT);
    assert_eq!(
        metrics["label_names"],
        json!(["entailment", "non-entailment"])
    );
    let digest = metrics["files"]["plain_text/validation/0000.parquet"]["digest"].clone();
    assert_eq!(digest, "sha256");

    // `fetch` lists the splits with their sizes; a second one asks the Hub for nothing.
    let before = hub.downloads().len();
    let again = ok(&s.cli(&["fetch", "m.toml"]));
    assert!(again.contains(&format!("cached   {MATCHED}")), "{again}");
    assert_eq!(hub.downloads().len(), before);

    // The study runs on the rows: finetuned on the train split, scored on every set.
    ok(&s.cli(&["run", "m.toml"]));
    let eval: Value = serde_json::from_slice(
        &s.cli(&["show", "m.toml", "evaluate/mnli/seed=0", "--json"])
            .stdout,
    )
    .unwrap();
    let scored = eval["metrics"].to_string();
    for set in ["mnli.matched", "hans", "paws"] {
        assert!(scored.contains(set), "{set}: {eval}");
    }

    // Offline, the remembered commits plan the same nodes, and nothing is asked.
    let seen = hub.seen().len();
    let offline = ok(&s.cli(&["--offline", "plan", "m.toml"]));
    assert!(offline.contains("(resolved earlier; offline)"), "{offline}");
    assert!(offline.contains("0 to run"), "{offline}");
    assert_eq!(hub.seen().len(), seen);
}

#[test]
fn a_corrupted_file_a_wrong_label_set_and_an_unlabelled_split_are_refused() {
    let hub = hub();
    let s = study(&hub.url, &manifest(GLUE_COMMIT));
    hub.set_mode(Mode::Corrupt);
    let bad = s.cli(&["fetch", "m.toml"]);
    assert!(!bad.status.success());
    let t = text(&bad);
    assert!(t.contains("sha256") && t.contains("corrupted"), "{t}");
    hub.set_mode(Mode::Good);
    assert!(
        s.cli(&["show", "m.toml", MATCHED, "--json"])
            .stdout
            .is_empty()
            || !String::from_utf8_lossy(&s.cli(&["show", "m.toml", MATCHED, "--json"]).stdout)
                .contains("rows.jsonl"),
        "a corrupted download reached the cache"
    );

    // Labels that are not the data set's: refused, naming both lists.
    let wrong = manifest(GLUE_COMMIT).replace(
        r#"labels = ["contradiction", "entailment", "neutral"]"#,
        r#"labels = ["entailment", "not_entailment"]"#,
    );
    let w = study(&hub.url, &wrong);
    let out = w.cli(&["fetch", "m.toml"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains(r#"the data set's labels are ["entailment", "neutral", "contradiction"]"#)
            && t.contains("ClassLabel")
            && t.contains(r#"["entailment", "not_entailment"]"#),
        "{t}"
    );

    // A test split's -1 labels are refused, not read as a label.
    let test = manifest(GLUE_COMMIT).replace(
        "matched = \"validation_matched\"",
        "matched = \"test_matched\"",
    );
    let u = study(&hub.url, &test);
    let out = u.cli(&["fetch", "m.toml"]);
    let t = text(&out);
    assert!(!out.status.success() && t.contains("unlabelled row"), "{t}");
}

#[test]
fn offline_with_nothing_remembered_plans_and_lists_what_to_fetch() {
    // No server at all: the pinned GLUE commit needs no network, the HANS ref is listed as
    // unresolved, and `plan` still exits 0 with every download in it.
    let s = study("http://127.0.0.1:9", &manifest(GLUE_COMMIT));
    let plan = s.cli(&["--offline", "plan", "m.toml"]);
    let t = ok(&plan);
    assert!(
        t.contains("datasets/nyu-mll/glue@bcdcba79d07b: a pinned commit"),
        "{t}"
    );
    assert!(
        t.contains("datasets/jhu-cogsci/hans@refs/convert/parquet: not resolved to a commit"),
        "{t}"
    );
    for node in [MATCHED, TRAIN, HANS] {
        assert!(t.contains(node), "{node}: {t}");
    }
    // Running needs every commit: refused with the reason, before anything runs.
    let run = s.cli(&["--offline", "run", "m.toml"]);
    assert!(!run.status.success());
    assert!(
        text(&run).contains("refs/convert/parquet"),
        "{}",
        text(&run)
    );
    let shown = s.cli(&["show", "m.toml", MATCHED, "--json"]);
    assert!(
        !String::from_utf8_lossy(&shown.stdout).contains("rows.jsonl"),
        "{}",
        text(&shown)
    );
}
