//! Row parsers for each file layout.

use std::collections::BTreeMap;

use super::{DataFormat, Example, ReadOptions};

/// For headed TSV layouts: (sentence columns, label column, group columns).
fn header_columns(
    format: DataFormat,
) -> Option<(
    &'static [&'static str],
    &'static str,
    &'static [&'static str],
)> {
    match format {
        DataFormat::Mnli => Some((&["sentence1", "sentence2"], "gold_label", &["genre"])),
        DataFormat::Qqp => Some((&["question1", "question2"], "is_duplicate", &[])),
        DataFormat::Hans => Some((
            &["sentence1", "sentence2"],
            "gold_label",
            &["heuristic", "subcase", "template"],
        )),
        DataFormat::Paws => Some((&["sentence1", "sentence2"], "label", &[])),
        _ => None,
    }
}

/// Where a headed TSV keeps what we read.
struct Columns {
    first: usize,
    second: usize,
    label: usize,
    groups: Vec<(String, usize)>,
    width: usize,
}

pub(super) struct Parser<'a> {
    opts: &'a ReadOptions,
    header: Option<Columns>,
    rows: usize,
}

impl<'a> Parser<'a> {
    pub fn new(opts: &'a ReadOptions) -> Parser<'a> {
        Parser {
            opts,
            header: None,
            rows: 0,
        }
    }

    fn label(&self, raw: &str) -> Result<usize, String> {
        self.opts
            .labels
            .iter()
            .position(|l| l == raw)
            .ok_or_else(|| {
                format!(
                    "label `{raw}` is not in the declared label set {:?}",
                    self.opts.labels
                )
            })
    }

    /// `Ok(None)` for rows that carry no example (the header, blank lines).
    pub fn parse(&mut self, line: &str, n: usize) -> Result<Option<Example>, String> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        let ex = match self.opts.format {
            DataFormat::Cola => self.cola(line)?,
            DataFormat::Jsonl | DataFormat::Generated => self.jsonl(line)?,
            headed => match self.header {
                None => {
                    self.read_header(headed, line, n)?;
                    return Ok(None);
                }
                Some(_) => self.headed(line)?,
            },
        };
        self.rows += 1;
        Ok(Some(ex))
    }

    pub fn finish(&self) -> Option<String> {
        (self.rows == 0).then(|| "no examples in this file".to_owned())
    }

    fn cola(&self, line: &str) -> Result<Example, String> {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 4 {
            return Err(format!(
                "expected 4 tab-separated columns (source, label, mark, sentence), found {}",
                cols.len()
            ));
        }
        Ok(Example {
            first: cols[3].to_owned(),
            second: None,
            label: self.label(cols[1])?,
            groups: [("source".to_owned(), cols[0].to_owned())].into(),
        })
    }

    fn read_header(&mut self, format: DataFormat, line: &str, n: usize) -> Result<(), String> {
        let (sentences, label, groups) = header_columns(format).expect("headed format");
        let cols: Vec<&str> = line.split('\t').collect();
        let find = |name: &str| {
            cols.iter().position(|c| *c == name).ok_or_else(|| {
                format!("line {n} is not a {format:?} header: no `{name}` column (found {cols:?})")
            })
        };
        let groups = groups
            .iter()
            .filter_map(|g| find(g).ok().map(|i| (g.to_string(), i)))
            .collect();
        self.header = Some(Columns {
            first: find(sentences[0])?,
            second: find(sentences[1])?,
            label: find(label)?,
            groups,
            width: cols.len(),
        });
        Ok(())
    }

    fn headed(&self, line: &str) -> Result<Example, String> {
        let Columns {
            first: a,
            second: b,
            label: l,
            groups,
            width,
        } = self.header.as_ref().expect("header read");
        let cols: Vec<&str> = line.split('\t').collect();
        // MNLI's train file has fewer annotator columns than its header names; what matters
        // is that every column we read exists.
        let need = [*a, *b, *l]
            .into_iter()
            .chain(groups.iter().map(|g| g.1))
            .max()
            .unwrap_or(0)
            + 1;
        if cols.len() < need {
            return Err(format!(
                "expected {width} tab-separated columns as the header says, found {}",
                cols.len()
            ));
        }
        Ok(Example {
            first: cols[*a].to_owned(),
            second: Some(cols[*b].to_owned()),
            label: self.label(cols[*l])?,
            groups: groups
                .iter()
                .map(|(g, i)| (g.clone(), cols[*i].to_owned()))
                .collect(),
        })
    }

    fn jsonl(&self, line: &str) -> Result<Example, String> {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
        let field = |key: &str| {
            self.opts
                .fields
                .get(key)
                .cloned()
                .unwrap_or_else(|| key.to_owned())
        };
        let text = |key: &str| -> Result<Option<String>, String> {
            match &v[field(key)] {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(s) => Ok(Some(s.clone())),
                other => Err(format!(
                    "field `{}` should be a string, found {other}",
                    field(key)
                )),
            }
        };
        let first = text("first")?.ok_or_else(|| format!("missing field `{}`", field("first")))?;
        let label = match &v[field("label")] {
            serde_json::Value::String(s) => self.label(s)?,
            serde_json::Value::Number(n) => self.label(&n.to_string())?,
            other => {
                return Err(format!(
                    "field `{}` should be a label, found {other}",
                    field("label")
                ))
            }
        };
        let mut groups = BTreeMap::new();
        if let Some(g) = v.get("groups").and_then(|g| g.as_object()) {
            for (k, val) in g {
                groups.insert(
                    k.clone(),
                    val.as_str().map_or_else(|| val.to_string(), str::to_owned),
                );
            }
        }
        for (k, f) in &self.opts.fields {
            if !["first", "second", "label"].contains(&k.as_str()) {
                if let Some(s) = v[f].as_str() {
                    groups.insert(k.clone(), s.to_owned());
                }
            }
        }
        Ok(Example {
            first,
            second: text("second")?,
            label,
            groups,
        })
    }
}
