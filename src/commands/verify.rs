//! `basins verify`: re-execute cached nodes into scratch and compare with the cache.

use std::path::PathBuf;

use basins_engine::ops;

use super::Context;
use crate::command_prelude::print_json;
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    manifest: PathBuf,
    /// Check only this many nodes (chosen deterministically by key).
    #[arg(long)]
    sample: Option<usize>,
    #[arg(long)]
    json: bool,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let r = ops::verify(&cx.open(&a.manifest)?, a.sample)?;
    if a.json {
        print_json(&r);
    } else {
        for n in &r.nodes {
            println!(
                "{:<16} {:<40} {}",
                format!("{:?}", n.verdict),
                n.node,
                n.detail
            );
        }
        println!(
            "checked {} cached nodes ({} not cached, not checked)",
            r.checked, r.not_cached
        );
        for (kind, verdicts) in &r.by_kind {
            println!("  {kind:<14} {verdicts:?}");
        }
    }
    Ok(if r.ok() { Exit::Ok } else { Exit::Failed })
}
