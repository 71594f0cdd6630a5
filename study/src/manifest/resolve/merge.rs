//! `[merge]`: the soups of each task's basins, with their controls.

use super::*;

/// The most cross-basin control groups a basin may ask for: each is a merged checkpoint that
/// every eval set scores whole.
const CONTROLS_MAX: u32 = 20;

pub(super) fn resolve_merge(
    m: At<RawMerge>,
    models: &BTreeMap<String, Model>,
    tasks: &BTreeMap<String, Task>,
    finetune: &Finetune,
    cluster: Option<&Cluster>,
) -> Result<Soups, ManifestError> {
    let (at, m) = (m.at, m.value);
    if cluster.is_none() {
        return Err(invalid(
            &at,
            "merge",
            "[merge] averages each task's basins, and the study finds none: it has no [cluster]",
            "a [cluster] section (and the [interpolate] it reads) beside [merge]",
        ));
    }
    let mut methods = match &m.methods {
        None => vec![MergeMethod::Average],
        Some(v) if v.value.is_empty() => {
            return Err(invalid(
                &v.at,
                "merge.methods",
                "no merge method",
                "a list of \"average\", \"task_arithmetic\", \"ties\"",
            ))
        }
        Some(v) => v.value.clone(),
    };
    methods.sort();
    methods.dedup();
    let trained_from = match &finetune.origin {
        Origin::Trained { hyper, .. } if hyper.vary.contains(&SeedStream::Pretrain) => {
            if let (Some(need), Some(v)) = (methods.iter().find(|x| x.needs_base()), &m.methods) {
                return Err(invalid(
                    &v.at,
                    "merge.methods",
                    format!(
                        "`{}` merges the members' differences from the one model they were \
                         finetuned from, and with `vary = [\"pretrain\", ...]` each member \
                         has a base of its own",
                        need.id()
                    ),
                    "methods = [\"average\"], or `vary` without \"pretrain\"",
                ));
            }
            None
        }
        Origin::Trained { model, .. } => Some(model.clone()),
        Origin::Zoo { .. } => None,
    };
    let base = match (&m.base, &trained_from) {
        (Some(b), _) if !models.contains_key(&b.value) => {
            let known: Vec<&str> = models.keys().map(String::as_str).collect();
            return Err(dangling(b, "merge.base", " model", &known));
        }
        (Some(b), Some(from)) if &b.value != from => {
            return Err(invalid(
                &b.at,
                "merge.base",
                format!(
                    "the study finetunes its models from `{from}`, and task vectors are \
                     differences from that model, not from `{}`",
                    b.value
                ),
                format!("base = \"{from}\", or no `base`"),
            ))
        }
        (Some(b), None) if matches!(&finetune.origin, Origin::Zoo { members, .. } if members.contains(&b.value)) => {
            return Err(invalid(
                &b.at,
                "merge.base",
                format!(
                    "`{}` is a member of the zoo, and the base is the model the members were \
                     finetuned from",
                    b.value
                ),
                "a [models.<name>] whose name no zoo member has",
            ))
        }
        (Some(b), _) => Some(b.value.clone()),
        (None, from) => from.clone(),
    };
    if base.is_none() {
        if let (Some(need), Some(v)) = (methods.iter().find(|x| x.needs_base()), &m.methods) {
            return Err(invalid(
                &v.at,
                "merge.methods",
                format!(
                    "`{}` merges task vectors, the members' differences from the model they \
                     were finetuned from, and the zoo does not say which model that was",
                    need.id()
                ),
                "`base = \"<name>\"` naming the [models.<name>] the zoo was finetuned from, or \
                 methods = [\"average\"]",
            ));
        }
    }
    let density =
        match &m.density {
            Some(d) if !(d.value > 0.0 && d.value <= 1.0) => return Err(invalid(
                &d.at,
                "merge.density",
                format!("{} is not a share of a task vector", d.value),
                "a number in (0, 1]: the share of each task vector's largest entries TIES keeps \
                 (the authors use 0.2)",
            )),
            Some(d) => d.value,
            None => 0.2,
        };
    let scale = match &m.scale {
        Some(s) if !(s.value.is_finite() && s.value > 0.0) => {
            return Err(invalid(
                &s.at,
                "merge.scale",
                format!("{} is not a usable scale", s.value),
                "a positive number: the factor on the merged task vector (1.0 adds it whole)",
            ))
        }
        Some(s) => s.value,
        None => 1.0,
    };
    let controls = match &m.controls {
        Some(c) if c.value > CONTROLS_MAX => {
            return Err(invalid(
                &c.at,
                "merge.controls",
                format!("{} groups per basin", c.value),
                format!(
                    "at most {CONTROLS_MAX} (each is a checkpoint every eval set scores whole), \
                     or 0 for none"
                ),
            ))
        }
        Some(c) => c.value,
        None => 3,
    };
    if let Some(g) = &m.greedy {
        for task in &finetune.tasks {
            let splits = tasks[task].data.source.splits();
            if !splits.contains(&g.value) {
                let known: Vec<&str> = splits.iter().map(String::as_str).collect();
                return Err(ManifestError::Invalid {
                    at: g.at.clone(),
                    key: "merge.greedy".into(),
                    message: format!(
                        "task `{task}` has no split `{}` to choose the greedy soup on",
                        g.value
                    ),
                    expected: Some(format!(
                        "a split every task has, held out from the test split (`{task}` has {})",
                        known.join(", ")
                    )),
                    hint: did_you_mean(&g.value, known.iter().copied()),
                });
            }
        }
    }
    Ok(Soups {
        greedy: m.greedy.map(|g| g.value),
        methods,
        base,
        density,
        scale,
        controls,
        seed: m.seed.unwrap_or(0),
    })
}
