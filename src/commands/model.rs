//! `basins model inspect` and `basins model predict`: a Hugging Face model directory, looked at
//! or run on sentence pairs.

use std::path::PathBuf;

use basins_stages::backend::Compute;
use basins_stages::model::inspect;
use clap::Subcommand;

use crate::command_prelude::print_json;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Architecture, parameter count, tensor names and shapes, label map.
    Inspect {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Probabilities per label for sentence pairs (and, with --hidden, final hidden states).
    Predict(PredictArgs),
}

#[derive(clap::Args)]
pub struct PredictArgs {
    dir: PathBuf,
    /// A premise and a hypothesis (repeatable).
    #[arg(long, num_args = 2, value_names = ["FIRST", "SECOND"], action = clap::ArgAction::Append)]
    pair: Vec<String>,
    /// A single sentence (repeatable).
    #[arg(long, action = clap::ArgAction::Append)]
    text: Vec<String>,
    /// Truncation length in tokens (default: 128, or the model's `max_position_embeddings` if
    /// smaller).
    #[arg(long)]
    max_len: Option<usize>,
    #[arg(long)]
    hidden: bool,
    /// `cpu`, `cuda`, `cuda:N` or `wgpu` (each GPU backend needs a build with its feature).
    #[arg(long, default_value = "cpu")]
    backend: Compute,
    #[arg(long)]
    json: bool,
}

pub fn exec(cmd: ModelCommand) -> anyhow::Result<Exit> {
    match cmd {
        ModelCommand::Inspect { dir, json } => inspect_dir(dir, json),
        ModelCommand::Predict(a) => predict(a),
    }
}

fn inspect_dir(dir: PathBuf, json: bool) -> anyhow::Result<Exit> {
    let s = inspect::inspect(&dir)?;
    if json {
        print_json(&s);
        return Ok(Exit::Ok);
    }
    println!("{}  {}", s.dir, s.architecture);
    println!(
        "  {} layers, hidden {}, {} heads, intermediate {}, vocab {}, max positions {}",
        s.layers, s.hidden, s.heads, s.intermediate, s.vocab, s.max_position
    );
    println!("  {} parameters (as a classifier)", s.parameters);
    match &s.labels {
        Some(l) => println!("  classification head with labels {l:?}"),
        None => println!("  no classification head (a base model: finetuning initialises one)"),
    }
    for t in &s.tensors {
        println!("  {:<60} {:<5} {:?}", t.name, t.dtype, t.shape);
    }
    Ok(Exit::Ok)
}

fn predict(a: PredictArgs) -> anyhow::Result<Exit> {
    let mut examples: Vec<(String, Option<String>)> = a
        .pair
        .chunks(2)
        .map(|c| (c[0].clone(), Some(c[1].clone())))
        .collect();
    examples.extend(a.text.into_iter().map(|t| (t, None)));
    if examples.is_empty() {
        return Err(CliError::NoExamples.into());
    }
    // Longer than the model's position table would index past it (a panic in the forward).
    let positions = basins_stages::model::BertConfig::read(&a.dir)?.max_position_embeddings;
    let max_len = a.max_len.unwrap_or(128.min(positions));
    if max_len == 0 || max_len > positions {
        return Err(CliError::MaxLen {
            flag: "--max-len",
            dir: a.dir,
            max_len,
            positions,
        }
        .into());
    }
    let p = inspect::predict(&a.dir, &examples, max_len, a.hidden, a.backend)?;
    // NaN weights give NaN probabilities and an arbitrary label: never print them as a
    // prediction.
    let broken = p
        .predictions
        .iter()
        .filter(|pr| pr.probabilities.iter().any(|(_, v)| !v.is_finite()))
        .count();
    if broken > 0 {
        return Err(CliError::NotNumbers {
            dir: a.dir,
            broken,
            total: p.predictions.len(),
        }
        .into());
    }
    if a.json {
        print_json(&p);
        return Ok(Exit::Ok);
    }
    if !p.trained_head {
        println!(
            "note: {} has no trained head; these probabilities come from a freshly initialised one",
            a.dir.display()
        );
    }
    for pr in &p.predictions {
        println!(
            "{:?} / {:?} ({} tokens) -> {}",
            pr.first,
            pr.second.as_deref().unwrap_or(""),
            pr.tokens,
            pr.predicted
        );
        for (l, v) in &pr.probabilities {
            println!("    {l:<16} {v:.4}");
        }
        if let Some(h) = &pr.hidden {
            for (t, row) in h.iter().enumerate() {
                let head: Vec<String> = row.iter().take(6).map(|x| format!("{x:+.4}")).collect();
                println!(
                    "    hidden[{t}] = [{}, ...] ({} values)",
                    head.join(", "),
                    row.len()
                );
            }
        }
    }
    Ok(Exit::Ok)
}
