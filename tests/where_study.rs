//! `[interpolate] blocks` and `align` through the CLI.
//!
//! A planted permutation: a zoo of a finetuned tiny BERT, a randomly permuted copy of it and a
//! second finetuned model. The copy computes the same function (its per-example losses on every
//! eval row equal the original's within 1e-5); weight matching recovers the planted permutation
//! exactly (the aligned copy is the original bit for bit), so the barrier between the two, high
//! before alignment, is zero after; the aligned checkpoint is a Hugging Face directory that
//! `basins model predict` reads. Models that share a pretraining are matched nearly to the
//! identity, and their barrier stays. Each block's own path is scored at alpha 1 on a model made
//! of both, and the report shows both analyses.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use basins_stages::align::{from_host, permute, to_host, Permutation, Shape};
use basins_stages::model::{load, save};
use common::{basins_json, basins_ok, json_output, node_output};
use serde_json::Value;

const TRAIN: &str = r#"[study]
name = "train"
cache = "cache"

[models.tiny]
builtin = { layers = 2, hidden = 32, heads = 4, intermediate = 64, max_position = 64 }
pretrain = { steps = 100, batch_size = 32, lr = 2e-3, seed = 0, sentences = 1000 }

[tasks.nli]
format = "generated"
generate = { generator = "veridical", seed = 0, train = 1000, eval = 200, shortcut_share = 0.99 }
labels = ["entailment", "non-entailment"]

[finetune]
model = "tiny"
tasks = ["nli"]
seeds = "0..2"
lr = 1e-3
batch_size = 32
max_steps = 150
max_len = 48
"#;

const ZOO: &str = r#"[study]
name = "where"
cache = "cache"

[tasks.nli]
format = "generated"
generate = { generator = "veridical", seed = 0, train = 1000, eval = 200, shortcut_share = 0.99 }
labels = ["entailment", "non-entailment"]

[zoo]
task = "nli"
dir = "zoo"
members = ["a", "planted", "b"]

[interpolate]
pairs = "all"
alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
blocks = "per_layer"
hold = "both"
align = "weights"

[cluster]
k = 2

[report]
title = "where"
"#;

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn tensor(bytes: &[u8], name: &str) -> Vec<f32> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    f32s(st.tensor(name).unwrap().data())
}

/// Every tensor of a checkpoint, by name.
fn weights(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec()))
        .collect()
}

/// `src` with its units permuted by `perm`, saved as a checkpoint in `dst`.
fn planted_copy(src: &Path, dst: &Path, perm: &Permutation) {
    let labels = vec!["entailment".to_owned(), "non-entailment".to_owned()];
    let m = load::<basins_stages::backend::Cpu>(src, 2, 0, &Default::default()).unwrap();
    let s = Shape::of(&m.config);
    let host = permute(&to_host(&m.model), perm, &s).unwrap();
    save(
        &from_host(&m.model, &host),
        &m.config,
        &labels,
        Some(src),
        dst,
    )
    .unwrap();
}

fn inverse(p: &[usize]) -> Vec<usize> {
    let mut q = vec![0; p.len()];
    for (i, &j) in p.iter().enumerate() {
        q[j] = i;
    }
    q
}

#[test]
fn alignment_removes_a_planted_permutation_and_blocks_locate_barriers() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("train.toml"), TRAIN).unwrap();
    basins_ok(d, &["run", "train.toml"]);
    for (seed, name) in [(0, "a"), (1, "b")] {
        basins_ok(
            d,
            &[
                "export",
                "train.toml",
                &format!("finetune/nli/seed={seed}"),
                &format!("zoo/{name}"),
            ],
        );
    }
    let a =
        load::<basins_stages::backend::Cpu>(&d.join("zoo/a"), 2, 0, &Default::default()).unwrap();
    let planted = Permutation::random(&Shape::of(&a.config), 7);
    planted_copy(&d.join("zoo/a"), &d.join("zoo/planted"), &planted);

    std::fs::write(d.join("m.toml"), ZOO).unwrap();
    basins_ok(d, &["run", "m.toml"]);

    // The permuted copy computes A's function: on every eval row its loss is A's.
    let loss = |node: &str| tensor(&node_output(d, node, "eval/nli.eval.safetensors"), "loss");
    let (la, lp) = (
        loss("evaluate/nli/model=a"),
        loss("evaluate/nli/model=planted"),
    );
    assert_eq!(la.len(), 200);
    let worst = la
        .iter()
        .zip(&lp)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "a permuted model's losses differ by {worst}");

    // Weight matching recovers the planted permutation: its inverse, group by group, and the
    // aligned copy is A's checkpoint bit for bit.
    let matching = json_output(d, "align/nli/a~planted", "matching.json");
    let found: Permutation =
        serde_json::from_value(matching["matching"]["permutation"].clone()).unwrap();
    assert_eq!(found.residual, inverse(&planted.residual));
    for (got, put) in found.layers.iter().zip(&planted.layers) {
        assert_eq!(got.heads, inverse(&put.heads));
        assert_eq!(got.ffn, inverse(&put.ffn));
    }
    let aligned = weights(&node_output(
        d,
        "align/nli/a~planted",
        "model/model.safetensors",
    ));
    let original = weights(&std::fs::read(d.join("zoo/a/model.safetensors")).unwrap());
    assert_eq!(aligned, original);
    assert_eq!(matching["matching"]["distance_after"], 0.0);

    // So the barrier between A and its permuted copy, far from zero before, is zero after.
    let doc = json_output(d, "aligned/nli", "aligned.json");
    let pair = doc["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["a"] == 0 && p["b"] == 1)
        .unwrap()
        .clone();
    let before = pair["before"].as_f64().unwrap();
    let after = pair["after"].as_f64().unwrap();
    assert!(before > 0.05, "{pair}");
    assert!(after < 1e-5, "{pair}");
    assert!(doc["end_loss_change"].as_f64().unwrap() < 1e-5, "{doc}");
    // A and B share one pretraining: their matching leaves nearly every unit in place, and
    // the barrier between them stays.
    let ab = doc["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["a"] == 0 && p["b"] == 2)
        .unwrap()
        .clone();
    for (kind, share) in ab["identity"].as_object().unwrap() {
        assert!(share.as_f64().unwrap() >= 0.9, "{kind}: {ab}");
    }
    let (b0, b1) = (
        ab["before"].as_f64().unwrap(),
        ab["after"].as_f64().unwrap(),
    );
    assert!(b1 >= 0.5 * b0, "{ab}");

    // The aligned checkpoint is a Hugging Face directory: exported, `basins model predict`
    // gives A's prediction.
    basins_ok(d, &["export", "m.toml", "align/nli/a~planted", "aligned"]);
    let predict = |dir: &str| -> Value {
        basins_json(
            d,
            &[
                "model",
                "predict",
                dir,
                "--pair",
                "a cat sat",
                "a cat sat down",
                "--json",
            ],
        )
    };
    let (pa, pp) = (predict("zoo/a"), predict("aligned"));
    assert_eq!(pa["label"], pp["label"], "{pa} {pp}");

    // Block paths: every block of the 2-layer model, each at both holds, ending (alpha 1) at a
    // model of both; the path from A to its permuted copy moves blocks that no longer fit the
    // rest, so some block has a barrier.
    let blocks = json_output(d, "blocks/nli", "blocks.json");
    assert_eq!(
        blocks["blocks"],
        serde_json::json!(["embeddings", "layer.0", "layer.1", "pooler+head"])
    );
    assert_eq!(blocks["summaries"].as_array().unwrap().len(), 8);
    // Its medians are those of its pairs: the whole paths' within and between basins.
    let median = |same: bool| {
        let mut v: Vec<f64> = blocks["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["same_basin"] == same)
            .map(|p| p["whole"].as_f64().unwrap())
            .collect();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    };
    assert_eq!(blocks["whole"]["within"].as_f64(), median(true), "{blocks}");
    assert_eq!(
        blocks["whole"]["between"].as_f64(),
        median(false),
        "{blocks}"
    );
    let planted_pair = blocks["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["a"] == 0 && p["b"] == 1)
        .unwrap()
        .clone();
    let most = planted_pair["blocks"]["a"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .fold(0.0, f64::max);
    assert!(most > 0.01, "{planted_pair}");
    let path = node_output(
        d,
        "interpolate/nli/a~planted/blocks",
        "path/a/layer.0/nli.eval.safetensors",
    );
    let st = safetensors::SafeTensors::deserialize(&path).unwrap();
    assert_eq!(
        st.tensor("loss").unwrap().shape()[0],
        4,
        "3 interior alphas and the end"
    );

    // The report has the section.
    let page = std::fs::read_to_string(
        basins_json(d, &["show", "m.toml", "report", "--json"])["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "index.html")
            .unwrap()["path"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(page.contains("Where is the barrier?"));
    assert!(page.contains("id=\"blocks-nli\""));
    assert!(page.contains("id=\"aligned-nli\""));
}
