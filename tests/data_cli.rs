//! `basins data generate` and `basins data check` as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn basins(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_basins"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn generated_hans_is_deterministic_and_checks_as_thirty_subcases() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for (seed, out) in [("3", "a.tsv"), ("3", "b.tsv"), ("4", "c.tsv")] {
        let o = basins(
            d,
            &[
                "data",
                "generate",
                "hans",
                "--seed",
                seed,
                "--per-subcase",
                "20",
                "--out",
                out,
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let read = |f: &str| std::fs::read(d.join(f)).unwrap();
    assert_eq!(read("a.tsv"), read("b.tsv"), "same seed, same bytes");
    assert_ne!(read("a.tsv"), read("c.tsv"));
    let o = basins(d, &["data", "check", "a.tsv", "--format", "hans", "--json"]);
    assert!(o.status.success());
    let r = json(&o);
    assert_eq!(r["rows"], 600);
    assert_eq!(r["per_label"]["entailment"], 300);
    assert_eq!(r["per_label"]["non-entailment"], 300);
    let subcases = r["groups"]["subcase"]["counts"].as_object().unwrap();
    assert_eq!(subcases.len(), 30);
    assert!(subcases.values().all(|n| n == 20));
    assert_eq!(r["groups"]["heuristic"]["counts"]["constituent"], 200);
}

#[test]
fn generated_nli_task_writes_both_splits() {
    let t = tempfile::tempdir().unwrap();
    let o = basins(
        t.path(),
        &[
            "data",
            "generate",
            "nli",
            "--train",
            "300",
            "--eval",
            "100",
            "--shortcut-share",
            "0.7",
            "--out",
            "nli",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = basins(
        t.path(),
        &[
            "data",
            "check",
            "nli/train.jsonl",
            "--format",
            "generated",
            "--json",
        ],
    );
    let r = json(&o);
    assert_eq!(r["rows"], 300);
    let agree = r["groups"]["shortcut"]["counts"]["agrees"]
        .as_u64()
        .unwrap();
    assert!((180..=240).contains(&agree), "{agree} of 300 at share 0.7");
    assert_eq!(
        json(&basins(
            t.path(),
            &[
                "data",
                "check",
                "nli/eval.jsonl",
                "--format",
                "generated",
                "--json"
            ]
        ))["rows"],
        100
    );
    let bad = basins(
        t.path(),
        &[
            "data",
            "generate",
            "nli",
            "--shortcut-share",
            "1.5",
            "--out",
            "x",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("between 0 and 1"));
}

#[test]
fn generated_veridical_task_writes_a_conflict_only_eval_split_on_request() {
    let t = tempfile::tempdir().unwrap();
    let args = |adverbs: &'static str| {
        [
            "data",
            "generate",
            "veridical",
            "--train",
            "200",
            "--eval",
            "100",
            "--shortcut-share",
            "1.0",
            "--eval-shortcut-share",
            "0",
            "--adverbs",
            adverbs,
            "--out",
            "v",
        ]
    };
    let o = basins(t.path(), &args("2"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let check = |file: &str| {
        json(&basins(
            t.path(),
            &["data", "check", file, "--format", "generated", "--json"],
        ))
    };
    let train = check("v/train.jsonl");
    assert_eq!(train["rows"], 200);
    assert_eq!(train["groups"]["shortcut"]["counts"]["agrees"], 200);
    assert_eq!(
        train["groups"]["adverb"]["counts"]
            .as_object()
            .unwrap()
            .len(),
        4,
        "two adverbs of each kind"
    );
    let eval = check("v/eval.jsonl");
    assert_eq!(eval["rows"], 100);
    assert_eq!(eval["groups"]["shortcut"]["counts"]["disagrees"], 100);
    let bad = basins(t.path(), &args("9"));
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("`adverbs` is 9"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn check_lists_the_first_bad_rows_with_file_and_line() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(
        d.join("bad.tsv"),
        "s\t1\t\tFine.\ns\tx\t*\tWrong label.\ns\t0\tThree columns.\n",
    )
    .unwrap();
    let o = basins(d, &["data", "check", "bad.tsv", "--format", "cola"]);
    assert_eq!(o.status.code(), Some(2));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2 bad rows"), "{text}");
    assert!(
        text.contains("bad.tsv:2: label `x` is not in the declared label set"),
        "{text}"
    );
    assert!(
        text.contains("bad.tsv:3: expected 4 tab-separated columns"),
        "{text}"
    );
    let o = basins(d, &["data", "check", "bad.tsv", "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs --labels"));
    // The manifest's words for a label listed twice (it was accepted here).
    let o = basins(
        d,
        &[
            "data", "check", "bad.tsv", "--format", "cola", "--labels", "x,x",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("label `x` is listed twice"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = basins(d, &["data", "check", "bad.tsv", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a data format"));
    let o = basins(d, &["data", "check", "missing.tsv", "--format", "cola"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.tsv"));
}

/// A file with no line breaks is refused at the line-length limit (before: the reader grew one
/// line until the allocation failed and the process aborted); a device such as `/dev/zero` or
/// `/dev/urandom` is refused before any read (before: read for ever).
#[test]
fn a_file_without_line_breaks_is_refused_not_read_forever() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("one.tsv"), vec![b'a'; 2 << 20]).unwrap();
    let out = basins(t.path(), &["data", "check", "one.tsv", "--format", "cola"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("one.tsv:1: the line is longer than 1048576 bytes"),
        "{err}"
    );
    for dev in ["/dev/zero", "/dev/urandom"] {
        let out = basins(t.path(), &["data", "check", dev, "--format", "cola"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("{dev}: not a regular file")), "{err}");
    }
}

/// A file whose every row is bad names the first bad rows (before: only "no examples in this
/// file"), and `--json` prints the verdict (before: nothing).
#[test]
fn a_file_of_only_bad_rows_names_them() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("bad.tsv"), "only one column\nstill one\n").unwrap();
    let out = basins(d, &["data", "check", "bad.tsv", "--format", "cola"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no examples in this file: all 2 rows were bad; the first: bad.tsv:1: expected 4 tab-separated columns"),
        "{err}"
    );
    let out = basins(
        d,
        &["data", "check", "bad.tsv", "--format", "cola", "--json"],
    );
    assert_eq!(out.status.code(), Some(2));
    let v = json(&out);
    assert!(
        v["error"].as_str().unwrap().contains("all 2 rows were bad"),
        "{v}"
    );
}

/// `--field` with a layout whose columns are fixed was silently ignored; it is refused as the
/// manifest refuses `fields` there (issue 32).
#[test]
fn fields_for_a_fixed_layout_are_refused() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("d.tsv"), "gj04\t1\t\tThe cat sat.\n").unwrap();
    let o = basins(
        t.path(),
        &[
            "data", "check", "d.tsv", "--format", "cola", "--field", "bogus=x",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--field names JSONL fields, and --format is cola"),
        "{err}"
    );
}

/// `data generate --out` onto a FIFO, a device or a symbolic link is refused: the atomic rename
/// once replaced `/dev/full` itself with a regular file (as root), exit 0 (issue 32).
#[test]
fn generate_out_refuses_devices_fifos_and_links() {
    use std::os::unix::fs::FileTypeExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let fifo = d.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::write(d.join("real.tsv"), "keep me").unwrap();
    std::os::unix::fs::symlink(d.join("real.tsv"), d.join("link.tsv")).unwrap();
    for (out, found) in [
        ("fifo", "a device, FIFO or socket"),
        ("/dev/null", "a device, FIFO or socket"),
        ("link.tsv", "a symbolic link"),
    ] {
        let o = basins(
            d,
            &[
                "data",
                "generate",
                "hans",
                "--per-subcase",
                "1",
                "--out",
                out,
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{out}: {err}");
        assert!(err.contains(&format!("it is {found}")), "{out}: {err}");
    }
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    assert_eq!(
        std::fs::read_to_string(d.join("real.tsv")).unwrap(),
        "keep me"
    );
    // A regular file is replaced, as before.
    let o = basins(
        d,
        &[
            "data",
            "generate",
            "hans",
            "--per-subcase",
            "1",
            "--out",
            "real.tsv",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(std::fs::read_to_string(d.join("real.tsv"))
        .unwrap()
        .starts_with("gold_label"));
}
