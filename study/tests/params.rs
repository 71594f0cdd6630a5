//! Every node's params, as expansion writes them for every shipped manifest, read
//! back as its kind's type in `basins_study::params` and written again: the same JSON. Expansion
//! and the kinds share these types; this holds the other half of the contract the golden-key
//! test holds (that test: the JSON does not move; this one: the kinds can read all of it, and
//! lose nothing a key covers).

use std::path::{Path, PathBuf};

use basins_study::expand::{awaited, expand_known, Known};
use basins_study::manifest::Manifest;
use basins_study::params::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn round_trip<T: DeserializeOwned + Serialize>(id: &str, params: &Value) {
    let typed: T = serde_json::from_value(params.clone()).unwrap_or_else(|e| {
        panic!("{id}: its params do not read as its kind's type: {e}\n{params:#}")
    });
    assert_eq!(&to_value(&typed), params, "{id}: written back differently");
}

/// Round-trips every node of `m`, with every clustering known (models alternating between two
/// basins), so that the nodes that expand from it are among them; returns the kinds seen.
fn check(m: &Manifest) -> Vec<String> {
    let mut kinds = Vec::new();
    let known = Known {
        partitions: awaited(m)
            .into_iter()
            .map(|id| {
                let seeds = m.finetune.seeds.clone();
                let assignments = seeds.iter().map(|s| (s % 2) as usize).collect();
                (id, Partition { seeds, assignments })
            })
            .collect(),
    };
    for n in expand_known(m, &Default::default(), &known) {
        let (id, p) = (n.id.as_str(), &n.params);
        match n.kind.as_str() {
            "generate" => round_trip::<GenerateParams>(id, p),
            "download" => round_trip::<DownloadParams>(id, p),
            "hub" => round_trip::<HubParams>(id, p),
            "hub_data" => round_trip::<HubDataParams>(id, p),
            "pretrain" => round_trip::<PretrainParams>(id, p),
            "finetune" => round_trip::<FinetuneParams>(id, p),
            "evaluate" => round_trip::<EvaluateParams>(id, p),
            "interpolate" | "interpolate_adaptive" => round_trip::<InterpolateParams>(id, p),
            "barriers" => round_trip::<BarriersParams>(id, p),
            "cluster" => round_trip::<ClusterParams>(id, p),
            "diagnostics" => round_trip::<DiagnosticsParams>(id, p),
            "controls" => round_trip::<ControlsParams>(id, p),
            "dynamics" => round_trip::<DynamicsParams>(id, p),
            "report" => round_trip::<ReportParams>(id, p),
            "sweep" => round_trip::<SweepParams>(id, p),
            "merge" => round_trip::<MergeParams>(id, p),
            "greedy_soup" => round_trip::<GreedyParams>(id, p),
            "soups" => round_trip::<SoupsParams>(id, p),
            "interpolate_blocks" => round_trip::<BlockPathParams>(id, p),
            "align" => round_trip::<AlignParams>(id, p),
            "blocks" => round_trip::<BlockBarriersParams>(id, p),
            "aligned" => round_trip::<AlignedBarriersParams>(id, p),
            other => panic!("{id}: kind `{other}` has no params type here"),
        }
        if !kinds.contains(&n.kind) {
            kinds.push(n.kind);
        }
    }
    kinds
}

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

#[test]
fn every_shipped_manifests_params_read_back_as_their_kinds_types() {
    let mut seen = Vec::new();
    // The zoo's checkpoints are not shipped: it loads against a stand-in folder.
    let t = tempfile::tempdir().unwrap();
    for name in ["bert_0", "bert_1", "bert_2"] {
        let d = t.path().join("checkpoints/feather-berts").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("config.json"), "{}").unwrap();
    }
    for entry in std::fs::read_dir(manifests()).unwrap() {
        let mut path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        if path.ends_with("zoo.toml") {
            let copy = t.path().join("manifests/zoo.toml");
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(&path, &copy).unwrap();
            path = copy;
        }
        let m = Manifest::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen.extend(check(&m));
    }
    seen.sort();
    seen.dedup();
    // Every kind appears in some shipped study.
    assert_eq!(
        seen,
        [
            "align",
            "aligned",
            "barriers",
            "blocks",
            "cluster",
            "controls",
            "diagnostics",
            "download",
            "dynamics",
            "evaluate",
            "finetune",
            "generate",
            "hub",
            "hub_data",
            "interpolate",
            "interpolate_adaptive",
            "interpolate_blocks",
            "merge",
            "pretrain",
            "report",
            "soups",
            "sweep"
        ]
    );
    // The greedy soup needs a held-out split, which no shipped study has: the demo with its
    // one eval split named stands in.
    let demo = manifests().join("demo.toml");
    let text = std::fs::read_to_string(&demo).unwrap();
    let text = text.replace("[merge]\n", "[merge]\ngreedy = \"eval\"\n");
    let m = Manifest::from_str_at(&demo, &text).unwrap();
    assert!(check(&m).contains(&"greedy_soup".to_owned()));
}

/// A task's split and a diagnostic differ in shape: `split` on one, `max_examples` (null when
/// unset) on the other; both read back to what they were.
#[test]
fn eval_sets_keep_their_two_shapes() {
    let data = DataParams {
        format: basins_study::manifest::DataFormat::Cola,
        labels: vec!["0".into(), "1".into()],
        fields: Default::default(),
        on_bad_row: basins_study::manifest::OnBadRow::Error,
    };
    let split = EvalSetParams {
        name: "cola.dev".into(),
        origin: SetOrigin::Split("dev".into()),
        data: data.clone(),
        surface: Default::default(),
    };
    let diagnostic = EvalSetParams {
        name: "ood".into(),
        origin: SetOrigin::Diagnostic { max_examples: None },
        data,
        surface: Default::default(),
    };
    let (s, d) = (to_value(&split), to_value(&diagnostic));
    assert_eq!(
        (&s["split"], &s["diagnostic"]),
        (&Value::from("dev"), &Value::from(false))
    );
    assert!(s.get("max_examples").is_none());
    assert_eq!(
        (&d["max_examples"], &d["diagnostic"]),
        (&Value::Null, &Value::from(true))
    );
    assert!(d.get("split").is_none());
    for (v, typed) in [(s, split), (d, diagnostic)] {
        let back: EvalSetParams = serde_json::from_value(v).unwrap();
        assert_eq!(
            (back.diagnostic(), back.origin),
            (typed.diagnostic(), typed.origin)
        );
    }
}
