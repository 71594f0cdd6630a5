//! The data nodes a task or diagnostic reads, and the eval sets its models are scored and
//! interpolated on, as the model and analysis nodes' params describe them.

use basins_engine::node::{Node, Source};

use crate::manifest::{DataSource, EvalSet, Manifest, SetData};
use crate::params::{
    to_value, DownloadParams, EvalSetParams, GenerateParams, HubDataParams, ScoredSetParams,
    SetOrigin,
};

/// The data a task or diagnostic reads: files, a `generate/<name>` node, or a
/// `download/<data set>` node.
pub(super) fn data_inputs(
    name: &str,
    data: &SetData,
    nodes: &mut Vec<Node>,
) -> (Option<Source>, Vec<(String, Source)>) {
    let format = data.format;
    match &data.source {
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
                    to_value(&GenerateParams {
                        name: name.to_owned(),
                        format,
                        generate: g.clone(),
                    }),
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
                let params = DownloadParams {
                    download: d.clone(),
                };
                nodes.push(Node::new(id.clone(), "download", to_value(&params)));
            }
            (
                d.files
                    .contains_key("train.tsv")
                    .then(|| Source::Node(id.clone())),
                vec![(d.eval_split.clone(), Source::Node(id))],
            )
        }
        // One node per split, whichever sets read it (a task's eval split may also be
        // another's diagnostic), unless they read it differently (other labels or columns).
        DataSource::Hub(h) => {
            let mut node_of = |split: &str| {
                let params = to_value(&HubDataParams {
                    data: h.split(split, &data.labels),
                });
                // (`@` is left to kept steps, `@step=<n>`, in node ids.)
                let mut id = h.node_id(split);
                if nodes.iter().any(|n| n.id == id && n.params != params) {
                    id = format!("{id}/{name}");
                }
                if !nodes.iter().any(|n| n.id == id) {
                    nodes.push(Node::new(id.clone(), "hub_data", params));
                }
                Source::Node(id)
            };
            let train = h.train.as_deref().map(&mut node_of);
            let eval = h
                .eval
                .iter()
                .map(|(set, split)| (set.clone(), node_of(split)))
                .collect();
            (train, eval)
        }
    }
}

/// The eval sets a task's models are scored on, each with where its data comes from.
pub(super) fn eval_sets(m: &Manifest, task: &str, nodes: &mut Vec<Node>) -> Vec<(EvalSet, Source)> {
    let t = &m.tasks[task];
    let (_, splits) = data_inputs(task, &t.data, nodes);
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
        let (_, files) = data_inputs(name, &d.data, nodes);
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
pub(super) fn surface_sets(m: &Manifest, sets: &[(EvalSet, Source)]) -> Vec<(EvalSet, Source)> {
    match m.interpolate.as_ref().and_then(|i| i.eval.as_ref()) {
        Some(chosen) => sets
            .iter()
            .filter(|(e, _)| chosen.contains(e))
            .cloned()
            .collect(),
        None => sets.to_vec(),
    }
}

/// What a model node needs to know about each eval set: its data and its loss-surface
/// selection (`n` defaulting to `[interpolate].max_examples`).
pub(super) fn eval_params(m: &Manifest, sets: &[(EvalSet, Source)]) -> Vec<EvalSetParams> {
    sets.iter().map(|(e, _)| eval_set_params(m, e)).collect()
}

/// [`eval_params`] with each set's primary score (only the nodes that score read it, so a
/// changed metric reruns nothing else) and, where declared, a diagnostic's strategy.
pub(super) fn scored_params(m: &Manifest, sets: &[(EvalSet, Source)]) -> Vec<ScoredSetParams> {
    sets.iter()
        .map(|(e, _)| {
            let (score, strategy) = match e {
                EvalSet::Split { task, .. } => (m.tasks[task].data.score.clone(), None),
                EvalSet::Diagnostic(d) => {
                    let d = &m.diagnostics[d];
                    (d.data.score.clone(), d.strategy.clone())
                }
            };
            ScoredSetParams {
                set: eval_set_params(m, e),
                score,
                strategy,
            }
        })
        .collect()
}

pub(super) fn eval_set_params(m: &Manifest, e: &EvalSet) -> EvalSetParams {
    let (data, origin) = match e {
        EvalSet::Split { task, split } => (&m.tasks[task].data, SetOrigin::Split(split.clone())),
        EvalSet::Diagnostic(d) => {
            let data = &m.diagnostics[d].data;
            let max_examples = data.max_examples;
            (data, SetOrigin::Diagnostic { max_examples })
        }
    };
    let mut surface = data.surface.clone().unwrap_or_default();
    surface.n = surface
        .n
        .or(m.interpolate.as_ref().and_then(|i| i.max_examples));
    EvalSetParams {
        name: e.name(),
        origin,
        data: data.into(),
        surface,
    }
}
