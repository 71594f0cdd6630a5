//! Hugging Face checkpoints: save -> load round trips exactly; what we save loads in
//! transformers with the same logits (when python and transformers are installed); a checkpoint
//! that does not fit its config is refused with every problem listed.

use std::path::Path;
use std::process::Command;

use crate::backend::Cpu;
use crate::model::{check_labels, load, save, BertClassifier, ModelError};
use crate::text::{to_batch, Encoded, TextEncoder};

const PAIRS: [(&str, &str); 4] = [
    ("The doctor saw the lawyer.", "The lawyer saw the doctor."),
    ("A man plays the guitar.", "Someone is making music."),
    ("Nobody came to the party.", "The party was crowded."),
    ("x", "y"),
];

fn logits(model: &BertClassifier<Cpu>, dir: &Path) -> Vec<Vec<f32>> {
    let enc = TextEncoder::from_dir(dir, 128).unwrap();
    let texts: Vec<(&str, Option<&str>)> = PAIRS.iter().map(|(a, b)| (*a, Some(*b))).collect();
    let e = enc.encode(&texts).unwrap();
    let refs: Vec<&Encoded> = e.iter().collect();
    let out = model.forward(&to_batch::<Cpu>(&refs, enc.pad_id, &Default::default()));
    let v: Vec<f32> = out.logits.into_data().to_vec().unwrap();
    v.chunks(3).map(|c| c.to_vec()).collect()
}

fn labels() -> Vec<String> {
    ["entailment", "neutral", "contradiction"]
        .map(String::from)
        .to_vec()
}

#[test]
fn save_load_round_trip_and_transformers_agrees() {
    let base = super::common::minilm_dir();
    let device = Default::default();
    let a = load::<Cpu>(&base, 3, 7, &device).unwrap();
    let b = load::<Cpu>(&base, 3, 8, &device).unwrap();
    let la = logits(&a.model, &base);
    assert_ne!(
        la,
        logits(&b.model, &base),
        "the head seed must change the initial head"
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("ckpt");
    save(&a.model, &a.config, &labels(), Some(&base), &dir).unwrap();
    let back = load::<Cpu>(&dir, 3, 999, &device).unwrap();
    assert!(back.had_head);
    assert!(back.initialised.is_empty());
    assert_eq!(back.labels, Some(labels()));
    assert_eq!(logits(&back.model, &dir), la, "save -> load must be exact");
    check_labels(back.labels.as_ref().unwrap(), &labels(), &dir).unwrap();

    // transformers reads the same directory and computes the same logits.
    let has_transformers = Command::new("python3")
        .args(["-c", "import torch, transformers"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_transformers {
        println!("SKIPPED the transformers half: python3 with torch and transformers is not installed (pip install torch transformers)");
        return;
    }
    let expected = serde_json::json!({"pairs": PAIRS, "logits": la, "labels": labels()});
    let expected_path = out.path().join("expected.json");
    std::fs::write(&expected_path, serde_json::to_vec(&expected).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check_hf_roundtrip.py");
    let run = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .arg(&expected_path)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    println!("{text}");
    assert!(run.status.success(), "transformers disagrees:\n{text}");
}

#[test]
fn a_checkpoint_that_does_not_fit_lists_every_problem() {
    let base = super::common::minilm_dir();
    let bytes = std::fs::read(base.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in st.tensors() {
        match name.as_str() {
            "encoder.layer.3.output.dense.bias" => continue,
            "pooler.dense.weight" => tensors.push((name, vec![384, 2], vec![0u8; 384 * 2 * 4])),
            _ => tensors.push((name, view.shape().to_vec(), view.data().to_vec())),
        }
    }
    tensors.push((
        "encoder.layer.6.attention.self.query.weight".into(),
        vec![384, 384],
        vec![0u8; 384 * 384 * 4],
    ));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(base.join("config.json"), dir.path().join("config.json")).unwrap();
    let views: Vec<_> = tensors
        .iter()
        .map(|(n, s, b)| {
            let dtype = if n.ends_with("position_ids") {
                safetensors::Dtype::I64
            } else {
                safetensors::Dtype::F32
            };
            (
                n.clone(),
                safetensors::tensor::TensorView::new(dtype, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.path().join("model.safetensors")).unwrap();
    let err = load::<Cpu>(dir.path(), 2, 0, &Default::default())
        .err()
        .expect("a broken checkpoint must be refused");
    let text = err.to_string();
    assert!(matches!(err, ModelError::Tensors { .. }), "{text}");
    assert!(text.contains("model.safetensors"), "{text}");
    assert!(
        text.contains("missing    encoder.layer.3.output.dense.bias  expected shape [384]"),
        "{text}"
    );
    assert!(
        text.contains("mis-shaped pooler.dense.weight  expected [384, 384], found [384, 2]"),
        "{text}"
    );
    assert!(
        text.contains("unexpected encoder.layer.6.attention.self.query.weight  shape [384, 384]"),
        "{text}"
    );
}

#[test]
fn bad_config_and_label_order_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"vocab_size": 10, "hidden_size": 30, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8}"#).unwrap();
    let err = load::<Cpu>(dir.path(), 2, 0, &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("config.json")
            && err.contains("hidden_size 30 is not divisible by num_attention_heads 4"),
        "{err}"
    );
    std::fs::write(dir.path().join("config.json"), "{\"vocab_size\": ").unwrap();
    let err = load::<Cpu>(dir.path(), 2, 0, &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("config.json: line 1 column"), "{err}");
    let zoo = ["contradiction", "entailment", "neutral"]
        .map(String::from)
        .to_vec();
    let err = check_labels(&zoo, &labels(), dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("label order [\"contradiction\", \"entailment\", \"neutral\"] differs from the task's [\"entailment\", \"neutral\", \"contradiction\"]"), "{err}");
}

/// Inputs the model_dir fuzz target found aborting or panicking: each is now a clean error.
#[test]
fn configs_the_fuzzer_found_are_errors_not_aborts() {
    use crate::model::BertConfig;
    let dir = tempfile::tempdir().unwrap();
    let cfg: BertConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16
    }))
    .unwrap();
    let model = BertClassifier::<Cpu>::new(&cfg, 2, &Default::default());
    save(&model, &cfg, &["a".into(), "b".into()], None, dir.path()).unwrap();
    let config_path = dir.path().join("config.json");
    let good: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    let load_with = |edit: serde_json::Value| {
        let mut c = good.clone();
        for (k, v) in edit.as_object().unwrap() {
            c[k] = v.clone();
        }
        std::fs::write(&config_path, serde_json::to_vec(&c).unwrap()).unwrap();
        load::<Cpu>(dir.path(), 2, 0, &Default::default())
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(
        load_with(serde_json::json!({})),
        None,
        "the untouched model loads"
    );
    // burn's dropout panicked on a probability above 1.
    let err = load_with(serde_json::json!({"hidden_dropout_prob": 1.1})).unwrap();
    assert!(err.contains("hidden_dropout_prob is 1.1"), "{err}");
    let err = load_with(serde_json::json!({"layer_norm_eps": -1.0})).unwrap();
    assert!(err.contains("layer_norm_eps"), "{err}");
    // A config within every per-field limit whose model would need ~260 GB: refused before
    // anything is allocated, because the weights file is far too small for it.
    let err = load_with(serde_json::json!({"vocab_size": 4_000_000, "hidden_size": 16_384, "num_attention_heads": 2})).unwrap();
    assert!(
        err.contains("the config and the weights are of different models"),
        "{err}"
    );
}

/// `pytorch_model.bin` as torch writes it (its zip format) loads with the same logits as its
/// safetensors twin and as transformers computed them; the legacy pickle format is refused
/// with what to do (fixture: scripts/make-pytorch-fixture, a tiny random BERT).
#[test]
fn pytorch_checkpoints_load_like_their_safetensors_twin_and_transformers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("reference.json")).unwrap()).unwrap();
    let rows =
        |key: &str| -> Vec<Vec<u32>> { serde_json::from_value(reference[key].clone()).unwrap() };
    let encoded: Vec<Encoded> = rows("ids")
        .into_iter()
        .zip(rows("type_ids"))
        .map(|(ids, type_ids)| Encoded { ids, type_ids })
        .collect();
    let refs: Vec<&Encoded> = encoded.iter().collect();
    let expected: Vec<Vec<f32>> = serde_json::from_value(reference["logits"].clone()).unwrap();
    let device = Default::default();
    let run = |layout: &str| {
        let loaded = load::<Cpu>(&root.join(layout), 3, 0, &device).unwrap();
        assert!(loaded.had_head && loaded.initialised.is_empty(), "{layout}");
        assert_eq!(
            loaded.labels,
            Some(
                ["contradiction", "entailment", "neutral"]
                    .map(String::from)
                    .to_vec()
            ),
            "{layout}: id2label"
        );
        let out = loaded.model.forward(&to_batch::<Cpu>(&refs, 0, &device));
        let v: Vec<f32> = out.logits.into_data().to_vec().unwrap();
        v.chunks(3).map(|c| c.to_vec()).collect::<Vec<_>>()
    };
    let twin = run("safetensors");
    let got = run("zip");
    let worst = got
        .iter()
        .flatten()
        .zip(twin.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-6, "{worst} from the safetensors twin");
    // burn-store reads the legacy format's tensors as zeros; it must be refused, not loaded.
    let legacy = load::<Cpu>(&root.join("legacy"), 3, 0, &device)
        .err()
        .expect("the legacy format is refused")
        .to_string();
    assert!(legacy.contains("legacy (pre-1.6) format"), "{legacy}");
    let worst = twin
        .iter()
        .flatten()
        .zip(expected.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "{worst} from transformers' logits");
    // `model inspect` reads the same table from either file.
    let table = |layout: &str| crate::model::tensor_table(&root.join(layout)).unwrap();
    let (bin, st) = (table("zip"), table("safetensors"));
    assert_eq!(bin.len(), st.len());
    for (a, b) in bin.iter().zip(&st) {
        assert_eq!((&a.name, &a.dtype, &a.shape), (&b.name, &b.dtype, &b.shape));
    }
}

/// A `pytorch_model.bin` that is not one is an error naming the file, never a panic.
#[test]
fn a_broken_pytorch_checkpoint_is_an_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root.join("zip/config.json"), dir.path().join("config.json")).unwrap();
    let bytes = std::fs::read(root.join("zip/pytorch_model.bin")).unwrap();
    for (what, content) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("garbage", b"not a pickle at all".to_vec()),
    ] {
        std::fs::write(dir.path().join("pytorch_model.bin"), &content).unwrap();
        let err = load::<Cpu>(dir.path(), 3, 0, &Default::default())
            .err()
            .unwrap_or_else(|| panic!("{what}: loaded"));
        let text = err.to_string();
        assert!(text.contains("pytorch_model.bin"), "{what}: {text}");
    }
}
