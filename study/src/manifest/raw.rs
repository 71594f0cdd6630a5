//! The manifest exactly as one file spells it: every field optional, unknown keys refused, each
//! value that can be wrong later (a reference, a path) remembering where it was written.
//! Files are merged at this level (`include`, later keys win) before anything is resolved.

use std::collections::BTreeMap;

use basins_engine::settings::{ExecutorKind, SlurmResources};
use serde::Deserialize;

use super::at::At;
use super::builtin::{GeneratorSpec, PretrainSpec};
use super::spec::{AlphaGrid, Metric, PairSpec, SeedSet, Surface, Where};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Cpu,
    Cuda,
    /// burn's wgpu backend: any Vulkan/Metal/DX12 GPU, or lavapipe on the CPU.
    Wgpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    Bf16,
    F16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
/// A data file's layout: what the manifest declares and what `basins_stages::data` reads.
pub enum DataFormat {
    /// GLUE CoLA: no header; source, label, author's mark, sentence.
    Cola,
    /// GLUE MNLI: header; `sentence1`, `sentence2`, `gold_label`, `genre`.
    Mnli,
    /// GLUE QQP: header; `question1`, `question2`, `is_duplicate`.
    Qqp,
    /// HANS: header; `gold_label`, `sentence1`, `sentence2`, `heuristic`, `subcase`, `template`.
    Hans,
    /// PAWS: header; `id`, `sentence1`, `sentence2`, `label`.
    Paws,
    /// One JSON object per line; field names from `fields` (defaults: first, second, label).
    Jsonl,
    /// What basins' generators write: JSONL with the default field names.
    Generated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
/// What a reader does with a malformed row: stop naming file:line, or skip and count it.
pub enum OnBadRow {
    Error,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BarrierKind {
    Convexity,
    Endpoint,
    Accuracy,
}

impl BarrierKind {
    /// Every definition, in the order barrier documents and a path's barriers list them.
    pub const ALL: [BarrierKind; 3] = [
        BarrierKind::Convexity,
        BarrierKind::Endpoint,
        BarrierKind::Accuracy,
    ];

    /// Its place in [`BarrierKind::ALL`] (a path's barriers are indexed so).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name in params, barrier documents and reports (`convexity`, ...).
    pub fn name(self) -> &'static str {
        match self {
            BarrierKind::Convexity => "convexity",
            BarrierKind::Endpoint => "endpoint",
            BarrierKind::Accuracy => "accuracy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterMethod {
    Spectral,
    Hierarchical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedStream {
    DataOrder,
    HeadInit,
    Dropout,
    /// The base model too: each seed finetunes a builtin model pretrained from that seed, so
    /// the models differ in pretraining as well as finetuning (MultiBERTs-style).
    Pretrain,
}

impl SeedStream {
    /// Its name in the manifest, and in every seed's stream.
    pub fn name(self) -> &'static str {
        match self {
            SeedStream::DataOrder => "data_order",
            SeedStream::HeadInit => "head_init",
            SeedStream::Dropout => "dropout",
            SeedStream::Pretrain => "pretrain",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    pub include: Option<Vec<At<String>>>,
    pub study: Option<At<RawStudy>>,
    pub models: Option<BTreeMap<String, At<RawModel>>>,
    pub tasks: Option<BTreeMap<String, At<RawTask>>>,
    pub finetune: Option<At<RawFinetune>>,
    pub zoo: Option<At<RawZoo>>,
    pub interpolate: Option<At<RawInterpolate>>,
    pub diagnostics: Option<BTreeMap<String, At<RawDiagnostic>>>,
    pub cluster: Option<RawCluster>,
    pub merge: Option<At<RawMerge>>,
    pub report: Option<RawReport>,
    /// Only the file that is run may have one (see `sweep.rs`).
    pub sweep: Option<super::sweep::RawSweep>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStudy {
    pub name: Option<At<String>>,
    pub backend: Option<Backend>,
    pub precision: Option<At<Precision>>,
    pub cache: Option<At<String>>,
    pub executor: Option<ExecutorKind>,
    pub slurm: Option<At<RawSlurm>>,
}

/// `[study.slurm]`: resources for every job, overridden per stage kind in
/// `[study.slurm.kinds.<kind>]`, and how the executor paces itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlurm {
    // The resource keys of `SlurmResources`, repeated rather than `#[serde(flatten)]`ed: flatten
    // buffers the table, which loses the spans `At` records and disables deny_unknown_fields.
    pub partition: Option<String>,
    pub time: Option<String>,
    pub mem: Option<String>,
    pub cpus: Option<u32>,
    pub gpus: Option<u32>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub extra_args: Option<Vec<String>>,
    pub max_jobs: Option<At<u32>>,
    pub poll_max_s: Option<At<f64>>,
    pub record_latency_s: Option<At<f64>>,
    pub kinds: Option<BTreeMap<String, At<SlurmResources>>>,
}

impl RawSlurm {
    /// The resources every job asks for unless its kind overrides them.
    pub fn resources(&self) -> SlurmResources {
        SlurmResources {
            partition: self.partition.clone(),
            time: self.time.clone(),
            mem: self.mem.clone(),
            cpus: self.cpus,
            gpus: self.gpus,
            account: self.account.clone(),
            qos: self.qos.clone(),
            extra_args: self.extra_args.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// A Hugging Face model directory (config.json + model.safetensors or pytorch_model.bin).
    pub path: Option<At<String>>,
    /// A model on the Hugging Face Hub, by repository id (`owner/name`).
    pub hub: Option<At<String>>,
    /// With `hub`: a branch, tag or commit (`main` when absent).
    pub revision: Option<At<String>>,
    /// A small BERT trained by the pipeline itself (`pretrain` stage).
    pub builtin: Option<RawBuiltin>,
    pub pretrain: Option<At<PretrainSpec>>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuiltin {
    pub layers: Option<u32>,
    pub hidden: Option<u32>,
    pub heads: Option<u32>,
    pub intermediate: Option<u32>,
    pub max_position: Option<u32>,
    /// Hidden and attention dropout while pretraining (BERT's 0.1 when absent).
    pub dropout: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    /// A data set basins downloads (`glue/cola`, or a Hub dataset table), instead of files.
    pub source: Option<At<super::hub_data::RawSource>>,
    pub format: Option<At<DataFormat>>,
    pub train: Option<At<String>>,
    pub eval: Option<BTreeMap<String, At<String>>>,
    pub generate: Option<At<GeneratorSpec>>,
    pub labels: Option<At<Vec<String>>>,
    pub max_examples: Option<At<u64>>,
    pub on_bad_row: Option<OnBadRow>,
    pub fields: Option<BTreeMap<String, String>>,
    /// The loss-surface subset of each eval split.
    pub surface: Option<At<Surface>>,
    /// The primary metric of each eval split, over the rows `metric_where` selects.
    pub metric: Option<At<Metric>>,
    pub metric_where: Option<At<Where>>,
    /// Score only on `metric_where` rows outside the loss surface (held out from clustering).
    pub metric_held_out: Option<At<bool>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFinetune {
    pub model: Option<At<String>>,
    pub tasks: Option<Vec<At<String>>>,
    pub seeds: Option<At<SeedSet>>,
    pub vary: Option<Vec<SeedStream>>,
    pub lr: Option<At<f64>>,
    pub batch_size: Option<At<u32>>,
    pub epochs: Option<At<f64>>,
    pub max_steps: Option<At<u64>>,
    pub warmup_ratio: Option<At<f64>>,
    pub weight_decay: Option<At<f64>>,
    pub max_len: Option<At<u32>>,
    pub dropout: Option<At<f64>>,
    pub grad_clip: Option<At<f64>>,
    pub eval_every: Option<u64>,
    pub checkpoint_every: Option<u64>,
    /// Intermediate checkpoints kept as outputs (`{ steps = [...] }` or `{ every = n }`).
    pub keep: Option<At<super::steps::Keep>>,
}

/// Already finetuned checkpoints to analyse instead of training (`[zoo]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZoo {
    pub task: Option<At<String>>,
    pub dir: Option<At<String>>,
    /// Checkpoints on the Hugging Face Hub: a repository id with one `{a..b}` range.
    pub hub: Option<At<String>>,
    /// With `hub`: the branch, tag or commit of every member (`main` when absent).
    pub revision: Option<At<String>>,
    pub members: Option<At<Vec<String>>>,
    /// With `hub`: where members without tokenizer files take them from (finetuned
    /// checkpoints are often published without), `{ hub = "owner/name", revision = "..." }`.
    pub tokenizer: Option<At<RawHubModel>>,
    /// Where each member keeps its weights at training step n, `{step}` standing for n: a
    /// subfolder of the member's directory (`dir`, e.g. "checkpoint-{step}") or a revision of
    /// its repository (`hub`, e.g. "step_{step}").
    pub steps: Option<At<String>>,
}

/// A Hub model named inline: `{ hub = "owner/name", revision = "main" }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHubModel {
    pub hub: String,
    pub revision: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterpolate {
    pub pairs: Option<At<PairSpec>>,
    pub alphas: Option<At<AlphaGrid>>,
    pub eval: Option<Vec<At<String>>>,
    pub max_examples: Option<At<u64>>,
    pub batch_size: Option<At<u32>>,
    /// The checkpoints mapped (`at`): `"final"` and kept steps (`"step=1000"`). Named apart
    /// from the key so as not to shadow `At::at`, the section's location.
    #[serde(rename = "at")]
    pub checkpoints: Option<At<Vec<String>>>,
    /// `"grid"` (every alpha on every example) or `"adaptive"` (see [`InterpolateMode`]).
    pub mode: Option<At<InterpolateMode>>,
    pub tolerance: Option<At<f64>>,
    pub budget: Option<At<f64>>,
    /// Per-block paths: `"per_layer"` or a list of blocks (see `blocks.rs`).
    pub blocks: Option<At<super::blocks::Blocks>>,
    /// Where a block path holds the other blocks: `"a"` or `"both"`.
    pub hold: Option<At<super::blocks::RawHold>>,
    /// `"weights"`: paths to model B permuted to match A, beside the plain ones.
    pub align: Option<At<super::blocks::Align>>,
}

/// How a path's barrier is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InterpolateMode {
    /// The paper's protocol: every grid alpha on every loss-surface example.
    Grid,
    /// The barrier estimated from as few forward passes as its contract needs.
    Adaptive,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiagnostic {
    pub task: Option<At<String>>,
    /// A data set basins downloads (`cola/out-of-domain`, or a Hub dataset table), instead of
    /// `format` + `file`.
    pub source: Option<At<super::hub_data::RawSource>>,
    pub format: Option<At<DataFormat>>,
    pub file: Option<At<String>>,
    pub generate: Option<At<GeneratorSpec>>,
    pub labels: Option<At<Vec<String>>>,
    pub max_examples: Option<At<u64>>,
    pub on_bad_row: Option<OnBadRow>,
    pub fields: Option<BTreeMap<String, String>>,
    pub surface: Option<At<Surface>>,
    pub metric: Option<At<Metric>>,
    pub metric_where: Option<At<Where>>,
    pub metric_held_out: Option<At<bool>>,
    pub strategy: Option<At<crate::manifest::Strategy>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub eval: Option<At<String>>,
    pub barrier: Option<BarrierKind>,
    pub method: Option<ClusterMethod>,
    pub k: Option<At<toml::Value>>,
    pub delta: Option<At<toml::Value>>,
    pub bootstrap: Option<u32>,
}

/// `[merge]`: the soups of each task's basins (see `resolve/merge.rs`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMerge {
    pub methods: Option<At<Vec<MergeMethod>>>,
    pub controls: Option<At<u32>>,
    pub seed: Option<u64>,
    pub base: Option<At<String>>,
    pub density: Option<At<f64>>,
    pub scale: Option<At<f64>>,
    pub greedy: Option<At<String>>,
}

/// How a soup's members are combined (`[merge] methods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMethod {
    /// The uniform average of the members' weights.
    Average,
    /// The base plus the scaled sum of the members' task vectors.
    TaskArithmetic,
    /// TIES-merging of the members' task vectors, added to the base.
    Ties,
}

impl MergeMethod {
    /// Its name in node ids and reports (`average`, `task-arithmetic`, `ties`).
    pub fn id(self) -> &'static str {
        match self {
            MergeMethod::Average => "average",
            MergeMethod::TaskArithmetic => "task-arithmetic",
            MergeMethod::Ties => "ties",
        }
    }

    /// Whether it merges against the model the members were finetuned from.
    pub fn needs_base(self) -> bool {
        !matches!(self, MergeMethod::Average)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    pub title: Option<String>,
    pub bootstrap: Option<u32>,
    /// The published clusters to compare with (`expect = { minority = [...], source = "..." }`).
    pub expect: Option<At<super::expect::RawExpect>>,
}

/// Field-by-field overlay: a value set in `other` (the later file) replaces ours.
pub trait Merge {
    fn merge(&mut self, other: Self);
}

macro_rules! merge_fields {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl Merge for $t {
            fn merge(&mut self, other: Self) {
                // Destructured whole: a field added to the section but not listed here does
                // not compile, rather than being dropped from every included file.
                let $t { $($f),* } = other;
                $( if $f.is_some() { self.$f = $f; } )*
            }
        }
    };
}

merge_fields!(RawStudy {
    name,
    backend,
    precision,
    cache,
    executor,
    slurm
});
// An include's `[study.slurm.kinds.<kind>]` over the file's: the executor's own overlay.
impl Merge for SlurmResources {
    fn merge(&mut self, other: Self) {
        *self = self.overlaid(&other);
    }
}
merge_fields!(RawSlurm {
    partition,
    time,
    mem,
    cpus,
    gpus,
    account,
    qos,
    extra_args,
    max_jobs,
    poll_max_s,
    record_latency_s,
    kinds
});
merge_fields!(RawMerge {
    methods,
    controls,
    seed,
    base,
    density,
    scale,
    greedy
});
merge_fields!(RawModel {
    path,
    hub,
    revision,
    builtin,
    pretrain
});
merge_fields!(RawTask {
    source,
    format,
    train,
    eval,
    generate,
    labels,
    max_examples,
    on_bad_row,
    fields,
    surface,
    metric,
    metric_where,
    metric_held_out
});
merge_fields!(RawFinetune {
    model,
    tasks,
    seeds,
    vary,
    lr,
    batch_size,
    epochs,
    max_steps,
    warmup_ratio,
    weight_decay,
    max_len,
    dropout,
    grad_clip,
    eval_every,
    checkpoint_every,
    keep
});
merge_fields!(RawZoo {
    task,
    dir,
    hub,
    revision,
    members,
    tokenizer,
    steps
});
merge_fields!(RawInterpolate {
    pairs,
    alphas,
    eval,
    max_examples,
    batch_size,
    checkpoints,
    mode,
    tolerance,
    budget,
    blocks,
    hold,
    align
});
merge_fields!(RawDiagnostic {
    task,
    source,
    format,
    file,
    generate,
    labels,
    max_examples,
    on_bad_row,
    fields,
    surface,
    metric,
    metric_where,
    metric_held_out,
    strategy
});
merge_fields!(RawCluster {
    eval,
    barrier,
    method,
    k,
    delta,
    bootstrap
});
merge_fields!(RawReport {
    title,
    bootstrap,
    expect
});

impl<T: Merge> Merge for At<T> {
    fn merge(&mut self, other: Self) {
        self.at = other.at;
        self.value.merge(other.value);
    }
}

impl<T: Merge> Merge for Option<T> {
    fn merge(&mut self, other: Self) {
        match (self.as_mut(), other) {
            (Some(a), Some(b)) => a.merge(b),
            (None, b @ Some(_)) => *self = b,
            _ => {}
        }
    }
}

impl<T: Merge> Merge for BTreeMap<String, T> {
    fn merge(&mut self, other: Self) {
        for (k, v) in other {
            match self.get_mut(&k) {
                Some(mine) => mine.merge(v),
                None => {
                    self.insert(k, v);
                }
            }
        }
    }
}

impl Merge for RawManifest {
    fn merge(&mut self, other: Self) {
        self.study.merge(other.study);
        self.models.merge(other.models);
        self.tasks.merge(other.tasks);
        self.finetune.merge(other.finetune);
        self.zoo.merge(other.zoo);
        self.interpolate.merge(other.interpolate);
        self.diagnostics.merge(other.diagnostics);
        self.cluster.merge(other.cluster);
        self.merge.merge(other.merge);
        self.report.merge(other.report);
    }
}
