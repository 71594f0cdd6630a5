//! The input roles that wire a study's nodes together, spelled once: expansion writes them and
//! the stage kinds read them, so a kind cannot ask for a role that expansion spells another way.
//! A role is part of its node's recipe key (the golden-key test holds these spellings).
//!
//! `at` is a checkpoint as it is displayed and as kinds receive it in their params: `final` or
//! `step=<n>`.
//!
//! A task's analysis nodes have ids of one shape, `<kind>/<task>[@step=<n>]`
//! ([`task_node`]); the report reads each final one under its id as its role, and tells them
//! apart with [`parse_task_node`], never by matching the spelling itself.

use std::fmt::Display;

use crate::manifest::Checkpoint;

/// The evaluate node of the model finetuned from `seed` (its final checkpoint), read by
/// barriers, diagnostics and controls.
pub fn endpoint(seed: u64) -> String {
    format!("endpoint:{seed}")
}

/// The interpolate node of the path between the models of seeds `a` and `b`.
pub fn path(a: u64, b: u64) -> String {
    format!("path:{a}~{b}")
}

/// An adaptive path's two endpoints (the evaluate nodes of models a and b), read for their
/// per-example losses before any interior alpha is evaluated.
pub const PATH_ENDS: [&str; 2] = ["path_end:a", "path_end:b"];

/// A data set a model stage evaluates on (`nli.eval`, a diagnostic's name).
pub fn eval(set: &str) -> String {
    format!("eval:{set}")
}

/// A model a `merge` node combines: the final weights of seed `seed`.
pub fn member(seed: u64) -> String {
    format!("member:{seed}")
}

/// The evaluate node of soup `soup` made by `method` (`soups/<task>` reads it).
pub fn soup(soup: &str, method: &str) -> String {
    format!("soup:{soup}/{method}")
}

/// The interpolate node of the path from soup `soup` (a uniform one) to its member `seed`.
pub fn soup_path(soup: &str, seed: u64) -> String {
    format!("soup_path:{soup}~{seed}")
}

/// The greedy soup's merge node (`soups/<task>` reads which members it chose).
pub const GREEDY: &str = "greedy";

/// The model a `merge` node's members were finetuned from (task arithmetic, TIES).
pub const MERGE_BASE: &str = "base";

/// The `interpolate_blocks` node of the pair of seeds `a` and `b` (`blocks/<task>` reads it).
pub fn block_path(a: u64, b: u64) -> String {
    format!("block_path:{a}~{b}")
}

/// The `align` node that matched seed `b`'s model to seed `a`'s (`aligned/<task>` reads its
/// permutation).
pub fn alignment(a: u64, b: u64) -> String {
    format!("alignment:{a}~{b}")
}

/// The path from seed `a`'s model to seed `b`'s aligned to it.
pub fn aligned_path(a: u64, b: u64) -> String {
    format!("aligned_path:{a}~{b}")
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

/// One of a task's analysis nodes (and the document the report reads from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskNode {
    Barriers,
    Cluster,
    Controls,
    Diagnostics,
    Dynamics,
    Soups,
    Blocks,
    Aligned,
}

impl TaskNode {
    /// Every one, in the order a report reads them.
    pub const ALL: [TaskNode; 8] = [
        TaskNode::Barriers,
        TaskNode::Cluster,
        TaskNode::Controls,
        TaskNode::Diagnostics,
        TaskNode::Dynamics,
        TaskNode::Soups,
        TaskNode::Blocks,
        TaskNode::Aligned,
    ];

    /// Its stage kind, which starts its id.
    pub fn kind(self) -> &'static str {
        match self {
            TaskNode::Barriers => "barriers",
            TaskNode::Cluster => "cluster",
            TaskNode::Controls => "controls",
            TaskNode::Diagnostics => "diagnostics",
            TaskNode::Dynamics => "dynamics",
            TaskNode::Soups => "soups",
            TaskNode::Blocks => "blocks",
            TaskNode::Aligned => "aligned",
        }
    }

    /// The document it writes (`barriers.json`, ...).
    pub fn document(self) -> &'static str {
        match self {
            TaskNode::Barriers => "barriers.json",
            TaskNode::Cluster => "cluster.json",
            TaskNode::Controls => "controls.json",
            TaskNode::Diagnostics => "diagnostics.json",
            TaskNode::Dynamics => "dynamics.json",
            TaskNode::Soups => "soups.json",
            TaskNode::Blocks => "blocks.json",
            TaskNode::Aligned => "aligned.json",
        }
    }
}

/// The id of `task`'s `node` at the final weights (`barriers/nli`); the report's input role for
/// it is the same text.
pub fn task_node(node: TaskNode, task: &str) -> String {
    format!("{}/{task}", node.kind())
}

/// [`task_node`] at checkpoint `at` (`barriers/nli@step=300`; the final weights' id without a
/// suffix, which is what keeps the keys of studies that map no steps).
pub fn task_node_at(node: TaskNode, task: &str, at: Checkpoint) -> String {
    format!("{}{}", task_node(node, task), at.suffix())
}

/// Which final task node `role` names, and for which task: the inverse of [`task_node`].
pub fn parse_task_node(role: &str) -> Option<(TaskNode, &str)> {
    let (kind, task) = role.split_once('/')?;
    let node = TaskNode::ALL.into_iter().find(|n| n.kind() == kind)?;
    (!task.is_empty() && !task.contains(['/', '@'])).then_some((node, task))
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

    #[test]
    fn task_nodes_are_spelled_and_read_back_one_way() {
        use super::{parse_task_node, task_node, task_node_at, TaskNode};
        for node in TaskNode::ALL {
            let id = task_node(node, "nli");
            assert_eq!(parse_task_node(&id), Some((node, "nli")));
            assert_eq!(task_node_at(node, "nli", Checkpoint::Final), id);
            // A kept step's node is not the report's.
            assert_eq!(
                parse_task_node(&task_node_at(node, "nli", Checkpoint::Step(3))),
                None
            );
        }
        assert_eq!(task_node(TaskNode::Cluster, "qqp"), "cluster/qqp");
        assert_eq!(parse_task_node("evaluate/nli"), None);
        assert_eq!(parse_task_node("cluster/"), None);
    }
}
