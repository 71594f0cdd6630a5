//! `[merge]`: a task's soups, once its clustering has run. Which models share a basin is a
//! result, not a setting, so these nodes expand from the cached `cluster/<task>` document (see
//! [`Known`]): `basins run` runs the study, opens it again, and runs what the clustering added.
//!
//! Per task, with every `[merge] methods` entry:
//! - `merge/<task>/basin-<b>/<method>`: the soup of basin `b`'s models;
//! - `merge/<task>/all/<method>`: the soup of every model (a control: with one basin it is that
//!   basin's soup, and is left out);
//! - `merge/<task>/cross-<b>-<r>/average`: control `r` for basin `b`, the average of a random
//!   group of as many models drawn across basins (seeded; fewer where fewer such groups exist);
//! - `merge/<task>/greedy/average` (static, with `[merge] greedy`): the greedy soup of every
//!   model (Wortsman et al., 2022), chosen on the split named;
//! - `evaluate/<task>/<soup>/<method>`: each soup scored on every eval set, whole, by the
//!   evaluate kind that scores the models themselves;
//! - `interpolate/<task>/<soup>~<member>`: the path from each uniform soup of two or more to
//!   each of its members, on the clustering's set and grid;
//! - `soups/<task>`: every soup beside its members, their ensemble and the controls (the
//!   report's Basin soups section reads it).

use std::collections::{BTreeMap, BTreeSet};

use basins_engine::node::{Node, Source};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::manifest::{EvalSet, Manifest, MergeMethod, Soups};
use crate::params::{
    to_value, EvaluateParams, GreedyParams, InterpolateParams, MergeMember, MergeParams,
    MergeRecipe, Partition, ScoredSetParams, SoupGroup, SoupPaths, SoupSpec, SoupsParams,
};
use crate::roles::{self, task_node, TaskNode};

/// Results of nodes that have run which expansion reads: each task's final clustering, by its
/// cluster node's id. Empty before the first run, and for a study without `[merge]`.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub partitions: BTreeMap<String, Partition>,
}

impl Known {
    /// What a sweep's sub-study `label` knows, under its own ids.
    pub(super) fn under(&self, label: &str) -> Known {
        let prefix = format!("{label}/");
        Known {
            partitions: self
                .partitions
                .iter()
                .filter_map(|(id, p)| Some((id.strip_prefix(&prefix)?.to_owned(), p.clone())))
                .collect(),
        }
    }
}

/// Attempts at drawing one more distinct cross-basin group before settling for fewer.
const DRAW_ATTEMPTS: usize = 200;

/// One soup: its name in ids (`basin-0`, `all`, `cross-0-1`), its members and its recipes.
struct Soup {
    name: String,
    group: SoupGroup,
    members: Vec<u64>,
    methods: Vec<MergeMethod>,
}

/// The soups of a task whose clustering gave `partition`.
fn soups(s: &Soups, partition: &Partition) -> Vec<Soup> {
    let basins = partition.basins();
    let mut out: Vec<Soup> = basins
        .iter()
        .map(|(b, members)| Soup {
            name: format!("basin-{b}"),
            group: SoupGroup::Basin { basin: *b },
            members: members.clone(),
            methods: s.methods.clone(),
        })
        .collect();
    if basins.len() > 1 {
        out.push(Soup {
            name: "all".into(),
            group: SoupGroup::All,
            members: partition.seeds.clone(),
            methods: s.methods.clone(),
        });
    }
    let basin_of: BTreeMap<u64, usize> = partition
        .seeds
        .iter()
        .copied()
        .zip(partition.assignments.iter().copied())
        .collect();
    let own: BTreeSet<Vec<u64>> = basins.iter().map(|(_, m)| m.clone()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let n = partition.seeds.len();
    for (b, members) in &basins {
        let size = members.len();
        if size < 2 || size >= n {
            continue;
        }
        let mut drawn = BTreeSet::new();
        let mut attempts = 0;
        while drawn.len() < s.controls as usize && attempts < DRAW_ATTEMPTS {
            attempts += 1;
            let mut group: Vec<u64> = sample(&mut rng, n, size)
                .into_iter()
                .map(|i| partition.seeds[i])
                .collect();
            group.sort_unstable();
            let spans: BTreeSet<usize> = group.iter().map(|g| basin_of[g]).collect();
            if spans.len() > 1 && !own.contains(&group) {
                drawn.insert(group);
            }
        }
        // In the order drawn would depend on the set's order; sorted groups are stable.
        for (r, group) in drawn.into_iter().enumerate() {
            out.push(Soup {
                name: format!("cross-{b}-{r}"),
                group: SoupGroup::Cross { basin: *b },
                members: group,
                methods: vec![MergeMethod::Average],
            });
        }
    }
    out
}

fn recipe(s: &Soups, method: MergeMethod) -> MergeRecipe {
    match method {
        MergeMethod::Average => MergeRecipe::Average,
        MergeMethod::TaskArithmetic => MergeRecipe::TaskArithmetic { scale: s.scale },
        MergeMethod::Ties => MergeRecipe::Ties {
            density: s.density,
            scale: s.scale,
        },
    }
}

/// The id of `task`'s soup `soup` made by `method`.
pub fn merge_id(task: &str, soup: &str, method: MergeMethod) -> String {
    format!("merge/{task}/{soup}/{}", method.id())
}

/// The merge and evaluate nodes of `task`'s soups, and what `soups/<task>` reads of each.
/// `member`: a seed's final model; `base`: the model they were finetuned from, when the
/// manifest names one; `evaluate`: the params a final model's evaluate node has, and its eval
/// sets.
#[allow(clippy::too_many_arguments)]
pub(super) fn expand_soups(
    m: &Manifest,
    task: &str,
    partition: &Partition,
    member: &dyn Fn(u64) -> Source,
    base: Option<&Source>,
    evaluate: (&EvaluateParams, &[(EvalSet, Source)]),
    paths: Option<(&InterpolateParams, &[(EvalSet, Source)])>,
    nodes: &mut Vec<Node>,
) -> Vec<SoupSpec> {
    let Some(s) = &m.merge else {
        return Vec::new();
    };
    let labels = m.tasks[task].data.labels.clone();
    let mut specs = Vec::new();
    for soup in soups(s, partition) {
        for &method in &soup.methods {
            specs.push(SoupSpec {
                soup: soup.name.clone(),
                method,
                group: soup.group,
                members: soup.members.clone(),
            });
            let params = MergeParams {
                recipe: recipe(s, method),
                members: soup
                    .members
                    .iter()
                    .map(|&seed| MergeMember {
                        seed,
                        name: m.finetune.member_name(seed),
                    })
                    .collect(),
                labels: labels.clone(),
            };
            let id = merge_id(task, &soup.name, method);
            let mut n = Node::new(id.clone(), "merge", to_value(&params));
            for &seed in &soup.members {
                n = n.input(roles::member(seed), member(seed));
            }
            if let (true, Some(b)) = (method.needs_base(), base) {
                n = n.input(roles::MERGE_BASE, b.clone());
            }
            nodes.push(n);
            nodes.push(soup_evaluate(task, &soup.name, method, &id, evaluate));
            if let (MergeMethod::Average, true, Some((params, sets))) =
                (method, soup.members.len() > 1, paths)
            {
                for &seed in &soup.members {
                    let mut p = Node::new(
                        soup_path_id(m, task, &soup.name, seed),
                        "interpolate",
                        to_value(params),
                    )
                    .input("model_a", Source::Node(id.clone()))
                    .input("model_b", member(seed));
                    for (set, src) in sets {
                        p = p.input(roles::eval(&set.name()), src.clone());
                    }
                    nodes.push(p);
                }
            }
        }
    }
    let greedy = merge_id(task, "greedy", MergeMethod::Average);
    if nodes.iter().any(|n| n.id == greedy) {
        specs.push(SoupSpec {
            soup: "greedy".into(),
            method: MergeMethod::Average,
            group: SoupGroup::Greedy,
            members: m.finetune.seeds.clone(),
        });
    }
    specs
}

/// The path from soup `soup` (uniform) to member `seed`.
fn soup_path_id(m: &Manifest, task: &str, soup: &str, seed: u64) -> String {
    format!("interpolate/{task}/{soup}~{}", m.finetune.member_name(seed))
}

/// `soups/<task>`: the soups `specs` beside their members (their evaluate nodes, `endpoint`),
/// the ensembles of the same members and the controls, on every eval set (`scored`); the
/// paths between the members (`barriers/<task>`) for the soups' midpoints.
pub(super) fn soups_node(
    m: &Manifest,
    task: &str,
    specs: Vec<SoupSpec>,
    scored: Vec<ScoredSetParams>,
    paths: Option<SoupPaths>,
    endpoint: &dyn Fn(u64) -> Source,
) -> Node {
    let inputs: Vec<(String, Source)> = specs
        .iter()
        .map(|s| {
            (
                roles::soup(&s.soup, s.method.id()),
                Source::Node(format!("evaluate/{task}/{}/{}", s.soup, s.method.id())),
            )
        })
        .collect();
    let params_have_greedy = specs.iter().any(|s| s.group == SoupGroup::Greedy);
    let mut path_inputs = Vec::new();
    if paths.is_some() {
        for s in specs.iter().filter(|s| s.has_paths()) {
            for &seed in &s.members {
                path_inputs.push((
                    roles::soup_path(&s.soup, seed),
                    Source::Node(soup_path_id(m, task, &s.soup, seed)),
                ));
            }
        }
    }
    let params = SoupsParams {
        paths,
        eval_sets: scored,
        seeds: m.finetune.seeds.clone(),
        soups: specs,
    };
    let mut n = Node::new(task_node(TaskNode::Soups, task), "soups", to_value(&params)).input(
        "barriers",
        Source::Node(task_node(TaskNode::Barriers, task)),
    );
    for &seed in &m.finetune.seeds {
        n = n.input(roles::endpoint(seed), endpoint(seed));
    }
    for (role, source) in inputs {
        n = n.input(role, source);
    }
    for (role, source) in path_inputs {
        n = n.input(role, source);
    }
    if params_have_greedy {
        n = n.input(
            roles::GREEDY,
            Source::Node(merge_id(task, "greedy", MergeMethod::Average)),
        );
    }
    n
}

/// `merge/<task>/greedy/average` (the greedy soup of every model, chosen on split
/// `[merge] greedy` of the task) and its evaluate node. Static: it needs no clustering.
/// `endpoint`: a seed's final evaluate node, whose score on the split orders the members.
pub(super) fn expand_greedy(
    m: &Manifest,
    task: &str,
    member: &dyn Fn(u64) -> Source,
    endpoint: &dyn Fn(u64) -> Source,
    evaluate: (&EvaluateParams, &[(EvalSet, Source)]),
    nodes: &mut Vec<Node>,
) {
    let Some(split) = m.merge.as_ref().and_then(|s| s.greedy.as_ref()) else {
        return;
    };
    let name = format!("{task}.{split}");
    let Some((i, (_, src))) = evaluate
        .1
        .iter()
        .enumerate()
        .find(|(_, (e, _))| e.name() == name)
    else {
        return;
    };
    let params = GreedyParams {
        members: m
            .finetune
            .seeds
            .iter()
            .map(|&seed| MergeMember {
                seed,
                name: m.finetune.member_name(seed),
            })
            .collect(),
        labels: m.tasks[task].data.labels.clone(),
        set: evaluate.0.eval_sets[i].clone(),
        batch_size: evaluate.0.batch_size,
    };
    let id = merge_id(task, "greedy", MergeMethod::Average);
    let mut n = Node::new(id.clone(), "greedy_soup", to_value(&params))
        .input(roles::eval(&name), src.clone());
    for &seed in &m.finetune.seeds {
        n = n
            .input(roles::member(seed), member(seed))
            .input(roles::endpoint(seed), endpoint(seed));
    }
    nodes.push(n);
    nodes.push(soup_evaluate(
        task,
        "greedy",
        MergeMethod::Average,
        &id,
        evaluate,
    ));
}

/// `evaluate/<task>/<soup>/<method>`: the soup made by node `merge` scored as a model is.
fn soup_evaluate(
    task: &str,
    soup: &str,
    method: MergeMethod,
    merge: &str,
    evaluate: (&EvaluateParams, &[(EvalSet, Source)]),
) -> Node {
    let mut e = Node::new(
        format!("evaluate/{task}/{soup}/{}", method.id()),
        "evaluate",
        to_value(evaluate.0),
    )
    .input("model", Source::Node(merge.to_owned()));
    for (set, src) in evaluate.1 {
        e = e.input(roles::eval(&set.name()), src.clone());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soups_of(assignments: &[usize], controls: u32) -> Vec<Soup> {
        let s = Soups {
            methods: vec![MergeMethod::Average, MergeMethod::Ties],
            base: Some("bert".into()),
            density: 0.2,
            scale: 1.0,
            controls,
            seed: 7,
            greedy: None,
        };
        let p = Partition {
            seeds: (0..assignments.len() as u64).collect(),
            assignments: assignments.to_vec(),
        };
        soups(&s, &p)
    }

    #[test]
    fn every_basin_has_a_soup_and_controls_of_its_size_drawn_across_basins() {
        let assignments = [0, 1, 0, 0, 1, 1, 1, 0];
        let soups = soups_of(&assignments, 3);
        let names: Vec<&str> = soups.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "basin-0",
                "basin-1",
                "all",
                "cross-0-0",
                "cross-0-1",
                "cross-0-2",
                "cross-1-0",
                "cross-1-1",
                "cross-1-2"
            ]
        );
        assert_eq!(soups[0].members, [0, 2, 3, 7]);
        assert_eq!(soups[1].members, [1, 4, 5, 6]);
        assert_eq!(soups[2].members.len(), 8);
        for c in &soups[3..] {
            assert_eq!(c.members.len(), 4);
            assert_eq!(c.methods, [MergeMethod::Average]);
            let basins: BTreeSet<usize> =
                c.members.iter().map(|&s| assignments[s as usize]).collect();
            assert_eq!(basins.len(), 2, "{:?} lies in one basin", c.members);
        }
        let groups: BTreeSet<&Vec<u64>> = soups[3..6].iter().map(|c| &c.members).collect();
        assert_eq!(
            groups.len(),
            3,
            "the controls of a basin are distinct groups"
        );
        // Seeded: the same draws every time.
        let again = soups_of(&assignments, 3);
        assert!(soups
            .iter()
            .zip(&again)
            .all(|(a, b)| a.members == b.members));
    }

    #[test]
    fn fewer_controls_where_fewer_cross_basin_groups_exist() {
        // Basins {0, 1} and {2}: the groups of two drawn across them are {0, 2} and {1, 2}.
        let soups = soups_of(&[0, 0, 1], 5);
        let names: Vec<&str> = soups.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["basin-0", "basin-1", "all", "cross-0-0", "cross-0-1"]
        );
        assert_eq!(soups[3].members, [0, 2]);
        assert_eq!(soups[4].members, [1, 2]);
    }

    #[test]
    fn one_basin_has_no_soup_of_all_and_no_controls() {
        let soups = soups_of(&[0, 0, 0], 3);
        assert_eq!(soups.len(), 1);
        assert_eq!(soups[0].members, [0, 1, 2]);
    }
}
