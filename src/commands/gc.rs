//! `basins gc`: remove cached results that none of the named manifests uses.

use std::collections::BTreeSet;
use std::path::PathBuf;

use basins_engine::ops;

use super::Context;
use crate::command_prelude::print_json;
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let studies = (a.manifests.iter())
        .map(|m| cx.open(m))
        .collect::<Result<Vec<_>, _>>()?;
    let r = ops::gc(&studies, a.dry_run)?;
    if a.json {
        print_json(&r);
    } else {
        print_gc(&r);
    }
    Ok(Exit::Ok)
}

fn print_gc(r: &ops::GcSummary) {
    let verb = if r.dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {} action records, kept {}",
        r.removed_actions, r.kept_actions
    );
    println!(
        "  {:<14} {:>14} {:>14}   {:>14} {:>14}",
        "kind", "ckpt removed", "results rm", "ckpt kept", "results kept"
    );
    let kinds: BTreeSet<&String> = r
        .removed_by_kind
        .keys()
        .chain(r.kept_by_kind.keys())
        .collect();
    for k in kinds {
        let rm = r.removed_by_kind.get(k);
        let kept = r.kept_by_kind.get(k);
        println!(
            "  {k:<14} {:>14} {:>14}   {:>14} {:>14}",
            rm.map_or(0, |b| b.checkpoints),
            rm.map_or(0, |b| b.results),
            kept.map_or(0, |b| b.checkpoints),
            kept.map_or(0, |b| b.results)
        );
    }
    println!(
        "  unreferenced objects: {} bytes; abandoned temp files: {}; abandoned resume \
         directories (partial downloads, killed runs): {} bytes",
        r.unreferenced_bytes, r.temp_files, r.abandoned_resume_bytes
    );
}
