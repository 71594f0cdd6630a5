//! Study manifests: parsing with file:line:column errors, `include`, validation, and the
//! resolved `Manifest` that expansion reads. Nothing downstream reads TOML again.

// Manifest errors carry a full location, key, expectation and hint; they are produced once per
// bad manifest, never on a hot path, so their size is not worth boxing.
#![allow(clippy::result_large_err)]

mod at;
pub mod blocks;
mod builtin;
pub mod datasets;
mod error;
pub mod expect;
pub mod hub;
pub mod hub_data;
mod raw;
mod resolve;
mod spec;
mod steps;
pub mod sweep;

use std::fs;
use std::path::{Path, PathBuf};

pub use at::At;
pub use basins_engine::settings::{ExecutorKind, SlurmResources, SlurmSettings};
pub use builtin::{Architecture, GeneratorSpec, PretrainSpec};
pub use error::{did_you_mean, Location, ManifestError};
pub use raw::{
    Backend, BarrierKind, ClusterMethod, DataFormat, InterpolateMode, MergeMethod, OnBadRow,
    Precision, SeedStream,
};
pub use resolve::{
    Adaptive, Cluster, ClusterDelta, ClusterK, DataSource, Diagnostic, EvalSet, Finetune,
    FinetuneHyper, Interpolate, Manifest, Model, Origin, Report, Score, SetData, Soups, Strategy,
    Study, Task, ZooFrom, ZooSteps,
};
pub use spec::{AlphaGrid, Metric, PairSpec, SeedSet, Surface, Where};
pub use steps::{Checkpoint, Keep};

use raw::{Merge, RawManifest};

/// One file of a study as read from disk; kept so the report can show exactly what ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl Manifest {
    /// Every Hub reference (models and data sets) the study (and each sweep sub-study)
    /// downloads, for resolving revisions to commits before expansion.
    pub fn hub_refs_mut(&mut self) -> Vec<&mut hub::HubRef> {
        let mut refs: Vec<&mut hub::HubRef> = Vec::new();
        match &mut self.finetune.origin {
            Origin::Trained { model, .. } => {
                if let Some(Model::Hub(r)) = self.models.get_mut(model.as_str()) {
                    refs.push(r);
                }
            }
            Origin::Zoo {
                from: ZooFrom::Hub(zoo),
                tokenizer,
                steps,
                ..
            } => {
                refs.extend(zoo.iter_mut());
                refs.extend(tokenizer.iter_mut());
                if let Some(st) = steps {
                    refs.extend(st.hub.values_mut().flatten());
                }
            }
            Origin::Zoo { .. } => {}
        }
        let sets = (self.tasks.values_mut().map(|t| &mut t.data))
            .chain(self.diagnostics.values_mut().map(|d| &mut d.data));
        for data in sets {
            if let DataSource::Hub(h) = &mut data.source {
                refs.push(&mut h.source);
            }
        }
        if let Some(sweep) = &mut self.sweep {
            for v in &mut sweep.variants {
                refs.extend(v.manifest.hub_refs_mut());
            }
        }
        refs
    }

    /// Read a manifest and everything it includes, then validate the whole.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let mut sources = Vec::new();
        let raw = load_with_includes(path, &mut Vec::new(), &mut sources)?;
        Manifest::with_sweep(path, raw, sources)
    }

    /// Resolve the file's own study, then, with a `[sweep]`, each of its sub-studies.
    fn with_sweep(
        path: &Path,
        mut raw: RawManifest,
        sources: Vec<SourceFile>,
    ) -> Result<Manifest, ManifestError> {
        let spec = raw.sweep.take();
        let text = sources.last().map(|s| s.text.clone()).unwrap_or_default();
        let mut m = resolve::resolve(path, raw, sources)?;
        if let Some(spec) = spec {
            m.sweep = Some(sweep::variants(path, &text, &spec)?);
        }
        Ok(m)
    }

    /// Parse one manifest from text (tests, `--stdin` style callers). Includes are resolved
    /// relative to `path`'s directory.
    pub fn from_str_at(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let mut sources = Vec::new();
        let raw = parse_text(path, text, &mut vec![path.to_owned()], &mut sources)?;
        Manifest::with_sweep(path, raw, sources)
    }
}

fn load_with_includes(
    path: &Path,
    stack: &mut Vec<PathBuf>,
    sources: &mut Vec<SourceFile>,
) -> Result<RawManifest, ManifestError> {
    let text = read_bounded(path).map_err(|source| ManifestError::Read {
        path: path.to_owned(),
        source,
    })?;
    stack.push(fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()));
    let raw = parse_text(path, &text, stack, sources);
    stack.pop();
    raw
}

/// The largest manifest file read: the demo is 2 KB, a study with a long sweep a few dozen.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// How deep includes may nest, and how many files one manifest may read in all (the same file
/// included from two places counts twice): a chain or a doubling that goes further is a mistake,
/// and would otherwise overflow the stack or run for ever.
pub const MAX_INCLUDE_DEPTH: usize = 16;
pub const MAX_INCLUDED_FILES: usize = 256;

/// A manifest's text, from a regular file of at most `MAX_MANIFEST_BYTES` (a device such as
/// `/dev/zero` would otherwise be read until memory runs out).
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let refuse = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    let file = fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse(
            "not a regular file (a manifest is a .toml file)".into(),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(refuse(format!(
            "larger than {} KiB, the most a manifest may be",
            MAX_MANIFEST_BYTES >> 10
        )));
    }
    String::from_utf8(bytes).map_err(|e| refuse(format!("not UTF-8 text: {e}")))
}

/// Parse one file and overlay it on its includes (in order), so later keys win.
fn parse_text(
    path: &Path,
    text: &str,
    stack: &mut Vec<PathBuf>,
    sources: &mut Vec<SourceFile>,
) -> Result<RawManifest, ManifestError> {
    let mut this: RawManifest = at::with_source(path, text, || toml::from_str(text))
        .map_err(|e| toml_error(path, text, &e))?;
    let mut base = RawManifest::default();
    for inc in this.include.clone().unwrap_or_default() {
        let target = path.parent().unwrap_or(Path::new(".")).join(&inc.value);
        let canon = fs::canonicalize(&target).map_err(|e| ManifestError::Invalid {
            at: inc.at.clone(),
            key: "include".into(),
            message: format!("cannot read included file {}: {e}", target.display()),
            expected: Some("a path relative to this manifest".into()),
            hint: None,
        })?;
        if stack.contains(&canon) {
            let chain: Vec<String> = stack.iter().map(|p| p.display().to_string()).collect();
            return Err(ManifestError::Invalid {
                at: inc.at.clone(),
                key: "include".into(),
                message: format!(
                    "include cycle: {} -> {}",
                    chain.join(" -> "),
                    canon.display()
                ),
                expected: Some("includes that form no cycle".into()),
                hint: None,
            });
        }
        let limit = if stack.len() >= MAX_INCLUDE_DEPTH {
            Some(format!(
                "includes nest deeper than {MAX_INCLUDE_DEPTH} files"
            ))
        } else if sources.len() >= MAX_INCLUDED_FILES {
            Some(format!(
                "the includes read more than {MAX_INCLUDED_FILES} files in all (a file \
                 included from several places counts each time)"
            ))
        } else {
            None
        };
        if let Some(message) = limit {
            return Err(ManifestError::Invalid {
                at: inc.at.clone(),
                key: "include".into(),
                message,
                expected: Some(format!(
                    "at most {MAX_INCLUDE_DEPTH} levels and {MAX_INCLUDED_FILES} files"
                )),
                hint: Some("put the shared settings in one file that the others include".into()),
            });
        }
        let included = load_with_includes(&target, stack, sources)?;
        if let Some(s) = &included.sweep {
            return Err(ManifestError::Invalid {
                at: s.at.clone(),
                key: "sweep".into(),
                message: "a [sweep] in an included file".into(),
                expected: Some("the [sweep] in the manifest that is run".into()),
                hint: None,
            });
        }
        base.merge(included);
    }
    sources.push(SourceFile {
        path: path.to_owned(),
        text: text.to_owned(),
    });
    let sweep = this.sweep.take();
    base.merge(this);
    base.sweep = sweep;
    Ok(base)
}

/// Turn a toml/serde error into one that names file:line:column, the key and what was
/// expected, with a suggestion for misspelt keys and values.
fn toml_error(path: &Path, src: &str, e: &toml::de::Error) -> ManifestError {
    let offset = e.span().map_or(0, |s| s.start);
    let at = Location::from_offset(path, src, offset);
    let message = e.message().trim().to_owned();
    let (message, expected, hint) = match backticked_after(&message, "expected") {
        Some(known) if message.starts_with("unknown") => {
            let given = backticked(&message).into_iter().next().unwrap_or_default();
            let hint = did_you_mean(&given, known.iter().map(String::as_str));
            let short = message
                .split(", expected")
                .next()
                .unwrap_or(&message)
                .to_owned();
            (
                short,
                Some(
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                hint,
            )
        }
        _ => (message, None, None),
    };
    ManifestError::Invalid {
        key: key_at(src, offset),
        at,
        message,
        expected,
        hint,
    }
}

/// Names between backticks, in order.
fn backticked(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

fn backticked_after(s: &str, word: &str) -> Option<Vec<String>> {
    let i = s.find(word)?;
    let v = backticked(&s[i..]);
    (!v.is_empty()).then_some(v)
}

/// The dotted key at a byte offset: the nearest table header above it plus the key on the
/// offending line (good enough to point a human at the right place).
fn key_at(src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = src[line_start..].lines().next().unwrap_or("").trim();
    let header = src[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    if line.starts_with('[') {
        return line
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned();
    }
    let key = line
        .split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"')
        .to_owned();
    match header {
        Some(h) if !key.is_empty() => format!("{h}.{key}"),
        Some(h) => h,
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults' JSON is part of every finetune's recipe key: it must stay what it was
    /// when it was written with `json!` (a typed struct replaced that without moving a key).
    #[test]
    fn finetune_defaults_keep_their_json() {
        let m = Manifest::from_str_at(
            Path::new("m.toml"),
            r#"
[study]
name = "s"
[models.tiny]
builtin = { layers = 2, hidden = 32 }
[tasks.t]
format = "cola"
train = "train.tsv"
eval = { dev = "dev.tsv" }
labels = ["0", "1"]
[finetune]
model = "tiny"
tasks = ["t"]
seeds = "0..2"
"#,
        )
        .unwrap();
        let Origin::Trained { hyper, .. } = &m.finetune.origin else {
            panic!("trained");
        };
        let expected = serde_json::json!({
            "lr": 2e-5, "batch_size": 32, "epochs": 3.0, "max_steps": null,
            "warmup_ratio": 0.1, "weight_decay": 0.01, "max_len": 64, "dropout": 0.1,
            "grad_clip": 1.0, "eval_every": 0, "checkpoint_every": 500,
            "vary": ["data_order", "head_init", "dropout"],
        });
        assert_eq!(serde_json::to_value(hyper).unwrap(), expected);
        // And a recipe from before `eval_every` existed still reads.
        let mut old = expected.clone();
        old.as_object_mut().unwrap().remove("eval_every");
        let back: FinetuneHyper = serde_json::from_value(old).unwrap();
        assert_eq!(back.eval_every, 0);
    }
}
