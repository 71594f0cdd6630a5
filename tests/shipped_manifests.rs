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
