//! Settings for what a study makes itself rather than reads: generated data sets and the small
//! BERT the pipeline pretrains. Typed here (not left as free-form tables for the stage to
//! puzzle over) so that a typo is a manifest error with file:line:column, and so that every
//! default is written into the recipe key: changing a default later reruns what it affects.

use serde::{Deserialize, Serialize};

/// The architecture of a builtin model (`builtin = { layers = 2, hidden = 64, heads = 2 }`) with
/// its defaults filled in: what the `pretrain` stage builds.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    pub layers: u32,
    pub hidden: u32,
    pub heads: u32,
    pub intermediate: u32,
    pub max_position: u32,
    /// Hidden and attention dropout while pretraining; only written when the manifest gives it,
    /// so that every study that leaves it out keeps its keys ([`Architecture::dropout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
}

impl Architecture {
    /// The dropout to train with: the manifest's, or BERT's 0.1.
    pub fn dropout(&self) -> f64 {
        self.dropout.unwrap_or(0.1)
    }
}

/// `generate = { generator = "...", ... }` on a task or diagnostic with format "generated".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "generator", rename_all = "lowercase", deny_unknown_fields)]
pub enum GeneratorSpec {
    /// The generated NLI training task: labels decided by structure, with a tunable share of
    /// examples on which the lexical-overlap shortcut gives the right label.
    Nli {
        seed: u64,
        train: u64,
        eval: u64,
        #[serde(default = "default_shortcut_share")]
        shortcut_share: f64,
    },
    /// The two-cue veridicality task: the label follows the premise's adverb (the rule) and,
    /// on a `shortcut_share` of the examples, also the hypothesis's genericity (an annotation
    /// artifact). The eval split takes `eval_shortcut_share` (default: the same share; 0 makes
    /// every row a conflict between the two, a diagnostic set).
    Veridical {
        seed: u64,
        train: u64,
        eval: u64,
        #[serde(default = "default_shortcut_share")]
        shortcut_share: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eval_shortcut_share: Option<f64>,
        /// How many adverbs of each kind (committing, not committing) premises draw from, 1 to
        /// 5: with fewer the rule hangs on fewer words and is as quick to find as the artifact.
        #[serde(default = "default_adverbs")]
        adverbs: u64,
    },
    /// A HANS-style diagnostic set: 30 subcases of `per_subcase` examples each.
    Hans {
        seed: u64,
        #[serde(default = "default_per_subcase")]
        per_subcase: u64,
    },
}

/// The most examples a generated set may have: far above any set the paper uses, far below
/// what would exhaust a workstation's memory.
pub const MAX_GENERATED: u64 = 5_000_000;

fn default_shortcut_share() -> f64 {
    0.9
}
fn default_adverbs() -> u64 {
    5
}
fn default_per_subcase() -> u64 {
    1000
}

impl GeneratorSpec {
    /// What is wrong with the values, if anything (the types are already checked).
    pub fn problem(&self) -> Option<String> {
        match *self {
            GeneratorSpec::Nli {
                train,
                eval,
                shortcut_share,
                ..
            } => split_problem(train, eval, &[("shortcut_share", shortcut_share)]),
            GeneratorSpec::Veridical { adverbs, .. } if !(1..=5).contains(&adverbs) => Some(
                format!("`adverbs` is {adverbs}; premises draw from 1 to 5 adverbs of each kind"),
            ),
            GeneratorSpec::Veridical {
                train,
                eval,
                shortcut_share,
                eval_shortcut_share,
                ..
            } => split_problem(
                train,
                eval,
                &[
                    ("shortcut_share", shortcut_share),
                    (
                        "eval_shortcut_share",
                        eval_shortcut_share.unwrap_or(shortcut_share),
                    ),
                ],
            ),
            GeneratorSpec::Hans { per_subcase: 0, .. } => {
                Some("`per_subcase` must be positive".into())
            }
            GeneratorSpec::Hans { per_subcase, .. } if per_subcase > MAX_GENERATED / 30 => {
                Some(format!(
                    "`per_subcase` is at most {} (30 subcases of it are generated)",
                    MAX_GENERATED / 30
                ))
            }
            GeneratorSpec::Hans { .. } => None,
        }
    }
}

/// What is wrong with a generator's split sizes or shares, if anything.
fn split_problem(train: u64, eval: u64, shares: &[(&str, f64)]) -> Option<String> {
    if train == 0 || eval == 0 {
        return Some("`train` and `eval` are example counts and must be positive".into());
    }
    if train > MAX_GENERATED || eval > MAX_GENERATED {
        return Some(format!(
            "`train` and `eval` are at most {MAX_GENERATED} (the sets are held in memory; \
             MNLI, the largest the paper uses, has 393k)"
        ));
    }
    shares
        .iter()
        .find(|(_, v)| !(0.0..=1.0).contains(v))
        .map(|(k, v)| format!("`{k}` is {v}; it is a share, between 0 and 1"))
}

/// `pretrain = { ... }` on a builtin model: masked-language-model pretraining on generated
/// sentences.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSpec {
    #[serde(default = "default_steps")]
    pub steps: u64,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default)]
    pub seed: u64,
    /// Size of the generated corpus (sentence pairs), of which 5% are held out.
    #[serde(default = "default_sentences")]
    pub sentences: u64,
    #[serde(default = "default_mask_prob")]
    pub mask_prob: f64,
    #[serde(default = "default_warmup")]
    pub warmup_ratio: f64,
    #[serde(default = "default_wd")]
    pub weight_decay: f64,
}

fn default_steps() -> u64 {
    2000
}
fn default_batch() -> usize {
    64
}
fn default_lr() -> f64 {
    1e-3
}
fn default_sentences() -> u64 {
    20_000
}
fn default_mask_prob() -> f64 {
    0.15
}
fn default_warmup() -> f64 {
    0.06
}
fn default_wd() -> f64 {
    0.01
}

impl Default for PretrainSpec {
    fn default() -> Self {
        PretrainSpec {
            steps: default_steps(),
            batch_size: default_batch(),
            lr: default_lr(),
            seed: 0,
            sentences: default_sentences(),
            mask_prob: default_mask_prob(),
            warmup_ratio: default_warmup(),
            weight_decay: default_wd(),
        }
    }
}

impl PretrainSpec {
    pub fn problem(&self) -> Option<String> {
        if self.steps == 0 || self.batch_size == 0 || self.sentences < 20 {
            Some("`steps` and `batch_size` must be positive and `sentences` at least 20".into())
        } else if self.sentences > MAX_GENERATED
            || self.batch_size > 65_536
            || self.steps > 100_000_000
        {
            Some(format!(
                "`sentences` is at most {MAX_GENERATED}, `batch_size` at most 65536 and `steps` at \
                 most 100000000"
            ))
        } else if !(self.mask_prob > 0.0 && self.mask_prob < 1.0) {
            Some(format!(
                "`mask_prob` is {}; it must lie strictly between 0 and 1",
                self.mask_prob
            ))
        } else if !(self.lr > 0.0 && self.lr.is_finite()) {
            Some(format!("`lr` is {}; it must be positive", self.lr))
        } else if !(0.0..1.0).contains(&self.warmup_ratio) || self.weight_decay < 0.0 {
            Some("`warmup_ratio` must lie in [0, 1) and `weight_decay` be >= 0".into())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_tables_parse_with_defaults_and_refuse_typos() {
        let g: GeneratorSpec = toml::from_str("generator = \"hans\"\nseed = 3").unwrap();
        assert_eq!(
            g,
            GeneratorSpec::Hans {
                seed: 3,
                per_subcase: 1000
            }
        );
        let e = toml::from_str::<GeneratorSpec>(
            "generator = \"nli\"\nseed = 0\ntrain = 5\neval = 5\nshortcut = 0.5",
        )
        .unwrap_err();
        assert!(e.message().contains("shortcut"), "{e}");
        let bad: GeneratorSpec = toml::from_str(
            "generator = \"nli\"\nseed = 0\ntrain = 5\neval = 5\nshortcut_share = 1.5",
        )
        .unwrap();
        assert!(bad.problem().unwrap().contains("between 0 and 1"));
        let v: GeneratorSpec =
            toml::from_str("generator = \"veridical\"\nseed = 0\ntrain = 5\neval = 5").unwrap();
        assert_eq!(
            v,
            GeneratorSpec::Veridical {
                seed: 0,
                train: 5,
                eval: 5,
                shortcut_share: 0.9,
                eval_shortcut_share: None,
                adverbs: 5
            }
        );
        assert_eq!(v.problem(), None);
        // The eval split's share defaults to the training share and is not written into the
        // key unless given.
        assert!(!serde_json::to_string(&v)
            .unwrap()
            .contains("eval_shortcut_share"));
        for (extra, says) in [
            ("adverbs = 0", "`adverbs` is 0"),
            ("adverbs = 6", "`adverbs` is 6"),
            (
                "eval_shortcut_share = -0.1",
                "`eval_shortcut_share` is -0.1",
            ),
            ("eval_shortcut_share = nan", "`eval_shortcut_share` is NaN"),
        ] {
            let g: GeneratorSpec = toml::from_str(&format!(
                "generator = \"veridical\"\nseed = 0\ntrain = 5\neval = 5\n{extra}"
            ))
            .unwrap();
            let problem = g.problem().unwrap_or_default();
            assert!(problem.contains(says), "{extra}: {problem}");
        }
        let p: PretrainSpec = toml::from_str("steps = 10").unwrap();
        assert_eq!((p.steps, p.batch_size), (10, 64));
        assert!(toml::from_str::<PretrainSpec>("stepz = 10").is_err());
    }
}
