//! The stage kinds this crate registers with the engine: the glue between the engine's
//! `StageContext` (params, inputs, output directory) and the domain code. Each kind reads its
//! params, resolves its inputs to files, calls into the library and writes its outputs. The
//! model kinds (pretrain, finetune, evaluate, interpolate) are `basins_models::kinds`, since
//! they instantiate burn's generic code; the data and analysis kinds are here.

mod barriers;
mod cluster;
mod controls;
mod diagnostics;
mod download;
mod dynamics;
mod generate;
mod hub;
mod paths;
mod report;
mod sweep;

pub use barriers::BarriersKind;
pub use cluster::ClusterKind;
pub use controls::ControlsKind;
pub use diagnostics::DiagnosticsKind;
pub use download::DownloadKind;
pub use dynamics::DynamicsKind;
pub use generate::GenerateKind;
pub use hub::HubKind;
pub use report::ReportKind;
pub use sweep::SweepKind;

// The model kinds live with the model code (see `basins_models::kinds`).
pub use basins_models::kinds::{EvaluateKind, FinetuneKind, InterpolateKind, PretrainKind};

// Not a kind: what barriers and dynamics read from evaluate and interpolate nodes.
use paths::{endpoint, path_between, Endpoint};

// What every kind reads its params and inputs with (shared with the model kinds).
use basins_files::inputs::{node_files, params};

/// A JSON matrix with no nulls.
pub(crate) fn square(m: &serde_json::Value) -> Result<crate::cluster::Square, String> {
    let rows = m.as_array().ok_or("missing")?;
    rows.iter()
        .map(|r| {
            r.as_array()
                .ok_or("not a matrix")?
                .iter()
                .map(|v| v.as_f64().ok_or("some pairs were not interpolated"))
                .collect::<Result<Vec<f64>, _>>()
        })
        .collect::<Result<_, _>>()
        .map_err(str::to_owned)
}
