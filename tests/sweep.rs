//! `[sweep]`: one manifest, several sub-studies under their own node ids; work that does not
//! depend on the swept value runs once; the sweep's report compares the sub-studies with the
//! numbers of their own reports.

mod common;

use common::{basins_json, basins_ok, ground_truth_manifest, json_output};
use serde_json::Value;

fn manifest() -> String {
    ground_truth_manifest(0.53) + "\n[sweep]\n\"tasks.nli.generate.shortcut_share\" = [0.6, 0.8]\n"
}

#[test]
fn a_sweep_runs_each_value_as_a_sub_study_and_compares_them() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("m.toml"), manifest()).unwrap();
    let plan = basins_json(d, &["plan", "m.toml", "--json"]);
    let nodes: Vec<&Value> = plan.as_array().unwrap().iter().collect();
    let ids: Vec<&str> = nodes.iter().map(|p| p["node"].as_str().unwrap()).collect();
    for label in ["shortcut_share=0.6", "shortcut_share=0.8"] {
        assert!(
            ids.contains(&format!("{label}/finetune/nli/seed=3").as_str()),
            "{ids:?}"
        );
        assert!(ids.contains(&format!("{label}/report").as_str()));
    }
    assert!(ids.contains(&"report"));

    let run = basins_json(d, &["run", "m.toml", "--json"]);
    let count = |f: &str| run[f].as_array().unwrap().len();
    // pretraining and the HANS-style set do not depend on the share: each ran once.
    assert_eq!(
        count("executed") + count("cached") + count("reused"),
        ids.len()
    );
    assert_eq!(count("cached") + count("reused"), 2, "{run}");
    // Keys are known for every node once it has run.
    let plan = basins_json(d, &["plan", "m.toml", "--json"]);
    let key = |id: &str| {
        plan.as_array()
            .unwrap()
            .iter()
            .find(|p| p["node"] == id)
            .map(|p| p["key"].clone())
            .unwrap()
    };
    assert_eq!(
        key("shortcut_share=0.6/pretrain/tiny"),
        key("shortcut_share=0.8/pretrain/tiny")
    );
    assert_ne!(
        key("shortcut_share=0.6/finetune/nli/seed=0"),
        key("shortcut_share=0.8/finetune/nli/seed=0")
    );

    // The comparison is each sub-study's own numbers.
    let sweep = json_output(d, "report", "sweep.json");
    let variants = sweep["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    for v in variants {
        let label = v["label"].as_str().unwrap();
        let share = v["values"]["tasks.nli.generate.shortcut_share"]
            .as_f64()
            .unwrap();
        assert_eq!(label, format!("shortcut_share={share}"));
        let own = json_output(d, &format!("{label}/report"), "report.json");
        let hans = &own["tasks"]["nli"]["tests"]["hans"];
        let means: Vec<f64> = hans["per_cluster"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["mean"].as_f64().unwrap())
            .collect();
        let gap = means.iter().cloned().fold(f64::MIN, f64::max)
            - means.iter().cloned().fold(f64::MAX, f64::min);
        let row = &v["tasks"]["nli"]["sets"]["hans"];
        assert!((row["gap"].as_f64().unwrap() - gap).abs() < 1e-12, "{row}");
        assert_eq!(row["ari"], own["tasks"]["nli"]["strategies"]["hans"]["ari"]);
        assert_eq!(row["p"], hans["comparisons"][0]["mann_whitney"]["p"]);
    }

    // `basins report` writes the sweep's page with each sub-study's report beside it.
    let out = d.join("out");
    basins_ok(d, &["report", "m.toml", "--out", out.to_str().unwrap()]);
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("href=\"shortcut_share=0.6/index.html\""));
    assert!(page.contains("gap between basins"));
    assert!(page.contains("<svg"), "a curve against the swept value");
    assert!(out.join("shortcut_share=0.8/index.html").is_file());
}
