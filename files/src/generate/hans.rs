//! A HANS-style diagnostic set (the design of McCoy, Pavlick and Linzen 2019, with our own
//! templates and words): three heuristics (lexical overlap, subsequence, constituent) x two
//! labels x five subcases. In every subcase each hypothesis word occurs in the premise (lexical
//! overlap), is a contiguous run of it (subsequence) or is a whole clause of it (constituent),
//! so a model that follows the heuristic calls all 30 subcases entailment and fails the 15
//! non-entailed ones. `docs/diagnostics.md` shows one example of each subcase.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::grammar::*;
use super::{seeded, Pair};

type Template = fn(&mut ChaCha8Rng) -> (String, String, &'static str);

/// (heuristic, subcase, entailed, template) for all 30 subcases, in HANS's order.
pub const SUBCASES: [(&str, &str, bool, Template); 30] = [
    ("lexical_overlap", "ln_subject/object_swap", false, ln_swap),
    ("lexical_overlap", "ln_preposition", false, ln_preposition),
    ("lexical_overlap", "ln_relative_clause", false, ln_relative),
    ("lexical_overlap", "ln_passive", false, ln_passive),
    ("lexical_overlap", "ln_conjunction", false, ln_conjunction),
    ("lexical_overlap", "le_relative_clause", true, le_relative),
    (
        "lexical_overlap",
        "le_around_prepositional_phrase",
        true,
        le_around_pp,
    ),
    (
        "lexical_overlap",
        "le_around_relative_clause",
        true,
        le_around_relative,
    ),
    ("lexical_overlap", "le_conjunction", true, le_conjunction),
    ("lexical_overlap", "le_passive", true, le_passive),
    ("subsequence", "sn_NP/S", false, sn_np_s),
    ("subsequence", "sn_PP_on_subject", false, sn_pp_subject),
    (
        "subsequence",
        "sn_relative_clause_on_subject",
        false,
        sn_relative_subject,
    ),
    (
        "subsequence",
        "sn_past_participle",
        false,
        sn_past_participle,
    ),
    ("subsequence", "sn_NP/Z", false, sn_np_z),
    ("subsequence", "se_PP_on_obj", true, se_pp_object),
    (
        "subsequence",
        "se_relative_clause_on_obj",
        true,
        se_relative_object,
    ),
    ("subsequence", "se_adjective", true, se_adjective),
    (
        "subsequence",
        "se_understood_object",
        true,
        se_understood_object,
    ),
    ("subsequence", "se_conjunction", true, se_conjunction),
    ("constituent", "cn_embedded_under_if", false, cn_under_if),
    ("constituent", "cn_after_if_clause", false, cn_after_if),
    (
        "constituent",
        "cn_embedded_under_verb",
        false,
        cn_under_verb,
    ),
    ("constituent", "cn_disjunction", false, cn_disjunction),
    ("constituent", "cn_adverb", false, cn_adverb),
    (
        "constituent",
        "ce_embedded_under_since",
        true,
        ce_under_since,
    ),
    ("constituent", "ce_after_since_clause", true, ce_after_since),
    ("constituent", "ce_embedded_under_verb", true, ce_under_verb),
    ("constituent", "ce_conjunction", true, ce_conjunction),
    ("constituent", "ce_adverb", true, ce_adverb),
];

/// `per_subcase` distinct pairs for each subcase, in subcase order. Each subcase has its own
/// random stream, so asking for more examples extends a subcase without changing the others.
pub fn generate(seed: u64, per_subcase: usize) -> anyhow::Result<Vec<Pair>> {
    let mut out = Vec::with_capacity(30 * per_subcase);
    for (heuristic, subcase, entailed, template) in SUBCASES {
        let mut rng = seeded(seed, &format!("hans/{subcase}"));
        let mut seen = std::collections::HashSet::new();
        let mut tries = 0usize;
        while seen.len() < per_subcase {
            tries += 1;
            anyhow::ensure!(
                tries <= 200 * per_subcase + 10_000,
                "subcase {subcase} has fewer than {per_subcase} distinct pairs in this grammar (found {})",
                seen.len()
            );
            let (p, h, tag) = template(&mut rng);
            let (p, h) = (sentence(&p), sentence(&h));
            if !seen.insert((p.clone(), h.clone())) {
                continue;
            }
            out.push(Pair {
                premise: p,
                hypothesis: h,
                label: if entailed {
                    "entailment"
                } else {
                    "non-entailment"
                },
                groups: [
                    ("heuristic".to_owned(), heuristic.to_owned()),
                    ("subcase".to_owned(), subcase.to_owned()),
                    ("template".to_owned(), format!("{subcase}/{tag}")),
                ]
                .into(),
            });
        }
    }
    Ok(out)
}

/// HANS's `heuristics_evaluation_set.txt` layout. The parse columns hold a flat bracketing of
/// the tokens (we generate from templates, not from trees); readers use the plain sentences.
pub fn to_tsv(pairs: &[Pair]) -> String {
    let mut s = String::from("gold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tpairID\theuristic\tsubcase\ttemplate\n");
    for (i, p) in pairs.iter().enumerate() {
        let flat = |t: &str| format!("( {} )", words_cased(t).join(" "));
        let (fp, fh) = (flat(&p.premise), flat(&p.hypothesis));
        s.push_str(&format!(
            "{}\t{fp}\t{fh}\t(ROOT {fp})\t(ROOT {fh})\t{}\t{}\tex{i}\t{}\t{}\t{}\n",
            p.label,
            p.premise,
            p.hypothesis,
            p.groups["heuristic"],
            p.groups["subcase"],
            p.groups["template"],
        ));
    }
    s
}

fn words_cased(s: &str) -> Vec<String> {
    s.replace(',', " , ")
        .replace('.', " . ")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn tv(rng: &mut ChaCha8Rng) -> &'static str {
    pick(rng, &TRANSITIVE)
}

fn ln_swap(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 2);
    let v = tv(r);
    (
        format!("{} {v} {}", n[0].text(), n[1].text()),
        format!("{} {v} {}", n[1].text(), n[0].text()),
        "active",
    )
}

fn ln_preposition(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v, p) = (tv(r), pick(r, &PREPOSITIONS));
    (
        format!("{} {p} {} {v} {}", n[0].text(), n[1].text(), n[2].text()),
        format!("{} {v} {}", n[2].text(), n[1].text()),
        p,
    )
}

fn ln_relative(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v1, v2, rel) = (tv(r), tv(r), pick(r, &RELATIVIZERS));
    (
        format!(
            "{} {rel} {v1} {} {v2} {}",
            n[0].text(),
            n[1].text(),
            n[2].text()
        ),
        format!("{} {v2} {}", n[1].text(), n[0].text()),
        rel,
    )
}

fn ln_passive(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 2);
    let v = tv(r);
    (
        format!("{} {} {v} by {}", n[0].text(), n[0].be(), n[1].text()),
        format!("{} {v} {}", n[0].text(), n[1].text()),
        "passive",
    )
}

fn ln_conjunction(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let v = tv(r);
    (
        format!("{} {v} {} and {}", n[0].text(), n[1].text(), n[2].text()),
        format!("{} {v} {}", n[1].text(), n[2].text()),
        "object",
    )
}

fn le_relative(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v1, v2, rel) = (tv(r), tv(r), pick(r, &RELATIVIZERS));
    (
        format!(
            "{} {rel} {} {v1} {v2} {}",
            n[0].text(),
            n[1].text(),
            n[2].text()
        ),
        format!("{} {v1} {}", n[1].text(), n[0].text()),
        rel,
    )
}

fn le_around_pp(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v, p) = (tv(r), pick(r, &PREPOSITIONS));
    (
        format!("{} {p} {} {v} {}", n[0].text(), n[1].text(), n[2].text()),
        format!("{} {v} {}", n[0].text(), n[2].text()),
        p,
    )
}

fn le_around_relative(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (inner, v, rel) = (vp(r, n[1]), tv(r), pick(r, &RELATIVIZERS));
    (
        format!("{} {rel} {} {v} {}", n[0].text(), inner.text(), n[2].text()),
        format!("{} {v} {}", n[0].text(), n[2].text()),
        rel,
    )
}

fn le_conjunction(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let v = tv(r);
    (
        format!("{} {v} {} and {}", n[0].text(), n[1].text(), n[2].text()),
        format!("{} {v} {}", n[0].text(), n[2].text()),
        "object",
    )
}

fn le_passive(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 2);
    let v = tv(r);
    (
        format!("{} {} {v} by {}", n[0].text(), n[0].be(), n[1].text()),
        format!("{} {v} {}", n[1].text(), n[0].text()),
        "passive",
    )
}

fn sn_np_s(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v, inner) = (pick(r, &NP_OR_CLAUSE), vp(r, n[2]));
    (
        format!("{} {v} {}", n[0].text(), clause(n[1], inner)),
        format!("{} {v} {}", n[0].text(), n[1].text()),
        v,
    )
}

fn sn_pp_subject(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (p, main) = (pick(r, &PREPOSITIONS), vp(r, n[2]));
    (
        format!("{} {p} {}", n[0].text(), clause(n[1], main)),
        clause(n[1], main),
        p,
    )
}

fn sn_relative_subject(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v, rel, main) = (tv(r), pick(r, &RELATIVIZERS), vp(r, n[2]));
    (
        format!("{} {rel} {v} {}", n[0].text(), clause(n[1], main)),
        clause(n[1], main),
        rel,
    )
}

fn sn_past_participle(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 2);
    let (v, place, main) = (
        pick(r, &OPTIONALLY_TRANSITIVE),
        pick(r, &PLACES),
        vp(r, n[1]),
    );
    (
        format!("{} {v} {place} {}", n[0].text(), main.text()),
        format!("{} {v} {place}", n[0].text()),
        "place",
    )
}

fn sn_np_z(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (sub, v, main) = (
        pick(r, &NPZ_SUB),
        pick(r, &OPTIONALLY_TRANSITIVE),
        vp(r, n[2]),
    );
    (
        format!("{sub} {} {v} {}", n[0].text(), clause(n[1], main)),
        format!("{} {v} {}", n[0].text(), n[1].text()),
        sub,
    )
}

fn se_pp_object(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v, p) = (tv(r), pick(r, &PREPOSITIONS));
    let main = format!("{} {v} {}", n[0].text(), n[1].text());
    (format!("{main} {p} {}", n[2].text()), main, p)
}

fn se_relative_object(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v, rel, inner) = (tv(r), pick(r, &RELATIVIZERS), vp(r, n[2]));
    let main = format!("{} {v} {}", n[0].text(), n[1].text());
    (format!("{main} {rel} {}", inner.text()), main, rel)
}

fn se_adjective(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let mut n = nps(r, 2);
    n[0].plural = true; // a bare plural stands alone without its adjective
    let (adj, main) = (pick(r, &ADJECTIVES), vp(r, n[1]));
    let rest = format!("{} {}", n[0].bare(), main.text());
    (format!("{adj} {rest}"), rest, adj)
}

fn se_understood_object(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 1);
    let (v, object) = pick(r, &UNDERSTOOD_OBJECT);
    // An adjective half the time, so the subcase has enough distinct pairs.
    let subject = match r.random_bool(0.5) {
        true => format!("the {} {}", pick(r, &ADJECTIVES), n[0].bare()),
        false => n[0].text(),
    };
    (
        format!("{subject} {v} {object}"),
        format!("{subject} {v}"),
        v,
    )
}

fn se_conjunction(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let main = vp(r, n[2]);
    (
        format!("{} and {}", n[0].text(), clause(n[1], main)),
        clause(n[1], main),
        "subject",
    )
}

/// Two clauses over four distinct nouns.
fn two_clauses(r: &mut ChaCha8Rng) -> (String, String) {
    let n = nps(r, 4);
    let (a, b) = (vp(r, n[1]), vp(r, n[3]));
    (clause(n[0], a), clause(n[2], b))
}

fn cn_under_if(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let (c1, c2) = two_clauses(r);
    let sub = pick(r, &NONVERIDICAL_SUB);
    (format!("{sub} {c1}, {c2}"), c1, sub)
}

fn cn_after_if(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let (c1, c2) = two_clauses(r);
    let sub = pick(r, &NONVERIDICAL_SUB);
    (format!("{sub} {c1}, {c2}"), c2, sub)
}

fn embedded(r: &mut ChaCha8Rng, verbs: &[&'static str]) -> (String, String, &'static str) {
    let n = nps(r, 3);
    let (v, inner) = (pick(r, verbs), vp(r, n[2]));
    let c = clause(n[1], inner);
    let that = if r.random_bool(0.5) { " that" } else { "" };
    (format!("{} {v}{that} {c}", n[0].text()), c, v)
}

fn cn_under_verb(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    embedded(r, &NONFACTIVE)
}

fn cn_disjunction(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let (c1, c2) = two_clauses(r);
    let first = r.random_bool(0.5);
    let h = if first { c1.clone() } else { c2.clone() };
    (
        format!("{c1}, or {c2}"),
        h,
        if first { "first" } else { "second" },
    )
}

fn cn_adverb(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 2);
    let (adv, main) = (pick(r, &NONVERIDICAL_ADV), vp(r, n[1]));
    let c = clause(n[0], main);
    (format!("{adv} {c}"), c, adv)
}

fn ce_under_since(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let (c1, c2) = two_clauses(r);
    let sub = pick(r, &VERIDICAL_SUB);
    (format!("{sub} {c1}, {c2}"), c1, sub)
}

fn ce_after_since(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let (c1, c2) = two_clauses(r);
    let sub = pick(r, &VERIDICAL_SUB);
    (format!("{sub} {c1}, {c2}"), c2, sub)
}

fn ce_under_verb(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    embedded(r, &FACTIVE)
}

fn ce_conjunction(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let (c1, c2) = two_clauses(r);
    let first = r.random_bool(0.5);
    let h = if first { c1.clone() } else { c2.clone() };
    (
        format!("{c1}, and {c2}"),
        h,
        if first { "first" } else { "second" },
    )
}

fn ce_adverb(r: &mut ChaCha8Rng) -> (String, String, &'static str) {
    let n = nps(r, 2);
    let (adv, main) = (pick(r, &VERIDICAL_ADV), vp(r, n[1]));
    let c = clause(n[0], main);
    (format!("{adv} {c}"), c, adv)
}
