//! Weight matching's linear assignments against scipy's `linear_sum_assignment(maximize=True)`
//! (`scripts/reference/assignment.py`): random matrices of the sizes a BERT's groups have (a
//! head's dimensions, the heads, a residual stream, an FFN), some with the ties of integer
//! costs. Where the optimum is unique (continuous costs) the assignments agree; everywhere the
//! totals agree.
//!
//! Needs Python 3 with numpy and scipy: `$BASINS_PYTHON`, else `python3`. `#[ignore]`d, so a
//! machine without it shows the test as ignored; `scripts/test` runs it with the other Python
//! cross-checks. Run without an interpreter it prints SKIPPED; with `BASINS_REQUIRE_PYTHON=1`
//! (as `.ci/run` sets) a missing one is a failure.

#[path = "../../tests/support/python.rs"]
mod python_env;

use std::path::PathBuf;

use basins_models::align::max_assignment;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

fn python() -> Option<PathBuf> {
    python_env::python(
        "numpy, scipy.optimize",
        "numpy and scipy",
        "the assignment reference cross-check",
    )
}

#[test]
#[ignore = "needs Python with numpy and scipy; scripts/test runs it"]
fn assignments_match_scipy() {
    let Some(py) = python() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut cases: Vec<(Vec<f64>, usize, bool)> = Vec::new();
    for (n, integer) in [
        (1, false),
        (2, false),
        (12, false),
        (32, false),
        (64, false),
        (256, false),
        (8, true),
        (40, true),
    ] {
        let c: Vec<f64> = (0..n * n)
            .map(|_| {
                if integer {
                    rng.random_range(0..4) as f64
                } else {
                    rng.random_range(-1.0..1.0)
                }
            })
            .collect();
        cases.push((c, n, integer));
    }
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("cases.json"), dir.path().join("out.json"));
    let payload: Vec<&Vec<f64>> = cases.iter().map(|c| &c.0).collect();
    std::fs::write(&input, serde_json::to_vec(&payload).unwrap()).unwrap();
    python_env::succeed(
        python_env::script(&py, "assignment.py").args([input.as_os_str(), output.as_os_str()]),
        "the assignment",
    );
    let want: Vec<Value> = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    for ((c, n, integer), want) in cases.iter().zip(&want) {
        let got = max_assignment(c, *n).unwrap();
        let total: f64 = got.iter().enumerate().map(|(i, &j)| c[i * n + j]).sum();
        let want_total = want["total"].as_f64().unwrap();
        assert!(
            (total - want_total).abs() <= 1e-9 * want_total.abs().max(1.0),
            "n = {n}: {total} vs {want_total}"
        );
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (0..*n).collect::<Vec<_>>(),
            "n = {n}: not a permutation"
        );
        if !integer {
            let want_p: Vec<usize> = serde_json::from_value(want["assignment"].clone()).unwrap();
            assert_eq!(got, want_p, "n = {n}");
        }
    }
}
