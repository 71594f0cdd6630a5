//! The demo's own report, rendered in headless Chromium: what a new user reads first. The demo
//! takes minutes, so this test reads a report already made (`BASINS_DEMO_REPORT`, a folder;
//! `.ci/run` makes it with the README's command and runs this test after it).

mod common;

use std::path::PathBuf;

use serde_json::Value;

fn report_dir() -> PathBuf {
    let dir = std::env::var_os("BASINS_DEMO_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "set BASINS_DEMO_REPORT to the folder `basins report manifests/demo.toml` wrote \
             (manifests/report)"
            )
        });
    assert!(
        dir.join("index.html").is_file(),
        "{}: no index.html; run `cargo run --bin basins -- report manifests/demo.toml` first",
        dir.display()
    );
    std::fs::canonicalize(dir).unwrap()
}

#[test]
#[ignore = "needs the demo's report: BASINS_DEMO_REPORT=manifests/report (.ci/run sets it)"]
fn the_demo_report_reads_itself() {
    let dir = report_dir();
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let task = &report["tasks"]["nli"];
    let models: u64 = serde_json::from_value::<Vec<u64>>(task["sizes"].clone())
        .unwrap()
        .iter()
        .sum();
    assert_eq!(models, 20, "the demo has 20 seeds");
    let browser = common::chromium().expect("chromium (apt-get install chromium)");
    let dom = common::rendered_dom(browser, &dir.join("index.html"));
    // How to read it, first.
    let how = dom
        .find("id=\"how-to-read\"")
        .expect("the how-to-read block");
    assert!(
        how < dom.find("id=\"verdict-nli\"").unwrap(),
        "it comes before the task"
    );
    // One row per model, and the models that break their basin's pattern named.
    assert_eq!(
        dom.matches("<tr class=\"model\">").count() as u64,
        models,
        "a row per model"
    );
    assert!(dom.contains("id=\"mismatches-nli\""));
    // The heatmap's bands have a legend, one entry per basin, with its size.
    let heat = &dom[dom.find("aria-label=\"barrier heatmap\"").unwrap()..];
    let heat = &heat[..heat.find("</svg>").unwrap()];
    for (c, n) in serde_json::from_value::<Vec<u64>>(task["sizes"].clone())
        .unwrap()
        .iter()
        .enumerate()
    {
        assert!(
            heat.contains(&format!(">basin {c} ({n})</text>")),
            "legend of basin {c}"
        );
    }
    // No p-value printed as 0.000, in the tables or the summary.
    for bad in ["<td>0.000 (", "(0.000)</td>", "= 0.000", "p = 0.000"] {
        assert!(!dom.contains(bad), "a p-value printed as 0.000 ({bad})");
    }
    // Units and readable settings.
    assert!(dom.contains("nats between basins"));
    for rust in ["Diagnostic</", "k.fixed", "<td>All</td>"] {
        assert!(!dom.contains(rust), "a Rust name in the settings: {rust}");
    }
    // In-distribution accuracy 1.000 against 0.999 is not called a difference.
    let verdict = &dom[dom.find("id=\"verdict-nli\"").unwrap()..];
    let verdict = &verdict[..verdict.find("</p>").unwrap()];
    let differ = verdict.find("these scores differ").map(|i| &verdict[i..]);
    let said = differ.map_or("", |d| &d[..d.find('.').unwrap_or(d.len())]);
    assert!(!said.contains("nli.eval"), "{verdict}");
}
