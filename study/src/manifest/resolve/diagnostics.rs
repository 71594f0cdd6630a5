//! `[diagnostics.*]` and their strategy labels.

use super::*;

/// A `strategy`: a finite threshold and two different, non-empty names.
pub(super) fn check_strategy(s: &At<Strategy>, key: &str) -> Result<Strategy, ManifestError> {
    let v = &s.value;
    let problem = if !v.threshold.is_finite() {
        Some((
            "threshold",
            "a finite number (0.5: the rule a model follows on most rows)",
        ))
    } else if v.above.trim().is_empty() || v.below.trim().is_empty() {
        Some((
            "above",
            "two non-empty names, e.g. above = \"rule\", below = \"shortcut\"",
        ))
    } else if v.above == v.below {
        Some(("below", "a name different from `above`"))
    } else if v.kinds.as_ref().is_some_and(|k| k.trim().is_empty()) {
        Some((
            "kinds",
            "the name of a group column, e.g. kinds = \"construction\"",
        ))
    } else {
        None
    };
    match problem {
        Some((field, expected)) => Err(invalid(
            &s.at,
            &format!("{key}.strategy.{field}"),
            format!(
                "{field} = {}",
                match field {
                    "threshold" => v.threshold.to_string(),
                    "above" => format!("{:?}", v.above),
                    "kinds" => format!("{:?}", v.kinds.as_deref().unwrap_or_default()),
                    _ => format!("{:?}", v.below),
                }
            ),
            expected,
        )),
        None => Ok(v.clone()),
    }
}

pub(super) fn resolve_diagnostics(
    raw: BTreeMap<String, At<RawDiagnostic>>,
    tasks: &BTreeMap<String, Task>,
    finetune: &Finetune,
) -> Result<BTreeMap<String, Diagnostic>, ManifestError> {
    let ft: Vec<&str> = finetune.tasks.iter().map(String::as_str).collect();
    raw.into_iter()
        .map(|(name, d)| {
            let key = format!("diagnostics.{name}");
            check_name(&d.at, "diagnostics", "diagnostic", &name, false)?;
            if tasks.contains_key(&name) {
                return Err(invalid(
                    &d.at,
                    &key,
                    format!("`{name}` is already a task name"),
                    "diagnostic names distinct from task names",
                ));
            }
            let task = d.task.as_ref().ok_or_else(|| {
                invalid(
                    &d.at,
                    &format!("{key}.task"),
                    "missing `task`",
                    "the finetuned task whose models this set diagnoses",
                )
            })?;
            if !finetune.tasks.contains(&task.value) {
                return Err(dangling(
                    task,
                    &format!("{key}.task"),
                    " finetuned task",
                    &ft,
                ));
            }
            let given = [
                ("file", d.file.is_some()),
                ("generate", d.generate.is_some()),
            ];
            let (format, source) =
                match download(&d.source, &d.format, &given, &key, SetRole::Diagnostic)? {
                    Some(downloaded) => downloaded,
                    None => {
                        let format = d.format.as_ref().ok_or_else(|| {
                            invalid(
                            &d.at,
                            &key,
                            "missing `format`",
                            "one of cola, mnli, qqp, hans, paws, jsonl, generated (or `source`)",
                        )
                        })?;
                        let source = resolve_source(
                            &d.at,
                            &key,
                            format.value,
                            None,
                            None,
                            d.generate.as_ref(),
                        )?;
                        let source = match (source, &d.file) {
                            (DataSource::Files { .. }, Some(f)) => DataSource::Files {
                                train: None,
                                eval: [("file".to_owned(), rel(f))].into(),
                            },
                            (DataSource::Files { .. }, None) => {
                                return Err(invalid(
                                    &d.at,
                                    &format!("{key}.file"),
                                    "missing `file`",
                                    "the diagnostic set's path (or `source`)",
                                ))
                            }
                            (gen, _) => gen,
                        };
                        (format.value, source)
                    }
                };
            let labels = match &d.labels {
                Some(_) => labels_of(&d.labels, &d.at, &key)?,
                None => tasks[&task.value].data.labels.clone(),
            };
            let (surface, score) = surface_and_score(
                &key,
                &labels,
                d.surface.as_ref(),
                d.metric.as_ref(),
                d.metric_where.as_ref(),
                d.metric_held_out.as_ref(),
            )?;
            no_fields_with_hub(&source, d.fields.as_ref(), &d.at, &key)?;
            let strategy = match &d.strategy {
                Some(s) => Some(check_strategy(s, &key)?),
                None => None,
            };
            Ok((
                name.clone(),
                Diagnostic {
                    task: task.value.clone(),
                    data: SetData {
                        format,
                        source,
                        labels,
                        max_examples: positive_count(
                            &d.max_examples,
                            &format!("{key}.max_examples"),
                        )?,
                        on_bad_row: d.on_bad_row.unwrap_or(OnBadRow::Error),
                        fields: fields_of(d.fields.as_ref(), format, &d.at, &key)?,
                        surface,
                        score,
                    },
                    strategy,
                },
            ))
        })
        .collect()
}
