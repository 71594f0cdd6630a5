//! `cluster`: basins from one barrier matrix (the manifest's eval set and barrier definition),
//! with stability across the barrier bootstrap's replicates, the paper's centroid-distance
//! coordinate, and a flag when the chosen kernel width makes the affinity nearly constant.

use basins_engine::{StageContext, StageKind};
use basins_study::manifest::ClusterMethod;
use basins_study::params::{ClusterParams, Clustering};
use safetensors::SafeTensors;
use serde_json::{json, Value};

use super::{node_doc, node_files, params};
use crate::cluster::{
    adjusted_rand, affinity_range, average_linkage, check, median_delta, silhouette, spectral,
    within_intervals, Square, Uncertain, NEARLY_CONSTANT_SPAN,
};
use crate::documents::{
    Affinity, BarriersDoc, ClusterDoc, Dendrogram, IntervalRobustness, Stability,
};
use crate::tensorfile::f32_values;

pub struct ClusterKind;

/// How the clustering of one matrix goes, under the node's settings (also how `blocks` and
/// `aligned` cluster theirs).
pub(crate) trait Settings {
    /// Assignments of one matrix under these settings (`k` fixed when given, the kernel
    /// width the full matrix chose).
    fn assign(&self, b: &Square, k: Option<usize>, delta: f64) -> Vec<usize>;
    /// The kernel width for matrix `b`, and a note when it had to fall back.
    fn delta_for(&self, b: &Square) -> anyhow::Result<(f64, Option<String>)>;
}

impl Settings for Clustering {
    fn assign(&self, b: &Square, k: Option<usize>, delta: f64) -> Vec<usize> {
        match self.method {
            ClusterMethod::Hierarchical => {
                let h = average_linkage(b);
                h.cut(k.unwrap_or_else(|| h.gap_k()))
            }
            ClusterMethod::Spectral => spectral(b, k, delta).assignments,
        }
    }

    fn delta_for(&self, b: &Square) -> anyhow::Result<(f64, Option<String>)> {
        Ok(match self.delta.fixed().map_err(anyhow::Error::msg)? {
            Some(d) => (d, None),
            None => match median_delta(b) {
                Some(d) => (d, None),
                None => (
                    1.0,
                    Some("no pair has a barrier, so there is no median: delta = 1".into()),
                ),
            },
        })
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
        let doc: BarriersDoc = node_doc(ctx, "barriers", "barriers.json")?;
        // The bootstrap replicates beside it, for the stability.
        let (_, files) = node_files(ctx, "barriers")?;
        let c = &p.clustering;
        let barrier = c.barrier.name();
        let b = doc.matrices(&p.eval, c.barrier)?.square().map_err(|e| {
            anyhow::anyhow!(
                "the {barrier} barrier matrix on `{}`: {e}; clustering needs every pair (pairs = \"all\")",
                p.eval
            )
        })?;
        check(&b).map_err(|e| anyhow::anyhow!("the barrier matrix is not a distance: {e}"))?;
        let (delta, delta_note) = c.delta_for(&b)?;
        let spec = spectral(&b, c.k.fixed(), delta);
        let (lo, hi) = affinity_range(&b, delta);
        let nearly_constant = hi - lo < NEARLY_CONSTANT_SPAN && b.len() > 2;
        if nearly_constant {
            ctx.log(format!(
                "the affinity is nearly constant with delta = {delta:.4} (off-diagonal {lo:.4} to \
                 {hi:.4}): the partition rests on small differences; consider delta = \"median\""
            ));
        }
        let h = average_linkage(&b);
        let (k, assignments) = match c.method {
            ClusterMethod::Hierarchical => {
                let k = c.k.fixed().unwrap_or_else(|| h.gap_k());
                (k, h.cut(k))
            }
            ClusterMethod::Spectral => (spec.k, spec.assignments.clone()),
        };
        let sizes: Vec<usize> = (0..k)
            .map(|c| assignments.iter().filter(|&&a| a == c).count())
            .collect();
        let stability = stability(ctx, &p, files, k, delta, &assignments)?;
        ctx.log(format!(
            "k = {k}, sizes {sizes:?}, stability {}",
            stability
                .mean_ari
                .map_or("null (no replicates)".to_owned(), |a| a.to_string())
        ));
        let estimates = interval_robustness(&doc, &p, &b, k, delta, &assignments)?;
        if let Some(r) = &estimates {
            ctx.log(format!(
                "{} estimated barriers ({} unsettled, widest interval {:.4}): the partition is \
                 the same in {} of {} matrices drawn within their intervals (smallest adjusted \
                 Rand index {:.3})",
                r.estimated, r.unsettled, r.widest, r.identical, r.draws, r.min_ari
            ));
        }
        let silhouette = silhouette(&b, &assignments);
        let mean_ari = stability.mean_ari;
        let out = ClusterDoc {
            affinity: Affinity {
                max: hi,
                min: lo,
                nearly_constant,
            },
            assignments,
            barrier: c.barrier,
            centroid_distances: spec.centroid_distances,
            coordinate: spec.coordinate,
            delta: c.delta.clone(),
            delta_note,
            delta_used: delta,
            dendrogram: Dendrogram {
                merges: h.merges,
                order: h.order.iter().map(|&i| p.seeds[i]).collect(),
            },
            eigenvalues: spec.eigenvalues,
            embedding: spec.embedding,
            eval: p.eval,
            k,
            method: c.method,
            names: p.names,
            seeds: p.seeds,
            silhouette,
            sizes: sizes.clone(),
            stability,
            estimates,
        };
        std::fs::write(
            ctx.out_dir.join("cluster.json"),
            serde_json::to_vec_pretty(&out)?,
        )?;
        Ok(
            json!({"k": k, "sizes": sizes, "silhouette": silhouette, "stability_mean_ari": mean_ari, "delta": delta, "nearly_constant": nearly_constant}),
        )
    }
}

/// Matrices reclustered within the estimates' intervals: the low ends, the high ends, and
/// uniform draws (seeded) for the rest.
pub const INTERVAL_DRAWS: usize = 200;

/// Whether the partition holds with every adaptive estimate anywhere in its interval; `None`
/// when no entry of the matrix is an estimate.
fn interval_robustness(
    doc: &BarriersDoc,
    p: &ClusterParams,
    b: &Square,
    k: usize,
    delta: f64,
    assignments: &[usize],
) -> anyhow::Result<Option<IntervalRobustness>> {
    let set = doc.set(&p.eval)?;
    let m = doc.matrices(&p.eval, p.clustering.barrier)?;
    let mut entries = Vec::new();
    let mut unsettled = 0;
    for (pair, e) in set.estimated() {
        let (i, j) = doc.pair_index(pair)?;
        let (lo, hi) = (m.ci_low[i][j], m.ci_high[i][j]);
        let (Some(lo), Some(hi)) = (lo, hi) else {
            anyhow::bail!(
                "barriers.json: the estimate {pair} on `{}` has no interval",
                p.eval
            );
        };
        unsettled += usize::from(!e.estimate.settled);
        entries.push(Uncertain {
            i,
            j,
            low: lo.min(hi),
            high: hi.max(lo),
        });
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let aris = within_intervals(b, &entries, INTERVAL_DRAWS, 0, assignments, &|m| {
        p.clustering.assign(m, Some(k), delta)
    });
    Ok(Some(IntervalRobustness {
        estimated: entries.len(),
        unsettled,
        widest: entries.iter().map(|e| e.high - e.low).fold(0.0, f64::max),
        draws: aris.len(),
        identical: aris.iter().filter(|&&a| a >= 1.0 - 1e-12).count(),
        min_ari: aris.iter().copied().fold(f64::INFINITY, f64::min),
        mean_ari: aris.iter().sum::<f64>() / aris.len() as f64,
    }))
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
) -> anyhow::Result<Stability> {
    let Some(path) = files.get(&format!("replicates/{}.safetensors", p.eval)) else {
        return Ok(Stability {
            co_assignment: None,
            mean_ari: None,
            replicates: 0,
        });
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
    let t = st.tensor(p.clustering.barrier.name())?;
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
        let labels = p.clustering.assign(&b, Some(k), delta);
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
    Ok(Stability {
        co_assignment: Some(co),
        mean_ari: Some(aris.iter().sum::<f64>() / reps.max(1) as f64),
        replicates: reps,
    })
}
