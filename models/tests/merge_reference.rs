//! basins' TIES-merging against the published implementation's functions, ported to numpy
//! (`scripts/reference/merge.py`), on random task vectors with the heavy-tailed magnitudes of
//! finetuning deltas, at several densities.
//!
//! Needs Python 3 with numpy: `$BASINS_PYTHON`, else `python3`. `#[ignore]`d, so a machine
//! without it shows the test as ignored; `scripts/test` runs it with the other Python
//! cross-checks. Run without an interpreter it prints SKIPPED; with `BASINS_REQUIRE_PYTHON=1`
//! (as `.ci/run` sets) a missing one is a failure.

#[path = "../../tests/support/python.rs"]
mod python_env;

use std::path::PathBuf;

use basins_models::merge::ties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

fn python() -> Option<PathBuf> {
    python_env::python("numpy", "numpy", "the TIES reference cross-check")
}

#[test]
#[ignore = "needs Python with numpy; scripts/test runs it"]
fn ties_matches_the_published_implementation() {
    let Some(py) = python() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut cases = Vec::new();
    for (members, d, density) in [
        (2, 500, 0.2),
        (3, 2000, 0.5),
        (5, 1000, 0.9),
        (4, 301, 0.33),
    ] {
        let tasks: Vec<Vec<f32>> = (0..members)
            .map(|_| {
                (0..d)
                    .map(|_| {
                        // Mostly small deltas, some large; a few exact zeros.
                        let x: f32 = rng.random_range(-1.0..1.0);
                        match rng.random_range(0..20) {
                            0 => 0.0,
                            1 => x * 10.0,
                            _ => x * 0.01,
                        }
                    })
                    .collect()
            })
            .collect();
        cases.push((tasks, density));
    }
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("cases.json"), dir.path().join("out.json"));
    let payload: Vec<Value> = cases
        .iter()
        .map(|(t, k)| json!({"tasks": t, "density": k}))
        .collect();
    std::fs::write(&input, serde_json::to_vec(&payload).unwrap()).unwrap();
    python_env::succeed(
        python_env::script(&py, "merge.py").args([input.as_os_str(), output.as_os_str()]),
        "the TIES",
    );
    let want: Vec<Vec<f64>> = serde_json::from_slice(&std::fs::read(&output).unwrap()).unwrap();
    for ((tasks, density), want) in cases.iter().zip(&want) {
        let got = ties(tasks, *density);
        assert_eq!(got.len(), want.len());
        let nonzero = want.iter().filter(|x| **x != 0.0).count();
        assert!(
            nonzero > 0,
            "density {density}: the reference merged nothing"
        );
        for (e, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-6 * w.abs().max(1.0),
                "density {density}, entry {e}: basins {g}, reference {w}"
            );
        }
    }
}
