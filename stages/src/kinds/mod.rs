//! The stage kinds this crate registers with the engine: the glue between the engine's
//! `StageContext` (params, inputs, output directory) and the domain code. Each kind reads its
//! params, resolves its inputs to files, calls into the library and writes its outputs. The
//! model kinds (pretrain, finetune, evaluate, interpolate, interpolate_blocks, merge,
//! greedy_soup, align) are `basins_models::kinds`, since they instantiate burn's generic code;
//! the data and analysis kinds (`blocks` and `aligned` among them) are here, and so is
//! `interpolate_adaptive`, which joins the estimator (analysis) to the models' forward passes
//! through `basins_models::kinds::open_path` (a trait object: no generic model code here).

mod adaptive;
mod barriers;
mod blocks;
mod cluster;
mod controls;
mod diagnostics;
mod download;
mod dynamics;
mod generate;
mod hub;
mod hub_data;
mod paths;
mod report;
mod soups;
mod sweep;

pub use adaptive::AdaptiveInterpolateKind;
pub use barriers::BarriersKind;
pub use blocks::{AlignedKind, BlocksKind};
pub use cluster::ClusterKind;
pub use controls::ControlsKind;
pub use diagnostics::DiagnosticsKind;
pub use download::DownloadKind;
pub use dynamics::DynamicsKind;
pub use generate::GenerateKind;
pub use hub::HubKind;
pub use hub_data::HubDataKind;
pub use report::ReportKind;
pub use soups::SoupsKind;
pub use sweep::SweepKind;

// The model kinds live with the model code (see `basins_models::kinds`).
pub use basins_models::kinds::{
    AlignKind, EvaluateKind, FinetuneKind, GreedySoupKind, InterpolateBlocksKind, InterpolateKind,
    MergeKind, PretrainKind,
};

// Not a kind: what hub and hub_data share (fetching checked files from the Hub).
mod hub_files;

// Not a kind: what barriers and dynamics read from evaluate and interpolate nodes.
use paths::{endpoint, path_between, stored_path, Endpoint};

// What every kind reads its params and inputs with (shared with the model kinds).
use basins_files::inputs::{node_files, params};

/// Document `file` (`barriers.json`, `cluster.json`, ...) of the node at input `role`, as its
/// type; an error names the file, the node and what is wrong.
pub(crate) fn node_doc<T: serde::de::DeserializeOwned>(
    ctx: &basins_engine::StageContext,
    role: &str,
    file: &str,
) -> anyhow::Result<T> {
    let (node, files) = node_files(ctx, role)?;
    let path = files
        .get(file)
        .ok_or_else(|| anyhow::anyhow!("`{node}` has no {file}"))?;
    crate::documents::read(path).map_err(|e| anyhow::anyhow!("{e} (output of `{node}`)"))
}
