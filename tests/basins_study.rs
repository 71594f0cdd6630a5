//! Interpolation, barriers and clustering through `basins run`, on a tiny generated study:
//! endpoints come from the evaluate nodes (never recomputed per pair), barrier matrices are
//! well formed, every model is clustered, and changing only the alpha grid reruns only what
//! depends on it.

mod common;

use std::path::Path;

use common::{basins_json, ids, node_output, set};
use serde_json::Value;

/// The generated study with 4 seeds, 20 steps at a higher rate (so the models differ), a
/// 5-point grid on the first 40 examples of the task's eval set and, on the HANS-style set, on
/// the paper's selection (lexical-overlap non-entailment, shuffled with seed 42, first 8), and
/// clustering.
fn manifest() -> String {
    common::GENERATED
        .replace("seeds = \"0..2\"", "seeds = \"0..4\"")
        .replace("max_steps = 10", "max_steps = 20")
        .replace("lr = 1e-3", "lr = 3e-3")
        .replace(
            "per_subcase = 3 }",
            "per_subcase = 2 }\nsurface = { where = { heuristic = \"lexical_overlap\", label = \"non-entailment\" }, shuffle_seed = 42, n = 8 }",
        )
        + "\n[interpolate]\npairs = \"all\"\nalphas = { linspace = [0.0, 1.0, 5] }\nmax_examples = 40\n\n[cluster]\neval = \"nli.eval\"\nk = 2\n"
}

fn basins(dir: &Path, args: &[&str]) -> Value {
    basins_json(dir, args)
}

fn output_json(dir: &Path, node: &str, name: &str) -> Value {
    serde_json::from_slice(&node_output(dir, node, name)).unwrap()
}

#[test]
fn paths_barriers_and_clusters_from_a_generated_study() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("m.toml"), manifest()).unwrap();
    let first = basins(d, &["run", "m.toml", "--json"]);
    assert_eq!(
        set(&first, "executed").len(),
        2 + 1 + 4 + 4 + 6 + 1 + 1 + 1 + 1
    );

    // A path node evaluates only the interior alphas (3 of 5), on each set's loss-surface
    // rows: the first 40 of the task's eval set, 8 selected HANS rows.
    let path = basins(d, &["show", "m.toml", "interpolate/nli/0~3", "--json"]);
    assert_eq!(path["metrics"]["forward_passes"], 3 * (40 + 8));
    // The models themselves are scored on every row (60 each), the surface rows recorded.
    let ev = basins(d, &["show", "m.toml", "evaluate/nli/seed=0", "--json"]);
    for (set_name, surface) in [("nli.eval", 40), ("hans", 8)] {
        assert_eq!(
            ev["metrics"]["sets"][set_name]["examples"], 60,
            "{set_name}"
        );
        assert_eq!(
            ev["metrics"]["sets"][set_name]["surface_examples"], surface,
            "{set_name}"
        );
    }
    // The HANS surface is the paper's: lexical-overlap non-entailment rows in file order,
    // permuted as numpy's default_rng(42) permutes them, the first 8.
    let groups: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_slice(
        &node_output(d, "evaluate/nli/seed=0", "eval/hans.groups.json"),
    )
    .unwrap();
    let sub = output_json(d, "evaluate/nli/seed=0", "eval/hans.surface.json");
    let rows: Vec<usize> = serde_json::from_value(sub["rows"].clone()).unwrap();
    let lo_ne: Vec<usize> = (0..60)
        .filter(|&i| {
            groups["heuristic"][i] == "lexical_overlap" && groups["subcase"][i].starts_with("ln_")
        })
        .collect();
    assert_eq!(lo_ne.len(), 10);
    let perm = basins_stages::data::select::numpy_permutation(10, 42);
    let want: Vec<usize> = perm[..8].iter().map(|&i| lo_ne[i]).collect();
    assert_eq!(rows, want);
    // The diagnostics score the whole set and say how many rows each count covers.
    let diag = output_json(d, "diagnostics/nli", "diagnostics.json");
    assert_eq!(diag["sets"]["hans"]["rows"], 60);
    assert_eq!(diag["sets"]["hans"]["surface_rows"], 8);
    assert_eq!(diag["sets"]["hans"]["score_rows"], 10);
    assert_eq!(
        path["metrics"]["sets"]["nli.eval"]["alphas"],
        serde_json::json!([0.25, 0.5, 0.75])
    );

    let b = output_json(d, "barriers/nli", "barriers.json");
    let seeds = b["seeds"].as_array().unwrap().len();
    assert_eq!(seeds, 4);
    for set_name in ["nli.eval", "hans"] {
        let s = &b["sets"][set_name];
        assert_eq!(s["alphas"], serde_json::json!([0.0, 0.25, 0.5, 0.75, 1.0]));
        // The curve's ends are the models' own evaluations.
        let ev0 = basins(d, &["show", "m.toml", "evaluate/nli/seed=0", "--json"]);
        let ev3 = basins(d, &["show", "m.toml", "evaluate/nli/seed=3", "--json"]);
        let curve = s["curves"]["0~3"]["loss"].as_array().unwrap();
        let close = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-6;
        assert!(close(
            &curve[0],
            &ev0["metrics"]["sets"][set_name]["surface_loss"]
        ));
        assert!(close(
            &curve[4],
            &ev3["metrics"]["sets"][set_name]["surface_loss"]
        ));
        for kind in ["convexity", "endpoint", "accuracy"] {
            let m = &s["matrices"][kind];
            for i in 0..seeds {
                assert_eq!(m["value"][i][i], 0.0);
                for j in 0..seeds {
                    let v = m["value"][i][j].as_f64().unwrap();
                    assert!(v >= 0.0 && v.is_finite(), "{kind} ({i}, {j}) = {v}");
                    assert_eq!(m["value"][i][j], m["value"][j][i]);
                    let (lo, hi) = (
                        m["ci_low"][i][j].as_f64().unwrap(),
                        m["ci_high"][i][j].as_f64().unwrap(),
                    );
                    assert!(
                        lo <= v + 1e-9 && v <= hi + 1e-9,
                        "{kind}: {lo} <= {v} <= {hi}"
                    );
                }
            }
            // The convexity barrier is never below the endpoint barrier.
        }
        for i in 0..seeds {
            for j in 0..seeds {
                let conv = s["matrices"]["convexity"]["value"][i][j].as_f64().unwrap();
                let end = s["matrices"]["endpoint"]["value"][i][j].as_f64().unwrap();
                assert!(conv + 1e-12 >= end);
            }
        }
    }

    let c = output_json(d, "cluster/nli", "cluster.json");
    assert_eq!(c["k"], 2);
    let a = c["assignments"].as_array().unwrap();
    assert_eq!(a.len(), seeds, "every model is clustered");
    assert!(a.iter().all(|x| x.as_u64().unwrap() < 2));
    assert_eq!(
        c["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .sum::<u64>(),
        4
    );
    assert_eq!(c["embedding"].as_array().unwrap().len(), seeds);
    let mut order: Vec<u64> = c["dendrogram"]["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    order.sort();
    assert_eq!(order, vec![0, 1, 2, 3]);
    assert!(c["stability"]["replicates"].as_u64().unwrap() > 0);

    // The controls: the barrier partition is the cluster node's, and the output-similarity
    // matrices are what the evaluate nodes' stored outputs give, recomputed here from the
    // surface rows by the definitions (share of differing predictions; mean Jensen-Shannon
    // divergence, natural log).
    let ctl = output_json(d, "controls/nli", "controls.json");
    assert_eq!(ctl["set"], "nli.eval");
    assert_eq!(ctl["rows"], 40);
    assert_eq!(
        ctl["partitions"][0]["partition"]["labels"],
        c["assignments"]
    );
    let stored: Vec<(Vec<usize>, Vec<Vec<f64>>)> = (0..seeds)
        .map(|s| {
            let (set, rows) = common::stored_set(d, &format!("evaluate/nli/seed={s}"), "nli.eval");
            let rows = rows.unwrap();
            assert_eq!(rows, (0..40).collect::<Vec<_>>(), "the first 40 rows");
            let probs = rows
                .iter()
                .map(|&r| set.probs[r].iter().map(|&p| f64::from(p)).collect())
                .collect();
            (rows.iter().map(|&r| set.predicted[r]).collect(), probs)
        })
        .collect();
    let kl = |p: &[f64], m: &[f64]| -> f64 {
        p.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| x * (x / y).ln())
            .sum()
    };
    for i in 0..seeds {
        for j in 0..seeds {
            let differ = (0..40)
                .filter(|&r| stored[i].0[r] != stored[j].0[r])
                .count();
            assert_eq!(
                ctl["partitions"][1]["matrix"][i][j].as_f64().unwrap(),
                differ as f64 / 40.0,
                "disagreement {i} {j}"
            );
            let js: f64 = (0..40)
                .map(|r| {
                    let norm = |v: &[f64]| -> Vec<f64> {
                        let s: f64 = v.iter().sum();
                        v.iter().map(|x| x / s).collect()
                    };
                    let (p, q) = (norm(&stored[i].1[r]), norm(&stored[j].1[r]));
                    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
                    (kl(&p, &m) + kl(&q, &m)) / 2.0
                })
                .sum::<f64>()
                / 40.0;
            let got = ctl["partitions"][2]["matrix"][i][j].as_f64().unwrap();
            assert!(
                (got - js).abs() < 1e-12,
                "Jensen-Shannon {i} {j}: {got} vs {js}"
            );
        }
    }
    // The robustness table holds the study's own setting, which reproduces its partition.
    let own: Vec<&Value> = ctl["robustness"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["reported"] == true && v["group"] == "definition")
        .collect();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["setting"], "convexity");
    assert_eq!(own[0]["ari_vs_reported"], 1.0);

    // Changing only the alpha grid reruns the paths and the barriers; the cluster and the
    // diagnostics rerun only if their input's content changed (early cutoff); nothing else.
    let text = std::fs::read_to_string(d.join("m.toml")).unwrap();
    std::fs::write(
        d.join("m.toml"),
        text.replace("linspace = [0.0, 1.0, 5]", "linspace = [0.0, 1.0, 3]"),
    )
    .unwrap();
    let second = basins(d, &["run", "m.toml", "--json"]);
    let executed = set(&second, "executed");
    let mut must: Vec<String> = vec!["barriers/nli".into()];
    for (x, y) in [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)] {
        must.push(format!("interpolate/nli/{x}~{y}"));
    }
    let may = ids(&["cluster/nli", "diagnostics/nli", "controls/nli"]);
    assert!(must.iter().all(|m| executed.contains(m)), "{executed:?}");
    assert!(
        executed.iter().all(|e| must.contains(e) || may.contains(e)),
        "{executed:?}"
    );
}

/// A zoo of already finetuned checkpoints (here: the trained study's own finetune outputs,
/// copied into a folder) is analysed without training, and gives the very barrier matrices the
/// study that trained them gave.
#[test]
fn a_zoo_of_checkpoints_is_analysed_without_training() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("m.toml"), manifest()).unwrap();
    basins(d, &["run", "m.toml", "--json"]);
    let names = ["alpha", "bravo", "charlie", "delta"];
    // Each checkpoint leaves the cache the documented way, `basins export`, as a Hugging Face
    // directory that `model predict` loads.
    std::fs::create_dir_all(d.join("zoo")).unwrap();
    for (seed, name) in names.iter().enumerate() {
        let dir = d.join("zoo").join(name);
        let node = format!("finetune/nli/seed={seed}");
        common::basins_ok(d, &["export", "m.toml", &node, dir.to_str().unwrap()]);
        assert!(dir.join("config.json").exists() && dir.join("model.safetensors").exists());
    }
    let predicted = basins_json(
        d,
        &[
            "model",
            "predict",
            "zoo/alpha",
            "--pair",
            "the cat sat",
            "the cat sat",
            "--json",
        ],
    );
    assert!(predicted.to_string().contains("entailment"), "{predicted}");
    let text = String::from_utf8_lossy(
        &common::basins_ok(d, &["show", "m.toml", "finetune/nli/seed=0"]).stdout,
    )
    .into_owned();
    assert!(
        text.contains("basins export MANIFEST finetune/nli/seed=0 DIR"),
        "{text}"
    );
    // A node without a checkpoint, and a folder that is not empty, are refused (exit 2).
    let bad = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_basins"))
            .current_dir(d)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(bad(&["export", "m.toml", "barriers/nli", "zoo/x"]).contains("holds no checkpoint"));
    assert!(bad(&["export", "m.toml", "finetune/nli/seed=0", "zoo/alpha"]).contains("not empty"));
    let trained = std::fs::read_to_string(d.join("m.toml")).unwrap();
    let start = trained.find("[models.tiny]").unwrap();
    let tasks = trained.find("[tasks.nli]").unwrap();
    let finetune = trained.find("[finetune]").unwrap();
    let interpolate = trained.find("[interpolate]").unwrap();
    let zoo = format!(
        "{}{}[zoo]\ntask = \"nli\"\ndir = \"zoo\"\n\n{}[report]\n",
        trained[..start]
            .replace("name = \"gen\"", "name = \"zoo\"")
            .replace("cache = \"cache\"", "cache = \"zcache\""),
        &trained[tasks..finetune],
        &trained[interpolate..]
    );
    std::fs::write(d.join("zoo.toml"), zoo).unwrap();
    let run = basins(d, &["run", "zoo.toml", "--json"]);
    let executed = set(&run, "executed");
    assert!(
        executed.contains("evaluate/nli/model=alpha"),
        "{executed:?}"
    );
    assert!(
        executed.contains("interpolate/nli/alpha~delta"),
        "{executed:?}"
    );
    assert!(
        !executed
            .iter()
            .any(|e| e.starts_with("finetune/") || e.starts_with("pretrain/")),
        "{executed:?}"
    );
    let show = |m: &str, node: &str, f: &str| -> Value {
        let v = basins_json(d, &["show", m, node, "--json"]);
        let path = v["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == f)
            .unwrap()["path"]
            .as_str()
            .unwrap()
            .to_owned();
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let (ours, theirs) = (
        show("zoo.toml", "barriers/nli", "barriers.json"),
        show("m.toml", "barriers/nli", "barriers.json"),
    );
    assert_eq!(
        ours["sets"], theirs["sets"],
        "same checkpoints, same barriers"
    );
    let c = show("zoo.toml", "cluster/nli", "cluster.json");
    assert_eq!(c["names"], serde_json::json!(names));
    common::basins_ok(d, &["report", "zoo.toml", "--out", "zrep"]);
    let html = std::fs::read_to_string(d.join("zrep/index.html")).unwrap();
    assert!(
        html.contains(">charlie</text>"),
        "members are named on the heatmap"
    );
    let csv = std::fs::read_to_string(d.join("zrep/clusters.csv")).unwrap();
    assert!(
        csv.lines().nth(1).unwrap().starts_with("nli,0,alpha,"),
        "{csv}"
    );
}

#[test]
fn the_report_is_written_and_renders_in_a_browser() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(
        d.join("m.toml"),
        format!("{}\n[report]\ntitle = \"a <tiny> study\"\n", manifest()),
    )
    .unwrap();
    common::basins_ok(d, &["report", "m.toml", "--out", "rep"]);
    for f in ["index.html", "report.json", "clusters.csv"] {
        assert!(d.join("rep").join(f).exists(), "{f}");
    }
    let html = std::fs::read_to_string(d.join("rep/index.html")).unwrap();
    assert!(
        html.contains("<title>a &lt;tiny&gt; study</title>"),
        "titles are escaped"
    );
    assert!(!html.contains("<script"));
    // Self-contained: the only URLs are SVG's namespace name.
    assert!(!html.contains("https://"));
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(d.join("rep/report.json")).unwrap()).unwrap();
    let tests = &report["tasks"]["nli"]["tests"];
    assert_eq!(tests["hans"]["scores"].as_array().unwrap().len(), 4);
    assert!(tests["hans"]["primary"]
        .as_str()
        .unwrap()
        .contains("lexical_overlap"));
    let csv = std::fs::read_to_string(d.join("rep/clusters.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4);
    assert!(csv
        .starts_with("task,seed,model,cluster,coordinate,embedding_1,embedding_2,hans,nli.eval\n"));
    // Each row says how many rows its score and the loss surface cover.
    assert_eq!(tests["hans"]["counts"]["rows"], 60);
    assert_eq!(tests["hans"]["counts"]["surface_rows"], 8);
    // The paper's protocol: the 8 surface rows are among the 10 the score is taken on.
    assert_eq!(tests["hans"]["counts"]["shared"], 8);
    assert!(
        html.contains("<td>10 of 60</td><td>8 of 8</td>"),
        "rows scored of the set's, and of them loss-surface rows"
    );
    // A newcomer's page: how to read it, a row per model, links to the data files.
    assert!(html.contains("id=\"how-to-read\""));
    assert_eq!(html.matches("<tr class=\"model\">").count(), 4);
    assert!(
        html.contains("<a href=\"clusters.csv\">") && html.contains("<a href=\"report.json\">")
    );
    // The controls section: the three partitions side by side and the robustness table, on
    // the page and in report.json; the clustering set's score is the paper's, not held out,
    // so the page says how much it shares with the surface.
    for id in [
        "partitions-nli",
        "robustness-nli",
        "controls-verdict-nli",
        "circularity-nli",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let ctl = &report["tasks"]["nli"]["controls"];
    assert_eq!(ctl["partitions"].as_array().unwrap().len(), 3);
    assert!(ctl["robustness"].as_array().unwrap().len() >= 8);
    assert!(!html.contains(">0.000 ("), "a p-value printed as 0.000");
    // Holm-corrected p-values sit beside the raw ones.
    let mw = &tests["hans"]["comparisons"][0]["mann_whitney"];
    assert!(mw["p_holm"].as_f64().unwrap() >= mw["p"].as_f64().unwrap());
    // In-distribution accuracy is tested and correlated like each diagnostic, and the page sets
    // the two correlations side by side.
    assert_eq!(tests["nli.eval"]["in_distribution"], true);
    let acc = &tests["nli.eval accuracy"];
    assert_eq!(
        (&acc["primary"], &acc["in_distribution"]),
        (&"accuracy".into(), &true.into())
    );
    assert_eq!(acc["scores"].as_array().unwrap().len(), 4);
    assert_eq!(tests["hans"]["in_distribution"], false);
    // Pearson r is undefined (null) when a score is the same for every model.
    let r = &acc["pearson_vs_coordinate"];
    assert!(
        r.is_null() || r["r"].as_f64().is_some_and(|r| r.abs() <= 1.0),
        "{r}"
    );
    assert!(html.contains("id=\"id-vs-diagnostics\""));
    // Every figure is on the page and saved beside it, with its axis titles, tick values and
    // legends.
    let figure = |name: &str| {
        let svg = std::fs::read_to_string(d.join("rep/figures").join(name)).unwrap();
        assert!(html.contains(&svg), "{name} is the figure on the page");
        assert!(html.contains(&format!("href=\"figures/{name}\" download")));
        svg
    };
    let heat = figure("nli-heatmap.svg");
    assert!(heat.contains(">barrier (nats)</text>") && heat.contains("<path d=\"M"));
    assert!(heat.contains(">basin 0 ("), "the bands' legend");
    let paths = figure("nli-paths.svg");
    for label in [
        "interpolation weight α",
        ">0.25</text>",
        "within basin 0: median barrier",
    ] {
        assert!(paths.contains(label), "{label}");
    }
    let scatter = figure("nli-scatter-hans.svg");
    assert!(scatter.contains("spectral coordinate") && scatter.contains("basin 0 ("));
    assert!(figure("nli-strip-nli.eval_accuracy.svg").contains("(n = "));
    // The manifest as it was, and the build that made the page.
    assert!(html.contains("<summary>manifest <code>m.toml</code></summary>"));
    assert!(html.contains("[report]\ntitle = &quot;a &lt;tiny&gt; study&quot;"));
    assert!(html.contains(&format!(
        "(git commit <code>{}</code>)",
        env!("BASINS_GIT_COMMIT")
    )));

    let Some(browser) = common::chromium() else {
        eprintln!("NOTE: no chromium on this machine; the browser rendering check did not run");
        return;
    };
    let page = d.join("rep/index.html");
    let shot = d.join("shot.png");
    let run = |extra: &[&str]| common::headless(browser, &page, extra);
    let dom = common::rendered_dom(browser, &page);
    assert!(
        dom.contains("id=\"summary-nli\""),
        "the page did not render: {dom}"
    );
    assert!(dom.matches("<svg").count() >= 6);
    let shot_arg = format!("--screenshot={}", shot.display());
    let s = run(&[&shot_arg]);
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1200, 1600));
    assert!(
        png.len() > 10_000,
        "a blank page compresses to almost nothing: {} bytes",
        png.len()
    );
}

/// With k = 3 on four models one basin is a single model: the summary says so before anything
/// else, and each test names the basins it compares.
#[test]
fn three_basins_of_four_models_are_flagged() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(
        d.join("m.toml"),
        format!("{}\n[report]\n", manifest().replace("k = 2", "k = 3")),
    )
    .unwrap();
    common::basins_ok(d, &["report", "m.toml", "--out", "rep"]);
    let report: Value =
        serde_json::from_slice(&std::fs::read(d.join("rep/report.json")).unwrap()).unwrap();
    let sizes: Vec<u64> = serde_json::from_value(report["tasks"]["nli"]["sizes"].clone()).unwrap();
    assert_eq!(sizes.len(), 3);
    let singles = sizes.iter().filter(|&&n| n == 1).count();
    assert!(singles >= 1, "{sizes:?}");
    let page = d.join("rep/index.html");
    let html = match common::chromium() {
        Some(browser) => common::rendered_dom(browser, &page),
        None => {
            eprintln!("NOTE: no chromium on this machine; checked the HTML without rendering it");
            std::fs::read_to_string(&page).unwrap()
        }
    };
    let verdict_start = html.find("id=\"verdict-nli\"").expect("a verdict");
    let verdict = &html[verdict_start..html[verdict_start..].find("</p>").unwrap() + verdict_start];
    assert!(verdict.contains("Caution: basin"), "{verdict}");
    assert_eq!(
        verdict.matches("holds a single model").count(),
        singles,
        "{verdict}"
    );
    // Each basin against the rest, and the table names which.
    assert!(html.contains("vs the rest</td>"), "no comparison named");
}
