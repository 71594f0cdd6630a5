//! The study DAG: nodes from expansion, edges from `Source::Node` inputs.

use std::collections::HashMap;
use std::fmt::Write;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::node::{Node, Source};
use crate::EngineError;

pub struct Graph {
    pub nodes: Vec<Node>,
    dag: DiGraph<usize, ()>,
    index: HashMap<String, usize>,
    /// Topological order (indices into `nodes`).
    pub order: Vec<usize>,
}

impl Graph {
    pub fn new(nodes: Vec<Node>) -> Result<Graph, EngineError> {
        let mut dag = DiGraph::with_capacity(nodes.len(), nodes.len() * 2);
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            dag.add_node(i);
            if index.insert(n.id.clone(), i).is_some() {
                return Err(EngineError::Graph(format!(
                    "two nodes share the id `{}`",
                    n.id
                )));
            }
        }
        for (i, n) in nodes.iter().enumerate() {
            for input in &n.inputs {
                if let Source::Node(up) = &input.source {
                    let &u = index.get(up).ok_or_else(|| {
                        EngineError::Graph(format!(
                            "node `{}` reads `{up}`, which the study does not define",
                            n.id
                        ))
                    })?;
                    dag.add_edge(NodeIndex::new(u), NodeIndex::new(i), ());
                }
            }
        }
        let order = petgraph::algo::toposort(&dag, None)
            .map_err(|c| {
                EngineError::Graph(format!(
                    "the study has a cycle through `{}`",
                    nodes[dag[c.node_id()]].id
                ))
            })?
            .into_iter()
            .map(|ix| dag[ix])
            .collect();
        Ok(Graph {
            nodes,
            dag,
            index,
            order,
        })
    }

    pub fn get(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn parents(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.dag
            .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
            .map(|ix| self.dag[ix])
    }

    pub fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.dag
            .neighbors_directed(NodeIndex::new(i), Direction::Outgoing)
            .map(|ix| self.dag[ix])
    }

    /// `i` and everything upstream of it.
    pub fn with_ancestors(&self, roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut keep = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = roots.into_iter().collect();
        while let Some(i) = stack.pop() {
            if !keep[i] {
                keep[i] = true;
                stack.extend(self.parents(i));
            }
        }
        keep
    }

    /// One line per node in topological order, with what it reads.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for &i in &self.order {
            let n = &self.nodes[i];
            let _ = writeln!(s, "{}  [{}]", n.id, n.kind);
            for input in &n.inputs {
                let from = match &input.source {
                    Source::Node(id) => id.clone(),
                    Source::File(p) | Source::Dir(p) => p.display().to_string(),
                };
                let _ = writeln!(s, "    {} <- {}", input.role, from);
            }
        }
        s
    }

    /// Graphviz, one cluster colour per stage kind.
    pub fn to_dot(&self) -> String {
        let mut s = String::from(
            "digraph study {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for &i in &self.order {
            let n = &self.nodes[i];
            let _ = writeln!(
                s,
                "  n{i} [label=\"{}\", tooltip=\"{}\"];",
                n.id.replace('"', "\\\""),
                n.kind
            );
        }
        for e in self.dag.edge_indices() {
            let (a, b) = self.dag.edge_endpoints(e).expect("edge has endpoints");
            let _ = writeln!(s, "  n{} -> n{};", self.dag[a], self.dag[b]);
        }
        s.push_str("}\n");
        s
    }
}
