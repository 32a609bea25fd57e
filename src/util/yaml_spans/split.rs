//! Cutting a suite's top-level `tests` list into its items' lines, so that a
//! big suite is read one test case at a time (see [`TestsSplit`]).

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A suite document whose top-level `tests` list can be read one test at a
/// time: a suite of 100,000 tests parsed as one document holds every parse
/// event and value of it at once (hundreds of MB), while the tests are
/// independent of each other.
///
/// Produced by [`split_tests`] only when cutting the text by lines is exact:
/// `tests` is a block list of the root mapping, its items start on lines of
/// their own (`- ` at the list's column) and use no anchor, alias or tag
/// (not even `<<: *defaults` referring to an anchor above the list); anything
/// else is read as one document.
#[derive(Debug)]
pub struct TestsSplit {
    /// The document with the lines of the `tests` items left empty (the line
    /// numbers of everything else unchanged): `tests:` reads as null.
    pub head: String,
    /// Each item: its 1-based first line (the one with its `- `) and the
    /// byte range of its lines in the document.
    pub items: Vec<SplitItem>,
    /// The 1-based lines of the items' `assert` entries (what
    /// [`super::YamlLocations::node`] gives for `tests[i].assert[j]`), item after item.
    pub assert_lines: Vec<usize>,
}

/// One item of a [`TestsSplit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitItem {
    /// 1-based line of the item's `- `.
    pub line: usize,
    /// Byte range of the item's lines in the document: a YAML list of one
    /// element when parsed alone.
    pub bytes: std::ops::Range<usize>,
    /// 1-based line of the item's node (what [`super::YamlLocations::node`] gives
    /// for `tests[i]`).
    pub node_line: usize,
    /// Where the lines of its `assert` entries are in [`TestsSplit::assert_lines`].
    pub asserts: std::ops::Range<usize>,
}

impl TestsSplit {
    /// The text of item `i` of `text` (the document the split was made from).
    pub fn item_text<'t>(&self, text: &'t str, i: usize) -> &'t str {
        &text[self.items[i].bytes.clone()]
    }
}

/// Splits a suite's top-level `tests` list into its items' lines (see
/// [`TestsSplit`]); `None` when the document must be read whole (no block
/// list under `tests`, anchors, aliases or tags inside it, several
/// documents, or text yaml-rust2 cannot parse — serde_yaml then reports the
/// error with its position).
pub fn split_tests(text: &str) -> Option<TestsSplit> {
    let mut finder = TestsFinder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut finder, true).ok()?;
    if finder.bail || finder.documents != 1 || finder.starts.is_empty() {
        return None;
    }
    let (seq_line, marker_col) = finder.seq?;
    // The list's column: its first `- ` (yaml-rust2 marks an indentless
    // list after its dash). A flow list (`tests: [...]`) has none.
    let first = text.split('\n').nth(seq_line - 1)?;
    let seq_col = first.len() - first.trim_start_matches(' ').len();
    if seq_col > marker_col || !first[seq_col..].starts_with('-') {
        return None;
    }
    let end_marker = finder.end?;
    let lines: Vec<&str> = text.split('\n').collect();
    // The `- ` of each item: its first event's line, or a line above it when
    // the item's content starts on the next line (`-` alone on its line).
    let is_dash = |line: usize| -> bool {
        lines.get(line - 1).is_some_and(|l| {
            let b = l.as_bytes();
            b.len() > seq_col
                && b[..seq_col].iter().all(|c| *c == b' ')
                && b[seq_col] == b'-'
                && b.get(seq_col + 1).is_none_or(|c| matches!(c, b' ' | b'\r'))
        })
    };
    // (first line, end line exclusive) per item.
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(finder.starts.len());
    let mut floor = seq_line;
    for &(start, last) in &finder.starts {
        let dash = (floor..=start).rev().find(|l| is_dash(*l))?;
        if let Some(prev) = spans.last_mut() {
            prev.1 = dash;
        }
        spans.push((dash, 0));
        floor = last + 1;
    }
    let last_line = finder.starts.last()?.1;
    if let Some(last) = spans.last_mut() {
        last.1 = end_marker.max(last_line + 1).min(lines.len() + 1);
    }
    if spans.iter().any(|(a, b)| a >= b) {
        return None;
    }
    // Byte offset of the start of each line (and of the end of the text).
    let mut offsets = Vec::with_capacity(lines.len() + 1);
    let mut at = 0;
    for l in &lines {
        offsets.push(at);
        at += l.len() + 1;
    }
    offsets.push(text.len());
    let n_asserts = finder.assert_lines.len();
    let items: Vec<SplitItem> = spans
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| SplitItem {
            line: a,
            bytes: offsets[a - 1]..offsets[b - 1].min(text.len()),
            node_line: finder.starts[i].0,
            asserts: finder.assert_from[i]..finder.assert_from.get(i + 1).copied().unwrap_or(n_asserts),
        })
        .collect();
    let (first, end) = (spans.first()?.0, spans.last()?.1);
    let mut head = String::with_capacity(offsets[first - 1] + (text.len() - offsets[end - 1].min(text.len())) + end);
    for (n, line) in lines.iter().enumerate() {
        let no = n + 1;
        if no < first || no >= end {
            head.push_str(line);
        }
        if n + 1 < lines.len() {
            head.push('\n');
        }
    }
    Some(TestsSplit {
        head,
        items,
        assert_lines: finder.assert_lines,
    })
}

/// Finds the items of the root mapping's `tests` block list from parse
/// events, without keeping them.
#[derive(Default)]
struct TestsFinder {
    /// Open containers (true = mapping).
    stack: Vec<bool>,
    /// In the root mapping: the next node at depth 1 is a key.
    expect_key: bool,
    /// The last root key read was `tests`.
    tests_key: bool,
    /// The `tests` list: line and column (0-based) of its start.
    seq: Option<(usize, usize)>,
    /// Per item: the line of its first event and of its last.
    starts: Vec<(usize, usize)>,
    /// Per item: where its `assert` list's lines start in `assert_lines`.
    assert_from: Vec<usize>,
    /// The lines of the items' `assert` entries (their first events).
    assert_lines: Vec<usize>,
    /// In the current item mapping: the next node at the item's key depth is a key.
    item_expect_key: bool,
    /// The last key read in the current item mapping was `assert`.
    assert_key: bool,
    /// The current item's `assert` list is being read.
    in_assert: bool,
    /// The line of the list's end event (the next token after it).
    end: Option<usize>,
    /// The list is being read.
    inside: bool,
    documents: usize,
    /// Something makes a line cut inexact.
    bail: bool,
}

/// Depth of the `tests` list's items (root mapping, then the list).
const ITEM_DEPTH: usize = 2;

impl TestsFinder {
    fn in_tests(&mut self, ev: Event, line: usize) {
        match &ev {
            Event::Alias(_) => self.bail = true,
            Event::Scalar(_, _, anchor, tag) | Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)
                if *anchor != 0 || tag.is_some() =>
            {
                self.bail = true
            }
            _ => {}
        }
        if self.bail {
            return;
        }
        let depth = self.stack.len();
        // Depths: the item's own keys are read at KEY_DEPTH (inside the item
        // mapping), the entries of its `assert` list at KEY_DEPTH + 1.
        const KEY_DEPTH: usize = ITEM_DEPTH + 1;
        let in_item_map = depth == KEY_DEPTH && self.stack.last() == Some(&true);
        match ev {
            Event::SequenceEnd if depth == ITEM_DEPTH => {
                self.stack.pop();
                self.inside = false;
                self.end = Some(line);
                self.expect_key = true;
            }
            Event::Scalar(..) | Event::MappingStart(..) | Event::SequenceStart(..) => {
                if depth == ITEM_DEPTH {
                    self.starts.push((line, line));
                    self.assert_from.push(self.assert_lines.len());
                    self.item_expect_key = true;
                    self.assert_key = false;
                    self.in_assert = false;
                } else if let Some(s) = self.starts.last_mut() {
                    s.1 = s.1.max(line);
                }
                if self.in_assert && depth == KEY_DEPTH + 1 {
                    self.assert_lines.push(line);
                }
                if in_item_map {
                    if self.item_expect_key {
                        self.assert_key = matches!(&ev, Event::Scalar(k, ..) if k == "assert");
                        self.item_expect_key = matches!(ev, Event::Scalar(..));
                        if !self.item_expect_key {
                            self.bail = true; // a complex key
                            return;
                        }
                        self.item_expect_key = false;
                    } else {
                        self.in_assert = self.assert_key && matches!(ev, Event::SequenceStart(..));
                        self.assert_key = false;
                        self.item_expect_key = matches!(ev, Event::Scalar(..));
                    }
                }
                if !matches!(ev, Event::Scalar(..)) {
                    self.stack.push(matches!(ev, Event::MappingStart(..)));
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                if self.stack.len() == KEY_DEPTH && self.stack.last() == Some(&true) {
                    // A container value of the item mapping ended.
                    self.in_assert = false;
                    self.item_expect_key = true;
                }
            }
            _ => self.bail = true,
        }
    }
}

impl MarkedEventReceiver for TestsFinder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.bail {
            return;
        }
        let line = mark.line();
        if self.inside {
            return self.in_tests(ev, line);
        }
        let at_root = self.stack.len() == 1 && self.stack[0];
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                if self.stack.is_empty() {
                    self.expect_key = true;
                } else if at_root {
                    if self.expect_key {
                        // A complex key: read the document whole.
                        self.bail = true;
                        return;
                    }
                    if self.tests_key && !is_map {
                        if self.seq.is_some() {
                            self.bail = true; // `tests` twice
                            return;
                        }
                        self.seq = Some((line, mark.col()));
                        self.inside = true;
                        self.tests_key = false;
                        self.stack.push(false);
                        return;
                    }
                    self.tests_key = false;
                }
                self.stack.push(is_map);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                if self.stack.len() == 1 && self.stack[0] {
                    self.expect_key = true;
                }
            }
            Event::Scalar(ref s, ..) if at_root => {
                self.tests_key = self.expect_key && s == "tests";
                self.expect_key = !self.expect_key;
            }
            Event::Alias(_) if at_root => {
                self.tests_key = false;
                self.expect_key = !self.expect_key;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::yaml_spans::{YamlLocations, YamlPath};

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

    /// Each item's text parsed alone is the item, and the head is the rest.
    fn check_split(doc: &str, expect: usize) -> TestsSplit {
        let split = split_tests(doc).expect("splittable");
        assert_eq!(split.items.len(), expect);
        let whole: serde_yaml::Value = serde_yaml::from_str(doc).unwrap();
        let tests = whole["tests"].as_sequence().unwrap();
        for (i, t) in tests.iter().enumerate() {
            let item: serde_yaml::Value = serde_yaml::from_str(split.item_text(doc, i)).unwrap();
            assert_eq!(item.as_sequence().map(|s| s.len()), Some(1), "item {i}");
            assert_eq!(&item[0], t, "item {i}");
        }
        let mut head: serde_yaml::Value = serde_yaml::from_str(&split.head).unwrap();
        let mut rest = whole.clone();
        rest.as_mapping_mut().unwrap().remove("tests");
        assert_eq!(
            head.as_mapping_mut().unwrap().remove("tests"),
            Some(serde_yaml::Value::Null)
        );
        assert_eq!(head, rest);
        assert_eq!(split.head.split('\n').count(), doc.split('\n').count());
        split
    }

    #[test]
    fn splits_block_lists_into_items() {
        let split = check_split(DOC, 2);
        assert_eq!(split.items[0].line, 5);
        assert_eq!(split.items[1].line, 11);
        // Indentless list, items starting below their dash, comments, block
        // scalars with dashes, a key after the list, no final newline.
        let doc = "prompts: [p]\ntests:\n- vars: {n: 1}\n  # a comment\n-\n  description: two\n  assert:\n    - type: contains\n      value: |\n        - not an item\n        x\n\n- file://more.yaml\n- vars:\n    n: 3\nproviders: [echo]";
        let split = check_split(doc, 4);
        assert_eq!(
            split.items.iter().map(|i| i.line).collect::<Vec<_>>(),
            vec![3, 5, 13, 14]
        );
        check_split("tests:\n  - a: 1\n  - b: 2\n", 2);
        check_split("tests:\n  - a: 1\n  - b: 2", 2);
        check_split(
            "# c\ntests:\n\n    - {a: 1,\n       b: 2}\n    - [x, y]\ndescription: d\n",
            2,
        );
    }

    #[test]
    fn the_split_knows_the_lines_of_tests_and_their_assertions() {
        let docs = [
            DOC,
            "tests:\n- vars: {n: 1}\n  assert:\n    - type: contains\n      value: x\n    -\n      type: regex\n      value: '^a'\n  description: d\n-\n  assert: [{type: equals, value: 1}, {type: equals, value: 2}]\n  vars:\n    assert: not this\n    nested: {assert: [no]}\n- description: none\n",
        ];
        for doc in docs {
            let split = split_tests(doc).unwrap();
            let whole = YamlLocations::index(doc);
            for (i, item) in split.items.iter().enumerate() {
                let at = YamlPath::root().key("tests").index(i);
                assert_eq!(Some(item.node_line), whole.node(&at).map(|p| p.0), "{at}");
                let lines = &split.assert_lines[item.asserts.clone()];
                let full: Vec<usize> = (0..lines.len() + 1)
                    .map_while(|j| {
                        let p = at.key("assert").index(j);
                        whole.walk(&p).filter(|(_, _, full)| *full).map(|(n, _, _)| n.pos().0)
                    })
                    .collect();
                assert_eq!(lines, &full[..], "{at}");
            }
        }
    }

    #[test]
    fn items_are_indexed_by_their_document_paths() {
        let split = split_tests(DOC).unwrap();
        let at = YamlPath::root().key("tests").index(1);
        let item = &split.items[1];
        let locs = YamlLocations::index_item(split.item_text(DOC, 1), item.line, &at);
        let whole = YamlLocations::index(DOC);
        for p in [at.clone(), at.key("asert"), at.key("description"), at.key("nope")] {
            assert_eq!(locs.node(&p), whole.node(&p), "{p}");
            assert_eq!(locs.key(&p), whole.key(&p), "{p}");
        }
        assert_eq!(locs.node(&YamlPath::root().key("tests").index(0)), None);
        assert_eq!(locs.node(&YamlPath::root().key("prompts")), None);
    }

    #[test]
    fn reads_whole_documents_it_cannot_cut_exactly() {
        for doc in [
            "tests: [{a: 1}, {b: 2}]\n",
            "tests:\n  - &one {a: 1}\n  - *one\n",
            "x-d: &d {a: 1}\ntests:\n  - <<: *d\n    b: 2\n",
            "tests:\n  - !!map {a: 1}\n",
            "tests: []\n",
            "tests: file://cases.csv\n",
            "- a: 1\n",
            "tests:\n  - a: 1\n---\ntests:\n  - b: 1\n",
            "tests:\n  - a: [1\n",
        ] {
            assert!(split_tests(doc).is_none(), "{doc}");
        }
    }
}
