//! `sweep`: the comparison of a sweep's sub-studies, from each one's report; the sweep's own
//! report, with every sub-study's report beside it under its label.

use basins_engine::{StageContext, StageInput, StageKind};
use basins_study::params::SweepParams;
use serde_json::{json, Value};

use super::params;
use crate::documents;
use crate::report::ReportDoc;
use crate::sweep::{holm_across, html, summarise, SweepDoc};

pub struct SweepKind;

impl StageKind for SweepKind {
    fn name(&self) -> &'static str {
        "sweep"
    }
    fn version(&self) -> u32 {
        // 2: each sub-study's figures/ copied too; the curves drawn with round ticks.
        // 3: the ARI permutation p per sub-study, and Holm's correction across sub-studies.
        3
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<Value> {
        let p: SweepParams = params(ctx)?;
        let mut rows = Vec::new();
        for v in &p.variants {
            let StageInput::Node { files, .. } = ctx.input(&v.label)? else {
                anyhow::bail!("input `{}` is not a report node", v.label);
            };
            for (name, path) in files {
                // Names may have folders of their own (a report's figures/).
                let dest = ctx.output(&format!("{}/{name}", v.label))?;
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::copy(path, dest)?;
            }
            let report = files
                .get("report.json")
                .ok_or_else(|| anyhow::anyhow!("the report of `{}` has no report.json", v.label))?;
            let report: ReportDoc = documents::read(report)?;
            rows.push(summarise(&v.label, &v.values, &report));
        }
        holm_across(&mut rows);
        std::fs::write(ctx.output("index.html")?, html(&p.title, &p.keys, &rows))?;
        let variants = rows.len();
        let doc = SweepDoc {
            keys: p.keys.clone(),
            title: p.title.clone(),
            variants: rows,
        };
        std::fs::write(ctx.output("sweep.json")?, documents::to_bytes(&doc)?)?;
        Ok(json!({ "variants": variants }))
    }
}
