//! Each stage kind's params as one type: expansion builds the value, the engine keys its JSON,
//! and the kind deserialises the same type (Buck2's way: the value built at analysis time is the
//! value executed). A field renamed or retyped on one side does not compile on the other.
//!
//! Every node's recipe key covers this JSON, so the shapes here are frozen by the golden-key
//! test (`tests/golden_keys.rs`): fields that older studies never had are left out when unset
//! (`skip_serializing_if`), and fields are never renamed without a version bump.

use std::collections::BTreeMap;

use basins_engine::stage::Build;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::manifest::blocks::{Align, Blocks, Hold};
use crate::manifest::datasets::DownloadSpec;
use crate::manifest::hub_data::HubSplit;
use crate::manifest::{
    Architecture, BarrierKind, Checkpoint, Cluster, ClusterDelta, ClusterK, ClusterMethod,
    DataFormat, EvalSet, FinetuneHyper, GeneratorSpec, MergeMethod, OnBadRow, PairSpec,
    PretrainSpec, Score, SetData, Strategy, Surface,
};

/// `generate/<name>`: a generated data set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateParams {
    pub name: String,
    pub format: DataFormat,
    pub generate: GeneratorSpec,
}

/// `download/<data set>`: a public data set's release, checked against pinned digests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DownloadParams {
    pub download: DownloadSpec,
}

/// `download/<repo>/<config>/<split>`: one split of a Hub dataset repository, its parquet
/// files checked against the Hub's sha256 and written as rows basins reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubDataParams {
    #[serde(flatten)]
    pub data: HubSplit,
}

/// A Hub repository at a commit (`None`: not resolved; the CLI refuses to run it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubSource {
    pub repo: String,
    pub commit: Option<String>,
}

/// `hub/<name>`: a model's files from the Hub. Only the repository and the commit enter the key;
/// the revision a manifest names is how the commit was found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HubParams {
    #[serde(flatten)]
    pub source: HubSource,
    /// Where the tokenizer comes from when the repository has none (a zoo's `tokenizer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<HubSource>,
}

/// `pretrain/<model>`: a small BERT trained by the pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainParams {
    pub config: Architecture,
    pub pretrain: PretrainSpec,
}

/// How a data file is read: its layout, label names, field names and what to do with a bad row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataParams {
    pub format: DataFormat,
    pub labels: Vec<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    pub on_bad_row: OnBadRow,
}

impl From<&SetData> for DataParams {
    fn from(d: &SetData) -> Self {
        DataParams {
            format: d.format,
            labels: d.labels.clone(),
            fields: d.fields.clone(),
            on_bad_row: d.on_bad_row,
        }
    }
}

/// `finetune/<task>/seed=<n>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinetuneParams {
    pub task: String,
    #[serde(flatten)]
    pub data: DataParams,
    /// A cap on the training rows read.
    pub max_examples: Option<u64>,
    pub seed: u64,
    pub hyper: FinetuneHyper,
}

/// Where an eval set's rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOrigin {
    /// A split of the task's own data (`cola.dev`).
    Split(String),
    /// A diagnostic set, with its own cap on the rows read.
    Diagnostic { max_examples: Option<u64> },
}

/// One eval set as every model stage receives it: its data and its loss-surface selection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "EvalSetWire", into = "EvalSetWire")]
pub struct EvalSetParams {
    /// `cola.dev`, or the diagnostic's name.
    pub name: String,
    pub origin: SetOrigin,
    pub data: DataParams,
    /// The loss-surface subset: what interpolation and the barriers' endpoints use.
    pub surface: Surface,
}

impl EvalSetParams {
    /// A cap on the rows read at all (a diagnostic's `max_examples`).
    pub fn max_examples(&self) -> Option<u64> {
        match self.origin {
            SetOrigin::Split(_) => None,
            SetOrigin::Diagnostic { max_examples } => max_examples,
        }
    }

    /// A diagnostic set; false for the task's own (in-distribution) splits.
    pub fn diagnostic(&self) -> bool {
        matches!(self.origin, SetOrigin::Diagnostic { .. })
    }
}

/// [`EvalSetParams`] as its keys have always spelled it: `split` on a task's split,
/// `max_examples` (perhaps null) on a diagnostic, and a `diagnostic` flag on both.
#[derive(Serialize, Deserialize)]
struct EvalSetWire {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    split: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    max_examples: Option<Option<u64>>,
    diagnostic: bool,
    #[serde(flatten)]
    data: DataParams,
    surface: Surface,
}

/// A field that is present (perhaps as null), as against absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

impl From<EvalSetParams> for EvalSetWire {
    fn from(p: EvalSetParams) -> Self {
        let (split, max_examples) = match p.origin {
            SetOrigin::Split(s) => (Some(s), None),
            SetOrigin::Diagnostic { max_examples } => (None, Some(max_examples)),
        };
        EvalSetWire {
            diagnostic: max_examples.is_some(),
            name: p.name,
            split,
            max_examples,
            data: p.data,
            surface: p.surface,
        }
    }
}

impl From<EvalSetWire> for EvalSetParams {
    fn from(w: EvalSetWire) -> Self {
        let origin = match (w.diagnostic, w.split) {
            (false, Some(s)) => SetOrigin::Split(s),
            // A task's split always has its name; a set without one reads as a diagnostic.
            (_, _) => SetOrigin::Diagnostic {
                max_examples: w.max_examples.flatten(),
            },
        };
        EvalSetParams {
            name: w.name,
            origin,
            data: w.data,
            surface: w.surface,
        }
    }
}

/// An eval set with its primary score, as the stages that score models receive it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoredSetParams {
    #[serde(flatten)]
    pub set: EvalSetParams,
    pub score: Option<Score>,
    /// Each model's strategy by its primary score, where declared (only then in the params).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
}

/// `evaluate/<task>/<model>[@step=<n>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluateParams {
    pub eval_sets: Vec<EvalSetParams>,
    pub batch_size: usize,
    pub labels: Vec<String>,
    /// A kept step's directory in the finetune node's output (`checkpoints/step=<n>/`); the
    /// final `model/` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// `interpolate/<task>/<a>~<b>[@step=<n>]`, and a model's own path from a kept step to its end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterpolateParams {
    pub alphas: Vec<f64>,
    pub eval_sets: Vec<EvalSetParams>,
    pub batch_size: usize,
    pub labels: Vec<String>,
    /// As [`EvaluateParams::checkpoint`], for model a (and for b unless `to_final`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// Model b at its final weights whatever `checkpoint` says: the path from a model's kept
    /// step to its own end (`interpolate/<task>/<m>@step=<n>~final`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub to_final: bool,
    /// `[interpolate] mode = "adaptive"`: the path is an `interpolate_adaptive` node that
    /// evaluates only what its barrier's estimate needs. Absent in grid mode, so grid keys are
    /// those of studies older than the mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveParams>,
    /// Alpha 1 scored too: model b is one no evaluate node scores (B aligned to A). Absent
    /// otherwise, so other paths keep their keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scores_end: bool,
}

/// `interpolate/<task>/<a>~<b>/blocks`: each block's own path between a pair, the other
/// blocks held at either model, on the clustering's set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockPathParams {
    pub alphas: Vec<f64>,
    pub eval_sets: Vec<EvalSetParams>,
    pub batch_size: usize,
    pub labels: Vec<String>,
    pub blocks: Blocks,
    pub hold: Vec<Hold>,
}

/// `align/<task>/<a>~<b>`: model b's units matched to model a's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignParams {
    pub method: Align,
    pub labels: Vec<String>,
    /// The cap on weight matching's passes over the permutation groups.
    pub max_passes: usize,
    /// The order of the groups in each pass.
    pub seed: u64,
}

/// `blocks/<task>`: each block's barrier matrix, against the basins.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockBarriersParams {
    pub set: String,
    pub alphas: Vec<f64>,
    pub pairs: Vec<(u64, u64)>,
    pub seeds: Vec<u64>,
    pub hold: Vec<Hold>,
    pub barrier: BarrierKind,
    /// The clustering the basins came from, to cluster each block's matrix alike.
    pub clustering: Option<Clustering>,
}

/// `aligned/<task>`: every pair's barrier before and after alignment, and the basins after.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignedBarriersParams {
    pub set: String,
    pub alphas: Vec<f64>,
    pub pairs: Vec<(u64, u64)>,
    pub seeds: Vec<u64>,
    pub barrier: BarrierKind,
    pub clustering: Option<Clustering>,
}

/// An adaptive path's estimate: which barrier and under what contract.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveParams {
    /// The barrier estimated within the contract (the clustering's): convexity or endpoint.
    pub barrier: BarrierKind,
    pub contract: Contract,
}

/// How close an adaptive barrier estimate must get and what it may spend (see
/// `basins_analysis::adaptive`, which estimates under it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// The widest interval that counts as settled, in the barrier's units (nats).
    pub tolerance: f64,
    /// The share of the grid protocol's forward passes (interior alphas x examples) the path
    /// may use, in (0, 1]. The first block at every alpha is spent whatever the budget.
    pub budget: f64,
    /// Examples per alpha in the first pass, the forced ones included.
    pub block: usize,
    /// How many examples with the largest endpoint loss every alpha evaluates first.
    pub certain: usize,
    /// Half-width of a functional's interval, in standard errors.
    pub z: f64,
    /// Seeds the order of the examples after the forced ones.
    pub seed: u64,
}

/// The defaults: the tolerance and budget; the first block and the forced examples from
/// a replay on the 20-seed demo's stored losses (docs/performance.md): of the four settings
/// tried there, 48 and 16 was the one whose intervals held every grid value on both sets.
impl Default for Contract {
    fn default() -> Self {
        Contract {
            tolerance: 0.01,
            budget: 0.2,
            block: 48,
            certain: 16,
            z: 4.0,
            seed: 0,
        }
    }
}

/// `barriers/<task>[@step=<n>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BarriersParams {
    pub alphas: Vec<f64>,
    pub pairs: Vec<(u64, u64)>,
    pub seeds: Vec<u64>,
    pub bootstrap: usize,
}

/// How a barrier matrix becomes basins: `[cluster]` as a cluster or controls node reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Clustering {
    pub barrier: BarrierKind,
    pub method: ClusterMethod,
    pub k: ClusterK,
    pub delta: ClusterDelta,
}

impl From<&Cluster> for Clustering {
    fn from(c: &Cluster) -> Self {
        Clustering {
            barrier: c.barrier,
            method: c.method,
            k: c.k.clone(),
            delta: c.delta.clone(),
        }
    }
}

/// `cluster/<task>[@step=<n>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterParams {
    /// The eval set whose barrier matrix is clustered.
    pub eval: String,
    #[serde(flatten)]
    pub clustering: Clustering,
    pub bootstrap: usize,
    pub seeds: Vec<u64>,
    /// A zoo's member names, in seed order (the report shows them instead of numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
}

/// `diagnostics/<task>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiagnosticsParams {
    pub eval_sets: Vec<ScoredSetParams>,
    pub names: Vec<String>,
    pub seeds: Vec<u64>,
}

/// `controls/<task>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlsParams {
    /// The clustering's eval set.
    pub set: String,
    #[serde(flatten)]
    pub clustering: Clustering,
    pub seeds: Vec<u64>,
    pub bootstrap: usize,
    /// Relabellings for the permutation p-value of a partition's agreement with the strategies.
    pub permutations: usize,
}

/// An eval set as `dynamics` reads it: scored, and whether a kept step's evaluate node scores
/// it too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamicsSetParams {
    #[serde(flatten)]
    pub set: ScoredSetParams,
    pub at_steps: bool,
}

impl DynamicsSetParams {
    /// The eval set (its name, origin, data and surface).
    pub fn eval(&self) -> &EvalSetParams {
        &self.set.set
    }

    /// The eval set's name.
    pub fn name(&self) -> &str {
        &self.set.set.name
    }
}

/// The paths from each kept step to the model's own final weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnPathParams {
    pub set: String,
    pub alphas: Vec<f64>,
    pub barrier: BarrierKind,
}

/// How `dynamics` predicts a run's final basin from a few reference runs per basin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictParams {
    pub references: Vec<usize>,
    pub draws: usize,
}

/// `dynamics/<task>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamicsParams {
    /// The clusterings' checkpoints, in training order, `final` last.
    pub steps: Vec<Checkpoint>,
    pub seeds: Vec<u64>,
    pub scored: Vec<DynamicsSetParams>,
    pub predict: PredictParams,
    pub own: OwnPathParams,
}

/// One file of the study's manifest as it was when the report was made (the study file and
/// what it includes), named relative to the study file's folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestText {
    pub path: String,
    pub text: String,
}

/// `report`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportParams {
    pub title: String,
    pub bootstrap: usize,
    pub study: String,
    pub config: StudyConfig,
    pub manifest: Vec<ManifestText>,
    pub build: Build,
    /// `[report] expect`: the published clusters the page compares with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<crate::manifest::expect::Expect>,
}

/// The study's settings as the report shows them: canonical (reordering or commenting the
/// manifest changes nothing) and free of file paths (data enter through input digests).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyConfig {
    pub backend: crate::manifest::Backend,
    pub precision: crate::manifest::Precision,
    pub finetune: FinetuneConfig,
    pub interpolate: Option<InterpolateConfig>,
    pub cluster: Option<ClusterConfig>,
    pub tasks: BTreeMap<String, SetConfig>,
    pub diagnostics: BTreeMap<String, DiagnosticConfig>,
}

/// Where the models come from, as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FinetuneConfig {
    Trained {
        model: String,
        tasks: Vec<String>,
        seeds: Vec<u64>,
        hyper: FinetuneHyper,
    },
    Zoo {
        zoo: Vec<String>,
        tasks: Vec<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterpolateConfig {
    pub pairs: PairsConfig,
    pub alphas: Vec<f64>,
    pub eval: Option<Vec<String>>,
    pub max_examples: Option<u64>,
    /// `mode = "adaptive"`'s contract; absent in grid mode (older reports' keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<crate::manifest::Adaptive>,
    /// `blocks` and `hold`; absent without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<crate::manifest::blocks::BlockPaths>,
    /// `align`; absent without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<Align>,
}

/// `[interpolate] pairs` as the report shows it ([`PairSpec`] as serde writes it; the
/// manifest's own spelling is another).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PairsConfig {
    All,
    Within(Vec<Vec<u64>>),
    List(Vec<(u64, u64)>),
}

impl From<&PairSpec> for PairsConfig {
    fn from(p: &PairSpec) -> Self {
        match p {
            PairSpec::All => PairsConfig::All,
            PairSpec::Within(groups) => {
                PairsConfig::Within(groups.iter().map(|g| g.0.clone()).collect())
            }
            PairSpec::List(l) => PairsConfig::List(l.clone()),
        }
    }
}

/// `[cluster]` as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// The eval set (`None`: the first loss-surface set).
    pub eval: Option<EvalSet>,
    #[serde(flatten)]
    pub clustering: Clustering,
    pub bootstrap: usize,
}

/// A task's eval data as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetConfig {
    pub format: DataFormat,
    pub surface: Option<Surface>,
    pub score: Option<Score>,
}

/// A diagnostic as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiagnosticConfig {
    pub task: String,
    #[serde(flatten)]
    pub set: SetConfig,
    pub strategy: Option<Strategy>,
}

/// A sweep's sub-study: its label and the values it sets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub label: String,
    /// The swept keys' values, as the manifest gives them (any TOML value).
    pub values: Value,
}

/// `report` of a sweep: the sub-studies' reports compared.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepParams {
    pub title: String,
    pub study: String,
    pub keys: Vec<String>,
    pub variants: Vec<Variant>,
}

/// How a `merge` node combines its members (`[merge] methods`, with the settings each uses).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum MergeRecipe {
    Average,
    TaskArithmetic { scale: f64 },
    Ties { density: f64, scale: f64 },
}

/// One model a `merge` node reads (input [`crate::roles::member`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeMember {
    pub seed: u64,
    /// As errors and the report name it: `seed=3`, or a zoo member's name.
    pub name: String,
}

/// `merge/<task>/<soup>/<method>`: one soup of a task's models. A base-relative recipe reads
/// the model they were finetuned from (input [`crate::roles::MERGE_BASE`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergeParams {
    pub recipe: MergeRecipe,
    /// In the order they are summed.
    pub members: Vec<MergeMember>,
    /// The task's labels, in its order: every member's head must have them in that order.
    pub labels: Vec<String>,
}

/// `merge/<task>/greedy/average`: the greedy soup of a task's models (Wortsman et al., 2022).
/// Members are taken in order of their score on `set` (from their evaluate nodes, inputs
/// [`crate::roles::endpoint`]), best first; each is kept if the uniform soup with it scores at
/// least as well on `set` as the soup without it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GreedyParams {
    pub members: Vec<MergeMember>,
    pub labels: Vec<String>,
    /// The held-out split it is chosen on (input [`crate::roles::eval`]).
    pub set: EvalSetParams,
    pub batch_size: usize,
}

/// Which soup a `soups` row is: what its members have in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "group", rename_all = "snake_case")]
pub enum SoupGroup {
    /// The models of one basin.
    Basin { basin: usize },
    /// Every model.
    All,
    /// A control: as many models as basin `basin` has, drawn across basins.
    Cross { basin: usize },
    /// The greedy soup.
    Greedy,
}

/// One soup as `soups/<task>` reads it: its evaluate node is input [`crate::roles::soup`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoupSpec {
    /// `basin-0`, `all`, `cross-0-1`, `greedy`.
    pub soup: String,
    pub method: MergeMethod,
    #[serde(flatten)]
    pub group: SoupGroup,
    /// Its members' seeds; the greedy soup's are those it was chosen from.
    pub members: Vec<u64>,
}

impl SoupSpec {
    /// Whether it has paths to its members: a uniform soup of two or more (not the greedy
    /// soup, whose members are chosen as it runs).
    pub fn has_paths(&self) -> bool {
        self.method == MergeMethod::Average
            && self.members.len() > 1
            && self.group != SoupGroup::Greedy
    }
}

/// `soups/<task>`: every soup of a task beside its members, the ensemble of the same members
/// and the controls, from stored outputs (no forward pass).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoupsParams {
    pub eval_sets: Vec<ScoredSetParams>,
    /// The paths from each uniform soup of two or more models to each of its members, on the
    /// clustering's set (inputs [`crate::roles::soup_path`]); none without `[interpolate]`.
    pub paths: Option<SoupPaths>,
    pub seeds: Vec<u64>,
    pub soups: Vec<SoupSpec>,
}

/// Where a soup's paths to its members were scored, and which barrier the report gives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SoupPaths {
    pub alphas: Vec<f64>,
    pub barrier: BarrierKind,
    pub set: String,
}

/// What expansion reads of a task's final clustering (`cluster.json`, whose document has these
/// fields among others) to make its soups: each model's basin, in seed order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    pub seeds: Vec<u64>,
    pub assignments: Vec<usize>,
}

impl Partition {
    /// Each basin's seeds, basins in the clustering's numbering (empty ones left out).
    pub fn basins(&self) -> Vec<(usize, Vec<u64>)> {
        let mut by: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for (&seed, &b) in self.seeds.iter().zip(&self.assignments) {
            by.entry(b).or_default().push(seed);
        }
        by.into_iter().collect()
    }
}

/// The JSON of a kind's params, as a node holds it.
pub fn to_value<T: Serialize>(params: &T) -> Value {
    serde_json::to_value(params).expect("params are plain data: maps with string keys")
}
