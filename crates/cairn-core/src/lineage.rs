//! The lineage graph: what produced what, over the things the store already records.
//!
//! Edges point the way data flows (producer → product): a dataset → the run that used it, a run →
//! the logged model it produced → the registered model version made from it, a parent run → its
//! child, code → the run that ran it, a logged model → a run that consumed it. "Upstream" of a node
//! is where it came from; "downstream" is what came of it. Building the graph needs the store and
//! lives in the server; this module holds the graph and renders it (tree text, Graphviz DOT).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    ModelVersion,
    LoggedModel,
    Run,
    Dataset,
    Code,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::ModelVersion => "model_version",
            NodeKind::LoggedModel => "logged_model",
            NodeKind::Run => "run",
            NodeKind::Dataset => "dataset",
            NodeKind::Code => "code",
        }
    }
}

/// A node: a stable id (`model_version:name/3`, `run:<id>`, ...), a label for people, and facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: NodeKind,
    pub label: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// An edge from producer to product, with how they relate (`input`, `produced`, `registered_as`,
/// `parent_of`, `code_of`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Edge {
    pub source: String,
    pub target: String,
    pub relation: String,
}

/// Which way a walk goes from its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
    Both,
}

impl Direction {
    pub fn parse(text: &str) -> Option<Direction> {
        match text.to_ascii_lowercase().as_str() {
            "upstream" | "up" => Some(Direction::Upstream),
            "downstream" | "down" => Some(Direction::Downstream),
            "both" => Some(Direction::Both),
            _ => None,
        }
    }

    pub fn upstream(self) -> bool {
        matches!(self, Direction::Upstream | Direction::Both)
    }

    pub fn downstream(self) -> bool {
        matches!(self, Direction::Downstream | Direction::Both)
    }
}

/// A lineage graph around `root`. Nodes and edges are deduplicated and kept in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    pub root: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    pub fn new(root: Node) -> Graph {
        Graph {
            root: root.id.clone(),
            nodes: vec![root],
            edges: Vec::new(),
        }
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.id == id)
    }

    /// Adds `node` unless a node with its id exists; returns whether it was new.
    pub fn add_node(&mut self, node: Node) -> bool {
        if self.node(&node.id).is_some() {
            return false;
        }
        self.nodes.push(node);
        true
    }

    /// Adds an edge unless the same one exists.
    pub fn add_edge(&mut self, source: &str, target: &str, relation: &str) {
        let edge = Edge {
            source: source.to_owned(),
            target: target.to_owned(),
            relation: relation.to_owned(),
        };
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }

    /// Edges into `id` (where it came from).
    pub fn inputs_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |edge| edge.target == id)
    }

    /// Edges out of `id` (what came of it).
    pub fn outputs_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |edge| edge.source == id)
    }

    /// A readable tree: the root, then what it came from (`<-`) and what came of it (`->`).
    pub fn render_tree(&self) -> String {
        let mut out = String::new();
        let Some(root) = self.node(&self.root) else {
            return out;
        };
        let _ = writeln!(out, "{}", describe(root));
        let upstream: Vec<&Edge> = self.inputs_of(&self.root).collect();
        let downstream: Vec<&Edge> = self.outputs_of(&self.root).collect();
        let mut seen = BTreeSet::from([self.root.clone()]);
        if !upstream.is_empty() {
            let _ = writeln!(out, "upstream (where it came from):");
            self.render_branch(&mut out, &upstream, true, "", &mut seen);
        }
        let mut seen = BTreeSet::from([self.root.clone()]);
        if !downstream.is_empty() {
            let _ = writeln!(out, "downstream (what came of it):");
            self.render_branch(&mut out, &downstream, false, "", &mut seen);
        }
        out
    }

    fn render_branch(
        &self,
        out: &mut String,
        edges: &[&Edge],
        upstream: bool,
        indent: &str,
        seen: &mut BTreeSet<String>,
    ) {
        for (index, edge) in edges.iter().enumerate() {
            let last = index + 1 == edges.len();
            let next_id = if upstream { &edge.source } else { &edge.target };
            let branch = if last { "└── " } else { "├── " };
            let label = self
                .node(next_id)
                .map(describe)
                .unwrap_or_else(|| next_id.clone());
            let arrow = if upstream { "<-" } else { "->" };
            let _ = writeln!(out, "{indent}{branch}{arrow} {}: {label}", edge.relation);
            if !seen.insert(next_id.clone()) {
                continue;
            }
            let child_indent = format!("{indent}{}", if last { "    " } else { "│   " });
            let next: Vec<&Edge> = if upstream {
                self.inputs_of(next_id).collect()
            } else {
                self.outputs_of(next_id).collect()
            };
            self.render_branch(out, &next, upstream, &child_indent, seen);
        }
    }

    /// Graphviz DOT, one statement per node and edge.
    pub fn render_dot(&self) -> String {
        let mut out = String::from("digraph lineage {\n  rankdir=LR;\n  node [shape=box];\n");
        for node in &self.nodes {
            let shape = match node.kind {
                NodeKind::Dataset => "cylinder",
                NodeKind::Code => "note",
                NodeKind::Run => "box",
                NodeKind::LoggedModel => "component",
                NodeKind::ModelVersion => "box3d",
            };
            let _ = writeln!(
                out,
                "  \"{}\" [label=\"{}\\n{}\", shape={shape}{}];",
                dot_escape(&node.id),
                node.kind.as_str(),
                dot_escape(&node.label),
                if node.id == self.root {
                    ", style=bold"
                } else {
                    ""
                }
            );
        }
        for edge in &self.edges {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                dot_escape(&edge.source),
                dot_escape(&edge.target),
                dot_escape(&edge.relation)
            );
        }
        out.push_str("}\n");
        out
    }
}

fn describe(node: &Node) -> String {
    let mut text = format!("{} {}", node.kind.as_str(), node.label);
    let facts: Vec<String> = node
        .attributes
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    if !facts.is_empty() {
        let _ = write!(text, " [{}]", facts.join(", "));
    }
    text
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: NodeKind, id: &str, label: &str) -> Node {
        Node {
            id: id.to_owned(),
            kind,
            label: label.to_owned(),
            attributes: BTreeMap::new(),
        }
    }

    fn sample() -> Graph {
        let mut graph = Graph::new(node(NodeKind::ModelVersion, "mv:m/1", "m version 1"));
        assert!(graph.add_node(node(NodeKind::Run, "run:r", "train")));
        assert!(!graph.add_node(node(NodeKind::Run, "run:r", "again")));
        graph.add_node(node(NodeKind::Dataset, "dataset:d", "d \"q\""));
        graph.add_node(node(NodeKind::Run, "run:c", "consumer"));
        graph.add_edge("run:r", "mv:m/1", "registered_as");
        graph.add_edge("run:r", "mv:m/1", "registered_as");
        graph.add_edge("dataset:d", "run:r", "input");
        graph.add_edge("mv:m/1", "run:c", "input");
        graph
    }

    #[test]
    fn nodes_and_edges_are_deduplicated() {
        let graph = sample();
        assert_eq!(graph.nodes.len(), 4);
        assert_eq!(graph.edges.len(), 3);
        assert_eq!(graph.node("run:r").map(|n| n.label.as_str()), Some("train"));
    }

    #[test]
    fn tree_shows_both_directions() {
        let text = sample().render_tree();
        let expected = "model_version m version 1\n\
                        upstream (where it came from):\n\
                        └── <- registered_as: run train\n    \
                            └── <- input: dataset d \"q\"\n\
                        downstream (what came of it):\n\
                        └── -> input: run consumer\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn dot_escapes_quotes_and_marks_the_root() {
        let dot = sample().render_dot();
        assert!(dot.starts_with("digraph lineage {"));
        assert!(dot.contains("\"dataset:d\" [label=\"dataset\\nd \\\"q\\\"\", shape=cylinder];"));
        assert!(dot.contains(
            "\"mv:m/1\" [label=\"model_version\\nm version 1\", shape=box3d, style=bold];"
        ));
        assert!(dot.contains("\"dataset:d\" -> \"run:r\" [label=\"input\"];"));
        assert!(dot.ends_with("}\n"));
    }

    #[test]
    fn json_round_trip_uses_type_field() {
        let graph = sample();
        let json = serde_json::to_value(&graph).unwrap();
        assert_eq!(json["nodes"][0]["type"], "model_version");
        let back: Graph = serde_json::from_value(json).unwrap();
        assert_eq!(back, graph);
    }

    #[test]
    fn cycles_do_not_loop() {
        let mut graph = Graph::new(node(NodeKind::Run, "run:a", "a"));
        graph.add_node(node(NodeKind::Run, "run:b", "b"));
        graph.add_edge("run:a", "run:b", "parent_of");
        graph.add_edge("run:b", "run:a", "parent_of");
        let text = graph.render_tree();
        assert!(text.lines().count() < 10, "{text}");
    }

    #[test]
    fn directions_parse() {
        assert_eq!(Direction::parse("UP"), Some(Direction::Upstream));
        assert_eq!(Direction::parse("downstream"), Some(Direction::Downstream));
        assert_eq!(Direction::parse("both"), Some(Direction::Both));
        assert_eq!(Direction::parse("sideways"), None);
    }
}
