//! `generate`: a generated data set (the NLI task or a HANS-style diagnostic) as files that
//! the data readers read, so downstream stages cannot tell it from a downloaded one.

use basins_engine::{StageContext, StageKind};
use basins_study::params::GenerateParams;

use super::params;
use serde_json::{json, Value};

use crate::generate;

pub struct GenerateKind;

impl StageKind for GenerateKind {
    fn name(&self) -> &'static str {
        "generate"
    }
    /// Bump with any change to the grammar, templates or sampling.
    fn version(&self) -> u32 {
        1
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: GenerateParams = params(ctx)?;
        let files = generate::run(&p.generate)?;
        let mut counts = serde_json::Map::new();
        for (name, text) in &files {
            std::fs::write(ctx.out_dir.join(name), text)?;
            let rows = text.lines().count() - usize::from(name.ends_with(".tsv"));
            ctx.log(format!("{name}: {rows} pairs"));
            counts.insert(name.clone(), json!(rows));
        }
        Ok(json!({ "files": counts }))
    }
}
