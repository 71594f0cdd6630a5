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
    let o = basins(d, &["data", "check", "bad.tsv", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a data format"));
    let o = basins(d, &["data", "check", "missing.tsv", "--format", "cola"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.tsv"));
}

/// A file with no line breaks (here `/dev/zero`, endless) is refused at the line-length limit
/// (before: the reader grew one line until the allocation failed and the process aborted).
#[test]
fn a_file_without_line_breaks_is_refused_not_read_forever() {
    let t = tempfile::tempdir().unwrap();
    let out = basins(
        t.path(),
        &["data", "check", "/dev/zero", "--format", "cola"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/dev/zero:1: the line is longer than 1048576 bytes"),
        "{err}"
    );
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
