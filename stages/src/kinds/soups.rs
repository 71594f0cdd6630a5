//! `soups`: every soup of a task beside its members (mean, min, max), the ensemble of the same
//! members (averaged probabilities) and the controls, on every eval set, by each set's primary
//! score; on the loss-surface rows, each soup's loss beside its members' and the midpoints of
//! the paths between them; and each uniform soup's barrier to its members beside theirs to one
//! another. From stored outputs: the soups' and the models' evaluate nodes, the paths from each
//! soup to its members and the barriers node's curves and matrices (no forward pass here).

use basins_engine::StageContext;
use basins_engine::StageKind;
use basins_study::params::{SoupGroup, SoupPaths, SoupSpec, SoupsParams};
use basins_study::roles;
use serde_json::{json, Value};

use super::{endpoint, node_doc, node_files, params, path_between};
use crate::diagnostics::{analyse, spread};
use crate::documents::{
    to_bytes, BarriersDoc, SoupBarriers, SoupRow, SoupScore, SoupSet, SoupsDoc, SurfaceLoss,
};
use crate::outputs::StoredSet;

pub struct SoupsKind;

impl StageKind for SoupsKind {
    fn name(&self) -> &'static str {
        "soups"
    }
    fn version(&self) -> u32 {
        1
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: SoupsParams = params(ctx)?;
        let barriers: BarriersDoc = node_doc(ctx, "barriers", "barriers.json")?;
        let mut sets = Vec::new();
        let mut rows: Vec<SoupRow> = p
            .soups
            .iter()
            .map(|s| SoupRow {
                barriers: None,
                chosen: None,
                group: s.group,
                members: s.members.clone(),
                method: s.method,
                scores: Vec::new(),
                soup: s.soup.clone(),
            })
            .collect();
        for scored in &p.eval_sets {
            let set = &scored.set;
            let read = |role: &str| -> anyhow::Result<(StoredSet, Option<Vec<usize>>)> {
                let (node, files) = node_files(ctx, role)?;
                let stored = StoredSet::read(node, files, &set.name)?;
                let surface = StoredSet::surface_rows(node, files, &set.name, stored.gold.len())?;
                Ok((stored, surface))
            };
            let score = |s: &StoredSet, surface: Option<&[usize]>| {
                analyse(s, set.data.format, scored.score.as_ref(), surface).primary
            };
            let models = p
                .seeds
                .iter()
                .map(|&seed| read(&roles::endpoint(seed)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let surface = models.first().and_then(|m| m.1.clone());
            let own: Vec<f64> = models
                .iter()
                .map(|(s, _)| score(s, surface.as_deref()).value)
                .collect();
            let name = models
                .first()
                .map(|(s, _)| score(s, surface.as_deref()).name)
                .unwrap_or_default();
            sets.push(SoupSet {
                diagnostic: !matches!(set.origin, basins_study::params::SetOrigin::Split(_)),
                name: set.name.clone(),
                score: name,
            });
            let curves = barriers.sets.get(&set.name);
            for (spec, row) in p.soups.iter().zip(&mut rows) {
                let at: Vec<usize> = spec
                    .members
                    .iter()
                    .map(|m| {
                        p.seeds.iter().position(|s| s == m).ok_or_else(|| {
                            anyhow::anyhow!("soup `{}`: member {m} is not a model", spec.soup)
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
                let (soup, _) = read(&roles::soup(&spec.soup, spec.method.id()))?;
                let value = score(&soup, surface.as_deref()).value;
                let members = spread(&at.iter().map(|&i| own[i]).collect::<Vec<_>>());
                let members_sets: Vec<&StoredSet> = at.iter().map(|&i| &models[i].0).collect();
                let ensemble = score(&ensemble(&members_sets)?, surface.as_deref()).value;
                let loss = match (&surface, curves) {
                    (Some(rows), Some(c)) => Some(surface_loss(
                        &soup,
                        &members_sets,
                        rows,
                        c,
                        &barriers,
                        &spec.members,
                    )?),
                    _ => None,
                };
                row.scores.push(SoupScore {
                    ensemble,
                    gain: value - members.max,
                    loss,
                    soup: value,
                    within: value >= members.min && value <= members.max,
                    members,
                });
            }
        }
        for (spec, row) in p.soups.iter().zip(&mut rows) {
            if spec.group == SoupGroup::Greedy {
                let (node, files) = node_files(ctx, roles::GREEDY)?;
                let path = files
                    .get("greedy.json")
                    .ok_or_else(|| anyhow::anyhow!("`{node}` has no greedy.json"))?;
                let doc: Value = crate::documents::read(path)?;
                row.chosen = Some(serde_json::from_value(doc["members"].clone())?);
            }
        }
        if let Some(paths) = &p.paths {
            for (spec, row) in p.soups.iter().zip(&mut rows) {
                if spec.has_paths() {
                    row.barriers = Some(soup_barriers(ctx, paths, spec, &barriers)?);
                }
            }
        }
        let doc = SoupsDoc { sets, soups: rows };
        std::fs::write(ctx.output("soups.json")?, to_bytes(&doc)?)?;
        Ok(json!({"soups": doc.soups.len(), "sets": doc.sets.len()}))
    }
}

/// The barriers from a uniform soup to each of its members (their paths), and among the
/// members (the barriers node's matrix).
fn soup_barriers(
    ctx: &StageContext,
    paths: &SoupPaths,
    spec: &SoupSpec,
    doc: &BarriersDoc,
) -> anyhow::Result<SoupBarriers> {
    let set = &paths.set;
    let soup = endpoint(ctx, &roles::soup(&spec.soup, spec.method.id()), set)?;
    let mut to = Vec::new();
    for &seed in &spec.members {
        let member = endpoint(ctx, &roles::endpoint(seed), set)?;
        let role = roles::soup_path(&spec.soup, seed);
        let path = path_between(ctx, &role, &paths.alphas, set, (&soup, &member))?;
        let all: Vec<usize> = (0..soup.rows()).collect();
        to.push(path.barriers_over(&all)[paths.barrier.index()]);
    }
    let m = doc.matrices(set, paths.barrier)?;
    let at: Vec<usize> = spec
        .members
        .iter()
        .filter_map(|s| doc.seeds.iter().position(|x| x == s))
        .collect();
    let among: Vec<f64> = at
        .iter()
        .enumerate()
        .flat_map(|(k, &i)| at[k + 1..].iter().map(move |&j| (i, j)))
        .filter_map(|(i, j)| m.value[i][j])
        .collect();
    anyhow::ensure!(
        !among.is_empty(),
        "soup `{}`: no barrier between its members on `{set}`",
        spec.soup
    );
    Ok(SoupBarriers {
        among: spread(&among),
        to_members: spread(&to),
    })
}

/// The members' averaged probabilities as one model's outputs: its loss the negative log of
/// the averaged probability of the gold label, its prediction their argmax (the first label
/// on a tie, as a model's own argmax).
fn ensemble(members: &[&StoredSet]) -> anyhow::Result<StoredSet> {
    let first = members
        .first()
        .ok_or_else(|| anyhow::anyhow!("an ensemble of no models"))?;
    let n = first.gold.len();
    let k = first.labels.len();
    let mut probs = vec![vec![0f32; k]; n];
    for m in members {
        anyhow::ensure!(
            m.gold == first.gold && m.labels == first.labels,
            "the members' outputs are on different rows or labels"
        );
        for (row, p) in probs.iter_mut().zip(&m.probs) {
            for (x, y) in row.iter_mut().zip(p) {
                *x += y;
            }
        }
    }
    let w = 1.0 / members.len() as f32;
    for row in &mut probs {
        for x in row.iter_mut() {
            *x *= w;
        }
    }
    let predicted: Vec<usize> = probs
        .iter()
        .map(|p| {
            p.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &x)| {
                    if x > best.1 {
                        (i, x)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect();
    let loss = probs
        .iter()
        .zip(&first.gold)
        .map(|(p, &g)| -p[g].max(f32::MIN_POSITIVE).ln())
        .collect();
    Ok(StoredSet {
        labels: first.labels.clone(),
        loss,
        probs,
        gold: first.gold.clone(),
        predicted,
        groups: first.groups.clone(),
    })
}

/// Mean losses on the surface rows: the soup's, its members', and the paths' between its
/// members at alpha = 0.5 (their mean curves, read on the grid or between the two points
/// around 0.5).
fn surface_loss(
    soup: &StoredSet,
    members: &[&StoredSet],
    rows: &[usize],
    curves: &crate::documents::SetBarriers,
    barriers: &BarriersDoc,
    seeds: &[u64],
) -> anyhow::Result<SurfaceLoss> {
    let mean =
        |s: &StoredSet| rows.iter().map(|&r| f64::from(s.loss[r])).sum::<f64>() / rows.len() as f64;
    let members_mean = members.iter().map(|m| mean(m)).sum::<f64>() / members.len() as f64;
    let alphas = &curves.alphas;
    let on_grid = alphas.contains(&0.5);
    let hi = alphas.iter().position(|&a| a >= 0.5);
    let mut mids = Vec::new();
    for (pair, c) in &curves.curves {
        let (i, j) = barriers.pair_index(pair)?;
        let (a, b) = (barriers.seeds[i], barriers.seeds[j]);
        if !(seeds.contains(&a) && seeds.contains(&b)) {
            continue;
        }
        let mid = match hi {
            Some(h) if alphas[h] == 0.5 => c.loss[h],
            Some(h) if h > 0 => {
                let (a0, a1) = (alphas[h - 1], alphas[h]);
                let t = (0.5 - a0) / (a1 - a0);
                c.loss[h - 1] + t * (c.loss[h] - c.loss[h - 1])
            }
            _ => f64::NAN,
        };
        mids.push(mid);
    }
    Ok(SurfaceLoss {
        members: members_mean,
        midpoints: (!mids.is_empty()).then(|| mids.iter().sum::<f64>() / mids.len() as f64),
        midpoint_on_grid: on_grid,
        pairs: mids.len(),
        soup: mean(soup),
    })
}
