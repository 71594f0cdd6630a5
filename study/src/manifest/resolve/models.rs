//! `[models.*]`: Hub repositories, local directories and builtin models.

use super::*;

pub(super) fn resolve_models(
    path: &Path,
    raw: BTreeMap<String, At<RawModel>>,
    zoo: bool,
) -> Result<BTreeMap<String, Model>, ManifestError> {
    if raw.is_empty() && !zoo {
        return Err(missing(
            top(path),
            "models",
            "the study defines no [models.<name>]",
            "[models.base] with `path` or `builtin`",
        ));
    }
    raw.into_iter()
        .map(|(name, m)| {
            let key = format!("models.{name}");
            check_name(&m.at, "models", "model", &name, true)?;
            if let (Some(r), None) = (&m.revision, &m.hub) {
                return Err(invalid(
                    &r.at,
                    &format!("{key}.revision"),
                    "`revision` without `hub`",
                    "`hub = \"owner/name\"` beside it, or no `revision`",
                ));
            }
            let model = match (&m.path, &m.builtin, &m.hub) {
                (None, None, Some(h)) => Model::Hub(hub_ref(h, &m.revision, &key)?),
                (Some(p), None, None) => Model::Path(rel(p)),
                (None, Some(b), None) => Model::Builtin {
                    config: {
                        builtin_problem(b).map_or(Ok(()), |problem| {
                            Err(invalid(
                                &m.at,
                                &format!("{key}.builtin"),
                                problem,
                                "builtin = { layers = 2, hidden = 64, heads = 2 } (heads divide hidden)",
                            ))
                        })?;
                        Architecture {
                            layers: b.layers.unwrap_or(2),
                            hidden: b.hidden.unwrap_or(64),
                            heads: b.heads.unwrap_or(2),
                            intermediate: b.intermediate.unwrap_or(4 * b.hidden.unwrap_or(64)),
                            max_position: b.max_position.unwrap_or(64),
                            dropout: b.dropout,
                        }
                    },
                    pretrain: match &m.pretrain {
                        Some(p) => {
                            if let Some(problem) = p.problem() {
                                return Err(invalid(
                                    &p.at,
                                    &format!("{key}.pretrain"),
                                    problem,
                                    "pretrain = { steps = 2000, batch_size = 64, lr = 1e-3 }",
                                ));
                            }
                            p.value.clone()
                        }
                        None => PretrainSpec::default(),
                    },
                },
                _ => {
                    return Err(invalid(
                        &m.at,
                        &key,
                        "a model needs exactly one of `path`, `hub` and `builtin`",
                        "`path = \"dir\"`, `hub = \"owner/name\"` or \
                         `builtin = { layers = 2, hidden = 64 }`",
                    ))
                }
            };
            Ok((name, model))
        })
        .collect()
}

/// What is wrong with a builtin model's shape, if anything: every size positive and within
/// what a CPU study can hold, and the heads dividing the hidden size (each head takes an equal
/// slice of it).
pub(super) fn builtin_problem(b: &RawBuiltin) -> Option<String> {
    let hidden = b.hidden.unwrap_or(64);
    let heads = b.heads.unwrap_or(2);
    for (name, value, max) in [
        ("layers", b.layers.unwrap_or(2), 48),
        ("hidden", hidden, 4096),
        ("heads", heads, 64),
        (
            "intermediate",
            b.intermediate.unwrap_or(hidden.saturating_mul(4)),
            16384,
        ),
        ("max_position", b.max_position.unwrap_or(64), 8192),
    ] {
        if value == 0 || value > max {
            return Some(format!("`{name}` is {value}; it must be from 1 to {max}"));
        }
    }
    if let Some(d) = b.dropout.filter(|d| !(0.0..1.0).contains(d)) {
        return Some(format!(
            "`dropout` is {d}; a probability in [0, 1) is expected"
        ));
    }
    (!hidden.is_multiple_of(heads))
        .then(|| format!("{heads} heads do not divide hidden = {hidden}"))
}
