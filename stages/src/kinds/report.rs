//! `report`: the study's HTML page, `report.json` and CSV files, from the barriers, cluster
//! and diagnostics nodes of every task.

use std::collections::BTreeMap;
use std::path::PathBuf;

use basins_engine::{StageContext, StageInput, StageKind};
use basins_study::params::ReportParams;
use basins_study::roles::{self, TaskNode};
use serde_json::{json, Value};

use super::params;
use crate::controls::Controls;
use crate::documents::{
    self, AlignedDoc, BarriersDoc, BlocksDoc, ClusterDoc, DiagnosticsDoc, DynamicsDoc, SoupsDoc,
};
use crate::report::{
    cluster_tests, expect, html, strategy_agreement, Provenance, ReportDoc, TaskInputs, TaskSummary,
};

pub struct ReportKind;

impl StageKind for ReportKind {
    fn name(&self) -> &'static str {
        "report"
    }
    fn version(&self) -> u32 {
        // 3: centroid-distance coordinate, Holm-corrected p-values, NaN scores excluded with a
        // note, rows per set, full blake3 digests in the provenance.
        // 4: clusters.csv written by the csv crate (quoting; missing numbers as empty fields).
        // 5: basins against declared strategies (contingency table, adjusted Rand index).
        // 6: a verdict per task; no index where one strategy or one basin leaves nothing to
        // agree on; the settings as a table.
        // 7: figures with axes, ticks, legends, a dendrogram and a colour bar, each also saved
        // under figures/; strip plots per basin; the manifest's text; the build in provenance.
        // 8: the training-dynamics section (with `dynamics/<task>` inputs).
        // 9: the barrier to the own final weights in that section and in report.json.
        // 10: predictions by nearest reference runs with their forward passes, and each set's
        // correlation with the spectral coordinate per checkpoint (section and report.json).
        // 11: the controls section (output-similarity baselines, robustness, ARI inference;
        // with `controls/<task>` inputs), Spearman beside Pearson, rows shared by score and
        // surface, p-values never printed as 0.000.
        // 12: a newcomer's page (issue 38): how to read it, a row per model, the path figure as
        // loss above the chord per basin, the bands' legend, units, cautions for singleton
        // basins and low silhouette or stability, no "differs" below a score's resolution.
        // 13: the basin soups section (with `soups/<task>` inputs) and `soups` in report.json.
        13
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: ReportParams = params(ctx)?;
        // Each task's documents, by what they are: the inputs are the final analysis nodes of
        // every task, each under its id as its role.
        let mut docs: BTreeMap<(TaskNode, String), (&String, &PathBuf)> = BTreeMap::new();
        let mut inputs = BTreeMap::new();
        for (role, input) in ctx.inputs {
            let StageInput::Node {
                node,
                files,
                digests,
                ..
            } = input
            else {
                continue;
            };
            let digests: BTreeMap<String, String> = (digests.iter())
                .map(|(name, d)| (name.clone(), d.to_hex()))
                .collect();
            inputs.insert(node.clone(), digests);
            let (what, task) = roles::parse_task_node(role).ok_or_else(|| {
                anyhow::anyhow!(
                    "input `{role}` is not a task's analysis node (`cluster/<task>`, ...)"
                )
            })?;
            let path = files
                .get(what.document())
                .ok_or_else(|| anyhow::anyhow!("`{node}` has no {}", what.document()))?;
            docs.insert((what, task.to_owned()), (node, path));
        }
        let provenance = Provenance {
            basins: p.build.version.clone(),
            commit: p.build.commit.clone(),
            inputs,
            study: p.study.clone(),
        };
        let tasks: Vec<String> = docs
            .keys()
            .filter(|(what, _)| *what == TaskNode::Cluster)
            .map(|(_, task)| task.clone())
            .collect();
        let mut pages = Vec::new();
        // Written with the csv crate: names and values are quoted where they need it.
        let mut csv = csv::Writer::from_writer(Vec::new());
        // Each read once, as its type.
        let mut controls: BTreeMap<&String, Controls> = BTreeMap::new();
        let mut barrier_docs: BTreeMap<&String, BarriersDoc> = BTreeMap::new();
        let mut cluster_docs: BTreeMap<&String, ClusterDoc> = BTreeMap::new();
        let mut diagnostics_docs: BTreeMap<&String, DiagnosticsDoc> = BTreeMap::new();
        let mut dynamics_docs: BTreeMap<&String, DynamicsDoc> = BTreeMap::new();
        let mut soups_docs: BTreeMap<&String, SoupsDoc> = BTreeMap::new();
        let mut blocks_docs: BTreeMap<&String, BlocksDoc> = BTreeMap::new();
        let mut aligned_docs: BTreeMap<&String, AlignedDoc> = BTreeMap::new();
        let mut reproductions: BTreeMap<&String, expect::Reproduction> = BTreeMap::new();
        for task in &tasks {
            if let Some(c) = doc(&docs, TaskNode::Controls, task)? {
                controls.insert(task, c);
            }
            if let Some(b) = doc(&docs, TaskNode::Barriers, task)? {
                barrier_docs.insert(task, b);
            }
            let c = doc(&docs, TaskNode::Cluster, task)?
                .ok_or_else(|| anyhow::anyhow!("the report has no clustering of `{task}`"))?;
            // Against the published clusters, once (its p-value permutes the models).
            if let Some(e) = &p.expect {
                reproductions.insert(task, expect::compare(&c, e));
            }
            cluster_docs.insert(task, c);
            if let Some(d) = doc(&docs, TaskNode::Diagnostics, task)? {
                diagnostics_docs.insert(task, d);
            }
            if let Some(d) = doc(&docs, TaskNode::Dynamics, task)? {
                dynamics_docs.insert(task, d);
            }
            if let Some(d) = doc(&docs, TaskNode::Soups, task)? {
                soups_docs.insert(task, d);
            }
            if let Some(d) = doc(&docs, TaskNode::Blocks, task)? {
                blocks_docs.insert(task, d);
            }
            if let Some(d) = doc(&docs, TaskNode::Aligned, task)? {
                aligned_docs.insert(task, d);
            }
        }
        let sets: Vec<String> = tasks
            .iter()
            .flat_map(|t| {
                diagnostics_docs
                    .get(t)
                    .into_iter()
                    .flat_map(|d| d.sets.keys().cloned())
                    .collect::<Vec<_>>()
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let header = [
            "task",
            "seed",
            "model",
            "cluster",
            "coordinate",
            "embedding_1",
            "embedding_2",
        ];
        csv.write_record(
            header
                .iter()
                .copied()
                .chain(sets.iter().map(String::as_str)),
        )?;
        for task in &tasks {
            let barriers = barrier_docs.get(task);
            let cluster = &cluster_docs[task];
            let diagnostics = diagnostics_docs.get(task);
            let dynamics = dynamics_docs.get(task);
            let controls = controls.get(task);
            let inputs = TaskInputs {
                task,
                barriers,
                cluster,
                diagnostics,
                dynamics,
                controls,
                soups: soups_docs.get(task),
                blocks: blocks_docs.get(task),
                aligned: aligned_docs.get(task),
                expect: reproductions.get(task),
            };
            let tests = cluster_tests(&inputs);
            let agreement = strategy_agreement(&inputs);
            let names = inputs.names();
            let coordinate = inputs.coordinate();
            // A missing number is an empty field, never "null" or "NaN".
            let number = |x: Option<f64>| {
                x.filter(|x| x.is_finite())
                    .map_or(String::new(), |x| x.to_string())
            };
            for (i, (s, model)) in cluster.seeds.iter().zip(&names).enumerate() {
                let e = cluster.embedding.get(i);
                let field = |set: &String| {
                    number(
                        tests
                            .get(set)
                            .and_then(|r| r.scores.get(i).copied().flatten()),
                    )
                };
                let mut row = vec![
                    task.clone(),
                    s.to_string(),
                    model.clone(),
                    cluster
                        .assignments
                        .get(i)
                        .map_or(String::new(), |a| a.to_string()),
                    number(coordinate.get(i).copied()),
                    number(e.map(|e| e[0])),
                    number(e.map(|e| e[1])),
                ];
                row.extend(sets.iter().map(field));
                csv.write_record(&row)?;
            }
            pages.push((inputs, tests, agreement));
        }
        let config = serde_json::to_value(&p.config)?;
        let page = html(&p.title, &pages, &config, &p.manifest, &provenance);
        let summary = ReportDoc {
            config: p.config.clone(),
            provenance,
            tasks: (pages.iter())
                .map(|(t, tests, agreement)| {
                    (t.task.to_owned(), TaskSummary::new(t, tests, agreement))
                })
                .collect(),
            title: p.title.clone(),
        };
        std::fs::create_dir_all(ctx.out_dir.join("figures"))?;
        for f in &page.figures {
            std::fs::write(ctx.out_dir.join(&f.file), &f.svg)?;
        }
        std::fs::write(ctx.out_dir.join("index.html"), page.index)?;
        std::fs::write(ctx.out_dir.join("clusters.csv"), csv.into_inner()?)?;
        std::fs::write(
            ctx.out_dir.join("report.json"),
            documents::to_bytes(&summary)?,
        )?;
        Ok(json!({"tasks": tasks.len()}))
    }
}

/// Task `task`'s document from its `what` node as its type, if the report has that node.
fn doc<T: serde::de::DeserializeOwned>(
    docs: &BTreeMap<(TaskNode, String), (&String, &PathBuf)>,
    what: TaskNode,
    task: &str,
) -> anyhow::Result<Option<T>> {
    docs.get(&(what, task.to_owned()))
        .map(|(node, path)| {
            documents::read(path).map_err(|e| anyhow::anyhow!("{e} (output of `{node}`)"))
        })
        .transpose()
}
