//! From merged raw files to a validated `Manifest`: defaults filled in, paths made absolute
//! relative to the file that wrote them, every reference checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::at::At;
use super::builtin::{GeneratorSpec, PretrainSpec};
use super::error::{did_you_mean, Location, ManifestError};
use super::hub::{self, HubRef};
use super::raw::*;
use super::spec::{AlphaGrid, Metric, PairSpec, Surface, Where};
use super::steps::{Checkpoint, Keep};
use super::SourceFile;

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub path: PathBuf,
    pub study: Study,
    pub models: BTreeMap<String, Model>,
    pub tasks: BTreeMap<String, Task>,
    pub finetune: Finetune,
    pub interpolate: Option<Interpolate>,
    pub diagnostics: BTreeMap<String, Diagnostic>,
    pub cluster: Option<Cluster>,
    pub report: Option<Report>,
    pub sources: Vec<SourceFile>,
    /// `[sweep]`: the sub-studies this file makes (and then the fields above are the file's own
    /// values, used for the study's shared settings).
    pub sweep: Option<super::sweep::Sweep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Study {
    pub name: String,
    pub backend: Backend,
    pub precision: Precision,
    pub cache: PathBuf,
    pub executor: ExecutorKind,
    pub slurm: SlurmSettings,
}

/// `[study.slurm]` resolved: defaults for every job, overrides per stage kind, pacing.
#[derive(Debug, Clone, Serialize)]
pub struct SlurmSettings {
    pub resources: SlurmResources,
    pub kinds: BTreeMap<String, SlurmResources>,
    /// Jobs (array tasks) in flight at once; also each array's `%` throttle.
    pub max_jobs: u32,
    /// The longest pause between two `squeue` queries (the back-off's ceiling).
    pub poll_max_s: f64,
    /// How long a job may have left Slurm before its record must be visible in the cache (a
    /// shared filesystem's attribute caching can hide a new file for tens of seconds).
    pub record_latency_s: f64,
}

impl SlurmSettings {
    /// What a job of `kind` asks for.
    pub fn resources_for(&self, kind: &str) -> SlurmResources {
        match self.kinds.get(kind) {
            Some(over) => self.resources.overlaid(over),
            None => self.resources.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub enum Model {
    /// A Hugging Face directory on disk.
    Path(PathBuf),
    /// A model on the Hugging Face Hub, downloaded by a `hub/<name>` node.
    Hub(HubRef),
    /// A small BERT pretrained by the pipeline: architecture and pretraining settings.
    Builtin {
        config: Value,
        pretrain: PretrainSpec,
    },
}

#[derive(Debug, Clone, Serialize)]
pub enum DataSource {
    Files {
        train: Option<PathBuf>,
        eval: BTreeMap<String, PathBuf>,
    },
    Generated(GeneratorSpec),
    /// A public data set basins downloads and checks (`source = "glue/cola"`).
    Download(super::datasets::DownloadSpec),
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// Where the task is defined (errors about its use point here).
    #[serde(skip)]
    pub at: Location,
    pub format: DataFormat,
    pub source: DataSource,
    pub labels: Vec<String>,
    pub max_examples: Option<u64>,
    pub on_bad_row: OnBadRow,
    pub fields: BTreeMap<String, String>,
    /// The loss-surface subset of each eval split (None: the first `[interpolate].max_examples`).
    pub surface: Option<Surface>,
    /// The primary score of each eval split (None: the format's default, chosen by the stage).
    pub score: Option<Score>,
}

/// How a diagnostic set names each model's generalisation strategy: by its primary score, at
/// or above `threshold` the strategy `above`, below it `below`. Meant for a score taken on the
/// rows where two candidate rules predict different labels (HANS's non-entailed
/// lexical-overlap rows: the structural rule says non-entailment, the overlap shortcut says
/// entailment), so the score is the share of those rows on which the model follows the first
/// rule, and 0.5 labels a model by the rule it follows on most of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    #[serde(default = "Strategy::half")]
    pub threshold: f64,
    pub above: String,
    pub below: String,
    /// A group column whose values are the set's kinds of conflict (the veridicality set's
    /// `construction`: the rule says entailment on one kind, non-entailment on the other). With
    /// it a model's strategy comes from its accuracy on each kind: at or above `threshold` on
    /// every kind `above`, below it on every kind `below`, the rule on exactly the kinds of one
    /// gold label `always <the other label>`, otherwise `mixed`; so a model that answers one
    /// label everywhere is no longer named by half its rows. Left out of the params when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<String>,
}

impl Strategy {
    fn half() -> f64 {
        0.5
    }
}

/// A set's primary score: a metric over the rows `filter` selects (all when empty), and with
/// `held_out` only over those the set's loss surface does not hold, so that a basin found on
/// the surface rows is scored on rows it was not found on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Score {
    pub metric: Metric,
    #[serde(default, rename = "where")]
    pub filter: Where,
    /// Left out of the params when false, so studies that do not ask keep their keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held_out: bool,
}

/// The finetuning hyperparameters with every default filled in: what the manifest layer writes
/// into each finetune node's params and the `finetune` stage reads back. One type for both
/// ends, so a renamed field does not compile rather than failing at run time; its JSON is part
/// of every finetune's recipe key, so fields are never reordered or renamed without a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneHyper {
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: f64,
    pub max_steps: Option<u64>,
    pub warmup_ratio: f64,
    pub weight_decay: f64,
    pub max_len: usize,
    pub dropout: f64,
    pub grad_clip: f64,
    /// Steps between dev-set evaluations in the training log; 0: none. Recipes from before it
    /// existed have no such key.
    #[serde(default)]
    pub eval_every: u64,
    pub checkpoint_every: u64,
    /// The random streams that follow the seed (the others stay at seed 0's).
    pub vary: Vec<SeedStream>,
    /// Intermediate checkpoints kept as outputs. Only written when set, so that studies without
    /// it keep their recipe keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Keep>,
}

/// The study's finetuned models: trained here from a base model, or given as a zoo of
/// checkpoints. Either way they are numbered by `seeds` (for a zoo, the member's position), which
/// is what pairs, barrier matrices and clusters index.
#[derive(Debug, Clone, Serialize)]
pub struct Finetune {
    pub origin: Origin,
    pub tasks: Vec<String>,
    pub seeds: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub enum Origin {
    /// Finetuned by the study: the base model's name and the hyperparameters with defaults
    /// resolved (what goes into each finetune node's params).
    Trained { model: String, hyper: FinetuneHyper },
    /// Already finetuned Hugging Face checkpoints, member i being seed i.
    Zoo {
        members: Vec<String>,
        from: ZooFrom,
        /// For Hub members without tokenizer files: the model they take them from.
        tokenizer: Option<HubRef>,
        /// Where the members keep intermediate steps (`[zoo] steps`), when they do.
        steps: Option<ZooSteps>,
    },
}

/// A zoo's intermediate checkpoints: `template` with `{step}` replaced by n names a subfolder
/// of each member's directory (`dir` zoos) or a revision of its repository (`hub` zoos).
#[derive(Debug, Clone, Serialize)]
pub struct ZooSteps {
    pub template: String,
    /// Hub zoos: for each step `[interpolate] at` maps, each member's revision holding it, in
    /// member order (resolved to commits before the plan, like the members' own revisions).
    pub hub: BTreeMap<u64, Vec<HubRef>>,
}

impl ZooSteps {
    /// The subfolder or revision holding step `n`.
    pub fn at(&self, n: u64) -> String {
        self.template.replace("{step}", &n.to_string())
    }
}

/// Where a zoo's checkpoints are.
#[derive(Debug, Clone, Serialize)]
pub enum ZooFrom {
    /// `dir/<member>` on disk.
    Dir(PathBuf),
    /// One Hub repository per member, in member order.
    Hub(Vec<HubRef>),
}

impl Finetune {
    /// How node ids name model `seed`: `seed=3`, or `model=<member>` for a zoo.
    pub fn member_id(&self, seed: u64) -> String {
        match &self.origin {
            Origin::Trained { .. } => format!("seed={seed}"),
            Origin::Zoo { members, .. } => format!("model={}", members[seed as usize]),
        }
    }

    /// How people call model `seed`: `3`, or the zoo member's directory name.
    pub fn member_name(&self, seed: u64) -> String {
        match &self.origin {
            Origin::Trained { .. } => seed.to_string(),
            Origin::Zoo { members, .. } => members[seed as usize].clone(),
        }
    }
}

/// An evaluation set a finetuned model is scored on: a split of its task, or a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum EvalSet {
    Split { task: String, split: String },
    Diagnostic(String),
}

impl EvalSet {
    /// The name used in node ids and params (`cola.dev`, `hans`).
    pub fn name(&self) -> String {
        match self {
            EvalSet::Split { task, split } => format!("{task}.{split}"),
            EvalSet::Diagnostic(d) => d.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Interpolate {
    pub pairs: PairSpec,
    pub alphas: AlphaGrid,
    /// Explicit eval sets, or `None` for every split and diagnostic of each task.
    pub eval: Option<Vec<EvalSet>>,
    pub max_examples: Option<u64>,
    pub batch_size: u32,
    /// The checkpoints whose basins are mapped, in training order, `Final` last when asked for
    /// (`[Final]` by default).
    pub at: Vec<Checkpoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub task: String,
    pub format: DataFormat,
    pub source: DataSource,
    pub labels: Vec<String>,
    pub max_examples: Option<u64>,
    pub on_bad_row: OnBadRow,
    pub fields: BTreeMap<String, String>,
    pub surface: Option<Surface>,
    pub score: Option<Score>,
    pub strategy: Option<Strategy>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterK {
    Fixed(u32),
    Eigengap,
}

/// The affinity's kernel width: fixed (the paper: 1.0) or the median off-diagonal barrier.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ClusterDelta {
    Fixed(f64),
    /// Serialised as the string "median".
    Median(MedianTag),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MedianTag {
    Median,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cluster {
    pub eval: Option<EvalSet>,
    pub barrier: BarrierKind,
    pub method: ClusterMethod,
    pub k: ClusterK,
    pub delta: ClusterDelta,
    pub bootstrap: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub title: String,
    pub bootstrap: u32,
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

/// JSONL field names. Other layouts have fixed columns, so a `fields` table there would be
/// silently ignored: it is refused, as `data check --field` refuses it.
fn fields_of(
    fields: Option<&BTreeMap<String, String>>,
    format: DataFormat,
    at: &Location,
    key: &str,
) -> Result<BTreeMap<String, String>, ManifestError> {
    match fields {
        Some(f)
            if !f.is_empty() && !matches!(format, DataFormat::Jsonl | DataFormat::Generated) =>
        {
            Err(invalid(
                at,
                &format!("{key}.fields"),
                format!(
                    "`fields` names JSONL fields, and this set's format is {}",
                    format!("{format:?}").to_lowercase()
                ),
                "no `fields` (the layout's columns are fixed), or format = \"jsonl\"",
            ))
        }
        f => Ok(f.cloned().unwrap_or_default()),
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
    let interpolate = raw
        .interpolate
        .map(|i| resolve_interpolate(i, &tasks, &diagnostics, &finetune))
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
    let report = raw.report.map(|r| Report {
        title: r.title.unwrap_or_else(|| study.name.clone()),
        bootstrap: r.bootstrap.unwrap_or(1000),
    });
    Ok(Manifest {
        path: path.to_owned(),
        study,
        models,
        tasks,
        finetune,
        interpolate,
        diagnostics,
        cluster,
        report,
        sources,
        sweep: None,
    })
}

fn resolve_study(path: &Path, s: Option<At<RawStudy>>) -> Result<Study, ManifestError> {
    let s = s.ok_or_else(|| {
        missing(
            top(path),
            "study",
            "the manifest has no [study] section",
            "[study] with at least `name`",
        )
    })?;
    let name = s.value.name.clone().ok_or_else(|| {
        missing(
            s.at.clone(),
            "study.name",
            "[study] has no `name` (it keys the cache index)",
            "name = \"my-study\"",
        )
    })?;
    check_name(&name.at, "study.name", "study", &name.value, true)?;
    let backend = s.backend.unwrap_or(Backend::Cpu);
    let precision = s.precision.clone().map(|p| (p.value, p.at));
    if let Some((p, at)) = &precision {
        if *p != Precision::F32 && backend != Backend::Cuda {
            return Err(invalid(
                at,
                "study.precision",
                "half precision is only offered on `cuda`",
                "\"f32\" with backend \"cpu\" or \"wgpu\"",
            ));
        }
    }
    let cache = match &s.cache {
        Some(c) => rel(c),
        None => normalize(&path.parent().unwrap_or(Path::new(".")).join(".basins")),
    };
    Ok(Study {
        name: name.value,
        backend,
        precision: precision.map_or(Precision::F32, |p| p.0),
        cache,
        executor: s.executor.unwrap_or(ExecutorKind::Local),
        slurm: resolve_slurm(s.slurm.as_ref())?,
    })
}

fn resolve_slurm(raw: Option<&At<RawSlurm>>) -> Result<SlurmSettings, ManifestError> {
    let Some(r) = raw else {
        return Ok(SlurmSettings {
            resources: SlurmResources::default(),
            kinds: BTreeMap::new(),
            max_jobs: 100,
            poll_max_s: 30.0,
            record_latency_s: 60.0,
        });
    };
    if let Some(m) = &r.max_jobs {
        if m.value == 0 {
            return Err(invalid(
                &m.at,
                "study.slurm.max_jobs",
                "must be positive",
                "an integer >= 1",
            ));
        }
    }
    check_range(
        &r.poll_max_s,
        "study.slurm.poll_max_s",
        0.1,
        3600.0,
        "seconds in [0.1, 3600]",
    )?;
    check_range(
        &r.record_latency_s,
        "study.slurm.record_latency_s",
        0.0,
        3600.0,
        "seconds in [0, 3600]",
    )?;
    Ok(SlurmSettings {
        resources: r.resources(),
        kinds: r
            .kinds
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect(),
        max_jobs: r.max_jobs.as_ref().map_or(100, |m| m.value),
        poll_max_s: r.poll_max_s.as_ref().map_or(30.0, |x| x.value),
        record_latency_s: r.record_latency_s.as_ref().map_or(60.0, |x| x.value),
    })
}

fn resolve_models(
    path: &Path,
    raw: BTreeMap<String, At<RawModel>>,
    zoo: bool,
) -> Result<BTreeMap<String, Model>, ManifestError> {
    if raw.is_empty() && !zoo {
        return Err(missing(
            top(path),
            "models",
            "the study defines no [models.<name>]",
            "[models.base] with `path` or `builtin`",
        ));
    }
    raw.into_iter()
        .map(|(name, m)| {
            let key = format!("models.{name}");
            check_name(&m.at, "models", "model", &name, true)?;
            if let (Some(r), None) = (&m.revision, &m.hub) {
                return Err(invalid(
                    &r.at,
                    &format!("{key}.revision"),
                    "`revision` without `hub`",
                    "`hub = \"owner/name\"` beside it, or no `revision`",
                ));
            }
            let model = match (&m.path, &m.builtin, &m.hub) {
                (None, None, Some(h)) => Model::Hub(hub_ref(h, &m.revision, &key)?),
                (Some(p), None, None) => Model::Path(rel(p)),
                (None, Some(b), None) => Model::Builtin {
                    config: {
                        builtin_problem(b).map_or(Ok(()), |problem| {
                            Err(invalid(
                                &m.at,
                                &format!("{key}.builtin"),
                                problem,
                                "builtin = { layers = 2, hidden = 64, heads = 2 } (heads divide hidden)",
                            ))
                        })?;
                        let mut arch = json!({
                        "layers": b.layers.unwrap_or(2),
                        "hidden": b.hidden.unwrap_or(64),
                        "heads": b.heads.unwrap_or(2),
                        "intermediate": b.intermediate.unwrap_or(4 * b.hidden.unwrap_or(64)),
                        "max_position": b.max_position.unwrap_or(64),
                        });
                        // Only when given: every study that leaves it out keeps its keys.
                        if let Some(d) = b.dropout {
                            arch["dropout"] = json!(d);
                        }
                        arch
                    },
                    pretrain: match &m.pretrain {
                        Some(p) => {
                            if let Some(problem) = p.problem() {
                                return Err(invalid(
                                    &p.at,
                                    &format!("{key}.pretrain"),
                                    problem,
                                    "pretrain = { steps = 2000, batch_size = 64, lr = 1e-3 }",
                                ));
                            }
                            p.value.clone()
                        }
                        None => PretrainSpec::default(),
                    },
                },
                _ => {
                    return Err(invalid(
                        &m.at,
                        &key,
                        "a model needs exactly one of `path`, `hub` and `builtin`",
                        "`path = \"dir\"`, `hub = \"owner/name\"` or \
                         `builtin = { layers = 2, hidden = 64 }`",
                    ))
                }
            };
            Ok((name, model))
        })
        .collect()
}

/// `hub = "owner/name"` with its optional `revision` (`main` by default).
fn hub_ref(
    repo: &At<String>,
    revision: &Option<At<String>>,
    key: &str,
) -> Result<HubRef, ManifestError> {
    hub::check_repo(&repo.value).map_err(|m| {
        invalid(
            &repo.at,
            &format!("{key}.hub"),
            m,
            "a model id like \"sentence-transformers/all-MiniLM-L6-v2\"",
        )
    })?;
    let (rev, at) = revision
        .as_ref()
        .map_or(("main", &repo.at), |r| (r.value.as_str(), &r.at));
    HubRef::new(&repo.value, rev).map_err(|m| {
        invalid(
            at,
            &format!("{key}.revision"),
            m,
            "a branch (\"main\"), a tag, or a 40-hex commit",
        )
    })
}

/// `source = "glue/cola"`: the data set's format and its download, or None without `source`.
/// With it, the keys that name files or a generator must be absent, and `format`, if given,
/// must be the data set's.
fn download(
    source: &Option<At<String>>,
    format: &Option<At<DataFormat>>,
    given: &[(&str, bool)],
    key: &str,
) -> Result<Option<(DataFormat, DataSource)>, ManifestError> {
    let Some(src) = source else { return Ok(None) };
    let Some(dataset) = super::datasets::find(&src.value) else {
        let names: Vec<&str> = super::datasets::DATASETS.iter().map(|d| d.name).collect();
        return Err(invalid(
            &src.at,
            &format!("{key}.source"),
            format!("`{}` is not a data set basins can download", src.value),
            format!("one of {}", names.join(", ")),
        ));
    };
    if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
        return Err(invalid(
            &src.at,
            &format!("{key}.{field}"),
            format!("`{field}` and `source` both say where the data comes from"),
            "one of them",
        ));
    }
    if let Some(f) = format.as_ref().filter(|f| f.value != dataset.format) {
        return Err(invalid(
            &f.at,
            &format!("{key}.format"),
            format!("`{}` is in format {:?}", dataset.name, dataset.format),
            "no `format` with `source` (it is the data set's), or the data set's",
        ));
    }
    Ok(Some((dataset.format, DataSource::Download(dataset.spec()))))
}

/// A downloaded data set's labels, in its files' order.
fn dataset_labels(name: &str) -> Vec<String> {
    super::datasets::find(name)
        .map(|d| d.labels.iter().map(|l| l.to_string()).collect())
        .unwrap_or_default()
}

fn resolve_source(
    at: &Location,
    key: &str,
    format: DataFormat,
    train: Option<&At<String>>,
    eval: Option<&BTreeMap<String, At<String>>>,
    generate: Option<&At<GeneratorSpec>>,
) -> Result<DataSource, ManifestError> {
    match (format, generate) {
        (DataFormat::Generated, Some(g)) => match g.problem() {
            Some(problem) => Err(invalid(
                &g.at,
                &format!("{key}.generate"),
                problem,
                "generate = { generator = \"nli\", seed = 0, train = 4000, eval = 1000 }",
            )),
            None => Ok(DataSource::Generated(g.value.clone())),
        },
        (DataFormat::Generated, None) => Err(invalid(
            at,
            key,
            "format \"generated\" needs a `generate` table",
            "generate = { generator = \"nli\", seed = 0, ... }",
        )),
        (_, Some(_)) => Err(invalid(
            at,
            key,
            "`generate` only goes with format = \"generated\"",
            "files for this format, or format = \"generated\"",
        )),
        (_, None) => Ok(DataSource::Files {
            train: train.map(rel),
            eval: eval
                .map(|e| e.iter().map(|(k, v)| (k.clone(), rel(v))).collect())
                .unwrap_or_default(),
        }),
    }
}

fn labels_of(
    l: &Option<At<Vec<String>>>,
    at: &Location,
    key: &str,
) -> Result<Vec<String>, ManifestError> {
    match l {
        Some(l) if l.iter().any(String::is_empty) => Err(invalid(&l.at, &format!("{key}.labels"), "a label is empty", "non-empty label names")),
        Some(l) if (1..l.len()).any(|i| l[..i].contains(&l[i])) => {
            let dup = (1..l.len()).find(|&i| l[..i].contains(&l[i])).map(|i| l[i].clone()).unwrap_or_default();
            Err(invalid(&l.at, &format!("{key}.labels"), format!("label `{dup}` is listed twice"), "each label once, in model output order"))
        }
        Some(l) if l.len() >= 2 => Ok(l.value.clone()),
        Some(l) => Err(invalid(&l.at, &format!("{key}.labels"), "a classification task needs at least 2 labels", "labels = [\"0\", \"1\"]")),
        None => Err(invalid(at, &format!("{key}.labels"), "missing `labels` (the label set is declared, then checked against data and checkpoints)", "labels = [\"entailment\", \"neutral\", \"contradiction\"]")),
    }
}

fn resolve_tasks(
    raw: BTreeMap<String, At<RawTask>>,
) -> Result<BTreeMap<String, Task>, ManifestError> {
    raw.into_iter()
        .map(|(name, t)| {
            let key = format!("tasks.{name}");
            check_name(&t.at, "tasks", "task", &name, false)?;
            for split in t.eval.iter().flatten() {
                check_name(&split.1.at, &format!("{key}.eval"), "split", split.0, false)?;
            }
            let given = [
                ("train", t.train.is_some()),
                ("eval", t.eval.is_some()),
                ("generate", t.generate.is_some()),
            ];
            let downloaded = download(&t.source, &t.format, &given, &key)?;
            let (format, source) = match downloaded {
                Some((format, source)) => (format, source),
                None => {
                    let format = t.format.as_ref().ok_or_else(|| {
                        invalid(
                            &t.at,
                            &key,
                            "missing `format`",
                            "one of cola, mnli, qqp, hans, paws, jsonl, generated (or `source`)",
                        )
                    })?;
                    let source = resolve_source(
                        &t.at,
                        &key,
                        format.value,
                        t.train.as_ref(),
                        t.eval.as_ref(),
                        t.generate.as_ref(),
                    )?;
                    (format.value, source)
                }
            };
            if let DataSource::Files { eval, .. } = &source {
                if eval.is_empty() {
                    return Err(invalid(
                        &t.at,
                        &format!("{key}.eval"),
                        "missing `eval`",
                        "eval = { dev = \"path/to/dev.tsv\" }",
                    ));
                }
            }
            let labels = match (&t.labels, &t.source) {
                (None, Some(src)) => dataset_labels(&src.value),
                _ => labels_of(&t.labels, &t.at, &key)?,
            };
            let (surface, score) = surface_and_score(
                &key,
                &labels,
                t.surface.as_ref(),
                t.metric.as_ref(),
                t.metric_where.as_ref(),
                t.metric_held_out.as_ref(),
            )?;
            Ok((
                name.clone(),
                Task {
                    at: t.at.clone(),
                    format,
                    source,
                    labels,
                    max_examples: positive_count(&t.max_examples, &format!("{key}.max_examples"))?,
                    on_bad_row: t.on_bad_row.unwrap_or(OnBadRow::Error),
                    fields: fields_of(t.fields.as_ref(), format, &t.at, &key)?,
                    surface,
                    score,
                },
            ))
        })
        .collect()
}

/// A `strategy`: a finite threshold and two different, non-empty names.
fn check_strategy(s: &At<Strategy>, key: &str) -> Result<Strategy, ManifestError> {
    let v = &s.value;
    let problem = if !v.threshold.is_finite() {
        Some((
            "threshold",
            "a finite number (0.5: the rule a model follows on most rows)",
        ))
    } else if v.above.trim().is_empty() || v.below.trim().is_empty() {
        Some((
            "above",
            "two non-empty names, e.g. above = \"rule\", below = \"shortcut\"",
        ))
    } else if v.above == v.below {
        Some(("below", "a name different from `above`"))
    } else if v.kinds.as_ref().is_some_and(|k| k.trim().is_empty()) {
        Some((
            "kinds",
            "the name of a group column, e.g. kinds = \"construction\"",
        ))
    } else {
        None
    };
    match problem {
        Some((field, expected)) => Err(invalid(
            &s.at,
            &format!("{key}.strategy.{field}"),
            format!(
                "{field} = {}",
                match field {
                    "threshold" => v.threshold.to_string(),
                    "above" => format!("{:?}", v.above),
                    "kinds" => format!("{:?}", v.kinds.as_deref().unwrap_or_default()),
                    _ => format!("{:?}", v.below),
                }
            ),
            expected,
        )),
        None => Ok(v.clone()),
    }
}

fn resolve_finetune(
    path: &Path,
    raw: Option<At<RawFinetune>>,
    models: &BTreeMap<String, Model>,
    tasks: &BTreeMap<String, Task>,
) -> Result<Finetune, ManifestError> {
    let f = raw.ok_or_else(|| {
        missing(
            top(path),
            "finetune",
            "the study has no [finetune] section",
            "[finetune] with model, tasks and seeds (or [zoo] to analyse given checkpoints)",
        )
    })?;
    let model = f.model.as_ref().ok_or_else(|| {
        invalid(
            &f.at,
            "finetune.model",
            "missing `model`",
            "the name of a [models.<name>] table",
        )
    })?;
    let model_names: Vec<&str> = models.keys().map(String::as_str).collect();
    if !models.contains_key(&model.value) {
        return Err(dangling(model, "finetune.model", " model", &model_names));
    }
    let task_names: Vec<&str> = tasks.keys().map(String::as_str).collect();
    let ftasks = f.tasks.as_ref().ok_or_else(|| {
        invalid(
            &f.at,
            "finetune.tasks",
            "missing `tasks`",
            "a list of [tasks.<name>] names",
        )
    })?;
    if ftasks.is_empty() {
        return Err(invalid(
            &f.at,
            "finetune.tasks",
            "the task list is empty",
            "at least one task",
        ));
    }
    for (i, t) in ftasks.iter().enumerate() {
        if ftasks[..i].iter().any(|u| u.value == t.value) {
            return Err(invalid(
                &t.at,
                "finetune.tasks",
                format!("task `{}` is listed twice", t.value),
                "each task once",
            ));
        }
        let Some(task) = tasks.get(&t.value) else {
            return Err(dangling(t, "finetune.tasks", " task", &task_names));
        };
        if let DataSource::Files { train: None, .. } = task.source {
            return Err(invalid(
                &task.at,
                &format!("tasks.{}.train", t.value),
                "missing `train` (the task is finetuned)",
                "a training file path",
            ));
        }
        if let DataSource::Download(d) = &task.source {
            if !d.files.contains_key("train.tsv") {
                return Err(invalid(
                    &task.at,
                    &format!("tasks.{}.source", t.value),
                    format!(
                        "`{}` has no training split (the task is finetuned)",
                        d.dataset
                    ),
                    "a data set with a training split, e.g. glue/cola",
                ));
            }
        }
    }
    let seeds = f.seeds.as_ref().ok_or_else(|| {
        invalid(
            &f.at,
            "finetune.seeds",
            "missing `seeds`",
            "seeds = \"0..20\" or a list",
        )
    })?;
    check_range(
        &f.lr,
        "finetune.lr",
        1e-12,
        10.0,
        "a learning rate in (0, 10]",
    )?;
    check_range(
        &f.warmup_ratio,
        "finetune.warmup_ratio",
        0.0,
        1.0,
        "a fraction in [0, 1]",
    )?;
    check_range(
        &f.weight_decay,
        "finetune.weight_decay",
        0.0,
        1.0,
        "a value in [0, 1]",
    )?;
    check_range(
        &f.dropout,
        "finetune.dropout",
        0.0,
        0.99,
        "a probability in [0, 0.99]",
    )?;
    check_range(
        &f.grad_clip,
        "finetune.grad_clip",
        0.0,
        f64::MAX,
        "a non-negative norm (0 disables clipping)",
    )?;
    check_range(
        &f.epochs,
        "finetune.epochs",
        1e-9,
        1e6,
        "a positive number of epochs",
    )?;
    for (v, key) in [
        (&f.batch_size, "finetune.batch_size"),
        (&f.max_len, "finetune.max_len"),
    ] {
        if let Some(x) = v {
            if x.value == 0 {
                return Err(invalid(&x.at, key, "must be positive", "an integer >= 1"));
            }
        }
    }
    // A builtin model has max_position positions: longer inputs have no position embedding.
    let positions = match &models[&model.value] {
        Model::Builtin { config, .. } => config["max_position"].as_u64().map(|p| p as u32),
        Model::Path(_) | Model::Hub(_) => None,
    };
    let max_len = match (&f.max_len, positions) {
        (Some(l), Some(p)) if l.value > p => {
            return Err(invalid(
                &l.at,
                "finetune.max_len",
                format!(
                    "{} tokens, but model `{}` has {p} positions",
                    l.value, model.value
                ),
                format!("max_len <= {p}, or a larger `max_position` in its builtin table"),
            ))
        }
        (Some(l), _) => l.value,
        (None, p) => p.map_or(128, |p| p.min(128)),
    };
    let hyper = FinetuneHyper {
        lr: f.lr.as_ref().map_or(2e-5, |x| x.value),
        batch_size: f.batch_size.as_ref().map_or(32, |x| x.value) as usize,
        epochs: f.epochs.as_ref().map_or(3.0, |x| x.value),
        max_steps: positive_count(&f.max_steps, "finetune.max_steps")?,
        warmup_ratio: f.warmup_ratio.as_ref().map_or(0.1, |x| x.value),
        weight_decay: f.weight_decay.as_ref().map_or(0.01, |x| x.value),
        max_len: max_len as usize,
        dropout: f.dropout.as_ref().map_or(0.1, |x| x.value),
        grad_clip: f.grad_clip.as_ref().map_or(1.0, |x| x.value),
        eval_every: f.eval_every.unwrap_or(0),
        checkpoint_every: f.checkpoint_every.unwrap_or(500),
        keep: f.keep.as_ref().map(resolve_keep).transpose()?,
        vary: f.vary.clone().unwrap_or_else(|| {
            vec![
                SeedStream::DataOrder,
                SeedStream::HeadInit,
                SeedStream::Dropout,
            ]
        }),
    };
    Ok(Finetune {
        origin: Origin::Trained {
            model: model.value.clone(),
            hyper,
        },
        tasks: ftasks.iter().map(|t| t.value.clone()).collect(),
        seeds: seeds.0.clone(),
    })
}

/// `[zoo]`: the task the checkpoints were finetuned on and the folder that holds them, one
/// checkpoint (a directory with `config.json`) per subdirectory. The folder is listed here, at
/// load time, because the members decide the study's shape; their contents are hashed as inputs.
fn resolve_zoo(z: At<RawZoo>, tasks: &BTreeMap<String, Task>) -> Result<Finetune, ManifestError> {
    let task = z.task.as_ref().ok_or_else(|| {
        invalid(
            &z.at,
            "zoo.task",
            "missing `task`",
            "the [tasks.<name>] the checkpoints were finetuned on",
        )
    })?;
    if !tasks.contains_key(&task.value) {
        let names: Vec<&str> = tasks.keys().map(String::as_str).collect();
        return Err(dangling(task, "zoo.task", " task", &names));
    }
    let (from, found, found_at, found_where) = match (&z.dir, &z.hub) {
        (Some(dir_at), None) => {
            if let Some(r) = &z.revision {
                return Err(invalid(
                    &r.at,
                    "zoo.revision",
                    "`revision` without `hub`",
                    "`hub = \"owner/name_{0..10}\"` beside it, or no `revision`",
                ));
            }
            let dir = rel(dir_at);
            let found = checkpoints_in(&dir).map_err(|e| {
                invalid(
                    &dir_at.at,
                    "zoo.dir",
                    format!("cannot list {}: {e}", dir.display()),
                    "a folder with one finetuned checkpoint per subdirectory",
                )
            })?;
            let shown = dir.display().to_string();
            (ZooFrom::Dir(dir), found, dir_at, shown)
        }
        (None, Some(pattern)) => {
            let repos = hub::expand_pattern(&pattern.value).map_err(|m| {
                invalid(
                    &pattern.at,
                    "zoo.hub",
                    m,
                    "model ids with one range, like \"connectivity/feather_berts_{0..100}\"",
                )
            })?;
            let refs = repos
                .iter()
                .map(|r| {
                    hub_ref(
                        &At {
                            value: r.clone(),
                            at: pattern.at.clone(),
                        },
                        &z.revision,
                        "zoo",
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let names: Vec<String> = refs.iter().map(|r| r.name().to_owned()).collect();
            if let Some(dup) = (1..names.len()).find(|&i| names[..i].contains(&names[i])) {
                return Err(invalid(
                    &pattern.at,
                    "zoo.hub",
                    format!("two members would be called `{}`", names[dup]),
                    "model ids whose names (after `/`) differ",
                ));
            }
            let shown = format!("the Hub pattern `{}`", pattern.value);
            (ZooFrom::Hub(refs), names, pattern, shown)
        }
        _ => {
            return Err(invalid(
                &z.at,
                "zoo",
                "a zoo needs exactly one of `dir` and `hub`",
                "`dir = \"folder of checkpoints\"` or `hub = \"owner/name_{0..100}\"`",
            ))
        }
    };
    let (where_key, what) = match &from {
        ZooFrom::Dir(_) => ("zoo.dir", "is not a subdirectory of {} holding config.json"),
        ZooFrom::Hub(_) => ("zoo.hub", "is not a model that {} names"),
    };
    let members = match &z.members {
        Some(chosen) => {
            for name in chosen.iter() {
                if !found.contains(name) {
                    let known: Vec<&str> = found.iter().map(String::as_str).collect();
                    let mut e = dangling(
                        &At {
                            value: name.clone(),
                            at: chosen.at.clone(),
                        },
                        "zoo.members",
                        " checkpoint",
                        &known,
                    );
                    if let ManifestError::Invalid { message, .. } = &mut e {
                        *message = format!("`{name}` {}", what.replace("{}", &found_where));
                    }
                    return Err(e);
                }
            }
            chosen.value.clone()
        }
        None => found.clone(),
    };
    // Members name nodes (`evaluate/mnli/model=<member>`) and report rows.
    for m in &members {
        let at = z.members.as_ref().map_or(&found_at.at, |c| &c.at);
        check_name(at, "zoo.members", "zoo member", m, true)?;
    }
    if members.len() > super::spec::MAX_SEEDS as usize {
        return Err(invalid(
            &found_at.at,
            where_key,
            format!("{found_where} holds {} checkpoints", members.len()),
            format!(
                "at most {} (list a subset in `members`, or split the zoo)",
                super::spec::MAX_SEEDS
            ),
        ));
    }
    if members.len() < 2 {
        return Err(invalid(
            &found_at.at,
            where_key,
            format!(
                "{found_where} holds {} checkpoint(s){}",
                members.len(),
                match from {
                    ZooFrom::Dir(_) => " (subdirectories with config.json)",
                    ZooFrom::Hub(_) => "",
                }
            ),
            "at least 2 checkpoints to compare",
        ));
    }
    // A chosen subset of Hub members keeps its references, in the chosen order.
    let from = match from {
        ZooFrom::Hub(refs) => ZooFrom::Hub(
            members
                .iter()
                .map(|m| refs[found.iter().position(|f| f == m).expect("checked above")].clone())
                .collect(),
        ),
        dir => dir,
    };
    let tokenizer = match (&z.tokenizer, &from) {
        (None, _) => None,
        (Some(t), ZooFrom::Hub(_)) => {
            let repo = At {
                value: t.hub.clone(),
                at: t.at.clone(),
            };
            let rev = t.revision.clone().map(|value| At {
                value,
                at: t.at.clone(),
            });
            Some(hub_ref(&repo, &rev, "zoo.tokenizer")?)
        }
        (Some(t), ZooFrom::Dir(_)) => {
            return Err(invalid(
                &t.at,
                "zoo.tokenizer",
                "`tokenizer` with a `dir` zoo",
                "tokenizer files in each member's directory (or a `hub` zoo)",
            ))
        }
    };
    let steps = match &z.steps {
        None => None,
        Some(t) => {
            let ok = t.value.contains("{step}")
                && !t.value.starts_with('/')
                && !t
                    .value
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..")
                && t.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "{}-_./=".contains(c));
            if !ok {
                return Err(invalid(
                    &t.at,
                    "zoo.steps",
                    format!("`{}` does not name where step n is", t.value),
                    "a relative subfolder (`dir`) or a revision (`hub`) with `{step}` in it, \
                     like \"checkpoint-{step}\" (letters, digits, - _ . / =)",
                ));
            }
            Some(ZooSteps {
                template: t.value.clone(),
                hub: BTreeMap::new(),
            })
        }
    };
    Ok(Finetune {
        seeds: (0..members.len() as u64).collect(),
        origin: Origin::Zoo {
            members,
            from,
            tokenizer,
            steps,
        },
        tasks: vec![task.value.clone()],
    })
}

/// Subdirectories of `dir` that hold a `config.json`, sorted by name.
fn checkpoints_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.path().join("config.json").is_file() {
            v.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    v.sort();
    Ok(v)
}

fn resolve_diagnostics(
    raw: BTreeMap<String, At<RawDiagnostic>>,
    tasks: &BTreeMap<String, Task>,
    finetune: &Finetune,
) -> Result<BTreeMap<String, Diagnostic>, ManifestError> {
    let ft: Vec<&str> = finetune.tasks.iter().map(String::as_str).collect();
    raw.into_iter()
        .map(|(name, d)| {
            let key = format!("diagnostics.{name}");
            check_name(&d.at, "diagnostics", "diagnostic", &name, false)?;
            if tasks.contains_key(&name) {
                return Err(invalid(
                    &d.at,
                    &key,
                    format!("`{name}` is already a task name"),
                    "diagnostic names distinct from task names",
                ));
            }
            let task = d.task.as_ref().ok_or_else(|| {
                invalid(
                    &d.at,
                    &format!("{key}.task"),
                    "missing `task`",
                    "the finetuned task whose models this set diagnoses",
                )
            })?;
            if !finetune.tasks.contains(&task.value) {
                return Err(dangling(
                    task,
                    &format!("{key}.task"),
                    " finetuned task",
                    &ft,
                ));
            }
            let given = [
                ("file", d.file.is_some()),
                ("generate", d.generate.is_some()),
            ];
            let (format, source) = match download(&d.source, &d.format, &given, &key)? {
                Some(downloaded) => downloaded,
                None => {
                    let format = d.format.as_ref().ok_or_else(|| {
                        invalid(
                            &d.at,
                            &key,
                            "missing `format`",
                            "one of cola, mnli, qqp, hans, paws, jsonl, generated (or `source`)",
                        )
                    })?;
                    let source =
                        resolve_source(&d.at, &key, format.value, None, None, d.generate.as_ref())?;
                    let source = match (source, &d.file) {
                        (DataSource::Files { .. }, Some(f)) => DataSource::Files {
                            train: None,
                            eval: [("file".to_owned(), rel(f))].into(),
                        },
                        (DataSource::Files { .. }, None) => {
                            return Err(invalid(
                                &d.at,
                                &format!("{key}.file"),
                                "missing `file`",
                                "the diagnostic set's path (or `source`)",
                            ))
                        }
                        (gen, _) => gen,
                    };
                    (format.value, source)
                }
            };
            let labels = match &d.labels {
                Some(_) => labels_of(&d.labels, &d.at, &key)?,
                None => tasks[&task.value].labels.clone(),
            };
            let (surface, score) = surface_and_score(
                &key,
                &labels,
                d.surface.as_ref(),
                d.metric.as_ref(),
                d.metric_where.as_ref(),
                d.metric_held_out.as_ref(),
            )?;
            let strategy = match &d.strategy {
                Some(s) => Some(check_strategy(s, &key)?),
                None => None,
            };
            Ok((
                name.clone(),
                Diagnostic {
                    task: task.value.clone(),
                    format,
                    source,
                    labels,
                    max_examples: positive_count(&d.max_examples, &format!("{key}.max_examples"))?,
                    on_bad_row: d.on_bad_row.unwrap_or(OnBadRow::Error),
                    fields: fields_of(d.fields.as_ref(), format, &d.at, &key)?,
                    surface,
                    score,
                    strategy,
                },
            ))
        })
        .collect()
}

/// Resolve `cola.dev` (a task split) or `hans` (a diagnostic).
fn eval_ref(
    r: &At<String>,
    key: &str,
    tasks: &BTreeMap<String, Task>,
    diagnostics: &BTreeMap<String, Diagnostic>,
) -> Result<EvalSet, ManifestError> {
    if diagnostics.contains_key(&r.value) {
        return Ok(EvalSet::Diagnostic(r.value.clone()));
    }
    let mut known: Vec<String> = diagnostics.keys().cloned().collect();
    for (t, task) in tasks {
        match &task.source {
            DataSource::Files { eval, .. } => known.extend(eval.keys().map(|s| format!("{t}.{s}"))),
            DataSource::Generated(_) => known.push(format!("{t}.eval")),
            DataSource::Download(d) => known.push(format!("{t}.{}", d.eval_split)),
        }
    }
    if let Some((t, s)) = r.value.split_once('.') {
        if known.contains(&r.value) {
            return Ok(EvalSet::Split {
                task: t.into(),
                split: s.into(),
            });
        }
    }
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    Err(dangling(
        r,
        key,
        "n eval set (`task.split` or a diagnostic)",
        &known,
    ))
}

fn resolve_interpolate(
    i: At<RawInterpolate>,
    tasks: &BTreeMap<String, Task>,
    diagnostics: &BTreeMap<String, Diagnostic>,
    finetune: &Finetune,
) -> Result<Interpolate, ManifestError> {
    let pairs = i
        .pairs
        .clone()
        .map(|p| (p.value, p.at))
        .unwrap_or((PairSpec::All, i.at.clone()));
    let seed_ok = |s: u64| finetune.seeds.contains(&s);
    let bad = match &pairs.0 {
        PairSpec::All => None,
        PairSpec::List(l) => l.iter().flat_map(|(a, b)| [*a, *b]).find(|s| !seed_ok(*s)),
        PairSpec::Within(g) => g
            .iter()
            .flat_map(|s| s.0.iter().copied())
            .find(|s| !seed_ok(*s)),
    };
    if let Some(s) = bad {
        return Err(invalid(
            &pairs.1,
            "interpolate.pairs",
            format!("seed {s} is not among [finetune].seeds"),
            format!("seeds from {:?}", finetune.seeds),
        ));
    }
    if finetune.seeds.len() < 2 {
        return Err(invalid(
            &i.at,
            "interpolate",
            "interpolation needs at least 2 seeds",
            "[finetune].seeds with 2 or more seeds",
        ));
    }
    let n = finetune.seeds.len();
    let count = match &pairs.0 {
        PairSpec::All => n * (n - 1) / 2,
        PairSpec::List(l) => l.len(),
        PairSpec::Within(g) => g
            .iter()
            .map(|s| s.0.len() * s.0.len().saturating_sub(1) / 2)
            .sum(),
    };
    if count > super::spec::MAX_PAIRS {
        return Err(invalid(
            &pairs.1,
            "interpolate.pairs",
            format!(
                "{count} pairs, more than the {} a study may interpolate",
                super::spec::MAX_PAIRS
            ),
            "fewer seeds, `pairs = { within = [...] }` groups, or a list of pairs",
        ));
    }
    if let Some(m) = i.max_examples.as_ref().filter(|m| m.value == 0) {
        return Err(invalid(
            &m.at,
            "interpolate.max_examples",
            "a loss surface of 0 examples has no loss: every barrier would be 0",
            "max_examples >= 1 (the paper uses 512), or leave it out for every row",
        ));
    }
    if let Some(b) = i.batch_size.as_ref().filter(|b| b.value == 0) {
        return Err(invalid(
            &b.at,
            "interpolate.batch_size",
            "must be positive",
            "an integer >= 1",
        ));
    }
    let eval = i
        .eval
        .as_ref()
        .map(|refs| {
            refs.iter()
                .map(|r| eval_ref(r, "interpolate.eval", tasks, diagnostics))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(Interpolate {
        pairs: pairs.0,
        alphas: i
            .alphas
            .clone()
            .map_or_else(|| AlphaGrid::linspace(0.0, 1.0, 10), |a| a.value),
        eval,
        max_examples: i.max_examples.as_ref().map(|m| m.value),
        batch_size: i.batch_size.as_ref().map_or(128, |b| b.value),
        at: resolve_at(i.checkpoints.as_ref(), finetune)?,
    })
}

/// `[finetune] keep`: at least one step, every one positive.
fn resolve_keep(k: &At<Keep>) -> Result<Keep, ManifestError> {
    let expected = "`{ steps = [100, 200] }` (steps >= 1) or `{ every = 100 }` (>= 1)";
    match &k.value {
        Keep::Steps(s) if s.is_empty() => Err(invalid(
            &k.at,
            "finetune.keep",
            "no steps to keep",
            expected,
        )),
        Keep::Steps(s) if s.contains(&0) => Err(invalid(
            &k.at,
            "finetune.keep",
            "step 0 is the base model, not a finetuning checkpoint",
            expected,
        )),
        Keep::Every(0) => Err(invalid(&k.at, "finetune.keep", "every = 0", expected)),
        v => Ok(v.clone()),
    }
}

/// `[interpolate] at`: `"final"` and steps the finetune runs keep, each once; sorted into
/// training order.
fn resolve_at(
    at: Option<&At<Vec<String>>>,
    finetune: &Finetune,
) -> Result<Vec<Checkpoint>, ManifestError> {
    let Some(at) = at else {
        return Ok(vec![Checkpoint::Final]);
    };
    let expected = "a list of \"final\" and \"step=<n>\" for steps in [finetune].keep";
    if at.value.is_empty() {
        return Err(invalid(&at.at, "interpolate.at", "an empty list", expected));
    }
    let mut out = Vec::new();
    for s in &at.value {
        let c = Checkpoint::parse(s).ok_or_else(|| {
            invalid(
                &at.at,
                "interpolate.at",
                format!("`{s}` is not a checkpoint"),
                expected,
            )
        })?;
        if out.contains(&c) {
            return Err(invalid(
                &at.at,
                "interpolate.at",
                format!("`{s}` is listed twice"),
                expected,
            ));
        }
        if let Checkpoint::Step(step) = c {
            let keep =
                match &finetune.origin {
                    Origin::Trained { hyper, .. } => hyper.keep.as_ref(),
                    // Any step: the zoo's `steps` says where each is; a missing one is an error
                    // naming the folder or revision when the study is planned.
                    Origin::Zoo { steps: Some(_), .. } => {
                        out.push(c);
                        continue;
                    }
                    Origin::Zoo { steps: None, .. } => return Err(invalid(
                        &at.at,
                        "interpolate.at",
                        format!("`{s}`: the zoo does not say where its members keep steps"),
                        "`steps = \"checkpoint-{step}\"` (a subfolder) or `\"step_{step}\"` (a \
                         Hub revision) in [zoo], or [\"final\"] alone",
                    )),
                };
            if !keep.is_some_and(|k| k.names(step)) {
                return Err(invalid(
                    &at.at,
                    "interpolate.at",
                    format!("step {step} is not a checkpoint the finetune runs keep"),
                    format!(
                        "a step in [finetune].keep ({})",
                        keep.map_or("not set".into(), |k| serde_json::to_string(k)
                            .unwrap_or_default())
                    ),
                ));
            }
        }
        out.push(c);
    }
    if !out.contains(&Checkpoint::Final) {
        return Err(invalid(
            &at.at,
            "interpolate.at",
            "steps without \"final\": each step's basins are read against the final ones",
            "\"final\" in the list too",
        ));
    }
    out.sort();
    Ok(out)
}

fn resolve_cluster(
    c: RawCluster,
    tasks: &BTreeMap<String, Task>,
    diagnostics: &BTreeMap<String, Diagnostic>,
    models: usize,
) -> Result<Cluster, ManifestError> {
    let eval = c
        .eval
        .as_ref()
        .map(|r| eval_ref(r, "cluster.eval", tasks, diagnostics))
        .transpose()?;
    let k = match &c.k {
        None => ClusterK::Fixed(2),
        Some(v) => match &v.value {
            toml::Value::Integer(n) if *n > models as i64 => {
                return Err(invalid(
                    &v.at,
                    "cluster.k",
                    format!("{n} clusters of {models} models"),
                    format!("k from 1 to {models}, or \"eigengap\""),
                ))
            }
            toml::Value::Integer(n) if *n >= 1 => ClusterK::Fixed(*n as u32),
            toml::Value::String(s) if s == "eigengap" => ClusterK::Eigengap,
            other => {
                return Err(invalid(
                    &v.at,
                    "cluster.k",
                    format!("`{other}` is not a cluster count"),
                    "a positive integer or \"eigengap\"",
                ))
            }
        },
    };
    let delta =
        match &c.delta {
            None => ClusterDelta::Fixed(1.0),
            Some(d) => match &d.value {
                toml::Value::String(s) if s == "median" => ClusterDelta::Median(MedianTag::Median),
                v => match v.as_float().or(v.as_integer().map(|i| i as f64)) {
                    Some(x) if x > 0.0 && x.is_finite() => ClusterDelta::Fixed(x),
                    _ => return Err(invalid(
                        &d.at,
                        "cluster.delta",
                        format!("`{v}` is not a usable kernel width"),
                        "a positive number (the paper uses 1.0) or \"median\" (the median barrier)",
                    )),
                },
            },
        };
    Ok(Cluster {
        eval,
        barrier: c.barrier.unwrap_or(BarrierKind::Convexity),
        method: c.method.unwrap_or(ClusterMethod::Spectral),
        k,
        delta,
        bootstrap: c.bootstrap.unwrap_or(200),
    })
}

/// A task's or diagnostic's `surface`, `metric` and `metric_where`, checked against its labels:
/// a `label` filter names declared labels, `n` is at least 1, F1 needs two labels.
fn surface_and_score(
    key: &str,
    labels: &[String],
    surface: Option<&At<Surface>>,
    metric: Option<&At<Metric>>,
    metric_where: Option<&At<Where>>,
    metric_held_out: Option<&At<bool>>,
) -> Result<(Option<Surface>, Option<Score>), ManifestError> {
    let check_where = |w: &Where, at: &Location, field: &str| -> Result<(), ManifestError> {
        for (column, values) in &w.0 {
            if column == "label" {
                if let Some(bad) = values.iter().find(|v| !labels.contains(v)) {
                    return Err(invalid(
                        at,
                        &format!("{key}.{field}.label"),
                        format!("`{bad}` is not one of the set's labels"),
                        format!("one of {labels:?}"),
                    ));
                }
            }
        }
        Ok(())
    };
    if let Some(s) = surface {
        check_where(&s.filter, &s.at, "surface.where")?;
        if s.n == Some(0) {
            return Err(invalid(
                &s.at,
                &format!("{key}.surface.n"),
                "a surface of 0 examples has no loss to interpolate",
                "n >= 1 (the paper uses 512), or leave it out for every matching row",
            ));
        }
    }
    if let Some(w) = metric_where {
        check_where(w, &w.at, "metric_where")?;
    }
    let score = match (metric, metric_where) {
        (Some(m), _) if m.value == Metric::F1 && labels.len() != 2 => {
            return Err(invalid(
                &m.at,
                &format!("{key}.metric"),
                format!(
                    "F1 is defined for two labels; this set has {}",
                    labels.len()
                ),
                "metric = \"accuracy\" or \"mcc\"",
            ))
        }
        (Some(m), w) => Some(Score {
            metric: m.value,
            filter: w.map(|w| w.value.clone()).unwrap_or_default(),
            held_out: metric_held_out.is_some_and(|h| h.value),
        }),
        (None, Some(w)) => {
            return Err(invalid(
                &w.at,
                &format!("{key}.metric_where"),
                "`metric_where` without `metric`",
                "metric = \"accuracy\" beside it",
            ))
        }
        (None, None) => None,
    };
    if let (None, Some(h)) = (metric, metric_held_out) {
        return Err(invalid(
            &h.at,
            &format!("{key}.metric_held_out"),
            "`metric_held_out` without `metric`",
            "metric = \"accuracy\" beside it",
        ));
    }
    Ok((surface.map(|s| s.value.clone()), score))
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

/// What is wrong with a builtin model's shape, if anything: every size positive and within
/// what a CPU study can hold, and the heads dividing the hidden size (each head takes an equal
/// slice of it).
fn builtin_problem(b: &RawBuiltin) -> Option<String> {
    let hidden = b.hidden.unwrap_or(64);
    let heads = b.heads.unwrap_or(2);
    for (name, value, max) in [
        ("layers", b.layers.unwrap_or(2), 48),
        ("hidden", hidden, 4096),
        ("heads", heads, 64),
        (
            "intermediate",
            b.intermediate.unwrap_or(hidden.saturating_mul(4)),
            16384,
        ),
        ("max_position", b.max_position.unwrap_or(64), 8192),
    ] {
        if value == 0 || value > max {
            return Some(format!("`{name}` is {value}; it must be from 1 to {max}"));
        }
    }
    if let Some(d) = b.dropout.filter(|d| !(0.0..1.0).contains(d)) {
        return Some(format!(
            "`dropout` is {d}; a probability in [0, 1) is expected"
        ));
    }
    (!hidden.is_multiple_of(heads))
        .then(|| format!("{heads} heads do not divide hidden = {hidden}"))
}
