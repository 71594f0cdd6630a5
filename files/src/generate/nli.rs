//! The generated NLI task. Each premise asserts one main event (subject, transitive verb,
//! object), dressed in a frame (an adjective, a prepositional phrase, a veridical adverb, a
//! second conjoined clause); the label is entailment exactly when the hypothesis states an
//! event the premise asserts, with the roles the premise gives them. That is the rule.
//!
//! The shortcut is HANS's lexical-overlap heuristic: "entailed iff every hypothesis word is in
//! the premise". With probability `shortcut_share` an example is one where the shortcut gives
//! the right label (an entailed sub-clause; a non-entailed hypothesis with a word the premise
//! lacks); otherwise one where it gives the wrong one (roles swapped or confused: full overlap
//! but not entailed; a passive or "someone" paraphrase: entailed with a word the premise
//! lacks). Labels are balanced within both. A model can thus reach `shortcut_share` accuracy
//! in distribution by overlap alone and 100% by the rule; the "disagrees" group of the eval
//! split and the HANS-style set tell which it learned.

use std::collections::HashSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::grammar::*;
use super::{seeded, Pair};

/// One premise: its text, the main event, and the nouns it mentions.
struct Premise {
    text: String,
    subject: Np,
    verb: &'static str,
    object: Np,
    /// Nouns mentioned (for picking one it does not mention), and a noun in a prepositional
    /// phrase on the subject, if any (a role a careless reader confuses with the subject).
    nouns: Vec<Np>,
    pp_noun: Option<Np>,
    /// The second clause of a conjunction, also asserted.
    other: Option<String>,
}

fn premise(r: &mut ChaCha8Rng) -> Premise {
    let n = nps(r, 3);
    let (a, b, c) = (n[0], n[1], n[2]);
    let v = pick(r, &TRANSITIVE);
    let main = format!("{} {v} {}", a.text(), b.text());
    let mut p = Premise {
        text: main.clone(),
        subject: a,
        verb: v,
        object: b,
        nouns: vec![a, b],
        pp_noun: None,
        other: None,
    };
    match r.random_range(0..6) {
        0 => {}
        1 => p.text = format!("the {} {} {v} {}", pick(r, &ADJECTIVES), a.bare(), b.text()),
        2 => {
            p.text = format!("{main} {} {}", pick(r, &PREPOSITIONS), c.text());
            p.nouns.push(c);
        }
        3 => p.text = format!("{} {main}", pick(r, &VERIDICAL_ADV)),
        4 => {
            let other = clause(c, Vp::Intr(pick(r, &INTRANSITIVE)));
            p.text = format!("{main}, and {other}");
            p.nouns.push(c);
            p.other = Some(other);
        }
        _ => {
            p.text = format!(
                "{} {} {} {v} {}",
                a.text(),
                pick(r, &PREPOSITIONS),
                c.text(),
                b.text()
            );
            p.nouns.push(c);
            p.pp_noun = Some(c);
        }
    }
    p
}

/// A hypothesis for `p` of the wanted kind, with its construction name.
fn hypothesis(
    r: &mut ChaCha8Rng,
    p: &Premise,
    entailed: bool,
    agrees: bool,
) -> (String, &'static str) {
    let (a, v, b) = (p.subject, p.verb, p.object);
    match (entailed, agrees) {
        // Full overlap, entailed: the main clause, or the conjoined one.
        (true, true) => match &p.other {
            Some(o) if r.random_bool(0.5) => (o.clone(), "conjunct"),
            _ => (format!("{} {v} {}", a.text(), b.text()), "main_clause"),
        },
        // A word the premise lacks, not entailed: a new person or a new verb, in every form
        // the entailed hypotheses take (active, conjunct, passive, "someone"), so that no
        // form gives the label away without reading the premise.
        (false, true) => match r.random_range(0..6) {
            0 => (
                format!("{} {v} {}", np_other(r, &p.nouns).text(), b.text()),
                "new_subject",
            ),
            1 => (
                format!("{} {v} {}", a.text(), np_other(r, &p.nouns).text()),
                "new_object",
            ),
            2 => (
                format!("{} {} {}", a.text(), other_verb(r, v), b.text()),
                "new_verb",
            ),
            3 => {
                let x = np_other(r, &p.nouns);
                (
                    format!("{} {} {v} by {}", x.text(), x.be(), a.text()),
                    "new_passive",
                )
            }
            4 => (
                format!("someone {v} {}", np_other(r, &p.nouns).text()),
                "new_someone",
            ),
            _ => (
                clause(np_other(r, &p.nouns), Vp::Intr(pick(r, &INTRANSITIVE))),
                "new_conjunct",
            ),
        },
        // Full overlap, not entailed: roles swapped, or the subject's modifier taken for it.
        (false, false) => match p.pp_noun {
            Some(c) if r.random_bool(0.5) => {
                (format!("{} {v} {}", c.text(), b.text()), "pp_subject")
            }
            _ => (format!("{} {v} {}", b.text(), a.text()), "swap"),
        },
        // Entailed, with a word the premise lacks: passive voice, or "someone".
        (true, false) => match r.random_range(0..3) {
            0 => (
                format!("{} {} {v} by {}", b.text(), b.be(), a.text()),
                "passive",
            ),
            1 => (format!("someone {v} {}", b.text()), "someone_subject"),
            _ => (format!("{} {v} someone", a.text()), "someone_object"),
        },
    }
}

/// A transitive verb other than `v`.
fn other_verb(r: &mut ChaCha8Rng, v: &str) -> &'static str {
    loop {
        let w = pick(r, &TRANSITIVE);
        if w != v {
            return w;
        }
    }
}

/// Whether every word of the hypothesis occurs in the premise.
pub fn full_overlap(premise: &str, hypothesis: &str) -> bool {
    let have: HashSet<String> = words(premise).into_iter().collect();
    words(hypothesis)
        .iter()
        .filter(|w| *w != ".")
        .all(|w| have.contains(w))
}

/// `n` distinct examples from the stream `split`, none of them in `exclude`.
fn split(
    seed: u64,
    split: &str,
    n: usize,
    shortcut_share: f64,
    exclude: &HashSet<(String, String)>,
) -> anyhow::Result<Vec<Pair>> {
    super::distinct_pairs(seed, "nli", split, n, exclude, |r| {
        let agrees = r.random_bool(shortcut_share);
        let entailed = r.random_bool(0.5);
        let p = premise(r);
        let (h, construction) = hypothesis(r, &p, entailed, agrees);
        let (premise, hypothesis) = (sentence(&p.text), sentence(&h));
        debug_assert_eq!(full_overlap(&premise, &hypothesis) == entailed, agrees);
        let overlap = if full_overlap(&premise, &hypothesis) {
            "full"
        } else {
            "partial"
        };
        Pair {
            premise,
            hypothesis,
            label: if entailed {
                "entailment"
            } else {
                "non-entailment"
            },
            groups: [
                ("construction".to_owned(), construction.to_owned()),
                ("overlap".to_owned(), overlap.to_owned()),
                (
                    "shortcut".to_owned(),
                    if agrees { "agrees" } else { "disagrees" }.to_owned(),
                ),
            ]
            .into(),
        }
    })
}

/// The train and eval splits; eval shares no pair with train.
pub fn generate(
    seed: u64,
    train: usize,
    eval: usize,
    shortcut_share: f64,
) -> anyhow::Result<(Vec<Pair>, Vec<Pair>)> {
    let tr = split(seed, "train", train, shortcut_share, &HashSet::new())?;
    let taken: HashSet<(String, String)> = tr
        .iter()
        .map(|p| (p.premise.clone(), p.hypothesis.clone()))
        .collect();
    let ev = split(seed, "eval", eval, shortcut_share, &taken)?;
    Ok((tr, ev))
}

/// Sentence pairs for masked-language-model pretraining: premise and hypothesis of the NLI
/// generator or of a HANS-style template, half each, never with a label. Related pairs, as
/// BERT's pretraining segments are consecutive text: a masked hypothesis word can often be
/// read off the premise, which teaches the model to compare the two segments (the skill both
/// the rule and the overlap shortcut build on) without teaching either.
pub fn corpus(seed: u64, n: usize) -> Vec<(String, String)> {
    let mut r = seeded(seed, "corpus");
    (0..n)
        .map(|_| {
            if r.random_bool(0.5) {
                let p = premise(&mut r);
                let (entailed, agrees) = (r.random_bool(0.5), r.random_bool(0.5));
                let h = hypothesis(&mut r, &p, entailed, agrees).0;
                (sentence(&p.text), sentence(&h))
            } else {
                let (_, _, _, template) =
                    super::hans::SUBCASES[r.random_range(0..super::hans::SUBCASES.len())];
                let (p, h, _) = template(&mut r);
                (sentence(&p), sentence(&h))
            }
        })
        .collect()
}
