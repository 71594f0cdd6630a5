//! `basins status`: counts per stage kind, and the last run's failures.

use std::path::PathBuf;

use basins_engine::ops;

use super::{print_json, Context};
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    manifest: PathBuf,
    #[arg(long)]
    json: bool,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let report = ops::status(&cx.open(&a.manifest)?)?;
    if a.json {
        print_json(&report);
        return Ok(Exit::Ok);
    }
    println!(
        "study `{}`: {} nodes (cache {})",
        report.study, report.nodes, report.cache
    );
    println!(
        "  {:<14} {:>7} {:>7} {:>8}",
        "kind", "fresh", "to run", "blocked"
    );
    for (k, c) in &report.by_kind {
        println!("  {k:<14} {:>7} {:>7} {:>8}", c.fresh, c.run, c.blocked);
    }
    for f in &report.last_run_failures {
        println!(
            "  last run failed: {} — {}",
            f["node"].as_str().unwrap_or("?"),
            f["message"].as_str().unwrap_or("")
        );
    }
    Ok(Exit::Ok)
}
