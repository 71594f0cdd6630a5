//! The validated manifest: what `resolve` returns and the rest of the engine reads.

use super::*;

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
    /// `[merge]`: soups of each task's basins.
    pub merge: Option<Soups>,
    pub report: Option<Report>,
    pub sources: Vec<SourceFile>,
    /// `[sweep]`: the sub-studies this file makes (and then the fields above are the file's own
    /// values, used for the study's shared settings).
    pub sweep: Option<super::super::sweep::Sweep>,
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

#[derive(Debug, Clone, Serialize)]
pub enum Model {
    /// A Hugging Face directory on disk.
    Path(PathBuf),
    /// A model on the Hugging Face Hub, downloaded by a `hub/<name>` node.
    Hub(HubRef),
    /// A small BERT pretrained by the pipeline: architecture and pretraining settings.
    Builtin {
        config: Architecture,
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
    Download(super::super::datasets::DownloadSpec),
    /// A Hub dataset repository's splits (`source = { hub = "nyu-mll/glue", ... }`).
    Hub(HubData),
}

#[derive(Debug, Clone, Serialize)]
pub struct Task {
    /// Where the task is defined (errors about its use point here).
    #[serde(skip)]
    pub at: Location,
    #[serde(flatten)]
    pub data: SetData,
}

/// What a task and a diagnostic both say about their data: where it is, how it is read, its
/// loss-surface rows and its primary score.
#[derive(Debug, Clone, Serialize)]
pub struct SetData {
    pub format: DataFormat,
    pub source: DataSource,
    pub labels: Vec<String>,
    /// A cap on the rows read (a task's training rows; a diagnostic's rows).
    pub max_examples: Option<u64>,
    pub on_bad_row: OnBadRow,
    pub fields: BTreeMap<String, String>,
    /// The loss-surface subset of each eval split or of the diagnostic (None: the first
    /// `[interpolate].max_examples`).
    pub surface: Option<Surface>,
    /// The primary score of each eval split or of the diagnostic (None: the format's default,
    /// chosen by the stage).
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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// `mode = "adaptive"`: each path's barrier estimated within this contract; `None`: the
    /// grid protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<Adaptive>,
    /// `blocks` (and `hold`): each block's own path between every pair, on the clustering's
    /// set, at the final weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<crate::manifest::blocks::BlockPaths>,
    /// `align`: every pair's path again after model B's units are matched to A's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub align: Option<crate::manifest::blocks::Align>,
}

/// `[interpolate] mode = "adaptive"`: what each path's estimate must reach and may spend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adaptive {
    /// The widest interval that counts as settled, in the barrier's units.
    pub tolerance: f64,
    /// The share of the grid's forward passes a path may use.
    pub budget: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub task: String,
    #[serde(flatten)]
    pub data: SetData,
    pub strategy: Option<Strategy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterK {
    Fixed(u32),
    Eigengap,
}

impl ClusterK {
    /// The number of clusters when fixed; `None`: chosen from the data (the eigengap).
    pub fn fixed(&self) -> Option<usize> {
        match self {
            ClusterK::Fixed(k) => Some(*k as usize),
            ClusterK::Eigengap => None,
        }
    }
}

/// The affinity's kernel width: fixed (the paper: 1.0) or the median off-diagonal barrier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClusterDelta {
    Fixed(f64),
    /// Serialised as the string "median".
    Median(MedianTag),
}

impl ClusterDelta {
    /// The fixed kernel width, checked to be a positive number; `None` for "median", which
    /// each matrix sets for itself.
    pub fn fixed(&self) -> Result<Option<f64>, String> {
        match *self {
            ClusterDelta::Median(_) => Ok(None),
            ClusterDelta::Fixed(d) if d > 0.0 && d.is_finite() => Ok(Some(d)),
            ClusterDelta::Fixed(d) => Err(format!("`{d}` is not a kernel width")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// `[merge]`: which soups a study makes of each task's basins (once its clustering has run), and
/// how.
#[derive(Debug, Clone, Serialize)]
pub struct Soups {
    /// Every method makes each basin's soup and the soup of all models; the cross-basin
    /// controls are averages.
    pub methods: Vec<MergeMethod>,
    /// The `[models.<name>]` the members were finetuned from: what task arithmetic and TIES
    /// subtract (a trained study's own base; a zoo's only when named).
    pub base: Option<String>,
    /// TIES: the share of each task vector kept.
    pub density: f64,
    /// Task arithmetic and TIES: the factor on the merged task vector.
    pub scale: f64,
    /// Random groups, each the size of a basin but drawn across basins, per basin of two or
    /// more models.
    pub controls: u32,
    /// The seed of those draws.
    pub seed: u64,
    /// The split of each task the greedy soup is chosen on (members ordered by their score on
    /// it, each kept if the soup's score on it does not drop); no greedy soup without one.
    pub greedy: Option<String>,
}

impl DataSource {
    /// The eval splits a task's data has (`dev`, `eval`, ...).
    pub fn splits(&self) -> Vec<String> {
        match self {
            DataSource::Files { eval, .. } => eval.keys().cloned().collect(),
            DataSource::Generated(_) => vec!["eval".into()],
            DataSource::Download(d) => vec![d.eval_split.to_owned()],
            DataSource::Hub(h) => h.eval.keys().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub title: String,
    pub bootstrap: u32,
    /// The published clusters the report compares with.
    pub expect: Option<super::super::expect::Expect>,
}
