//! `basins fetch`: download every model (`hub/`) and data set (`download/`) a study needs, and
//! nothing else, then list each with its size. Afterwards the study runs with `--offline`, on a
//! machine (a Slurm node) with no network, from the same cache.

use std::path::PathBuf;

use basins_study::manifest::ExecutorKind;
use serde::Serialize;

use super::Context;
use crate::command_prelude::print_json;
use crate::command_prelude::{Progress, Slots};
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    manifest: PathBuf,
    #[command(flatten)]
    slots: Slots,
    #[command(flatten)]
    pub(crate) progress: Progress,
    #[arg(long)]
    json: bool,
}

/// One download, as `fetch` lists it.
#[derive(Serialize)]
struct Fetched {
    node: String,
    /// `fetched` (now), `cached` (already), or `failed`.
    state: &'static str,
    bytes: u64,
    files: usize,
    /// `owner/name@commit` (a model), `owner/name/config/split@commit` (a Hub data set's
    /// split), or a release's data set name.
    what: String,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let study = cx.open_to_run(&a.manifest)?;
    let mut opts = super::run::options(&study, &a.slots, ExecutorKind::Local);
    opts.fetch_only = true;
    opts.keep_going = true;
    let summary = super::run::run_study(&study, &opts, ExecutorKind::Local, a.json, &a.progress)?;
    let plan = study.plan()?;
    let mut rows = Vec::new();
    for (i, p) in plan.nodes.iter().enumerate() {
        if !study.fetches(i) {
            continue;
        }
        let rec = plan.records[i].as_ref();
        let state = if summary.executed.contains(&p.node) {
            "fetched"
        } else if rec.is_some() {
            "cached"
        } else {
            "failed"
        };
        let m = rec.map(|r| &r.metrics);
        // A model `owner/name@commit`, a Hub data set's split `owner/name/config/split@commit`,
        // a release's data set name.
        let what = m
            .and_then(|m| {
                let short = |c: &str| c[..c.len().min(12)].to_owned();
                match (
                    m["dataset"].as_str(),
                    m["repo"].as_str(),
                    m["commit"].as_str(),
                ) {
                    (Some(d), _, Some(c)) => Some(format!("{d}@{}", short(c))),
                    (None, Some(r), Some(c)) => Some(format!("{r}@{}", short(c))),
                    (d, ..) => d.map(str::to_owned),
                }
            })
            .unwrap_or_default();
        rows.push(Fetched {
            node: p.node.clone(),
            state,
            bytes: rec.map_or(0, |r| r.outputs.values().map(|o| o.size).sum()),
            files: rec.map_or(0, |r| r.outputs.len()),
            what,
        });
    }
    if a.json {
        print_json(&rows);
    } else if rows.is_empty() {
        println!("study `{}` downloads nothing", study.name());
    } else {
        for r in &rows {
            println!(
                "{:<8} {:<28} {:>10}  {} file(s)  {}",
                r.state,
                r.node,
                human(r.bytes),
                r.files,
                r.what
            );
        }
        let total: u64 = rows.iter().map(|r| r.bytes).sum();
        println!("total {}", human(total));
        for f in &summary.failed {
            eprintln!("failed: {}: {}", f.node, f.message);
        }
    }
    Ok(super::run::exit_of(&summary))
}

/// Bytes as people read them (powers of 1000, as download sizes are quoted).
fn human(b: u64) -> String {
    match b {
        0..1_000 => format!("{b} B"),
        1_000..1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        _ => format!("{:.2} GB", b as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_download_sizes() {
        assert_eq!(super::human(612), "612 B");
        assert_eq!(super::human(466_247), "466.2 kB");
        assert_eq!(super::human(90_868_376), "90.9 MB");
        assert_eq!(super::human(1_340_000_000), "1.34 GB");
    }
}
