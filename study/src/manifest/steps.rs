//! Training dynamics in the manifest: which intermediate checkpoints a finetune run keeps
//! (`[finetune] keep`) and at which of them the basins are mapped (`[interpolate] at`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The intermediate checkpoints a finetune run keeps as outputs, beside its final weights:
/// `keep = { steps = [100, 200] }` or `keep = { every = 100 }`. Each is written as the final
/// model is (an HF-loadable directory, `checkpoints/step=<s>/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Keep {
    /// These optimizer steps (counted from 1: `step=100` is the weights after 100 updates).
    Steps(Vec<u64>),
    /// Every this many steps, up to (not including) the last.
    Every(u64),
}

impl Keep {
    /// Whether the run keeps the weights after `step` updates, in a run of `total` steps (the
    /// last step is the final model, never a kept checkpoint).
    pub fn keeps(&self, step: u64, total: u64) -> bool {
        step >= 1 && step < total && self.names(step)
    }

    /// Whether `step` is one this setting names, whatever the run's length (what the manifest
    /// can check before any training).
    pub fn names(&self, step: u64) -> bool {
        match self {
            Keep::Steps(s) => s.contains(&step),
            Keep::Every(e) => *e > 0 && step > 0 && step.is_multiple_of(*e),
        }
    }
}

/// Where on its training run a model is taken: a kept step, or the final weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Checkpoint {
    Step(u64),
    Final,
}

impl Checkpoint {
    /// `final`, or `step=<n>` with n >= 1.
    pub fn parse(s: &str) -> Option<Checkpoint> {
        match s.trim() {
            "final" => Some(Checkpoint::Final),
            s => s
                .strip_prefix("step=")
                .and_then(|n| n.parse().ok())
                .filter(|&n| n > 0)
                .map(Checkpoint::Step),
        }
    }

    /// What node ids append for this checkpoint: `@step=1000`, nothing for the final weights
    /// (so a study without `at` keeps its ids and keys).
    pub fn suffix(&self) -> String {
        match self {
            Checkpoint::Step(s) => format!("@step={s}"),
            Checkpoint::Final => String::new(),
        }
    }

    /// Where a finetune node's output holds the weights: `model/` or `checkpoints/step=<n>/`.
    pub fn dir(&self) -> String {
        match self {
            Checkpoint::Step(s) => format!("checkpoints/step={s}/"),
            Checkpoint::Final => "model/".into(),
        }
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checkpoint::Step(s) => write!(f, "step={s}"),
            Checkpoint::Final => f.write_str("final"),
        }
    }
}

impl Serialize for Checkpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// As it is serialised: `final` or `step=<n>` (a kind reads it back from its params).
impl<'de> serde::Deserialize<'de> for Checkpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Checkpoint::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{s}` is not a checkpoint: expected `final` or `step=<n>`"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_parse_and_order() {
        assert_eq!(Checkpoint::parse("final"), Some(Checkpoint::Final));
        assert_eq!(Checkpoint::parse("step=20"), Some(Checkpoint::Step(20)));
        for bad in ["step=0", "step=", "step=-1", "20", "Final", "step=1.5"] {
            assert_eq!(Checkpoint::parse(bad), None, "{bad}");
        }
        let mut v = vec![
            Checkpoint::Final,
            Checkpoint::Step(30),
            Checkpoint::Step(10),
        ];
        v.sort();
        assert_eq!(
            v,
            [
                Checkpoint::Step(10),
                Checkpoint::Step(30),
                Checkpoint::Final
            ]
        );
        assert_eq!(Checkpoint::Step(10).suffix(), "@step=10");
        assert_eq!(Checkpoint::Final.suffix(), "");
    }

    #[test]
    fn keep_never_takes_the_last_step() {
        let every = Keep::Every(10);
        let kept: Vec<u64> = (0..=40).filter(|&s| every.keeps(s, 40)).collect();
        assert_eq!(kept, [10, 20, 30]);
        let steps = Keep::Steps(vec![5, 40, 50]);
        let kept: Vec<u64> = (0..=60).filter(|&s| steps.keeps(s, 40)).collect();
        assert_eq!(kept, [5]);
        assert!(steps.names(50) && !steps.names(6) && every.names(70) && !every.names(0));
    }
}
