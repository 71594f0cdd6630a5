//! `basins plan` (what would run and why) and `basins why NODE` (one node of it).

use std::path::PathBuf;

use basins_engine::study::Status;
use basins_engine::Study;

use super::{print_json, Context};
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct PlanArgs {
    manifest: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct WhyArgs {
    manifest: PathBuf,
    node: String,
    #[arg(long)]
    json: bool,
}

pub fn exec(a: PlanArgs, cx: &Context) -> anyhow::Result<Exit> {
    show_plan(&cx.open(&a.manifest)?, None, a.json)
}

pub fn exec_why(a: WhyArgs, cx: &Context) -> anyhow::Result<Exit> {
    show_plan(&cx.open(&a.manifest)?, Some(a.node), a.json)
}

fn show_plan(study: &Study, node: Option<String>, json: bool) -> anyhow::Result<Exit> {
    let plan = study.plan()?;
    let only = node.map(|n| study.node_index(&n)).transpose()?;
    let nodes: Vec<_> = plan
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|o| o == *i))
        .map(|(_, p)| p)
        .collect();
    if json {
        print_json(&nodes);
        return Ok(Exit::Ok);
    }
    let count = |s| plan.nodes.iter().filter(|p| p.status == s).count();
    if only.is_none() {
        println!(
            "study `{}`: {} fresh, {} to run, {} blocked on upstream",
            study.name(),
            count(Status::Fresh),
            count(Status::Run),
            count(Status::Blocked)
        );
    }
    for p in nodes {
        if only.is_none() && p.status == Status::Fresh {
            continue;
        }
        let status = match p.status {
            Status::Fresh => "fresh",
            Status::Run => "run",
            Status::Blocked => "blocked",
        };
        println!("{status:<8} {}", p.node);
        if p.status == Status::Fresh {
            println!(
                "         cached and current (key {})",
                p.key.map(|k| k.short()).unwrap_or_default()
            );
        }
        for r in &p.reasons {
            println!("         {r}");
        }
    }
    Ok(Exit::Ok)
}
