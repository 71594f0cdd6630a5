//! `dynamics`: one task's clusterings at its kept steps and at the end, read against the final
//! one (`crate::dynamics`). Inputs `cluster@<checkpoint>`, in training order in the params.

use basins_engine::{StageContext, StageInput, StageKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::barriers::{endpoint, path_between};
use super::params;
use crate::barriers::KINDS;
use crate::dynamics::{dynamics, own_step, Clustering, OwnStep};

pub struct DynamicsKind;

#[derive(Deserialize)]
struct DynamicsParams {
    /// `step=<n>` ..., `final`: the order of the clusterings.
    steps: Vec<String>,
    seeds: Vec<u64>,
    /// The paths from each kept step to the model's own final weights: inputs
    /// `own:<seed>@<step>` (interpolate), `start:<seed>@<step>` and `end:<seed>` (evaluate).
    #[serde(default)]
    own: Option<OwnParams>,
}

#[derive(Deserialize)]
struct OwnParams {
    set: String,
    alphas: Vec<f64>,
    barrier: String,
}

/// Each kept step's barriers from every model to its own final weights.
fn own_barriers(
    ctx: &StageContext,
    p: &DynamicsParams,
    own: &OwnParams,
    finals: &[usize],
) -> anyhow::Result<Vec<OwnStep>> {
    let kind = KINDS
        .iter()
        .position(|k| *k == own.barrier)
        .ok_or_else(|| anyhow::anyhow!("unknown barrier kind `{}`", own.barrier))?;
    let ends = p
        .seeds
        .iter()
        .map(|s| endpoint(ctx, &format!("end:{s}"), &own.set))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for at in p.steps.iter().filter(|a| *a != "final") {
        let mut values = Vec::new();
        for (seed, end) in p.seeds.iter().zip(&ends) {
            let start = endpoint(ctx, &format!("start:{seed}@{at}"), &own.set)?;
            let path = path_between(
                ctx,
                &format!("own:{seed}@{at}"),
                &own.alphas,
                &own.set,
                (&start, end),
            )?;
            let all: Vec<usize> = (0..path.examples()).collect();
            values.push(path.barriers_over(&all)[kind]);
        }
        out.push(own_step(at, values, finals));
    }
    Ok(out)
}

impl StageKind for DynamicsKind {
    fn name(&self) -> &'static str {
        "dynamics"
    }
    fn version(&self) -> u32 {
        // 2: the barrier from each kept step to the model's own final weights (`own_final`).
        2
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: DynamicsParams = params(ctx)?;
        let clusterings = p
            .steps
            .iter()
            .map(|at| {
                let role = format!("cluster@{at}");
                let StageInput::Node { node, files, .. } = ctx.input(&role)? else {
                    anyhow::bail!("input `{role}` is not a node");
                };
                let path = files
                    .get("cluster.json")
                    .ok_or_else(|| anyhow::anyhow!("`{node}` has no cluster.json"))?;
                let c: Value = serde_json::from_slice(&std::fs::read(path)?)?;
                let assignments = serde_json::from_value(c["assignments"].clone())
                    .map_err(|e| anyhow::anyhow!("`{node}`: cluster.json assignments: {e}"))?;
                Ok(Clustering {
                    at: at.clone(),
                    assignments,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let d = dynamics(&clusterings, &p.seeds)?;
        let finals: Vec<usize> = d.models.iter().map(|m| m.final_basin).collect();
        let own = match &p.own {
            Some(o) => Some(json!({
                "set": o.set,
                "barrier": o.barrier,
                "steps": own_barriers(ctx, &p, o, &finals)?,
            })),
            None => None,
        };
        for s in &d.steps {
            ctx.log(format!(
                "{}: k = {}, ARI {:.3} against the final basins, {:.0}% already in theirs",
                s.at,
                s.k,
                s.ari,
                100.0 * s.accuracy
            ));
        }
        std::fs::write(
            ctx.out_dir.join("dynamics.json"),
            serde_json::to_vec_pretty(&json!({"seeds": p.seeds, "dynamics": d, "own_final": own}))?,
        )?;
        Ok(json!({
            "ari": d.steps.iter().map(|s| s.ari).collect::<Vec<_>>(),
            "accuracy": d.steps.iter().map(|s| s.accuracy).collect::<Vec<_>>(),
            "predicted_from": d.predicted_from,
            "own_final_mean": own.as_ref().map(|o| o["steps"].as_array().map(|v| v.iter().map(|s| s["mean"].clone()).collect::<Vec<_>>())),
        }))
    }
}
