//! `[sweep]`: one study over several values of its own keys, as hydra's multirun and DVC's
//! experiments do. Each key is a dotted path to a value this file sets (`"tasks.nli.generate.
//! shortcut_share" = [0.9, 0.97, 1.0]`); several keys sweep their product. Every combination is
//! the same file with those values put in, resolved like any manifest (so it is checked like
//! one), and becomes a sub-study whose node ids start with its label (`shortcut_share=0.97/`).
//! Nodes that do not depend on a swept value have the same recipe key in every sub-study and
//! run once.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::at::At;
use super::error::ManifestError;
use super::Manifest;

/// The most sub-studies one sweep may make.
pub const MAX_VARIANTS: usize = 64;

#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// The swept keys, in the order the file gives them.
    pub keys: Vec<String>,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    /// `leaf=value` per key, joined by `,`: the node-id prefix and the report's name for it.
    pub label: String,
    /// Key -> the value this sub-study has.
    pub values: BTreeMap<String, serde_json::Value>,
    #[serde(skip)]
    pub manifest: Box<Manifest>,
}

/// What `[sweep]` says, as written.
pub type RawSweep = At<BTreeMap<String, Vec<toml::Value>>>;

fn refuse(spec: &RawSweep, key: &str, message: String, expected: &str) -> ManifestError {
    ManifestError::Invalid {
        at: spec.at.clone(),
        key: format!("sweep.\"{key}\""),
        message,
        expected: Some(expected.into()),
        hint: None,
    }
}

/// Every combination of the swept values, each resolved from `text` (the file at `path`, the
/// one that declares the sweep) with its values put in.
pub(crate) fn variants(path: &Path, text: &str, spec: &RawSweep) -> Result<Sweep, ManifestError> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| {
        refuse(
            spec,
            "",
            format!("cannot re-read the file: {e}"),
            "valid TOML",
        )
    })?;
    table.remove("sweep");
    let keys: Vec<String> = spec.value.keys().cloned().collect();
    if keys.is_empty() {
        return Err(refuse(
            spec,
            "",
            "an empty [sweep]".into(),
            "at least one key = [values]",
        ));
    }
    let mut count = 1usize;
    for (key, values) in &spec.value {
        if key.starts_with("study.") || key == "study" || key.starts_with("include") {
            return Err(refuse(
                spec,
                key,
                "the study's own settings (name, cache, executor) are shared by every sub-study"
                    .into(),
                "a key under [models], [tasks], [finetune], [interpolate], [diagnostics] or [cluster]",
            ));
        }
        if values.is_empty() {
            return Err(refuse(
                spec,
                key,
                "no values".into(),
                "a list of at least one value",
            ));
        }
        match lookup(&table, key) {
            Some(v) if !v.is_table() => {}
            Some(_) => {
                return Err(refuse(
                    spec,
                    key,
                    "names a table, not a value".into(),
                    "the dotted path of one value",
                ))
            }
            None => {
                return Err(refuse(
                    spec,
                    key,
                    "this file does not set that key".into(),
                    "a key this file sets (its value here is the base the sweep replaces)",
                ))
            }
        }
        count = count.saturating_mul(values.len());
    }
    if count > MAX_VARIANTS {
        return Err(refuse(
            spec,
            "",
            format!("{count} combinations"),
            &format!("at most {MAX_VARIANTS} sub-studies; split the sweep"),
        ));
    }
    let names = short_names(&keys);
    let mut out: Vec<Variant> = Vec::new();
    for combo in product(&spec.value) {
        let mut t = table.clone();
        let mut parts = Vec::new();
        let mut values = BTreeMap::new();
        for ((key, value), name) in keys.iter().zip(&combo).zip(&names) {
            let shown = plain(value).ok_or_else(|| {
                refuse(
                    spec,
                    key,
                    format!("`{value}` cannot name a sub-study"),
                    "numbers, booleans, or strings of letters, digits, `_`, `-` and `.`",
                )
            })?;
            parts.push(format!("{name}={shown}"));
            values.insert(
                key.clone(),
                serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
            );
            *lookup_mut(&mut t, key).expect("checked above") = value.clone();
        }
        let label = parts.join(",");
        if out.iter().any(|v| v.label == label) {
            return Err(refuse(
                spec,
                &keys.join(","),
                format!("two combinations are both `{label}`"),
                "distinct values",
            ));
        }
        let variant_text = toml::to_string(&t).map_err(|e| {
            refuse(
                spec,
                "",
                format!("cannot write {label}: {e}"),
                "plain values",
            )
        })?;
        let manifest = Manifest::from_str_at(path, &variant_text).map_err(|e| {
            refuse(
                spec,
                &keys.join(","),
                format!("with {label} the study is not valid: {e}"),
                "values the study accepts",
            )
        })?;
        out.push(Variant {
            label,
            values,
            manifest: Box::new(manifest),
        });
    }
    Ok(Sweep {
        keys,
        variants: out,
    })
}

/// Each key's last segment, or the whole key where two keys share one.
fn short_names(keys: &[String]) -> Vec<String> {
    let leaf = |k: &String| k.rsplit('.').next().unwrap_or(k).to_owned();
    keys.iter()
        .map(|k| {
            let l = leaf(k);
            if keys.iter().filter(|o| leaf(o) == l).count() > 1 {
                k.clone()
            } else {
                l
            }
        })
        .collect()
}

/// A value as it may appear in a node id.
fn plain(v: &toml::Value) -> Option<String> {
    let s = match v {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) if f.is_finite() => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::String(s) => s.clone(),
        _ => return None,
    };
    let ok = !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    ok.then_some(s)
}

fn lookup<'t>(t: &'t toml::Table, key: &str) -> Option<&'t toml::Value> {
    let mut parts = key.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

fn lookup_mut<'t>(t: &'t mut toml::Table, key: &str) -> Option<&'t mut toml::Value> {
    let mut parts = key.split('.');
    let mut v = t.get_mut(parts.next()?)?;
    for p in parts {
        v = v.as_table_mut()?.get_mut(p)?;
    }
    Some(v)
}

/// The cartesian product of the values, keys in order, the last key varying fastest.
fn product(spec: &BTreeMap<String, Vec<toml::Value>>) -> Vec<Vec<toml::Value>> {
    let mut out: Vec<Vec<toml::Value>> = vec![Vec::new()];
    for values in spec.values() {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect();
    }
    out
}
