//! The YAML reader: saphyr-parser's events to a tree of [`Node`]s that
//! keeps each scalar's text and style, resolved with PyYAML's rules.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use zeroize::Zeroize;

use super::resolve::{is_null, plain_is_str};

/// More nodes than this (e.g. from aliases) and the file is refused.
const MAX_NODES: usize = 100_000;
/// Deeper nesting than this and the file is refused (real ones have depth 3).
const MAX_DEPTH: usize = 64;

/// A YAML node as PyYAML would load it, keeping what hubauth does not use.
#[derive(Clone, Debug, PartialEq)]
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
    Map(Vec<(Node, Node)>, Option<Node>, usize),
}

/// Parses the first (only) document of `text`; None for an empty stream or a
/// document that is empty / null.
pub(super) fn parse_tree(text: &str) -> std::result::Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = Default::default();
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
                stack.push(Frame::Map(Vec::new(), None, anchor));
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => remember(&mut anchors, anchor, Node::Seq(items)),
                _ => return Err(syntax(line, col, "unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(pairs, None, anchor)) => {
                    remember(&mut anchors, anchor, Node::Map(pairs))
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
            Some(Frame::Map(pairs, pending, _)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    // PyYAML keeps the last value of a repeated key.
                    match pairs.iter_mut().find(|(k, _)| *k == key) {
                        Some(pair) => pair.1 = node,
                        None => pairs.push((key, node)),
                    }
                }
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
