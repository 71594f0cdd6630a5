//! Expansion: a resolved `Manifest` becomes stage instances (`Node`s) with stable, readable ids,
//! canonical params and declared inputs. Pure and in memory: nothing here touches the disk, so
//! expanding a 100-seed study costs microseconds per node.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::manifest::hub::HubRef;
use crate::manifest::sweep::Sweep;
use crate::manifest::{
    Checkpoint, DataSource, EvalSet, FinetuneHyper, Manifest, Model, Origin, PairSpec, ZooFrom,
};
use crate::roles;
use crate::stage::Build;

/// Where a node's input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The outputs of another node, by id.
    Node(String),
    /// A file on disk (hashed by content).
    File(PathBuf),
    /// A directory on disk, such as a Hugging Face model directory (every file hashed).
    Dir(PathBuf),
}

/// One named input of a node. Roles are unique within a node and are what the recipe key and
/// `basins why` talk about ("input `model_a` changed").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub role: String,
    pub source: Source,
}

/// One stage instance.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: String,
    pub params: Value,
    pub inputs: Vec<Input>,
}

impl Node {
    fn new(id: String, kind: &str, params: Value) -> Node {
        Node {
            id,
            kind: kind.into(),
            params,
            inputs: Vec::new(),
        }
    }

    fn input(mut self, role: impl Into<String>, source: Source) -> Node {
        self.inputs.push(Input {
            role: role.into(),
            source,
        });
        self
    }
}

/// Expand a manifest into its nodes, upstream before downstream.
/// `build` is shown on report pages, and so enters their keys.
pub fn expand(m: &Manifest, build: &Build) -> Vec<Node> {
    match &m.sweep {
        Some(s) => expand_sweep(m, s, build),
        None => expand_study(m, build),
    }
}

/// Each sub-study's nodes under its label, then (with a `[report]`) the `sweep` node that
/// compares their reports, as the study's `report`.
fn expand_sweep(m: &Manifest, s: &Sweep, build: &Build) -> Vec<Node> {
    let mut nodes = Vec::new();
    for v in &s.variants {
        for mut n in expand_study(&v.manifest, build) {
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
        let variants: Vec<Value> = s
            .variants
            .iter()
            .map(|v| json!({"label": v.label, "values": v.values}))
            .collect();
        let mut sweep = Node::new(
            "report".into(),
            "sweep",
            json!({"title": r.title, "study": m.study.name, "keys": s.keys, "variants": variants}),
        );
        for v in &s.variants {
            sweep = sweep.input(v.label.clone(), Source::Node(format!("{}/report", v.label)));
        }
        nodes.push(sweep);
    }
    nodes
}

fn expand_study(m: &Manifest, build: &Build) -> Vec<Node> {
    let mut nodes = Vec::new();
    let base = base_model(m, &mut nodes);
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
        expand_task(m, task, base.as_ref(), &mut nodes);
    }
    if let Some(r) = &m.report {
        let mut report = Node::new(
            "report".into(),
            "report",
            json!({"title": r.title, "bootstrap": r.bootstrap, "study": m.study.name,
                   "config": study_config(m), "manifest": manifest_text(m), "build": build}),
        );
        let wanted = [
            "barriers/",
            "cluster/",
            "controls/",
            "diagnostics/",
            "dynamics/",
        ];
        let ups: Vec<String> = nodes
            .iter()
            // The final weights' nodes; a kept step's reach the page through `dynamics/`.
            .filter(|n| wanted.iter().any(|w| n.id.starts_with(w)) && !n.id.contains('@'))
            .map(|n| n.id.clone())
            .collect();
        for id in ups {
            report = report.input(id.clone(), Source::Node(id));
        }
        nodes.push(report);
    }
    nodes
}

/// The manifest's files as the report shows them, the study file first, each named relative to
/// the study file's folder (never by an absolute path, which would tie the key to a checkout).
/// The report's key covers the text: a comment edited reruns the page that shows it, and
/// nothing else.
fn manifest_text(m: &Manifest) -> Value {
    let dir = m
        .sources
        .last()
        .and_then(|s| s.path.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let files: Vec<Value> = m
        .sources
        .iter()
        .rev()
        .map(|s| {
            let name = match s.path.strip_prefix(&dir) {
                Ok(rel) => rel.to_path_buf(),
                Err(_) => s.path.file_name().map(PathBuf::from).unwrap_or_default(),
            };
            json!({"path": name.to_string_lossy(), "text": s.text})
        })
        .collect();
    Value::Array(files)
}

/// The study's settings as the report shows them: canonical (so reordering or commenting the
/// manifest changes nothing) and free of file paths (data enter through input digests).
fn study_config(m: &Manifest) -> Value {
    json!({
        "backend": m.study.backend,
        "precision": m.study.precision,
        "finetune": match &m.finetune.origin {
            Origin::Trained { model, hyper } => json!({"model": model, "tasks": m.finetune.tasks, "seeds": m.finetune.seeds, "hyper": hyper}),
            Origin::Zoo { members, .. } => json!({"zoo": members, "tasks": m.finetune.tasks}),
        },
        "interpolate": m.interpolate.as_ref().map(|i| json!({"pairs": i.pairs, "alphas": i.alphas.0, "eval": i.eval.as_ref().map(|e| e.iter().map(|x| x.name()).collect::<Vec<_>>()), "max_examples": i.max_examples})),
        "cluster": m.cluster,
        "tasks": m.tasks.iter().map(|(k, t)| (k.clone(), json!({"format": t.format, "surface": t.surface, "score": t.score}))).collect::<serde_json::Map<_, _>>(),
        "diagnostics": m.diagnostics.iter().map(|(k, d)| (k.clone(), json!({"task": d.task, "format": d.format, "surface": d.surface, "score": d.score, "strategy": d.strategy}))).collect::<serde_json::Map<_, _>>(),
    })
}

/// The base model a trained study finetunes (a `pretrain` node for a builtin one); none for a zoo.
fn base_model(m: &Manifest, nodes: &mut Vec<Node>) -> Option<Source> {
    let Origin::Trained { model: name, .. } = &m.finetune.origin else {
        return None;
    };
    Some(match &m.models[name] {
        Model::Path(p) => Source::Dir(p.clone()),
        Model::Hub(r) => hub_node(name, r, None, nodes),
        Model::Builtin { config, pretrain } => {
            let id = format!("pretrain/{name}");
            nodes.push(Node::new(
                id.clone(),
                "pretrain",
                json!({"config": config, "pretrain": pretrain}),
            ));
            Source::Node(id)
        }
    })
}

/// A `hub/<name>` node: the repository's files at the resolved commit. Only the repository and
/// the commit enter its key; the revision a manifest names is how that commit was found. An
/// unresolved revision leaves `commit` null: the plan shows it, and the CLI refuses to run.
/// `tokenizer`: where the tokenizer files come from when the repository has none (a zoo's
/// `tokenizer`); only then in the params, so other keys stay as they were.
fn hub_node(name: &str, r: &HubRef, tokenizer: Option<&HubRef>, nodes: &mut Vec<Node>) -> Source {
    let id = format!("hub/{name}");
    let mut params = json!({"repo": r.repo, "commit": r.commit});
    if let Some(t) = tokenizer {
        params["tokenizer"] = json!({"repo": t.repo, "commit": t.commit});
    }
    nodes.push(Node::new(id.clone(), "hub", params));
    Source::Node(id)
}

/// The data a task or diagnostic reads: files, a `generate/<name>` node, or a
/// `download/<data set>` node.
fn data_inputs(
    name: &str,
    format: &Value,
    source: &DataSource,
    nodes: &mut Vec<Node>,
) -> (Option<Source>, Vec<(String, Source)>) {
    match source {
        DataSource::Files { train, eval } => (
            train.clone().map(Source::File),
            eval.iter()
                .map(|(k, p)| (k.clone(), Source::File(p.clone())))
                .collect(),
        ),
        DataSource::Generated(g) => {
            let id = format!("generate/{name}");
            if !nodes.iter().any(|n| n.id == id) {
                nodes.push(Node::new(
                    id.clone(),
                    "generate",
                    json!({"name": name, "format": format, "generate": g}),
                ));
            }
            (
                Some(Source::Node(id.clone())),
                vec![("eval".into(), Source::Node(id))],
            )
        }
        // One node per data set, whichever tasks and diagnostics read it.
        DataSource::Download(d) => {
            let id = format!("download/{}", d.dataset.replace('/', "-"));
            if !nodes.iter().any(|n| n.id == id) {
                nodes.push(Node::new(id.clone(), "download", json!({ "download": d })));
            }
            (
                d.files
                    .contains_key("train.tsv")
                    .then(|| Source::Node(id.clone())),
                vec![(d.eval_split.clone(), Source::Node(id))],
            )
        }
    }
}

/// The eval sets a task's models are scored on, each with where its data comes from.
fn eval_sets(m: &Manifest, task: &str, nodes: &mut Vec<Node>) -> Vec<(EvalSet, Source)> {
    let t = &m.tasks[task];
    let (_, splits) = data_inputs(task, &json!(t.format), &t.source, nodes);
    let mut all: Vec<(EvalSet, Source)> = splits
        .into_iter()
        .map(|(s, src)| {
            (
                EvalSet::Split {
                    task: task.into(),
                    split: s,
                },
                src,
            )
        })
        .collect();
    for (name, d) in m.diagnostics.iter().filter(|(_, d)| d.task == task) {
        let (_, files) = data_inputs(name, &json!(d.format), &d.source, nodes);
        let src = files
            .into_iter()
            .next()
            .map(|f| f.1)
            .expect("a diagnostic has one file");
        all.push((EvalSet::Diagnostic(name.clone()), src));
    }
    all
}

/// The eval sets the loss surface is measured on: `[interpolate].eval`, or every set.
fn surface_sets(m: &Manifest, sets: &[(EvalSet, Source)]) -> Vec<(EvalSet, Source)> {
    match m.interpolate.as_ref().and_then(|i| i.eval.as_ref()) {
        Some(chosen) => sets
            .iter()
            .filter(|(e, _)| chosen.contains(e))
            .cloned()
            .collect(),
        None => sets.to_vec(),
    }
}

/// What a node needs to know about each eval set: its data and its loss-surface selection
/// (`n` defaulting to `[interpolate].max_examples`), and with `score` its primary score (only
/// the diagnostics node reads that, so a changed metric reruns nothing else).
fn eval_params(m: &Manifest, sets: &[(EvalSet, Source)], score: bool) -> Value {
    let default_n = m.interpolate.as_ref().and_then(|i| i.max_examples);
    let surface = |s: &Option<crate::manifest::Surface>| {
        let mut s = s.clone().unwrap_or_default();
        s.n = s.n.or(default_n);
        json!(s)
    };
    sets.iter()
        .map(|(e, _)| {
            let mut v = eval_set_params(m, e, &surface);
            if !score {
                v.as_object_mut().map(|o| o.remove("score"));
            }
            // Only where declared, so that a study without one keeps its keys.
            if let (true, EvalSet::Diagnostic(d)) = (score, e) {
                if let Some(s) = &m.diagnostics[d].strategy {
                    v["strategy"] = json!(s);
                }
            }
            v
        })
        .collect()
}

fn eval_set_params(
    m: &Manifest,
    e: &EvalSet,
    surface: &dyn Fn(&Option<crate::manifest::Surface>) -> Value,
) -> Value {
    match e {
        EvalSet::Split { task, split } => {
            let t = &m.tasks[task];
            json!({"name": e.name(), "split": split, "format": t.format, "labels": t.labels, "fields": t.fields, "on_bad_row": t.on_bad_row, "diagnostic": false, "surface": surface(&t.surface), "score": t.score})
        }
        EvalSet::Diagnostic(d) => {
            let d = &m.diagnostics[d];
            json!({"name": e.name(), "format": d.format, "labels": d.labels, "fields": d.fields, "on_bad_row": d.on_bad_row, "max_examples": d.max_examples, "diagnostic": true, "surface": surface(&d.surface), "score": d.score})
        }
    }
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
fn at_step(m: &Manifest, mut params: Value, at: Checkpoint) -> Value {
    if let (Checkpoint::Step(_), Origin::Trained { .. }) = (at, &m.finetune.origin) {
        params["checkpoint"] = json!(at.dir());
    }
    params
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

fn expand_task(m: &Manifest, task: &str, base: Option<&Source>, nodes: &mut Vec<Node>) {
    let t = &m.tasks[task];
    let sets = eval_sets(m, task, nodes);
    if let (Origin::Trained { hyper, .. }, Some(base)) = (&m.finetune.origin, base) {
        expand_finetune(m, task, base, hyper, nodes);
    }
    let eval_batch = m.interpolate.as_ref().map_or(128, |i| i.batch_size);
    let surface = surface_sets(m, &sets);
    let mut clusters = Vec::new();
    for at in checkpoints(m) {
        // Every set is scored whole; its surface rows are recorded for the barriers. At a kept
        // step only the loss-surface sets are scored: nothing else reads them there.
        let scored = match at {
            Checkpoint::Final => &sets,
            Checkpoint::Step(_) => &surface,
        };
        let params = at_step(
            m,
            json!({"eval_sets": eval_params(m, scored, false), "batch_size": eval_batch, "labels": t.labels}),
            at,
        );
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
        let mut scored = eval_params(m, &sets, true);
        for v in scored.as_array_mut().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or_default();
            v["at_steps"] = json!(surface.iter().any(|(e, _)| e.name() == name));
        }
        let mut params = json!({
            "steps": clusters.iter().map(|(at, _)| at).collect::<Vec<_>>(),
            "seeds": m.finetune.seeds,
            "scored": scored,
            "predict": {"references": PREDICT_REFERENCES, "draws": PREDICT_DRAWS},
        });
        let mut d = Node::new(format!("dynamics/{task}"), "dynamics", Value::Null);
        for (at, id) in &clusters {
            d = d
                .input(roles::cluster_at(at), Source::Node(id.clone()))
                .input(
                    roles::barriers_at(at),
                    Source::Node(format!("barriers/{task}{}", at.suffix())),
                );
        }
        // A clustering always has its set among the loss-surface sets, so this is always
        // there when `clusters` is.
        if let Some(own) = own_paths(m, task, &surface, &clusters, nodes) {
            for (role, id) in own.inputs {
                d = d.input(role, Source::Node(id));
            }
            params["own"] = own.params;
            d.params = params;
            nodes.push(d);
        }
    }
    let cluster = clusters
        .iter()
        .find(|(at, _)| *at == Checkpoint::Final)
        .map(|(_, id)| id.clone());
    let diag: Vec<String> = sets.iter().map(|(e, _)| e.name()).collect();
    let mut d = Node::new(
        format!("diagnostics/{task}"),
        "diagnostics",
        json!({"eval_sets": eval_params(m, &sets, true), "names": diag, "seeds": m.finetune.seeds}),
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
        nodes.push(controls(m, task, &id, c, &surface));
    }
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
) -> Node {
    let set = c
        .eval
        .clone()
        .map(|e| e.name())
        .or_else(|| surface.first().map(|s| s.0.name()));
    let mut n = Node::new(
        format!("controls/{task}"),
        "controls",
        json!({"set": set, "barrier": c.barrier, "method": c.method, "k": c.k, "delta": c.delta,
               "seeds": m.finetune.seeds,
               "bootstrap": m.report.as_ref().map_or(1000, |r| r.bootstrap),
               "permutations": CONTROL_PERMUTATIONS}),
    )
    .input("barriers", Source::Node(format!("barriers/{task}")))
    .input("cluster", Source::Node(cluster.to_owned()))
    .input("diagnostics", Source::Node(format!("diagnostics/{task}")));
    for &seed in &m.finetune.seeds {
        n = n.input(
            roles::endpoint(seed),
            Source::Node(evaluate_id(m, task, seed, Checkpoint::Final)),
        );
    }
    n
}

/// One finetune node per seed, from the base model on the task's training data.
fn expand_finetune(
    m: &Manifest,
    task: &str,
    base: &Source,
    hyper: &FinetuneHyper,
    nodes: &mut Vec<Node>,
) {
    let t = &m.tasks[task];
    let (train, splits) = data_inputs(task, &json!(t.format), &t.source, nodes);
    // In-training evaluation (`eval_every`) reads the task's first eval split.
    let dev = splits.into_iter().next().filter(|_| hyper.eval_every > 0);
    for &seed in &m.finetune.seeds {
        let params = json!({
            "task": task, "format": t.format, "labels": t.labels, "fields": t.fields,
            "on_bad_row": t.on_bad_row, "max_examples": t.max_examples, "seed": seed, "hyper": hyper,
        });
        let mut n =
            Node::new(finetune_id(task, seed), "finetune", params).input("model", base.clone());
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
    params: Value,
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
    let set_name = c
        .eval
        .clone()
        .map(|e| e.name())
        .or_else(|| surface.first().map(|s| s.0.name()))?;
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
        let params = at_step(
            m,
            json!({"alphas": interp.alphas.0, "eval_sets": eval_params(m, &set, false),
                   "batch_size": interp.batch_size, "labels": t.labels, "to_final": true}),
            at,
        );
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
        params: json!({"set": set_name, "alphas": interp.alphas.0, "barrier": c.barrier}),
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
    let evals = eval_params(m, sets, false);
    let eval_batch = interp.batch_size;
    let pairs = pairs(&interp.pairs, &m.finetune.seeds);
    let suffix = at.suffix();
    let barriers_id = format!("barriers/{task}{suffix}");
    let mut barriers = Node::new(
        barriers_id.clone(),
        "barriers",
        json!({"alphas": interp.alphas.0, "pairs": pairs, "seeds": m.finetune.seeds,
               "bootstrap": m.report.as_ref().map_or(1000, |r| r.bootstrap)}),
    );
    for &seed in &m.finetune.seeds {
        barriers = barriers.input(
            roles::endpoint(seed),
            Source::Node(evaluate_id(m, task, seed, at)),
        );
    }
    let name = |s| m.finetune.member_name(s);
    for &(a, b) in &pairs {
        let id = format!("interpolate/{task}/{}~{}{suffix}", name(a), name(b));
        let params = at_step(
            m,
            json!({"alphas": interp.alphas.0, "eval_sets": evals, "batch_size": eval_batch, "labels": t.labels}),
            at,
        );
        let n = Node::new(id.clone(), "interpolate", params)
            .input("model_a", finetuned_at(m, task, a, at))
            .input("model_b", finetuned_at(m, task, b, at));
        nodes.push(with_eval_inputs(n, sets));
        barriers = barriers.input(roles::path(a, b), Source::Node(id));
    }
    nodes.push(barriers);
    let c = m.cluster.as_ref()?;
    let eval = c
        .eval
        .clone()
        .map(|e| e.name())
        .or_else(|| sets.first().map(|s| s.0.name()));
    let mut params = json!({"eval": eval, "barrier": c.barrier, "method": c.method, "k": c.k, "delta": c.delta, "bootstrap": c.bootstrap, "seeds": m.finetune.seeds});
    if let Origin::Zoo { members, .. } = &m.finetune.origin {
        // Shown in the report in place of seed numbers.
        params["names"] = json!(members);
    }
    let id = format!("cluster/{task}{suffix}");
    nodes.push(
        Node::new(id.clone(), "cluster", params).input("barriers", Source::Node(barriers_id)),
    );
    Some(id)
}
