//! Models from the Hugging Face Hub, through the CLI, against a local server the test starts that
//! answers as the Hub does (`/api/models/{repo}/revision/{rev}?blobs=true` and
//! `/{repo}/resolve/{commit}/{file}` with `Range`), serving all-MiniLM-L6-v2 as
//! `scripts/fetch-minilm` caches it: resolution at plan time, a first download (resumed after a
//! dropped connection), a second run with no download, a new upstream commit as a plan reason,
//! offline mode with and without the files, a corrupted download, 401 and 404, and a zoo of Hub
//! models (the study's own finetuned checkpoints, served back).

mod common;
// Shared with tests/hub_data.rs, which uses its data set side.
#[allow(dead_code)]
#[path = "hub/fake_hub.rs"]
mod fake_hub;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fake_hub::{ok, serve, text, Mode, Seen, Study};
use serde_json::Value;

const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
const COMMIT_A: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
const COMMIT_B: &str = "0123456789abcdef0123456789abcdef01234567";

fn manifest(model: &str) -> String {
    format!(
        r#"[study]
name = "hub"
cache = "cache"

[models.bert]
{model}

[tasks.nli]
format = "generated"
generate = {{ generator = "nli", seed = 0, train = 64, eval = 24 }}
labels = ["entailment", "non-entailment"]

[finetune]
model = "bert"
tasks = ["nli"]
seeds = "0..2"
lr = 1e-4
batch_size = 8
max_steps = 2
max_len = 32
"#
    )
}

/// `show NODE --json`'s outputs, by name (none when it has no record).
fn outputs(s: &Study, node: &str) -> BTreeMap<String, PathBuf> {
    let out = s.cli(&["show", "m.toml", node, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["outputs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| {
                    (
                        o["name"].as_str().unwrap().to_owned(),
                        PathBuf::from(o["path"].as_str().unwrap()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn plan_status(s: &Study, args: &[&str], node: &str) -> Value {
    let mut a = vec!["plan", "m.toml", "--json"];
    a.extend_from_slice(args);
    let out = s.cli(&a);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    v.as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == node)
        .cloned()
        .unwrap_or_else(|| panic!("no {node} in {v}"))
}

#[test]
fn a_hub_model_is_resolved_fetched_once_resumed_and_checked() {
    let hub = serve();
    let s = Study::new(&hub.url, &manifest(&format!("hub = \"{REPO}\"")));

    // The plan resolves `main` (one info request, no download) and lists the model to fetch.
    let plan = ok(&s.cli(&["plan", "m.toml"]));
    assert!(
        plan.contains(&format!(
            "{REPO}@main: commit {COMMIT_A} (asked the Hub now)"
        )),
        "{plan}"
    );
    assert!(plan.contains("fetch    hub/bert"), "{plan}");
    assert!(plan.contains("1 to fetch"), "{plan}");
    assert_eq!(hub.seen().len(), 1);
    assert!(hub.downloads().is_empty());

    // The connection drops mid-file: the fetch fails, nothing reaches the cache, and what
    // arrived is kept for the next try.
    hub.set_mode(Mode::Drop);
    let broken = s.cli(&["fetch", "m.toml"]);
    assert!(!broken.status.success(), "{}", text(&broken));
    assert!(
        text(&broken).contains("connection broke"),
        "{}",
        text(&broken)
    );
    assert!(outputs(&s, "hub/bert").is_empty());

    // `gc` keeps what arrived while the study still wants it, and would remove it for a study
    // that no longer does (here: pinned to another commit).
    let gc = |m: &str| -> Value {
        let out = s.cli(&["gc", m, "--json", "--dry-run"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
    };
    assert_eq!(gc("m.toml")["abandoned_resume_bytes"], 0);
    std::fs::write(
        s.path().join("other.toml"),
        manifest(&format!("hub = \"{REPO}\"\nrevision = \"{COMMIT_B}\"")),
    )
    .unwrap();
    let abandoned = gc("other.toml")["abandoned_resume_bytes"].as_u64().unwrap();
    let weights = std::fs::metadata(common::minilm_dir().join("model.safetensors"))
        .unwrap()
        .len();
    assert!(abandoned >= weights / 2, "{abandoned}");

    // Whole again: the weights resume from where they stopped (a Range request), every file
    // is checked, and only the files a BERT directory needs are kept.
    hub.set_mode(Mode::Good);
    let before = hub.downloads().len();
    let fetched = ok(&s.cli(&["fetch", "m.toml"]));
    assert!(fetched.contains("fetched  hub/bert"), "{fetched}");
    assert!(fetched.contains("91.6 MB  6 file(s)"), "{fetched}");
    let resumed = hub.downloads()[before..]
        .iter()
        .filter(|d| d.url.ends_with("model.safetensors"))
        .map(|d| d.range.clone())
        .collect::<Vec<_>>();
    assert!(
        resumed
            .first()
            .and_then(|r| r.as_ref())
            .is_some_and(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "{resumed:?}"
    );
    let got = outputs(&s, "hub/bert");
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "model/config.json",
            "model/model.safetensors",
            "model/special_tokens_map.json",
            "model/tokenizer.json",
            "model/tokenizer_config.json",
            "model/vocab.txt"
        ]
    );
    for (name, path) in &got {
        let file = name.strip_prefix("model/").unwrap();
        assert_eq!(
            std::fs::read(path).unwrap(),
            std::fs::read(common::minilm_dir().join(file)).unwrap(),
            "{name}"
        );
    }
    // A resumed download gives what a whole one gives, down to the output hash that every
    // downstream key is made of.
    let whole = Study::new(&hub.url, &manifest(&format!("hub = \"{REPO}\"")));
    ok(&whole.cli(&["fetch", "m.toml"]));
    let hash = |st: &Study| -> Value {
        let out = st.cli(&["show", "m.toml", "hub/bert", "--json"]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["record"]["output_hash"].clone()
    };
    assert!(hash(&s).is_string());
    assert_eq!(hash(&s), hash(&whole));
    let partials: Vec<PathBuf> = common::walk(&s.path().join("cache"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");

    // The study runs from the store: no download, only the plan-time resolution.
    let before = hub.seen().len();
    ok(&s.cli(&["run", "m.toml"]));
    ok(&s.cli(&["fetch", "m.toml"]));
    let during: Vec<Seen> = hub.seen()[before..].to_vec();
    assert!(
        during.iter().all(|r| r.url.starts_with("/api/models/")),
        "{during:?}"
    );
    assert_eq!(during.len(), 2, "{during:?}");

    // A new upstream commit on `main` is a plan reason, never a silent change.
    hub.state.lock().unwrap().main = COMMIT_B.to_owned();
    let p = plan_status(&s, &[], "hub/bert");
    assert_eq!(p["status"], "fetch", "{p}");
    assert!(p["reasons"].to_string().contains(COMMIT_B), "{p}");
    // Back: the next online plan remembers `main` at A again.
    hub.state.lock().unwrap().main = COMMIT_A.to_owned();
    ok(&s.cli(&["plan", "m.toml"]));

    // Offline, with the files: the remembered commit, no request at all, everything fresh.
    let before = hub.seen().len();
    let off = ok(&s.cli(&["--offline", "plan", "m.toml"]));
    assert!(off.contains("resolved earlier; offline"), "{off}");
    assert!(off.contains("0 to fetch, 0 to run"), "{off}");
    ok(&s.cli_env(&["run", "m.toml"], &[("HF_HUB_OFFLINE", "1")]));
    assert_eq!(hub.seen().len(), before);

    // The Hub unreachable: the remembered commit, with a warning that says so.
    let away = Study::new(
        "http://127.0.0.1:9",
        &manifest(&format!("hub = \"{REPO}\"")),
    );
    let unreachable = away.cli(&[
        "--cache",
        s.path().join("cache").to_str().unwrap(),
        "plan",
        "m.toml",
    ]);
    let t = ok(&unreachable);
    assert!(t.contains("the Hub was unreachable"), "{t}");

    // The study's own finetuned models, published as a zoo on the Hub, analysed from there.
    for seed in 0..2 {
        let files: BTreeMap<String, Vec<u8>> = outputs(&s, &format!("finetune/nli/seed={seed}"))
            .into_iter()
            .filter_map(|(n, p)| {
                let f = n.strip_prefix("model/")?.to_owned();
                Some((f, std::fs::read(p).unwrap()))
            })
            // Published as finetuned checkpoints often are: without the tokenizer.
            .filter(|(f, _)| f == "config.json" || f == "model.safetensors")
            .collect();
        assert_eq!(files.len(), 2, "{:?}", files.keys());
        hub.add_repo(&format!("me/nli_{seed}"), files);
    }
    let z = Study::new(
        &hub.url,
        r#"[study]
name = "zoo"
cache = "cache"

[tasks.nli]
format = "generated"
generate = { generator = "nli", seed = 0, train = 64, eval = 24 }
labels = ["entailment", "non-entailment"]

[zoo]
task = "nli"
hub = "me/nli_{0..2}"
tokenizer = { hub = "sentence-transformers/all-MiniLM-L6-v2" }

[interpolate]
alphas = [0.0, 0.5, 1.0]
"#,
    );
    let zplan = ok(&z.cli(&["plan", "m.toml"]));
    assert!(
        zplan.contains("fetch    hub/nli_0") && zplan.contains("fetch    hub/nli_1"),
        "{zplan}"
    );
    ok(&z.cli(&["run", "m.toml"]));
    let member = outputs(&z, "hub/nli_1");
    assert_eq!(
        std::fs::read(&member["model/vocab.txt"]).unwrap(),
        std::fs::read(common::minilm_dir().join("vocab.txt")).unwrap()
    );
    let metrics = |st: &Study, node: &str| -> Value {
        let out = st.cli(&["show", "m.toml", node, "--json"]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["metrics"].clone()
    };
    let (ours, theirs) = (
        metrics(&s, "evaluate/nli/seed=1"),
        metrics(&z, "evaluate/nli/model=nli_1"),
    );
    assert!(ours.is_object(), "{ours}");
    assert_eq!(
        ours, theirs,
        "the same weights score the same, from the Hub or not"
    );
}

/// A zoo whose members keep intermediate steps, as the paper's QQP models do on the Hub: the
/// study's own runs (kept at step 1 of 2) published once as a folder (`checkpoint-{step}`
/// subfolders) and once on the Hub (a `step_{step}` branch per repository). Mapped at
/// `step=1` and `final`, each zoo scores and interpolates exactly as the runs themselves.
#[test]
fn a_zoo_maps_its_members_steps_from_subfolders_and_from_hub_revisions() {
    let hub = serve();
    let s = Study::new(&hub.url, &manifest(&format!("hub = \"{REPO}\"")));
    let trained = std::fs::read_to_string(s.path().join("m.toml"))
        .unwrap()
        .replace("max_len = 32", "max_len = 32\nkeep = { every = 1 }")
        + "\n[interpolate]\nalphas = [0.0, 0.5, 1.0]\nat = [\"step=1\", \"final\"]\n";
    std::fs::write(s.path().join("m.toml"), trained).unwrap();
    ok(&s.cli(&["run", "m.toml"]));

    // Each run's final weights and its step 1, as files.
    let dir_zoo = tempfile::tempdir().unwrap();
    let files_of = |seed: u64, prefix: &str| -> BTreeMap<String, Vec<u8>> {
        outputs(&s, &format!("finetune/nli/seed={seed}"))
            .into_iter()
            .filter_map(|(n, p)| {
                let f = n.strip_prefix(prefix)?.to_owned();
                Some((f, std::fs::read(p).unwrap()))
            })
            .collect()
    };
    for seed in 0..2u64 {
        let (fin, step) = (
            files_of(seed, "model/"),
            files_of(seed, "checkpoints/step=1/"),
        );
        assert!(step.contains_key("model.safetensors"), "{:?}", step.keys());
        assert_ne!(fin["model.safetensors"], step["model.safetensors"]);
        let member = dir_zoo.path().join(format!("steps_{seed}"));
        std::fs::create_dir_all(member.join("checkpoint-1")).unwrap();
        for (f, b) in &fin {
            std::fs::write(member.join(f), b).unwrap();
        }
        for (f, b) in &step {
            std::fs::write(member.join("checkpoint-1").join(f), b).unwrap();
        }
        hub.add_repo(&format!("me/steps_{seed}"), fin);
        hub.add_revision(&format!("me/steps_{seed}"), "step_1", COMMIT_B, step);
    }
    let zoo_manifest = |from: &str, steps: &str| {
        format!(
            r#"[study]
name = "zoo"
cache = "cache"

[tasks.nli]
format = "generated"
generate = {{ generator = "nli", seed = 0, train = 64, eval = 24 }}
labels = ["entailment", "non-entailment"]

[zoo]
task = "nli"
{from}
steps = "{steps}"

[interpolate]
alphas = [0.0, 0.5, 1.0]
at = ["step=1", "final"]
"#
        )
    };
    let metrics = |st: &Study, node: &str| -> Value {
        let out = st.cli(&["show", "m.toml", node, "--json"]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["metrics"].clone()
    };
    let zoos = [
        (
            format!("dir = \"{}\"", dir_zoo.path().display()),
            "checkpoint-{step}",
        ),
        ("hub = \"me/steps_{0..2}\"".to_owned(), "step_{step}"),
    ];
    for (from, steps) in zoos {
        let z = Study::new(&hub.url, &zoo_manifest(&from, steps));
        let plan = ok(&z.cli(&["plan", "m.toml"]));
        ok(&z.cli(&["run", "m.toml"]));
        if steps.starts_with("step_") {
            // The step's revision is a node of its own, at the branch's commit.
            assert!(plan.contains("fetch    hub/steps_0@step=1"), "{plan}");
            assert_eq!(metrics(&z, "hub/steps_1@step=1")["commit"], COMMIT_B);
            assert_eq!(metrics(&z, "hub/steps_1")["commit"], COMMIT_A);
        }
        for (ours, theirs) in [
            (
                "evaluate/nli/seed=1@step=1",
                "evaluate/nli/model=steps_1@step=1",
            ),
            ("evaluate/nli/seed=0", "evaluate/nli/model=steps_0"),
            (
                "interpolate/nli/0~1@step=1",
                "interpolate/nli/steps_0~steps_1@step=1",
            ),
            ("interpolate/nli/0~1", "interpolate/nli/steps_0~steps_1"),
        ] {
            let (a, b) = (metrics(&s, ours), metrics(&z, theirs));
            assert!(a.is_object(), "{ours}: {a}");
            assert_eq!(a, b, "{from}: {ours} and {theirs} read the same weights");
        }
    }
    // A zoo without `steps` cannot map steps, and says where they would be named.
    let no_steps = zoo_manifest("hub = \"me/steps_{0..2}\"", "x").replace("steps = \"x\"\n", "");
    let z = Study::new(&hub.url, &no_steps);
    let out = z.cli(&["plan", "m.toml"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("zoo does not say where its members keep steps") && said.contains("m.toml"),
        "{said}"
    );
}

#[test]
fn offline_unresolved_corrupt_unauthorized_and_missing_are_named() {
    let hub = serve();

    // Offline and never resolved: the plan says so; fetch and run refuse (bad input).
    let s = Study::new(&hub.url, &manifest(&format!("hub = \"{REPO}\"")));
    let plan = ok(&s.cli(&["--offline", "plan", "m.toml"]));
    assert!(plan.contains("not resolved to a commit"), "{plan}");
    for verb in ["fetch", "run"] {
        let out = s.cli(&["--offline", verb, "m.toml"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("{REPO}@main")),
            "{}",
            text(&out)
        );
    }
    assert!(hub.seen().is_empty(), "{:?}", hub.seen());

    // Offline with a pinned commit that is not downloaded: the node fails, saying what to do.
    let pinned = Study::new(
        &hub.url,
        &manifest(&format!("hub = \"{REPO}\"\nrevision = \"{COMMIT_A}\"")),
    );
    let out = pinned.cli(&["--offline", "fetch", "m.toml"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("offline"), "{}", text(&out));
    assert!(text(&out).contains("basins fetch"), "{}", text(&out));

    // Corrupted weights: tried again, then reported; nothing kept.
    hub.set_mode(Mode::Corrupt);
    let out = pinned.cli(&["fetch", "m.toml"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("corrupted download"), "{}", text(&out));
    let tries = hub
        .downloads()
        .iter()
        .filter(|d| d.url.ends_with("model.safetensors"))
        .count();
    assert_eq!(tries, 3);
    assert!(outputs(&pinned, "hub/bert").is_empty());

    // 401: the model id and what to do; the token is sent when set.
    hub.set_mode(Mode::Unauthorized);
    let out = s.cli(&["fetch", "m.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(REPO) && t.contains("401") && t.contains("HF_TOKEN"),
        "{t}"
    );
    let out = s.cli_env(&["plan", "m.toml"], &[("HF_TOKEN", "hf_secret")]);
    assert!(text(&out).contains("refused"), "{}", text(&out));
    assert_eq!(
        hub.seen().last().unwrap().auth.as_deref(),
        Some("Bearer hf_secret")
    );

    // 404: a model that does not exist.
    hub.set_mode(Mode::Good);
    let missing = Study::new(&hub.url, &manifest("hub = \"nobody/missing\""));
    let out = missing.cli(&["fetch", "m.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("model `nobody/missing` at revision `main`") && t.contains("404"),
        "{t}"
    );
    assert!(t.contains("check the id"), "{t}");
}

/// The CoLA public release's layout, built from `../shared/data/cola` (the real files, so the
/// pinned digests hold).
fn cola_release() -> Vec<u8> {
    use std::io::Write;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cola");
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for f in [
        "in_domain_train.tsv",
        "in_domain_dev.tsv",
        "out_of_domain_dev.tsv",
    ] {
        z.start_file(format!("cola_public/raw/{f}"), opts).unwrap();
        z.write_all(&std::fs::read(dir.join(f)).unwrap()).unwrap();
    }
    z.finish().unwrap();
    buf.into_inner()
}

/// The shipped CoLA study, cut to 2 seeds and a few steps, from a clean directory with nothing
/// but the manifest: `plan` lists the downloads, `fetch` gets the model from the (local) Hub
/// and CoLA from its (local) release, `run` completes and writes the report, with no request
/// after the fetch but the plan's.
#[test]
#[ignore = "reads ../shared/data/cola; scripts/test runs it where present"]
fn the_cola_manifest_fetches_and_runs_with_no_manual_step() {
    let hub = serve();
    hub.state
        .lock()
        .unwrap()
        .files
        .insert("/data/cola_public_1.1.zip".into(), cola_release());
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/cola.toml");
    let text = std::fs::read_to_string(shipped).unwrap();
    let mut small = text.clone();
    for (from, to) in [
        ("cache = \"../.basins\"", "cache = \"cache\""),
        ("seeds = \"0..10\"", "seeds = \"0..2\""),
        ("epochs = 6 ", "max_steps = 4 "),
        ("linspace = [0.0, 1.0, 10]", "linspace = [0.0, 1.0, 3]"),
        ("max_examples = 512", "max_examples = 48"),
    ] {
        assert!(
            small.contains(from),
            "manifests/cola.toml no longer has `{from}`"
        );
        small = small.replace(from, to);
    }
    let s = Study::new(&hub.url, &small);
    let data = [("BASINS_DATA_URL", format!("{}/data", hub.url))];
    let data: Vec<(&str, &str)> = data.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let plan = ok(&s.cli_env(&["plan", "m.toml"], &data));
    assert!(plan.contains("3 to fetch"), "{plan}");
    assert!(
        hub.seen().is_empty(),
        "a pinned commit needs no request to plan"
    );
    let fetched = ok(&s.cli_env(&["fetch", "m.toml"], &data));
    for node in [
        "hub/bert",
        "download/glue-cola",
        "download/cola-out-of-domain",
    ] {
        assert!(fetched.contains(&format!("fetched  {node}")), "{fetched}");
    }
    let after_fetch = hub.seen().len();
    ok(&s.cli_env(&["report", "m.toml", "--out", "report"], &data));
    assert_eq!(
        hub.seen().len(),
        after_fetch,
        "{:?}",
        &hub.seen()[after_fetch..]
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(s.path().join("report/report.json")).unwrap())
            .unwrap();
    assert!(report["tasks"]["cola"].is_object(), "{report}");
}

/// The acceptance point a new user meets first: on a clean clone, with no network and nothing
/// downloaded, `basins plan manifests/cola.toml` works and lists what is to fetch.
#[test]
fn the_shipped_cola_manifest_plans_with_no_network() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basins"))
        .current_dir(root)
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("BASINS_DATA_URL", "http://127.0.0.1:9")
        .args(["--cache", cache.path().to_str().unwrap()])
        .args(["plan", "manifests/cola.toml"])
        .output()
        .unwrap();
    let t = ok(&out);
    assert!(t.contains("0 fresh, 3 to fetch"), "{t}");
    for node in [
        "hub/bert",
        "download/glue-cola",
        "download/cola-out-of-domain",
    ] {
        assert!(t.contains(&format!("fetch    {node}")), "{t}");
    }
}
