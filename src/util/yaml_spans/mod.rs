//! Source positions of YAML nodes, by path.
//!
//! serde_yaml gives positions only in its own parse errors; it exposes no
//! position for a deserialized node. promptgate must name the line of an
//! unknown key, an invalid regex or a test case (for GitHub annotations), so
//! this module walks the same text with yaml-rust2's event parser, which
//! reports a marker per event, and indexes every node and mapping key by its
//! path (`tests[3].assert[0].value`). Deserialization itself stays with
//! serde_yaml.

use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

mod split;
pub use split::{split_tests, SplitItem, TestsSplit};

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index (0-based).
    Index(usize),
}

/// A path from the document root, e.g. `tests[3].assert[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct YamlPath(pub Vec<Seg>);

impl YamlPath {
    /// The root.
    pub fn root() -> Self {
        YamlPath(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        YamlPath(v)
    }

    /// This path extended by an index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        YamlPath(v)
    }

    /// This path followed by `other`.
    pub fn join(&self, other: &YamlPath) -> Self {
        let mut v = self.0.clone();
        v.extend(other.0.iter().cloned());
        YamlPath(v)
    }

    /// The last key of the path, if it ends in a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// The path without its last segment.
    pub fn parent(&self) -> YamlPath {
        let mut v = self.0.clone();
        v.pop();
        YamlPath(v)
    }

    /// Converts a serde_path_to_error path.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        YamlPath(
            path.iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } => Some(Seg::Key(key.clone())),
                    Segment::Enum { .. } | Segment::Unknown => None,
                })
                .collect(),
        )
    }

    /// Converts a serde_ignored path.
    pub fn from_ignored(path: &serde_ignored::Path<'_>) -> Self {
        fn walk(p: &serde_ignored::Path<'_>, out: &mut Vec<Seg>) {
            use serde_ignored::Path as P;
            match p {
                P::Root => {}
                P::Seq { parent, index } => {
                    walk(parent, out);
                    out.push(Seg::Index(*index));
                }
                P::Map { parent, key } => {
                    walk(parent, out);
                    out.push(Seg::Key(key.clone()));
                }
                P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => walk(parent, out),
            }
        }
        let mut out = Vec::new();
        walk(path, &mut out);
        YamlPath(out)
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !first {
                        write!(f, ".")?;
                    }
                    write!(f, "{k}")?;
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// Line and column (both 1-based) of nodes and keys in one YAML document,
/// kept as a tree shaped like the document (no path hashing: a 10,000-case
/// suite has hundreds of thousands of nodes).
#[derive(Debug, Default, Clone)]
pub struct YamlLocations {
    root: Option<LocNode>,
    /// For one item of a [`TestsSplit`]: the item's path in the document
    /// (`tests[i]`); the index holds a list of that one item.
    prefix: Vec<Seg>,
    /// Lines before the indexed text in its file.
    line_offset: usize,
}

type Pos = (usize, usize);

#[derive(Debug, Clone)]
enum LocNode {
    Leaf(Pos),
    Map(Pos, Vec<(String, Pos, LocNode)>),
    Seq(Pos, Vec<LocNode>),
}

impl LocNode {
    fn pos(&self) -> Pos {
        match self {
            LocNode::Leaf(p) | LocNode::Map(p, _) | LocNode::Seq(p, _) => *p,
        }
    }

    fn child(&self, seg: &Seg) -> Option<(&LocNode, Option<Pos>)> {
        match (self, seg) {
            (LocNode::Map(_, entries), Seg::Key(k)) => entries
                .iter()
                .find(|(key, _, _)| key == k)
                .map(|(_, kp, n)| (n, Some(*kp))),
            (LocNode::Seq(_, items), Seg::Index(i)) => items.get(*i).map(|n| (n, None)),
            _ => None,
        }
    }
}

impl YamlLocations {
    /// Indexes `text`. Text that yaml-rust2 cannot parse yields an empty
    /// index (serde_yaml reports the syntax error with its own position).
    pub fn index(text: &str) -> Self {
        let mut indexer = LocationIndexer::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut indexer, false).is_err() {
            return YamlLocations::default();
        }
        YamlLocations {
            root: indexer.root,
            ..Default::default()
        }
    }

    /// Indexes one item of a [`TestsSplit`]: `text` is the item's lines
    /// (starting at 1-based `first_line` of the file) and `at` its path in
    /// the document (`tests[i]`). Paths outside `at` are not found here.
    pub fn index_item(text: &str, first_line: usize, at: &YamlPath) -> Self {
        let mut locs = Self::index(text);
        locs.prefix = at.0.clone();
        locs.line_offset = first_line - 1;
        locs
    }

    /// Walks `path` as far as the document goes: the deepest node reached and
    /// the position of the key that led to it, and whether the whole path matched.
    fn walk(&self, path: &YamlPath) -> Option<(&LocNode, Option<Pos>, bool)> {
        let mut node = self.root.as_ref()?;
        let mut key_pos = None;
        let mut segs: &[Seg] = &path.0;
        if !self.prefix.is_empty() {
            segs = segs.strip_prefix(&self.prefix[..])?;
            node = node.child(&Seg::Index(0))?.0;
        }
        for seg in segs {
            match node.child(seg) {
                Some((child, kp)) => {
                    node = child;
                    key_pos = kp;
                }
                None => return Some((node, None, false)),
            }
        }
        Some((node, key_pos, true))
    }

    /// Position of the node at `path`, or of its nearest indexed ancestor.
    pub fn node(&self, path: &YamlPath) -> Option<(usize, usize)> {
        self.walk(path).map(|(n, _, _)| self.shift(n.pos()))
    }

    fn shift(&self, (line, col): Pos) -> Pos {
        (line + self.line_offset, col)
    }

    /// Position of the mapping key that ends `path` (else as [`Self::node`]).
    pub fn key(&self, path: &YamlPath) -> Option<(usize, usize)> {
        let (node, key_pos, full) = self.walk(path)?;
        match (full, key_pos) {
            (true, Some(kp)) => Some(self.shift(kp)),
            _ => Some(self.shift(node.pos())),
        }
    }
}

enum Frame {
    Map {
        pos: Pos,
        entries: Vec<(String, Pos, LocNode)>,
        key: Option<(String, Pos)>,
    },
    Seq {
        pos: Pos,
        items: Vec<LocNode>,
    },
}

/// Receives yaml-rust2's events and builds the tree of [`LocNode`]s.
#[derive(Default)]
struct LocationIndexer {
    stack: Vec<Frame>,
    root: Option<LocNode>,
    done: bool,
}

impl LocationIndexer {
    /// Puts a finished node in its parent. `scalar` is the node's text when
    /// it is a scalar (it may be a mapping key).
    fn attach(&mut self, node: LocNode, scalar: Option<&str>) {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                self.done = true;
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some((scalar.unwrap_or("?").to_string(), node.pos())),
                Some((k, kp)) => entries.push((k, kp, node)),
            },
        }
    }
}

impl MarkedEventReceiver for LocationIndexer {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        // yaml-rust2 markers: 1-based line, 0-based column.
        let pos = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(ref s, ..) => self.attach(LocNode::Leaf(pos), Some(s)),
            Event::Alias(_) => self.attach(LocNode::Leaf(pos), None),
            Event::MappingStart(..) => self.stack.push(Frame::Map {
                pos,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceStart(..) => self.stack.push(Frame::Seq { pos, items: Vec::new() }),
            Event::MappingEnd | Event::SequenceEnd => {
                let node = match self.stack.pop() {
                    // Exact sizes: a suite of 100k tests holds over a million
                    // of these, and growth slack would be a third of them.
                    Some(Frame::Map { pos, mut entries, .. }) => {
                        entries.shrink_to_fit();
                        LocNode::Map(pos, entries)
                    }
                    Some(Frame::Seq { pos, mut items }) => {
                        items.shrink_to_fit();
                        LocNode::Seq(pos, items)
                    }
                    None => return,
                };
                self.attach(node, None);
            }
            Event::DocumentEnd => self.done = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
description: demo
prompts:
  - rag_system
tests:
  - description: first
    vars:
      q: hi
    assert:
      - type: contains
        value: x
  - description: second
    asert: []
";

    #[test]
    fn finds_nodes_and_keys() {
        let locs = YamlLocations::index(DOC);
        let t1 = YamlPath::root().key("tests").index(1);
        assert_eq!(locs.node(&t1).map(|p| p.0), Some(11));
        assert_eq!(locs.key(&t1.key("asert")), Some((12, 5)));
        let v = YamlPath::root()
            .key("tests")
            .index(0)
            .key("assert")
            .index(0)
            .key("value");
        assert_eq!(locs.node(&v), Some((10, 16)));
        assert_eq!(locs.node(&YamlPath::root().key("prompts").index(0)), Some((3, 5)));
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let locs = YamlLocations::index(DOC);
        let p = YamlPath::root().key("tests").index(0).key("vars").key("nope");
        assert_eq!(locs.node(&p).map(|p| p.0), Some(7));
    }

    #[test]
    fn displays_paths() {
        let p = YamlPath::root().key("tests").index(3).key("assert").index(0);
        assert_eq!(p.to_string(), "tests[3].assert[0]");
    }
}
