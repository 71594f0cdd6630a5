//! `basins bench`: train and eval throughput of a model directory (sequences/s), or
//! (`--modes`) a study's grid and adaptive interpolation side by side.

mod modes;

use std::path::PathBuf;

use basins_stages::backend::{Compute, FloatKind};
use basins_stages::bench::{self, BenchSpec};
use basins_stages::eval::CpuForward;
use basins_stages::model::BertConfig;

use super::Context;
use crate::command_prelude::{print_json, Progress, Slots};
use crate::error::CliError;
use crate::exit::Exit;

#[derive(clap::Args)]
pub struct Args {
    /// A Hugging Face BERT directory (e.g. the one `scripts/fetch-minilm` prints).
    #[arg(long, required_unless_present = "modes")]
    model: Option<PathBuf>,
    /// Instead: run this study's paths by the grid protocol and adaptively (`[interpolate]
    /// mode`; its tolerance and budget, or the defaults) in one cache, and compare forward
    /// passes, wall time, barriers and clusterings.
    #[arg(long, value_name = "MANIFEST", conflicts_with = "model")]
    modes: Option<PathBuf>,
    #[command(flatten)]
    slots: Slots,
    #[command(flatten)]
    progress: Progress,
    /// Sequence lengths to time [default: 128,32, each at most the model's positions].
    #[arg(long, value_delimiter = ',')]
    seq: Vec<usize>,
    #[arg(long, default_value_t = 32, value_parser = count)]
    train_batch: usize,
    #[arg(long, default_value_t = 128, value_parser = count)]
    eval_batch: usize,
    /// Timed training steps (after one untimed warm-up step).
    #[arg(long, default_value_t = 3, value_parser = count)]
    train_steps: usize,
    #[arg(long, default_value_t = 2, value_parser = count)]
    eval_batches: usize,
    /// Also evaluate this CoLA-layout file with and without dynamic padding.
    #[arg(long)]
    cola: Option<PathBuf>,
    /// `cpu`, `cuda`, `cuda:N` or `wgpu` (each GPU backend needs a build with its feature).
    #[arg(long, default_value = "cpu")]
    backend: Compute,
    /// `f32`, or `f16`/`bf16` with `--backend cuda` (weights, activations and optimizer
    /// state all in that type: a speed probe, not mixed-precision training).
    #[arg(long, default_value = "f32")]
    precision: FloatKind,
    /// The CPU evaluation forward pass: `frozen` (what the stages run) or `burn` (the burn
    /// module's own, for comparison).
    #[arg(long, default_value = "frozen")]
    cpu_forward: CpuForward,
    #[arg(long)]
    json: bool,
}

/// A batch size or a number of steps: 1 or more (a zero once divided by zero or panicked in
/// `chunks`), at most a million.
fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a whole number from 1 to 1000000")),
    }
}

pub fn exec(a: Args, cx: &Context) -> anyhow::Result<Exit> {
    let model = match (a.model.clone(), &a.modes) {
        (_, Some(manifest)) => {
            let (exit, comparison) = modes::exec(manifest, cx, &a.slots, &a.progress)?;
            if let Some(c) = comparison {
                if a.json {
                    print_json(&c);
                } else {
                    modes::print(&c);
                }
            }
            return Ok(exit);
        }
        (Some(m), None) => m,
        (None, None) => unreachable!("clap requires --model without --modes"),
    };
    // Longer than the model's position table would index past it; checked before anything
    // is timed.
    let positions = BertConfig::read(&model)?.max_position_embeddings;
    let mut seqs = a.seq;
    if seqs.is_empty() {
        seqs = vec![128.min(positions), 32.min(positions)];
        seqs.dedup();
    }
    if let Some(&seq) = seqs.iter().find(|&&s| s == 0 || s > positions) {
        return Err(CliError::MaxLen {
            flag: "--seq",
            dir: model,
            max_len: seq,
            positions,
        }
        .into());
    }
    let spec = BenchSpec {
        seqs,
        train_batch: a.train_batch,
        eval_batch: a.eval_batch,
        train_steps: a.train_steps,
        eval_batches: a.eval_batches,
        cpu_forward: a.cpu_forward,
    };
    let json = a.json;
    let result = bench::bench(
        &model,
        &spec,
        a.cola.as_deref(),
        a.backend,
        a.precision,
        &|r| {
            if !json {
                println!(
                    "seq {:>4}: train {:>7.2} seq/s (batch {}), eval {:>7.2} seq/s (batch {})",
                    r.seq, r.train_seq_per_s, r.train_batch, r.eval_seq_per_s, r.eval_batch
                );
            }
        },
    )?;
    if json {
        print_json(&result);
    } else if let Some(p) = result.padding {
        let rounded = match p.seq_multiple {
            1 => String::new(),
            m => format!(", lengths rounded up to a multiple of {m}"),
        };
        println!(
            "{} ({} examples, mean {:.1} tokens): dynamic padding{rounded} {:.1} seq/s (first pass {:.1}), padded to {} {:.1} seq/s",
            p.file, p.examples, p.mean_tokens, p.dynamic_seq_per_s, p.dynamic_first_pass_seq_per_s, p.max_len, p.padded_to_max_len_seq_per_s
        );
        println!(
            "{}: train with dynamic padding {:.1} seq/s (batch {})",
            p.file, p.train_dynamic_seq_per_s, spec.train_batch
        );
    }
    Ok(Exit::Ok)
}
