//! Finetuning behaves as a study needs: the seed's streams change the weights, the same seed
//! reproduces them bit for bit on CPU, a killed run resumes to exactly the uninterrupted
//! result, and the evaluate metrics are computed from real predictions. A tiny BERT (random
//! weights, MiniLM's tokenizer) keeps these fast; `cola_minilm` does the real thing.

use std::path::Path;

use crate::backend::{Cpu, CpuTrain};
use crate::eval::evaluate;
use crate::model::{init_random, load, save, BertClassifier, BertConfig};
use crate::text::TextEncoder;
use crate::train::{finetune, FinetuneSpec, Hyper, Streams};
use basins_files::data::{read, DataFormat, Dataset, OnBadRow, ReadOptions};

fn labels() -> Vec<String> {
    vec!["0".into(), "1".into()]
}

/// A 2-layer, hidden-32 BERT with random weights and MiniLM's tokenizer files.
fn tiny_model(dir: &Path) {
    let minilm = super::common::minilm_dir();
    let mut cfg: BertConfig =
        serde_json::from_slice(&std::fs::read(minilm.join("config.json")).unwrap()).unwrap();
    cfg.hidden_size = 32;
    cfg.num_hidden_layers = 2;
    cfg.num_attention_heads = 2;
    cfg.intermediate_size = 64;
    cfg.max_position_embeddings = 128;
    let mut model = BertClassifier::<Cpu>::new(&cfg, 2, &Default::default());
    init_random(&mut model, 0, &Default::default());
    save(&model, &cfg, &labels(), Some(&minilm), dir).unwrap();
}

/// A CoLA-layout file: acceptable sentences are subject-verb-object, unacceptable ones are
/// scrambled, so the task is learnable in a few steps.
fn toy_data(path: &Path, n: usize) -> Dataset {
    let nouns = [
        "cat", "dog", "teacher", "child", "doctor", "farmer", "bird", "student",
    ];
    let verbs = ["sees", "likes", "helps", "finds", "calls", "meets"];
    let mut rows = String::new();
    for i in 0..n {
        let (a, v, b) = (nouns[i % 8], verbs[(i / 8) % 6], nouns[(i * 3 + 1) % 8]);
        if i % 2 == 0 {
            rows.push_str(&format!("toy\t1\t\tthe {a} {v} the {b} .\n"));
        } else {
            rows.push_str(&format!("toy\t0\t*\t{v} the the {a} {b} .\n"));
        }
    }
    std::fs::write(path, rows).unwrap();
    read(
        path,
        &ReadOptions {
            format: DataFormat::Cola,
            labels: labels(),
            on_bad_row: OnBadRow::Error,
            fields: Default::default(),
        },
    )
    .unwrap()
}

fn hyper(checkpoint_every: u64, epochs: f64) -> Hyper {
    serde_json::from_value(serde_json::json!({
        "lr": 1e-3, "batch_size": 8, "epochs": epochs, "max_steps": null, "warmup_ratio": 0.1, "weight_decay": 0.01,
        "max_len": 32, "dropout": 0.1, "grad_clip": 1.0, "checkpoint_every": checkpoint_every,
        "vary": ["data_order", "head_init", "dropout"]
    }))
    .unwrap()
}

fn weights(m: &BertClassifier<Cpu>, dir: &Path, name: &str) -> Vec<u8> {
    let out = dir.join(name);
    let cfg = BertConfig::read(&dir.join("base")).unwrap();
    save(m, &cfg, &labels(), None, &out).unwrap();
    std::fs::read(out.join("model.safetensors")).unwrap()
}

fn run(
    base: &Path,
    data: &Dataset,
    seed: u64,
    resume: Option<&Path>,
    stop_at: Option<u64>,
) -> anyhow::Result<BertClassifier<Cpu>> {
    run_for(base, data, seed, resume, stop_at, 3.0)
}

fn run_for(
    base: &Path,
    data: &Dataset,
    seed: u64,
    resume: Option<&Path>,
    stop_at: Option<u64>,
    epochs: f64,
) -> anyhow::Result<BertClassifier<Cpu>> {
    let h = hyper(5, epochs);
    let labels = labels();
    let spec = FinetuneSpec {
        base,
        labels: &labels,
        hyper: &h,
        streams: Streams::new(seed, &h.vary),
        resume_dir: resume,
        keep_dir: None,
    };
    let step = std::cell::Cell::new(0u64);
    let done = finetune::<CpuTrain>(
        &spec,
        data,
        &Default::default(),
        &|d, _, _| step.set(d),
        &|| stop_at.is_some_and(|s| step.get() >= s),
        None,
    )?;
    Ok(done.model)
}

#[test]
fn seeds_change_weights_same_seed_reproduces_and_resume_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    tiny_model(&base);
    let data = toy_data(&tmp.path().join("train.tsv"), 64);
    let a = weights(&run(&base, &data, 1, None, None).unwrap(), tmp.path(), "a");
    let a_again = weights(&run(&base, &data, 1, None, None).unwrap(), tmp.path(), "a2");
    let b = weights(&run(&base, &data, 2, None, None).unwrap(), tmp.path(), "b");
    assert_eq!(
        a, a_again,
        "the same seed must give identical weights on CPU"
    );
    assert_ne!(a, b, "two seeds must give different weights");
    // Killed after step 13 of 24 (checkpoints every 5): the rerun resumes from step 10.
    let resume = tmp.path().join("resume");
    std::fs::create_dir_all(&resume).unwrap();
    let err = run(&base, &data, 1, Some(&resume), Some(13))
        .map(|_| ())
        .expect_err("stopped");
    assert!(err.to_string().contains("interrupted"), "{err}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(resume.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 10);
    let resumed = weights(
        &run(&base, &data, 1, Some(&resume), None).unwrap(),
        tmp.path(),
        "r",
    );
    assert_eq!(
        resumed, a,
        "a resumed run must end with the uninterrupted run's weights"
    );
}

#[test]
fn finetuned_tiny_model_learns_and_evaluate_reports_real_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    tiny_model(&base);
    let data = toy_data(&tmp.path().join("train.tsv"), 64);
    let model = run_for(&base, &data, 0, None, None, 12.0).unwrap();
    let enc = TextEncoder::from_dir(&base, 32).unwrap();
    let before = load::<Cpu>(&base, 2, 0, &Default::default()).unwrap().model;
    let r0 = evaluate(
        &before,
        &labels(),
        &enc,
        &data,
        16,
        &Default::default(),
        &|_, _| {},
    )
    .unwrap();
    let r = evaluate(
        &model,
        &labels(),
        &enc,
        &data,
        16,
        &Default::default(),
        &|_, _| {},
    )
    .unwrap();
    println!(
        "toy task: loss {} -> {}, accuracy {} -> {}",
        r0.metrics["loss"], r.metrics["loss"], r0.metrics["accuracy"], r.metrics["accuracy"]
    );
    assert!(
        r.metrics["loss"].as_f64().unwrap() < r0.metrics["loss"].as_f64().unwrap(),
        "training did not lower the loss"
    );
    assert!(
        r.metrics["accuracy"].as_f64().unwrap() > 0.9,
        "{}",
        r.metrics
    );
    assert_eq!(r.losses.len(), 64);
    let recount = r
        .gold
        .iter()
        .zip(&r.predicted)
        .filter(|(g, p)| g == p)
        .count() as f64
        / 64.0;
    assert_eq!(r.metrics["accuracy"].as_f64().unwrap(), recount);
    assert!(r
        .probs
        .iter()
        .all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-5));
}
