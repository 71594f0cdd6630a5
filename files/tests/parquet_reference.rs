//! basins' reader of the Hub's parquet files (`basins_files::hub::dataset`) against the
//! library that writes them: `datasets` (`scripts/reference/hub_data.py`) writes files in the
//! layouts the paper's data sets come in (GLUE's MNLI over several row groups, HANS's
//! conversion with its group columns and parses, a one-sentence set whose labels are strings),
//! with their features in the file's metadata, and reads each back, naming integer labels by
//! the data set's ClassLabel; basins' rows must be the same, row for row.
//!
//! Needs Python 3 with `datasets` (`scripts/python-ref` installs it): `#[ignore]`d, so a machine
//! without it shows the test as ignored; `scripts/test` runs it with the other Python
//! cross-checks, and with `BASINS_REQUIRE_PYTHON=1` (as `.ci/run` sets) a missing interpreter is
//! a failure.

#[path = "../../tests/support/python.rs"]
mod python_env;

use basins_files::hub::dataset::convert;
use basins_study::manifest::hub_data::{Columns, HubSplit};
use serde_json::Value;

#[test]
#[ignore = "needs Python with datasets; scripts/test runs it"]
fn rows_match_what_datasets_reads_back() {
    let Some(py) = python_env::python("datasets", "datasets", "the parquet reference cross-check")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    python_env::succeed(
        python_env::script(&py, "hub_data.py")
            .arg(dir.path())
            // `datasets` caches what it reads back: under the test's folder, never the user's.
            .env("HF_DATASETS_CACHE", dir.path().join("hf-cache"))
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_DATASETS_DISABLE_PROGRESS_BARS", "1"),
        "the parquet",
    );
    for case in ["mnli", "hans", "strings"] {
        let want: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{case}.json"))).unwrap(),
        )
        .unwrap();
        let text = |k: &str| want[k].as_str().unwrap().to_owned();
        let groups: Vec<String> = serde_json::from_value(want["groups"].clone()).unwrap();
        let rows = want["rows"].as_array().unwrap();
        let mut labels: Vec<String> = rows
            .iter()
            .map(|r| r["label"].as_str().unwrap().to_owned())
            .collect();
        labels.sort();
        labels.dedup();
        let spec = HubSplit {
            repo: "reference/data".into(),
            commit: None,
            config: "default".into(),
            split: case.into(),
            columns: Columns {
                first: Some(text("first")),
                second: Some(text("second")),
                label: Some(text("label")),
                groups: Some(groups),
            },
            label_names: None,
            rename: Default::default(),
            labels: labels.clone(),
        };
        let file = dir.path().join(format!("{case}.parquet"));
        let mut jsonl = Vec::new();
        let done = convert(&[(file.as_path(), case)], &spec, &mut jsonl)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let got: Vec<Value> = String::from_utf8(jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), rows.len(), "{case}");
        for (i, (g, w)) in got.iter().zip(rows).enumerate() {
            assert_eq!(g, w, "{case}: row {i}");
        }
        assert_eq!(done.rows, rows.len());
        let names: Option<Vec<String>> = serde_json::from_value(want["names"].clone()).unwrap();
        assert_eq!(done.label_names, names, "{case}: the ClassLabel names");
    }
}
