//! The emitter: PyYAML's `yaml.dump` defaults (block style, indent 2,
//! sorted keys, no unicode), so the real client reads back the same strings
//! and a file hubauth writes is byte for byte what PyYAML would write.

use super::resolve::plain_is_str;
use super::tree::Node;

/// PyYAML writes longer keys in the explicit `? key` form.
const MAX_SIMPLE_KEY: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// PyYAML's `analyze_scalar` + `choose_scalar_style` for a string. Strings
/// with line breaks are written double-quoted (PyYAML would fold them into a
/// multi-line single-quoted scalar; both read back the same).
fn style_of(s: &str) -> Style {
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
    if !edge_space && !block_indicators && plain_is_str(s) {
        Style::Plain
    } else {
        Style::Single
    }
}

fn write_string(out: &mut String, s: &str) {
    match style_of(s) {
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
fn scalar_text(node: &Node) -> Option<String> {
    let mut out = String::new();
    match node {
        Node::Str(s) => write_string(&mut out, s),
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

/// Key order: strings by code point (as Python sorts them; Rust compares
/// UTF-8 by code point too), other keys after them by their text. Compared
/// in place: copies of keys, which may be tokens, would not be zeroed.
fn key_order(a: &Node, b: &Node) -> std::cmp::Ordering {
    use std::cmp::Ordering::{Greater, Less};
    match (a, b) {
        (Node::Str(a), Node::Str(b)) => a.cmp(b),
        (Node::Str(_), _) => Less,
        (_, Node::Str(_)) => Greater,
        (a, b) => scalar_text(a)
            .unwrap_or_default()
            .cmp(&scalar_text(b).unwrap_or_default()),
    }
}

/// A block mapping at column `n`; with `inline` the first line's indentation
/// is already written (after `- ` or `: `).
pub(super) fn emit_map(out: &mut String, mut pairs: Vec<(&Node, &Node)>, n: usize, inline: bool) {
    if pairs.is_empty() {
        if !inline {
            indent(out, n);
        }
        out.push_str("{}\n");
        return;
    }
    pairs.sort_by(|(a, _), (b, _)| key_order(a, b));
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        if i > 0 || !inline {
            indent(out, n);
        }
        match scalar_text(key).filter(|k| k.len() < MAX_SIMPLE_KEY && !k.contains('\n')) {
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
    if let Some(text) = scalar_text(value) {
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
            out.push_str(&scalar_text(other).unwrap_or_default());
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

    #[test]
    fn quoting_follows_pyyaml() {
        let q = |s: &str| {
            let mut out = String::new();
            write_string(&mut out, s);
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
}
