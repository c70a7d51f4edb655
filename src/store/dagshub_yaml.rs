//! The dagshub client's token cache: a YAML file (default
//! `~/.cache/dagshub/tokens`) mapping host URLs to lists of tokens, read and
//! written so that the real client (PyYAML, YAML 1.1) reads back exactly the
//! strings hubauth meant.
//!
//! Reading goes through YAML events (saphyr-parser), keeping each scalar's text
//! and style, and resolves plain scalars with PyYAML's own implicit rules: a
//! plain `2099-01-02` is a timestamp and `0123` an integer there, so they are
//! not strings. Writing uses a small emitter with PyYAML's quoting rules
//! (`yaml.dump` defaults: block style, sorted keys, ASCII only), so a file
//! hubauth writes is what the real client would have written. Everything
//! hubauth does not understand (other hosts, unknown token types, extra
//! fields) is kept as it was read.

use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::store::fsutil;

/// `token_type` of long-lived tokens made in the user's settings.
pub(crate) const APP_TOKEN: &str = "app-token";
/// `token_type` of tokens from the OAuth flow.
pub(crate) const BEARER: &str = "bearer";
/// `expiry` of tokens that do not expire.
pub(crate) const NEVER: &str = "never";
/// The only schema version the real client reads (as a string).
pub(crate) const SCHEMA_VERSION: &str = "1";
const VERSION_KEY: &str = "version";
/// More nodes than this (e.g. from aliases) and the file is refused.
const MAX_NODES: usize = 100_000;
/// Deeper nesting than this and the file is refused (real ones have depth 3).
const MAX_DEPTH: usize = 64;
/// PyYAML writes longer keys in the explicit `? key` form.
const MAX_SIMPLE_KEY: usize = 128;

/// The two kinds of token the real client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// `app-token`: long-lived, `expiry: never`.
    App,
    /// `bearer`: from the OAuth flow, with an RFC 3339 expiry.
    Bearer,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::App => APP_TOKEN,
            TokenType::Bearer => BEARER,
        }
    }
}

/// One usable token of a host.
#[derive(Clone, Debug)]
pub struct CachedToken {
    pub access_token: Secret,
    pub token_type: TokenType,
    /// Unix time in nanoseconds; None = never expires.
    pub expires_at_ns: Option<i128>,
}

impl CachedToken {
    /// An app token (`expiry: never`).
    pub fn app(access_token: Secret) -> Self {
        CachedToken {
            access_token,
            token_type: TokenType::App,
            expires_at_ns: None,
        }
    }

    /// Expiry in whole unix seconds (rounded down).
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at_ns
            .map(|ns| ns.div_euclid(1_000_000_000) as i64)
    }

    fn to_node(&self) -> Node {
        let expiry = match self.expires_at_ns {
            None => NEVER.to_string(),
            Some(ns) => format_expiry(ns).unwrap_or_else(|| NEVER.to_string()),
        };
        Node::Map(vec![
            (
                Node::str("access_token"),
                Node::Str(self.access_token.expose().to_string()),
            ),
            (Node::str("expiry"), Node::Str(expiry)),
            (Node::str("token_type"), Node::str(self.token_type.as_str())),
        ])
    }
}

/// Parses an expiry as the real client and the server write it: any RFC 3339
/// time (any number of fractional digits, any offset; a space instead of `T`
/// is accepted too). Returns unix nanoseconds.
pub fn parse_expiry(text: &str) -> Option<i128> {
    let text = text.trim();
    let mut owned = text.to_string();
    if owned.len() > 10 && owned.as_bytes()[10] == b' ' {
        owned.replace_range(10..11, "T");
    }
    OffsetDateTime::parse(&owned, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// Formats unix nanoseconds as the real client does:
/// `%Y-%m-%dT%H:%M:%S.%fZ` in UTC (six fractional digits, truncated).
pub fn format_expiry(unix_ns: i128) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(unix_ns).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    ))
}

// ---------------------------------------------------------------------------
// The document tree
// ---------------------------------------------------------------------------

/// A YAML node as PyYAML would load it, keeping what hubauth does not use.
#[derive(Clone, Debug, PartialEq)]
enum Node {
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
    fn str(s: &str) -> Node {
        Node::Str(s.to_string())
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text of a string or of a plain scalar (e.g. an unquoted timestamp).
    fn scalar_text(&self) -> Option<&str> {
        match self {
            Node::Str(s) | Node::Plain(s) => Some(s),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Node::Plain(s) if is_null(s))
    }

    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn zeroize(&mut self) {
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
struct SyntaxError {
    line: usize,
    col: usize,
    what: &'static str,
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
fn parse_tree(text: &str) -> std::result::Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Node> = Default::default();
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

fn remember(
    anchors: &mut std::collections::HashMap<usize, Node>,
    anchor: usize,
    node: Node,
) -> Node {
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

// ---------------------------------------------------------------------------
// The cache
// ---------------------------------------------------------------------------

/// The whole token cache file. Token values are zeroed when it is dropped.
pub struct TokenCache {
    /// The top-level mapping, in file order.
    root: Vec<(Node, Node)>,
    /// What was skipped while reading, for a warning (never a token value).
    skipped: Vec<String>,
    dropped_expired: usize,
}

impl Drop for TokenCache {
    fn drop(&mut self) {
        for (k, v) in &mut self.root {
            k.zeroize();
            v.zeroize();
        }
    }
}

/// What one entry of a host's list is.
enum Entry {
    Usable(CachedToken),
    Expired,
    Skipped(String),
}

fn classify(node: &Node, now_ns: i128) -> Entry {
    let Node::Map(_) = node else {
        return Entry::Skipped("it is not a mapping".into());
    };
    let Some(access_token) = node
        .get("access_token")
        .and_then(Node::as_str)
        .filter(|t| !t.is_empty())
    else {
        return Entry::Skipped("it has no access_token string".into());
    };
    let Ok(access_token) = Secret::new(access_token) else {
        return Entry::Skipped("its access_token contains a NUL character".into());
    };
    let token_type = match node.get("token_type").and_then(Node::as_str) {
        Some(APP_TOKEN) => TokenType::App,
        Some(BEARER) => TokenType::Bearer,
        Some(other) => {
            // Named only when it looks like a type name, never like a token.
            let named = other.len() <= 24
                && other
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_');
            return Entry::Skipped(if named {
                format!("unknown token_type {other:?}")
            } else {
                "unknown token_type".to_string()
            });
        }
        None => return Entry::Skipped("it has no token_type".into()),
    };
    let expires_at_ns = match token_type {
        TokenType::App => None,
        TokenType::Bearer => match node.get("expiry").and_then(Node::scalar_text) {
            Some(NEVER) => None,
            Some(text) => match parse_expiry(text) {
                Some(ns) if ns <= now_ns => return Entry::Expired,
                Some(ns) => Some(ns),
                None => return Entry::Skipped("its expiry is not an RFC 3339 time".into()),
            },
            None => return Entry::Skipped("it has no expiry".into()),
        },
    };
    Entry::Usable(CachedToken {
        access_token,
        token_type,
        expires_at_ns,
    })
}

impl TokenCache {
    /// An empty cache (what a missing file holds).
    pub fn empty() -> Self {
        TokenCache {
            root: Vec::new(),
            skipped: Vec::new(),
            dropped_expired: 0,
        }
    }

    /// Reads the cache at `path`; a missing file is an empty cache.
    /// `now` (unix seconds) decides which bearer tokens have expired.
    pub fn load(path: &Path, now: i64) -> Result<Self> {
        match fsutil::read_file(path)? {
            None => Ok(TokenCache::empty()),
            Some(bytes) => {
                let bytes = Zeroizing::new(bytes);
                TokenCache::parse(&bytes, path, now)
            }
        }
    }

    /// Parses the bytes of a cache file (YAML or JSON); `path` is named in
    /// messages. Expired bearer tokens are dropped; entries hubauth cannot use
    /// are kept and listed in [`skipped`](Self::skipped).
    pub fn parse(bytes: &[u8], path: &Path, now: i64) -> Result<Self> {
        let fix = "fix or delete the file";
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::format(format!("{} is not UTF-8 text; {fix}", path.display())))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let root = parse_tree(text).map_err(|e| {
            Error::format(format!(
                "{} is not a valid token cache (line {}, column {}: {}); {fix}",
                path.display(),
                e.line,
                e.col,
                e.what
            ))
        })?;
        let mut cache = TokenCache::empty();
        match root {
            // An empty file makes the real client fail; it holds no token.
            None => cache
                .skipped
                .push(format!("{} is empty; it holds no token", path.display())),
            Some(Node::Map(pairs)) => cache.root = pairs,
            Some(mut other) => {
                other.zeroize();
                return Err(Error::format(format!(
                    "{} is not a token cache (its top level is not a mapping); {fix}",
                    path.display()
                )));
            }
        }
        cache.check_version(path)?;
        cache.clean(path, now);
        Ok(cache)
    }

    fn check_version(&self, path: &Path) -> Result<()> {
        let version = self
            .root
            .iter()
            .find(|(k, _)| k.as_str() == Some(VERSION_KEY))
            .map(|(_, v)| v);
        match version {
            None => Ok(()),
            Some(Node::Str(v)) if v == SCHEMA_VERSION => Ok(()),
            // An integer 1 makes the real client fail; hubauth reads it and
            // writes it back as the string '1'.
            Some(Node::Plain(v)) if v == SCHEMA_VERSION => Ok(()),
            Some(_) => Err(Error::format(format!(
                "{} has a schema version other than '1'; hubauth does not know it \
                 (update hubauth, or delete the file to start over)",
                path.display()
            ))),
        }
    }

    /// Drops expired bearer tokens and notes the entries hubauth cannot use.
    fn clean(&mut self, path: &Path, now: i64) {
        let now_ns = i128::from(now) * 1_000_000_000;
        let mut skipped = Vec::new();
        let mut dropped = 0;
        for (key, value) in &mut self.root {
            let Some(host) = key.as_str() else { continue };
            if host == VERSION_KEY {
                continue;
            }
            let items = match value {
                Node::Seq(items) => items,
                v if v.is_null() => continue,
                _ => {
                    skipped.push(format!(
                        "{}: the value of {host} is not a list of tokens",
                        path.display()
                    ));
                    continue;
                }
            };
            let mut index = 0;
            items.retain_mut(|item| {
                index += 1;
                match classify(item, now_ns) {
                    Entry::Usable(_) => true,
                    Entry::Expired => {
                        dropped += 1;
                        item.zeroize();
                        false
                    }
                    Entry::Skipped(reason) => {
                        skipped.push(format!(
                            "{}: token {index} of {host} cannot be used ({reason}); it is left in the file",
                            path.display()
                        ));
                        true
                    }
                }
            });
        }
        self.skipped.extend(skipped);
        self.dropped_expired = dropped;
    }

    /// Descriptions of what could not be used (file, host, position, reason).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// How many expired bearer tokens were dropped when reading.
    pub fn dropped_expired(&self) -> usize {
        self.dropped_expired
    }

    fn host_items(&self, host: &str) -> Option<&Vec<Node>> {
        self.root
            .iter()
            .find(|(k, _)| k.as_str() == Some(host))
            .and_then(|(_, v)| match v {
                Node::Seq(items) => Some(items),
                _ => None,
            })
    }

    /// The host URLs (top-level keys other than `version`), in file order.
    pub fn hosts(&self) -> Vec<&str> {
        self.root
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .filter(|k| *k != VERSION_KEY)
            .collect()
    }

    /// The usable tokens of `host` in the order the real client tries them:
    /// app tokens first, then bearer tokens, each in file order.
    pub fn tokens(&self, host: &str) -> Vec<CachedToken> {
        let usable: Vec<CachedToken> = self
            .host_items(host)
            .into_iter()
            .flatten()
            .filter_map(|item| match classify(item, i128::MIN) {
                Entry::Usable(t) => Some(t),
                _ => None,
            })
            .collect();
        let (mut app, bearer): (Vec<_>, Vec<_>) = usable
            .into_iter()
            .partition(|t| t.token_type == TokenType::App);
        app.extend(bearer);
        app
    }

    /// True when `host` has an entry with this access token (of any type).
    pub fn contains(&self, host: &str, access_token: &str) -> bool {
        self.host_items(host)
            .into_iter()
            .flatten()
            .any(|item| item.get("access_token").and_then(Node::as_str) == Some(access_token))
    }

    /// Removes `host`'s entries whose access token is `access_token`;
    /// returns how many were removed. Other hosts are never touched.
    pub fn remove_token(&mut self, host: &str, access_token: &str) -> usize {
        let mut removed = 0;
        for (key, value) in &mut self.root {
            if key.as_str() != Some(host) {
                continue;
            }
            if let Node::Seq(items) = value {
                items.retain_mut(|item| {
                    let hit = item.get("access_token").and_then(Node::as_str) == Some(access_token);
                    if hit {
                        removed += 1;
                        item.zeroize();
                    }
                    !hit
                });
            }
        }
        removed
    }

    /// Removes every entry of `host` (the host's key disappears). Returns
    /// whether it had one.
    pub fn remove_host(&mut self, host: &str) -> bool {
        let before = self.root.len();
        self.root.retain_mut(|(k, v)| {
            let hit = k.as_str() == Some(host);
            if hit {
                v.zeroize();
            }
            !hit
        });
        self.root.len() != before
    }

    /// Appends a token to `host`'s list (creating it). Fails when the host's
    /// value is something other than a list, which hubauth will not overwrite.
    pub fn push(&mut self, host: &str, token: &CachedToken) -> Result<()> {
        let entry = token.to_node();
        match self.root.iter_mut().find(|(k, _)| k.as_str() == Some(host)) {
            Some((_, Node::Seq(items))) => items.push(entry),
            Some((_, value)) if value.is_null() => *value = Node::Seq(vec![entry]),
            Some(_) => {
                return Err(Error::format(format!(
                    "the token cache's entry for {host} is not a list; fix or delete it"
                )));
            }
            None => self.root.push((Node::str(host), Node::Seq(vec![entry]))),
        }
        Ok(())
    }

    /// The file's text, as PyYAML's `yaml.dump` would write it: `version: '1'`
    /// added when missing (as a string), keys sorted, strings quoted where
    /// PyYAML would otherwise read another type.
    pub fn to_yaml(&self) -> Zeroizing<String> {
        let mut pairs: Vec<(&Node, &Node)> = self
            .root
            .iter()
            .filter(|(k, _)| k.as_str() != Some(VERSION_KEY))
            .map(|(k, v)| (k, v))
            .collect();
        let version = (Node::str(VERSION_KEY), Node::str(SCHEMA_VERSION));
        pairs.push((&version.0, &version.1));
        let mut out = Zeroizing::new(String::new());
        emit_map(&mut out, pairs, 0, false);
        out
    }

    /// Writes the cache atomically, 0600. The caller holds the file's lock.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = self.to_yaml();
        fsutil::atomic_write(path, text.as_bytes())
    }
}

// ---------------------------------------------------------------------------
// PyYAML's implicit resolvers (yaml/resolver.py, YAML 1.1)
// ---------------------------------------------------------------------------

/// True when PyYAML reads `s`, written as a plain scalar, as a string.
fn plain_is_str(s: &str) -> bool {
    !(is_null(s)
        || is_bool(s)
        || is_int(s)
        || is_float(s)
        || is_timestamp(s)
        || matches!(s, "<<" | "=" | "!" | "&" | "*"))
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

fn is_bool(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

fn all(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(ok)
}

fn digit_or_underscore(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

/// `[0-9][0-9_]*` (or `[1-9][0-9_]*` with `nonzero`).
fn is_digits(s: &str, nonzero: bool) -> bool {
    match s.as_bytes().first() {
        Some(b'0') if nonzero => false,
        Some(b) if b.is_ascii_digit() => all(&s[1..], digit_or_underscore),
        _ => false,
    }
}

/// `(?::[0-5]?[0-9])+` given the parts after the first `:`.
fn is_sexagesimal_tail<'a>(mut parts: impl Iterator<Item = &'a str>) -> bool {
    let mut any = false;
    for part in parts.by_ref() {
        let b = part.as_bytes();
        let ok = match b {
            [d] => d.is_ascii_digit(),
            [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        any = true;
    }
    any
}

fn is_int(s: &str) -> bool {
    let b = strip_sign(s);
    if let Some(rest) = b.strip_prefix("0b") {
        return !rest.is_empty() && all(rest, |c| matches!(c, b'0' | b'1' | b'_'));
    }
    if let Some(rest) = b.strip_prefix("0x") {
        return !rest.is_empty() && all(rest, |c| c.is_ascii_hexdigit() || c == b'_');
    }
    if b.len() > 1 && b.starts_with('0') && all(&b[1..], |c| matches!(c, b'0'..=b'7' | b'_')) {
        return true;
    }
    if b == "0" || is_digits(b, true) {
        return true;
    }
    let mut parts = b.split(':');
    let first = parts.next().unwrap_or("");
    b.contains(':') && is_digits(first, true) && is_sexagesimal_tail(parts)
}

/// `(?:[eE][-+][0-9]+)?` followed by the end.
fn is_exponent_or_end(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let Some(rest) = s.strip_prefix(['e', 'E']) else {
        return false;
    };
    let Some(digits) = rest.strip_prefix(['-', '+']) else {
        return false;
    };
    !digits.is_empty() && all(digits, |c| c.is_ascii_digit())
}

fn is_float(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?  (no sign)
    if let Some(rest) = s.strip_prefix('.')
        && rest.as_bytes().first().is_some_and(u8::is_ascii_digit)
    {
        let end = rest
            .bytes()
            .position(|c| !digit_or_underscore(c))
            .unwrap_or(rest.len());
        if is_exponent_or_end(&rest[end..]) {
            return true;
        }
    }
    let b = strip_sign(s);
    if matches!(b, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let Some(dot) = b.find('.') else {
        return false;
    };
    let (whole, after) = (&b[..dot], &b[dot + 1..]);
    // [0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?
    if is_digits(whole, false) {
        let end = after
            .bytes()
            .position(|c| !digit_or_underscore(c))
            .unwrap_or(after.len());
        if is_exponent_or_end(&after[end..]) {
            return true;
        }
    }
    // [0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    let mut parts = whole.split(':');
    let first = parts.next().unwrap_or("");
    whole.contains(':')
        && is_digits(first, false)
        && is_sexagesimal_tail(parts)
        && all(after, digit_or_underscore)
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize, min: usize, max: usize| -> bool {
        let start = *i;
        while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start >= min
    };
    let lit = |i: &mut usize, c: u8| -> bool {
        if b.get(*i) == Some(&c) {
            *i += 1;
            true
        } else {
            false
        }
    };
    // [0-9]{4}-[0-9]{2}-[0-9]{2}
    if b.len() == 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
    {
        return true;
    }
    // [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}
    // (?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?
    if !(digits(&mut i, 4, 4)
        && lit(&mut i, b'-')
        && digits(&mut i, 1, 2)
        && lit(&mut i, b'-')
        && digits(&mut i, 1, 2))
    {
        return false;
    }
    if !(lit(&mut i, b'T') || lit(&mut i, b't')) {
        let start = i;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if !(digits(&mut i, 1, 2)
        && lit(&mut i, b':')
        && digits(&mut i, 2, 2)
        && lit(&mut i, b':')
        && digits(&mut i, 2, 2))
    {
        return false;
    }
    if lit(&mut i, b'.') {
        digits(&mut i, 0, usize::MAX);
    }
    if i == b.len() {
        return true;
    }
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    if lit(&mut i, b'Z') {
        return i == b.len();
    }
    if !(lit(&mut i, b'-') || lit(&mut i, b'+')) || !digits(&mut i, 1, 2) {
        return false;
    }
    if lit(&mut i, b':') && !digits(&mut i, 2, 2) {
        return false;
    }
    i == b.len()
}

// ---------------------------------------------------------------------------
// The emitter (PyYAML's yaml.dump defaults: block style, indent 2, sorted keys,
// no unicode)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// PyYAML's `analyze_scalar` + `choose_scalar_style` for a string. Strings
/// with line breaks are written double-quoted (PyYAML would fold them into a
/// multi-line single-quoted scalar; both read back the same).
fn style_of(s: &str, simple_key: bool) -> Style {
    if s.is_empty() {
        return Style::Single;
    }
    let chars: Vec<char> = s.chars().collect();
    let space = |c: Option<&char>| matches!(c, None | Some(' ' | '\t' | '\r' | '\n'));
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let mut special = false;
    let mut breaks = false;
    for (i, &ch) in chars.iter().enumerate() {
        let followed_by_space = space(chars.get(i + 1));
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                block_indicators = true;
            }
            if (ch == '?' || ch == ':' || ch == '-') && followed_by_space {
                block_indicators = true;
            }
        } else {
            if ch == ':' && followed_by_space {
                block_indicators = true;
            }
            if ch == '#' && space(chars.get(i - 1)) {
                block_indicators = true;
            }
        }
        if ch == '\n' {
            breaks = true;
        } else if !(' '..='~').contains(&ch) {
            special = true;
        }
    }
    if special || breaks {
        return Style::Double;
    }
    let edge_space = s.starts_with(' ') || s.ends_with(' ');
    let _ = simple_key; // single-line: a simple key may be plain or quoted alike
    if !edge_space && !block_indicators && plain_is_str(s) {
        Style::Plain
    } else {
        Style::Single
    }
}

fn write_string(out: &mut String, s: &str, simple_key: bool) {
    match style_of(s, simple_key) {
        Style::Plain => out.push_str(s),
        Style::Single => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Style::Double => write_double_quoted(out, s),
    }
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            ' '..='~' => out.push(ch),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
}

/// Tag text, `%`-escaped where a tag cannot hold the character as it is (the
/// reader decoded such escapes), so the tag reads back the same.
fn write_tag_text(out: &mut String, tag: &str) {
    for ch in tag.chars() {
        let code = ch as u32;
        match ch {
            'A'..='Z' | 'a'..='z' | '0'..='9' => out.push(ch),
            '-' | '_' | '.' | '~' | '/' | ':' | ';' | '=' | '+' | '@' | '$' | '&' | '*' | '?' => {
                out.push(ch)
            }
            _ if ch.is_ascii() => out.push_str(&format!("%{code:02X}")),
            // saphyr-parser decodes `%HH%LL` (a two-byte UTF-8 sequence) to the
            // character 0xHHLL: write such a character as the escape it came from.
            _ if (0xC2..=0xDF).contains(&(code >> 8)) && code & 0xC0 == 0x80 => {
                out.push_str(&format!("%{:02X}%{:02X}", code >> 8, code & 0xFF))
            }
            // Not produced by the reader; escaped as UTF-8, as YAML says.
            _ => {
                let mut buf = [0u8; 4];
                for byte in ch.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
}

/// A scalar node as it appears in the file (None for collections).
fn scalar_text(node: &Node, simple_key: bool) -> Option<String> {
    let mut out = String::new();
    match node {
        Node::Str(s) => write_string(&mut out, s, simple_key),
        Node::Plain(s) if s.is_empty() => out.push_str("null"),
        Node::Plain(s) => out.push_str(s),
        Node::Tagged(tag, s) => {
            match tag.strip_prefix("tag:yaml.org,2002:") {
                Some(short) => {
                    out.push_str("!!");
                    write_tag_text(&mut out, short);
                }
                None => match tag.strip_prefix('!') {
                    Some(local) => {
                        out.push('!');
                        write_tag_text(&mut out, local);
                    }
                    None => {
                        out.push_str("!<");
                        write_tag_text(&mut out, tag);
                        out.push('>');
                    }
                },
            }
            out.push(' ');
            write_double_quoted(&mut out, s);
        }
        Node::Seq(items) if items.is_empty() => out.push_str("[]"),
        Node::Map(pairs) if pairs.is_empty() => out.push_str("{}"),
        _ => return None,
    }
    Some(out)
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Sort key: strings by code point (as Python sorts them), other keys after.
fn sort_key(node: &Node) -> (u8, String) {
    match node {
        Node::Str(s) => (0, s.clone()),
        other => (1, scalar_text(other, true).unwrap_or_default()),
    }
}

/// A block mapping at column `n`; with `inline` the first line's indentation
/// is already written (after `- ` or `: `).
fn emit_map(out: &mut String, mut pairs: Vec<(&Node, &Node)>, n: usize, inline: bool) {
    if pairs.is_empty() {
        if !inline {
            indent(out, n);
        }
        out.push_str("{}\n");
        return;
    }
    pairs.sort_by_key(|(k, _)| sort_key(k));
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 || !inline {
            indent(out, n);
        }
        match scalar_text(key, true).filter(|k| k.len() < MAX_SIMPLE_KEY && !k.contains('\n')) {
            Some(k) => {
                out.push_str(&k);
                out.push(':');
                emit_value(out, value, n, true);
            }
            None => {
                // PyYAML's explicit form: `? key` then `: value`.
                out.push_str("? ");
                emit_node(out, key, n + 2);
                indent(out, n);
                out.push(':');
                emit_value(out, value, n, false);
            }
        }
    }
}

/// The value after `key:` (simple key) or `:` (explicit key) at column `n`.
fn emit_value(out: &mut String, value: &Node, n: usize, simple: bool) {
    if let Some(text) = scalar_text(value, false) {
        out.push(' ');
        out.push_str(&text);
        out.push('\n');
        return;
    }
    match (value, simple) {
        (Node::Seq(items), true) => {
            out.push('\n');
            emit_seq(out, items, n, false);
        }
        (Node::Map(pairs), true) => {
            out.push('\n');
            emit_map(
                out,
                pairs.iter().map(|(k, v)| (k, v)).collect(),
                n + 2,
                false,
            );
        }
        (node, _) => {
            out.push(' ');
            emit_node(out, node, n + 2);
        }
    }
}

/// Any node, its first line already indented, continuing at column `n`.
fn emit_node(out: &mut String, node: &Node, n: usize) {
    match node {
        Node::Seq(items) if !items.is_empty() => emit_seq(out, items, n, true),
        Node::Map(pairs) if !pairs.is_empty() => {
            emit_map(out, pairs.iter().map(|(k, v)| (k, v)).collect(), n, true)
        }
        other => {
            out.push_str(&scalar_text(other, false).unwrap_or_default());
            out.push('\n');
        }
    }
}

/// A block sequence at column `n` (`- item` lines).
fn emit_seq(out: &mut String, items: &[Node], n: usize, inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, n);
        }
        out.push_str("- ");
        emit_node(out, item, n + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal file of specs/dagshub.md.
    const SPEC_FILE: &str = "https://dagshub.com:
- access_token: app-token-123
  expiry: never
  token_type: app-token
- access_token: oauth-tok-456
  expiry: '2099-01-02T03:04:05.678901Z'
  token_type: bearer
https://my.dagshub.example:
- access_token: other-host-tok
  expiry: never
  token_type: app-token
version: '1'
";

    fn parse(text: &str) -> TokenCache {
        TokenCache::parse(text.as_bytes(), Path::new("tokens"), 1_700_000_000).unwrap()
    }

    #[test]
    fn the_spec_file_parses_and_is_written_back_byte_for_byte() {
        let cache = parse(SPEC_FILE);
        let tokens = cache.tokens("https://dagshub.com");
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].access_token.expose(), "app-token-123");
        assert_eq!(tokens[0].token_type, TokenType::App);
        assert_eq!(tokens[1].access_token.expose(), "oauth-tok-456");
        assert_eq!(tokens[1].expires_at(), Some(4_071_006_245));
        assert_eq!(
            tokens[1].expires_at_ns.unwrap() % 1_000_000_000,
            678_901_000
        );
        assert_eq!(cache.hosts().len(), 2);
        assert!(cache.skipped().is_empty());
        assert_eq!(cache.to_yaml().as_str(), SPEC_FILE);
    }

    #[test]
    fn expiry_accepts_any_rfc3339() {
        let base = parse_expiry("2099-01-02T03:04:05Z").unwrap();
        assert_eq!(
            parse_expiry("2099-01-02T03:04:05.123456789Z").unwrap(),
            base + 123_456_789
        );
        assert_eq!(parse_expiry("2099-01-02T05:04:05+02:00").unwrap(), base);
        assert_eq!(parse_expiry("2099-01-02 03:04:05z").unwrap(), base);
        assert_eq!(
            parse_expiry("2099-01-02t03:04:05.5-00:30").unwrap(),
            base + 1_800_500_000_000
        );
        assert!(parse_expiry("2099-01-02").is_none());
        assert!(parse_expiry("never").is_none());
        assert_eq!(
            format_expiry(base + 678_901_999).unwrap(),
            "2099-01-02T03:04:05.678901Z"
        );
    }

    #[test]
    fn resolvers_match_pyyaml() {
        for s in [
            "",
            "~",
            "null",
            "NULL",
            "yes",
            "No",
            "on",
            "OFF",
            "true",
            "0",
            "-0",
            "+12",
            "012",
            "0b101",
            "0x1F",
            "1_000",
            "190:20:30",
            "1.5",
            "1.",
            ".5",
            "1:30.5",
            ".inf",
            "-.Inf",
            ".nan",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
            "2001-1-1 1:00:00",
            "2099-01-02T03:04:05.678901Z",
            "<<",
            "=",
        ] {
            assert!(!plain_is_str(s), "{s:?} is not a string to PyYAML");
        }
        for s in [
            "abc",
            "1e5",
            "0o",
            "0o17",
            "-.5e+3",
            "1e+5.",
            "08x",
            "0b",
            "0x",
            "1.5e5",
            ".5.5",
            "y",
            "n",
            "NaN",
            "1:60",
            "2001-12-1",
            "2001-12-14T",
            "2001-12-14 21:59",
            "2001-12-14 21:59:43 X",
            "app-token",
            "-",
            "--",
            "12a",
            "+",
            ".",
            "_1",
        ] {
            assert!(plain_is_str(s), "{s:?} is a string to PyYAML");
        }
    }

    #[test]
    fn quoting_follows_pyyaml() {
        let q = |s: &str| {
            let mut out = String::new();
            write_string(&mut out, s, false);
            out
        };
        assert_eq!(q("abc-123"), "abc-123");
        assert_eq!(q("12345"), "'12345'");
        assert_eq!(q("true"), "'true'");
        assert_eq!(q("null"), "'null'");
        assert_eq!(q(""), "''");
        assert_eq!(q("it's"), "it's");
        assert_eq!(q("'x"), "'''x'");
        assert_eq!(q("a: b"), "'a: b'");
        assert_eq!(q("a #b"), "'a #b'");
        assert_eq!(q("-a"), "-a");
        assert_eq!(q("- a"), "'- a'");
        assert_eq!(q(":a"), ":a");
        assert_eq!(q("%a"), "'%a'");
        assert_eq!(q(" a"), "' a'");
        assert_eq!(q("a\tb"), "\"a\\tb\"");
        assert_eq!(q("é"), "\"\\xE9\"");
        assert_eq!(q("a\nb"), "\"a\\nb\"");
        assert_eq!(
            q("2099-01-02T03:04:05.678901Z"),
            "'2099-01-02T03:04:05.678901Z'"
        );
    }

    #[test]
    fn broken_and_unknown_entries_are_kept_and_reported() {
        let text = "https://dagshub.com:
- access_token: x1
  expiry: never
  token_type: magic
- just a string
- access_token: x2
  expiry: not a time
  token_type: bearer
- access_token: x3
  expiry: 2000-01-01T00:00:00Z
  token_type: bearer
- access_token: x4
  token_type: app-token
  note: kept
";
        let cache = parse(text);
        assert_eq!(cache.skipped().len(), 3, "{:?}", cache.skipped());
        assert_eq!(cache.dropped_expired(), 1);
        for s in cache.skipped() {
            assert!(!s.contains("x1") && !s.contains("x2"), "{s}");
        }
        let tokens = cache.tokens("https://dagshub.com");
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].access_token.expose(), "x4");
        let out = cache.to_yaml();
        assert!(out.contains("token_type: magic"));
        assert!(out.contains("- just a string"));
        assert!(out.contains("expiry: not a time"));
        assert!(!out.contains("x3"));
        assert!(out.contains("  note: kept\n"));
    }

    #[test]
    fn json_and_aliases_are_read() {
        let json = r#"{"https://dagshub.com": [{"access_token": "j1", "expiry": "never", "token_type": "app-token"}], "version": "1"}"#;
        let cache = parse(json);
        assert_eq!(
            cache.tokens("https://dagshub.com")[0].access_token.expose(),
            "j1"
        );
        let aliased =
            "a: &e\n  access_token: t\n  expiry: never\n  token_type: app-token\nh:\n- *e\n";
        assert_eq!(parse(aliased).tokens("h").len(), 1);
    }

    #[test]
    fn bad_files_are_format_errors_without_content() {
        for text in ["- a\n- b\n", "a: [b\n", "a: 1\n---\nb: 2\n", "version: 2\n"] {
            let err = TokenCache::parse(text.as_bytes(), Path::new("tokens"), 0)
                .err()
                .unwrap_or_else(|| panic!("{text:?} should fail"));
            assert_eq!(err.kind(), crate::error::ErrorKind::Format, "{text:?}");
        }
        let err = TokenCache::parse(b"h: [secret-tok\n", Path::new("t"), 0)
            .err()
            .unwrap();
        assert!(!err.message().contains("secret-tok"), "{}", err.message());
        // Integer version 1 is read, and written back as the string '1'.
        let cache = parse("version: 1\n");
        assert_eq!(cache.to_yaml().as_str(), "version: '1'\n");
        let empty = parse("");
        assert_eq!(empty.skipped().len(), 1);
    }

    #[test]
    fn push_remove_and_other_hosts() {
        let mut cache = parse(SPEC_FILE);
        cache
            .push(
                "https://dagshub.com",
                &CachedToken {
                    access_token: Secret::new("0123").unwrap(),
                    token_type: TokenType::Bearer,
                    expires_at_ns: parse_expiry("2099-05-06T07:08:09.123456789Z"),
                },
            )
            .unwrap();
        assert!(cache.contains("https://dagshub.com", "0123"));
        let out = cache.to_yaml();
        assert!(
            out.contains(
                "- access_token: '0123'\n  expiry: '2099-05-06T07:08:09.123456Z'\n  token_type: bearer\n"
            ),
            "{}",
            out.as_str()
        );
        assert_eq!(
            cache.remove_token("https://dagshub.com", "app-token-123"),
            1
        );
        assert!(cache.remove_host("https://dagshub.com"));
        let out = cache.to_yaml();
        assert_eq!(
            out.as_str(),
            "https://my.dagshub.example:\n- access_token: other-host-tok\n  expiry: never\n  token_type: app-token\nversion: '1'\n"
        );
        let mut nothing = TokenCache::empty();
        assert_eq!(nothing.to_yaml().as_str(), "version: '1'\n");
        nothing
            .push("h", &CachedToken::app(Secret::new("yes").unwrap()))
            .unwrap();
        assert_eq!(
            nothing.to_yaml().as_str(),
            "h:\n- access_token: 'yes'\n  expiry: never\n  token_type: app-token\nversion: '1'\n"
        );
    }
}
