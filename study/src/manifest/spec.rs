//! The small languages inside a manifest: seed sets, alpha grids and pair selections.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The most seeds a study may name. Each seed is a finetune and an evaluate node per task, and
/// all pairs of 1,000 seeds are already 499,500 paths; past that, split the study into several
/// over seed subsets (or use `pairs = { within = ... }`).
pub const MAX_SEEDS: u64 = 1_000;

/// The most pairs a study may interpolate (each is a node; all pairs of 447 seeds).
pub const MAX_PAIRS: usize = 100_000;

/// The most points an alpha grid may have (the paper uses 10; each point is a forward pass over
/// the loss-surface rows of every path).
pub const MAX_ALPHAS: usize = 1_000;

/// Seeds as a list (`[0, 3, 7]`) or a half-open range (`"0..20"`, like Rust's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedSet(pub Vec<u64>);

impl SeedSet {
    pub fn parse_range(s: &str) -> Result<SeedSet, String> {
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| format!("`{s}` is not a seed range like \"0..20\""))?;
        let parse = |x: &str| {
            x.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{x}` in seed range `{s}` is not a non-negative integer"))
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if b <= a {
            return Err(format!("seed range `{s}` is empty (the end is exclusive)"));
        }
        if b - a > MAX_SEEDS {
            return Err(format!(
                "seed range `{s}` has {} seeds, more than the {MAX_SEEDS} a study may have; \
                 split it into studies over seed subsets",
                b - a
            ));
        }
        Ok(SeedSet((a..b).collect()))
    }
}

impl<'de> Deserialize<'de> for SeedSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SeedSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of seeds like [0, 1, 2] or a range like \"0..20\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SeedSet, E> {
                SeedSet::parse_range(s).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SeedSet, A::Error> {
                let mut v: Vec<u64> = Vec::new();
                while let Some(s) = seq.next_element::<u64>()? {
                    if v.contains(&s) {
                        return Err(de::Error::custom(format!("seed {s} is listed twice")));
                    }
                    v.push(s);
                    if v.len() as u64 > MAX_SEEDS {
                        return Err(de::Error::custom(format!(
                            "more than the {MAX_SEEDS} seeds a study may have; split it into \
                             studies over seed subsets"
                        )));
                    }
                }
                if v.is_empty() {
                    return Err(de::Error::custom("the seed list is empty"));
                }
                Ok(SeedSet(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// The alphas a grid may use: the segment between the two models, and one model-distance
/// beyond either end (extrapolation, as some mode-connectivity plots show).
pub const ALPHA_RANGE: (f64, f64) = (-1.0, 2.0);

/// Interpolation coefficients: an explicit list, or `{ linspace = [start, stop, n] }` with both
/// endpoints included (numpy's convention, which the paper's 10-point grid uses).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlphaGrid(pub Vec<f64>);

impl AlphaGrid {
    pub fn linspace(a: f64, b: f64, n: usize) -> AlphaGrid {
        if n == 1 {
            return AlphaGrid(vec![a]);
        }
        AlphaGrid(
            (0..n)
                .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
                .collect(),
        )
    }

    fn check(v: Vec<f64>) -> Result<AlphaGrid, String> {
        if v.len() < 2 {
            return Err("an alpha grid needs at least 2 points".into());
        }
        if v.iter().any(|a| !a.is_finite()) {
            return Err("alphas must be finite numbers".into());
        }
        // Far outside the segment the weights leave the region of either model: losses saturate
        // and every barrier reads near 0 (alphas of +-1e300 once ran and reported that).
        if let Some(a) = v
            .iter()
            .find(|a| !(ALPHA_RANGE.0..=ALPHA_RANGE.1).contains(*a))
        {
            let a = if a.abs() < 1e6 {
                a.to_string()
            } else {
                format!("{a:e}")
            };
            return Err(format!(
                "alpha {a} is outside [{}, {}] (0 is the first model, 1 the second; a little \
                 beyond either end is allowed, no further)",
                ALPHA_RANGE.0, ALPHA_RANGE.1
            ));
        }
        if v.windows(2).any(|w| w[1] <= w[0]) {
            return Err("alphas must be strictly increasing".into());
        }
        Ok(AlphaGrid(v))
    }
}

impl<'de> Deserialize<'de> for AlphaGrid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AlphaGrid;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a list of alphas like [0.0, 0.5, 1.0] or { linspace = [0.0, 1.0, 10] }",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AlphaGrid, A::Error> {
                let mut v = Vec::new();
                while let Some(a) = seq.next_element::<f64>()? {
                    v.push(a);
                    if v.len() > MAX_ALPHAS {
                        return Err(de::Error::custom(format!(
                            "more than the {MAX_ALPHAS} alphas a grid may have"
                        )));
                    }
                }
                AlphaGrid::check(v).map_err(de::Error::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AlphaGrid, A::Error> {
                let key: String = map
                    .next_key()?
                    .ok_or_else(|| de::Error::custom("expected `linspace = [start, stop, n]`"))?;
                if key != "linspace" {
                    return Err(de::Error::unknown_field(&key, &["linspace"]));
                }
                let (a, b, n): (f64, f64, f64) = map.next_value()?;
                if n.fract() != 0.0 || n < 2.0 {
                    return Err(de::Error::custom(
                        "linspace's third value is the number of points, an integer >= 2",
                    ));
                }
                if n > MAX_ALPHAS as f64 {
                    return Err(de::Error::custom(format!(
                        "linspace asks for {n} points, more than the {MAX_ALPHAS} a grid may have \
                         (the paper uses 10)"
                    )));
                }
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "only `linspace` may appear in an alpha table",
                    ));
                }
                AlphaGrid::check(AlphaGrid::linspace(a, b, n as usize).0).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Which pairs of finetuned models to interpolate between.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum PairSpec {
    /// Every unordered pair of seeds.
    All,
    /// Every pair inside each of these seed groups (never across groups).
    Within(Vec<SeedSet>),
    /// Exactly these pairs.
    List(Vec<(u64, u64)>),
}

impl<'de> Deserialize<'de> for PairSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PairSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "\"all\", { within = [seed sets] } or a list of pairs like [[0, 1], [2, 3]]",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PairSpec, E> {
                match s {
                    "all" => Ok(PairSpec::All),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PairSpec, A::Error> {
                let mut v = Vec::new();
                while let Some((a, b)) = seq.next_element::<(u64, u64)>()? {
                    if a == b {
                        return Err(de::Error::custom(format!(
                            "pair [{a}, {b}] joins a seed to itself"
                        )));
                    }
                    v.push((a, b));
                }
                if v.is_empty() {
                    return Err(de::Error::custom("the pair list is empty"));
                }
                Ok(PairSpec::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PairSpec, A::Error> {
                let key: String = map
                    .next_key()?
                    .ok_or_else(|| de::Error::custom("expected `within = [...]`"))?;
                if key != "within" {
                    return Err(de::Error::unknown_field(&key, &["within"]));
                }
                let groups: Vec<SeedSet> = map.next_value()?;
                if groups.is_empty() {
                    return Err(de::Error::custom("`within` needs at least one seed group"));
                }
                Ok(PairSpec::Within(groups))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct T {
        s: Option<SeedSet>,
        a: Option<AlphaGrid>,
        p: Option<PairSpec>,
    }

    fn parse(src: &str) -> Result<T, String> {
        toml::from_str(src).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn seeds_alphas_and_pairs_parse() {
        assert_eq!(parse("s = \"2..5\"").unwrap().s.unwrap().0, vec![2, 3, 4]);
        assert_eq!(parse("s = [7, 1]").unwrap().s.unwrap().0, vec![7, 1]);
        assert!(parse("s = \"5..5\"").unwrap_err().contains("empty"));
        assert!(parse("s = [1, 1]").unwrap_err().contains("twice"));
        let a = parse("a = { linspace = [0.0, 1.0, 10] }")
            .unwrap()
            .a
            .unwrap()
            .0;
        assert_eq!(a.len(), 10);
        assert_eq!((a[0], a[9]), (0.0, 1.0));
        assert!((a[1] - 1.0 / 9.0).abs() < 1e-15);
        assert!(parse("a = [0.0, 0.5, 0.4]")
            .unwrap_err()
            .contains("increasing"));
        assert_eq!(parse("p = \"all\"").unwrap().p.unwrap(), PairSpec::All);
        assert_eq!(
            parse("p = [[0, 3]]").unwrap().p.unwrap(),
            PairSpec::List(vec![(0, 3)])
        );
        assert!(
            matches!(parse("p = { within = [\"0..3\", [5, 6]] }").unwrap().p.unwrap(), PairSpec::Within(g) if g.len() == 2)
        );
        assert!(parse("p = \"some\"").is_err());
    }
}

/// Which examples of a set a surface or a score looks at: each key a diagnostic group column
/// of the data (`heuristic`, `subcase`, `domain`, ...) or `label` (the gold label's name), each
/// value one accepted value or a list of them. Empty: every example.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Where(pub std::collections::BTreeMap<String, Vec<String>>);

impl<'de> Deserialize<'de> for Where {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let raw = std::collections::BTreeMap::<String, OneOrMany>::deserialize(d)?;
        let mut out = std::collections::BTreeMap::new();
        for (k, v) in raw {
            let values = match v {
                OneOrMany::One(s) => vec![s],
                OneOrMany::Many(v) => v,
            };
            if values.is_empty() {
                return Err(de::Error::custom(format!(
                    "`{k}` lists no values (give one value or a non-empty list)"
                )));
            }
            out.insert(k, values);
        }
        Ok(Where(out))
    }
}

/// The loss-surface subset of an eval set: the rows matching `where`, in file order, shuffled
/// with numpy's `default_rng(shuffle_seed).permutation` when a seed is given (Hugging Face
/// `datasets`' `shuffle(seed=...)`, which the paper's code uses), then the first `n`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Surface {
    #[serde(default, rename = "where")]
    pub filter: Where,
    #[serde(default)]
    pub shuffle_seed: Option<u64>,
    #[serde(default)]
    pub n: Option<u64>,
}

/// A set's primary metric: the score each model gets on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Accuracy,
    F1,
    Mcc,
}

impl Metric {
    /// Its key in an evaluation's metrics (`accuracy`, `f1`, `mcc`).
    pub fn key(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::F1 => "f1",
            Metric::Mcc => "mcc",
        }
    }
}
