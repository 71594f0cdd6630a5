//! Interpolation, barriers and clustering through `basins run`, on a tiny generated study:
//! endpoints come from the evaluate nodes (never recomputed per pair), barrier matrices are
//! well formed, every model is clustered, and changing only the alpha grid reruns only what
//! depends on it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{basins_json, ids, node_output, set};
use serde_json::Value;

/// The generated study with 4 seeds, 20 steps at a higher rate (so the models differ), a
/// 5-point grid on the first 40 examples, and clustering.
fn manifest() -> String {
    common::GENERATED
        .replace("seeds = \"0..2\"", "seeds = \"0..4\"")
        .replace("max_steps = 10", "max_steps = 20")
        .replace("lr = 1e-3", "lr = 3e-3")
        .replace("per_subcase = 3", "per_subcase = 2")
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
    assert_eq!(set(&first, "executed").len(), 2 + 1 + 4 + 4 + 6 + 1 + 1 + 1);

    // A path node evaluates only the interior alphas (3 of 5), on the first 40 examples of
    // each set.
    let path = basins(d, &["show", "m.toml", "interpolate/nli/0~3", "--json"]);
    assert_eq!(path["metrics"]["forward_passes"], 3 * (40 + 40));
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
        assert!(close(&curve[0], &ev0["metrics"]["sets"][set_name]["loss"]));
        assert!(close(&curve[4], &ev3["metrics"]["sets"][set_name]["loss"]));
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
    let may = ids(&["cluster/nli", "diagnostics/nli"]);
    assert!(must.iter().all(|m| executed.contains(m)), "{executed:?}");
    assert!(
        executed.iter().all(|e| must.contains(e) || may.contains(e)),
        "{executed:?}"
    );
}

/// Headless Chromium, if installed (`.ci/run` installs Debian's `chromium`).
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
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
    assert!(csv.starts_with("task,seed,cluster,coordinate_1,coordinate_2,hans,nli.eval\n"));

    let Some(browser) = chromium() else {
        eprintln!("NOTE: no chromium on this machine; the browser rendering check did not run");
        return;
    };
    let url = format!("file://{}", d.join("rep/index.html").display());
    let shot = d.join("shot.png");
    let run = |extra: &[&str]| {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1200,1600",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let dom = run(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("id=\"summary-nli\""),
        "the page did not render: {dom}"
    );
    assert!(dom.matches("<svg").count() >= 4);
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
