//! The YAML reader: saphyr-parser's events to a tree of [`Node`]s that
//! keeps each scalar's text and style, resolved with PyYAML's rules.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use saphyr_parser::{Event, Parser, ScalarStyle};
use zeroize::Zeroize;

use super::resolve::{is_null, plain_is_str};

/// More nodes than this (e.g. from aliases) and the file is refused.
const MAX_NODES: usize = 100_000;
/// Deeper nesting than this and the file is refused (real ones have depth 3).
const MAX_DEPTH: usize = 64;

/// A YAML node as PyYAML would load it, keeping what hubauth does not use.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Node {
    /// A string (quoted, block, or plain that PyYAML resolves to a string).
    Str(String),
    /// A plain scalar PyYAML resolves to something else (null, bool, int,
    /// float, timestamp): kept as its text and written back plain.
    Plain(String),
    /// A scalar with an explicit tag (the full tag, the text).
    Tagged(String, String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub(super) fn str(s: &str) -> Node {
        Node::Str(s.to_string())
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a string or of a plain scalar (e.g. an unquoted timestamp).
    pub(super) fn scalar_text(&self) -> Option<&str> {
        match self {
            Node::Str(s) | Node::Plain(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(self, Node::Plain(s) if is_null(s))
    }

    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn zeroize(&mut self) {
        match self {
            Node::Str(s) | Node::Plain(s) => s.zeroize(),
            Node::Tagged(t, s) => {
                t.zeroize();
                s.zeroize();
            }
            Node::Seq(items) => items.iter_mut().for_each(Node::zeroize),
            Node::Map(pairs) => pairs.iter_mut().for_each(|(k, v)| {
                k.zeroize();
                v.zeroize();
            }),
        }
    }
}

/// Where a YAML syntax error is (never what the line says: it may hold a token).
pub(super) struct SyntaxError {
    pub(super) line: usize,
    pub(super) col: usize,
    pub(super) what: &'static str,
}

fn syntax(line: usize, col: usize, what: &'static str) -> SyntaxError {
    SyntaxError { line, col, what }
}

enum Frame {
    Seq(Vec<Node>, usize),
    Map(MapBuilder, Option<Node>, usize),
}

/// A mapping being read. PyYAML keeps a repeated key in its first place with
/// its last value; `first_of` finds the earlier key without a scan, which was
/// quadratic (a 388 KB file took 65 s).
#[derive(Default)]
struct MapBuilder {
    pairs: Vec<(Node, Node)>,
    /// Hash of a key → index of the first pair with that hash. Hashes, not
    /// copies of keys: a key may be a token, and copies would not be zeroed.
    first_of: HashMap<u64, usize>,
}

impl MapBuilder {
    fn insert(&mut self, mut key: Node, mut value: Node, hasher: &RandomState) {
        let hash = hasher.hash_one(&key);
        let earlier = match self.first_of.get(&hash) {
            None => None,
            Some(&i) if self.pairs[i].0 == key => Some(i),
            // Two keys with one 64-bit hash (keyed SipHash, so not something
            // a file can aim for): look for the key the slow way.
            Some(_) => self.pairs.iter().position(|(k, _)| *k == key),
        };
        match earlier {
            Some(i) => {
                // The earlier key stays; the repeat and the old value go.
                std::mem::swap(&mut self.pairs[i].1, &mut value);
                value.zeroize();
                key.zeroize();
            }
            None => {
                self.first_of.entry(hash).or_insert(self.pairs.len());
                self.pairs.push((key, value));
            }
        }
    }
}

/// Parses the first (only) document of `text`; None for an empty stream or a
/// document that is empty / null.
pub(super) fn parse_tree(text: &str) -> std::result::Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = Default::default();
    let hasher = RandomState::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut nodes = 0usize;
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| {
            syntax(
                e.marker().line(),
                e.marker().col() + 1,
                "this is not valid YAML",
            )
        })?;
        let (line, col) = (span.start.line(), span.start.col() + 1);
        let node = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(syntax(line, col, "the file holds more than one document"));
                }
                continue;
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(syntax(line, col, "the file is nested too deeply"));
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), anchor));
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(MapBuilder::default(), None, anchor));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => remember(&mut anchors, anchor, Node::Seq(items)),
                _ => return Err(syntax(line, col, "unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(map, None, anchor)) => {
                    remember(&mut anchors, anchor, Node::Map(map.pairs))
                }
                _ => return Err(syntax(line, col, "unbalanced mapping")),
            },
            Event::Scalar(value, style, anchor, tag) => {
                let node = scalar_node(value.into_owned(), style, tag.as_deref());
                remember(&mut anchors, anchor, node)
            }
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| syntax(line, col, "an alias refers to an unknown anchor"))?;
                // A copy of a whole subtree: count all of it.
                nodes += count(&node) - 1;
                node
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {
                continue;
            }
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(syntax(
                line,
                col,
                "the file is too large or too deeply aliased",
            ));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(map, pending, _)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => map.insert(key, node, &hasher),
            },
        }
    }
    Ok(root.filter(|r| !r.is_null()))
}

fn count(node: &Node) -> usize {
    match node {
        Node::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Node::Map(pairs) => {
            1 + pairs
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn remember(anchors: &mut HashMap<usize, Node>, anchor: usize, node: Node) -> Node {
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
    node
}

fn scalar_node(text: String, style: ScalarStyle, tag: Option<&saphyr_parser::Tag>) -> Node {
    match tag {
        Some(tag) => {
            let full = format!("{}{}", tag.handle, tag.suffix);
            if full == "tag:yaml.org,2002:str" || full == "!" {
                Node::Str(text)
            } else {
                Node::Tagged(full, text)
            }
        }
        None if style == ScalarStyle::Plain && !plain_is_str(&text) => Node::Plain(text),
        None => Node::Str(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_of(text: &str) -> Vec<(Node, Node)> {
        match parse_tree(text) {
            Ok(Some(Node::Map(pairs))) => pairs,
            _ => panic!("not a mapping"),
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value() {
        let pairs = map_of("a: 1\nb: 2\na: 3\n");
        assert_eq!(
            pairs,
            vec![
                (Node::str("a"), Node::Plain("3".into())),
                (Node::str("b"), Node::Plain("2".into())),
            ]
        );
    }

    /// A 388 KB cache once took 65 s: finding repeated keys must not be
    /// quadratic. The bound is generous (a debug build on a busy machine).
    #[test]
    fn a_mapping_with_many_keys_parses_in_linear_time() {
        let keys = 20_000;
        let mut text = String::new();
        for i in 0..keys {
            text.push_str(&format!("https://host-{i}.example: []\n"));
        }
        text.push_str("https://host-7.example: [x]\n");
        let started = std::time::Instant::now();
        let pairs = map_of(&text);
        let took = started.elapsed();
        assert_eq!(pairs.len(), keys);
        assert_eq!(pairs[7].1, Node::Seq(vec![Node::str("x")]));
        assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    }
}
