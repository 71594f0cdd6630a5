//! `basins show NODE`: a node's outputs, metrics and provenance.

use std::path::PathBuf;

use basins_engine::ops;

use super::Context;
use crate::command_prelude::print_json;
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    manifest: PathBuf,
    node: String,
    #[arg(long)]
    json: bool,
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let r = ops::show(&cx.open(&a.manifest)?, &a.node)?;
    if a.json {
        print_json(&r);
    } else {
        print_show(&r);
    }
    Ok(Exit::Ok)
}

fn print_show(r: &ops::ShowReport) {
    println!("node    {} [{}]", r.node, r.kind);
    println!(
        "status  {:?}  key {}",
        r.status,
        r.key
            .map(|k| k.to_hex())
            .unwrap_or_else(|| "(not known yet)".into())
    );
    for reason in &r.reasons {
        println!("        {reason}");
    }
    for o in &r.outputs {
        println!(
            "output  {:<24} {:>10} B  {:?}  {}",
            o.name, o.size, o.class, o.path
        );
    }
    if r.outputs.iter().any(|o| o.name == "model/config.json") {
        println!(
            "export  `basins export MANIFEST {} DIR` writes this checkpoint as a Hugging Face \
             directory (for `basins model inspect|predict`, transformers)",
            r.node
        );
    }
    if !r.metrics.is_null() {
        println!("metrics {}", r.metrics);
    }
    if let Some(rec) = &r.record {
        println!(
            "ran     {} ms by {} on {} (pid {}{}), exit {}",
            rec.duration_ms,
            rec.executor,
            rec.host,
            rec.pid,
            rec.arithmetic
                .as_deref()
                .map(|a| format!(", CPU kernels at {a}"))
                .unwrap_or_default(),
            rec.exit_status
        );
        println!(
            "recipe  {}",
            serde_json::to_string(&rec.preimage).unwrap_or_default()
        );
    }
    if let Some(l) = &r.log {
        println!("log     {l}");
    }
}
