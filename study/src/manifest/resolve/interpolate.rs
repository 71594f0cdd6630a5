//! `[interpolate]`: pairs, alphas, checkpoints and the sets evaluated along each path.

use super::*;

/// Resolve `cola.dev` (a task split) or `hans` (a diagnostic).
pub(super) fn eval_ref(
    r: &At<String>,
    key: &str,
    tasks: &BTreeMap<String, Task>,
    diagnostics: &BTreeMap<String, Diagnostic>,
) -> Result<EvalSet, ManifestError> {
    if diagnostics.contains_key(&r.value) {
        return Ok(EvalSet::Diagnostic(r.value.clone()));
    }
    let mut known: Vec<String> = diagnostics.keys().cloned().collect();
    for (t, task) in tasks {
        match &task.data.source {
            DataSource::Files { eval, .. } => known.extend(eval.keys().map(|s| format!("{t}.{s}"))),
            DataSource::Generated(_) => known.push(format!("{t}.eval")),
            DataSource::Download(d) => known.push(format!("{t}.{}", d.eval_split)),
            DataSource::Hub(h) => known.extend(h.eval.keys().map(|s| format!("{t}.{s}"))),
        }
    }
    if let Some((t, s)) = r.value.split_once('.') {
        if known.contains(&r.value) {
            return Ok(EvalSet::Split {
                task: t.into(),
                split: s.into(),
            });
        }
    }
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    Err(dangling(
        r,
        key,
        "n eval set (`task.split` or a diagnostic)",
        &known,
    ))
}

pub(super) fn resolve_interpolate(
    i: At<RawInterpolate>,
    tasks: &BTreeMap<String, Task>,
    diagnostics: &BTreeMap<String, Diagnostic>,
    finetune: &Finetune,
    models: &BTreeMap<String, Model>,
) -> Result<Interpolate, ManifestError> {
    let pairs = i
        .pairs
        .clone()
        .map(|p| (p.value, p.at))
        .unwrap_or((PairSpec::All, i.at.clone()));
    let seed_ok = |s: u64| finetune.seeds.contains(&s);
    let bad = match &pairs.0 {
        PairSpec::All => None,
        PairSpec::List(l) => l.iter().flat_map(|(a, b)| [*a, *b]).find(|s| !seed_ok(*s)),
        PairSpec::Within(g) => g
            .iter()
            .flat_map(|s| s.0.iter().copied())
            .find(|s| !seed_ok(*s)),
    };
    if let Some(s) = bad {
        return Err(invalid(
            &pairs.1,
            "interpolate.pairs",
            format!("seed {s} is not among [finetune].seeds"),
            format!("seeds from {:?}", finetune.seeds),
        ));
    }
    if finetune.seeds.len() < 2 {
        return Err(invalid(
            &i.at,
            "interpolate",
            "interpolation needs at least 2 seeds",
            "[finetune].seeds with 2 or more seeds",
        ));
    }
    let n = finetune.seeds.len();
    let count = match &pairs.0 {
        PairSpec::All => n * (n - 1) / 2,
        PairSpec::List(l) => l.len(),
        PairSpec::Within(g) => g
            .iter()
            .map(|s| s.0.len() * s.0.len().saturating_sub(1) / 2)
            .sum(),
    };
    if count > super::super::spec::MAX_PAIRS {
        return Err(invalid(
            &pairs.1,
            "interpolate.pairs",
            format!(
                "{count} pairs, more than the {} a study may interpolate",
                super::super::spec::MAX_PAIRS
            ),
            "fewer seeds, `pairs = { within = [...] }` groups, or a list of pairs",
        ));
    }
    if let Some(m) = i.max_examples.as_ref().filter(|m| m.value == 0) {
        return Err(invalid(
            &m.at,
            "interpolate.max_examples",
            "a loss surface of 0 examples has no loss: every barrier would be 0",
            "max_examples >= 1 (the paper uses 512), or leave it out for every row",
        ));
    }
    if let Some(b) = i.batch_size.as_ref().filter(|b| b.value == 0) {
        return Err(invalid(
            &b.at,
            "interpolate.batch_size",
            "must be positive",
            "an integer >= 1",
        ));
    }
    let eval = i
        .eval
        .as_ref()
        .map(|refs| {
            refs.iter()
                .map(|r| eval_ref(r, "interpolate.eval", tasks, diagnostics))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let adaptive = resolve_mode(&i)?;
    let alphas = i
        .alphas
        .clone()
        .map_or_else(|| AlphaGrid::linspace(0.0, 1.0, 10), |a| a.value);
    if adaptive.is_some() && alphas.0.iter().any(|a| !(0.0..=1.0).contains(a)) {
        return Err(invalid(
            i.alphas.as_ref().map_or(&i.at, |a| &a.at),
            "interpolate.alphas",
            format!(
                "adaptive paths run from alpha 0 to 1 (their chords join the two models), and \
                 the grid has {:?}",
                alphas.0
            ),
            "alphas within [0, 1], or mode = \"grid\" to extrapolate",
        ));
    }
    let blocks = resolve_blocks(&i, finetune, models)?;
    Ok(Interpolate {
        blocks,
        align: i.align.as_ref().map(|a| a.value),
        adaptive,
        pairs: pairs.0,
        alphas,
        eval,
        max_examples: i.max_examples.as_ref().map(|m| m.value),
        batch_size: i.batch_size.as_ref().map_or(128, |b| b.value),
        at: resolve_at(i.checkpoints.as_ref(), finetune)?,
    })
}

/// `[interpolate] blocks` and `hold`. A builtin model's depth is known here, so a block it
/// lacks is a manifest error; a checkpoint's is checked when its paths run.
fn resolve_blocks(
    i: &At<RawInterpolate>,
    finetune: &Finetune,
    models: &BTreeMap<String, Model>,
) -> Result<Option<crate::manifest::blocks::BlockPaths>, ManifestError> {
    use crate::manifest::blocks::{BlockPaths, RawHold};
    let Some(blocks) = &i.blocks else {
        if let Some(h) = &i.hold {
            return Err(invalid(
                &h.at,
                "interpolate.hold",
                "`hold` says where a block path keeps the blocks that do not move, and no \
                 `blocks` are asked for",
                "`blocks = \"per_layer\"` (or a list of blocks) beside it, or no `hold`",
            ));
        }
        return Ok(None);
    };
    if let Origin::Trained { model, .. } = &finetune.origin {
        if let Some(Model::Builtin { config, .. }) = models.get(model) {
            blocks.value.of(config.layers).map_err(|m| {
                invalid(
                    &blocks.at,
                    "interpolate.blocks",
                    format!("{m} (model `{model}`)"),
                    format!(
                        "\"per_layer\", or blocks among {}",
                        crate::manifest::blocks::Block::all(config.layers)
                            .iter()
                            .map(|b| format!("`{}`", b.name()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        }
    }
    Ok(Some(BlockPaths {
        blocks: blocks.value.clone(),
        hold: i.hold.as_ref().map_or(RawHold::A, |h| h.value).holds(),
    }))
}

/// `[interpolate] mode`, `tolerance` and `budget`: the contract in adaptive mode; the two
/// numbers are refused in grid mode, where they would silently mean nothing.
fn resolve_mode(i: &At<RawInterpolate>) -> Result<Option<Adaptive>, ManifestError> {
    let adaptive = i
        .mode
        .as_ref()
        .is_some_and(|m| m.value == InterpolateMode::Adaptive);
    if !adaptive {
        if let Some((key, at)) = [("tolerance", &i.tolerance), ("budget", &i.budget)]
            .into_iter()
            .find_map(|(k, v)| v.as_ref().map(|v| (k, &v.at)))
        {
            return Err(invalid(
                at,
                &format!("interpolate.{key}"),
                format!("`{key}` is a setting of the adaptive mode, and the mode is grid"),
                "mode = \"adaptive\" beside it, or no tolerance and budget",
            ));
        }
        return Ok(None);
    }
    let defaults = crate::params::Contract::default();
    let tolerance = match &i.tolerance {
        None => defaults.tolerance,
        Some(t) if t.value.is_finite() && t.value > 0.0 => t.value,
        Some(t) => {
            return Err(invalid(
                &t.at,
                "interpolate.tolerance",
                format!("{} is not a usable interval width", t.value),
                "a positive number of nats, e.g. 0.01",
            ))
        }
    };
    let budget = match &i.budget {
        None => defaults.budget,
        Some(b) if b.value > 0.0 && b.value <= 1.0 => b.value,
        Some(b) => {
            return Err(invalid(
                &b.at,
                "interpolate.budget",
                format!("{} is not a share of the grid's forward passes", b.value),
                "a number in (0, 1], e.g. 0.2 for a fifth",
            ))
        }
    };
    Ok(Some(Adaptive { tolerance, budget }))
}

/// `[interpolate] at`: `"final"` and steps the finetune runs keep, each once; sorted into
/// training order.
pub(super) fn resolve_at(
    at: Option<&At<Vec<String>>>,
    finetune: &Finetune,
) -> Result<Vec<Checkpoint>, ManifestError> {
    let Some(at) = at else {
        return Ok(vec![Checkpoint::Final]);
    };
    let expected = "a list of \"final\" and \"step=<n>\" for steps in [finetune].keep";
    if at.value.is_empty() {
        return Err(invalid(&at.at, "interpolate.at", "an empty list", expected));
    }
    let mut out = Vec::new();
    for s in &at.value {
        let c = Checkpoint::parse(s).ok_or_else(|| {
            invalid(
                &at.at,
                "interpolate.at",
                format!("`{s}` is not a checkpoint"),
                expected,
            )
        })?;
        if out.contains(&c) {
            return Err(invalid(
                &at.at,
                "interpolate.at",
                format!("`{s}` is listed twice"),
                expected,
            ));
        }
        if let Checkpoint::Step(step) = c {
            let keep =
                match &finetune.origin {
                    Origin::Trained { hyper, .. } => hyper.keep.as_ref(),
                    // Any step: the zoo's `steps` says where each is; a missing one is an error
                    // naming the folder or revision when the study is planned.
                    Origin::Zoo { steps: Some(_), .. } => {
                        out.push(c);
                        continue;
                    }
                    Origin::Zoo { steps: None, .. } => return Err(invalid(
                        &at.at,
                        "interpolate.at",
                        format!("`{s}`: the zoo does not say where its members keep steps"),
                        "`steps = \"checkpoint-{step}\"` (a subfolder) or `\"step_{step}\"` (a \
                         Hub revision) in [zoo], or [\"final\"] alone",
                    )),
                };
            if !keep.is_some_and(|k| k.names(step)) {
                return Err(invalid(
                    &at.at,
                    "interpolate.at",
                    format!("step {step} is not a checkpoint the finetune runs keep"),
                    format!(
                        "a step in [finetune].keep ({})",
                        keep.map_or("not set".into(), |k| serde_json::to_string(k)
                            .unwrap_or_default())
                    ),
                ));
            }
        }
        out.push(c);
    }
    if !out.contains(&Checkpoint::Final) {
        return Err(invalid(
            &at.at,
            "interpolate.at",
            "steps without \"final\": each step's basins are read against the final ones",
            "\"final\" in the list too",
        ));
    }
    out.sort();
    Ok(out)
}
