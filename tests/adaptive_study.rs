//! `[interpolate] mode = "adaptive"` through the CLI on a small generated study (tiny BERT,
//! 4 seeds, 6 pairs, 400 loss-surface rows): `basins bench --modes` against the grid in one
//! cache; the estimates' contract against the grid values; an adaptive study whose budget lets
//! every alpha see every example reproduces the grid's barrier document exactly; the same
//! adaptive study in a second cache writes the same bytes.

mod common;

use std::path::Path;

use common::{basins_json, basins_ok, node_output_of};
use serde_json::Value;

const GRID: &str = r#"[study]
name = "grid"
cache = "cache"

[models.tiny]
builtin = { layers = 1, hidden = 32, heads = 2, intermediate = 64, max_position = 64 }
pretrain = { steps = 60, batch_size = 16, lr = 2e-3, seed = 0, sentences = 400 }

[tasks.nli]
format = "generated"
generate = { generator = "nli", seed = 0, train = 400, eval = 400, shortcut_share = 0.8 }
labels = ["entailment", "non-entailment"]

[finetune]
model = "tiny"
tasks = ["nli"]
seeds = "0..4"
lr = 1e-3
batch_size = 16
max_steps = 12
max_len = 48

[interpolate]
pairs = "all"
alphas = { linspace = [0.0, 1.0, 6] }

[cluster]
k = 2

[report]
title = "adaptive"
"#;

fn adaptive(name: &str, contract: &str) -> String {
    format!(
        "include = [\"grid.toml\"]\n\n[study]\nname = \"{name}\"\n\n[interpolate]\nmode = \
         \"adaptive\"\n{contract}\n"
    )
}

/// A node's output file of study `manifest` in `dir` (`--cache` when given).
fn output(dir: &Path, cache: Option<&str>, manifest: &str, node: &str, name: &str) -> Vec<u8> {
    let flags: Vec<&str> = cache.map(|c| vec!["--cache", c]).unwrap_or_default();
    node_output_of(dir, &flags, manifest, node, name)
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn adaptive_paths_keep_their_contract_and_reproduce_the_grid_when_given_its_budget() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("grid.toml"), GRID).unwrap();
    std::fs::write(d.join("a.toml"), adaptive("a", "budget = 0.3")).unwrap();
    // A tolerance no estimate meets and the whole grid as budget: every path goes exact.
    std::fs::write(
        d.join("e.toml"),
        adaptive("e", "tolerance = 1e-12\nbudget = 1.0"),
    )
    .unwrap();

    // Grid and adaptive side by side, in one cache.
    let c = basins_json(d, &["bench", "--modes", "a.toml", "--json"]);
    assert_eq!(c["budget"], 0.3);
    assert_eq!(c["tolerance"], 0.01);
    let task = &c["tasks"][0];
    assert_eq!(task["barrier"], "convexity");
    assert!(task["ari"].as_f64().is_some(), "{c}");
    let s = &task["sets"][0];
    assert_eq!(s["set"], "nli.eval");
    assert_eq!(s["pairs"], 6);
    let (spent, grid) = (
        s["adaptive_forward_passes"].as_u64().unwrap(),
        s["grid_forward_passes"].as_u64().unwrap(),
    );
    // 4 interior alphas x 400 rows x 6 pairs.
    assert_eq!(grid, 4 * 400 * 6);
    assert!(spent > 0 && spent as f64 <= 0.3 * grid as f64 + 6.0, "{s}");
    // The contract: every estimate within the tolerance of the grid value, or flagged
    // (unsettled) with an interval holding it.
    assert_eq!(s["beyond_tolerance"], s["beyond_tolerance_flagged"], "{s}");

    // The documents say which entries are estimates.
    let barriers = json(&output(d, None, "a.toml", "barriers/nli", "barriers.json"));
    let estimates = barriers["sets"]["nli.eval"]["estimates"]
        .as_object()
        .unwrap();
    assert_eq!(estimates.len(), 6);
    for (pair, e) in estimates {
        let e = &e["estimate"];
        let (v, lo, hi) = (
            e["value"].as_f64().unwrap(),
            e["low"].as_f64().unwrap(),
            e["high"].as_f64().unwrap(),
        );
        assert!(lo <= v && v <= hi, "{pair}: {e}");
        assert_eq!(
            e["settled"].as_bool().unwrap(),
            hi - lo <= 0.01,
            "{pair}: {e}"
        );
    }
    let csv = String::from_utf8(output(d, None, "a.toml", "barriers/nli", "barriers.csv")).unwrap();
    assert!(csv.starts_with("set,a,b,kind,value,ci_low,ci_high,estimated\n"));
    let cluster = json(&output(d, None, "a.toml", "cluster/nli", "cluster.json"));
    let r = &cluster["estimates"];
    let estimated = estimates
        .values()
        .filter(|e| e["estimate"]["exact"] == false)
        .count();
    assert_eq!(r["estimated"], estimated);
    assert_eq!(r["draws"], 200);
    assert!(r["identical"].as_u64().unwrap() <= 200);
    basins_ok(d, &["report", "a.toml", "--out", "report-a"]);
    let page = std::fs::read_to_string(d.join("report-a/index.html")).unwrap();
    assert!(
        page.contains("id=\"estimates-nli\""),
        "no estimates section"
    );
    // A grid study's page has no such section, and its documents no estimates.
    let grid_barriers = output(d, None, "grid.toml", "barriers/nli", "barriers.json");
    assert!(!String::from_utf8_lossy(&grid_barriers).contains("estimates"));

    // The whole budget: every path exact, and the barrier document is the grid's (values,
    // intervals, curves), since the adaptive scores are the grid's bit for bit.
    basins_ok(d, &["run", "e.toml"]);
    let exact = json(&output(d, None, "e.toml", "barriers/nli", "barriers.json"));
    let grid = json(&grid_barriers);
    let (es, gs) = (&exact["sets"]["nli.eval"], &grid["sets"]["nli.eval"]);
    for e in es["estimates"].as_object().unwrap().values() {
        assert_eq!(e["estimate"]["exact"], true, "{e}");
    }
    assert_eq!(es["matrices"], gs["matrices"]);
    assert_eq!(es["curves"], gs["curves"]);
    assert_eq!(es["alphas"], gs["alphas"]);

    // Deterministic: the adaptive study in a fresh cache writes the same bytes.
    basins_ok(d, &["--cache", "again", "run", "a.toml"]);
    for node in ["interpolate/nli/0~3", "barriers/nli"] {
        let file = if node.starts_with("barriers") {
            "barriers.json"
        } else {
            "path/nli.eval.safetensors"
        };
        assert_eq!(
            output(d, None, "a.toml", node, file),
            output(d, Some("again"), "a.toml", node, file),
            "{node}/{file}"
        );
    }
}
