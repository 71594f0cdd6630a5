//! `basins status`: counts per stage kind, and the last run's failures.

use std::path::PathBuf;

use basins_engine::ops;

use super::Context;
use crate::command_prelude::print_json;
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
    if let Some(r) = &report.running {
        let state = if r.alive {
            "running"
        } else {
            "ended without finishing (its process is gone)"
        };
        println!("run {} {state}:", r.run_id);
        for n in &r.nodes {
            let progress = n.progress.as_ref().and_then(|p| {
                serde_json::from_value::<basins_engine::stage::Progress>(p.clone()).ok()
            });
            let elapsed = std::time::Duration::from_secs_f64(n.running_s);
            match (progress, n.updated_s) {
                (Some(p), Some(ago)) => println!(
                    "  {}: {} (updated {ago:.0}s ago)",
                    n.node,
                    basins_engine::events::describe(&p, elapsed)
                ),
                _ => println!("  {}: started {:.0}s ago", n.node, n.running_s),
            }
        }
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
