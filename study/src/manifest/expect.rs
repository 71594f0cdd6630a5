//! `[report] expect`: the clusters a paper published for the study's models, which the report
//! compares basins' partition with (`expect = { minority = [...], source = "..." }`).
//!
//! The paper lists the models of its smaller cluster by seed (aNOnWhyMooS/connectivity's
//! README: MNLI '15', '25', ...); a study names its models by seed (trained) or by member
//! (a zoo: `feather_berts_15`). An entry is a model's name, or a number, which names the model
//! with that seed, or the zoo member whose name ends in that number. A number that names no
//! model of the study is not an error (a study of a subset of a zoo leaves most of a published
//! list out) but is reported as absent; a name that names none is refused, as a typo would be.

use serde::{Deserialize, Serialize};

/// `minority` entries as written: names or numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawEntry {
    Number(u64),
    Name(String),
}

/// `expect = { ... }` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// The models in the published smaller cluster.
    pub minority: Option<Vec<RawEntry>>,
    /// Where the list was published (shown beside the comparison).
    pub source: Option<String>,
}

/// The published partition, resolved against the study's models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    /// The seeds (for a zoo, member positions) of the published minority present in the study.
    pub minority: Vec<u64>,
    /// Entries that name no model of this study.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    pub source: String,
}

/// Which model an entry names: `Ok(Some(seed))`, `Ok(None)` for a number naming none (absent),
/// `Err` for a name naming none. `models` is (seed, name) with the name the study gives it
/// (`seed=3`'s `3`, a zoo member's name).
pub fn find(entry: &RawEntry, models: &[(u64, String)]) -> Result<Option<u64>, String> {
    // The number a model's name ends in (`feather_berts_15`: 15; a seed's name is its number).
    let trailing = |name: &str| -> Option<u64> {
        name[name.trim_end_matches(|c: char| c.is_ascii_digit()).len()..]
            .parse()
            .ok()
    };
    let n = match entry {
        RawEntry::Number(n) => *n,
        RawEntry::Name(s) => match s.parse::<u64>() {
            Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return models
                    .iter()
                    .find(|(_, name)| name == s || format!("seed={name}") == *s)
                    .map(|(seed, _)| Some(*seed))
                    .ok_or_else(|| format!("`{s}` is not a model of this study"))
            }
        },
    };
    let hits: Vec<u64> = models
        .iter()
        .filter(|(_, name)| trailing(name) == Some(n))
        .map(|(seed, _)| *seed)
        .collect();
    match hits.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(format!("`{n}` names {} models of this study", hits.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_models_by_name_seed_or_trailing_number() {
        let zoo: Vec<(u64, String)> = ["feather_berts_0", "feather_berts_15", "feather_berts_25"]
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u64, n.to_string()))
            .collect();
        assert_eq!(find(&RawEntry::Number(15), &zoo), Ok(Some(1)));
        assert_eq!(find(&RawEntry::Name("25".into()), &zoo), Ok(Some(2)));
        assert_eq!(
            find(&RawEntry::Name("feather_berts_0".into()), &zoo),
            Ok(Some(0))
        );
        assert_eq!(find(&RawEntry::Number(42), &zoo), Ok(None));
        assert!(find(&RawEntry::Name("feather_bert_0".into()), &zoo).is_err());
        let seeds: Vec<(u64, String)> = (0..4).map(|s| (s, s.to_string())).collect();
        assert_eq!(find(&RawEntry::Name("seed=3".into()), &seeds), Ok(Some(3)));
        assert_eq!(find(&RawEntry::Number(2), &seeds), Ok(Some(2)));
        let clash: Vec<(u64, String)> = vec![(0, "a_1".into()), (1, "b_1".into())];
        assert!(find(&RawEntry::Number(1), &clash).is_err());
        // Digits past u64 name no model, and are said to (once, they panicked).
        let long = RawEntry::Name("99999999999999999999999".into());
        assert!(find(&long, &seeds).unwrap_err().contains("not a model"));
    }
}
