//! Recipe keys: what we ran, as opposed to content hashes (what came out).
//!
//! A key is blake3 over the canonical JSON of a `Preimage`: the hashing-scheme version, the
//! stage kind and its hand-bumped implementation version, the resolved params (defaults
//! included), the content hashes of every input (files, or upstream outputs), and the
//! environment that changes the bits (backend, precision). serde_json's maps are ordered, its
//! floats print in shortest round-trip form, and each field is typed, so two equal recipes
//! always give the same bytes, and no two different ones can collide by concatenation.

use std::collections::BTreeMap;
use std::fmt;

use basins_cache::Digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped when the pre-image's layout or meaning changes; invalidates every key.
pub const SCHEME_VERSION: u32 = 1;

/// A recipe key: the blake3 of a canonical pre-image.
pub type RecipeKey = Digest;

/// What an input contributed to the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputDigest {
    File(Digest),
    Dir(Digest),
    /// The `output_hash` of an upstream node's record.
    Node(Digest),
}

impl InputDigest {
    fn digest(&self) -> &Digest {
        match self {
            InputDigest::File(d) | InputDigest::Dir(d) | InputDigest::Node(d) => d,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preimage {
    pub scheme: u32,
    pub kind: String,
    pub kind_version: u32,
    pub params: Value,
    pub env: BTreeMap<String, String>,
    pub inputs: BTreeMap<String, InputDigest>,
}

impl Preimage {
    pub fn key(&self) -> Digest {
        let bytes = serde_json::to_vec(self).expect("a pre-image always serialises");
        Digest::of_tagged("basins-recipe", &bytes)
    }
}

/// Why a node must run, one typed reason per difference, printed as one line each (the idea is
/// cargo's `DirtyReason`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DirtyReason {
    /// Never run in this study (no earlier record for this node id).
    New,
    /// Never run from this manifest file: the other reasons compare with the last run of a
    /// study of the same name from another file (a copy of the study, in the same cache).
    OtherFile {
        study: String,
    },
    SchemeChanged {
        old: u32,
        new: u32,
    },
    KindVersionChanged {
        kind: String,
        old: u32,
        new: u32,
    },
    ParamChanged {
        param: String,
        old: Value,
        new: Value,
    },
    EnvChanged {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    InputChanged {
        role: String,
        old: String,
        new: String,
    },
    InputAdded {
        role: String,
    },
    InputRemoved {
        role: String,
    },
    /// An upstream node must run first, so this node's key is not known yet.
    UpstreamPending {
        role: String,
        node: String,
    },
    /// The recipe is unchanged but its record is gone (gc, or a corrupt object was removed).
    RecordMissing,
}

impl fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DirtyReason::*;
        match self {
            New => write!(f, "new: never run in this study"),
            OtherFile { study } => write!(
                f,
                "never run from this manifest file; compared with the last run of study \
                 `{study}` from another file"
            ),
            SchemeChanged { old, new } => write!(f, "hashing scheme changed: v{old} -> v{new}"),
            KindVersionChanged { kind, old, new } => {
                write!(f, "stage kind `{kind}` version changed: {old} -> {new}")
            }
            ParamChanged { param, old, new } => {
                write!(f, "param `{param}` changed: {}", change(old, new))
            }
            EnvChanged { name, old, new } => write!(
                f,
                "environment `{name}` changed: {} -> {}",
                old.as_deref().unwrap_or("(unset)"),
                new.as_deref().unwrap_or("(unset)")
            ),
            InputChanged { role, old, new } => write!(f, "input `{role}` changed: {old} -> {new}"),
            InputAdded { role } => write!(f, "input `{role}` added"),
            InputRemoved { role } => write!(f, "input `{role}` removed"),
            UpstreamPending { role, node } if role == node => {
                write!(f, "input `{node}` must run first")
            }
            UpstreamPending { role, node } => {
                write!(f, "input `{role}` waits on `{node}`, which must run first")
            }
            RecordMissing => write!(f, "same recipe, but its cached result is gone"),
        }
    }
}

/// A changed value in one line: `old -> new` when both are short; for texts (a manifest a
/// report node keeps), the first line that differs; for lists, their lengths and the first
/// entry that differs. A plan that printed a whole manifest twice as one reason read as noise.
fn change(old: &Value, new: &Value) -> String {
    const SHORT: usize = 60;
    let (o, n) = (old.to_string(), new.to_string());
    if o.len() <= SHORT && n.len() <= SHORT {
        return format!("{o} -> {n}");
    }
    let clip = |s: &str| -> String {
        if s.chars().count() > SHORT {
            format!("{}...", s.chars().take(SHORT).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    match (old, new) {
        (Value::String(a), Value::String(b)) => {
            let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
            let at = (0..al.len().max(bl.len()))
                .find(|&k| al.get(k) != bl.get(k))
                .unwrap_or(0);
            let line = |l: Option<&&str>| l.map_or("(no line)".to_owned(), |l| clip(l.trim()));
            format!(
                "line {}: `{}` -> `{}`",
                at + 1,
                line(al.get(at)),
                line(bl.get(at))
            )
        }
        (Value::Array(a), Value::Array(b)) => {
            let at = (0..a.len().max(b.len())).find(|&k| a.get(k) != b.get(k));
            let entry = |v: Option<&Value>| v.map_or("(none)".to_owned(), |v| clip(&v.to_string()));
            match at {
                Some(k) => format!(
                    "{} -> {} entries; first difference at [{k}]: {} -> {}",
                    a.len(),
                    b.len(),
                    entry(a.get(k)),
                    entry(b.get(k))
                ),
                None => format!("{} -> {} entries", a.len(), b.len()),
            }
        }
        _ => format!("{} -> {}", clip(&o), clip(&n)),
    }
}

/// Field-level differences between the last recorded pre-image and the current one.
/// `new_inputs` holds `None` for inputs whose digest is not known yet (upstream pending).
pub fn diff(
    old: &Preimage,
    new_kind_version: u32,
    new_params: &Value,
    new_env: &BTreeMap<String, String>,
    new_inputs: &BTreeMap<String, Option<InputDigest>>,
) -> Vec<DirtyReason> {
    let mut out = Vec::new();
    if old.scheme != SCHEME_VERSION {
        out.push(DirtyReason::SchemeChanged {
            old: old.scheme,
            new: SCHEME_VERSION,
        });
    }
    if old.kind_version != new_kind_version {
        out.push(DirtyReason::KindVersionChanged {
            kind: old.kind.clone(),
            old: old.kind_version,
            new: new_kind_version,
        });
    }
    diff_values("", &old.params, new_params, &mut out);
    let names: std::collections::BTreeSet<&String> = old.env.keys().chain(new_env.keys()).collect();
    for name in names {
        let (o, n) = (old.env.get(name), new_env.get(name));
        if o != n {
            out.push(DirtyReason::EnvChanged {
                name: name.clone(),
                old: o.cloned(),
                new: n.cloned(),
            });
        }
    }
    for (role, new) in new_inputs {
        match (old.inputs.get(role), new) {
            (None, _) => out.push(DirtyReason::InputAdded { role: role.clone() }),
            (Some(o), Some(n)) if o != n => out.push(DirtyReason::InputChanged {
                role: role.clone(),
                old: o.digest().short(),
                new: n.digest().short(),
            }),
            _ => {}
        }
    }
    for role in old.inputs.keys().filter(|r| !new_inputs.contains_key(*r)) {
        out.push(DirtyReason::InputRemoved { role: role.clone() });
    }
    out
}

fn diff_values(path: &str, old: &Value, new: &Value, out: &mut Vec<DirtyReason>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(
                    &p,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(DirtyReason::ParamChanged {
            param: path.to_owned(),
            old: a.clone(),
            new: b.clone(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A report node keeps the manifest's text as a param: a one-character edit is one line,
    /// not the whole manifest printed twice.
    #[test]
    fn long_changes_are_said_in_one_line() {
        let old = json!("[study]\nname = \"demo\"\n\n[finetune]\nlr = 1e-3\nseeds = \"0..20\"\n# a comment long enough to pass the limit of sixty characters\n");
        let new = json!("[study]\nname = \"demo\"\n\n[finetune]\nlr = 2e-3\nseeds = \"0..20\"\n# a comment long enough to pass the limit of sixty characters\n");
        assert_eq!(change(&old, &new), "line 5: `lr = 1e-3` -> `lr = 2e-3`");
        let pairs = |n: u64| json!((0..n).map(|i| [i, i + 1]).collect::<Vec<_>>());
        assert_eq!(
            change(&pairs(40), &pairs(30)),
            "40 -> 30 entries; first difference at [30]: [30,31] -> (none)"
        );
        assert_eq!(change(&json!(2e-5), &json!(5e-5)), "0.00002 -> 0.00005");
        let r = DirtyReason::ParamChanged {
            param: "manifest".into(),
            old,
            new,
        };
        assert_eq!(r.to_string().lines().count(), 1);
    }

    fn pre(params: Value) -> Preimage {
        Preimage {
            scheme: SCHEME_VERSION,
            kind: "finetune".into(),
            kind_version: 1,
            params,
            env: [("backend".to_string(), "cpu".to_string())].into(),
            inputs: [(
                "train".to_string(),
                InputDigest::File(Digest::of_bytes(b"x")),
            )]
            .into(),
        }
    }

    #[test]
    fn keys_are_canonical_and_sensitive() {
        // Object key order in the source does not matter; values do.
        let a: Value = serde_json::from_str(r#"{"lr": 2e-5, "batch": 32}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"batch": 32, "lr": 0.00002}"#).unwrap();
        assert_eq!(pre(a.clone()).key(), pre(b).key());
        assert_ne!(pre(a).key(), pre(json!({"lr": 3e-5, "batch": 32})).key());
        let mut p = pre(json!({}));
        let k = p.key();
        p.kind_version = 2;
        assert_ne!(k, p.key());
    }

    #[test]
    fn diff_names_fields() {
        let old = pre(json!({"hyper": {"lr": 2e-5, "epochs": 3}}));
        let inputs = [(
            "train".to_string(),
            Some(InputDigest::File(Digest::of_bytes(b"y"))),
        )]
        .into();
        let reasons = diff(
            &old,
            2,
            &json!({"hyper": {"lr": 5e-5, "epochs": 3}}),
            &old.env,
            &inputs,
        );
        let text: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert_eq!(text[0], "stage kind `finetune` version changed: 1 -> 2");
        assert_eq!(text[1], "param `hyper.lr` changed: 0.00002 -> 0.00005");
        assert!(text[2].starts_with("input `train` changed: "));
    }
}
