//! `[zoo]`: models finetuned elsewhere (a directory or Hub repositories), and their steps.

use super::*;

/// `[zoo]`: the task the checkpoints were finetuned on and the folder that holds them, one
/// checkpoint (a directory with `config.json`) per subdirectory. The folder is listed here, at
/// load time, because the members decide the study's shape; their contents are hashed as inputs.
pub(super) fn resolve_zoo(
    z: At<RawZoo>,
    tasks: &BTreeMap<String, Task>,
) -> Result<Finetune, ManifestError> {
    let task = z.task.as_ref().ok_or_else(|| {
        invalid(
            &z.at,
            "zoo.task",
            "missing `task`",
            "the [tasks.<name>] the checkpoints were finetuned on",
        )
    })?;
    if !tasks.contains_key(&task.value) {
        let names: Vec<&str> = tasks.keys().map(String::as_str).collect();
        return Err(dangling(task, "zoo.task", " task", &names));
    }
    let (from, found, found_at, found_where) = match (&z.dir, &z.hub) {
        (Some(dir_at), None) => {
            if let Some(r) = &z.revision {
                return Err(invalid(
                    &r.at,
                    "zoo.revision",
                    "`revision` without `hub`",
                    "`hub = \"owner/name_{0..10}\"` beside it, or no `revision`",
                ));
            }
            let dir = rel(dir_at);
            let found = checkpoints_in(&dir).map_err(|e| {
                invalid(
                    &dir_at.at,
                    "zoo.dir",
                    format!("cannot list {}: {e}", dir.display()),
                    "a folder with one finetuned checkpoint per subdirectory",
                )
            })?;
            let shown = dir.display().to_string();
            (ZooFrom::Dir(dir), found, dir_at, shown)
        }
        (None, Some(pattern)) => {
            let repos = hub::expand_pattern(&pattern.value).map_err(|m| {
                invalid(
                    &pattern.at,
                    "zoo.hub",
                    m,
                    "model ids with one range, like \"connectivity/feather_berts_{0..100}\"",
                )
            })?;
            let refs = repos
                .iter()
                .map(|r| {
                    hub_ref(
                        &At {
                            value: r.clone(),
                            at: pattern.at.clone(),
                        },
                        &z.revision,
                        "zoo",
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let names: Vec<String> = refs.iter().map(|r| r.name().to_owned()).collect();
            if let Some(dup) = (1..names.len()).find(|&i| names[..i].contains(&names[i])) {
                return Err(invalid(
                    &pattern.at,
                    "zoo.hub",
                    format!("two members would be called `{}`", names[dup]),
                    "model ids whose names (after `/`) differ",
                ));
            }
            let shown = format!("the Hub pattern `{}`", pattern.value);
            (ZooFrom::Hub(refs), names, pattern, shown)
        }
        _ => {
            return Err(invalid(
                &z.at,
                "zoo",
                "a zoo needs exactly one of `dir` and `hub`",
                "`dir = \"folder of checkpoints\"` or `hub = \"owner/name_{0..100}\"`",
            ))
        }
    };
    let (where_key, what) = match &from {
        ZooFrom::Dir(_) => ("zoo.dir", "is not a subdirectory of {} holding config.json"),
        ZooFrom::Hub(_) => ("zoo.hub", "is not a model that {} names"),
    };
    let members = match &z.members {
        Some(chosen) => {
            for name in chosen.iter() {
                if !found.contains(name) {
                    let known: Vec<&str> = found.iter().map(String::as_str).collect();
                    let mut e = dangling(
                        &At {
                            value: name.clone(),
                            at: chosen.at.clone(),
                        },
                        "zoo.members",
                        " checkpoint",
                        &known,
                    );
                    if let ManifestError::Invalid { message, .. } = &mut e {
                        *message = format!("`{name}` {}", what.replace("{}", &found_where));
                    }
                    return Err(e);
                }
            }
            chosen.value.clone()
        }
        None => found.clone(),
    };
    // Members name nodes (`evaluate/mnli/model=<member>`) and report rows.
    for m in &members {
        let at = z.members.as_ref().map_or(&found_at.at, |c| &c.at);
        check_name(at, "zoo.members", "zoo member", m, true)?;
    }
    if members.len() > super::super::spec::MAX_SEEDS as usize {
        return Err(invalid(
            &found_at.at,
            where_key,
            format!("{found_where} holds {} checkpoints", members.len()),
            format!(
                "at most {} (list a subset in `members`, or split the zoo)",
                super::super::spec::MAX_SEEDS
            ),
        ));
    }
    if members.len() < 2 {
        return Err(invalid(
            &found_at.at,
            where_key,
            format!(
                "{found_where} holds {} checkpoint(s){}",
                members.len(),
                match from {
                    ZooFrom::Dir(_) => " (subdirectories with config.json)",
                    ZooFrom::Hub(_) => "",
                }
            ),
            "at least 2 checkpoints to compare",
        ));
    }
    // A chosen subset of Hub members keeps its references, in the chosen order.
    let from = match from {
        ZooFrom::Hub(refs) => ZooFrom::Hub(
            members
                .iter()
                .map(|m| refs[found.iter().position(|f| f == m).expect("checked above")].clone())
                .collect(),
        ),
        dir => dir,
    };
    let tokenizer = match (&z.tokenizer, &from) {
        (None, _) => None,
        (Some(t), ZooFrom::Hub(_)) => {
            let repo = At {
                value: t.hub.clone(),
                at: t.at.clone(),
            };
            let rev = t.revision.clone().map(|value| At {
                value,
                at: t.at.clone(),
            });
            Some(hub_ref(&repo, &rev, "zoo.tokenizer")?)
        }
        (Some(t), ZooFrom::Dir(_)) => {
            return Err(invalid(
                &t.at,
                "zoo.tokenizer",
                "`tokenizer` with a `dir` zoo",
                "tokenizer files in each member's directory (or a `hub` zoo)",
            ))
        }
    };
    let steps = match &z.steps {
        None => None,
        Some(t) => {
            let ok = t.value.contains("{step}")
                && !t.value.starts_with('/')
                && !t
                    .value
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == "..")
                && t.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "{}-_./=".contains(c));
            if !ok {
                return Err(invalid(
                    &t.at,
                    "zoo.steps",
                    format!("`{}` does not name where step n is", t.value),
                    "a relative subfolder (`dir`) or a revision (`hub`) with `{step}` in it, \
                     like \"checkpoint-{step}\" (letters, digits, - _ . / =)",
                ));
            }
            Some(ZooSteps {
                template: t.value.clone(),
                hub: BTreeMap::new(),
            })
        }
    };
    Ok(Finetune {
        seeds: (0..members.len() as u64).collect(),
        origin: Origin::Zoo {
            members,
            from,
            tokenizer,
            steps,
        },
        tasks: vec![task.value.clone()],
    })
}

/// Subdirectories of `dir` that hold a `config.json`, sorted by name.
pub(super) fn checkpoints_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut v = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.path().join("config.json").is_file() {
            v.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    v.sort();
    Ok(v)
}
