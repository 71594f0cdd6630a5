//! Where a task's or diagnostic's rows come from: files, the Hub, generators; labels, JSONL
//! fields, and the rows a loss surface and a score are taken on.

use super::*;

/// JSONL field names. Other layouts have fixed columns, so a `fields` table there would be
/// silently ignored: it is refused, as `data check --field` refuses it.
pub(super) fn fields_of(
    fields: Option<&BTreeMap<String, String>>,
    format: DataFormat,
    at: &Location,
    key: &str,
) -> Result<BTreeMap<String, String>, ManifestError> {
    match fields {
        Some(f)
            if !f.is_empty() && !matches!(format, DataFormat::Jsonl | DataFormat::Generated) =>
        {
            Err(invalid(
                at,
                &format!("{key}.fields"),
                format!(
                    "`fields` names JSONL fields, and this set's format is {}",
                    format!("{format:?}").to_lowercase()
                ),
                "no `fields` (the layout's columns are fixed), or format = \"jsonl\"",
            ))
        }
        f => Ok(f.cloned().unwrap_or_default()),
    }
}

/// `hub = "owner/name"` with its optional `revision` (`main` by default).
pub(super) fn hub_ref(
    repo: &At<String>,
    revision: &Option<At<String>>,
    key: &str,
) -> Result<HubRef, ManifestError> {
    hub::check_repo(&repo.value).map_err(|m| {
        invalid(
            &repo.at,
            &format!("{key}.hub"),
            m,
            "a model id like \"sentence-transformers/all-MiniLM-L6-v2\"",
        )
    })?;
    let (rev, at) = revision
        .as_ref()
        .map_or(("main", &repo.at), |r| (r.value.as_str(), &r.at));
    HubRef::new(&repo.value, rev).map_err(|m| {
        invalid(
            at,
            &format!("{key}.revision"),
            m,
            "a branch (\"main\"), a tag, or a 40-hex commit",
        )
    })
}

/// Whether a `source` table is a task's (train and eval splits) or a diagnostic's (one split).
#[derive(Clone, Copy, PartialEq)]
pub(super) enum SetRole {
    Task,
    Diagnostic,
}

/// `source`: the data set's format and its download, or None without `source`. With it, the
/// keys that name files or a generator must be absent, and `format`, if given, must be the
/// data set's (a Hub data set's format is free: it only sets the analysis's defaults).
pub(super) fn download(
    source: &Option<At<RawSource>>,
    format: &Option<At<DataFormat>>,
    given: &[(&str, bool)],
    key: &str,
    role: SetRole,
) -> Result<Option<(DataFormat, DataSource)>, ManifestError> {
    let Some(src) = source else { return Ok(None) };
    // A key that names files or a generator beside `source`.
    let both = || match given.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(invalid(
            &src.at,
            &format!("{key}.{field}"),
            format!("`{field}` and `source` both say where the data comes from"),
            "one of them",
        )),
        None => Ok(()),
    };
    let name = match &src.value {
        RawSource::Named(name) => name,
        RawSource::Hub(h) => {
            both()?;
            return hub_source(h, &src.at, format, key, role).map(Some);
        }
    };
    let Some(dataset) = super::super::datasets::find(name) else {
        let names: Vec<&str> = super::super::datasets::DATASETS
            .iter()
            .map(|d| d.name)
            .collect();
        return Err(invalid(
            &src.at,
            &format!("{key}.source"),
            format!("`{name}` is not a data set basins knows by name"),
            format!(
                "one of {}, or a Hub dataset: source = {{ hub = \"nyu-mll/glue\", config = \
                 \"mnli\", revision = \"<commit>\" }}",
                names.join(", ")
            ),
        ));
    };
    both()?;
    if let Some(f) = format.as_ref().filter(|f| f.value != dataset.format) {
        return Err(invalid(
            &f.at,
            &format!("{key}.format"),
            format!("`{}` is in format {:?}", dataset.name, dataset.format),
            "no `format` with `source` (it is the data set's), or the data set's",
        ));
    }
    Ok(Some((dataset.format, DataSource::Download(dataset.spec()))))
}

/// `source = { hub = "owner/name", config, revision, ... }`.
fn hub_source(
    h: &RawHubData,
    at: &Location,
    format: &Option<At<DataFormat>>,
    key: &str,
    role: SetRole,
) -> Result<(DataFormat, DataSource), ManifestError> {
    let field = |f: &str| format!("{key}.source.{f}");
    let source = HubRef::dataset(&h.hub, h.revision.as_deref().unwrap_or("main")).map_err(|m| {
        invalid(
            at,
            &field("hub"),
            m.replace("model id", "dataset id"),
            "a data set id like \"nyu-mll/glue\" and a revision: a branch, a tag or a 40-hex \
             commit",
        )
    })?;
    let config = h.config.clone().unwrap_or_else(|| "default".to_owned());
    // Config and split names are path segments of the repository's files and of node ids.
    check_name(at, &field("config"), "config", &config, true)?;
    let (train, eval) = match role {
        SetRole::Task => {
            if h.split.is_some() {
                return Err(invalid(
                    at,
                    &field("split"),
                    "`split` names a diagnostic's one split; a task names its splits",
                    "train = \"train\", eval = { dev = \"validation\" }",
                ));
            }
            let eval = h
                .eval
                .clone()
                .unwrap_or_else(|| [("dev".to_owned(), "validation".to_owned())].into());
            if eval.is_empty() {
                return Err(invalid(
                    at,
                    &field("eval"),
                    "no eval split",
                    "eval = { dev = \"validation\" } (set name = split)",
                ));
            }
            for name in eval.keys() {
                check_name(at, &field("eval"), "eval set", name, false)?;
            }
            (h.train.clone(), eval)
        }
        SetRole::Diagnostic => {
            if let Some(f) = [("train", h.train.is_some()), ("eval", h.eval.is_some())]
                .iter()
                .find(|f| f.1)
            {
                return Err(invalid(
                    at,
                    &field(f.0),
                    format!("a diagnostic reads one split; `{}` is a task's", f.0),
                    "split = \"validation\"",
                ));
            }
            let split = h.split.clone().unwrap_or_else(|| "validation".to_owned());
            (None, [("eval".to_owned(), split)].into())
        }
    };
    for split in train.iter().chain(eval.values()) {
        check_name(at, &field("split"), "split", split, true)?;
    }
    let layout = super::super::hub_data::layout(&h.hub, &config);
    let format = match (format, &layout) {
        (Some(f), _) if f.value == DataFormat::Generated => return Err(invalid(
            &f.at,
            &format!("{key}.format"),
            "a Hub data set is not generated",
            "no `format` (the data set's layout decides), or mnli, qqp, hans, paws, cola, jsonl",
        )),
        (Some(f), _) => f.value,
        (None, Some(l)) => l.format,
        (None, None) => DataFormat::Jsonl,
    };
    let columns = h.columns.clone().unwrap_or_default();
    let columns = match &layout {
        Some(l) => columns.or(&l.columns),
        None => columns,
    };
    if let Some(names) = &h.label_names {
        if names.is_empty() || (1..names.len()).any(|i| names[..i].contains(&names[i])) {
            return Err(invalid(
                at,
                &field("label_names"),
                "the label names are empty or repeat a name",
                "each label once, in the order of the label column's integers",
            ));
        }
    }
    Ok((
        format,
        DataSource::Hub(HubData {
            source,
            config,
            train,
            eval,
            columns,
            label_names: h.label_names.clone(),
            rename: h.rename.clone().unwrap_or_default(),
        }),
    ))
}

/// A Hub data set's columns are named by `source.columns`: a JSONL `fields` table beside it
/// would be silently ignored, so it is refused.
pub(super) fn no_fields_with_hub(
    source: &DataSource,
    fields: Option<&BTreeMap<String, String>>,
    at: &Location,
    key: &str,
) -> Result<(), ManifestError> {
    match (source, fields) {
        (DataSource::Hub(_), Some(f)) if !f.is_empty() => Err(invalid(
            at,
            &format!("{key}.fields"),
            "`fields` names JSONL fields; a Hub data set's columns are named in its `source`",
            "source = { hub = \"...\", columns = { first = \"premise\", second = \
             \"hypothesis\", label = \"label\" } }",
        )),
        _ => Ok(()),
    }
}

/// A downloaded data set's labels, in its files' order.
pub(super) fn dataset_labels(name: &str) -> Vec<String> {
    super::super::datasets::find(name)
        .map(|d| d.labels.iter().map(|l| l.to_string()).collect())
        .unwrap_or_default()
}

pub(super) fn resolve_source(
    at: &Location,
    key: &str,
    format: DataFormat,
    train: Option<&At<String>>,
    eval: Option<&BTreeMap<String, At<String>>>,
    generate: Option<&At<GeneratorSpec>>,
) -> Result<DataSource, ManifestError> {
    match (format, generate) {
        (DataFormat::Generated, Some(g)) => match g.problem() {
            Some(problem) => Err(invalid(
                &g.at,
                &format!("{key}.generate"),
                problem,
                "generate = { generator = \"nli\", seed = 0, train = 4000, eval = 1000 }",
            )),
            None => Ok(DataSource::Generated(g.value.clone())),
        },
        (DataFormat::Generated, None) => Err(invalid(
            at,
            key,
            "format \"generated\" needs a `generate` table",
            "generate = { generator = \"nli\", seed = 0, ... }",
        )),
        (_, Some(_)) => Err(invalid(
            at,
            key,
            "`generate` only goes with format = \"generated\"",
            "files for this format, or format = \"generated\"",
        )),
        (_, None) => Ok(DataSource::Files {
            train: train.map(rel),
            eval: eval
                .map(|e| e.iter().map(|(k, v)| (k.clone(), rel(v))).collect())
                .unwrap_or_default(),
        }),
    }
}

pub(super) fn labels_of(
    l: &Option<At<Vec<String>>>,
    at: &Location,
    key: &str,
) -> Result<Vec<String>, ManifestError> {
    match l {
        Some(l) if l.iter().any(String::is_empty) => Err(invalid(&l.at, &format!("{key}.labels"), "a label is empty", "non-empty label names")),
        Some(l) if (1..l.len()).any(|i| l[..i].contains(&l[i])) => {
            let dup = (1..l.len()).find(|&i| l[..i].contains(&l[i])).map(|i| l[i].clone()).unwrap_or_default();
            Err(invalid(&l.at, &format!("{key}.labels"), format!("label `{dup}` is listed twice"), "each label once, in model output order"))
        }
        Some(l) if l.len() >= 2 => Ok(l.value.clone()),
        Some(l) => Err(invalid(&l.at, &format!("{key}.labels"), "a classification task needs at least 2 labels", "labels = [\"0\", \"1\"]")),
        None => Err(invalid(at, &format!("{key}.labels"), "missing `labels` (the label set is declared, then checked against data and checkpoints)", "labels = [\"entailment\", \"neutral\", \"contradiction\"]")),
    }
}

/// A task's or diagnostic's `surface`, `metric` and `metric_where`, checked against its labels:
/// a `label` filter names declared labels, `n` is at least 1, F1 needs two labels.
pub(super) fn surface_and_score(
    key: &str,
    labels: &[String],
    surface: Option<&At<Surface>>,
    metric: Option<&At<Metric>>,
    metric_where: Option<&At<Where>>,
    metric_held_out: Option<&At<bool>>,
) -> Result<(Option<Surface>, Option<Score>), ManifestError> {
    let check_where = |w: &Where, at: &Location, field: &str| -> Result<(), ManifestError> {
        for (column, values) in &w.0 {
            if column == "label" {
                if let Some(bad) = values.iter().find(|v| !labels.contains(v)) {
                    return Err(invalid(
                        at,
                        &format!("{key}.{field}.label"),
                        format!("`{bad}` is not one of the set's labels"),
                        format!("one of {labels:?}"),
                    ));
                }
            }
        }
        Ok(())
    };
    if let Some(s) = surface {
        check_where(&s.filter, &s.at, "surface.where")?;
        if s.n == Some(0) {
            return Err(invalid(
                &s.at,
                &format!("{key}.surface.n"),
                "a surface of 0 examples has no loss to interpolate",
                "n >= 1 (the paper uses 512), or leave it out for every matching row",
            ));
        }
    }
    if let Some(w) = metric_where {
        check_where(w, &w.at, "metric_where")?;
    }
    let score = match (metric, metric_where) {
        (Some(m), _) if m.value == Metric::F1 && labels.len() != 2 => {
            return Err(invalid(
                &m.at,
                &format!("{key}.metric"),
                format!(
                    "F1 is defined for two labels; this set has {}",
                    labels.len()
                ),
                "metric = \"accuracy\" or \"mcc\"",
            ))
        }
        (Some(m), w) => Some(Score {
            metric: m.value,
            filter: w.map(|w| w.value.clone()).unwrap_or_default(),
            held_out: metric_held_out.is_some_and(|h| h.value),
        }),
        (None, Some(w)) => {
            return Err(invalid(
                &w.at,
                &format!("{key}.metric_where"),
                "`metric_where` without `metric`",
                "metric = \"accuracy\" beside it",
            ))
        }
        (None, None) => None,
    };
    if let (None, Some(h)) = (metric, metric_held_out) {
        return Err(invalid(
            &h.at,
            &format!("{key}.metric_held_out"),
            "`metric_held_out` without `metric`",
            "metric = \"accuracy\" beside it",
        ));
    }
    Ok((surface.map(|s| s.value.clone()), score))
}
