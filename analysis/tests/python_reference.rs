//! basins' analysis against independent Python references (`scripts/reference/analysis.py`):
//! barriers against the definitions of the paper's `metrics.py`, spectral clustering against
//! scikit-learn, the statistics against SciPy, the surface shuffle against numpy, and the
//! controls (output-similarity baselines, Spearman, the adjusted Rand index's permutation test)
//! against numpy, SciPy and scikit-learn.
//!
//! The references need Python 3 with numpy, scipy and scikit-learn: `$BASINS_PYTHON`, else
//! `python3`. The tests are `#[ignore]`d, so a machine without the references shows them as
//! ignored; `scripts/test` makes the interpreter (`scripts/python-ref`) and runs them
//! (`--ignored`). Run without one they print SKIPPED; with `BASINS_REQUIRE_PYTHON=1` (as `.ci/run`
//! sets) a missing interpreter is a failure.

#[path = "../../tests/support/python.rs"]
mod python_env;

use std::path::{Path, PathBuf};

use basins_analysis::barriers::{convexity, endpoint};
use basins_analysis::cluster::{canonical, median_delta, spectral, Square};
use basins_analysis::controls::{disagreement, jensen_shannon};
use basins_analysis::stats::{ari_permutation, mann_whitney, pearson, permutation, spearman};
use basins_files::data::select::numpy_permutation;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

fn python() -> Option<PathBuf> {
    python_env::python(
        "numpy, scipy, sklearn",
        "numpy, scipy and scikit-learn",
        "the Python reference cross-check",
    )
}

/// Run one reference mode on `cases`; its answers, one per case.
fn reference(py: &Path, mode: &str, cases: &Value) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("cases.json"), dir.path().join("out.json"));
    std::fs::write(&input, serde_json::to_vec(cases).unwrap()).unwrap();
    python_env::succeed(
        python_env::script(py, "analysis.py").args([
            mode.as_ref(),
            input.as_os_str(),
            output.as_os_str(),
        ]),
        mode,
    );
    let answers: Vec<Value> = serde_json::from_slice(&std::fs::read(output).unwrap()).unwrap();
    assert_eq!(answers.len(), cases.as_array().unwrap().len());
    answers
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn linspace(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 / (n - 1) as f64).collect()
}

/// Random and adversarial loss curves: noise, flat, monotone, several bumps, convex, a single
/// spike, near-ties at the last bit, huge values, and non-uniform alpha grids.
fn curves() -> Vec<(Vec<f64>, Vec<f64>, bool)> {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let mut out = Vec::new();
    for case in 0..240 {
        let n = rng.random_range(3..=15);
        let uniform = case % 4 != 3;
        let alphas = if uniform {
            linspace(n)
        } else {
            let mut a: Vec<f64> = (0..n - 2).map(|_| rng.random::<f64>()).collect();
            a.extend([0.0, 1.0]);
            a.sort_by(f64::total_cmp);
            a.dedup();
            a
        };
        let n = alphas.len();
        let scale = if case % 11 == 0 { 1e12 } else { 1.0 };
        let y: Vec<f64> = match case % 8 {
            0 => vec![0.37; n],
            1 => (0..n)
                .map(|i| i as f64 * 0.1 + rng.random::<f64>() * 0.01)
                .collect(),
            2 => (0..n).map(|i| 1.0 - i as f64 * 0.05).collect(),
            3 => alphas
                .iter()
                .map(|a| 1.0 + (a * std::f64::consts::PI * rng.random_range(2.0..7.0)).sin())
                .collect(),
            4 => alphas.iter().map(|a| (a - 0.4) * (a - 0.4) + 0.2).collect(),
            5 => {
                let mut y = vec![0.5; n];
                y[rng.random_range(0..n)] = 3.0;
                y
            }
            6 => (0..n)
                .map(|_| 1.0 + f64::EPSILON * rng.random_range(0..4) as f64)
                .collect(),
            _ => (0..n).map(|_| rng.random::<f64>() * 2.0).collect(),
        };
        out.push((alphas, y.iter().map(|v| v * scale).collect(), uniform));
    }
    out
}

#[test]
#[ignore = "needs Python with numpy, scipy and scikit-learn; scripts/test runs it with scripts/python-ref"]
fn barriers_equal_the_papers_definitions() {
    let Some(py) = python() else { return };
    let cases = curves();
    let input: Vec<Value> = cases
        .iter()
        .map(|(a, y, u)| json!({"alphas": a, "y": y, "uniform": u}))
        .collect();
    let answers = reference(&py, "barriers", &json!(input));
    for ((a, y, uniform), want) in cases.iter().zip(&answers) {
        // 1e-12, relative to the curve's magnitude where its values are huge.
        let tol = 1e-12 * y.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let (conv, end) = (convexity(a, y), endpoint(a, y));
        assert!(
            (conv - f(&want["convexity"])).abs() <= tol,
            "convexity of {y:?} at {a:?}: {conv} vs {want}"
        );
        assert!(
            (end - f(&want["endpoint"])).abs() <= tol,
            "endpoint of {y:?} at {a:?}: {end} vs {want}"
        );
        if *uniform {
            // On an even grid the paper's own index form agrees as well.
            assert!(
                (conv - f(&want["paper_convexity"])).abs() <= tol,
                "{y:?}: {conv} vs {want}"
            );
            assert!(
                (end - f(&want["paper_endpoint"])).abs() <= tol,
                "{y:?}: {end} vs {want}"
            );
        }
    }
    eprintln!("barriers: {} curves agree with the reference", cases.len());
}

/// Random barrier matrices with planted groups: well separated, overlapping (borderline),
/// with a singleton; k from 2 to 4; the paper's delta = 1 on barriers at its scale, and the
/// median width on barriers of any scale.
fn matrices() -> Vec<(Square, usize, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut out = Vec::new();
    for case in 0..120 {
        let k = 2 + case % 3;
        let mut sizes: Vec<usize> = (0..k).map(|_| rng.random_range(2..6)).collect();
        if case % 5 == 0 {
            sizes[k - 1] = 1; // a singleton basin
        }
        let group: Vec<usize> = sizes
            .iter()
            .enumerate()
            .flat_map(|(g, &s)| std::iter::repeat_n(g, s))
            .collect();
        let n = group.len();
        let borderline = case % 3 == 0;
        let (within, between) = if borderline {
            (0.6, (0.3, 1.2))
        } else {
            (0.3, (1.0, 2.5))
        };
        let scale = if case % 2 == 0 {
            1.0
        } else {
            10f64.powi(rng.random_range(-3..2))
        };
        let mut b = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in i + 1..n {
                let v = if group[i] == group[j] {
                    rng.random::<f64>() * within
                } else {
                    rng.random_range(between.0..between.1)
                };
                b[i][j] = v * scale;
                b[j][i] = v * scale;
            }
        }
        let delta = if case % 2 == 0 {
            1.0
        } else {
            median_delta(&b).unwrap()
        };
        out.push((b, k, delta));
    }
    out
}

#[test]
#[ignore = "needs Python with numpy, scipy and scikit-learn; scripts/test runs it with scripts/python-ref"]
fn spectral_clustering_equals_scikit_learn() {
    let Some(py) = python() else { return };
    let cases = matrices();
    let input: Vec<Value> = cases
        .iter()
        .map(|(b, k, delta)| json!({"barriers": b, "k": k, "delta": delta}))
        .collect();
    let answers = reference(&py, "clustering", &json!(input));
    let mut coordinates = 0;
    for (c, ((b, k, delta), want)) in cases.iter().zip(&answers).enumerate() {
        let ours = spectral(b, Some(*k), *delta);
        let labels: Vec<usize> = serde_json::from_value(want["labels"].clone()).unwrap();
        assert_eq!(
            ours.assignments,
            canonical(&labels),
            "case {c} (k = {k}, delta = {delta}): partition differs from scikit-learn's\n{b:?}"
        );
        // The centroid distances, sklearn's clusters put in our (canonical) order, to 1e-9.
        let km: Vec<usize> = serde_json::from_value(want["kmeans_labels"].clone()).unwrap();
        if canonical(&km) != ours.assignments {
            continue; // the paper's separate k_means call found another partition: nothing to align
        }
        let mut order = Vec::new();
        for &l in &km {
            if !order.contains(&l) {
                order.push(l);
            }
        }
        let dist = &want["distances"];
        for (i, row) in ours.centroid_distances.iter().enumerate() {
            for (c_ours, &c_theirs) in order.iter().enumerate() {
                let theirs = f(&dist[i][c_theirs]);
                assert!(
                    (row[c_ours] - theirs).abs() < 1e-9,
                    "case {c}: distance of model {i} to centroid {c_ours}: {} vs {theirs}",
                    row[c_ours]
                );
            }
            if *k == 2 {
                let theirs = f(&dist[i][order[0]]) - f(&dist[i][order[1]]);
                assert!(
                    (ours.coordinate[i] - theirs).abs() < 1e-9,
                    "case {c}, model {i}"
                );
            }
        }
        coordinates += 1;
    }
    assert!(
        coordinates >= 100,
        "only {coordinates} cases had comparable centroids"
    );
    eprintln!(
        "clustering: {} partitions equal scikit-learn's; centroid distances agree in {coordinates}",
        cases.len()
    );
}

#[test]
#[ignore = "needs Python with numpy, scipy and scikit-learn; scripts/test runs it with scripts/python-ref"]
fn statistics_equal_scipy_and_the_shuffle_equals_numpy() {
    let Some(py) = python() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut cases: Vec<Value> = Vec::new();
    let sample = |rng: &mut ChaCha8Rng, n: usize, ties: bool, shift: f64| -> Vec<f64> {
        (0..n)
            .map(|_| {
                let v: f64 = rng.random::<f64>() + shift;
                if ties {
                    (v * 4.0).round() / 4.0
                } else {
                    v
                }
            })
            .collect()
    };
    for c in 0..120 {
        // Small samples without ties take SciPy's exact path; ties or two large samples the
        // normal approximation.
        let (n1, n2) = match c % 3 {
            0 => (rng.random_range(2..=8), rng.random_range(2..=12)),
            1 => (rng.random_range(9..=20), rng.random_range(9..=20)),
            _ => (rng.random_range(3..=10), rng.random_range(3..=10)),
        };
        let ties = c % 3 == 2;
        let shift = rng.random::<f64>() * 0.8;
        let (x, y) = (
            sample(&mut rng, n1, ties, shift),
            sample(&mut rng, n2, ties, 0.0),
        );
        cases.push(json!({"kind": "mann_whitney", "x": x, "y": y}));
    }
    for _ in 0..110 {
        let (n1, n2) = (rng.random_range(2..=8), rng.random_range(2..=8));
        let shift = rng.random::<f64>();
        let (x, y) = (
            sample(&mut rng, n1, false, shift),
            sample(&mut rng, n2, false, 0.0),
        );
        cases.push(json!({"kind": "permutation", "x": x, "y": y, "resamples": 100_000}));
    }
    for _ in 0..110 {
        let n = rng.random_range(3..=30);
        let x = sample(&mut rng, n, false, 0.0);
        let slope = rng.random::<f64>() * 2.0 - 1.0;
        let y: Vec<f64> = x.iter().map(|v| slope * v + rng.random::<f64>()).collect();
        cases.push(json!({"kind": "pearson", "x": x, "y": y}));
    }
    for (n, seed) in [
        (0, 42),
        (1, 42),
        (10, 42),
        (512, 42),
        (5000, 42),
        (30000, 0),
        (7, u64::from(u32::MAX) + 5),
    ] {
        cases.push(json!({"kind": "numpy_permutation", "n": n, "seed": seed}));
    }
    let answers = reference(&py, "stats", &json!(cases));
    let vec = |v: &Value| -> Vec<f64> { serde_json::from_value(v.clone()).unwrap_or_default() };
    let (mut exact, mut asymptotic) = (0, 0);
    for (case, want) in cases.iter().zip(&answers) {
        let (x, y) = (vec(&case["x"]), vec(&case["y"]));
        match case["kind"].as_str().unwrap() {
            "mann_whitney" => {
                let r = mann_whitney(&x, &y).unwrap();
                assert_eq!(r.u, f(&want["u"]), "{case}");
                assert!(
                    (r.p - f(&want["p"])).abs() < 1e-12,
                    "{case}: p {} vs {want}",
                    r.p
                );
                if r.method == "exact" {
                    exact += 1
                } else {
                    asymptotic += 1
                }
            }
            "permutation" => {
                let p = permutation(&x, &y, 100_000, 0).unwrap();
                assert!((p - f(&want["p"])).abs() < 1e-12, "{case}: p {p} vs {want}");
            }
            "pearson" => {
                let r = pearson(&x, &y).unwrap();
                assert!(
                    (r.r - f(&want["r"])).abs() < 1e-12,
                    "{case}: r {} vs {want}",
                    r.r
                );
                assert!(
                    (r.p - f(&want["p"])).abs() < 1e-10,
                    "{case}: p {} vs {want}",
                    r.p
                );
            }
            _ => {
                let perm: Vec<usize> = serde_json::from_value(want["permutation"].clone()).unwrap();
                let n = case["n"].as_u64().unwrap() as usize;
                assert_eq!(
                    numpy_permutation(n, case["seed"].as_u64().unwrap()),
                    perm,
                    "{case}"
                );
            }
        }
    }
    assert!(
        exact >= 30 && asymptotic >= 30,
        "{exact} exact, {asymptotic} asymptotic"
    );
    eprintln!(
        "stats: {} cases agree with scipy and numpy ({exact} exact Mann-Whitney)",
        cases.len()
    );
}

#[test]
#[ignore = "needs Python with numpy, scipy and scikit-learn; scripts/test runs it with scripts/python-ref"]
fn controls_equal_numpy_scipy_and_scikit_learn() {
    let Some(py) = python() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(30);
    let mut cases: Vec<Value> = Vec::new();
    for _ in 0..30 {
        let (m, rows, labels) = (
            rng.random_range(2..=8),
            rng.random_range(1..=60),
            rng.random_range(2..=3),
        );
        let predicted: Vec<Vec<usize>> = (0..m)
            .map(|_| (0..rows).map(|_| rng.random_range(0..labels)).collect())
            .collect();
        cases.push(json!({"kind": "disagreement", "predicted": predicted}));
    }
    for c in 0..30 {
        let (m, rows, labels) = (
            rng.random_range(2..=6),
            rng.random_range(1..=40),
            rng.random_range(2..=3),
        );
        // Softmax of random logits; every third case nearly one-hot (a confident model).
        let scale = if c % 3 == 0 { 20.0 } else { 3.0 };
        let probs: Vec<Vec<Vec<f32>>> = (0..m)
            .map(|_| {
                (0..rows)
                    .map(|_| {
                        let z: Vec<f64> = (0..labels)
                            .map(|_| (rng.random::<f64>() - 0.5) * scale)
                            .collect();
                        let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
                        let t: f64 = e.iter().sum();
                        e.iter().map(|v| (v / t) as f32).collect()
                    })
                    .collect()
            })
            .collect();
        cases.push(json!({"kind": "jensen_shannon", "probs": probs}));
    }
    for c in 0..60 {
        let n = rng.random_range(3..=30);
        let x: Vec<f64> = (0..n)
            .map(|_| {
                let v = rng.random::<f64>();
                // Half the cases bunched at 0 and 1 with ties, as conflict-set scores are.
                if c % 2 == 0 {
                    (v * 3.0).round() / 3.0
                } else {
                    v
                }
            })
            .collect();
        let y: Vec<f64> = x.iter().map(|v| v + rng.random::<f64>()).collect();
        cases.push(json!({"kind": "spearman", "x": x, "y": y}));
    }
    for _ in 0..40 {
        let n = rng.random_range(4..=8);
        let partition: Vec<usize> = (0..n).map(|_| rng.random_range(0..3)).collect();
        // Labels that agree with the partition more often than chance.
        let labels: Vec<usize> = partition
            .iter()
            .map(|&p| {
                if rng.random::<f64>() < 0.6 {
                    p % 2
                } else {
                    rng.random_range(0..2)
                }
            })
            .collect();
        cases.push(json!({"kind": "ari_exact", "partition": partition, "labels": labels}));
    }
    for seed in 0..4u64 {
        let partition: Vec<usize> = (0..20).map(|i| usize::from(i >= 9)).collect();
        let labels: Vec<usize> = partition
            .iter()
            .map(|&p| {
                if rng.random::<f64>() < 0.25 + 0.1 * seed as f64 {
                    1 - p
                } else {
                    p
                }
            })
            .collect();
        cases.push(
            json!({"kind": "ari_monte_carlo", "partition": partition, "labels": labels,
                          "resamples": 4000, "seed": seed}),
        );
    }
    let answers = reference(&py, "controls", &json!(cases));
    let matrix = |v: &Value| -> Vec<Vec<f64>> { serde_json::from_value(v.clone()).unwrap() };
    let usizes = |v: &Value| -> Vec<usize> { serde_json::from_value(v.clone()).unwrap() };
    let mut mc_worst = 0.0f64;
    for (case, want) in cases.iter().zip(&answers) {
        match case["kind"].as_str().unwrap() {
            "disagreement" => {
                let p: Vec<Vec<usize>> = serde_json::from_value(case["predicted"].clone()).unwrap();
                assert_eq!(disagreement(&p), matrix(&want["matrix"]), "{case}");
            }
            "jensen_shannon" => {
                let p: Vec<Vec<Vec<f32>>> = serde_json::from_value(case["probs"].clone()).unwrap();
                let (got, want) = (jensen_shannon(&p), matrix(&want["matrix"]));
                for (a, b) in got.iter().flatten().zip(want.iter().flatten()) {
                    // scipy renormalises in float64 as basins does; the sums differ in order.
                    assert!((a - b).abs() < 1e-12, "{case}: {a} vs {b}");
                }
            }
            "spearman" => {
                let (x, y): (Vec<f64>, Vec<f64>) = (
                    serde_json::from_value(case["x"].clone()).unwrap(),
                    serde_json::from_value(case["y"].clone()).unwrap(),
                );
                let r = spearman(&x, &y).unwrap();
                assert!(
                    (r.r - f(&want["r"])).abs() < 1e-12,
                    "{case}: r {} vs {want}",
                    r.r
                );
                assert!(
                    (r.p - f(&want["p"])).abs() < 1e-10,
                    "{case}: p {} vs {want}",
                    r.p
                );
            }
            "ari_exact" => {
                let t = ari_permutation(
                    &usizes(&case["partition"]),
                    &usizes(&case["labels"]),
                    100_000,
                    0,
                )
                .unwrap();
                assert_eq!(t.method, "exact", "{case}");
                assert_eq!(
                    t.relabellings as u64,
                    want["relabellings"].as_u64().unwrap()
                );
                assert!(
                    (t.ari - f(&want["ari"])).abs() < 1e-12,
                    "{case}: {t:?} vs {want}"
                );
                assert!(
                    (t.p - f(&want["p"])).abs() < 1e-12,
                    "{case}: {t:?} vs {want}"
                );
            }
            _ => {
                let r = case["resamples"].as_u64().unwrap() as usize;
                let t =
                    ari_permutation(&usizes(&case["partition"]), &usizes(&case["labels"]), r, 7)
                        .unwrap();
                assert_eq!(t.method, "monte_carlo");
                assert!(
                    (t.ari - f(&want["ari"])).abs() < 1e-12,
                    "{case}: {t:?} vs {want}"
                );
                // Two independent Monte Carlo estimates of one p: within 4 standard errors of
                // their difference.
                let p = f(&want["p"]);
                let se = (2.0 * p * (1.0 - p) / r as f64).sqrt() + 1.0 / r as f64;
                mc_worst = mc_worst.max((t.p - p).abs() / se);
                assert!((t.p - p).abs() <= 4.0 * se, "{case}: p {} vs {p}", t.p);
            }
        }
    }
    eprintln!(
        "controls: {} cases agree with numpy, scipy and scikit-learn (Monte Carlo p within {mc_worst:.1} standard errors)",
        cases.len()
    );
}
