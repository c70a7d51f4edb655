//! Parsing a TOML token file without ever quoting it: the toml crate's
//! messages show the offending line, which may hold a token, so errors name
//! only the file and the line number.

use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

const FIX_HINT: &str = "fix or delete the file, or authenticate with `force=true`";

/// The top-level table of a TOML token file; `path` is named in errors.
pub fn parse_table(bytes: &[u8], path: &Path) -> Result<toml::Table> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::format(format!("{} is not UTF-8 text; {FIX_HINT}", path.display())))?;
    text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        Error::format(format!(
            "{} is not valid TOML{at}; {FIX_HINT}",
            path.display()
        ))
    })
}

/// The TOML text of `table`, in a buffer zeroed when dropped. The toml
/// crate's serializer leaves copies of every string it writes in buffers it
/// frees without zeroing; so the strings (tokens) are swapped for
/// placeholders before it runs, and put into the zeroing buffer afterwards.
/// A string that would need escaping is left to the serializer (no token
/// does: they are URL-safe text).
pub fn to_text(table: &toml::Table) -> Zeroizing<String> {
    if mentions_placeholder(table) {
        // Cannot tell ours from the file's: serialize as it is.
        return Zeroizing::new(toml::to_string(table).unwrap_or_default());
    }
    let mut originals: Vec<&str> = Vec::new();
    let stand_in = stand_ins(table, &mut originals);
    let text = Zeroizing::new(toml::to_string(&stand_in).unwrap_or_default());
    let mut out = Zeroizing::new(String::with_capacity(
        text.len() + originals.iter().map(|s| s.len()).sum::<usize>(),
    ));
    let mut rest = text.as_str();
    while let Some(start) = rest.find(PLACEHOLDER) {
        out.push_str(&rest[..start]);
        let after = &rest[start + PLACEHOLDER.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|i| originals.get(i))
        {
            Some(original) if after[digits..].starts_with(PLACEHOLDER_END) => {
                out.push_str(original);
                rest = &after[digits + PLACEHOLDER_END.len()..];
            }
            _ => {
                out.push_str(PLACEHOLDER);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

const PLACEHOLDER: &str = "@@hubauth-placeholder-";
const PLACEHOLDER_END: &str = "@@";

fn mentions_placeholder(table: &toml::Table) -> bool {
    fn value(v: &toml::Value) -> bool {
        match v {
            toml::Value::String(s) => s.contains(PLACEHOLDER),
            toml::Value::Array(items) => items.iter().any(value),
            toml::Value::Table(t) => mentions_placeholder(t),
            _ => false,
        }
    }
    table
        .iter()
        .any(|(k, v)| k.contains(PLACEHOLDER) || value(v))
}

/// Whether the serializer writes `s` as it is between quotes of either kind.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'\''))
}

fn stand_ins<'a>(table: &'a toml::Table, originals: &mut Vec<&'a str>) -> toml::Table {
    table
        .iter()
        .map(|(k, v)| (k.clone(), stand_in(v, originals)))
        .collect()
}

fn stand_in<'a>(value: &'a toml::Value, originals: &mut Vec<&'a str>) -> toml::Value {
    match value {
        toml::Value::String(s) if plain(s) => {
            originals.push(s);
            toml::Value::String(format!(
                "{PLACEHOLDER}{}{PLACEHOLDER_END}",
                originals.len() - 1
            ))
        }
        toml::Value::Array(items) => {
            toml::Value::Array(items.iter().map(|v| stand_in(v, originals)).collect())
        }
        toml::Value::Table(t) => toml::Value::Table(stand_ins(t, originals)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line_not_the_content() {
        let err = parse_table(
            b"a = 1\nid_token = \"secret-value\nb",
            Path::new("auth.toml"),
        )
        .unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Format);
        assert!(
            err.message().contains("auth.toml is not valid TOML (line "),
            "{err}"
        );
        assert!(!err.message().contains("secret-value"));
        let err = parse_table(b"\xff", Path::new("auth.toml")).unwrap_err();
        assert!(err.message().contains("not UTF-8"));
    }

    #[test]
    fn to_text_is_what_the_serializer_writes() {
        let text = "a = \"tok.en-1_x\"\nb = \"with \\\"quote\\\"\"\nn = 2\nf = 1.5\n\
                    c = [\"x\", \"@@hubauth-placeholder-0@@\"]\n[t]\nd = \"e\"\n";
        let table: toml::Table = text.parse().unwrap();
        let ours = to_text(&table);
        assert_eq!(ours.as_str(), toml::to_string(&table).unwrap());
        let back: toml::Table = ours.parse().unwrap();
        assert_eq!(back, table);
    }
}
