//! The finetune and evaluate stage kinds through `basins run`, on a tiny random BERT (MiniLM's
//! tokenizer) and a toy CoLA-layout task: in-training evaluation lands in the JSONL log,
//! evaluation metrics and per-example outputs are published, and unsupported precision is
//! refused by name.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use basins_stages::backend::Cpu;
use basins_stages::model::{init_random, save, BertClassifier, BertConfig};
use common::minilm_dir;
use serde_json::Value;

fn setup(dir: &Path, study_extra: &str, finetune_extra: &str) -> PathBuf {
    let minilm = minilm_dir();
    let mut cfg = BertConfig::read(&minilm).unwrap();
    cfg.hidden_size = 32;
    cfg.num_hidden_layers = 1;
    cfg.num_attention_heads = 2;
    cfg.intermediate_size = 64;
    cfg.max_position_embeddings = 64;
    let labels = vec!["0".to_string(), "1".to_string()];
    let mut model = BertClassifier::<Cpu>::new(&cfg, 2, &Default::default());
    init_random(&mut model, 0, &Default::default());
    save(&model, &cfg, &labels, Some(&minilm), &dir.join("tiny")).unwrap();
    let mut rows = String::new();
    for i in 0..48 {
        rows += &if i % 2 == 0 {
            format!("toy\t1\t\tthe cat {i} sees the dog .\n")
        } else {
            format!("toy\t0\t*\tsees the the cat dog {i} .\n")
        };
    }
    std::fs::write(dir.join("train.tsv"), &rows).unwrap();
    let dev: String = rows.lines().take(24).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("dev.tsv"), dev).unwrap();
    let m = dir.join("m.toml");
    std::fs::write(
        &m,
        format!(
            r#"[study]
name = "tiny"
{study_extra}

[models.tiny]
path = "tiny"

[tasks.toy]
format = "cola"
train = "train.tsv"
eval = {{ dev = "dev.tsv" }}
labels = ["0", "1"]

[finetune]
model = "tiny"
tasks = ["toy"]
seeds = [0]
lr = 1e-3
batch_size = 8
max_len = 32
{finetune_extra}
"#
        ),
    )
    .unwrap();
    m
}

fn basins(dir: &Path, args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_basins"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn finetune_logs_in_training_eval_and_evaluate_publishes_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let m = setup(
        tmp.path(),
        "",
        "max_steps = 8\neval_every = 4\ncheckpoint_every = 3",
    );
    let (ok, run, err) = basins(tmp.path(), &["run", "m.toml", "--json"]);
    assert!(ok, "{err}");
    // finetune, evaluate, diagnostics
    assert_eq!(run["executed"].as_array().unwrap().len(), 3);
    let (_, ft, _) = basins(
        tmp.path(),
        &["show", "m.toml", "finetune/toy/seed=0", "--json"],
    );
    assert_eq!(ft["metrics"]["steps"], 8);
    let log_path = ft["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "train_log.jsonl")
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let log: Vec<Value> = std::fs::read_to_string(log_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let evals: Vec<&Value> = log.iter().filter(|l| l.get("eval").is_some()).collect();
    assert_eq!(
        evals
            .iter()
            .map(|e| e["step"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![4, 8]
    );
    assert!(evals[0]["eval"]["accuracy"].as_f64().is_some());
    assert!(log
        .iter()
        .any(|l| l["loss"].as_f64().is_some_and(f64::is_finite)));
    let ckpt = ft["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "model/model.safetensors")
        .unwrap();
    assert_eq!(ckpt["class"], "checkpoint");
    // No resumable state is left once the node is published.
    assert!(std::fs::read_dir(tmp.path().join(".basins/resume"))
        .map_or(true, |mut d| d.next().is_none()));
    let (_, ev, _) = basins(
        tmp.path(),
        &["show", "m.toml", "evaluate/toy/seed=0", "--json"],
    );
    let dev = &ev["metrics"]["sets"]["toy.dev"];
    assert_eq!(dev["examples"], 24);
    let per = &dev["per_label"];
    assert_eq!(
        per["0"]["gold"].as_u64().unwrap() + per["1"]["gold"].as_u64().unwrap(),
        24
    );
    let names: Vec<&str> = ev["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "eval/toy.dev.groups.json",
            "eval/toy.dev.safetensors",
            "eval/toy.dev.surface.json"
        ]
    );
    let _ = m;
}

#[test]
fn half_precision_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    setup(
        tmp.path(),
        "backend = \"cuda\"\nprecision = \"bf16\"",
        "max_steps = 1",
    );
    let (ok, run, _) = basins(tmp.path(), &["run", "m.toml", "--json"]);
    assert!(!ok);
    let msg = run["failed"][0]["message"].as_str().unwrap();
    assert!(msg.contains("precision `bf16` is not implemented"), "{msg}");
}

#[test]
fn bench_reports_throughput_and_the_padding_comparison() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), "", "");
    let (ok, v, err) = basins(
        dir.path(),
        &[
            "bench",
            "--model",
            "tiny",
            "--seq",
            "16,8",
            "--train-batch",
            "4",
            "--eval-batch",
            "8",
            "--train-steps",
            "1",
            "--eval-batches",
            "3",
            "--cola",
            "dev.tsv",
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let shapes = v["shapes"].as_array().unwrap();
    assert_eq!(shapes.len(), 2, "{v}");
    for (s, seq) in shapes.iter().zip([16, 8]) {
        assert_eq!(s["seq"], seq);
        assert_eq!(
            (s["train_batch"].clone(), s["eval_batch"].clone()),
            (4.into(), 8.into())
        );
        for f in ["train_seq_per_s", "eval_seq_per_s"] {
            let x = s[f].as_f64().unwrap();
            assert!(x.is_finite() && x > 0.0, "{f} = {x}");
        }
    }
    let p = &v["padding"];
    assert_eq!(p["examples"], 24, "{v}");
    // Padded to what the tiny model takes (64 positions), not past it.
    assert_eq!(p["max_len"], 64);
    // On the CPU, dynamic batches pad to their longest example only.
    assert_eq!(p["seq_multiple"], 1);
    let mean = p["mean_tokens"].as_f64().unwrap();
    assert!((5.0..20.0).contains(&mean), "mean tokens {mean}");
    // Speed is for benchmarks to judge; here each figure must be a real measurement.
    for f in [
        "dynamic_first_pass_seq_per_s",
        "dynamic_seq_per_s",
        "padded_to_max_len_seq_per_s",
    ] {
        let x = p[f].as_f64().unwrap();
        assert!(x.is_finite() && x > 0.0, "{f} = {x}");
    }

    // Bad flags name what was expected.
    for (args, expected) in [
        (
            vec!["--precision", "bf16"],
            "half precision is only offered with --backend cuda",
        ),
        (
            vec!["--backend", "gpu"],
            "expected `cpu`, `cuda`, `cuda:N` or `wgpu`",
        ),
        (
            vec!["--precision", "fp8"],
            "expected `f32`, `f16` or `bf16`",
        ),
        (
            vec!["--seq", "65"],
            "--seq 65: the model in tiny takes 1 to 64 tokens (max_position_embeddings",
        ),
        (
            vec!["--eval-batch", "0"],
            "`0` is not a whole number from 1 to 1000000",
        ),
    ] {
        let mut all = vec![
            "bench",
            "--model",
            "tiny",
            "--train-steps",
            "1",
            "--seq",
            "8",
        ];
        all.extend(args);
        let (ok, _, err) = basins(dir.path(), &all);
        assert!(!ok && err.contains(expected), "{all:?}: {err}");
    }
    // A bad `--cola` file is bad input (exit 2), refused before anything is timed: no shape
    // line is printed first (`/dev/null` once exited 3, after the timing runs).
    std::fs::write(dir.path().join("empty.tsv"), "").unwrap();
    for (file, expected) in [
        ("/dev/null", "/dev/null: not a regular file"),
        ("empty.tsv", "empty.tsv: no examples in this file"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_basins"))
            .current_dir(dir.path())
            .args(["bench", "--model", "tiny", "--seq", "8", "--cola", file])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(expected), "{file}: {err}");
        assert!(out.stdout.is_empty(), "{file}: timed before refusing");
    }
    #[cfg(not(feature = "cuda"))]
    {
        let (ok, _, err) = basins(
            dir.path(),
            &["bench", "--model", "tiny", "--backend", "cuda"],
        );
        assert!(!ok && err.contains("no CUDA support"), "{err}");
    }
}

#[test]
fn nodes_running_at_once_share_the_cores() {
    // `basins run --jobs J` gives each node cores / J evaluation threads (at least one), so a
    // many-core machine does not run J nodes of `cores` threads each; a user's value is kept.
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path(), "", "max_steps = 1");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (jobs, asked, expected) in [
        ("1", None, cores),
        ("2", None, (cores / 2).max(1)),
        ("2", Some("3"), 3),
    ] {
        let _ = std::fs::remove_dir_all(tmp.path().join(".basins"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_basins"));
        cmd.current_dir(tmp.path())
            .args(["run", "m.toml", "--jobs", jobs]);
        match asked {
            Some(n) => cmd.env("BASINS_EVAL_THREADS", n),
            None => cmd.env_remove("BASINS_EVAL_THREADS"),
        };
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (_, ev, _) = basins(
            tmp.path(),
            &["show", "m.toml", "evaluate/toy/seed=0", "--json"],
        );
        let log = std::fs::read_to_string(ev["log"].as_str().unwrap()).unwrap();
        let line = format!("evaluating batches on {expected} thread(s)");
        assert!(log.contains(&line), "--jobs {jobs}, asked {asked:?}: {log}");
    }
}

/// A checkpoint whose weights hold NaN: `model predict` says so and exits 2 (before: NaN
/// probabilities, an arbitrary label and exit 0).
#[test]
fn predict_refuses_a_model_whose_outputs_are_not_numbers() {
    let t = tempfile::tempdir().unwrap();
    let dir = copy_of_minilm(t.path());
    // Overwrite one F32 tensor's bytes with NaN, in place (header untouched).
    let path = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let t = &header["embeddings.LayerNorm.weight"];
    assert_eq!(t["dtype"], "F32");
    let (start, end) = (
        t["data_offsets"][0].as_u64().unwrap() as usize,
        t["data_offsets"][1].as_u64().unwrap() as usize,
    );
    for chunk in bytes[8 + header_len + start..8 + header_len + end].chunks_mut(4) {
        chunk.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basins"))
        .args(["model", "predict"])
        .arg(&dir)
        .args(["--text", "A man plays guitar.", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the model's outputs are not numbers for 1 of 1 input(s)"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no prediction is printed");
}

/// A `config.json` with absurd sizes is refused before anything is allocated (before: `model
/// inspect` aborted on a 10^12-row embedding), and a model directory that is not a BERT is bad
/// input, exit 2 (before: 3).
#[test]
fn absurd_model_configs_are_bad_input_not_aborts() {
    let t = tempfile::tempdir().unwrap();
    let dir = copy_of_minilm(t.path());
    let dir = dir.as_path();
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["vocab_size"] = serde_json::json!(1_000_000_000_000u64);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    for args in [
        vec!["model", "inspect"],
        vec!["model", "predict", "--text", "hi"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_basins"))
            .args(&args)
            .arg(dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("vocab_size is 1000000000000; basins takes 1 to 4000000"),
            "{args:?}: {err}"
        );
    }
}

/// A writable copy of the MiniLM directory under `parent`, to damage.
fn copy_of_minilm(parent: &Path) -> PathBuf {
    let dir = parent.join("minilm-copy");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(minilm_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    dir
}

/// A `max_len` longer than the model's position table once reached the forward pass and
/// panicked (`index < dim`); now the finetune node fails first, naming both numbers, and
/// `model predict --max-len` is refused as bad input (issue 32).
#[test]
fn a_max_len_longer_than_the_model_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let m = setup(tmp.path(), "", "max_steps = 1");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replace("max_len = 32", "max_len = 100")).unwrap();
    let (ok, run, err) = basins(tmp.path(), &["run", "m.toml", "--json"]);
    assert!(!ok, "{err}");
    let msg = run["failed"][0]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("[finetune] max_len = 100 is longer than the model takes")
            && msg.contains("has 64 positions"),
        "{msg}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_basins"))
        .args(["model", "predict", "--text", "hi", "--max-len", "600"])
        .arg(tmp.path().join("tiny"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--max-len 600: the model in"), "{err}");
    assert!(err.contains("takes 1 to 64 tokens"), "{err}");
}

/// Model files that are devices, huge, or out of range are bad input (exit 2) at once, under
/// a 1 GiB address-space limit (issue 32): `config.json` or the weights linked to `/dev/zero`
/// were read until the OOM killer came; a sparse 8 GiB weight file was read whole; a label map
/// of 100,001 names and `num_labels = 0` were accepted; a tokenizer with ids past
/// `vocab_size` reached the forward pass and panicked there.
#[test]
fn hostile_model_files_are_refused_before_they_are_read() {
    let t = tempfile::tempdir().unwrap();
    let dir = copy_of_minilm(t.path());
    let inspect = |what: &str, expected: &str| {
        let out = Command::new("prlimit")
            .arg(format!("--as={}", 1u64 << 30))
            .arg(env!("CARGO_BIN_EXE_basins"))
            .args(["model", "predict", "--text", "hi"])
            .arg(&dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(expected), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    };
    let config = dir.join("config.json");
    let good_config = std::fs::read(&config).unwrap();
    std::fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    inspect("config -> /dev/zero", "config.json: not a regular file");
    std::fs::remove_file(&config).unwrap();

    let mut c: Value = serde_json::from_slice(&good_config).unwrap();
    c["id2label"] = (0..100_001)
        .map(|i| (i.to_string(), Value::from(format!("l{i}"))))
        .collect::<serde_json::Map<_, _>>()
        .into();
    std::fs::write(&config, c.to_string()).unwrap();
    inspect(
        "id2label",
        "id2label has 100001 labels; a classifier has 1 to 100000",
    );
    for (n, expected) in [
        (
            Value::from(0),
            "num_labels is 0; a classifier has 1 to 100000 labels",
        ),
        (
            Value::from("two"),
            "num_labels is \"two\"; a classifier has",
        ),
    ] {
        let mut c: Value = serde_json::from_slice(&good_config).unwrap();
        c["num_labels"] = n;
        std::fs::write(&config, c.to_string()).unwrap();
        inspect("num_labels", expected);
    }
    let mut c: Value = serde_json::from_slice(&good_config).unwrap();
    c["num_labels"] = Value::from(3);
    c["id2label"] = serde_json::json!({"0": "a", "1": "b"});
    std::fs::write(&config, c.to_string()).unwrap();
    inspect(
        "num_labels against id2label",
        "num_labels is 3 but id2label names 2 labels",
    );
    std::fs::write(&config, &good_config).unwrap();

    let weights = dir.join("model.safetensors");
    let good_weights = t.path().join("weights.bak");
    std::fs::rename(&weights, &good_weights).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &weights).unwrap();
    inspect("weights -> /dev/zero", "not a regular file");
    std::fs::remove_file(&weights).unwrap();
    std::fs::File::create(&weights)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    inspect(
        "8 GiB of zeros",
        "not a valid safetensors file: its header length is 0",
    );
    std::fs::remove_file(&weights).unwrap();
    std::fs::rename(&good_weights, &weights).unwrap();

    let mut tok: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokenizer.json")).unwrap()).unwrap();
    tok["model"]["vocab"]["zzzextra"] = Value::from(40_000);
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    inspect(
        "tokenizer ids",
        "id 40000, but the model has 30522 token embeddings",
    );
}
