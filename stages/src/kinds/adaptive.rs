//! `interpolate_adaptive`: one pair's path in `[interpolate] mode = "adaptive"`. The estimator
//! (`adaptive::estimate`) decides which alphas see which examples; the model code
//! (`basins_models::kinds::open_path`) scores them. The node writes what a grid path writes,
//! `path/<set>.safetensors` with a loss and a correctness row per interior alpha, but with
//! not-a-number losses and -1 where it did not evaluate, and the estimate, its contract and
//! the examples every alpha saw first in the file's `path` metadata (`adaptive`), where the
//! barriers node reads them.

use basins_engine::stage::Interrupted;
use basins_engine::{StageContext, StageKind, VerifyPolicy};
use basins_models::kinds::{open_path, PathScores};
use basins_study::params::{AdaptiveParams, InterpolateParams};
use basins_study::roles;
use serde_json::{json, Value};

use super::paths::StoredEstimate;
use super::{endpoint, params};
use crate::adaptive::{estimate, example_order, Losses};
use crate::tensorfile::Entry;

pub struct AdaptiveInterpolateKind;

impl StageKind for AdaptiveInterpolateKind {
    fn name(&self) -> &'static str {
        "interpolate_adaptive"
    }
    fn version(&self) -> u32 {
        // 2: the matrix products on AVX-512 microkernels (gemm's `x86-v4`) on CPUs that have
        // them, which sum in another order than the AVX2 ones.
        2
    }
    fn uses_device(&self) -> bool {
        true
    }
    fn verify_policy(&self) -> VerifyPolicy {
        // Which examples run depends on the losses' bits: a GPU's rounding may spend
        // differently, so what is compared is the estimate.
        VerifyPolicy::Tolerance {
            metrics: vec![("/value_max".into(), 1e-4)],
        }
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: InterpolateParams = params(ctx)?;
        let Some(adaptive) = p.adaptive else {
            anyhow::bail!(
                "`interpolate_adaptive` needs its params' `adaptive` contract (a grid path is an \
                 `interpolate` node)"
            );
        };
        let mut path = open_path(ctx, &p)?;
        let interior = crate::interpolate::interior(&p.alphas);
        let mut grid: Vec<f64> = interior.iter().copied().chain([0.0, 1.0]).collect();
        grid.sort_by(f64::total_cmp);
        anyhow::ensure!(
            grid.windows(2).all(|w| w[0] < w[1]) && grid[0] == 0.0 && grid[grid.len() - 1] == 1.0,
            "adaptive paths need distinct alphas within [0, 1], got {:?}",
            p.alphas
        );
        // Grid point -> the loss tensor's row (rows in the params' interior order, as a grid
        // path writes them); the endpoints have none.
        let row_of: Vec<Option<usize>> = grid
            .iter()
            .map(|g| interior.iter().position(|a| a == g))
            .collect();
        let sets = path.sets();
        let total_grid: usize = interior.len() * sets.iter().map(|(_, r)| r.len()).sum::<usize>();
        let mut progress = Progress {
            done: 0,
            total: (adaptive.contract.budget * total_grid as f64).ceil() as u64,
        };
        let out = ctx.out_dir.join("path");
        std::fs::create_dir_all(&out)?;
        let mut metrics = serde_json::Map::new();
        let (mut spent, mut value_max) = (0usize, 0.0f64);
        for (k, (name, rows)) in sets.iter().enumerate() {
            let ends = [
                endpoint(ctx, roles::PATH_ENDS[0], name)?,
                endpoint(ctx, roles::PATH_ENDS[1], name)?,
            ];
            for e in &ends {
                anyhow::ensure!(
                    &e.rows == rows,
                    "{name}: the endpoints were scored on other rows than this path's \
                     loss-surface selection"
                );
            }
            let n = rows.len();
            let mut scored = Scored {
                ctx,
                path: path.as_mut(),
                set: k,
                grid: &grid,
                row_of: &row_of,
                n,
                loss: vec![f32::NAN; interior.len() * n],
                correct: vec![-1; interior.len() * n],
                progress: &mut progress,
            };
            let ends_loss = (ends[0].loss.as_slice(), ends[1].loss.as_slice());
            let est = estimate(
                &grid,
                ends_loss,
                adaptive.barrier,
                &adaptive.contract,
                &mut scored,
            )?;
            let (loss, correct) = (scored.loss, scored.correct);
            let forced = stored_forced(&adaptive, ends_loss);
            ctx.log(format!(
                "{name}: {} barrier {:.4} in [{:.4}, {:.4}] ({}), {} of {} forward passes",
                adaptive.barrier.name(),
                est.value,
                est.low,
                est.high,
                if est.exact {
                    "exact"
                } else if est.settled {
                    "settled"
                } else {
                    "not settled within the budget"
                },
                est.forward_passes,
                est.grid_forward_passes
            ));
            spent += est.forward_passes;
            value_max = value_max.max(est.value);
            metrics.insert(name.clone(), serde_json::to_value(&est)?);
            let stored = StoredEstimate {
                barrier: adaptive.barrier,
                contract: adaptive.contract,
                estimate: est,
                forced,
            };
            crate::tensorfile::write(
                &out.join(format!("{name}.safetensors")),
                &[
                    Entry::f32("loss", vec![interior.len(), n], &loss),
                    Entry::i64_signed("correct", vec![interior.len(), n], &correct),
                ],
                Some((
                    "path",
                    json!({"alphas": interior, "rows": rows, "adaptive": stored}).to_string(),
                )),
            )?;
        }
        Ok(json!({
            "sets": metrics,
            "forward_passes": spent,
            "grid_forward_passes": total_grid,
            "value_max": value_max,
        }))
    }
}

/// The examples every alpha evaluated first (the estimator's forced ones), for the barriers'
/// stratified curves.
fn stored_forced(a: &AdaptiveParams, ends: (&[f32], &[f32])) -> Vec<usize> {
    let order = example_order(ends, a.contract.certain, a.contract.seed);
    let mut forced = order[..a.contract.certain.min(order.len())].to_vec();
    forced.sort_unstable();
    forced
}

struct Progress {
    done: u64,
    total: u64,
}

/// The estimator's [`Losses`] on one set of a real path: each request scored by the models,
/// kept in the node's loss and correctness rows.
struct Scored<'a, 'c> {
    ctx: &'a StageContext<'c>,
    path: &'a mut dyn PathScores,
    set: usize,
    grid: &'a [f64],
    row_of: &'a [Option<usize>],
    n: usize,
    loss: Vec<f32>,
    correct: Vec<i64>,
    progress: &'a mut Progress,
}

impl Losses for Scored<'_, '_> {
    fn at(&mut self, point: usize, examples: &[usize]) -> anyhow::Result<Vec<f32>> {
        let alpha = self.grid[point];
        if self.ctx.cancelled() {
            return Err(Interrupted::at(format!("alpha {alpha}")));
        }
        let row = self.row_of[point]
            .ok_or_else(|| anyhow::anyhow!("the estimator asked for an endpoint's losses"))?;
        let (loss, right) = self.path.score(self.set, alpha, examples)?;
        for ((&e, &l), &r) in examples.iter().zip(&loss).zip(&right) {
            self.loss[row * self.n + e] = l;
            self.correct[row * self.n + e] = i64::from(r);
        }
        self.progress.done += examples.len() as u64;
        // Forward passes made of the budget's; beside it which point of the path this is.
        self.ctx.progress_with(
            self.progress.done,
            self.progress.total.max(self.progress.done),
            &[("alpha", alpha)],
        );
        Ok(loss)
    }
}
