//! The report node's view of the study: its settings and the manifest's text, as the page
//! shows them.

use std::path::{Path, PathBuf};

use crate::manifest::{EvalSet, Manifest, Origin};
use crate::params::{
    ClusterConfig, DiagnosticConfig, FinetuneConfig, InterpolateConfig, ManifestText, SetConfig,
    StudyConfig,
};

/// The manifest's files as the report shows them, the study file first, each named relative to
/// the study file's folder (never by an absolute path, which would tie the key to a checkout).
/// The report's key covers the text: a comment edited reruns the page that shows it, and
/// nothing else.
pub(super) fn manifest_text(m: &Manifest) -> Vec<ManifestText> {
    let dir = m
        .sources
        .last()
        .and_then(|s| s.path.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    m.sources
        .iter()
        .rev()
        .map(|s| {
            let name = match s.path.strip_prefix(&dir) {
                Ok(rel) => rel.to_path_buf(),
                Err(_) => s.path.file_name().map(PathBuf::from).unwrap_or_default(),
            };
            ManifestText {
                path: name.to_string_lossy().into_owned(),
                text: s.text.clone(),
            }
        })
        .collect()
}

/// The study's settings as the report shows them: canonical (so reordering or commenting the
/// manifest changes nothing) and free of file paths (data enter through input digests).
pub(super) fn study_config(m: &Manifest) -> StudyConfig {
    StudyConfig {
        backend: m.study.backend,
        precision: m.study.precision,
        finetune: match &m.finetune.origin {
            Origin::Trained { model, hyper } => FinetuneConfig::Trained {
                model: model.clone(),
                tasks: m.finetune.tasks.clone(),
                seeds: m.finetune.seeds.clone(),
                hyper: hyper.clone(),
            },
            Origin::Zoo { members, .. } => FinetuneConfig::Zoo {
                zoo: members.clone(),
                tasks: m.finetune.tasks.clone(),
            },
        },
        interpolate: m.interpolate.as_ref().map(|i| InterpolateConfig {
            pairs: (&i.pairs).into(),
            alphas: i.alphas.0.clone(),
            eval: i
                .eval
                .as_ref()
                .map(|e| e.iter().map(EvalSet::name).collect()),
            max_examples: i.max_examples,
            adaptive: i.adaptive,
            blocks: i.blocks.clone(),
            align: i.align,
        }),
        cluster: m.cluster.as_ref().map(|c| ClusterConfig {
            eval: c.eval.clone(),
            clustering: c.into(),
            bootstrap: c.bootstrap as usize,
        }),
        tasks: m
            .tasks
            .iter()
            .map(|(k, t)| {
                let set = SetConfig {
                    format: t.data.format,
                    surface: t.data.surface.clone(),
                    score: t.data.score.clone(),
                };
                (k.clone(), set)
            })
            .collect(),
        diagnostics: m
            .diagnostics
            .iter()
            .map(|(k, d)| {
                let set = SetConfig {
                    format: d.data.format,
                    surface: d.data.surface.clone(),
                    score: d.data.score.clone(),
                };
                let config = DiagnosticConfig {
                    task: d.task.clone(),
                    set,
                    strategy: d.strategy.clone(),
                };
                (k.clone(), config)
            })
            .collect(),
    }
}
