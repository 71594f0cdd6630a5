//! `basins data check` and `basins data generate`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use basins_stages::data;
use basins_stages::generate;
use basins_study::manifest::{DataFormat, GeneratorSpec};
use clap::Subcommand;

use crate::command_prelude::print_json;
use crate::error::CliError;
use crate::exit::Exit;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Rows, counts per label and per group, or the first bad rows with file:line.
    Check {
        file: PathBuf,
        /// cola, mnli, qqp, hans, paws, jsonl or generated.
        #[arg(long, value_parser = parse_format)]
        format: DataFormat,
        /// The label set (default: the layout's own; required for jsonl).
        #[arg(long, value_delimiter = ',')]
        labels: Vec<String>,
        /// JSONL field names, e.g. `--field first=premise --field label=gold`.
        #[arg(long = "field", value_parser = parse_field)]
        fields: Vec<(String, String)>,
        #[arg(long)]
        json: bool,
    },
    /// Write a generated data set.
    #[command(subcommand)]
    Generate(GenerateCommand),
}

#[derive(Subcommand)]
pub enum GenerateCommand {
    /// A HANS-style diagnostic set in HANS's file layout (30 subcases).
    Hans {
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 1000)]
        per_subcase: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// The generated NLI task: `train.jsonl` and `eval.jsonl` in a directory.
    Nli {
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 4000)]
        train: u64,
        #[arg(long, default_value_t = 1000)]
        eval: u64,
        /// Share of examples on which the lexical-overlap shortcut gives the right label.
        #[arg(long, default_value_t = 0.9)]
        shortcut_share: f64,
        /// A directory (created if needed).
        #[arg(long)]
        out: PathBuf,
    },
    /// The two-cue veridicality task: `train.jsonl` and `eval.jsonl` in a directory.
    Veridical {
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 4000)]
        train: u64,
        #[arg(long, default_value_t = 1000)]
        eval: u64,
        /// Share of examples on which the hypothesis-genericity artifact gives the right label.
        #[arg(long, default_value_t = 0.9)]
        shortcut_share: f64,
        /// The eval split's share (default: --shortcut-share; 0: every row a conflict).
        #[arg(long)]
        eval_shortcut_share: Option<f64>,
        /// Adverbs of each kind the premises draw from (1 to 5).
        #[arg(long, default_value_t = 5)]
        adverbs: u64,
        /// A directory (created if needed).
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_format(s: &str) -> Result<DataFormat, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        format!("`{s}` is not a data format; expected one of cola, mnli, qqp, hans, paws, jsonl, generated")
    })
}

fn parse_field(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not KEY=FIELD (e.g. first=premise)"))
}

pub fn exec(cmd: DataCommand) -> anyhow::Result<Exit> {
    match cmd {
        DataCommand::Check {
            file,
            format,
            labels,
            fields,
            json,
        } => check(file, format, labels, fields, json),
        DataCommand::Generate(g) => generate_cmd(g),
    }
}

fn check(
    file: PathBuf,
    format: DataFormat,
    labels: Vec<String>,
    fields: Vec<(String, String)>,
    json: bool,
) -> anyhow::Result<Exit> {
    // The words a manifest uses for the same mistakes.
    if !fields.is_empty() && !matches!(format, DataFormat::Jsonl | DataFormat::Generated) {
        return Err(CliError::FieldsNotJsonl(format!("{format:?}").to_lowercase()).into());
    }
    for (i, l) in labels.iter().enumerate() {
        if labels[..i].contains(l) {
            return Err(CliError::DuplicateLabel(l.clone()).into());
        }
    }
    let labels = match (labels.is_empty(), data::default_labels(format)) {
        (false, _) => labels,
        (true, Some(l)) => l,
        (true, None) => return Err(CliError::NoLabels.into()),
    };
    let fields: BTreeMap<String, String> = fields.into_iter().collect();
    let r = match data::check(&file, format, labels, fields) {
        Ok(r) => r,
        Err(e) => {
            if json {
                // A JSON consumer gets the verdict on stdout too, not an empty document.
                print_json(
                    &serde_json::json!({"file": file.display().to_string(), "error": e.to_string()}),
                );
            }
            return Err(CliError::Data {
                file,
                message: e.to_string(),
            }
            .into());
        }
    };
    let verdict = match r.bad_rows {
        0 => Ok(Exit::Ok),
        bad => Err(CliError::BadRows {
            file: file.clone(),
            bad,
        }
        .into()),
    };
    if json {
        print_json(&r);
        return verdict;
    }
    println!("{}: {} rows ({:?})", r.file, r.rows, r.format);
    for (l, n) in &r.per_label {
        println!("  label {l:<16} {n:>8}");
    }
    for (g, c) in &r.groups {
        if c.counts.is_empty() {
            println!("  group {g}: {} distinct values", c.distinct);
            continue;
        }
        println!("  group {g}:");
        for (v, n) in &c.counts {
            println!("    {v:<40} {n:>8}");
        }
    }
    if r.bad_rows > 0 {
        println!("{} bad rows; the first:", r.bad_rows);
        for e in &r.errors {
            println!("  {e}");
        }
    }
    verdict
}

fn generate_cmd(g: GenerateCommand) -> anyhow::Result<Exit> {
    let (spec, out) = match g {
        GenerateCommand::Hans {
            seed,
            per_subcase,
            out,
        } => (GeneratorSpec::Hans { seed, per_subcase }, out),
        GenerateCommand::Nli {
            seed,
            train,
            eval,
            shortcut_share,
            out,
        } => (
            GeneratorSpec::Nli {
                seed,
                train,
                eval,
                shortcut_share,
            },
            out,
        ),
        GenerateCommand::Veridical {
            seed,
            train,
            eval,
            shortcut_share,
            eval_shortcut_share,
            adverbs,
            out,
        } => (
            GeneratorSpec::Veridical {
                seed,
                train,
                eval,
                shortcut_share,
                eval_shortcut_share,
                adverbs,
            },
            out,
        ),
    };
    if let Some(problem) = spec.problem() {
        return Err(CliError::Generator(problem).into());
    }
    let files = generate::run(&spec)?;
    match spec {
        GeneratorSpec::Hans { .. } => {
            let text = files.values().next().expect("one file");
            plain_target(&out, "a file")?;
            generate::write_atomic(&out, text)?;
            println!("{}: {} pairs", out.display(), text.lines().count() - 1);
        }
        GeneratorSpec::Nli { .. } | GeneratorSpec::Veridical { .. } => {
            plain_target(&out, "a directory")?;
            std::fs::create_dir_all(&out)?;
            for (name, text) in &files {
                let path = out.join(name);
                plain_target(&path, "a file")?;
                generate::write_atomic(&path, text)?;
                println!("{}: {} pairs", path.display(), text.lines().count());
            }
        }
    }
    Ok(Exit::Ok)
}

/// `--out` is written by a rename over the path: a device node, FIFO or socket there would be
/// replaced by a regular file (`--out /dev/full` once did, as root), and a symlink would be
/// replaced rather than written through. Only a missing path or one of the `kind` expected
/// is taken.
fn plain_target(path: &std::path::Path, kind: &'static str) -> Result<(), CliError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let t = meta.file_type();
    let found = if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a file"
    } else if t.is_dir() {
        "a directory"
    } else {
        "a device, FIFO or socket"
    };
    if found == kind {
        return Ok(());
    }
    Err(CliError::OutTarget {
        path: path.to_owned(),
        found,
        expected: kind,
    })
}
