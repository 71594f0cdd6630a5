//! `basins plan` (what would run and why) and `basins why NODE` (one node of it).

use std::path::PathBuf;

use basins_engine::key::DirtyReason;
use basins_engine::study::Status;
use basins_engine::Study;
use basins_study::pin::{How, Pin};

use super::Context;
use crate::command_prelude::print_json;
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
    let (study, pins) = cx.open_pinned(&a.manifest)?;
    if a.json {
        eprintln!("{}", cx.cache_line(&study));
    } else {
        println!("{}", cx.cache_line(&study));
    }
    show_pins(&pins, a.json);
    let exit = show_plan(&study, None, a.json)?;
    show_awaited(&study, &a.manifest, a.json);
    Ok(exit)
}

/// The nodes that expand from results not cached yet (a `[merge]`'s soups, from each task's
/// clustering): the plan cannot list them, so it says they will come.
fn show_awaited(study: &Study, manifest: &std::path::Path, json: bool) {
    let Ok(m) = basins_study::Manifest::load(manifest) else {
        return;
    };
    for cluster in basins_study::expand::awaited(&m) {
        // The soups are in the study once their clustering is known: `soups/<task>` says so.
        if study
            .node_index(&cluster.replacen("cluster/", "soups/", 1))
            .is_ok()
        {
            continue;
        }
        let task = cluster.replacen("cluster/", "merge/", 1);
        let line = format!(
            "{task}/...: the soups of the basins `{cluster}` finds expand once it has run \
             (`basins run` runs both)"
        );
        if json {
            eprintln!("note: {line}");
        } else {
            println!("soups    {line}");
        }
    }
}

pub fn exec_why(a: WhyArgs, cx: &Context) -> anyhow::Result<Exit> {
    show_plan(&cx.open(&a.manifest)?, Some(a.node), a.json)
}

/// At most this many of a node's own reasons in `plan` (`why` shows 10, `--json` all): a
/// barriers node waits on every pair.
const REASONS_SHOWN: usize = 3;

/// Which commit each Hub model resolved to, and how; an unresolved one says why. With `--json`
/// (whose stdout is the node list) only the unresolved ones, on stderr.
fn show_pins(pins: &[Pin], json: bool) {
    // A zoo's members unresolved for one reason are shown as a few lines and a count.
    let mut shown_for: std::collections::BTreeMap<&str, usize> = Default::default();
    for p in pins {
        if let Err(why) = &p.commit {
            let n = shown_for.entry(why.as_str()).or_default();
            *n += 1;
            if *n > 3 {
                continue;
            }
        }
        let line = match (&p.commit, &p.how) {
            (Err(why), _) => format!("{}: not resolved to a commit: {why}", p.what),
            (Ok(c), How::Given) => format!("{}: a pinned commit", p.what.replace(c, &c[..12])),
            (Ok(c), How::Online) => format!("{}: commit {c} (asked the Hub now)", p.what),
            (Ok(c), How::Remembered) => {
                format!("{}: commit {c} (resolved earlier; offline)", p.what)
            }
            (Ok(c), How::Fallback(_)) => {
                format!(
                    "{}: commit {c} (resolved earlier; the Hub was unreachable)",
                    p.what
                )
            }
        };
        if !json {
            println!("hub      {line}");
        } else if p.commit.is_err() {
            eprintln!("warning: {line}");
        }
    }
    for n in shown_for.values().filter(|&&n| n > 3) {
        let line = format!("... and {} more not resolved for the same reason", n - 3);
        if json {
            eprintln!("warning: {line}");
        } else {
            println!("hub      {line}");
        }
    }
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
    let elsewhere = |r: &DirtyReason| matches!(r, DirtyReason::OtherFile { .. });
    if only.is_none() {
        // Said once, not on every node.
        if let Some(r) = (plan.nodes.iter())
            .flat_map(|p| &p.reasons)
            .find(|r| elsewhere(r))
        {
            println!("{r}");
        }
        println!(
            "study `{}`: {} fresh, {} to fetch, {} to run, {} blocked on upstream",
            study.name(),
            count(Status::Fresh),
            count(Status::Fetch),
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
            Status::Fetch => "fetch",
            Status::Blocked => "blocked",
        };
        println!("{status:<8} {}", p.node);
        if p.status == Status::Fresh {
            println!(
                "         cached and current (key {})",
                p.key.map(|k| k.short()).unwrap_or_default()
            );
        }
        for c in &p.causes {
            let more = match c.nodes.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            println!(
                "         because upstream, in `{}`{more}: {}",
                c.nodes[0], c.reason
            );
        }
        let shown = if only.is_some() { 10 } else { REASONS_SHOWN };
        let reasons: Vec<&DirtyReason> = (p.reasons.iter())
            .filter(|r| only.is_some() || !elsewhere(r))
            .collect();
        for r in reasons.iter().take(shown) {
            println!("         {r}");
        }
        if reasons.len() > shown {
            println!(
                "         ... and {} more (`--json` lists them)",
                reasons.len() - shown
            );
        }
    }
    Ok(Exit::Ok)
}
