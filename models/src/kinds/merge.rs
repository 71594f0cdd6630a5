//! `merge`: one soup of a task's finetuned models (`models::merge`), written as a checkpoint like
//! a finetune's (`model/`: config with the task's `id2label`, weights, the first member's
//! tokenizer files), so that evaluate, export and `basins model predict` take it unchanged.
//! Computed on the host in f32 whatever the study's backend: the same bits on every machine.

use anyhow::Context;
use basins_engine::record::OutputClass;
use basins_engine::{StageContext, StageKind, VerifyPolicy};
use basins_study::params::{MergeMember, MergeParams, MergeRecipe};
use basins_study::roles;
use serde_json::{json, Value};

use crate::backend::Cpu;
use crate::merge::{check_label_orders, merge, Method};
use crate::model::{load, save, BertConfig};
use basins_files::inputs::{model_dir, params, weights_apart};

pub struct MergeKind;

/// The members' model directories (inputs [`roles::member`]), once their label orders are
/// checked against one another and the task's (`labels`) on their configs, before any weights
/// are read: heads merge row by row.
pub(super) fn member_dirs(
    ctx: &StageContext,
    members: &[MergeMember],
    labels: &[String],
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let dirs = members
        .iter()
        .map(|m| model_dir(ctx, &roles::member(m.seed)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let orders = members
        .iter()
        .zip(&dirs)
        .map(|(m, dir)| Ok((m.name.as_str(), BertConfig::read(dir)?.labels())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    check_label_orders(&orders, labels)?;
    Ok(dirs)
}

impl StageKind for MergeKind {
    fn name(&self) -> &'static str {
        "merge"
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
        let p: MergeParams = params(ctx)?;
        let dirs = member_dirs(ctx, &p.members, &p.labels)?;
        let device = Default::default();
        let mut members = Vec::with_capacity(dirs.len());
        for (m, dir) in p.members.iter().zip(&dirs) {
            let loaded = load::<Cpu>(dir, p.labels.len(), 0, &device)
                .with_context(|| format!("member `{}`", m.name))?;
            anyhow::ensure!(
                loaded.had_head,
                "member `{}` ({}) has no trained classification head",
                m.name,
                dir.display()
            );
            members.push(loaded);
        }
        let method = match p.recipe {
            MergeRecipe::Average => Method::Average {
                weights: vec![1.0 / members.len() as f64; members.len()],
            },
            MergeRecipe::TaskArithmetic { scale } => Method::TaskArithmetic { scale },
            MergeRecipe::Ties { density, scale } => Method::Ties { density, scale },
        };
        let base = match p.recipe {
            MergeRecipe::Average => None,
            _ => {
                let dir = model_dir(ctx, roles::MERGE_BASE)?;
                Some(
                    load::<Cpu>(&dir, p.labels.len(), 0, &device)
                        .with_context(|| format!("the base model ({})", dir.display()))?
                        .model,
                )
            }
        };
        let refs: Vec<_> = members.iter().map(|l| &l.model).collect();
        let merged = merge(&refs, base.as_ref(), &method)?;
        save(
            &merged,
            &members[0].config,
            &p.labels,
            Some(&dirs[0]),
            &ctx.out_dir.join("model"),
        )?;
        let names: Vec<&str> = p.members.iter().map(|m| m.name.as_str()).collect();
        ctx.log(format!(
            "merged {} models: {}",
            names.len(),
            names.join(", ")
        ));
        Ok(json!({"members": names, "recipe": p.recipe}))
    }
}
