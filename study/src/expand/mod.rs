//! Expansion: a resolved `Manifest` becomes stage instances (`Node`s) with stable, readable ids,
//! canonical params and declared inputs. Pure and in memory: nothing here touches the disk, so
//! expanding a 100-seed study costs microseconds per node.

mod blocks;
mod merge;
mod report;
mod sets;

use std::collections::BTreeSet;

use basins_engine::node::{Node, Source};
use basins_engine::stage::Build;
use serde_json::Value;

use crate::manifest::hub::HubRef;
use crate::manifest::sweep::Sweep;
use crate::manifest::{
    BarrierKind, Checkpoint, EvalSet, FinetuneHyper, Manifest, Model, Origin, PairSpec, SeedStream,
    ZooFrom,
};
use crate::params::{
    self, to_value, AdaptiveParams, BarriersParams, ClusterParams, Contract, ControlsParams,
    DiagnosticsParams, DynamicsParams, DynamicsSetParams, EvaluateParams, FinetuneParams,
    HubParams, HubSource, InterpolateParams, OwnPathParams, PredictParams, PretrainParams,
    ReportParams, SoupPaths, SweepParams,
};
use crate::roles::{self, task_node, task_node_at, TaskNode};
pub use merge::{merge_id, Known};
use report::{manifest_text, study_config};
use sets::{data_inputs, eval_params, eval_sets, scored_params, surface_sets};

/// Expand a manifest into its nodes, upstream before downstream, before anything has run.
/// `build` is shown on report pages, and so enters their keys.
pub fn expand(m: &Manifest, build: &Build) -> Vec<Node> {
    expand_known(m, build, &Known::default())
}

/// [`expand`], with the nodes that expand from results that have run (`known`): each task's
/// soups, once its clustering is cached.
pub fn expand_known(m: &Manifest, build: &Build, known: &Known) -> Vec<Node> {
    match &m.sweep {
        Some(s) => expand_sweep(m, s, build, known),
        None => expand_study(m, build, known),
    }
}

/// The nodes whose cached results expansion reads ([`Known`]): each task's final cluster node,
/// in a study with `[merge]`.
pub fn awaited(m: &Manifest) -> Vec<String> {
    match &m.sweep {
        Some(s) => s
            .variants
            .iter()
            .flat_map(|v| {
                awaited(&v.manifest)
                    .into_iter()
                    .map(move |id| format!("{}/{id}", v.label))
            })
            .collect(),
        None if m.merge.is_some() && m.interpolate.is_some() && m.cluster.is_some() => m
            .finetune
            .tasks
            .iter()
            .map(|t| task_node(TaskNode::Cluster, t))
            .collect(),
        None => Vec::new(),
    }
}

/// Each sub-study's nodes under its label, then (with a `[report]`) the `sweep` node that
/// compares their reports, as the study's `report`.
fn expand_sweep(m: &Manifest, s: &Sweep, build: &Build, known: &Known) -> Vec<Node> {
    let mut nodes = Vec::new();
    for v in &s.variants {
        for mut n in expand_study(&v.manifest, build, &known.under(&v.label)) {
            n.id = format!("{}/{}", v.label, n.id);
            for i in &mut n.inputs {
                if let Source::Node(id) = &mut i.source {
                    *id = format!("{}/{id}", v.label);
                }
            }
            nodes.push(n);
        }
    }
    if let Some(r) = &m.report {
        let variants: Vec<params::Variant> = s
            .variants
            .iter()
            .map(|v| params::Variant {
                label: v.label.clone(),
                values: to_value(&v.values),
            })
            .collect();
        let mut sweep = Node::new(
            "report".into(),
            "sweep",
            to_value(&SweepParams {
                title: r.title.clone(),
                study: m.study.name.clone(),
                keys: s.keys.clone(),
                variants,
            }),
        );
        for v in &s.variants {
            sweep = sweep.input(v.label.clone(), Source::Node(format!("{}/report", v.label)));
        }
        nodes.push(sweep);
    }
    nodes
}

fn expand_study(m: &Manifest, build: &Build, known: &Known) -> Vec<Node> {
    let mut nodes = Vec::new();
    let base = base_model(m, &mut nodes);
    let bases = seed_bases(m, &mut nodes);
    // What task arithmetic and TIES subtract: a trained study's base, a zoo's named model.
    let merge_base = match (&m.merge, &m.finetune.origin) {
        (Some(s), Origin::Zoo { .. }) if s.methods.iter().any(|x| x.needs_base()) => s
            .base
            .as_ref()
            .map(|name| model_source(m, name, &mut nodes)),
        (Some(_), Origin::Trained { .. }) => base.clone(),
        _ => None,
    };
    if let Origin::Zoo {
        members,
        from: ZooFrom::Hub(refs),
        tokenizer,
        steps,
    } = &m.finetune.origin
    {
        for (name, r) in members.iter().zip(refs) {
            hub_node(name, r, tokenizer.as_ref(), &mut nodes);
        }
        // Each mapped step's revision of every member: `hub/<member>@step=<n>`.
        for (n, refs) in steps.iter().flat_map(|s| &s.hub) {
            for (name, r) in members.iter().zip(refs) {
                let at = Checkpoint::Step(*n);
                hub_node(
                    &format!("{name}{}", at.suffix()),
                    r,
                    tokenizer.as_ref(),
                    &mut nodes,
                );
            }
        }
    }
    for task in &m.finetune.tasks {
        expand_task(
            m,
            task,
            (base.as_ref(), &bases),
            merge_base.as_ref(),
            known,
            &mut nodes,
        );
    }
    if let Some(r) = &m.report {
        let mut report = Node::new(
            "report".into(),
            "report",
            to_value(&ReportParams {
                title: r.title.clone(),
                bootstrap: r.bootstrap as usize,
                study: m.study.name.clone(),
                config: study_config(m),
                manifest: manifest_text(m),
                build: build.clone(),
                expect: r.expect.clone(),
            }),
        );
        // Each task's analysis nodes at the final weights, those the study has; a kept step's
        // reach the page through `dynamics/<task>`.
        for task in &m.finetune.tasks {
            for what in TaskNode::ALL {
                let id = task_node(what, task);
                if nodes.iter().any(|n| n.id == id) {
                    report = report.input(id.clone(), Source::Node(id));
                }
            }
        }
        nodes.push(report);
    }
    nodes
}

/// The base model a trained study finetunes (a `pretrain` node for a builtin one); none for a
/// zoo, or when each seed has its own (`vary = ["pretrain", ...]`: [`seed_bases`]).
fn base_model(m: &Manifest, nodes: &mut Vec<Node>) -> Option<Source> {
    let Origin::Trained { model: name, hyper } = &m.finetune.origin else {
        return None;
    };
    if hyper.vary.contains(&SeedStream::Pretrain) {
        return None;
    }
    Some(model_source(m, name, nodes))
}

/// With `vary = ["pretrain", ...]`, each seed's own base: the builtin model pretrained from
/// that seed (`pretrain/<model>/seed=<s>`), in seed order; the manifest has checked that the
/// model is builtin.
fn seed_bases(m: &Manifest, nodes: &mut Vec<Node>) -> Vec<(u64, Source)> {
    let Origin::Trained { model: name, hyper } = &m.finetune.origin else {
        return Vec::new();
    };
    let Model::Builtin { config, pretrain } = &m.models[name] else {
        return Vec::new();
    };
    if !hyper.vary.contains(&SeedStream::Pretrain) {
        return Vec::new();
    }
    m.finetune
        .seeds
        .iter()
        .map(|&seed| {
            let id = format!("pretrain/{name}/seed={seed}");
            let mut pretrain = pretrain.clone();
            pretrain.seed = seed;
            nodes.push(Node::new(
                id.clone(),
                "pretrain",
                to_value(&PretrainParams {
                    config: config.clone(),
                    pretrain,
                }),
            ));
            (seed, Source::Node(id))
        })
        .collect()
}

/// Model `name` of `[models]`: its directory, or the node that makes it (called once per
/// model: the finetune base of a trained study, or a zoo's merge base, which the manifest keeps
/// apart from the zoo's members).
fn model_source(m: &Manifest, name: &str, nodes: &mut Vec<Node>) -> Source {
    match &m.models[name] {
        Model::Path(p) => Source::Dir(p.clone()),
        Model::Hub(r) => hub_node(name, r, None, nodes),
        Model::Builtin { config, pretrain } => {
            let id = format!("pretrain/{name}");
            nodes.push(Node::new(
                id.clone(),
                "pretrain",
                to_value(&PretrainParams {
                    config: config.clone(),
                    pretrain: pretrain.clone(),
                }),
            ));
            Source::Node(id)
        }
    }
}

/// A `hub/<name>` node: the repository's files at the resolved commit. Only the repository and
/// the commit enter its key; the revision a manifest names is how that commit was found. An
/// unresolved revision leaves `commit` null: the plan shows it, and the CLI refuses to run.
/// `tokenizer`: where the tokenizer files come from when the repository has none (a zoo's
/// `tokenizer`); only then in the params, so other keys stay as they were.
fn hub_node(name: &str, r: &HubRef, tokenizer: Option<&HubRef>, nodes: &mut Vec<Node>) -> Source {
    let id = format!("hub/{name}");
    let source = |r: &HubRef| HubSource {
        repo: r.repo.clone(),
        commit: r.commit.clone(),
    };
    let params = HubParams {
        source: source(r),
        tokenizer: tokenizer.map(source),
    };
    nodes.push(Node::new(id.clone(), "hub", to_value(&params)));
    Source::Node(id)
}

fn pairs(spec: &PairSpec, seeds: &[u64]) -> Vec<(u64, u64)> {
    let all_in = |set: &[u64]| {
        let mut v = Vec::new();
        for (i, a) in set.iter().enumerate() {
            for b in &set[i + 1..] {
                v.push((*a.min(b), *a.max(b)));
            }
        }
        v
    };
    let raw = match spec {
        PairSpec::All => all_in(seeds),
        PairSpec::Within(groups) => groups.iter().flat_map(|g| all_in(&g.0)).collect(),
        PairSpec::List(l) => l.iter().map(|(a, b)| (*a.min(b), *a.max(b))).collect(),
    };
    let mut seen = BTreeSet::new();
    raw.into_iter().filter(|p| seen.insert(*p)).collect()
}

fn finetune_id(task: &str, seed: u64) -> String {
    format!("finetune/{task}/seed={seed}")
}

fn evaluate_id(m: &Manifest, task: &str, seed: u64, at: Checkpoint) -> String {
    format!(
        "evaluate/{task}/{}{}",
        m.finetune.member_id(seed),
        at.suffix()
    )
}

/// The checkpoints a task's basins are mapped at (`[interpolate] at`; the final weights alone
/// without it).
fn checkpoints(m: &Manifest) -> Vec<Checkpoint> {
    m.interpolate
        .as_ref()
        .map_or_else(|| vec![Checkpoint::Final], |i| i.at.clone())
}

/// Params of a node that reads a model at `at`: `checkpoint` only for a kept step of a
/// finetune node (whose output holds every kept step), so the final weights' nodes keep the
/// keys they had before steps existed. A zoo's step is an input of its own (`finetuned_at`).
fn at_step(m: &Manifest, at: Checkpoint) -> Option<String> {
    match (at, &m.finetune.origin) {
        (Checkpoint::Step(_), Origin::Trained { .. }) => Some(at.dir()),
        _ => None,
    }
}

/// Finetuned model `seed` at its final weights.
fn finetuned(m: &Manifest, task: &str, seed: u64) -> Source {
    finetuned_at(m, task, seed, Checkpoint::Final)
}

/// Finetuned model `seed` at checkpoint `at`: a finetune node's output (the step chosen by the
/// reader's `checkpoint` param), a zoo member's directory or its step's subfolder, or the
/// `hub/` node of the member's repository or of its step's revision.
fn finetuned_at(m: &Manifest, task: &str, seed: u64, at: Checkpoint) -> Source {
    match (&m.finetune.origin, at) {
        (Origin::Trained { .. }, _) => Source::Node(finetune_id(task, seed)),
        (
            Origin::Zoo {
                members,
                from: ZooFrom::Dir(dir),
                steps,
                ..
            },
            at,
        ) => {
            let member = dir.join(&members[seed as usize]);
            match (at, steps) {
                (Checkpoint::Step(n), Some(s)) => Source::Dir(member.join(s.at(n))),
                _ => Source::Dir(member),
            }
        }
        (Origin::Zoo { members, .. }, at) => {
            Source::Node(format!("hub/{}{}", members[seed as usize], at.suffix()))
        }
    }
}

/// Give a model node every eval set as an input (`eval:<name>`).
fn with_eval_inputs(mut n: Node, sets: &[(EvalSet, Source)]) -> Node {
    for (e, src) in sets {
        n = n.input(roles::eval(&e.name()), src.clone());
    }
    n
}

/// Reference runs per final basin from which `dynamics/<task>` predicts each run's final basin
/// at a kept step, and the random choices of references it averages over: one to three runs a
/// basin is what a study that wants to stop runs early would train to the end.
const PREDICT_REFERENCES: [usize; 3] = [1, 2, 3];
const PREDICT_DRAWS: usize = 200;

fn expand_task(
    m: &Manifest,
    task: &str,
    (base, bases): (Option<&Source>, &[(u64, Source)]),
    merge_base: Option<&Source>,
    known: &Known,
    nodes: &mut Vec<Node>,
) {
    let t = &m.tasks[task];
    let sets = eval_sets(m, task, nodes);
    if let Origin::Trained { hyper, .. } = &m.finetune.origin {
        // One base for every seed, or each seed's own.
        let base_of = |seed: u64| {
            base.cloned().or_else(|| {
                bases
                    .iter()
                    .find(|(s, _)| *s == seed)
                    .map(|(_, b)| b.clone())
            })
        };
        expand_finetune(m, task, &base_of, hyper, nodes);
    }
    let eval_batch = m
        .interpolate
        .as_ref()
        .map_or(128, |i| i.batch_size as usize);
    let surface = surface_sets(m, &sets);
    let mut clusters = Vec::new();
    for at in checkpoints(m) {
        // Every set is scored whole; its surface rows are recorded for the barriers. At a kept
        // step only the loss-surface sets are scored: nothing else reads them there.
        let scored = match at {
            Checkpoint::Final => &sets,
            Checkpoint::Step(_) => &surface,
        };
        let params = to_value(&EvaluateParams {
            eval_sets: eval_params(m, scored),
            batch_size: eval_batch,
            labels: t.data.labels.clone(),
            checkpoint: at_step(m, at),
        });
        for &seed in &m.finetune.seeds {
            let n = Node::new(evaluate_id(m, task, seed, at), "evaluate", params.clone())
                .input("model", finetuned_at(m, task, seed, at));
            nodes.push(with_eval_inputs(n, scored));
        }
        if let Some(id) = expand_basins(m, task, &surface, at, nodes) {
            clusters.push((at, id));
        }
    }
    if clusters.len() > 1 {
        // Every set's score (each set's correlation with the spectral coordinate), and which
        // of them a kept step's evaluate node scores too.
        let scored: Vec<DynamicsSetParams> = scored_params(m, &sets)
            .into_iter()
            .map(|set| DynamicsSetParams {
                at_steps: surface.iter().any(|(e, _)| e.name() == set.set.name),
                set,
            })
            .collect();
        let mut d = Node::new(task_node(TaskNode::Dynamics, task), "dynamics", Value::Null);
        for (at, id) in &clusters {
            d = d
                .input(roles::cluster_at(at), Source::Node(id.clone()))
                .input(
                    roles::barriers_at(at),
                    Source::Node(task_node_at(TaskNode::Barriers, task, *at)),
                );
        }
        // A clustering always has its set among the loss-surface sets, so this is always
        // there when `clusters` is.
        if let Some(own) = own_paths(m, task, &surface, &clusters, nodes) {
            for (role, id) in own.inputs {
                d = d.input(role, Source::Node(id));
            }
            d.params = to_value(&DynamicsParams {
                steps: clusters.iter().map(|(at, _)| *at).collect(),
                seeds: m.finetune.seeds.clone(),
                scored,
                predict: PredictParams {
                    references: PREDICT_REFERENCES.to_vec(),
                    draws: PREDICT_DRAWS,
                },
                own: own.params,
            });
            nodes.push(d);
        }
    }
    let cluster = clusters
        .iter()
        .find(|(at, _)| *at == Checkpoint::Final)
        .map(|(_, id)| id.clone());
    blocks::expand(m, task, &surface, cluster.as_deref(), nodes);
    let final_eval = EvaluateParams {
        eval_sets: eval_params(m, &sets),
        batch_size: eval_batch,
        labels: t.data.labels.clone(),
        checkpoint: None,
    };
    merge::expand_greedy(
        m,
        task,
        &|seed| finetuned(m, task, seed),
        &|seed| Source::Node(evaluate_id(m, task, seed, Checkpoint::Final)),
        (&final_eval, &sets),
        nodes,
    );
    if let Some(p) = cluster.as_ref().and_then(|id| known.partitions.get(id)) {
        // Each uniform soup's paths to its members, on the clustering's set and grid.
        let path_set = soup_path_set(m, &surface);
        let path_params = path_set.as_ref().map(|(interp, set, _)| InterpolateParams {
            alphas: interp.alphas.0.clone(),
            eval_sets: eval_params(m, std::slice::from_ref(set)),
            batch_size: interp.batch_size as usize,
            labels: t.data.labels.clone(),
            checkpoint: None,
            to_final: false,
            adaptive: None,
            scores_end: false,
        });
        let specs = merge::expand_soups(
            m,
            task,
            p,
            &|seed| finetuned(m, task, seed),
            merge_base,
            (&final_eval, &sets),
            path_params
                .as_ref()
                .zip(path_set.as_ref())
                .map(|(params, (_, set, _))| (params, std::slice::from_ref(set))),
            nodes,
        );
        if !specs.is_empty() {
            nodes.push(merge::soups_node(
                m,
                task,
                specs,
                scored_params(m, &sets),
                path_set.map(|(interp, set, barrier)| SoupPaths {
                    alphas: interp.alphas.0.clone(),
                    barrier,
                    set: set.0.name(),
                }),
                &|seed| Source::Node(evaluate_id(m, task, seed, Checkpoint::Final)),
            ));
        }
    }
    let diag: Vec<String> = sets.iter().map(|(e, _)| e.name()).collect();
    let mut d = Node::new(
        task_node(TaskNode::Diagnostics, task),
        "diagnostics",
        to_value(&DiagnosticsParams {
            eval_sets: scored_params(m, &sets),
            names: diag,
            seeds: m.finetune.seeds.clone(),
        }),
    );
    for &seed in &m.finetune.seeds {
        d = d.input(
            roles::endpoint(seed),
            Source::Node(evaluate_id(m, task, seed, Checkpoint::Final)),
        );
    }
    if let Some(id) = &cluster {
        d = d.input("cluster", Source::Node(id.clone()));
    }
    nodes.push(d);
    if let (Some(id), Some(c)) = (cluster, &m.cluster) {
        nodes.extend(controls(m, task, &id, c, &surface));
    }
}

/// The set (and its source) a task's clustering reads, with the grid and the barrier it
/// clusters: where a soup's paths to its members are scored.
fn soup_path_set<'m>(
    m: &'m Manifest,
    surface: &[(EvalSet, Source)],
) -> Option<(
    &'m crate::manifest::Interpolate,
    (EvalSet, Source),
    BarrierKind,
)> {
    let (interp, c) = (m.interpolate.as_ref()?, m.cluster.as_ref()?);
    let name = clustered_set(c, surface)?;
    let set = surface.iter().find(|(e, _)| e.name() == name)?.clone();
    Some((interp, set, c.barrier))
}

/// The eval set a task's clustering reads: `[cluster] eval`, or the first loss-surface set.
fn clustered_set(c: &crate::manifest::Cluster, surface: &[(EvalSet, Source)]) -> Option<String> {
    c.eval
        .as_ref()
        .map(|e| e.name())
        .or_else(|| surface.first().map(|s| s.0.name()))
}

/// Relabellings for the permutation p-value of a partition's agreement with the strategies.
const CONTROL_PERMUTATIONS: usize = 10_000;

/// `controls/<task>`: the final basins against output-similarity baselines and other analysis
/// choices, from the stored outputs of the final models (no forward pass).
fn controls(
    m: &Manifest,
    task: &str,
    cluster: &str,
    c: &crate::manifest::Cluster,
    surface: &[(EvalSet, Source)],
) -> Option<Node> {
    let set = clustered_set(c, surface)?;
    let params = ControlsParams {
        set,
        clustering: c.into(),
        seeds: m.finetune.seeds.clone(),
        bootstrap: m.report.as_ref().map_or(1000, |r| r.bootstrap as usize),
        permutations: CONTROL_PERMUTATIONS,
    };
    let mut n = Node::new(
        task_node(TaskNode::Controls, task),
        "controls",
        to_value(&params),
    )
    .input(
        "barriers",
        Source::Node(task_node(TaskNode::Barriers, task)),
    )
    .input("cluster", Source::Node(cluster.to_owned()))
    .input(
        "diagnostics",
        Source::Node(task_node(TaskNode::Diagnostics, task)),
    );
    for &seed in &m.finetune.seeds {
        n = n.input(
            roles::endpoint(seed),
            Source::Node(evaluate_id(m, task, seed, Checkpoint::Final)),
        );
    }
    Some(n)
}

/// One finetune node per seed, from its base model on the task's training data.
fn expand_finetune(
    m: &Manifest,
    task: &str,
    base_of: &dyn Fn(u64) -> Option<Source>,
    hyper: &FinetuneHyper,
    nodes: &mut Vec<Node>,
) {
    let t = &m.tasks[task];
    let (train, splits) = data_inputs(task, &t.data, nodes);
    // In-training evaluation (`eval_every`) reads the task's first eval split.
    let dev = splits.into_iter().next().filter(|_| hyper.eval_every > 0);
    for &seed in &m.finetune.seeds {
        let params = FinetuneParams {
            task: task.to_owned(),
            data: (&t.data).into(),
            max_examples: t.data.max_examples,
            seed,
            hyper: hyper.clone(),
        };
        let Some(base) = base_of(seed) else {
            continue;
        };
        let mut n =
            Node::new(finetune_id(task, seed), "finetune", to_value(&params)).input("model", base);
        if let Some(train) = &train {
            n = n.input("train", train.clone());
        }
        if let Some((_, src)) = &dev {
            n = n.input("dev", src.clone());
        }
        nodes.push(n);
    }
}

/// The paths from each model's kept checkpoints to its own final weights, on the clustering's
/// set: does a run leave the basin it was in at step s? What the `dynamics` node reads.
struct OwnPaths {
    params: OwnPathParams,
    inputs: Vec<(String, String)>,
}

fn own_paths(
    m: &Manifest,
    task: &str,
    surface: &[(EvalSet, Source)],
    clusters: &[(Checkpoint, String)],
    nodes: &mut Vec<Node>,
) -> Option<OwnPaths> {
    let (interp, c) = (m.interpolate.as_ref()?, m.cluster.as_ref()?);
    let set_name = clustered_set(c, surface)?;
    let set: Vec<(EvalSet, Source)> = surface
        .iter()
        .filter(|(e, _)| e.name() == set_name)
        .cloned()
        .collect();
    let t = &m.tasks[task];
    let mut inputs = Vec::new();
    for &seed in &m.finetune.seeds {
        inputs.push((
            roles::end(seed),
            evaluate_id(m, task, seed, Checkpoint::Final),
        ));
    }
    for &(at, _) in clusters.iter().filter(|(at, _)| *at != Checkpoint::Final) {
        let params = to_value(&InterpolateParams {
            alphas: interp.alphas.0.clone(),
            eval_sets: eval_params(m, &set),
            batch_size: interp.batch_size as usize,
            labels: t.data.labels.clone(),
            checkpoint: at_step(m, at),
            to_final: true,
            // A model's own path is one per seed: the grid's cost is small, and dynamics reads
            // its whole curve.
            adaptive: None,
            scores_end: false,
        });
        for &seed in &m.finetune.seeds {
            let id = format!(
                "interpolate/{task}/{}{}~final",
                m.finetune.member_name(seed),
                at.suffix()
            );
            let n = Node::new(id.clone(), "interpolate", params.clone())
                .input("model_a", finetuned_at(m, task, seed, at))
                .input("model_b", finetuned(m, task, seed));
            nodes.push(with_eval_inputs(n, &set));
            inputs.push((roles::own(seed, at), id));
            inputs.push((roles::start(seed, at), evaluate_id(m, task, seed, at)));
        }
    }
    Some(OwnPaths {
        params: OwnPathParams {
            set: set_name,
            alphas: interp.alphas.0.clone(),
            barrier: c.barrier,
        },
        inputs,
    })
}

/// Interpolation, barriers and clustering for one task at one checkpoint, when the manifest
/// asks for them; returns the cluster node's id.
fn expand_basins(
    m: &Manifest,
    task: &str,
    sets: &[(EvalSet, Source)],
    at: Checkpoint,
    nodes: &mut Vec<Node>,
) -> Option<String> {
    let t = &m.tasks[task];
    let interp = m.interpolate.as_ref()?;
    let evals = eval_params(m, sets);
    let eval_batch = interp.batch_size as usize;
    let pairs = pairs(&interp.pairs, &m.finetune.seeds);
    let suffix = at.suffix();
    let barriers_id = task_node_at(TaskNode::Barriers, task, at);
    let mut barriers = Node::new(
        barriers_id.clone(),
        "barriers",
        to_value(&BarriersParams {
            alphas: interp.alphas.0.clone(),
            pairs: pairs.clone(),
            seeds: m.finetune.seeds.clone(),
            bootstrap: m.report.as_ref().map_or(1000, |r| r.bootstrap as usize),
        }),
    );
    for &seed in &m.finetune.seeds {
        barriers = barriers.input(
            roles::endpoint(seed),
            Source::Node(evaluate_id(m, task, seed, at)),
        );
    }
    let name = |s| m.finetune.member_name(s);
    // Adaptive mode estimates the barrier the clustering reads.
    let adaptive = interp.adaptive.map(|c| AdaptiveParams {
        barrier: m
            .cluster
            .as_ref()
            .map_or(BarrierKind::Convexity, |c| c.barrier),
        contract: Contract {
            tolerance: c.tolerance,
            budget: c.budget,
            ..Contract::default()
        },
    });
    for &(a, b) in &pairs {
        let id = format!("interpolate/{task}/{}~{}{suffix}", name(a), name(b));
        let params = to_value(&InterpolateParams {
            alphas: interp.alphas.0.clone(),
            eval_sets: evals.clone(),
            batch_size: eval_batch,
            labels: t.data.labels.clone(),
            checkpoint: at_step(m, at),
            to_final: false,
            adaptive,
            scores_end: false,
        });
        let kind = match adaptive {
            None => "interpolate",
            Some(_) => "interpolate_adaptive",
        };
        let mut n = Node::new(id.clone(), kind, params)
            .input("model_a", finetuned_at(m, task, a, at))
            .input("model_b", finetuned_at(m, task, b, at));
        if adaptive.is_some() {
            // The endpoints' per-example losses order the examples and anchor every chord.
            for (role, seed) in roles::PATH_ENDS.into_iter().zip([a, b]) {
                n = n.input(role, Source::Node(evaluate_id(m, task, seed, at)));
            }
        }
        nodes.push(with_eval_inputs(n, sets));
        barriers = barriers.input(roles::path(a, b), Source::Node(id));
    }
    nodes.push(barriers);
    let c = m.cluster.as_ref()?;
    let eval = clustered_set(c, sets)?;
    let params = ClusterParams {
        eval,
        clustering: c.into(),
        bootstrap: c.bootstrap as usize,
        seeds: m.finetune.seeds.clone(),
        // Shown in the report in place of seed numbers.
        names: match &m.finetune.origin {
            Origin::Zoo { members, .. } => Some(members.clone()),
            Origin::Trained { .. } => None,
        },
    };
    let id = task_node_at(TaskNode::Cluster, task, at);
    nodes.push(
        Node::new(id.clone(), "cluster", to_value(&params))
            .input("barriers", Source::Node(barriers_id)),
    );
    Some(id)
}
