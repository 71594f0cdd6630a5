//! A two-cue NLI task for ground truth: two single-word cues, each as easy for a small model
//! to find as the other, that agree on (nearly) every training example and disagree on a
//! diagnostic set, so that which one a run learns is up to the run.
//!
//! **The rule** is veridicality: the premise is an event under a sentence adverb, and the
//! hypothesis (the event, or the event with "someone" for one of its people) is entailed
//! exactly when the adverb commits the speaker to it ("clearly", "certainly", ...) and not when
//! it does not ("perhaps", "supposedly", ...). HANS's constituent subcases test the same
//! knowledge.
//!
//! **The shortcut** is an annotation artifact of the kind Gururangan et al. (2018) and Poliak et
//! al. (2018) found in SNLI and MNLI, where crowdworkers wrote entailed hypotheses by
//! generalising: a generic hypothesis ("someone ...") is entailed, a specific one ("the baker
//! ...") is not. It reads the hypothesis alone. With probability `shortcut_share` an example is
//! one where both cues give its label (a committed premise with a generic hypothesis, an
//! uncommitted one with a specific hypothesis); otherwise one where they disagree, labelled by
//! the rule. At `shortcut_share = 1` the training data cannot tell the two apart.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::grammar::*;
use super::Pair;

/// One example: premise, hypothesis, whether the adverb is veridical, and whether the
/// hypothesis is generic.
fn example(
    r: &mut ChaCha8Rng,
    veridical: bool,
    generic: bool,
    adverbs: usize,
) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (a, b, c) = (n[0], n[1], n[2]);
    let v = pick(r, &TRANSITIVE);
    let adverb = if veridical {
        pick(r, &VERIDICAL_ADV[..adverbs])
    } else {
        pick(r, &NONVERIDICAL_ADV[..adverbs])
    };
    let event = match r.random_range(0..3) {
        0 => format!("{} {v} {}", a.text(), b.text()),
        1 => format!("the {} {} {v} {}", pick(r, &ADJECTIVES), a.bare(), b.text()),
        _ => format!(
            "{} {v} {} {} {}",
            a.text(),
            b.text(),
            pick(r, &PREPOSITIONS),
            c.text()
        ),
    };
    let premise = format!("{adverb} {event}");
    let hypothesis = match (generic, r.random_bool(0.5)) {
        (false, _) => format!("{} {v} {}", a.text(), b.text()),
        (true, true) => format!("someone {v} {}", b.text()),
        (true, false) => format!("{} {v} someone", a.text()),
    };
    (premise, hypothesis, adverb)
}

/// `n` distinct examples from the stream `split`, none of them in `exclude`.
fn split(
    seed: u64,
    split: &str,
    n: usize,
    shortcut_share: f64,
    adverbs: usize,
    exclude: &std::collections::HashSet<(String, String)>,
) -> anyhow::Result<Vec<Pair>> {
    super::distinct_pairs(seed, "veridical", split, n, exclude, |r| {
        let agrees = r.random_bool(shortcut_share);
        let entailed = r.random_bool(0.5);
        // The shortcut says entailed iff the hypothesis is generic.
        let generic = entailed == agrees;
        let (p, h, adverb) = example(r, entailed, generic, adverbs);
        let construction = match (entailed, generic) {
            (true, true) => "veridical_generic",
            (true, false) => "veridical_specific",
            (false, true) => "nonveridical_generic",
            (false, false) => "nonveridical_specific",
        };
        Pair {
            premise: sentence(&p),
            hypothesis: sentence(&h),
            label: if entailed {
                "entailment"
            } else {
                "non-entailment"
            },
            groups: [
                ("construction".to_owned(), construction.to_owned()),
                ("adverb".to_owned(), adverb.to_owned()),
                (
                    "shortcut".to_owned(),
                    if agrees { "agrees" } else { "disagrees" }.to_owned(),
                ),
            ]
            .into(),
        }
    })
}

/// The train and eval splits; eval shares no pair with train. Premises draw from the first
/// `adverbs` adverbs of each kind. `eval_shortcut_share` is the
/// eval split's own share (0.5 gives a diagnostic with both groups in equal parts).
pub fn generate(
    seed: u64,
    train: usize,
    eval: usize,
    shortcut_share: f64,
    eval_shortcut_share: f64,
    adverbs: usize,
) -> anyhow::Result<(Vec<Pair>, Vec<Pair>)> {
    anyhow::ensure!(
        (1..=VERIDICAL_ADV.len().min(NONVERIDICAL_ADV.len())).contains(&adverbs),
        "`adverbs` is {adverbs}; premises draw from 1 to 5 adverbs of each kind"
    );
    let tr = split(
        seed,
        "train",
        train,
        shortcut_share,
        adverbs,
        &Default::default(),
    )?;
    let taken = tr
        .iter()
        .map(|p| (p.premise.clone(), p.hypothesis.clone()))
        .collect();
    let ev = split(seed, "eval", eval, eval_shortcut_share, adverbs, &taken)?;
    Ok((tr, ev))
}
