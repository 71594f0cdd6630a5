//! A small study on disk plus helpers to drive `basins-testkit` (the real CLI with the
//! engine's synthetic stage kinds) and read its `--json` output.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const MANIFEST: &str = r#"[study]
name = "t"
cache = "cache"

[models.tiny]
builtin = { layers = 2, hidden = 32 }

[tasks.cola]
format = "cola"
train = "data/train.tsv"
eval = { dev = "data/dev.tsv" }
labels = ["0", "1"]

[diagnostics.ood]
task = "cola"
format = "cola"
file = "data/ood.tsv"

[finetune]
model = "tiny"
tasks = ["cola"]
seeds = "0..4"
lr = 2e-5
batch_size = 16

[interpolate]
pairs = "all"
alphas = { linspace = [0.0, 1.0, 5] }

[cluster]
k = 2

[report]
title = "test study"
"#;

/// Nodes in `MANIFEST`: pretrain, 4 finetune, 4 evaluate, 6 interpolate, barriers, cluster,
/// diagnostics, controls, report.
pub const NODES: usize = 20;

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            data.join("train.tsv"),
            "gj04\t1\t\tThe cat sat.\ngj04\t0\t*\tCat the sat.\n",
        )
        .unwrap();
        std::fs::write(data.join("dev.tsv"), "gj04\t1\t\tA dog ran.\n").unwrap();
        std::fs::write(data.join("ood.tsv"), "cj99\t0\t*\tRan dog a.\n").unwrap();
        let fx = Fixture { dir };
        fx.write("m.toml", MANIFEST);
        fx
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }

    /// Rewrite the manifest with one substring replaced (panics if it is absent).
    pub fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path("m.toml")).unwrap();
        assert!(text.contains(from), "manifest has no `{from}`");
        self.write("m.toml", &text.replacen(from, to, 1));
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_basins-testkit"));
        c.current_dir(self.dir.path());
        for v in [
            "BASINS_TESTKIT_SLEEP_MS",
            "BASINS_TESTKIT_FAIL",
            "BASINS_TESTKIT_JITTER",
            "RUST_LOG",
        ] {
            c.env_remove(v);
        }
        c
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run basins-testkit")
    }

    /// Run a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert_success(&out, args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    pub fn run(&self, extra: &[&str]) -> Value {
        let mut args = vec!["run", "m.toml", "--json"];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    /// node id -> key, from `plan --json`.
    pub fn keys(&self) -> Vec<(String, Value)> {
        let plan = self.json(&["plan", "m.toml", "--json"]);
        plan.as_array()
            .unwrap()
            .iter()
            .map(|p| (p["node"].as_str().unwrap().to_owned(), p["key"].clone()))
            .collect()
    }

    pub fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// `run m.toml --jobs J` in the background, each node taking `sleep_ms`; stderr piped.
    pub fn slow_run(&self, jobs: &str, sleep_ms: &str) -> std::process::Child {
        self.cmd()
            .args(["run", "m.toml", "--jobs", jobs])
            .env("BASINS_TESTKIT_SLEEP_MS", sleep_ms)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start basins-testkit")
    }

    /// Wait (30 s at most) until the cache holds at least `n` action records.
    pub fn wait_for_records(&self, n: usize) {
        let start = std::time::Instant::now();
        while walk(&self.cache().join("actions")).len() < n {
            assert!(start.elapsed().as_secs() < 30, "no progress");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

pub fn assert_success(out: &Output, what: &[&str]) {
    assert!(
        out.status.success(),
        "{what:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn set(v: &Value, field: &str) -> BTreeSet<String> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` in {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

pub fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Every object file in the cache hashes to its name: no torn or partial objects.
pub fn assert_objects_intact(cache: &Path) -> usize {
    let mut n = 0;
    for entry in walk(&cache.join("objects")) {
        let name = format!(
            "{}{}",
            entry
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap(),
            entry.file_name().unwrap().to_str().unwrap()
        );
        let actual = blake3::hash(&std::fs::read(&entry).unwrap())
            .to_hex()
            .to_string();
        assert_eq!(
            actual,
            name,
            "object {} is not what its name says",
            entry.display()
        );
        n += 1;
    }
    n
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// all-MiniLM-L6-v2: `BASINS_MINILM_DIR`, or where `scripts/fetch-minilm` caches it. Absent
/// means the tests were not run as the README says: fail, naming the fix.
pub fn minilm_dir() -> PathBuf {
    let d = std::env::var("BASINS_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/basins/all-minilm-l6-v2")
        });
    assert!(
        d.join("model.safetensors").exists(),
        "all-MiniLM-L6-v2 is not available: run `scripts/fetch-minilm` (or the README's test command, `scripts/test`), or set BASINS_MINILM_DIR"
    );
    d
}

/// A study that makes everything itself: generated NLI and HANS-style data, a tiny builtin
/// BERT (pretrained for 60 steps), two seeds finetuned for 10 steps. Seconds to run.
pub const GENERATED: &str = r#"[study]
name = "gen"
cache = "cache"

[models.tiny]
builtin = { layers = 1, hidden = 32, heads = 2, intermediate = 64, max_position = 64 }
pretrain = { steps = 60, batch_size = 16, lr = 2e-3, seed = 0, sentences = 400 }

[tasks.nli]
format = "generated"
generate = { generator = "nli", seed = 0, train = 160, eval = 60, shortcut_share = 0.8 }
labels = ["entailment", "non-entailment"]

[diagnostics.hans]
task = "nli"
format = "generated"
generate = { generator = "hans", seed = 1, per_subcase = 3 }

[finetune]
model = "tiny"
tasks = ["nli"]
seeds = "0..2"
lr = 1e-3
batch_size = 16
max_steps = 10
max_len = 48
"#;

/// Run the real `basins` in `dir`; it must succeed.
pub fn basins_ok(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_basins"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run basins");
    assert_success(&out, args);
    out
}

/// Run the real `basins` in `dir`; it must succeed and print JSON.
pub fn basins_json(dir: &Path, args: &[&str]) -> Value {
    let out = basins_ok(dir, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The bytes of one output file of a node of the study `m.toml` in `dir`.
pub fn node_output(dir: &Path, node: &str, name: &str) -> Vec<u8> {
    node_output_of(dir, &[], "m.toml", node, name)
}

/// [`node_output`] of study `manifest`, with global flags `flags` (`--cache DIR`).
pub fn node_output_of(
    dir: &Path,
    flags: &[&str],
    manifest: &str,
    node: &str,
    name: &str,
) -> Vec<u8> {
    let mut args = flags.to_vec();
    args.extend(["show", manifest, node, "--json"]);
    let v = basins_json(dir, &args);
    let path = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{node} has no output {name}: {v}"))["path"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::read(path).unwrap()
}

/// `GENERATED` made cheap but varied (models that differ), with 4 seeds, a HANS-style set
/// that declares strategies at `threshold` (its score: accuracy over the set), interpolation,
/// clustering and a report.
pub fn ground_truth_manifest(threshold: f64) -> String {
    GENERATED
        .replace("seeds = \"0..2\"", "seeds = \"0..4\"")
        .replace("max_steps = 10", "max_steps = 200")
        .replace("lr = 1e-3", "lr = 3e-3")
        .replace("per_subcase = 3 }", "per_subcase = 20 }")
        .replace(
            "generate = { generator = \"hans\", seed = 1, per_subcase = 20 }",
            &format!(
                "generate = {{ generator = \"hans\", seed = 1, per_subcase = 20 }}\n\
             metric = \"accuracy\"\n\
             strategy = {{ threshold = {threshold}, above = \"rule\", below = \"overlap\" }}"
            ),
        )
        + r#"
[interpolate]
pairs = "all"
alphas = { linspace = [0.0, 1.0, 3] }

[cluster]
k = 2

[report]
title = "ground truth"
"#
}

/// One JSON output file of a node of the study `m.toml` in `dir`.
pub fn json_output(dir: &Path, node: &str, name: &str) -> Value {
    serde_json::from_slice(&node_output(dir, node, name)).unwrap()
}

/// One evaluated set of a node of `m.toml` in `dir`, read back as the analysis stages read it,
/// and the rows of its loss surface (where the node recorded them).
pub fn stored_set(
    dir: &Path,
    node: &str,
    set: &str,
) -> (basins_stages::outputs::StoredSet, Option<Vec<usize>>) {
    let shown = basins_json(dir, &["show", "m.toml", node, "--json"]);
    let files: std::collections::BTreeMap<String, PathBuf> = shown["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().into(),
                o["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    let stored = basins_stages::outputs::StoredSet::read(node, &files, set).unwrap();
    let rows = stored.gold.len();
    let surface = basins_stages::outputs::StoredSet::surface_rows(node, &files, set, rows).unwrap();
    (stored, surface)
}

/// Adjusted Rand index from its pair-counting definition (Hubert and Arabie): pairs together
/// in both partitions, in one only, in neither.
pub fn ari_by_pairs(a: &[usize], b: &[usize]) -> f64 {
    let (mut both, mut only_a, mut only_b, mut neither) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            match (a[i] == a[j], b[i] == b[j]) {
                (true, true) => both += 1.0,
                (true, false) => only_a += 1.0,
                (false, true) => only_b += 1.0,
                (false, false) => neither += 1.0,
            }
        }
    }
    2.0 * (both * neither - only_a * only_b)
        / ((both + only_a) * (only_a + neither) + (both + only_b) * (only_b + neither))
}

/// Headless Chromium, if installed (`.ci/run` installs Debian's `chromium`).
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Run headless `browser` on the page at `page` with `extra` flags (a 1200 x 1600 window).
pub fn headless(browser: &str, page: &Path, extra: &[&str]) -> Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,1600",
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

/// The DOM `browser` renders from the page at `page`; the browser must succeed.
pub fn rendered_dom(browser: &str, page: &Path) -> String {
    let dom = headless(browser, page, &["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

/// Where the store keeps output `output` of `node` (from `show --json`).
pub fn object_of(fx: &Fixture, node: &str, output: &str) -> std::path::PathBuf {
    let show = fx.json(&["show", "m.toml", node, "--json"]);
    let o = show["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == output)
        .unwrap_or_else(|| panic!("{show}"));
    std::path::PathBuf::from(o["path"].as_str().unwrap())
}

/// Flip one bit of a stored object in place (made writable first), as a failing disk would.
pub fn flip_byte(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}
