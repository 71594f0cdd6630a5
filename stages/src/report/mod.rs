//! The study report: one self-contained HTML page (inline SVG, no script, no network) and each
//! of its figures as an SVG file beside it. Per task: a verdict made from the numbers, the
//! barrier heatmap with its dendrogram, the loss along the paths within and between basins, the
//! scores by basin with their tests, and agreement with declared strategies; then the study's
//! settings, its manifest and the provenance. Everything shown is also in `report.json` and
//! `clusters.csv`.
//!
//! - [`analysis`]: the statistics (per-basin spread, tests, Holm, strategies)
//! - [`controls`]: the barrier basins beside output-similarity baselines, and their robustness
//! - [`verdict`]: the sentence at the top of each task
//! - [`figures`]: the SVG figures
//! - [`tables`]: the HTML tables
//! - [`settings`]: settings, manifest text and provenance

mod analysis;
mod controls;
mod dynamics;
mod figures;
mod settings;
mod tables;
mod verdict;

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use crate::plot::esc;
pub use analysis::{cluster_tests, strategy_agreement};
pub use figures::Figure;
pub use verdict::verdict;

/// A number to 3 decimals, or a dash.
fn num(v: &Value) -> String {
    v.as_f64().map_or("&ndash;".into(), |x| format!("{x:.3}"))
}

/// A p-value: 3 decimals down to 0.001, then scientific (`2.3e-4`), never "0.000"; a dash
/// when missing.
fn pval(v: &Value) -> String {
    match v.as_f64() {
        Some(p) if p >= 0.001 => format!("{p:.3}"),
        Some(p) if p > 0.0 => format!("{p:.1e}"),
        Some(_) => "&lt; 1e-300".into(),
        None => "&ndash;".into(),
    }
}

/// A number to 4 decimals, or a dash.
fn fine(v: &Value) -> String {
    v.as_f64().map_or("&ndash;".into(), |x| format!("{x:.4}"))
}

/// One file of the study's manifest as it was when the report was made (the study file and
/// what it includes), named relative to the study file's folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestText {
    pub path: String,
    pub text: String,
}

/// The page and the figures it shows, each to be written as its own file.
pub struct Page {
    pub index: String,
    pub figures: Vec<Figure>,
}

/// One task's analysis, as the report stage reads it from its inputs.
pub struct TaskInputs<'a> {
    pub task: &'a str,
    pub barriers: &'a Value,
    pub cluster: &'a Value,
    pub diagnostics: Option<&'a Value>,
    /// `dynamics/<task>`'s document, for a study that maps kept steps.
    pub dynamics: Option<&'a Value>,
    /// `controls/<task>`'s document.
    pub controls: Option<&'a crate::controls::Controls>,
}

impl TaskInputs<'_> {
    pub fn seeds(&self) -> Vec<u64> {
        serde_json::from_value(self.cluster["seeds"].clone()).unwrap_or_default()
    }

    /// How the page names each model, in seed order: a zoo member's name, or the seed.
    pub fn names(&self) -> Vec<String> {
        let names = self.cluster["names"].as_array();
        self.seeds()
            .iter()
            .enumerate()
            .map(|(i, s)| match names.and_then(|n| n[i].as_str()) {
                Some(n) => n.to_owned(),
                None => s.to_string(),
            })
            .collect()
    }

    pub fn assignments(&self) -> Vec<usize> {
        serde_json::from_value(self.cluster["assignments"].clone()).unwrap_or_default()
    }

    /// Each model's place on the paper's centroid-distance coordinate (distance to the first
    /// cluster's k-means centroid minus distance to the second's, in the spectral embedding).
    pub fn coordinate(&self) -> Vec<f64> {
        self.cluster["coordinate"]
            .as_array()
            .map(|e| e.iter().map(|p| p.as_f64().unwrap_or(f64::NAN)).collect())
            .unwrap_or_default()
    }
}

/// The whole page, and its figures.
pub fn html(
    title: &str,
    tasks: &[(TaskInputs, Value, Value)],
    config: &Value,
    manifest: &[ManifestText],
    provenance: &Value,
) -> Page {
    let mut s = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 8px;font-size:13px}}\
         .row{{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}}pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}}\
         figure{{margin:0;max-width:560px}}figcaption{{font-size:12px;color:#444}}.verdict{{font-size:15px}}\
         </style></head><body><h1>{t}</h1>",
        t = esc(title)
    );
    let mut all = Vec::new();
    for (t, tests, agreement) in tasks {
        let k = t.cluster["k"].as_u64().unwrap_or(0) as usize;
        let sizes = &t.cluster["sizes"];
        let _ = write!(
            s,
            "<h2>Task {}</h2><p class=\"verdict\" id=\"verdict-{0}\"><b>{}</b></p><p id=\"summary-{0}\">{k} basin(s) of sizes {sizes} by {} clustering of the {} barrier on {}; silhouette {}; stability (mean adjusted Rand index over {} bootstrap replicates) {}.</p>",
            esc(t.task),
            verdict(t, tests, agreement),
            esc(t.cluster["method"].as_str().unwrap_or("")),
            esc(t.cluster["barrier"].as_str().unwrap_or("")),
            esc(t.cluster["eval"].as_str().unwrap_or("")),
            num(&t.cluster["silhouette"]),
            t.cluster["stability"]["replicates"],
            num(&t.cluster["stability"]["mean_ari"])
        );
        let _ = write!(
            s,
            "<p>Affinity exp(-B&sup2; / 2&delta;&sup2;) with &delta; = {} ({}).</p>",
            num(&t.cluster["delta_used"]),
            esc(&t.cluster["delta"].to_string())
        );
        if t.cluster["affinity"]["nearly_constant"] == json!(true) {
            let _ = write!(
                s,
                "<p class=\"warning\" id=\"nearly-constant-{}\"><b>Warning:</b> with this &delta; every \
                 off-diagonal affinity lies between {} and {}: the partition rests on small \
                 differences and the eigengap says little. A kernel width at the barriers' scale \
                 (<code>delta = \"median\"</code> in <code>[cluster]</code>) separates them.</p>",
                esc(t.task),
                fine(&t.cluster["affinity"]["min"]),
                fine(&t.cluster["affinity"]["max"])
            );
        }
        let top = [figures::heatmap(t), figures::paths(t)];
        s.push_str(&figure_row(&top));
        let _ = write!(
            s,
            "<h3>Diagnostics by basin</h3>{}{}{}",
            tables::scores(tests, k),
            tables::id_comparison(tests),
            tables::strategies(agreement, t)
        );
        if let Some(c) = t.controls {
            s.push_str(&controls::section(t, c));
        }
        let per_score = figures::scores(t, tests);
        for pair in per_score.chunks(2) {
            s.push_str(&figure_row(pair));
        }
        all.extend(top);
        all.extend(per_score);
        if let Some(d) = t.dynamics {
            let (section, figures) = dynamics::section(t.task, d, &t.names());
            s.push_str(&section);
            s.push_str(&figure_row(&figures));
            all.extend(figures);
        }
    }
    let _ = write!(
        s,
        "<h2>Study settings</h2>{}<details><summary>the settings as JSON</summary><pre>{}</pre></details>{}\
         <h2>Provenance</h2>{}</body></html>",
        settings::table(config),
        esc(&serde_json::to_string_pretty(config).unwrap_or_default()),
        settings::manifest(manifest),
        settings::provenance(provenance)
    );
    Page {
        index: s,
        figures: all,
    }
}

/// Figures side by side, each with its caption and a link to its own SVG file.
fn figure_row(figures: &[Figure]) -> String {
    let mut s = String::from("<div class=\"row\">");
    for f in figures {
        let _ = write!(
            s,
            "<figure>{}<figcaption>{} <a href=\"{}\" download>SVG</a></figcaption></figure>",
            f.svg,
            esc(&f.caption),
            esc(&f.file)
        );
    }
    s.push_str("</div>");
    s
}
