//! From merged raw files to a validated `Manifest`: defaults filled in, paths made absolute
//! relative to the file that wrote them, every reference checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use basins_engine::settings::{ExecutorKind, SlurmResources, SlurmSettings};
use serde::{Deserialize, Serialize};

use super::at::At;
use super::builtin::{Architecture, GeneratorSpec, PretrainSpec};
use super::error::{did_you_mean, Location, ManifestError};
use super::hub::{self, HubRef};
use super::hub_data::{HubData, RawHubData, RawSource};
use super::raw::*;
use super::spec::{AlphaGrid, Metric, PairSpec, Surface, Where};
use super::steps::{Checkpoint, Keep};
use super::SourceFile;

mod cluster;
mod diagnostics;
mod expect;
mod finetune;
mod interpolate;
mod merge;
mod models;
mod sources;
mod study;
mod tasks;
mod types;
mod zoo;

use cluster::*;
use diagnostics::*;
use expect::*;
use finetune::*;
use interpolate::*;
use merge::*;
use models::*;
use sources::*;
use study::*;
use tasks::*;
pub use types::*;
use zoo::*;

/// The manifest's sections in the order they depend on one another: models and tasks,
/// then what is finetuned (or the zoo), the diagnostics, the interpolation (whose checkpoints
/// pin the zoo's Hub revisions), the clustering and the report. Each section's rules are in
/// the module of its name.
pub(super) fn resolve(
    path: &Path,
    raw: RawManifest,
    sources: Vec<SourceFile>,
) -> Result<Manifest, ManifestError> {
    let study = resolve_study(path, raw.study)?;
    let models = resolve_models(path, raw.models.unwrap_or_default(), raw.zoo.is_some())?;
    let tasks = resolve_tasks(raw.tasks.unwrap_or_default())?;
    // Where `[zoo] steps` was written, for errors found once the mapped steps are known.
    let mut zoo_steps_at = None;
    let finetune = match (raw.finetune, raw.zoo) {
        (Some(_), Some(z)) => return Err(invalid(
            &z.at,
            "zoo",
            "a study either finetunes models ([finetune]) or analyses given ones ([zoo]), not both",
            "one of [finetune] and [zoo]",
        )),
        (None, Some(z)) => {
            zoo_steps_at = z.steps.as_ref().map(|s| s.at.clone());
            resolve_zoo(z, &tasks)?
        }
        (f, None) => resolve_finetune(path, f, &models, &tasks)?,
    };
    let diagnostics = resolve_diagnostics(raw.diagnostics.unwrap_or_default(), &tasks, &finetune)?;
    let raw_mode = raw
        .interpolate
        .as_ref()
        .and_then(|i| i.mode.as_ref())
        .map(|m| m.at.clone());
    let interpolate = raw
        .interpolate
        .map(|i| resolve_interpolate(i, &tasks, &diagnostics, &finetune, &models))
        .transpose()?;
    let mut finetune = finetune;
    if let (
        Some(i),
        Origin::Zoo {
            from: ZooFrom::Hub(refs),
            steps: Some(st),
            ..
        },
    ) = (&interpolate, &mut finetune.origin)
    {
        for at in &i.at {
            if let Checkpoint::Step(n) = at {
                let revision = st.at(*n);
                let step_refs = refs
                    .iter()
                    .map(|r| HubRef::new(&r.repo, &revision))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|m| {
                        invalid(
                            &zoo_steps_at.clone().unwrap_or_else(|| top(path)),
                            "zoo.steps",
                            format!("step {n}: revision `{revision}`: {m}"),
                            "a branch or tag name with `{step}`, like \"step_{step}\"",
                        )
                    })?;
                st.hub.insert(*n, step_refs);
            }
        }
    }
    let cluster = raw
        .cluster
        .map(|c| resolve_cluster(c, &tasks, &diagnostics, finetune.seeds.len()))
        .transpose()?;
    check_adaptive(raw_mode.as_ref(), interpolate.as_ref(), cluster.as_ref())?;
    let merge = raw
        .merge
        .map(|m| resolve_merge(m, &models, &tasks, &finetune, cluster.as_ref()))
        .transpose()?;
    let report = raw
        .report
        .map(|r| -> Result<Report, ManifestError> {
            Ok(Report {
                title: r.title.unwrap_or_else(|| study.name.clone()),
                bootstrap: r.bootstrap.unwrap_or(1000),
                expect: r
                    .expect
                    .as_ref()
                    .map(|e| resolve_expect(e, &finetune, cluster.as_ref()))
                    .transpose()?,
            })
        })
        .transpose()?;
    Ok(Manifest {
        path: path.to_owned(),
        study,
        models,
        tasks,
        finetune,
        interpolate,
        diagnostics,
        cluster,
        merge,
        report,
        sources,
        sweep: None,
    })
}

/// A count that must be at least 1 where it is given: 0 examples or 0 steps would run and
/// produce nothing meaningful (a model never trained, a set with no rows).
fn positive_count(v: &Option<At<u64>>, key: &str) -> Result<Option<u64>, ManifestError> {
    match v {
        Some(x) if x.value == 0 => Err(invalid(
            &x.at,
            key,
            "must be positive",
            "an integer >= 1, or leave it out for all of them",
        )),
        Some(x) => Ok(Some(x.value)),
        None => Ok(None),
    }
}

/// Adaptive mode estimates the barrier the clustering reads, and only a loss barrier has the
/// estimator's interval (an accuracy barrier is a barrier of 0/1 outcomes).
fn check_adaptive(
    mode: Option<&Location>,
    interpolate: Option<&Interpolate>,
    cluster: Option<&Cluster>,
) -> Result<(), ManifestError> {
    let (
        Some(at),
        Some(Interpolate {
            adaptive: Some(_), ..
        }),
    ) = (mode, interpolate)
    else {
        return Ok(());
    };
    match cluster.map(|c| c.barrier) {
        Some(BarrierKind::Accuracy) => Err(invalid(
            at,
            "interpolate.mode",
            "adaptive mode estimates the barrier the clustering reads, and [cluster] barrier is \
             \"accuracy\", which it cannot estimate (a barrier of 0/1 outcomes has no interval \
             of the estimator's kind)",
            "[cluster] barrier = \"convexity\" or \"endpoint\", or mode = \"grid\"",
        )),
        _ => Ok(()),
    }
}

fn invalid(
    at: &Location,
    key: &str,
    message: impl Into<String>,
    expected: impl Into<String>,
) -> ManifestError {
    ManifestError::Invalid {
        at: at.clone(),
        key: key.into(),
        message: message.into(),
        expected: Some(expected.into()),
        hint: None,
    }
}

fn dangling(r: &At<String>, key: &str, what: &str, known: &[&str]) -> ManifestError {
    ManifestError::Invalid {
        at: r.at.clone(),
        key: key.into(),
        message: format!("`{}` does not name a{what}", r.value),
        expected: Some(if known.is_empty() {
            format!("a{what} defined in this manifest (none are)")
        } else {
            format!(
                "one of {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
        hint: did_you_mean(&r.value, known.iter().copied()),
    }
}

/// A required section or key that is absent: pointed at the section when it exists, else at
/// the top of the manifest.
fn missing(at: Location, key: &str, message: impl Into<String>, expected: &str) -> ManifestError {
    invalid(&at, key, message, expected)
}

fn top(path: &Path) -> Location {
    Location {
        file: path.to_owned(),
        line: 1,
        column: 1,
    }
}

/// A path as written, made absolute relative to the file that wrote it.
fn rel(p: &At<String>) -> PathBuf {
    let base = p.at.file.parent().unwrap_or(Path::new("."));
    normalize(&base.join(&p.value))
}

/// Absolute, with `.` and `..` folded lexically (the path need not exist yet).
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn check_range(
    v: &Option<At<f64>>,
    key: &str,
    lo: f64,
    hi: f64,
    expected: &str,
) -> Result<(), ManifestError> {
    match v {
        Some(x) if !(x.value >= lo && x.value <= hi) => Err(invalid(
            &x.at,
            key,
            format!("{} is out of range", x.value),
            expected,
        )),
        _ => Ok(()),
    }
}

/// The longest name a study, model, task, split, diagnostic or zoo member may have.
pub const NAME_MAX: usize = 64;

/// Names become node ids and file names (the cache index, run logs, per-set output files), so
/// they are checked before anything is built from them: a letter, digit or `_` first, then
/// letters, digits, `_` and `-` (and `.` where `dots` allows, never in names that are joined
/// with dots into eval set names), at most `NAME_MAX` characters. This rules out `..`, `/`,
/// absolute paths and names no file system takes.
fn check_name(
    at: &Location,
    key: &str,
    what: &str,
    name: &str,
    dots: bool,
) -> Result<(), ManifestError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (dots && c == '.');
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().all(ok_char);
    if ok {
        return Ok(());
    }
    let shown: String = name.chars().take(40).collect();
    let shown = if shown.len() < name.len() {
        format!("{shown}... ({} characters)", name.chars().count())
    } else {
        shown
    };
    Err(invalid(
        at,
        key,
        format!("`{shown}` is not a usable {what} name"),
        format!(
            "at most {NAME_MAX} characters: letters, digits, `_`, `-`{}, starting with a letter, \
             digit or `_`",
            if dots { ", `.`" } else { "" }
        ),
    ))
}
