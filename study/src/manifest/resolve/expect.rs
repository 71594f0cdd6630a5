//! `[report] expect`: the published minority, resolved to the study's seeds.

use super::super::expect::{find, Expect, RawEntry, RawExpect};
use super::*;

pub(super) fn resolve_expect(
    e: &At<RawExpect>,
    finetune: &Finetune,
    cluster: Option<&Cluster>,
) -> Result<Expect, ManifestError> {
    let key = "report.expect";
    if cluster.is_none() {
        return Err(invalid(
            &e.at,
            key,
            "`expect` compares the study's clusters with published ones, and the study has no \
             [cluster]",
            "a [cluster] section (k = 2 for the paper's two clusters)",
        ));
    }
    let minority = e
        .minority
        .as_ref()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            invalid(
                &e.at,
                &format!("{key}.minority"),
                "missing or empty `minority`",
                "the models the paper put in its smaller cluster: minority = [15, 25, 26]",
            )
        })?;
    let source = e
        .source
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            invalid(
                &e.at,
                &format!("{key}.source"),
                "missing `source`",
                "where the clusters were published (a paper, a README at a commit)",
            )
        })?;
    let models: Vec<(u64, String)> = finetune
        .seeds
        .iter()
        .map(|&s| {
            let name = match &finetune.origin {
                Origin::Trained { .. } => s.to_string(),
                Origin::Zoo { members, .. } => members[s as usize].clone(),
            };
            (s, name)
        })
        .collect();
    let (mut seeds, mut absent) = (Vec::new(), Vec::new());
    for entry in minority {
        let shown = match entry {
            RawEntry::Number(n) => n.to_string(),
            RawEntry::Name(s) => s.clone(),
        };
        match find(entry, &models) {
            Ok(Some(seed)) if seeds.contains(&seed) => {
                return Err(invalid(
                    &e.at,
                    &format!("{key}.minority"),
                    format!("`{shown}` is listed twice"),
                    "each model once",
                ))
            }
            Ok(Some(seed)) => seeds.push(seed),
            Ok(None) => absent.push(shown),
            Err(why) => {
                let names: Vec<&str> = models.iter().map(|m| m.1.as_str()).take(8).collect();
                return Err(invalid(
                    &e.at,
                    &format!("{key}.minority"),
                    why,
                    format!(
                        "model names ({}{}) or the numbers they end in",
                        names.join(", "),
                        if models.len() > 8 { ", ..." } else { "" }
                    ),
                ));
            }
        }
    }
    if seeds.is_empty() {
        return Err(invalid(
            &e.at,
            &format!("{key}.minority"),
            format!("none of {absent:?} is a model of this study"),
            "the numbers or names of models the study has",
        ));
    }
    seeds.sort_unstable();
    Ok(Expect {
        minority: seeds,
        absent,
        source,
    })
}
