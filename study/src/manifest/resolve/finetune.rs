//! `[finetune]`: which models are trained, on what, from which seeds.

use super::*;

pub(super) fn resolve_finetune(
    path: &Path,
    raw: Option<At<RawFinetune>>,
    models: &BTreeMap<String, Model>,
    tasks: &BTreeMap<String, Task>,
) -> Result<Finetune, ManifestError> {
    let f = raw.ok_or_else(|| {
        missing(
            top(path),
            "finetune",
            "the study has no [finetune] section",
            "[finetune] with model, tasks and seeds (or [zoo] to analyse given checkpoints)",
        )
    })?;
    let model = f.model.as_ref().ok_or_else(|| {
        invalid(
            &f.at,
            "finetune.model",
            "missing `model`",
            "the name of a [models.<name>] table",
        )
    })?;
    let model_names: Vec<&str> = models.keys().map(String::as_str).collect();
    if !models.contains_key(&model.value) {
        return Err(dangling(model, "finetune.model", " model", &model_names));
    }
    let task_names: Vec<&str> = tasks.keys().map(String::as_str).collect();
    let ftasks = f.tasks.as_ref().ok_or_else(|| {
        invalid(
            &f.at,
            "finetune.tasks",
            "missing `tasks`",
            "a list of [tasks.<name>] names",
        )
    })?;
    if ftasks.is_empty() {
        return Err(invalid(
            &f.at,
            "finetune.tasks",
            "the task list is empty",
            "at least one task",
        ));
    }
    for (i, t) in ftasks.iter().enumerate() {
        if ftasks[..i].iter().any(|u| u.value == t.value) {
            return Err(invalid(
                &t.at,
                "finetune.tasks",
                format!("task `{}` is listed twice", t.value),
                "each task once",
            ));
        }
        let Some(task) = tasks.get(&t.value) else {
            return Err(dangling(t, "finetune.tasks", " task", &task_names));
        };
        if let DataSource::Files { train: None, .. } = task.data.source {
            return Err(invalid(
                &task.at,
                &format!("tasks.{}.train", t.value),
                "missing `train` (the task is finetuned)",
                "a training file path",
            ));
        }
        if let DataSource::Hub(HubData { train: None, .. }) = &task.data.source {
            return Err(invalid(
                &task.at,
                &format!("tasks.{}.source.train", t.value),
                "missing `train` (the task is finetuned)",
                "train = \"train\" (the split it trains on)",
            ));
        }
        if let DataSource::Download(d) = &task.data.source {
            if !d.files.contains_key("train.tsv") {
                return Err(invalid(
                    &task.at,
                    &format!("tasks.{}.source", t.value),
                    format!(
                        "`{}` has no training split (the task is finetuned)",
                        d.dataset
                    ),
                    "a data set with a training split, e.g. glue/cola",
                ));
            }
        }
    }
    let seeds = f.seeds.as_ref().ok_or_else(|| {
        invalid(
            &f.at,
            "finetune.seeds",
            "missing `seeds`",
            "seeds = \"0..20\" or a list",
        )
    })?;
    check_range(
        &f.lr,
        "finetune.lr",
        1e-12,
        10.0,
        "a learning rate in (0, 10]",
    )?;
    check_range(
        &f.warmup_ratio,
        "finetune.warmup_ratio",
        0.0,
        1.0,
        "a fraction in [0, 1]",
    )?;
    check_range(
        &f.weight_decay,
        "finetune.weight_decay",
        0.0,
        1.0,
        "a value in [0, 1]",
    )?;
    check_range(
        &f.dropout,
        "finetune.dropout",
        0.0,
        0.99,
        "a probability in [0, 0.99]",
    )?;
    check_range(
        &f.grad_clip,
        "finetune.grad_clip",
        0.0,
        f64::MAX,
        "a non-negative norm (0 disables clipping)",
    )?;
    check_range(
        &f.epochs,
        "finetune.epochs",
        1e-9,
        1e6,
        "a positive number of epochs",
    )?;
    for (v, key) in [
        (&f.batch_size, "finetune.batch_size"),
        (&f.max_len, "finetune.max_len"),
    ] {
        if let Some(x) = v {
            if x.value == 0 {
                return Err(invalid(&x.at, key, "must be positive", "an integer >= 1"));
            }
        }
    }
    // A builtin model has max_position positions: longer inputs have no position embedding.
    let positions = match &models[&model.value] {
        Model::Builtin { config, .. } => Some(config.max_position),
        Model::Path(_) | Model::Hub(_) => None,
    };
    let max_len = match (&f.max_len, positions) {
        (Some(l), Some(p)) if l.value > p => {
            return Err(invalid(
                &l.at,
                "finetune.max_len",
                format!(
                    "{} tokens, but model `{}` has {p} positions",
                    l.value, model.value
                ),
                format!("max_len <= {p}, or a larger `max_position` in its builtin table"),
            ))
        }
        (Some(l), _) => l.value,
        (None, p) => p.map_or(128, |p| p.min(128)),
    };
    let hyper = FinetuneHyper {
        lr: f.lr.as_ref().map_or(2e-5, |x| x.value),
        batch_size: f.batch_size.as_ref().map_or(32, |x| x.value) as usize,
        epochs: f.epochs.as_ref().map_or(3.0, |x| x.value),
        max_steps: positive_count(&f.max_steps, "finetune.max_steps")?,
        warmup_ratio: f.warmup_ratio.as_ref().map_or(0.1, |x| x.value),
        weight_decay: f.weight_decay.as_ref().map_or(0.01, |x| x.value),
        max_len: max_len as usize,
        dropout: f.dropout.as_ref().map_or(0.1, |x| x.value),
        grad_clip: f.grad_clip.as_ref().map_or(1.0, |x| x.value),
        eval_every: f.eval_every.unwrap_or(0),
        checkpoint_every: f.checkpoint_every.unwrap_or(500),
        keep: f.keep.as_ref().map(resolve_keep).transpose()?,
        vary: f.vary.clone().unwrap_or_else(|| {
            vec![
                SeedStream::DataOrder,
                SeedStream::HeadInit,
                SeedStream::Dropout,
            ]
        }),
    };
    if hyper.vary.contains(&SeedStream::Pretrain)
        && !matches!(models.get(&model.value), Some(Model::Builtin { .. }))
    {
        return Err(invalid(
            &f.at,
            "finetune.vary",
            format!(
                "`pretrain` pretrains the base model once per seed, and model `{}` is a \
                 checkpoint, not a builtin model basins pretrains",
                model.value
            ),
            "a [models.<name>] with `builtin` and `pretrain`, or `vary` without \"pretrain\"",
        ));
    }
    Ok(Finetune {
        origin: Origin::Trained {
            model: model.value.clone(),
            hyper,
        },
        tasks: ftasks.iter().map(|t| t.value.clone()).collect(),
        seeds: seeds.0.clone(),
    })
}

/// `[finetune] keep`: at least one step, every one positive.
pub(super) fn resolve_keep(k: &At<Keep>) -> Result<Keep, ManifestError> {
    let expected = "`{ steps = [100, 200] }` (steps >= 1) or `{ every = 100 }` (>= 1)";
    match &k.value {
        Keep::Steps(s) if s.is_empty() => Err(invalid(
            &k.at,
            "finetune.keep",
            "no steps to keep",
            expected,
        )),
        Keep::Steps(s) if s.contains(&0) => Err(invalid(
            &k.at,
            "finetune.keep",
            "step 0 is the base model, not a finetuning checkpoint",
            expected,
        )),
        Keep::Every(0) => Err(invalid(&k.at, "finetune.keep", "every = 0", expected)),
        v => Ok(v.clone()),
    }
}
