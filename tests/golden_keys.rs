//! Golden keys: what every node of every shipped manifest is asked to compute, and the full
//! recipe keys of the testkit study, against a committed file (`tests/golden/keys.json`). A
//! refactor of expansion, params or kinds must leave them where they are: a moved key reruns
//! (and re-downloads) every user's cache. A change that means to move keys (a kind's version
//! bumped because its outputs changed, a new param) rewrites the file with
//! `BASINS_BLESS=1 cargo test --test golden_keys`, and the diff shows which nodes moved.
//!
//! A shipped study's keys depend on its upstream outputs (the cache is content-addressed), which
//! only a run gives; so for those this records each node's recipe before its inputs' contents:
//! the digest of its kind, the kind's version, its params, the study's environment and where
//! each input comes from (a node id, or a file relative to the repository). The testkit study
//! runs in milliseconds, so for it the real keys are recorded (all but the report's, whose page
//! shows the build and so moves with each commit).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use basins_engine::node::Source;
use basins_study::expand::expand;
use basins_study::manifest::Manifest;
use serde_json::{json, Value};

fn golden() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/keys.json")
}

/// Each node's recipe digest for one shipped manifest.
fn recipes(path: &Path) -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let m = Manifest::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let registry = basins_stages::registry();
    let env = json!({"backend": m.study.backend, "precision": m.study.precision});
    // Relative to the checkout (or beside it: `../shared/...`), so that any clone agrees.
    let rel = |p: &Path| match (
        p.strip_prefix(root),
        root.parent().map(|up| p.strip_prefix(up)),
    ) {
        (Ok(r), _) => r.to_string_lossy().into_owned(),
        (_, Some(Ok(r))) => format!("../{}", r.to_string_lossy()),
        _ => p.to_string_lossy().into_owned(),
    };
    expand(&m, &Default::default())
        .into_iter()
        .map(|n| {
            let version = registry
                .get(&n.kind)
                .unwrap_or_else(|| panic!("{}: no kind `{}`", path.display(), n.kind))
                .version();
            let inputs: BTreeMap<&str, String> = n
                .inputs
                .iter()
                .map(|i| {
                    let from = match &i.source {
                        Source::Node(id) => format!("node:{id}"),
                        Source::File(p) => format!("file:{}", rel(p)),
                        Source::Dir(p) => format!("dir:{}", rel(p)),
                    };
                    (i.role.as_str(), from)
                })
                .collect();
            let recipe = json!({"kind": n.kind, "version": version, "params": n.params,
                                "env": env, "inputs": inputs});
            let text = serde_json::to_string(&recipe).unwrap();
            // A checkout's own path in a recipe would move it from clone to clone.
            let here = root.parent().unwrap_or(root).to_string_lossy();
            assert!(!text.contains(here.as_ref()), "{}: {text}", n.id);
            let digest = blake3::hash(text.as_bytes());
            (n.id, digest.to_hex().to_string())
        })
        .collect()
}

/// Everything the golden file records, as it is now.
fn current() -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let mut shipped = BTreeMap::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        // The zoo's checkpoints are not shipped (tests/shipped_manifests.rs loads it against a
        // stand-in folder).
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && !p.ends_with("zoo.toml"))
        .collect();
    names.sort();
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        shipped.insert(name, recipes(&path));
    }
    let fx = common::Fixture::new();
    fx.run(&[]);
    // The report page shows the build (version and git commit), so its key moves with every
    // commit by design: left out.
    let testkit: BTreeMap<String, Value> = fx
        .keys()
        .into_iter()
        .filter(|(id, _)| id != "report")
        .collect();
    json!({"shipped_recipes": shipped, "testkit_keys": testkit})
}

#[test]
fn keys_stay_where_they_are() {
    let now = current();
    let path = golden();
    if std::env::var_os("BASINS_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (write it with BASINS_BLESS=1 cargo test --test golden_keys)",
            path.display()
        )
    });
    let was: Value = serde_json::from_str(&text).unwrap();
    let mut moved = Vec::new();
    for section in ["shipped_recipes", "testkit_keys"] {
        let (old, new) = (&was[section], &now[section]);
        let flat = |v: &Value| -> BTreeMap<String, Value> {
            let mut out = BTreeMap::new();
            for (k, x) in v.as_object().into_iter().flatten() {
                match x.as_object() {
                    Some(o) => {
                        for (id, d) in o {
                            out.insert(format!("{k} {id}"), d.clone());
                        }
                    }
                    None => {
                        out.insert(k.clone(), x.clone());
                    }
                }
            }
            out
        };
        let (old, new) = (flat(old), flat(new));
        for (id, d) in &new {
            match old.get(id) {
                Some(o) if o == d => {}
                Some(_) => moved.push(format!("{section}: {id} moved")),
                None => moved.push(format!("{section}: {id} is new")),
            }
        }
        for id in old.keys().filter(|id| !new.contains_key(*id)) {
            moved.push(format!("{section}: {id} is gone"));
        }
    }
    assert!(
        moved.is_empty(),
        "{} node keys moved (if meant, rewrite tests/golden/keys.json with BASINS_BLESS=1 \
         cargo test --test golden_keys):\n{}",
        moved.len(),
        moved.join("\n")
    );
}
