//! Every manifest in `manifests/` loads and expands. The zoo's folder of checkpoints is not
//! shipped, so for it the test checks the error a user without it meets, then loads it against
//! a stand-in folder.

use std::path::Path;

use basins_study::manifest::Manifest;

#[test]
fn shipped_manifests_load_and_expand() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") || path.ends_with("zoo.toml") {
            continue;
        }
        let m = Manifest::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let nodes = basins_study::expand::expand(&m, &Default::default());
        assert!(
            nodes.iter().any(|n| n.kind == "report"),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 5, "demo, demo-ci, cola, mnli-hans, qqp-paws");
}

#[test]
fn the_zoo_manifest_names_its_missing_folder_then_expands_without_training() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/zoo.toml");
    let text = std::fs::read_to_string(&shipped).unwrap();
    let t = tempfile::tempdir().unwrap();
    let m = t.path().join("manifests/zoo.toml");
    std::fs::create_dir_all(m.parent().unwrap()).unwrap();
    std::fs::write(&m, &text).unwrap();
    let err = Manifest::load(&m).unwrap_err().to_string();
    assert!(err.contains("`zoo.dir`: cannot list"), "{err}");
    for name in ["bert_0", "bert_1", "bert_2"] {
        let d = t.path().join("checkpoints/feather-berts").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.json"), "{}").unwrap();
    }
    let m = Manifest::load(&m).unwrap();
    let nodes = basins_study::expand::expand(&m, &Default::default());
    let kinds = |k: &str| nodes.iter().filter(|n| n.kind == k).count();
    assert_eq!(
        (kinds("finetune"), kinds("evaluate"), kinds("interpolate")),
        (0, 3, 3)
    );
    assert!(nodes
        .iter()
        .any(|n| n.id == "interpolate/mnli/bert_0~bert_2"));
}

/// The paper's studies need nothing but a network: on a bare checkout, offline and with an
/// empty cache, `basins plan` exits 0 and lists a download for every model and data set, and
/// no node reads a file the user would have to put in place.
#[test]
fn the_paper_studies_plan_offline_with_every_download_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    for (name, downloads) in [
        (
            "mnli-hans",
            &[
                "hub/bert",
                "download/nyu-mll/glue/mnli/train",
                "download/nyu-mll/glue/mnli/validation_matched",
                "download/nyu-mll/glue/mnli/validation_mismatched",
                "download/jhu-cogsci/hans/plain_text/validation",
            ][..],
        ),
        (
            "feathers",
            &[
                "hub/feather_berts_0",
                "hub/feather_berts_99",
                "download/nyu-mll/glue/mnli/validation_matched",
                "download/jhu-cogsci/hans/plain_text/validation",
            ][..],
        ),
        (
            "qqp-zoo",
            &[
                "hub/bert_ft_qqp-0",
                "hub/bert_ft_qqp-99",
                "download/nyu-mll/glue/qqp/validation",
                "download/paws-qqp",
            ][..],
        ),
        (
            "qqp-paws",
            &[
                "hub/bert",
                "download/nyu-mll/glue/qqp/train",
                "download/nyu-mll/glue/qqp/validation",
                "download/paws-qqp",
            ][..],
        ),
    ] {
        let path = dir.join(format!("{name}.toml"));
        let m = Manifest::load(&path).unwrap();
        for n in basins_study::expand::expand(&m, &Default::default()) {
            for i in &n.inputs {
                assert!(
                    matches!(i.source, basins_engine::node::Source::Node(_)),
                    "{name}: {} reads {:?}, which a user would have to provide",
                    n.id,
                    i.source
                );
            }
        }
        let cache = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_basins"))
            .args(["--offline", "--cache"])
            .arg(cache.path())
            .args(["plan", "--json"])
            .arg(&path)
            .env_remove("HF_ENDPOINT")
            .env("HF_HOME", cache.path().join("hf-home"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let fetch: Vec<&str> = plan
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["status"] == "fetch")
            .map(|n| n["node"].as_str().unwrap())
            .collect();
        for d in downloads {
            assert!(
                fetch.contains(d),
                "{name}: {d} is not listed to fetch: {fetch:?}"
            );
        }
        assert!(fetch.len() >= downloads.len(), "{name}: {fetch:?}");
    }
}
