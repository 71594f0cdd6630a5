//! The data readers on real CoLA files (from `../shared/data/cola/`, reported when absent) and
//! on small fixtures written here for the other layouts: what they read, and what they say
//! about a bad row.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use basins_files::data::{self, DataError, DataFormat, OnBadRow, ReadOptions};
use basins_files::generate;

fn opts(format: DataFormat, labels: &[&str]) -> ReadOptions {
    ReadOptions {
        format,
        labels: labels.iter().map(|s| s.to_string()).collect(),
        on_bad_row: OnBadRow::Error,
        fields: BTreeMap::new(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn cola_dir() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/cola");
    if d.join("in_domain_train.tsv").exists() {
        Some(d)
    } else {
        eprintln!(
            "NOTE: {} is absent; the real-CoLA reader checks did not run",
            d.display()
        );
        None
    }
}

#[test]
fn real_cola_files_read_with_the_published_counts() {
    let Some(dir) = cola_dir() else { return };
    let labels = ["0", "1"];
    for (file, rows, ones) in [
        ("in_domain_train.tsv", 8551, 6023),
        ("in_domain_dev.tsv", 527, 365),
        // Its last line has no trailing newline.
        ("out_of_domain_dev.tsv", 516, 354),
    ] {
        let ds = data::read(&dir.join(file), &opts(DataFormat::Cola, &labels)).unwrap();
        assert_eq!(ds.examples.len(), rows, "{file}");
        assert_eq!(ds.label_counts()["1"], ones, "{file}");
        assert!(ds.examples.iter().all(|e| e.second.is_none()));
        assert!(ds.examples.iter().all(|e| !e.groups["source"].is_empty()));
    }
    let r = data::check(
        &dir.join("in_domain_dev.tsv"),
        DataFormat::Cola,
        vec!["0".into(), "1".into()],
        BTreeMap::new(),
    )
    .unwrap();
    assert_eq!((r.rows, r.bad_rows), (527, 0));
    assert_eq!(r.per_label["0"], 162);
}

#[test]
fn glue_hans_and_paws_layouts_read_their_columns() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // MNLI: the train file has fewer annotator columns than its header names.
    let mnli = write(
        d,
        "mnli.tsv",
        "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n\
         0\t1\t1e\tgovernment\t(a)\t(b)\t(A)\t(B)\tA man sleeps.\tA person rests.\tentailment\tentailment\n\
         1\t2\t2c\tfiction\t(a)\t(b)\t(A)\t(B)\tIt rains.\tIt is dry.\tcontradiction\tcontradiction\n",
    );
    let ds = data::read(
        &mnli,
        &opts(
            DataFormat::Mnli,
            &["entailment", "neutral", "contradiction"],
        ),
    )
    .unwrap();
    assert_eq!(ds.examples.len(), 2);
    assert_eq!(ds.examples[1].first, "It rains.");
    assert_eq!(ds.examples[1].second.as_deref(), Some("It is dry."));
    assert_eq!(ds.examples[1].label, 2);
    assert_eq!(ds.examples[0].groups["genre"], "government");

    let qqp = write(
        d,
        "qqp.tsv",
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t1\t2\tHow old?\tWhat age?\t1\n8\t3\t4\tWhy?\tWhere?\t0\n",
    );
    let ds = data::read(&qqp, &opts(DataFormat::Qqp, &["0", "1"])).unwrap();
    assert_eq!(
        ds.examples.iter().map(|e| e.label).collect::<Vec<_>>(),
        [1, 0]
    );
    assert_eq!(ds.examples[0].second.as_deref(), Some("What age?"));

    let paws = write(
        d,
        "paws.tsv",
        "id\tsentence1\tsentence2\tlabel\n1\tA b.\tB a.\t0\n2\tC d.\tC d .\t1\n",
    );
    let ds = data::read(&paws, &opts(DataFormat::Paws, &["0", "1"])).unwrap();
    assert_eq!(ds.label_counts(), [("0".into(), 1), ("1".into(), 1)].into());

    // HANS: our generator writes HANS's layout, and the HANS reader reads it.
    let pairs = generate::hans::generate(5, 20).unwrap();
    let hans = write(d, "hans.txt", &generate::hans::to_tsv(&pairs));
    let ds = data::read(
        &hans,
        &opts(DataFormat::Hans, &["entailment", "non-entailment"]),
    )
    .unwrap();
    assert_eq!(ds.examples.len(), 600);
    assert_eq!(ds.examples[0].first, pairs[0].premise);
    assert_eq!(ds.examples[599].groups["subcase"], "ce_adverb");
    assert_eq!(ds.examples[0].groups["heuristic"], "lexical_overlap");
}

#[test]
fn jsonl_fields_are_configurable_and_generated_jsonl_reads_back() {
    let t = tempfile::tempdir().unwrap();
    let p = write(
        t.path(),
        "x.jsonl",
        "{\"premise\": \"P one.\", \"hyp\": \"H one.\", \"gold\": \"yes\", \"domain\": \"news\"}\n\n{\"premise\": \"P two.\", \"hyp\": \"H two.\", \"gold\": \"no\", \"domain\": \"web\"}\n",
    );
    let mut o = opts(DataFormat::Jsonl, &["no", "yes"]);
    o.fields = [
        ("first", "premise"),
        ("second", "hyp"),
        ("label", "gold"),
        ("domain", "domain"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let ds = data::read(&p, &o).unwrap();
    assert_eq!(ds.examples.len(), 2);
    assert_eq!(ds.examples[0].label, 1);
    assert_eq!(ds.examples[1].groups["domain"], "web");

    let (train, _) = generate::nli::generate(1, 50, 5, 0.5).unwrap();
    let g = write(t.path(), "g.jsonl", &generate::to_jsonl(&train));
    let ds = data::read(
        &g,
        &opts(DataFormat::Generated, &["entailment", "non-entailment"]),
    )
    .unwrap();
    assert_eq!(ds.examples.len(), 50);
    assert_eq!(
        ds.examples[3].second.as_deref(),
        Some(train[3].hypothesis.as_str())
    );
    assert_eq!(ds.examples[3].groups, train[3].groups);
}

#[test]
fn bad_rows_name_file_and_line_or_are_skipped_and_counted() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let cola = write(
        d,
        "c.tsv",
        "s1\t1\t\tGood.\ns1\t2\t*\tUnknown label.\ns1\t0\tOnly three.\ns1\t0\t*\tBad.\n",
    );
    let labels = ["0", "1"];
    let err = data::read(&cola, &opts(DataFormat::Cola, &labels)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DataError::Row { line: 2, .. }), "{text}");
    assert!(
        text.contains("c.tsv:2:") && text.contains("label `2`"),
        "{text}"
    );
    let mut skip = opts(DataFormat::Cola, &labels);
    skip.on_bad_row = OnBadRow::Skip;
    let ds = data::read(&cola, &skip).unwrap();
    assert_eq!((ds.examples.len(), ds.skipped), (2, 2));
    assert!(ds.skipped_examples[1].contains("c.tsv:3: expected 4 tab-separated columns"));

    let mut bytes = b"s1\t1\t\tFine.\n".to_vec();
    bytes.extend_from_slice(b"s1\t0\t*\tBad \xff byte.\n");
    let bin = d.join("b.tsv");
    std::fs::write(&bin, bytes).unwrap();
    let text = data::read(&bin, &opts(DataFormat::Cola, &labels))
        .unwrap_err()
        .to_string();
    assert!(text.contains("b.tsv:2: not valid UTF-8"), "{text}");

    let headless = write(d, "h.tsv", "a\tb\n");
    let text = data::read(&headless, &opts(DataFormat::Paws, &labels))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("h.tsv:1:") && text.contains("no `sentence1` column"),
        "{text}"
    );

    let json = write(
        d,
        "j.jsonl",
        "{\"first\": \"a\", \"label\": \"1\"}\nnot json\n",
    );
    let text = data::read(&json, &opts(DataFormat::Jsonl, &labels))
        .unwrap_err()
        .to_string();
    assert!(text.contains("j.jsonl:2: not a JSON object"), "{text}");

    let missing = data::read(&d.join("nope.tsv"), &opts(DataFormat::Cola, &labels)).unwrap_err();
    assert!(missing.to_string().contains("nope.tsv"));
}

/// A named pipe can be read exactly once: reading MNLI-layout rows through one proves the
/// reader streams the file in a single pass.
#[test]
fn readers_take_one_pass_over_a_stream() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("train.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            writeln!(f, "genre\tsentence1\tsentence2\tgold_label").unwrap();
            for i in 0..20_000 {
                let label = ["entailment", "neutral", "contradiction"][i % 3];
                writeln!(f, "g{}\tPremise {i}.\tHypothesis {i}.\t{label}", i % 5).unwrap();
            }
        })
    };
    let ds = data::read(
        &fifo,
        &opts(
            DataFormat::Mnli,
            &["entailment", "neutral", "contradiction"],
        ),
    )
    .unwrap();
    writer.join().unwrap();
    assert_eq!(ds.examples.len(), 20_000);
    assert_eq!(ds.examples[19_999].first, "Premise 19999.");
}

#[test]
fn stratified_subsampling_keeps_label_shares_and_follows_the_seed() {
    let t = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!("s\t{}\t\tSentence {i}.\n", u8::from(i % 4 != 0)));
    }
    let p = write(t.path(), "c.tsv", &text);
    let read = || data::read(&p, &opts(DataFormat::Cola, &["0", "1"])).unwrap();
    let a = read().stratified(Some(100), 1);
    assert_eq!(a.examples.len(), 100);
    assert_eq!(a.label_counts()["0"], 25);
    let b = read().stratified(Some(100), 1);
    let c = read().stratified(Some(100), 2);
    assert_eq!(a.examples, b.examples);
    assert_ne!(a.examples, c.examples);
    assert_eq!(read().take_first(Some(3)).examples[2].first, "Sentence 2.");
}
