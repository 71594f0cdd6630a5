//! Generated data: a HANS-style diagnostic set, an NLI task with a tunable overlap shortcut, a
//! two-cue veridicality task whose cues a run must choose between, and sentences for pretraining, all from one small grammar of our own. Deterministic by
//! seed: the same seed gives byte-identical files on every machine.

pub mod grammar;
pub mod hans;
pub mod nli;
pub mod veridical;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use basins_study::manifest::GeneratorSpec;

/// The label set of every generated NLI set (HANS's two-way scheme).
pub const NLI_LABELS: [&str; 2] = ["entailment", "non-entailment"];

/// One generated premise/hypothesis pair with its diagnostic groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub premise: String,
    pub hypothesis: String,
    pub label: &'static str,
    pub groups: BTreeMap<String, String>,
}

/// A generator stream: independent of every other stream and of the order streams are used.
pub(crate) fn seeded(seed: u64, stream: &str) -> ChaCha8Rng {
    let h = blake3::hash(format!("basins-generate/{stream}/{seed}").as_bytes());
    ChaCha8Rng::from_seed(*h.as_bytes())
}

/// `n` distinct pairs drawn by `draw` from the stream `<task>/<split>`, none of them in
/// `exclude`: a repeated or excluded pair is drawn again, up to a bound that turns a grammar
/// too small for `n` into an error. The loop both generated tasks share.
pub(crate) fn distinct_pairs(
    seed: u64,
    task: &str,
    split: &str,
    n: usize,
    exclude: &HashSet<(String, String)>,
    mut draw: impl FnMut(&mut ChaCha8Rng) -> Pair,
) -> anyhow::Result<Vec<Pair>> {
    let mut r = seeded(seed, &format!("{task}/{split}"));
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    let mut tries = 0usize;
    while out.len() < n {
        tries += 1;
        anyhow::ensure!(
            tries <= 100 * n + 10_000,
            "the grammar has too few distinct {task} pairs for {n} {split} examples"
        );
        let pair = draw(&mut r);
        let key = (pair.premise.clone(), pair.hypothesis.clone());
        if exclude.contains(&key) || !seen.insert(key) {
            continue;
        }
        out.push(pair);
    }
    Ok(out)
}

/// The generated JSONL layout (`first`, `second`, `label`, `groups`), which the `generated`
/// reader reads.
pub fn to_jsonl(pairs: &[Pair]) -> String {
    let mut s = String::new();
    for p in pairs {
        let line = serde_json::json!({
            "first": p.premise, "second": p.hypothesis, "label": p.label, "groups": p.groups,
        });
        s.push_str(&line.to_string());
        s.push('\n');
    }
    s
}

/// A generated file set: relative file name -> contents.
pub type Files = BTreeMap<String, String>;

/// Run a generator: the NLI task gives `train.jsonl` and `eval.jsonl`, the HANS-style set
/// `eval.hans.tsv` in HANS's own layout.
pub fn run(spec: &GeneratorSpec) -> anyhow::Result<Files> {
    if let Some(problem) = spec.problem() {
        anyhow::bail!("bad generator settings: {problem}");
    }
    Ok(match *spec {
        GeneratorSpec::Nli {
            seed,
            train,
            eval,
            shortcut_share,
        } => {
            let (tr, ev) = nli::generate(seed, train as usize, eval as usize, shortcut_share)?;
            [
                ("train.jsonl".to_owned(), to_jsonl(&tr)),
                ("eval.jsonl".to_owned(), to_jsonl(&ev)),
            ]
            .into()
        }
        GeneratorSpec::Veridical {
            seed,
            train,
            eval,
            shortcut_share,
            eval_shortcut_share,
            adverbs,
        } => {
            let (tr, ev) = veridical::generate(
                seed,
                train as usize,
                eval as usize,
                shortcut_share,
                eval_shortcut_share.unwrap_or(shortcut_share),
                adverbs as usize,
            )?;
            [
                ("train.jsonl".to_owned(), to_jsonl(&tr)),
                ("eval.jsonl".to_owned(), to_jsonl(&ev)),
            ]
            .into()
        }
        GeneratorSpec::Hans { seed, per_subcase } => {
            let pairs = hans::generate(seed, per_subcase as usize)?;
            [("eval.hans.tsv".to_owned(), hans::to_tsv(&pairs))].into()
        }
    })
}

/// Write a file atomically (temporary file in the same directory, fsync, rename): an
/// interrupted `basins data generate` leaves the old file or none, never half of one.
pub fn write_atomic(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(contents.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::grammar::{vocabulary, words};
    use super::*;

    #[test]
    fn hans_has_thirty_subcases_of_distinct_pairs_without_repeated_nouns() {
        let pairs = hans::generate(7, 40).unwrap();
        assert_eq!(pairs.len(), 30 * 40);
        let mut per: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &pairs {
            *per.entry(p.groups["subcase"].as_str()).or_default() += 1;
            let nouns: Vec<usize> = words(&p.premise)
                .iter()
                .filter_map(|w| grammar::NOUNS.iter().position(|(s, pl)| w == s || w == pl))
                .collect();
            let distinct: HashSet<_> = nouns.iter().collect();
            assert_eq!(distinct.len(), nouns.len(), "repeated noun: {}", p.premise);
        }
        assert_eq!(per.len(), 30);
        assert!(per.values().all(|&n| n == 40));
        let distinct: HashSet<_> = pairs.iter().map(|p| (&p.premise, &p.hypothesis)).collect();
        assert_eq!(distinct.len(), pairs.len());
        assert_eq!(
            hans::generate(7, 40).unwrap(),
            pairs,
            "deterministic by seed"
        );
        assert_ne!(hans::generate(8, 40).unwrap(), pairs);
    }

    #[test]
    fn hans_hypotheses_follow_their_heuristic() {
        for p in hans::generate(1, 30).unwrap() {
            let (pw, hw) = (words(&p.premise), words(&p.hypothesis));
            let hw: Vec<&String> = hw.iter().filter(|w| *w != ".").collect();
            // Lexical overlap: every hypothesis word is a premise word.
            assert!(
                hw.iter().all(|w| pw.contains(w)),
                "{} / {}",
                p.premise,
                p.hypothesis
            );
            let joined = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
            let premise = joined(&pw.iter().collect::<Vec<_>>());
            if p.groups["heuristic"] != "lexical_overlap" {
                // Subsequence and constituent: a contiguous run of the premise.
                assert!(
                    premise.contains(&joined(&hw)),
                    "{} / {}",
                    p.premise,
                    p.hypothesis
                );
            }
            let entailed = p.groups["subcase"].as_bytes()[1] == b'e';
            assert_eq!(entailed, p.label == "entailment", "{}", p.groups["subcase"]);
        }
    }

    #[test]
    fn nli_shortcut_share_and_labels_are_as_asked() {
        let (train, eval) = nli::generate(3, 4000, 1000, 0.8).unwrap();
        let agree = train
            .iter()
            .filter(|p| p.groups["shortcut"] == "agrees")
            .count() as f64
            / 4000.0;
        assert!((agree - 0.8).abs() < 0.03, "{agree}");
        for p in train.iter().chain(&eval) {
            let full = nli::full_overlap(&p.premise, &p.hypothesis);
            let shortcut_says_entailed = full;
            let right = shortcut_says_entailed == (p.label == "entailment");
            assert_eq!(right, p.groups["shortcut"] == "agrees", "{p:?}");
        }
        let entailed = train.iter().filter(|p| p.label == "entailment").count();
        assert!((1800..2200).contains(&entailed), "{entailed}");
        let train_set: HashSet<_> = train.iter().map(|p| (&p.premise, &p.hypothesis)).collect();
        assert!(eval
            .iter()
            .all(|p| !train_set.contains(&(&p.premise, &p.hypothesis))));
        let (all_rule, _) = nli::generate(3, 500, 10, 0.0).unwrap();
        assert!(all_rule.iter().all(|p| p.groups["shortcut"] == "disagrees"));
    }

    #[test]
    fn veridical_labels_follow_the_adverb_and_the_artifact_agrees_as_asked() {
        use grammar::{NONVERIDICAL_ADV, VERIDICAL_ADV};
        let (train, eval) = veridical::generate(5, 4000, 1000, 0.9, 0.0, 5).unwrap();
        let agree = train
            .iter()
            .filter(|p| p.groups["shortcut"] == "agrees")
            .count() as f64
            / 4000.0;
        assert!((agree - 0.9).abs() < 0.03, "{agree}");
        for p in train.iter().chain(&eval) {
            // The rule: the premise's first word commits the speaker, or does not.
            let first = words(&p.premise)[0].clone();
            let veridical = VERIDICAL_ADV.contains(&first.as_str());
            assert!(
                veridical || NONVERIDICAL_ADV.contains(&first.as_str()),
                "{p:?}"
            );
            assert_eq!(veridical, p.label == "entailment", "{p:?}");
            // The artifact: a generic hypothesis says entailment.
            let generic = words(&p.hypothesis).contains(&"someone".to_owned());
            let artifact_right = generic == (p.label == "entailment");
            assert_eq!(artifact_right, p.groups["shortcut"] == "agrees", "{p:?}");
            // Every hypothesis word but "someone" is a premise word: overlap tells nothing.
            let pw = words(&p.premise);
            assert!(words(&p.hypothesis)
                .iter()
                .all(|w| w == "someone" || w == "." || pw.contains(w)));
        }
        assert!(
            eval.iter().all(|p| p.groups["shortcut"] == "disagrees"),
            "eval share 0: every row a conflict"
        );
        let entailed = eval.iter().filter(|p| p.label == "entailment").count();
        assert!((430..570).contains(&entailed), "{entailed}");
        let train_set: HashSet<_> = train.iter().map(|p| (&p.premise, &p.hypothesis)).collect();
        assert!(eval
            .iter()
            .all(|p| !train_set.contains(&(&p.premise, &p.hypothesis))));
        let (same, _) = veridical::generate(5, 4000, 10, 0.9, 0.0, 5).unwrap();
        assert_eq!(same, train, "deterministic by seed");
        let (full, _) = veridical::generate(5, 500, 10, 1.0, 1.0, 5).unwrap();
        assert!(full.iter().all(|p| p.groups["shortcut"] == "agrees"));
    }

    #[test]
    fn every_generated_word_is_in_the_vocabulary() {
        let vocab: HashSet<String> = vocabulary().into_iter().collect();
        let (train, _) = nli::generate(0, 2000, 10, 0.5).unwrap();
        let hans = hans::generate(0, 50).unwrap();
        let (veridical, _) = veridical::generate(0, 2000, 10, 0.5, 0.5, 5).unwrap();
        for p in train.iter().chain(&hans).chain(&veridical) {
            for w in words(&p.premise).into_iter().chain(words(&p.hypothesis)) {
                assert!(vocab.contains(&w), "`{w}` missing from the vocabulary");
            }
        }
        for (a, b) in nli::corpus(0, 500) {
            for w in words(&a).into_iter().chain(words(&b)) {
                assert!(vocab.contains(&w), "`{w}` missing from the vocabulary");
            }
        }
    }
}
