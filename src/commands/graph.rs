//! `basins graph`: the study's DAG as text or Graphviz.

use std::path::PathBuf;

use super::Context;
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    manifest: PathBuf,
    /// Graphviz output.
    #[arg(long)]
    dot: bool,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let study = cx.open(&a.manifest)?;
    print!(
        "{}",
        if a.dot {
            study.graph.to_dot()
        } else {
            study.graph.to_text()
        }
    );
    Ok(Exit::Ok)
}
