//! The input roles that wire a study's nodes together, spelled once: expansion writes them and
//! the stage kinds read them, so a kind cannot ask for a role that expansion spells another way.
//! A role is part of its node's recipe key (the golden-key test holds these spellings).
//!
//! `at` is a checkpoint as it is displayed and as kinds receive it in their params: `final` or
//! `step=<n>`.

use std::fmt::Display;

/// The evaluate node of the model finetuned from `seed` (its final checkpoint), read by
/// barriers, diagnostics and controls.
pub fn endpoint(seed: u64) -> String {
    format!("endpoint:{seed}")
}

/// The interpolate node of the path between the models of seeds `a` and `b`.
pub fn path(a: u64, b: u64) -> String {
    format!("path:{a}~{b}")
}

/// A data set a model stage evaluates on (`nli.eval`, a diagnostic's name).
pub fn eval(set: &str) -> String {
    format!("eval:{set}")
}

/// The clustering at checkpoint `at` (dynamics).
pub fn cluster_at(at: impl Display) -> String {
    format!("cluster@{at}")
}

/// The barrier matrices at checkpoint `at` (dynamics).
pub fn barriers_at(at: impl Display) -> String {
    format!("barriers@{at}")
}

/// The evaluate node of seed `seed`'s final model (dynamics: the end of its own path).
pub fn end(seed: u64) -> String {
    format!("end:{seed}")
}

/// The evaluate node of seed `seed`'s model at an earlier checkpoint `at` (dynamics: the start
/// of its own path).
pub fn start(seed: u64, at: impl Display) -> String {
    format!("start:{seed}@{at}")
}

/// The interpolate node of seed `seed`'s own path, from checkpoint `at` to its final model.
pub fn own(seed: u64, at: impl Display) -> String {
    format!("own:{seed}@{at}")
}

#[cfg(test)]
mod tests {
    use crate::manifest::Checkpoint;

    /// Expansion passes a `Checkpoint`, a kind the text from its params: the same role.
    #[test]
    fn a_checkpoint_and_its_text_name_the_same_role() {
        let at = Checkpoint::Step(300);
        assert_eq!(super::own(2, at), super::own(2, "step=300"));
        assert_eq!(super::cluster_at(Checkpoint::Final), "cluster@final");
        assert_eq!(super::start(0, at), "start:0@step=300");
    }
}
