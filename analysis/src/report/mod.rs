//! The study report: one self-contained HTML page (inline SVG, no script, no network) and each
//! of its figures as an SVG file beside it. Per task: a verdict made from the numbers, the
//! barrier heatmap with its dendrogram, the loss along the paths within and between basins, the
//! scores by basin with their tests, and agreement with declared strategies; then the study's
//! settings, its manifest and the provenance. Everything shown is also in `report.json` and
//! `clusters.csv`.
//!
//! - [`analysis`]: the statistics (per-basin spread, tests, Holm, strategies), one type per
//!   row
//! - [`document`]: the page's numbers as `report.json`
//! - [`controls`]: the barrier basins beside output-similarity baselines, and their robustness
//! - [`dynamics`]: when the basins formed, for a study with kept steps
//! - [`estimates`]: which barriers are adaptive estimates, and whether the partition holds
//!   within their intervals
//! - [`expect`]: whether the basins are the clusters a paper published for the same models
//! - [`soups`]: the basin soups beside their members, the ensembles and the controls
//! - [`blocks`]: where the barrier is: per-block barriers, and barriers after alignment
//! - [`verdict`]: the sentence at the top of each task
//! - [`figures`]: the SVG figures
//! - [`tables`]: the HTML tables
//! - [`models`]: one row per model, and the models that break their basin's pattern
//! - [`settings`]: settings, manifest text and provenance

mod analysis;
mod blocks;
mod controls;
mod document;
mod dynamics;
mod estimates;
pub mod expect;
mod figures;
mod models;
mod settings;
mod soups;
mod tables;
mod verdict;

use std::fmt::Write as _;

use basins_study::manifest::{ClusterDelta, ClusterMethod};
use serde_json::Value;

use crate::documents::{BarriersDoc, ClusterDoc, DiagnosticsDoc, SetBarriers};

pub use crate::plot::esc;
pub use analysis::{
    cluster_tests, strategy_agreement, Agreement, Agreements, Comparison, Contingency, Counts,
    ScoreRow, ScoreTable,
};
pub use document::{DynamicsPrediction, ReportDoc, TaskSummary};
pub use figures::Figure;
pub use settings::Provenance;
pub use verdict::verdict;

/// A p-value: 3 decimals down to 0.001, then scientific (`2.3e-4`), never "0.000"; a dash
/// when it is missing or not a number.
fn pval_of(p: Option<f64>) -> String {
    match p.filter(|p| !p.is_nan()) {
        Some(p) => esc(&p_text(p)),
        None => "&ndash;".into(),
    }
}

/// [`pval_of`] as plain text (for SVG text, which is escaped where it is written).
pub(crate) fn p_text(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else if p > 0.0 {
        format!("{p:.1e}")
    } else {
        "< 1e-300".into()
    }
}

/// The unit a barrier definition is measured in: the loss's (nats: cross-entropy with the
/// natural log) or accuracy's (a share of rows).
pub(crate) fn barrier_unit(kind: &str) -> &'static str {
    if kind == "accuracy" {
        "accuracy"
    } else {
        "nats"
    }
}

/// The short block at the top of the page that says what each part of it shows.
fn how_to_read() -> &'static str {
    "<div id=\"how-to-read\" class=\"how\"><h2>How to read this page</h2><ul>\
     <li>Each <b>model</b> is one finetuning run (a seed, or a member of a zoo). For every pair \
     of models the loss is evaluated along the straight line between their weights; the \
     <b>barrier</b> is how far that loss rises above the straight line (the chord) between the \
     two ends' losses (for the paper's convexity barrier: between any two points of the path), \
     in <b>nats</b> (cross-entropy with the natural log). Models joined by low \
     barriers form a <b>basin</b>; basins are numbered 0, 1, ... by the clustering.</li>\
     <li>The <b>heatmap</b> shows every pair's barrier; the <b>path figure</b> each path's loss \
     above what the barrier is measured from (its convex hull for the convexity barrier, the \
     chord between its ends for the endpoint barrier), within each basin and between basins: \
     each path's peak is its barrier.</li>\
     <li><b>Each model</b> lists every model with its basin, its scores and its strategy; \
     <b>Diagnostics by basin</b> tests whether the basins score differently; <b>Is it the \
     geometry, or the outputs?</b> clusters the same models by their predictions alone, the \
     baseline any finding about basins has to beat. With published clusters for the same \
     models (<code>[report] expect</code>), <b>The published clusters</b> says whether the \
     basins are those.</li>\
     <li>The <b>spectral coordinate</b> places each model between the basins (distance to \
     basin 0's centre minus distance to basin 1's in the spectral embedding: negative on basin \
     0's side).</li>\
     <li>Every number is also in <a href=\"report.json\">report.json</a>, one row per model in \
     <a href=\"clusters.csv\">clusters.csv</a>, and each figure in <code>figures/</code>.</li>\
     </ul></div>"
}

/// How the page names a clustering method.
fn method_name(m: ClusterMethod) -> &'static str {
    match m {
        ClusterMethod::Spectral => "spectral",
        ClusterMethod::Hierarchical => "hierarchical",
    }
}

/// A number to 3 decimals: a dash when it is missing or not finite.
fn num_of(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite())
        .map_or("&ndash;".into(), |x| format!("{x:.3}"))
}

/// A number to 4 decimals: a dash when it is not finite.
fn fine_of(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "&ndash;".into()
    }
}

pub use basins_study::params::ManifestText;

/// The page and the figures it shows, each to be written as its own file.
pub struct Page {
    pub index: String,
    pub figures: Vec<Figure>,
}

/// One task's analysis, as the report stage reads it from its inputs.
pub struct TaskInputs<'a> {
    pub task: &'a str,
    /// `barriers/<task>`'s document (a study may cluster without one on the page's side only in
    /// tests: the report's inputs always carry it).
    pub barriers: Option<&'a BarriersDoc>,
    pub cluster: &'a ClusterDoc,
    pub diagnostics: Option<&'a DiagnosticsDoc>,
    /// `dynamics/<task>`'s document, for a study that maps kept steps.
    pub dynamics: Option<&'a crate::documents::DynamicsDoc>,
    /// `controls/<task>`'s document.
    pub controls: Option<&'a crate::controls::Controls>,
    /// `soups/<task>`'s document, for a study with `[merge]`.
    pub soups: Option<&'a crate::documents::SoupsDoc>,
    /// `blocks/<task>`'s document, for a study with `[interpolate] blocks`.
    pub blocks: Option<&'a crate::documents::BlocksDoc>,
    /// `aligned/<task>`'s document, for a study with `[interpolate] align`.
    pub aligned: Option<&'a crate::documents::AlignedDoc>,
    /// With `[report] expect`: the basins against the published clusters (`expect::compare`).
    pub expect: Option<&'a expect::Reproduction>,
}

impl TaskInputs<'_> {
    pub fn seeds(&self) -> Vec<u64> {
        self.cluster.seeds.clone()
    }

    /// How the page names each model, in seed order: a zoo member's name, or the seed.
    pub fn names(&self) -> Vec<String> {
        self.cluster.model_names()
    }

    pub fn assignments(&self) -> Vec<usize> {
        self.cluster.assignments.clone()
    }

    /// Each model's place on the spectral coordinate (the paper's centroid distance: distance to
    /// the first cluster's k-means centroid minus distance to the second's, in the spectral
    /// embedding); the page calls it by that one name.
    pub fn coordinate(&self) -> Vec<f64> {
        self.cluster.coordinate.clone()
    }

    /// The barriers on the clustering's eval set, when the report has them.
    pub fn clustered_set(&self) -> Option<&SetBarriers> {
        self.barriers?.sets.get(&self.cluster.eval)
    }

    /// The barrier definition the clustering used (`convexity`, ...).
    pub fn barrier(&self) -> &'static str {
        self.cluster.barrier.name()
    }
}

/// The whole page, and its figures.
pub fn html(
    title: &str,
    tasks: &[(TaskInputs, ScoreTable, Agreements)],
    config: &Value,
    manifest: &[ManifestText],
    provenance: &Provenance,
) -> Page {
    let mut s = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 8px;font-size:13px}}\
         .row{{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}}pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}}\
         figure{{margin:0;max-width:560px}}figcaption{{font-size:12px;color:#444}}.verdict{{font-size:15px}}\
         .how{{background:#f4f7fb;border:1px solid #d5dde8;padding:0 1em;font-size:14px}}.how h2{{font-size:16px}}\
         .warning{{color:#8a4b00}}\
         </style></head><body><h1>{t}</h1>{how}",
        t = esc(title),
        how = how_to_read()
    );
    let mut all = Vec::new();
    for (t, tests, agreement) in tasks {
        let k = t.cluster.k;
        let sizes: Vec<String> = t.cluster.sizes.iter().map(|n| n.to_string()).collect();
        let barrier = t.barrier();
        let _ = write!(
            s,
            "<h2>Task {}</h2><p class=\"verdict\" id=\"verdict-{0}\"><b>{}</b></p><p id=\"summary-{0}\">{k} basin(s) of {} models by {} clustering of the {} barrier ({}) on the loss-surface rows of {}; silhouette {}; stability (mean adjusted Rand index over {} bootstrap replicates) {}.</p>",
            esc(t.task),
            verdict(t, tests, agreement),
            sizes.join(" and "),
            method_name(t.cluster.method),
            esc(barrier),
            barrier_unit(barrier),
            esc(&t.cluster.eval),
            num_of(t.cluster.silhouette),
            t.cluster.stability.replicates,
            num_of(t.cluster.stability.mean_ari)
        );
        let width = match &t.cluster.delta {
            ClusterDelta::Median(_) => {
                "<code>delta = \"median\"</code>, from the barriers".to_owned()
            }
            ClusterDelta::Fixed(_) => "<code>delta</code> as set in [cluster]".to_owned(),
        };
        let _ = write!(
            s,
            "<p>Affinity exp(-B&sup2; / 2&delta;&sup2;) with &delta; = {} {} ({width}).</p>",
            num_of(Some(t.cluster.delta_used)),
            barrier_unit(barrier)
        );
        if t.cluster.affinity.nearly_constant {
            let _ = write!(
                s,
                "<p class=\"warning\" id=\"nearly-constant-{}\"><b>Warning:</b> with this &delta; every \
                 off-diagonal affinity lies between {} and {}: the partition rests on small \
                 differences and the eigengap says little. A kernel width at the barriers' scale \
                 (<code>delta = \"median\"</code> in <code>[cluster]</code>) separates them.</p>",
                esc(t.task),
                fine_of(t.cluster.affinity.min),
                fine_of(t.cluster.affinity.max)
            );
        }
        let top = [figures::heatmap(t), figures::paths(t)];
        s.push_str(&figure_row(&top));
        if let Some(r) = t.expect {
            s.push_str(&expect::section(t.task, r));
        }
        s.push_str(&estimates::section(t));
        s.push_str(&models::table(t, tests, agreement));
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
        let (soups, soup_figures) = soups::section(t);
        s.push_str(&soups);
        for pair in soup_figures.chunks(2) {
            s.push_str(&figure_row(pair));
        }
        all.extend(soup_figures);
        let (located, located_figures) = blocks::section(t);
        s.push_str(&located);
        s.push_str(&figure_row(&located_figures));
        all.extend(located_figures);
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
