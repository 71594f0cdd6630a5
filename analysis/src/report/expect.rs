//! Whether basins recovers the published clusters (`[report] expect`): the basins found against
//! the paper's smaller cluster and the rest, as a contingency table, the adjusted Rand index
//! with its permutation p-value (how often a random relabelling of the models, the published
//! cluster sizes kept, agrees as well), and a sentence that says it plainly.

use std::fmt::Write as _;

use basins_study::manifest::expect::Expect;
use serde::{Deserialize, Serialize};

use super::{esc, num_of, pval_of};
use crate::documents::ClusterDoc;

/// Relabellings for the permutation p-value (exact below this many distinct arrangements).
const RESAMPLES: usize = 10_000;

/// How the found partition compares with the published one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The same partition (adjusted Rand index 1).
    Reproduced,
    /// More agreement than chance (p < 0.05), not the same partition.
    Partly,
    /// No more agreement than chance.
    NotReproduced,
}

/// The comparison, as `report.json` has it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reproduction {
    pub source: String,
    /// The published minority's models in this study, by name.
    pub minority: Vec<String>,
    /// Published entries that name no model of the study.
    pub absent: Vec<String>,
    /// Per basin found: [models of the published minority, the rest].
    pub contingency: Vec<[usize; 2]>,
    pub ari: f64,
    pub p: Option<f64>,
    /// Models on the other side of the published split than their basin's majority.
    pub misplaced: Vec<String>,
    pub outcome: Outcome,
}

/// Compare a task's basins with the published minority. Computed once per task (the report
/// stage does, before the page and `report.json` read it): its p-value permutes the models.
pub fn compare(cluster: &ClusterDoc, e: &Expect) -> Reproduction {
    let seeds = &cluster.seeds;
    let names = cluster.model_names();
    let found = &cluster.assignments;
    let published: Vec<usize> = seeds
        .iter()
        .map(|s| usize::from(!e.minority.contains(s)))
        .collect();
    let k = found.iter().copied().max().map_or(0, |m| m + 1);
    let mut contingency = vec![[0usize; 2]; k];
    for (&b, &p) in found.iter().zip(&published) {
        contingency[b][p] += 1;
    }
    // Each basin stands for the published side most of its models are on; the others are
    // misplaced (ties go to the minority side, the claim under test).
    let side: Vec<usize> = contingency
        .iter()
        .map(|c| usize::from(c[1] > c[0]))
        .collect();
    let misplaced: Vec<String> = (0..found.len())
        .filter(|&i| published[i] != side[found[i]])
        .map(|i| names[i].clone())
        .collect();
    let test = crate::stats::ari_permutation(found, &published, RESAMPLES, 0);
    let (ari, p) = match test {
        Some(t) => (t.ari, Some(t.p)),
        None => (crate::cluster::adjusted_rand(found, &published), None),
    };
    let outcome = if ari >= 1.0 - 1e-9 {
        Outcome::Reproduced
    } else if p.is_some_and(|p| p < 0.05) && ari > 0.0 {
        Outcome::Partly
    } else {
        Outcome::NotReproduced
    };
    Reproduction {
        source: e.source.clone(),
        minority: (0..seeds.len())
            .filter(|&i| published[i] == 0)
            .map(|i| names[i].clone())
            .collect(),
        absent: e.absent.clone(),
        contingency,
        ari,
        p,
        misplaced,
        outcome,
    }
}

/// The sentence that says whether the published clusters were found.
pub fn sentence(r: &Reproduction) -> String {
    let stats = format!(
        "adjusted Rand index {}, permutation p = {}",
        num_of(Some(r.ari)),
        pval_of(r.p)
    );
    match r.outcome {
        Outcome::Reproduced => format!(
            "The basins reproduce the published clusters: the {} model(s) of the published \
             smaller cluster form a basin of their own ({stats}).",
            r.minority.len()
        ),
        Outcome::Partly => format!(
            "The basins agree with the published clusters more than chance, but not exactly: \
             {} model(s) fall on the other side ({}; {stats}).",
            r.misplaced.len(),
            esc(&r.misplaced.join(", "))
        ),
        Outcome::NotReproduced => format!(
            "The basins do not reproduce the published clusters: their agreement is no more \
             than a random split of the models would give ({stats})."
        ),
    }
}

/// The page's section for `task`.
pub fn section(task: &str, r: &Reproduction) -> String {
    let task = esc(task);
    let mut s = format!(
        "<h3 id=\"expect-{task}\">The published clusters</h3><p id=\"expect-verdict-{task}\"><b>{}</b></p>\
         <p>Published by {}: the smaller cluster is {}.",
        sentence(r),
        esc(&r.source),
        esc(&r.minority.join(", "))
    );
    if !r.absent.is_empty() {
        let _ = write!(
            s,
            " Not in this study, so left out of the comparison: {}.",
            esc(&r.absent.join(", "))
        );
    }
    s.push_str(
        "</p><table><tr><th>basin</th><th>published smaller cluster</th><th>the rest</th></tr>",
    );
    for (b, c) in r.contingency.iter().enumerate() {
        let _ = write!(s, "<tr><td>{b}</td><td>{}</td><td>{}</td></tr>", c[0], c[1]);
    }
    s.push_str("</table>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::testing;
    use serde_json::json;

    fn expect(minority: &[u64]) -> Expect {
        Expect {
            minority: minority.to_vec(),
            absent: vec!["99".into()],
            source: "the paper".into(),
        }
    }

    #[test]
    fn a_planted_minority_is_found_or_not() {
        // Eight models, basins {0..5} and {6, 7}.
        let cluster = testing::cluster(json!({"seeds": [0, 1, 2, 3, 4, 5, 6, 7],
            "assignments": [0, 0, 0, 0, 0, 0, 1, 1]}));
        let same = compare(&cluster, &expect(&[6, 7]));
        assert_eq!(same.outcome, Outcome::Reproduced);
        assert!((same.ari - 1.0).abs() < 1e-12);
        assert_eq!(same.contingency, [[0, 6], [2, 0]]);
        assert!(same.misplaced.is_empty());
        let html = section("nli", &same);
        assert!(html.contains("reproduce the published clusters"), "{html}");
        assert!(html.contains("Not in this study"), "{html}");

        let off = compare(&cluster, &expect(&[5, 6, 7]));
        assert_eq!(off.contingency, [[1, 5], [2, 0]]);
        assert_eq!(off.misplaced, ["5"]);
        assert!(off.ari < 1.0);

        let random = compare(&cluster, &expect(&[0, 6]));
        assert_eq!(random.outcome, Outcome::NotReproduced);
        assert!(random.p.unwrap() > 0.05, "{:?}", random.p);
        assert!(sentence(&random).contains("do not reproduce"));
    }
}
