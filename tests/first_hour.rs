//! What a new user meets first, through the real CLI (`basins-testkit`): where the cache is,
//! an empty cache explained, `why` naming the upstream change, pair suggestions, errors said
//! once, a report folder that belongs to another study, and `export`.

mod common;

use common::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn plan_run_and_report_name_the_cache_and_explain_an_empty_one() {
    let fx = Fixture::new();
    let cache = std::fs::canonicalize(fx.dir.path()).unwrap().join("cache");
    let out = fx.cli(&["plan", "m.toml"]);
    assert_success(&out, &["plan"]);
    let first = stdout(&out).lines().next().unwrap_or_default().to_owned();
    assert!(first.starts_with("cache    "), "{first}");
    assert!(first.contains(&cache.display().to_string()), "{first}");
    assert!(
        first.contains("relative to the manifest's folder"),
        "{first}"
    );
    assert!(
        first.contains("is empty: nothing has run with it yet"),
        "{first}"
    );
    // `run` says it on stderr, first; once something ran, the cache is no longer empty.
    let out = fx.cli(&["run", "m.toml"]);
    assert_success(&out, &["run"]);
    let err = stderr(&out);
    assert!(err.starts_with("cache    "), "{err}");
    let out = fx.cli(&["plan", "m.toml"]);
    let first = stdout(&out).lines().next().unwrap_or_default().to_owned();
    assert!(!first.contains("is empty"), "{first}");
    // A warm run says that nothing ran, not "20 nodes".
    let out = fx.cli(&["run", "m.toml"]);
    assert!(
        stderr(&out).contains(&format!("t: all {NODES} nodes cached, nothing ran")),
        "{}",
        stderr(&out)
    );
    // A copy of the manifest in another folder: its own, empty cache, and the line says why.
    std::fs::create_dir_all(fx.path("elsewhere/data")).unwrap();
    for f in ["train.tsv", "dev.tsv", "ood.tsv"] {
        std::fs::copy(
            fx.path(&format!("data/{f}")),
            fx.path(&format!("elsewhere/data/{f}")),
        )
        .unwrap();
    }
    fx.write("elsewhere/m.toml", MANIFEST);
    let out = fx.cli(&["plan", "elsewhere/m.toml"]);
    let first = stdout(&out).lines().next().unwrap_or_default().to_owned();
    assert!(first.contains("elsewhere/cache"), "{first}");
    assert!(first.contains("is empty"), "{first}");
    // `--cache` points it at the first study's cache: nothing is new.
    let out = fx.cli(&["--cache", "cache", "plan", "elsewhere/m.toml"]);
    let text = stdout(&out);
    assert!(
        text.lines().next().unwrap().contains("given by --cache"),
        "{text}"
    );
    assert!(text.contains(&format!("{NODES} fresh")), "{text}");
}

/// The complaint: `why barriers/x` after an `lr` edit answered with another copy of the study
/// (its seeds), not the learning rate.
#[test]
fn why_names_the_upstream_change_even_with_a_second_copy_of_the_study_in_the_cache() {
    let fx = Fixture::new();
    fx.run(&[]);
    // A copy of the study (same name, same cache) with other seeds, run after the first.
    fx.write(
        "copy.toml",
        &MANIFEST.replace("seeds = \"0..4\"", "seeds = \"0..3\""),
    );
    assert_success(&fx.cli(&["run", "copy.toml"]), &["run copy.toml"]);
    fx.edit("lr = 2e-5", "lr = 5e-5");
    let why = fx.json(&["why", "m.toml", "barriers/cola", "--json"]);
    let node = &why[0];
    assert_eq!(node["status"], "blocked", "{node}");
    let causes = node["causes"].as_array().expect("causes");
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(
        causes[0]["reason"],
        "param `hyper.lr` changed: 0.00002 -> 0.00005"
    );
    let at: Vec<&str> = causes[0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        at,
        [
            "finetune/cola/seed=0",
            "finetune/cola/seed=1",
            "finetune/cola/seed=2",
            "finetune/cola/seed=3"
        ]
    );
    let reasons = node["reasons"].to_string();
    assert!(
        !reasons.contains("seeds"),
        "compared with the copy: {reasons}"
    );
    // The text names it first.
    let out = fx.cli(&["why", "m.toml", "barriers/cola"]);
    let text = stdout(&out);
    let second = text.lines().nth(1).unwrap_or_default();
    assert!(
        second.contains(
            "because upstream, in `finetune/cola/seed=0` and 3 more: param `hyper.lr` changed"
        ),
        "{text}"
    );
    // A node whose input role is its upstream's id does not say it waits on itself.
    let text = stdout(&fx.cli(&["why", "m.toml", "report"]));
    assert!(!text.contains("waits on `cluster/cola`"), "{text}");
    // The copy, never run from its own file before the edit of m.toml? It has: it compares
    // with its own last run and is fresh.
    let out = fx.cli(&["plan", "copy.toml"]);
    assert!(
        stdout(&out).contains(" 0 to run, 0 blocked"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_copy_never_run_from_its_file_says_what_it_is_compared_with() {
    let fx = Fixture::new();
    fx.run(&[]);
    fx.write("copy.toml", &MANIFEST.replace("k = 2", "k = 3"));
    let why = fx.json(&["why", "copy.toml", "cluster/cola", "--json"]);
    let reasons = &why[0]["reasons"];
    assert_eq!(reasons[0]["reason"], "other_file", "{reasons}");
    assert_eq!(reasons[1]["param"], "k.fixed", "{reasons}");
    // `plan` says it once, not on every node.
    let text = stdout(&fx.cli(&["plan", "copy.toml"]));
    assert_eq!(
        text.matches("never run from this manifest file").count(),
        1,
        "{text}"
    );
}

#[test]
fn a_reversed_pair_suggests_the_pair_that_exists_and_errors_are_said_once() {
    let fx = Fixture::new();
    let out = fx.cli(&["why", "m.toml", "interpolate/cola/3~1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `interpolate/cola/1~3`?"),
        "{}",
        stderr(&out)
    );
    let out = fx.cli(&["plan", "missing.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn report_refuses_a_folder_that_holds_another_studys_report() {
    let fx = Fixture::new();
    let out = fx.cli(&["report", "m.toml"]);
    assert_success(&out, &["report"]);
    let marker = std::fs::read_to_string(fx.path("report/.basins-report")).unwrap();
    assert!(marker.contains("\"study\": \"t\""), "{marker}");
    // Its own folder again: fine.
    assert_success(&fx.cli(&["report", "m.toml"]), &["report again"]);
    // A copy of the manifest beside it would write the same `report/`: refused, before it runs.
    fx.write("copy.toml", &MANIFEST.replace("k = 2", "k = 3"));
    let out = fx.cli(&["report", "copy.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("holds the report of another study"), "{err}");
    assert!(err.contains("--out DIR"), "{err}");
    assert!(!err.contains("ran "), "it ran before refusing: {err}");
    // `--out` elsewhere works; `--overwrite` takes the folder over.
    assert_success(
        &fx.cli(&["report", "copy.toml", "--out", "report-copy"]),
        &["--out"],
    );
    assert_success(
        &fx.cli(&["report", "copy.toml", "--overwrite"]),
        &["--overwrite"],
    );
    let marker = std::fs::read_to_string(fx.path("report/.basins-report")).unwrap();
    assert!(marker.contains("copy.toml"), "{marker}");
    // A folder of other files is not a report folder.
    std::fs::create_dir_all(fx.path("notes")).unwrap();
    fx.write("notes/todo.txt", "mine");
    let out = fx.cli(&["report", "m.toml", "--out", "notes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a report folder"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(fx.path("notes/todo.txt")).unwrap(),
        "mine"
    );
}
