//! `report`: the study's HTML page, `report.json` and CSV files, from the barriers, cluster
//! and diagnostics nodes of every task.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use basins_engine::{StageContext, StageInput, StageKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::params;
use crate::report::{cluster_tests, html, TaskInputs};

pub struct ReportKind;

#[derive(Deserialize)]
struct ReportParams {
    title: String,
    study: String,
    config: Value,
}

impl StageKind for ReportKind {
    fn name(&self) -> &'static str {
        "report"
    }
    fn version(&self) -> u32 {
        // 3: centroid-distance coordinate, Holm-corrected p-values, NaN scores excluded with a
        // note, rows per set, full blake3 digests in the provenance.
        3
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: ReportParams = params(ctx)?;
        let mut docs: BTreeMap<String, Value> = BTreeMap::new();
        let mut provenance = serde_json::Map::new();
        for (role, input) in ctx.inputs {
            let StageInput::Node { node, files, .. } = input else {
                continue;
            };
            let digests: BTreeMap<&String, String> = files
                .iter()
                .map(|(name, path)| (name, object_digest(path)))
                .collect();
            provenance.insert(node.clone(), json!(digests));
            for (name, path) in files {
                if name.ends_with(".json") {
                    docs.insert(
                        format!("{role}/{name}"),
                        serde_json::from_slice(&std::fs::read(path)?)?,
                    );
                }
            }
        }
        let provenance =
            json!({"basins": env!("CARGO_PKG_VERSION"), "study": p.study, "inputs": provenance});
        let tasks: Vec<String> = docs
            .keys()
            .filter_map(|k| k.strip_prefix("cluster/")?.strip_suffix("/cluster.json"))
            .map(str::to_owned)
            .collect();
        let mut pages = Vec::new();
        let mut summary = serde_json::Map::new();
        let mut csv = String::from("task,seed,model,cluster,coordinate,embedding_1,embedding_2");
        let sets: Vec<String> = tasks
            .iter()
            .flat_map(|t| {
                docs.get(&format!("diagnostics/{t}/diagnostics.json"))
                    .and_then(|d| d["sets"].as_object())
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
                    .collect::<Vec<_>>()
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for s in &sets {
            let _ = write!(csv, ",{s}");
        }
        csv.push('\n');
        let empty = Value::Null;
        for task in &tasks {
            let barriers = docs
                .get(&format!("barriers/{task}/barriers.json"))
                .unwrap_or(&empty);
            let cluster = &docs[&format!("cluster/{task}/cluster.json")];
            let diagnostics = docs.get(&format!("diagnostics/{task}/diagnostics.json"));
            let inputs = TaskInputs {
                task,
                barriers,
                cluster,
                diagnostics,
            };
            let tests = cluster_tests(&inputs);
            let seeds: Vec<u64> = serde_json::from_value(cluster["seeds"].clone())?;
            let names = inputs.names();
            for (i, (s, model)) in seeds.iter().zip(&names).enumerate() {
                let e = &cluster["embedding"][i];
                let _ = write!(
                    csv,
                    "{task},{s},{model},{},{},{},{}",
                    cluster["assignments"][i],
                    inputs.coordinate().get(i).copied().unwrap_or(f64::NAN),
                    e[0],
                    e[1]
                );
                for set in &sets {
                    let _ = write!(csv, ",{}", tests[set]["scores"][i]);
                }
                csv.push('\n');
            }
            summary.insert(task.clone(), json!({"k": cluster["k"], "sizes": cluster["sizes"], "silhouette": cluster["silhouette"], "stability": cluster["stability"]["mean_ari"], "tests": tests}));
            pages.push((inputs, tests));
        }
        std::fs::write(
            ctx.out_dir.join("index.html"),
            html(&p.title, &pages, &p.config, &provenance),
        )?;
        std::fs::write(ctx.out_dir.join("clusters.csv"), csv)?;
        std::fs::write(
            ctx.out_dir.join("report.json"),
            serde_json::to_vec_pretty(
                &json!({"title": p.title, "tasks": summary, "config": p.config, "provenance": provenance}),
            )?,
        )?;
        Ok(json!({"tasks": tasks.len()}))
    }
}

/// The full blake3 digest of a cached object, from its path in the store
/// (`objects/<first two hex digits>/<the rest>`).
fn object_digest(path: &std::path::Path) -> String {
    let name = |p: Option<&std::path::Path>| {
        p.and_then(|p| p.file_name())
            .map_or(String::new(), |f| f.to_string_lossy().into_owned())
    };
    format!("{}{}", name(path.parent()), name(Some(path)))
}
