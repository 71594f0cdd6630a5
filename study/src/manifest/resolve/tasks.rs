//! `[tasks.*]`.

use super::*;

pub(super) fn resolve_tasks(
    raw: BTreeMap<String, At<RawTask>>,
) -> Result<BTreeMap<String, Task>, ManifestError> {
    raw.into_iter()
        .map(|(name, t)| {
            let key = format!("tasks.{name}");
            check_name(&t.at, "tasks", "task", &name, false)?;
            for split in t.eval.iter().flatten() {
                check_name(&split.1.at, &format!("{key}.eval"), "split", split.0, false)?;
            }
            let given = [
                ("train", t.train.is_some()),
                ("eval", t.eval.is_some()),
                ("generate", t.generate.is_some()),
            ];
            let downloaded = download(&t.source, &t.format, &given, &key, SetRole::Task)?;
            let (format, source) = match downloaded {
                Some((format, source)) => (format, source),
                None => {
                    let format = t.format.as_ref().ok_or_else(|| {
                        invalid(
                            &t.at,
                            &key,
                            "missing `format`",
                            "one of cola, mnli, qqp, hans, paws, jsonl, generated (or `source`)",
                        )
                    })?;
                    let source = resolve_source(
                        &t.at,
                        &key,
                        format.value,
                        t.train.as_ref(),
                        t.eval.as_ref(),
                        t.generate.as_ref(),
                    )?;
                    (format.value, source)
                }
            };
            if let DataSource::Files { eval, .. } = &source {
                if eval.is_empty() {
                    return Err(invalid(
                        &t.at,
                        &format!("{key}.eval"),
                        "missing `eval`",
                        "eval = { dev = \"path/to/dev.tsv\" }",
                    ));
                }
            }
            let labels = match (&t.labels, t.source.as_ref().map(|s| &s.value)) {
                (None, Some(RawSource::Named(name))) => dataset_labels(name),
                _ => labels_of(&t.labels, &t.at, &key)?,
            };
            no_fields_with_hub(&source, t.fields.as_ref(), &t.at, &key)?;
            let (surface, score) = surface_and_score(
                &key,
                &labels,
                t.surface.as_ref(),
                t.metric.as_ref(),
                t.metric_where.as_ref(),
                t.metric_held_out.as_ref(),
            )?;
            Ok((
                name.clone(),
                Task {
                    at: t.at.clone(),
                    data: SetData {
                        format,
                        source,
                        labels,
                        max_examples: positive_count(
                            &t.max_examples,
                            &format!("{key}.max_examples"),
                        )?,
                        on_bad_row: t.on_bad_row.unwrap_or(OnBadRow::Error),
                        fields: fields_of(t.fields.as_ref(), format, &t.at, &key)?,
                        surface,
                        score,
                    },
                },
            ))
        })
        .collect()
}
