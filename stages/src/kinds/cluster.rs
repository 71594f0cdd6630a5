//! `cluster`: basins from one barrier matrix (the manifest's eval set and barrier definition),
//! with stability across the barrier bootstrap's replicates, the paper's centroid-distance
//! coordinate, and a flag when the chosen kernel width makes the affinity nearly constant.

use basins_engine::{StageContext, StageInput, StageKind};
use safetensors::SafeTensors;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{params, square};
use crate::barriers::KINDS;
use crate::cluster::{
    adjusted_rand, affinity_range, average_linkage, check, median_delta, silhouette, spectral,
    Square, NEARLY_CONSTANT_SPAN,
};
use crate::tensorfile::f32_values;

pub struct ClusterKind;

#[derive(Deserialize)]
struct ClusterParams {
    eval: String,
    barrier: String,
    method: String,
    k: Value,
    /// A number, or "median" (the median off-diagonal barrier).
    delta: Value,
    bootstrap: usize,
    seeds: Vec<u64>,
    /// A zoo's member names, in seed order (the report shows them instead of numbers).
    #[serde(default)]
    names: Option<Vec<String>>,
}

impl ClusterParams {
    fn fixed_k(&self) -> Option<usize> {
        self.k["fixed"].as_u64().map(|k| k as usize)
    }

    /// Assignments of one matrix under these settings (`k` fixed when given, the kernel
    /// width the full matrix chose).
    fn assign(&self, b: &Square, k: Option<usize>, delta: f64) -> Vec<usize> {
        match self.method.as_str() {
            "hierarchical" => {
                let h = average_linkage(b);
                h.cut(k.unwrap_or_else(|| h.gap_k()))
            }
            _ => spectral(b, k, delta).assignments,
        }
    }

    /// The kernel width for matrix `b`, and a note when it had to fall back.
    fn delta_for(&self, b: &Square) -> anyhow::Result<(f64, Option<String>)> {
        match &self.delta {
            Value::String(s) if s == "median" => Ok(match median_delta(b) {
                Some(d) => (d, None),
                None => (
                    1.0,
                    Some("no pair has a barrier, so there is no median: delta = 1".into()),
                ),
            }),
            v => v
                .as_f64()
                .filter(|d| *d > 0.0 && d.is_finite())
                .map(|d| (d, None))
                .ok_or_else(|| anyhow::anyhow!("`{v}` is not a kernel width")),
        }
    }
}

impl StageKind for ClusterKind {
    fn name(&self) -> &'static str {
        "cluster"
    }
    fn version(&self) -> u32 {
        // 2: scikit-learn's spectral clustering (diagonal-free Laplacian, degree-scaled
        // embedding, no row normalisation), the centroid-distance coordinate, delta = "median".
        2
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: ClusterParams = params(ctx)?;
        let StageInput::Node { node, files, .. } = ctx.input("barriers")? else {
            anyhow::bail!("input `barriers` is not a node");
        };
        let report: Value = serde_json::from_slice(&std::fs::read(
            files
                .get("barriers.json")
                .ok_or_else(|| anyhow::anyhow!("`{node}` has no barriers.json"))?,
        )?)?;
        let m = &report["sets"][&p.eval]["matrices"][&p.barrier]["value"];
        let b = square(m).map_err(|e| {
            anyhow::anyhow!(
                "the {} barrier matrix on `{}`: {e}; clustering needs every pair (pairs = \"all\")",
                p.barrier,
                p.eval
            )
        })?;
        check(&b).map_err(|e| anyhow::anyhow!("the barrier matrix is not a distance: {e}"))?;
        let (delta, delta_note) = p.delta_for(&b)?;
        let spec = spectral(&b, p.fixed_k(), delta);
        let (lo, hi) = affinity_range(&b, delta);
        let nearly_constant = hi - lo < NEARLY_CONSTANT_SPAN && b.len() > 2;
        if nearly_constant {
            ctx.log(format!(
                "the affinity is nearly constant with delta = {delta:.4} (off-diagonal {lo:.4} to \
                 {hi:.4}): the partition rests on small differences; consider delta = \"median\""
            ));
        }
        let h = average_linkage(&b);
        let (k, assignments) = match p.method.as_str() {
            "hierarchical" => {
                let k = p.fixed_k().unwrap_or_else(|| h.gap_k());
                (k, h.cut(k))
            }
            _ => (spec.k, spec.assignments.clone()),
        };
        let sizes: Vec<usize> = (0..k)
            .map(|c| assignments.iter().filter(|&&a| a == c).count())
            .collect();
        let stability = stability(ctx, &p, files, k, delta, &assignments)?;
        ctx.log(format!(
            "k = {k}, sizes {sizes:?}, stability {}",
            stability["mean_ari"]
        ));
        let out = json!({
            "eval": p.eval, "barrier": p.barrier, "method": p.method, "delta": p.delta,
            "delta_used": delta, "delta_note": delta_note,
            "affinity": {"min": lo, "max": hi, "nearly_constant": nearly_constant},
            "centroid_distances": spec.centroid_distances, "coordinate": spec.coordinate,
            "seeds": p.seeds, "names": p.names, "k": k, "assignments": assignments, "sizes": sizes,
            "silhouette": silhouette(&b, &assignments),
            "eigenvalues": spec.eigenvalues, "embedding": spec.embedding,
            "dendrogram": {"order": h.order.iter().map(|&i| p.seeds[i]).collect::<Vec<_>>(), "merges": h.merges},
            "stability": stability,
        });
        std::fs::write(
            ctx.out_dir.join("cluster.json"),
            serde_json::to_vec_pretty(&out)?,
        )?;
        Ok(
            json!({"k": k, "sizes": sizes, "silhouette": out["silhouette"], "stability_mean_ari": out["stability"]["mean_ari"], "delta": delta, "nearly_constant": nearly_constant}),
        )
    }
}

/// Recluster each bootstrap replicate of the barrier matrix with the same k: the adjusted
/// Rand index with the full-sample clustering, and how often each two models share a cluster.
fn stability(
    ctx: &StageContext,
    p: &ClusterParams,
    files: &std::collections::BTreeMap<String, std::path::PathBuf>,
    k: usize,
    delta: f64,
    assignments: &[usize],
) -> anyhow::Result<Value> {
    let Some(path) = files.get(&format!("replicates/{}.safetensors", p.eval)) else {
        return Ok(json!({"replicates": 0, "mean_ari": null}));
    };
    let bytes = std::fs::read(path)?;
    let st = SafeTensors::deserialize(&bytes)?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)?;
    let pairs: Vec<(u64, u64)> = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("pairs"))
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| anyhow::anyhow!("{}: no pair list", path.display()))?;
    anyhow::ensure!(
        KINDS.contains(&p.barrier.as_str()),
        "unknown barrier `{}`",
        p.barrier
    );
    let t = st.tensor(&p.barrier)?;
    let reps = t.shape()[0].min(p.bootstrap);
    let values = f32_values(t.data());
    let n = p.seeds.len();
    let pos = |s: u64| p.seeds.iter().position(|&x| x == s).expect("study seed");
    let mut aris = Vec::with_capacity(reps);
    let mut together = vec![vec![0usize; n]; n];
    for r in 0..reps {
        let mut b = vec![vec![0.0; n]; n];
        for (q, &(a, c)) in pairs.iter().enumerate() {
            let v = values[r * pairs.len() + q] as f64;
            b[pos(a)][pos(c)] = v;
            b[pos(c)][pos(a)] = v;
        }
        let labels = p.assign(&b, Some(k), delta);
        aris.push(adjusted_rand(assignments, &labels));
        for i in 0..n {
            for j in 0..n {
                together[i][j] += usize::from(labels[i] == labels[j]);
            }
        }
        ctx.progress((r + 1) as u64, reps as u64);
    }
    let co: Vec<Vec<f64>> = together
        .iter()
        .map(|row| row.iter().map(|&c| c as f64 / reps.max(1) as f64).collect())
        .collect();
    Ok(json!({
        "replicates": reps,
        "mean_ari": aris.iter().sum::<f64>() / reps.max(1) as f64,
        "co_assignment": co,
    }))
}
