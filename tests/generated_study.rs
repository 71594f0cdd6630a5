//! A study that makes everything itself, through `basins run`: generated NLI and HANS-style
//! data, a tiny BERT pretrained by the pipeline, finetuning, evaluation and per-group
//! diagnostics; and the caching promises (finetune settings never re-pretrain; a new
//! diagnostic set re-evaluates without refinetuning).

mod common;

use std::path::Path;
use std::process::Command;

use common::{basins_json, node_output, set, GENERATED as MANIFEST};
use serde_json::Value;

fn run(dir: &Path) -> Value {
    basins_json(dir, &["run", "m.toml", "--json"])
}

fn output(dir: &Path, node: &str, name: &str) -> String {
    String::from_utf8(node_output(dir, node, name)).unwrap()
}

fn edit(dir: &Path, from: &str, to: &str) {
    let p = dir.join("m.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from));
    std::fs::write(p, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_generated_study_pretrains_once_and_reports_per_group_diagnostics() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("m.toml"), MANIFEST).unwrap();
    let first = run(d);
    assert_eq!(
        set(&first, "executed"),
        common::ids(&[
            "generate/nli",
            "generate/hans",
            "pretrain/tiny",
            "finetune/nli/seed=0",
            "finetune/nli/seed=1",
            "evaluate/nli/seed=0",
            "evaluate/nli/seed=1",
            "diagnostics/nli",
        ])
    );

    // The pretrained model: its own vocabulary, no classifier, a masked-LM loss well under
    // chance (ln of the vocabulary size).
    let config: Value =
        serde_json::from_str(&output(d, "pretrain/tiny", "model/config.json")).unwrap();
    let vocab = output(d, "pretrain/tiny", "model/vocab.txt")
        .lines()
        .count();
    assert_eq!(config["vocab_size"], vocab);
    assert!(config.get("id2label").is_none());
    let log: Vec<Value> = output(d, "pretrain/tiny", "pretrain_log.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = log.last().unwrap()["loss"].as_f64().unwrap();
    assert!(
        last < (vocab as f64).ln() - 1.0,
        "MLM loss {last} vs ln({vocab})"
    );

    // Diagnostics: HANS by subcase and by heuristic x gold label, with the paper's slice as
    // the primary score; the generated task's shortcut groups.
    let diag: Value =
        serde_json::from_str(&output(d, "diagnostics/nli", "diagnostics.json")).unwrap();
    let hans = &diag["sets"]["hans"];
    assert!(hans["primary"]
        .as_str()
        .unwrap()
        .contains("lexical_overlap/non-entailment"));
    for seed in ["0", "1"] {
        let m = &hans["per_model"][seed];
        assert_eq!(m["groups"]["subcase"].as_object().unwrap().len(), 30);
        assert_eq!(
            m["groups"]["heuristic x label"].as_object().unwrap().len(),
            6
        );
        assert_eq!(m["overall"]["examples"], 90);
        let slice = m["groups"]["heuristic x label"]["lexical_overlap/non-entailment"]["accuracy"]
            .as_f64()
            .unwrap();
        assert_eq!(m["primary"]["value"].as_f64().unwrap(), slice);
    }
    assert_eq!(hans["summary"]["primary"]["n"], 2);
    let nli = &diag["sets"]["nli.eval"];
    assert!(nli["primary"].as_str().unwrap().contains("shortcut"));
    assert!(
        nli["per_model"]["0"]["groups"]["shortcut"]["disagrees"]["examples"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    let csv = output(d, "diagnostics/nli", "diagnostics.csv");
    assert!(csv.starts_with("set,seed,group,value,examples,accuracy,loss,mcc,f1\n"));
    assert!(csv.contains("\nhans,1,subcase,sn_NP/Z,3,"));

    // Finetuning settings never re-pretrain or regenerate.
    edit(d, "lr = 1e-3", "lr = 5e-4");
    let second = run(d);
    let executed = set(&second, "executed");
    assert!(executed.iter().all(|n| n.starts_with("finetune/")
        || n.starts_with("evaluate/")
        || n == "diagnostics/nli"));
    assert_eq!(executed.len(), 5);

    // A bigger diagnostic set: regenerated and re-evaluated, not refinetuned.
    edit(d, "per_subcase = 3", "per_subcase = 4");
    let third = run(d);
    assert_eq!(
        set(&third, "executed"),
        common::ids(&[
            "generate/hans",
            "evaluate/nli/seed=0",
            "evaluate/nli/seed=1",
            "diagnostics/nli",
        ])
    );
}

#[test]
fn bad_generator_and_pretrain_settings_are_manifest_errors() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let cases = [
        (
            "shortcut_share = 0.8",
            "shortcut_share = 2.0",
            "between 0 and 1",
            11,
        ),
        ("per_subcase = 3", "per_subkase = 3", "per_subkase", 17),
        ("sentences = 400", "sentences = 400, masks = 1", "masks", 7),
        ("lr = 2e-3, seed", "lr = -1.0, seed", "`lr` is -1", 7),
    ];
    for (from, to, says, line) in cases {
        std::fs::write(d.join("m.toml"), MANIFEST.replacen(from, to, 1)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_basins"))
            .current_dir(d)
            .args(["plan", "m.toml"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{to}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{to}: {err}");
        assert!(err.contains(&format!("m.toml:{line}:")), "{to}: {err}");
    }
}
