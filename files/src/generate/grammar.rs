//! The small English fragment every generator draws from: our own word lists (the sizes
//! follow HANS's design: 16 singular and 16 plural nouns, 16 transitive and 8 intransitive
//! verbs, and shorter lists of the rest) and the phrases built from them.

use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// People, singular and plural. No two share a stem, so "a premise repeats a noun" is a
/// question about indices.
pub const NOUNS: [(&str, &str); 16] = [
    ("baker", "bakers"),
    ("pilot", "pilots"),
    ("nurse", "nurses"),
    ("farmer", "farmers"),
    ("poet", "poets"),
    ("dentist", "dentists"),
    ("sailor", "sailors"),
    ("tailor", "tailors"),
    ("clerk", "clerks"),
    ("chef", "chefs"),
    ("banker", "bankers"),
    ("painter", "painters"),
    ("singer", "singers"),
    ("coach", "coaches"),
    ("miner", "miners"),
    ("guard", "guards"),
];

/// Past tense = past participle for all of these, so one form serves active and passive.
pub const TRANSITIVE: [&str; 16] = [
    "praised", "thanked", "called", "visited", "followed", "greeted", "warned", "hired", "blamed",
    "invited", "admired", "trusted", "paid", "watched", "met", "noticed",
];

pub const INTRANSITIVE: [&str; 8] = [
    "slept", "laughed", "waited", "smiled", "arrived", "shouted", "rested", "danced",
];

pub const ADJECTIVES: [&str; 6] = ["tired", "young", "proud", "quiet", "brave", "famous"];
pub const PREPOSITIONS: [&str; 3] = ["near", "behind", "beside"];
pub const RELATIVIZERS: [&str; 2] = ["who", "that"];
/// Verbs that read naturally with or without an object (the NP/Z garden path).
pub const OPTIONALLY_TRANSITIVE: [&str; 5] = ["left", "called", "watched", "visited", "paid"];
/// Subordinators that start an NP/Z garden path.
pub const NPZ_SUB: [&str; 4] = ["while", "before", "after", "since"];
/// Verbs taking a noun phrase or a clause (the NP/S garden path).
pub const NP_OR_CLAUSE: [&str; 4] = ["knew", "forgot", "heard", "remembered"];
/// Verbs whose clause complement is not asserted.
pub const NONFACTIVE: [&str; 5] = ["believed", "hoped", "claimed", "assumed", "suspected"];
/// Verbs whose clause complement is presupposed true.
pub const FACTIVE: [&str; 4] = ["knew", "realized", "learned", "remembered"];
/// Subordinators under which a clause is asserted.
pub const VERIDICAL_SUB: [&str; 3] = ["since", "because", "after"];
/// Subordinators under which it is not.
pub const NONVERIDICAL_SUB: [&str; 2] = ["if", "unless"];
pub const VERIDICAL_ADV: [&str; 5] = [
    "clearly",
    "certainly",
    "obviously",
    "definitely",
    "undeniably",
];
pub const NONVERIDICAL_ADV: [&str; 5] = ["perhaps", "maybe", "possibly", "supposedly", "hopefully"];
/// Verbs with an object they can leave understood.
pub const UNDERSTOOD_OBJECT: [(&str, &str); 12] = [
    ("wrote", "the letter"),
    ("wrote", "the report"),
    ("read", "the book"),
    ("read", "the letter"),
    ("cooked", "the meal"),
    ("cooked", "the soup"),
    ("painted", "the fence"),
    ("painted", "the door"),
    ("sang", "the song"),
    ("sang", "the anthem"),
    ("studied", "the map"),
    ("studied", "the report"),
];
pub const PLACES: [&str; 4] = [
    "in the office",
    "at the station",
    "in the garden",
    "at the market",
];
/// Words the templates use that no list above holds.
pub const FUNCTION_WORDS: [&str; 11] = [
    "the", "was", "were", "by", "and", "or", "that", "someone", "in", "at", ",",
];

/// A definite noun phrase: "the baker", "the bakers".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Np {
    pub noun: usize,
    pub plural: bool,
}

impl Np {
    pub fn text(self) -> String {
        format!("the {}", self.bare())
    }

    pub fn bare(self) -> &'static str {
        let (s, p) = NOUNS[self.noun];
        if self.plural {
            p
        } else {
            s
        }
    }

    /// "was" or "were", agreeing with this noun phrase.
    pub fn be(self) -> &'static str {
        if self.plural {
            "were"
        } else {
            "was"
        }
    }
}

/// `k` noun phrases with distinct nouns (a premise never repeats a noun).
pub fn nps(rng: &mut ChaCha8Rng, k: usize) -> Vec<Np> {
    rand::seq::index::sample(rng, NOUNS.len(), k)
        .into_iter()
        .map(|noun| Np {
            noun,
            plural: rng.random_bool(0.5),
        })
        .collect()
}

/// A noun phrase whose noun is not among `taken`.
pub fn np_other(rng: &mut ChaCha8Rng, taken: &[Np]) -> Np {
    loop {
        let noun = rng.random_range(0..NOUNS.len());
        if taken.iter().all(|n| n.noun != noun) {
            return Np {
                noun,
                plural: rng.random_bool(0.5),
            };
        }
    }
}

pub fn pick<T: Copy>(rng: &mut ChaCha8Rng, list: &[T]) -> T {
    *list.choose(rng).expect("word lists are not empty")
}

/// A verb phrase: intransitive, or transitive with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vp {
    Intr(&'static str),
    Tr(&'static str, Np),
}

impl Vp {
    pub fn text(self) -> String {
        match self {
            Vp::Intr(v) => v.to_owned(),
            Vp::Tr(v, o) => format!("{v} {}", o.text()),
        }
    }
}

/// A verb phrase whose object (if any) is `object`, half the time transitive.
pub fn vp(rng: &mut ChaCha8Rng, object: Np) -> Vp {
    if rng.random_bool(0.5) {
        Vp::Tr(pick(rng, &TRANSITIVE), object)
    } else {
        Vp::Intr(pick(rng, &INTRANSITIVE))
    }
}

/// Subject + verb phrase, lower case: "the baker praised the nurse".
pub fn clause(subject: Np, vp: Vp) -> String {
    format!("{} {}", subject.text(), vp.text())
}

/// A sentence from lower-case words: capitalised, with a full stop.
pub fn sentence(words: &str) -> String {
    let mut c = words.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

/// Lower-case words of a sentence, punctuation split off, as BERT's pre-tokenizer sees them.
pub fn words(s: &str) -> Vec<String> {
    s.replace(',', " , ")
        .replace('.', " . ")
        .split_whitespace()
        .map(str::to_lowercase)
        .collect()
}

/// Every word the generators can produce, for the tiny model's vocabulary.
pub fn vocabulary() -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let mut add = |s: &str| v.extend(words(s));
    for (s, p) in NOUNS {
        add(s);
        add(p);
    }
    let lists: [&[&str]; 15] = [
        &NPZ_SUB,
        &TRANSITIVE,
        &INTRANSITIVE,
        &ADJECTIVES,
        &PREPOSITIONS,
        &RELATIVIZERS,
        &OPTIONALLY_TRANSITIVE,
        &NP_OR_CLAUSE,
        &NONFACTIVE,
        &FACTIVE,
        &VERIDICAL_SUB,
        &NONVERIDICAL_SUB,
        &VERIDICAL_ADV,
        &NONVERIDICAL_ADV,
        &PLACES,
    ];
    for list in lists {
        for w in list {
            add(w);
        }
    }
    for (verb, object) in UNDERSTOOD_OBJECT {
        add(verb);
        add(object);
    }
    for w in FUNCTION_WORDS {
        add(w);
    }
    add(".");
    v.sort();
    v.dedup();
    v
}
