//! `align`: model b's units permuted to match model a's by weight matching
//! ([`crate::align`]), written as a checkpoint like a finetune's (`model/`: config with the
//! task's `id2label`, weights, b's tokenizer files; `transformers` loads it), with
//! `matching.json`: the permutation, the share of each kind of unit it leaves in place, the
//! objective and the distance to a before and after, per block, and a function check (the
//! largest change of any logit on a fixed batch of token ids, which must be rounding only).
//! Computed on the host whatever the study's backend.

use std::path::Path;

use anyhow::Context;
use basins_engine::record::OutputClass;
use basins_engine::{StageContext, StageKind, VerifyPolicy};
use basins_study::manifest::blocks::Align;
use basins_study::params::AlignParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::load_trained;
use crate::align::{align_models, block_distances, to_host};
use crate::backend::Cpu;
use crate::model::{save, BertClassifier};
use crate::text::{to_batch, Encoded};
use basins_files::inputs::{model_dir, params, weights_apart};

pub struct AlignKind;

/// The most a logit of the permuted model may differ from the original's: the permutation
/// changes only the order of floating-point sums.
pub const FUNCTION_TOLERANCE: f32 = 1e-4;

impl StageKind for AlignKind {
    fn name(&self) -> &'static str {
        "align"
    }
    fn version(&self) -> u32 {
        1
    }
    fn verify_policy(&self) -> VerifyPolicy {
        VerifyPolicy::BitExact
    }
    fn output_class(&self, rel: &str) -> OutputClass {
        weights_apart(rel)
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: AlignParams = params(ctx)?;
        let Align::Weights = p.method;
        let (dir_a, dir_b) = (model_dir(ctx, "model_a")?, model_dir(ctx, "model_b")?);
        for dir in [&dir_a, &dir_b] {
            check_bert(dir)?;
        }
        let device = Default::default();
        let (a, labels, _) = load_trained::<Cpu>(&dir_a, &p.labels, &device)?;
        let (b, labels_b, _) = load_trained::<Cpu>(&dir_b, &p.labels, &device)?;
        anyhow::ensure!(
            labels == labels_b && a.config.hidden_size == b.config.hidden_size,
            "{} and {} differ in architecture or labels: B's units cannot be matched to A's",
            dir_a.display(),
            dir_b.display()
        );
        let (matching, aligned) = align_models(&a.model, &b.model, &b.config, p.max_passes, p.seed)
            .with_context(|| format!("matching {} to {}", dir_b.display(), dir_a.display()))?;
        let change = largest_logit_change(&b.model, &aligned, &b.config, p.seed);
        anyhow::ensure!(
            change <= FUNCTION_TOLERANCE,
            "the permuted model's logits differ from the original's by up to {change:e} (more \
             than rounding, {FUNCTION_TOLERANCE:e}): the permutation does not preserve the \
             function, a bug in basins_models::align"
        );
        let (ha, hb, hp) = (to_host(&a.model), to_host(&b.model), to_host(&aligned));
        let shares = matching.permutation.identity_shares();
        ctx.log(format!(
            "{} passes; identity shares: residual {:.3}, heads {:.3}, ffn {:.3}; distance to A \
             {:.4} -> {:.4}",
            matching.iterations,
            shares.residual,
            shares.heads,
            shares.ffn,
            matching.distance_before,
            matching.distance_after
        ));
        save(
            &aligned,
            &b.config,
            &labels,
            Some(&dir_b),
            &ctx.out_dir.join("model"),
        )?;
        let doc = json!({
            "method": p.method,
            "matching": matching,
            "identity": shares,
            "function_check": {"largest_logit_change": change, "tolerance": FUNCTION_TOLERANCE},
            "block_distance": {
                "before": block_distances(&ha, &hb),
                "after": block_distances(&ha, &hp),
            },
        });
        std::fs::write(
            ctx.out_dir.join("matching.json"),
            serde_json::to_vec_pretty(&doc)?,
        )?;
        Ok(json!({
            "iterations": matching.iterations,
            "converged": matching.converged,
            "identity": shares,
            "distance_before": matching.distance_before,
            "distance_after": matching.distance_after,
        }))
    }
}

/// Alignment knows BERT's permutation structure only: refuse another architecture by the
/// field that says so, before any weight is read.
fn check_bert(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("config.json");
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_slice(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    match v.get("model_type").and_then(Value::as_str) {
        // No `model_type`: the loader takes it as BERT, as `transformers` does for this layout.
        None | Some("bert") => Ok(()),
        Some(other) => anyhow::bail!(
            "{}: field `model_type` is `{other}`: [interpolate] align = \"weights\" matches the \
             units of BERT encoders (model_type \"bert\") only",
            path.display()
        ),
    }
}

/// The largest difference between any logit of `a` and of `b` on a fixed batch of token ids
/// (eight sequences of 4 to 32 tokens, within the model's positions, drawn from `seed`).
pub fn largest_logit_change(
    a: &BertClassifier<Cpu>,
    b: &BertClassifier<Cpu>,
    config: &crate::model::BertConfig,
    seed: u64,
) -> f32 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let vocab = config.vocab_size;
    let examples: Vec<Encoded> = (0..8)
        .map(|i| {
            let len = (4 + 4 * i).clamp(1, config.max_position_embeddings.max(1));
            Encoded {
                ids: (0..len)
                    .map(|_| rng.random_range(0..vocab.max(1)) as u32)
                    .collect(),
                type_ids: (0..len).map(|t| u32::from(t >= len / 2)).collect(),
            }
        })
        .collect();
    let refs: Vec<&Encoded> = examples.iter().collect();
    let batch = to_batch::<Cpu>(&refs, 0, &Default::default());
    let la = a.forward(&batch).logits.into_data().to_vec::<f32>();
    let lb = b.forward(&batch).logits.into_data().to_vec::<f32>();
    match (la, lb) {
        (Ok(x), Ok(y)) => x
            .iter()
            .zip(&y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max),
        _ => f32::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn another_architecture_is_refused_by_its_model_type() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("config.json"),
            r#"{"model_type": "roberta", "hidden_size": 8}"#,
        )
        .unwrap();
        let e = super::check_bert(t.path()).unwrap_err().to_string();
        assert!(
            e.contains("config.json: field `model_type` is `roberta`"),
            "{e}"
        );
        assert!(e.contains("BERT encoders"), "{e}");
        std::fs::write(t.path().join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
        assert!(super::check_bert(t.path()).is_ok());
    }
}
