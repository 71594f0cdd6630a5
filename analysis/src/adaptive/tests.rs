//! The estimator against the grid value it stands in for: exact when it may spend everything,
//! within the tolerance on curves with a known maximum, deterministic, and the contract on 120
//! random smooth and non-smooth curves with heavy-tailed per-example losses.

use super::*;
use rand::Rng;

const GRID: usize = 10;

fn alphas() -> Vec<f64> {
    (0..GRID).map(|i| i as f64 / (GRID - 1) as f64).collect()
}

fn run(loss: &[Vec<f32>], kind: BarrierKind, contract: &Contract) -> Estimate {
    let last = loss.len() - 1;
    estimate(
        &alphas(),
        (&loss[0], &loss[last]),
        kind,
        contract,
        &mut Replay { loss },
    )
    .unwrap()
}

/// Per-example losses along a path whose mean curve is `curve` at the grid points, with
/// heavy-tailed examples: most near the curve, some hard for model A, some for model B (large
/// losses at that end, fading along the path), a few hard only mid-path.
fn losses(curve: &[f64], n: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    let a = alphas();
    // Per example, its losses along the path.
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            let size = 1.0 + 5.0 * rng.random::<f64>();
            a.iter()
                .map(|&x| {
                    let noise = -0.05 * (1.0 - rng.random::<f64>()).ln();
                    let hard = if u < 0.04 {
                        size * (1.0 - x)
                    } else if u < 0.08 {
                        size * x
                    } else if u < 0.09 {
                        0.5 * size * (std::f64::consts::PI * x).sin()
                    } else {
                        0.0
                    };
                    noise + hard
                })
                .collect()
        })
        .collect();
    let per_example: Vec<Vec<f64>> = (0..GRID)
        .map(|g| rows.iter().map(|r| r[g]).collect())
        .collect();
    // Shift each grid point so that its mean is the curve exactly, keeping losses >= 0.
    per_example
        .iter()
        .zip(curve)
        .map(|(row, &c)| {
            let mean = row.iter().sum::<f64>() / n as f64;
            row.iter()
                .map(|&v| (v - mean + c).max(0.0) as f32)
                .collect()
        })
        .collect()
}

/// A random curve: a line between two endpoint levels plus bumps; `rough` adds single-point
/// spikes, kinks and wiggles next to the endpoints.
fn curve(rng: &mut ChaCha8Rng, rough: bool) -> Vec<f64> {
    let (l0, l1) = (rng.random_range(0.2..3.0), rng.random_range(0.2..3.0));
    let bumps: Vec<(f64, f64, f64)> = (0..rng.random_range(0..3))
        .map(|_| {
            (
                rng.random_range(-0.3..1.5),
                rng.random_range(0.1..0.9),
                rng.random_range(0.05..0.3),
            )
        })
        .collect();
    let mut c: Vec<f64> = alphas()
        .iter()
        .map(|&x| {
            let line = (1.0 - x) * l0 + x * l1;
            line + bumps
                .iter()
                .map(|&(h, m, w)| h * (-(x - m).powi(2) / (2.0 * w * w)).exp())
                .sum::<f64>()
        })
        .collect();
    if rough {
        let g = rng.random_range(1..GRID - 1);
        c[g] += rng.random_range(-0.2..0.4);
        let side = if rng.random::<bool>() { 1 } else { GRID - 2 };
        c[side] += rng.random_range(0.0..0.05);
        let kink = rng.random_range(1..GRID - 1);
        for (i, v) in c.iter_mut().enumerate() {
            *v += 0.1 * (i as f64 - kink as f64).abs() / GRID as f64;
        }
    }
    c.iter().map(|v| v.max(0.05)).collect()
}

#[test]
fn with_the_whole_budget_and_no_tolerance_it_is_the_grid_value() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for rough in [false, true] {
        let loss = losses(&curve(&mut rng, rough), 200, &mut rng);
        for kind in [BarrierKind::Convexity, BarrierKind::Endpoint] {
            let full = Contract {
                tolerance: 0.0,
                budget: 1.0,
                ..Contract::default()
            };
            let e = run(&loss, kind, &full);
            let grid = grid_value(&alphas(), &loss, kind);
            // Settled at a zero-width interval: the largest height is measured on every example
            // and every other one's upper bound is below it.
            assert!(e.settled && e.low == e.high, "{e:?}");
            assert!((e.value - grid).abs() < 1e-9, "{} vs {grid}", e.value);
            assert_eq!(e.exact, e.examples == vec![200; GRID - 2]);
            assert_eq!(e.forward_passes, e.examples.iter().sum::<usize>());
        }
    }
}

#[test]
fn a_known_bump_is_found_within_the_tolerance() {
    // A bump of height 0.5 at alpha 0.4 on a flat line: the grid's convexity barrier is the
    // bump's height at the nearest grid point above the chord of the ends.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let a = alphas();
    let c: Vec<f64> = a
        .iter()
        .map(|&x| 1.0 + 0.5 * (-(x - 0.4).powi(2) / 0.02).exp())
        .collect();
    let known = crate::barriers::convexity(&a, &c);
    assert!(known > 0.45, "{known}");
    let loss = losses(&c, 400, &mut rng);
    let contract = Contract {
        budget: 1.0,
        ..Contract::default()
    };
    // The stored losses are f32: their grid value is the known one up to rounding.
    let grid = grid_value(&a, &loss, BarrierKind::Convexity);
    assert!((grid - known).abs() < 1e-6, "{grid} vs {known}");
    let e = run(&loss, BarrierKind::Convexity, &contract);
    assert!(e.settled, "{e:?}");
    assert!(
        (e.value - known).abs() <= contract.tolerance,
        "{e:?} vs {known}"
    );
    assert!(
        e.low - 1e-12 <= grid && grid <= e.high + 1e-12,
        "{e:?} vs {grid}"
    );
}

#[test]
fn the_same_inputs_give_the_same_estimate() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let loss = losses(&curve(&mut rng, true), 300, &mut rng);
    let c = Contract::default();
    assert_eq!(
        run(&loss, BarrierKind::Convexity, &c),
        run(&loss, BarrierKind::Convexity, &c)
    );
    let other = Contract { seed: 1, ..c };
    assert_eq!(
        example_order((&loss[0], &loss[GRID - 1]), 8, 0),
        example_order((&loss[0], &loss[GRID - 1]), 8, 0)
    );
    assert_ne!(
        example_order((&loss[0], &loss[GRID - 1]), other.certain, other.seed),
        example_order((&loss[0], &loss[GRID - 1]), c.certain, c.seed)
    );
}

#[test]
fn the_contract_holds_on_random_smooth_and_rough_curves() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (mut settled, mut missed, mut passes, mut grid_passes) = (0, Vec::new(), 0, 0);
    for case in 0..120 {
        let rough = case % 2 == 1;
        let loss = losses(&curve(&mut rng, rough), 300, &mut rng);
        let grid = grid_value(&alphas(), &loss, BarrierKind::Convexity);
        // Unlimited: always settles, within the tolerance.
        let full = Contract {
            budget: 1.0,
            ..Contract::default()
        };
        let e = run(&loss, BarrierKind::Convexity, &full);
        assert!(e.settled, "case {case}: {e:?}");
        assert!(
            (e.value - grid).abs() <= full.tolerance,
            "case {case}: {} vs grid {grid}",
            e.value
        );
        // A fifth of the grid's forward passes: never more (past the first block), the value
        // inside its interval, within the tolerance where settled.
        let c = Contract::default();
        let e = run(&loss, BarrierKind::Convexity, &c);
        let first = c.block * (GRID - 2);
        assert!(
            e.forward_passes
                <= first.max((c.budget * e.grid_forward_passes as f64).ceil() as usize),
            "case {case}: {e:?}"
        );
        assert!(e.low <= e.value && e.value <= e.high, "case {case}: {e:?}");
        if !(e.low - 1e-12 <= grid && grid <= e.high + 1e-12) {
            missed.push((case, grid, e.clone()));
        }
        if e.settled {
            settled += 1;
            assert!(
                (e.value - grid).abs() <= c.tolerance,
                "case {case}: settled at {} vs grid {grid}",
                e.value
            );
        }
        passes += e.forward_passes;
        grid_passes += e.grid_forward_passes;
    }
    println!(
        "budget 0.2: {settled} of 120 settled, {:.3} of the grid's forward passes, {} intervals missed the grid value",
        passes as f64 / grid_passes as f64,
        missed.len()
    );
    assert!(missed.is_empty(), "{missed:#?}");
}

#[test]
fn what_cannot_be_estimated_is_an_error() {
    let loss = vec![vec![1.0f32; 4]; GRID];
    let c = Contract::default();
    let err = |kind, contract: &Contract, ends: (&[f32], &[f32])| {
        estimate(&alphas(), ends, kind, contract, &mut Replay { loss: &loss })
            .unwrap_err()
            .to_string()
    };
    assert!(err(BarrierKind::Accuracy, &c, (&loss[0], &loss[9])).contains("accuracy"));
    assert!(err(BarrierKind::Convexity, &c, (&loss[0], &loss[9][..3])).contains("same examples"));
    let bad = Contract { budget: 0.0, ..c };
    assert!(err(BarrierKind::Convexity, &bad, (&loss[0], &loss[9])).contains("budget"));
    let short = vec![vec![1.0f32; 2]; GRID];
    let e = estimate(
        &alphas(),
        (&loss[0], &loss[9]),
        BarrierKind::Convexity,
        &Contract {
            budget: 1.0,
            tolerance: 0.0,
            ..c
        },
        &mut Replay { loss: &short },
    )
    .unwrap_err();
    assert!(e.to_string().contains("has 2 examples"), "{e}");
}

/// A path whose losses at the grid points the estimator saw are kept, the rest not numbers
/// (as an adaptive path node writes it), with correctness from the loss.
fn partial(loss: &[Vec<f32>], seen: &[usize]) -> crate::barriers::Path {
    let last = loss.len() - 1;
    let mut l = loss.to_vec();
    for (g, row) in l.iter_mut().enumerate().take(last).skip(1) {
        for x in row.iter_mut().skip(seen[g - 1]) {
            *x = f32::NAN;
        }
    }
    let correct = loss
        .iter()
        .map(|row| row.iter().map(|&x| u8::from(x < 0.7)).collect())
        .collect();
    crate::barriers::Path {
        alphas: alphas(),
        loss: l,
        correct,
    }
}

#[test]
fn a_whole_path_analysed_as_estimated_is_the_grid_analysis() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let c = curve(&mut rng, true);
    let loss = losses(&c, 300, &mut rng);
    let path = partial(&loss, &[300; GRID - 2]);
    let grid = path.analyse(0, 0);
    for forced in [vec![], vec![3, 17, 250]] {
        let est = analyse_estimated(&path, &forced, 50, 1).unwrap();
        for k in 0..3 {
            assert!(
                (est.value[k] - grid.value[k]).abs() < 1e-9,
                "{k}: {forced:?}"
            );
        }
        for (a, b) in est.loss.iter().zip(&grid.loss) {
            assert!((a - b).abs() < 1e-9);
        }
        for (k, ci) in est.ci.iter().enumerate() {
            assert!(ci.0 <= ci.1, "{k}");
        }
    }
}

#[test]
fn a_partial_path_is_estimated_by_strata_and_its_replicates_repeat() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let c = curve(&mut rng, false);
    let n = 200;
    let loss = losses(&c, n, &mut rng);
    // The examples in the estimator's order: the forced ones first; the prefix of each alpha
    // in that order is what it saw. Here the order is the index order, forced 0..4.
    let forced: Vec<usize> = (0..4).collect();
    let seen = [40, 40, 80, 160, 40, 40, 40, 40];
    let path = partial(&loss, &seen);
    let est = analyse_estimated(&path, &forced, 100, 9).unwrap();
    for (g, row) in loss.iter().enumerate() {
        let m = if g == 0 || g == GRID - 1 {
            n
        } else {
            seen[g - 1]
        };
        let exact: f64 = row[..4].iter().map(|&x| x as f64).sum();
        let rest = row[4..m].iter().map(|&x| x as f64).sum::<f64>() / (m - 4) as f64;
        let want = (exact + (n - 4) as f64 * rest) / n as f64;
        assert!((est.loss[g] - want).abs() < 1e-9, "alpha {g}");
    }
    assert_eq!(
        est.value[0],
        crate::barriers::convexity(&alphas(), &est.loss)
    );
    let again = analyse_estimated(&path, &forced, 100, 9).unwrap();
    assert_eq!(again.replicates, est.replicates);
    assert_eq!(est.replicates.len(), 100);
    // Replicates vary: the unseen examples are estimated, not known.
    assert!(est.ci[1].1 > est.ci[1].0);
}

#[test]
fn a_partial_path_without_its_forced_or_sampled_examples_is_an_error() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let loss = losses(&curve(&mut rng, false), 50, &mut rng);
    let path = partial(&loss, &[10; GRID - 2]);
    let e = analyse_estimated(&path, &[12], 10, 0).unwrap_err();
    assert!(
        e.to_string()
            .contains("forced example 12 was not evaluated"),
        "{e}"
    );
    let e = analyse_estimated(&path, &(0..10).collect::<Vec<_>>(), 10, 0).unwrap_err();
    assert!(
        e.to_string()
            .contains("none of the examples beyond the forced"),
        "{e}"
    );
    let e = analyse_estimated(&path, &[50], 10, 0).unwrap_err();
    assert!(
        e.to_string().contains("forced example 50 of a path of 50"),
        "{e}"
    );
}
