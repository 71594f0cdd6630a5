//! A study's nodes as the engine sees them: an id, a stage kind, canonical params, and named
//! inputs. What they mean is the study crate's business (`basins_study::expand` builds them
//! from a manifest); the engine keys, orders, schedules and runs them.

use std::path::PathBuf;

use serde_json::Value;

/// Where a node's input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The outputs of another node, by id.
    Node(String),
    /// A file on disk (hashed by content).
    File(PathBuf),
    /// A directory on disk, such as a Hugging Face model directory (every file hashed).
    Dir(PathBuf),
}

/// One named input of a node. Roles are unique within a node and are what the recipe key and
/// `basins why` talk about ("input `model_a` changed").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub role: String,
    pub source: Source,
}

/// One stage instance.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: String,
    pub params: Value,
    pub inputs: Vec<Input>,
}

impl Node {
    pub fn new(id: String, kind: &str, params: Value) -> Node {
        Node {
            id,
            kind: kind.into(),
            params,
            inputs: Vec::new(),
        }
    }

    pub fn input(mut self, role: impl Into<String>, source: Source) -> Node {
        self.inputs.push(Input {
            role: role.into(),
            source,
        });
        self
    }
}
