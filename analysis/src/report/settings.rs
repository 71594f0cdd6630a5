//! What ran and from what: the study's settings as a reader wants them (dotted keys and human
//! numbers), the manifest's text as it was, and the provenance (the basins build that made the
//! page and every input object's full digest).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{esc, ManifestText};

/// Each manifest file in a collapsible block, exactly as it was read.
pub fn manifest(files: &[ManifestText]) -> String {
    let mut s = String::new();
    for f in files {
        let _ = write!(
            s,
            "<details class=\"manifest\"><summary>manifest <code>{}</code></summary><pre>{}</pre></details>",
            esc(&f.path),
            esc(&f.text)
        );
    }
    s
}

/// What the page was made by and from (`report.json`'s `provenance`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    /// The basins version.
    pub basins: String,
    /// The git commit the binary was built from, or `unknown`.
    pub commit: String,
    /// node -> file -> blake3 digest (hex), of every input object.
    pub inputs: BTreeMap<String, BTreeMap<String, String>>,
    /// The study's name.
    pub study: String,
}

/// The build that made the page, then one row per input object: node, file, blake3 digest.
pub fn provenance(p: &Provenance) -> String {
    let mut s = format!(
        "<p id=\"build\">Made by basins {} (git commit <code>{}</code>) for study <code>{}</code>.</p>\
         <table id=\"provenance\"><tr><th>node</th><th>file</th><th>blake3</th></tr>",
        esc(&p.basins),
        esc(&p.commit),
        esc(&p.study)
    );
    for (node, files) in &p.inputs {
        for (file, digest) in files {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(node),
                esc(file),
                esc(digest)
            );
        }
    }
    s.push_str("</table>");
    s
}

/// The settings as a table of dotted keys and human numbers (4 significant digits; long lists
/// of numbers shortened to their ends and count).
pub fn table(config: &Value) -> String {
    let mut rows = Vec::new();
    flatten("", config, &mut rows);
    let mut s = String::from("<table id=\"settings\"><tr><th>setting</th><th>value</th></tr>");
    for (k, v) in rows {
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            esc(&k),
            esc(&v)
        );
    }
    s.push_str("</table>");
    s
}

fn flatten(prefix: &str, v: &Value, rows: &mut Vec<(String, String)>) {
    match v {
        // How the manifest's typed values serialise, read as the manifest says them:
        // `{"fixed": 2}` is `2`, `{"Diagnostic": "conflict"}` is `conflict (diagnostic)`,
        // `"All"` is `all`.
        Value::Object(o) if o.len() == 1 => {
            let (k, x) = o.iter().next().expect("one entry");
            if k == "fixed" {
                rows.push((prefix.to_owned(), human(x)));
            } else if k.starts_with(|c: char| c.is_ascii_uppercase()) {
                rows.push((
                    prefix.to_owned(),
                    format!("{} ({})", human(x), k.to_lowercase()),
                ));
            } else {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, rows);
            }
        }
        Value::String(x) if x == "All" => rows.push((prefix.to_owned(), "all".to_owned())),
        Value::Object(o) if !o.is_empty() => {
            for (k, x) in o {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, rows);
            }
        }
        Value::Null => {}
        other => rows.push((prefix.to_owned(), human(other))),
    }
}

/// A value as a reader wants it: `0.1111111111111111` as `0.1111`, `2e-05` as `2e-5`, a list of
/// ten alphas as `0, 0.1111, …, 1 (10 values)`.
fn human(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
                let s = format!("{x:.3e}");
                // 2.000e-5 -> 2e-5
                let (m, e) = s.split_once('e').unwrap_or((&s, ""));
                let m = m.trim_end_matches('0').trim_end_matches('.');
                format!("{m}e{e}")
            } else {
                let s = format!("{:.4}", x);
                s.trim_end_matches('0').trim_end_matches('.').to_owned()
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(a) if a.len() > 6 && a.iter().all(Value::is_number) => format!(
            "{}, {}, …, {} ({} values)",
            human(&a[0]),
            human(&a[1]),
            human(&a[a.len() - 1]),
            a.len()
        ),
        Value::Array(a) => a.iter().map(human).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_read_as_numbers_a_person_writes() {
        assert_eq!(human(&json!(0.1111111111111111)), "0.1111");
        assert_eq!(human(&json!(2e-5)), "2e-5");
        assert_eq!(human(&json!(3.0)), "3");
        assert_eq!(human(&json!(32)), "32");
        let alphas: Vec<f64> = (0..10).map(|i| i as f64 / 9.0).collect();
        assert_eq!(human(&json!(alphas)), "0, 0.1111, …, 1 (10 values)");
        let t =
            table(&json!({"finetune": {"hyper": {"lr": 1e-3, "vary": ["data_order"]}}, "x": null}));
        assert!(
            t.contains("<td><code>finetune.hyper.lr</code></td><td>0.001</td>"),
            "{t}"
        );
        assert!(
            t.contains("<td><code>finetune.hyper.vary</code></td><td>data_order</td>"),
            "{t}"
        );
        assert!(!t.contains("<code>x</code>"), "{t}");
        let t = table(
            &json!({"cluster": {"eval": {"Diagnostic": "conflict"}, "k": {"fixed": 2}},
            "interpolate": {"pairs": "All"}}),
        );
        assert!(
            t.contains("<td><code>cluster.eval</code></td><td>conflict (diagnostic)</td>"),
            "{t}"
        );
        assert!(
            t.contains("<td><code>cluster.k</code></td><td>2</td>"),
            "{t}"
        );
        assert!(
            t.contains("<td><code>interpolate.pairs</code></td><td>all</td>"),
            "{t}"
        );
    }

    #[test]
    fn the_manifest_and_provenance_are_shown_as_they_are() {
        let m = manifest(&[ManifestText {
            path: "study.toml".into(),
            text: "# a <comment>\n[study]\nname = \"s\"\n".into(),
        }]);
        assert!(m.contains("<summary>manifest <code>study.toml</code></summary>"));
        assert!(m.contains("# a &lt;comment&gt;\n[study]\nname = &quot;s&quot;\n"));
        let inputs = [("cluster.json".to_owned(), "ff00".to_owned())].into();
        let p = provenance(&Provenance {
            basins: "0.1.0".into(),
            commit: "abc123".into(),
            inputs: [("cluster/nli".to_owned(), inputs)].into(),
            study: "s".into(),
        });
        assert!(
            p.contains("basins 0.1.0 (git commit <code>abc123</code>)"),
            "{p}"
        );
        assert!(p.contains(
            "<tr><td>cluster/nli</td><td>cluster.json</td><td><code>ff00</code></td></tr>"
        ));
    }
}
