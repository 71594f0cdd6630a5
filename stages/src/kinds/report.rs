//! `report`: the study's HTML page, `report.json` and CSV files, from the barriers, cluster
//! and diagnostics nodes of every task.

use std::collections::BTreeMap;

use basins_engine::stage::Build;
use basins_engine::{StageContext, StageInput, StageKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::params;
use crate::controls::Controls;
use crate::report::{cluster_tests, html, strategy_agreement, ManifestText, TaskInputs};

pub struct ReportKind;

#[derive(Deserialize)]
struct ReportParams {
    title: String,
    study: String,
    config: Value,
    manifest: Vec<ManifestText>,
    build: Build,
}

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
        12
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
        let provenance = json!({"basins": p.build.version, "commit": p.build.commit,
            "study": p.study, "inputs": provenance});
        let tasks: Vec<String> = docs
            .keys()
            .filter_map(|k| k.strip_prefix("cluster/")?.strip_suffix("/cluster.json"))
            .map(str::to_owned)
            .collect();
        let mut pages = Vec::new();
        let mut summary = serde_json::Map::new();
        // Written with the csv crate: names and values are quoted where they need it.
        let mut csv = csv::Writer::from_writer(Vec::new());
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
        let empty = Value::Null;
        // The typed controls documents, read before the pages borrow them.
        let mut controls: BTreeMap<&String, Controls> = BTreeMap::new();
        for task in &tasks {
            if let Some(v) = docs.get(&format!("controls/{task}/controls.json")) {
                let c = serde_json::from_value(v.clone())
                    .map_err(|e| anyhow::anyhow!("controls/{task}/controls.json: {e}"))?;
                controls.insert(task, c);
            }
        }
        for task in &tasks {
            let barriers = docs
                .get(&format!("barriers/{task}/barriers.json"))
                .unwrap_or(&empty);
            let cluster = &docs[&format!("cluster/{task}/cluster.json")];
            let diagnostics = docs.get(&format!("diagnostics/{task}/diagnostics.json"));
            let dynamics = docs.get(&format!("dynamics/{task}/dynamics.json"));
            let controls = controls.get(task);
            let inputs = TaskInputs {
                task,
                barriers,
                cluster,
                diagnostics,
                dynamics,
                controls,
            };
            let tests = cluster_tests(&inputs);
            let agreement = strategy_agreement(&inputs);
            let seeds: Vec<u64> = serde_json::from_value(cluster["seeds"].clone())?;
            let names = inputs.names();
            let coordinate = inputs.coordinate();
            for (i, (s, model)) in seeds.iter().zip(&names).enumerate() {
                let e = &cluster["embedding"][i];
                // A missing number is an empty field, never "null" or "NaN".
                let field = |v: &Value| v.as_f64().map_or(String::new(), |x| x.to_string());
                let mut row = vec![
                    task.clone(),
                    s.to_string(),
                    model.clone(),
                    cluster["assignments"][i].to_string(),
                    coordinate
                        .get(i)
                        .filter(|c| c.is_finite())
                        .map_or(String::new(), |c| c.to_string()),
                    field(&e[0]),
                    field(&e[1]),
                ];
                row.extend(sets.iter().map(|set| field(&tests[set]["scores"][i])));
                csv.write_record(&row)?;
            }
            let mut task_summary = json!({"k": cluster["k"], "sizes": cluster["sizes"], "silhouette": cluster["silhouette"], "stability": cluster["stability"]["mean_ari"], "tests": tests, "strategies": agreement});
            if let Some(c) = controls {
                task_summary["controls"] = serde_json::to_value(c)?;
            }
            // Only where steps were mapped, so that other studies' report.json is unchanged.
            if let Some(d) = dynamics {
                task_summary["dynamics"] = d["dynamics"].clone();
                if !d["own_final"].is_null() {
                    task_summary["dynamics_own_final"] = d["own_final"].clone();
                }
                task_summary["dynamics_prediction"] = json!({
                    "steps": d["prediction"],
                    "predicted_from_centroid": d["predicted_from_centroid"],
                });
                task_summary["dynamics_correlations"] = d["correlations"].clone();
            }
            summary.insert(task.clone(), task_summary);
            pages.push((inputs, tests, agreement));
        }
        let page = html(&p.title, &pages, &p.config, &p.manifest, &provenance);
        std::fs::create_dir_all(ctx.out_dir.join("figures"))?;
        for f in &page.figures {
            std::fs::write(ctx.out_dir.join(&f.file), &f.svg)?;
        }
        std::fs::write(ctx.out_dir.join("index.html"), page.index)?;
        std::fs::write(ctx.out_dir.join("clusters.csv"), csv.into_inner()?)?;
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
