//! `[merge]` through the CLI on a small generated study (tiny BERT, 3 seeds, 2 basins, so one
//! basin of one model and one of two): the soups expand from the clustering once it has run,
//! a merge node per basin and method; the soup of one model is that model bit for bit, and the
//! even soup of two scores exactly what the interpolate node scores at alpha = 0.5; a soup is a
//! checkpoint `basins export` writes and `basins model predict` reads.

mod common;

use std::collections::BTreeMap;

use common::{basins_json, basins_ok, node_output};
use serde_json::Value;

const MANIFEST: &str = r#"[study]
name = "soups"
cache = "cache"

[models.tiny]
builtin = { layers = 1, hidden = 32, heads = 2, intermediate = 64, max_position = 64 }
pretrain = { steps = 40, batch_size = 16, lr = 2e-3, seed = 0, sentences = 300 }

[tasks.nli]
format = "generated"
generate = { generator = "nli", seed = 0, train = 300, eval = 200, shortcut_share = 0.8 }
labels = ["entailment", "non-entailment"]

[finetune]
model = "tiny"
tasks = ["nli"]
seeds = "0..3"
lr = 1e-3
batch_size = 16
max_steps = 12
max_len = 48

[interpolate]
pairs = "all"
alphas = [0.0, 0.25, 0.5, 0.75, 1.0]

[cluster]
k = 2

[merge]
methods = ["average", "ties", "task_arithmetic"]
controls = 2
greedy = "eval"

[report]
title = "soups"
"#;

/// Tensors of a safetensors file, by name: (shape, little-endian bytes).
fn tensors(bytes: &[u8]) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.shape().to_vec(), v.data().to_vec())))
        .collect()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn ids(plan: &Value, prefix: &str) -> Vec<String> {
    plan.as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["node"].as_str())
        .filter(|id| id.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn soups_expand_per_basin_and_agree_with_the_models_and_their_paths() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("m.toml"), MANIFEST).unwrap();

    // Before anything ran no clustering is known: the plan has no basin soups yet, only the
    // greedy soup, which needs none.
    let plan = basins_json(d, &["plan", "m.toml", "--json"]);
    assert_eq!(ids(&plan, "merge/"), ["merge/nli/greedy/average"], "{plan}");

    basins_ok(d, &["run", "m.toml"]);
    let cluster: Value =
        serde_json::from_slice(&node_output(d, "cluster/nli", "cluster.json")).unwrap();
    let assignments: Vec<usize> = serde_json::from_value(cluster["assignments"].clone()).unwrap();
    let mut basins: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (seed, b) in assignments.iter().enumerate() {
        basins.entry(*b).or_default().push(seed as u64);
    }
    assert_eq!(basins.len(), 2, "{cluster}");

    // One merge node per basin and method, the soup of all models per method, and the
    // cross-basin controls of the basin of two; each evaluated; all run by the one `run`.
    let plan = basins_json(d, &["plan", "m.toml", "--json"]);
    let mut expected: Vec<String> = Vec::new();
    for b in basins.keys() {
        for method in ["average", "task-arithmetic", "ties"] {
            expected.push(format!("merge/nli/basin-{b}/{method}"));
        }
    }
    for method in ["average", "task-arithmetic", "ties"] {
        expected.push(format!("merge/nli/all/{method}"));
    }
    expected.push("merge/nli/greedy/average".into());
    let pair_basin = basins.iter().find(|(_, m)| m.len() == 2).unwrap();
    let single_basin = basins.iter().find(|(_, m)| m.len() == 1).unwrap();
    // Groups of two across basins {a, b} and {c}: {a, c} and {b, c}.
    for r in 0..2 {
        expected.push(format!("merge/nli/cross-{}-{r}/average", pair_basin.0));
    }
    let mut found = ids(&plan, "merge/");
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    for n in plan.as_array().unwrap() {
        assert_eq!(n["status"], "fresh", "{n}");
    }
    assert_eq!(ids(&plan, "evaluate/nli/").len(), 3 + expected.len());

    // The soup of one model is that model, bit for bit, and scores what it scores.
    let (b, seeds) = single_basin;
    let soup = format!("merge/nli/basin-{b}/average");
    let model = format!("finetune/nli/seed={}", seeds[0]);
    assert_eq!(
        tensors(&node_output(d, &soup, "model/model.safetensors")),
        tensors(&node_output(d, &model, "model/model.safetensors")),
    );
    let scores = |node: &str| {
        tensors(&node_output(d, node, "eval/nli.eval.safetensors"))["loss"]
            .1
            .clone()
    };
    assert_eq!(
        scores(&format!("evaluate/nli/basin-{b}/average")),
        scores(&format!("evaluate/nli/seed={}", seeds[0]))
    );

    // The even soup of two models scores, on the path's rows, exactly what the interpolate
    // node between them scores at alpha = 0.5.
    let (b, seeds) = pair_basin;
    let soup_loss = f32s(&scores(&format!("evaluate/nli/basin-{b}/average")));
    let path_node = format!("interpolate/nli/{}~{}", seeds[0], seeds[1]);
    let path_bytes = node_output(d, &path_node, "path/nli.eval.safetensors");
    let st = safetensors::SafeTensors::deserialize(&path_bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&path_bytes).unwrap();
    let meta: Value = serde_json::from_str(&meta.metadata().as_ref().unwrap()["path"]).unwrap();
    let rows: Vec<usize> = serde_json::from_value(meta["rows"].clone()).unwrap();
    let alphas: Vec<f64> = serde_json::from_value(meta["alphas"].clone()).unwrap();
    let mid = alphas.iter().position(|&a| a == 0.5).unwrap();
    let path = f32s(st.tensor("loss").unwrap().data());
    let n = rows.len();
    let at_mid = &path[mid * n..(mid + 1) * n];
    let soup_at_rows: Vec<f32> = rows.iter().map(|&r| soup_loss[r]).collect();
    assert_eq!(soup_at_rows.len(), n);
    assert!(
        soup_at_rows
            .iter()
            .zip(at_mid)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "the soup of two and the path's midpoint score differently"
    );

    // Each merge node says what it merged; the controls draw across basins.
    let control = format!("merge/nli/cross-{b}-0/average");
    let shown = basins_json(d, &["show", "m.toml", &control, "--json"]);
    let members: Vec<u64> = shown["record"]["preimage"]["params"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(members.len(), 2, "{shown}");
    assert!(members.contains(&single_basin.1[0]), "{shown}");

    // A soup is a checkpoint: exported, it is a Hugging Face directory `basins model predict`
    // reads; the soup of one predicts what its model predicts.
    for node in [&soup, &model] {
        let out = node.replace('/', "_");
        basins_ok(d, &["export", "m.toml", node, &out]);
        assert!(d.join(&out).join("config.json").is_file());
    }
    let predict = |dir: &str| {
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
    let soup_dir = soup.replace('/', "_");
    let p = predict(&soup_dir);
    assert_eq!(p, predict(&model.replace('/', "_")), "{p}");
    let ties = format!("merge/nli/basin-{b}/ties");
    basins_ok(d, &["export", "m.toml", &ties, "ties"]);
    let p = predict("ties");
    assert!(p.to_string().contains("entailment"), "{p}");

    // The greedy soup: members best first by their own accuracy on the split, the first kept,
    // each later one kept exactly when the soup's accuracy does not drop; its accuracy is what
    // its evaluate node measures on that split.
    let greedy: Value =
        serde_json::from_slice(&node_output(d, "merge/nli/greedy/average", "greedy.json")).unwrap();
    let steps = greedy["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{greedy}");
    let own: Vec<f64> = steps.iter().map(|s| s["own"].as_f64().unwrap()).collect();
    assert!(own.windows(2).all(|w| w[0] >= w[1]), "{greedy}");
    assert_eq!(steps[0]["kept"], true);
    let mut best = steps[0]["soup"].as_f64().unwrap();
    for s in &steps[1..] {
        let with = s["soup"].as_f64().unwrap();
        assert_eq!(s["kept"], with >= best, "{greedy}");
        if with >= best {
            best = with;
        }
    }
    let kept = steps.iter().filter(|s| s["kept"] == true).count();
    assert_eq!(greedy["members"].as_array().unwrap().len(), kept);
    let evaluated = basins_json(
        d,
        &["show", "m.toml", "evaluate/nli/greedy/average", "--json"],
    );
    assert_eq!(
        evaluated["metrics"]["sets"]["nli.eval"]["accuracy"].as_f64(),
        Some(best),
        "{evaluated}"
    );
    for (i, s) in steps.iter().enumerate() {
        let seed = s["member"].as_str().unwrap();
        let own = basins_json(
            d,
            &[
                "show",
                "m.toml",
                &format!("evaluate/nli/seed={seed}"),
                "--json",
            ],
        );
        assert_eq!(
            own["metrics"]["sets"]["nli.eval"]["accuracy"].as_f64(),
            Some(s["own"].as_f64().unwrap()),
            "step {i}"
        );
    }

    // The soups document: the soup of one scores as its model, whose range is itself, and as
    // the ensemble of one; the soup of two's loss on the surface rows is the path's midpoint.
    let doc: Value = serde_json::from_slice(&node_output(d, "soups/nli", "soups.json")).unwrap();
    assert_eq!(doc["sets"][0]["name"], "nli.eval", "{doc}");
    assert_eq!(doc["sets"][0]["diagnostic"], false);
    let row = |soup: &str, method: &str| {
        doc["soups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["soup"] == soup && r["method"] == method)
            .unwrap_or_else(|| panic!("no {soup}/{method} in {doc}"))
            .clone()
    };
    let one = row(&format!("basin-{}", single_basin.0), "average");
    let sc = &one["scores"][0];
    assert_eq!(sc["soup"], sc["members"]["min"]);
    assert_eq!(sc["soup"], sc["members"]["max"]);
    assert_eq!(sc["soup"], sc["ensemble"]);
    assert_eq!(sc["gain"], 0.0);
    assert_eq!(sc["within"], true);
    let two = row(&format!("basin-{}", pair_basin.0), "average");
    let loss = &two["scores"][0]["loss"];
    assert_eq!(loss["pairs"], 1, "{two}");
    assert_eq!(loss["midpoint_on_grid"], true);
    let (soup, mid) = (
        loss["soup"].as_f64().unwrap(),
        loss["midpoints"].as_f64().unwrap(),
    );
    assert!((soup - mid).abs() < 1e-9, "soup {soup}, midpoint {mid}");
    assert_eq!(row("greedy", "average")["chosen"], greedy["members"]);
    // Each uniform soup of two or more has a path to each member; the barrier among the
    // members of the basin of two is their pair's, as barriers.json has it.
    let paths = ids(&plan, "interpolate/nli/");
    for seed in pair_basin.1 {
        let id = format!("interpolate/nli/basin-{}~{seed}", pair_basin.0);
        assert!(paths.contains(&id), "no {id} in {paths:?}");
    }
    assert!(paths.contains(&"interpolate/nli/all~0".to_owned()));
    let b = &two["barriers"];
    let barriers: Value =
        serde_json::from_slice(&node_output(d, "barriers/nli", "barriers.json")).unwrap();
    let (i, j) = (pair_basin.1[0] as usize, pair_basin.1[1] as usize);
    assert_eq!(
        b["among"]["mean"], barriers["sets"]["nli.eval"]["matrices"]["convexity"]["value"][i][j],
        "{two}"
    );
    let to = &b["to_members"];
    assert!(to["min"].as_f64().unwrap() >= 0.0 && to["max"].as_f64() >= to["min"].as_f64());
    assert!(one.get("barriers").is_none(), "a soup of one has no paths");
    let control = row(&format!("cross-{}-0", pair_basin.0), "average");
    assert_eq!(control["group"], "cross");
    assert_eq!(control["basin"], *pair_basin.0);

    // The report shows them, with its sentence, and report.json has the same numbers.
    basins_ok(d, &["report", "m.toml", "--out", "report"]);
    let page = std::fs::read_to_string(d.join("report/index.html")).unwrap();
    assert!(page.contains("<h3>Basin soups</h3>"), "no soups section");
    assert!(page.contains("id=\"soups-nli\""));
    assert!(page.contains("Within basins, "), "no sentence");
    assert!(d.join("report/figures/nli-soups-nli.eval.svg").is_file());
    let summary: Value =
        serde_json::from_slice(&std::fs::read(d.join("report/report.json")).unwrap()).unwrap();
    assert_eq!(summary["tasks"]["nli"]["soups"], doc);

    // A second run finds everything cached, soups included.
    let again = basins_json(d, &["run", "m.toml", "--json"]);
    assert!(again["executed"].as_array().unwrap().is_empty(), "{again}");
}
