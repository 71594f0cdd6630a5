//! The ground-truth machinery on real outputs: a cheap generated study whose HANS-style set
//! declares a `strategy`, run through `basins`; each model's strategy follows its score and the
//! threshold, and the report's contingency table and adjusted Rand index agree with the
//! clusters and labels (the ARI recomputed here by counting pairs, independently of basins).
//! Models this cheap all take the overlap shortcut (0 on the non-entailed overlap rows), so the
//! declared score is accuracy over the whole set, which differs between them.

mod common;

use common::{
    ari_by_pairs, basins_json, ground_truth_manifest as manifest, json_output, node_output,
};

#[test]
fn strategies_contingency_and_ari_follow_the_scores_and_the_clusters() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("m.toml"), manifest(0.5)).unwrap();
    basins_json(d, &["run", "m.toml", "--json"]);

    // Put the threshold between the lowest and highest score, so both strategies occur; only
    // the diagnostics and the report run again.
    let diag = json_output(d, "diagnostics/nli", "diagnostics.json");
    let scores: Vec<f64> = (0..4)
        .map(|s| {
            diag["sets"]["hans"]["per_model"][s.to_string()]["primary"]["value"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let (lo, hi) = scores
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    assert!(
        hi > lo,
        "the models must differ for this test to say anything: {scores:?}"
    );
    let threshold = (lo + hi) / 2.0;
    std::fs::write(d.join("m.toml"), manifest(threshold)).unwrap();
    let rerun = basins_json(d, &["run", "m.toml", "--json"]);
    let executed: Vec<&str> = rerun["executed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        executed,
        ["diagnostics/nli", "controls/nli", "report"],
        "{rerun}"
    );

    let diag = json_output(d, "diagnostics/nli", "diagnostics.json");
    let strategy = &diag["sets"]["hans"]["strategy"];
    for (s, score) in scores.iter().enumerate() {
        let want = if *score >= threshold {
            "rule"
        } else {
            "overlap"
        };
        assert_eq!(
            strategy["labels"][s.to_string()],
            want,
            "model {s}, score {score}"
        );
    }

    let report = json_output(d, "report", "report.json");
    let task = &report["tasks"]["nli"];
    let a = &task["strategies"]["hans"];
    let cluster = json_output(d, "cluster/nli", "cluster.json");
    let assign: Vec<usize> = serde_json::from_value(cluster["assignments"].clone()).unwrap();
    let names: Vec<String> = serde_json::from_value(a["strategies"].clone()).unwrap();
    assert_eq!(names, ["rule", "overlap"]);
    let labels: Vec<usize> = (0..4)
        .map(|s| {
            let l = strategy["labels"][s.to_string()].as_str().unwrap();
            names.iter().position(|n| n == l).unwrap()
        })
        .collect();
    assert!(labels.contains(&0) && labels.contains(&1), "{labels:?}");
    let table: Vec<Vec<usize>> = serde_json::from_value(a["contingency"].clone()).unwrap();
    for (c, row) in table.iter().enumerate() {
        for (l, n) in row.iter().enumerate() {
            let want = (0..4).filter(|&i| assign[i] == c && labels[i] == l).count();
            assert_eq!(*n, want, "basin {c}, strategy {l}");
        }
    }
    let ari = ari_by_pairs(&assign, &labels);
    match a["ari"].as_f64() {
        Some(got) => assert!((got - ari).abs() < 1e-12, "{got} vs {ari}"),
        None => assert!(ari.is_nan(), "basins gave no ARI where it is {ari}"),
    }
    let html = String::from_utf8(node_output(d, "report", "index.html")).unwrap();
    assert!(
        html.contains("id=\"strategies-nli-hans\""),
        "the page has the table"
    );
    assert!(html.contains("Adjusted Rand index between the basins and the strategies"));

    // A published answer, planted: `[report] expect` lists the models of the smaller basin
    // found as "the paper's" minority, and the report says the basins reproduce it; listing
    // one model of the other basin too, it says they do not, with the contingency table and
    // the adjusted Rand index (recomputed here by counting pairs). Only the report reruns.
    let smaller = (0..2)
        .min_by_key(|&b| (assign.iter().filter(|&&a| a == b).count(), b))
        .unwrap();
    let minority: Vec<usize> = (0..4).filter(|&i| assign[i] == smaller).collect();
    let other = (0..4).find(|&i| assign[i] != smaller).unwrap();
    let planted = |listed: &[usize]| {
        let entries: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
        let text = manifest(threshold).replace(
            "title = \"ground truth\"",
            &format!(
                "title = \"ground truth\"\nexpect = {{ minority = [{}, 99], source = \"a planted answer\" }}",
                entries.join(", ")
            ),
        );
        std::fs::write(d.join("m.toml"), text).unwrap();
        let rerun = basins_json(d, &["run", "m.toml", "--json"]);
        assert_eq!(rerun["executed"], serde_json::json!(["report"]), "{rerun}");
        json_output(d, "report", "report.json")["tasks"]["nli"]["expect"].clone()
    };
    let found = planted(&minority);
    assert_eq!(found["outcome"], "reproduced", "{found}");
    assert_eq!(found["ari"], 1.0);
    assert_eq!(found["absent"], serde_json::json!(["99"]));
    let html = String::from_utf8(node_output(d, "report", "index.html")).unwrap();
    assert!(
        html.contains("The basins reproduce the published clusters"),
        "{html}"
    );
    assert!(html.contains("a planted answer"));

    let mut wrong = minority.clone();
    wrong.push(other);
    let missed = planted(&wrong);
    assert_ne!(missed["outcome"], "reproduced", "{missed}");
    let published: Vec<usize> = (0..4).map(|i| usize::from(!wrong.contains(&i))).collect();
    let ari = ari_by_pairs(&assign, &published);
    assert!(
        (missed["ari"].as_f64().unwrap() - ari).abs() < 1e-12,
        "{missed} vs {ari}"
    );
    let table: Vec<[usize; 2]> = serde_json::from_value(missed["contingency"].clone()).unwrap();
    for (b, row) in table.iter().enumerate() {
        for (side, n) in row.iter().enumerate() {
            let want = (0..4)
                .filter(|&i| assign[i] == b && published[i] == side)
                .count();
            assert_eq!(*n, want, "basin {b}, side {side}");
        }
    }
}
