//! `dynamics`: one task's clusterings at its kept steps and at the end, read against the final
//! one (`crate::dynamics`). Inputs `cluster@<checkpoint>`, in training order in the params.

use basins_engine::{StageContext, StageInput, StageKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::params;
use crate::dynamics::{dynamics, Clustering};

pub struct DynamicsKind;

#[derive(Deserialize)]
struct DynamicsParams {
    /// `step=<n>` ..., `final`: the order of the clusterings.
    steps: Vec<String>,
    seeds: Vec<u64>,
}

impl StageKind for DynamicsKind {
    fn name(&self) -> &'static str {
        "dynamics"
    }
    fn version(&self) -> u32 {
        1
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
            serde_json::to_vec_pretty(&json!({"seeds": p.seeds, "dynamics": d}))?,
        )?;
        Ok(json!({
            "ari": d.steps.iter().map(|s| s.ari).collect::<Vec<_>>(),
            "accuracy": d.steps.iter().map(|s| s.accuracy).collect::<Vec<_>>(),
            "predicted_from": d.predicted_from,
        }))
    }
}
