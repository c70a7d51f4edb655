//! Warnings for the user, and the optional transcript used to prove that no
//! secret ever reaches a message.
//!
//! Warnings and notices go to the call's [sink](fn@route) when its options have
//! one (the host's logging), else to stderr, prefixed `hubauth:`, unless
//! `HUBAUTH_LOG=off` (which silences stderr only: a host that gave a sink
//! asked for the messages).
//! When `HUBAUTH_TRANSCRIPT` names a file, every warning and every error
//! message hubauth creates is also appended to it (the test suite scans it for
//! token values; see [`transcript`](mod@transcript) for how it is opened). Callers never
//! pass token values here.
//!
//! Every string that came from a server (a URL, a user code, a message, a
//! user name) goes through [`escape`] before it reaches a terminal or a log,
//! so a server cannot move the cursor, rewrite a line, set the window title
//! or fake a second message.

use once_cell::sync::Lazy;

pub(crate) static ENABLED: Lazy<bool> =
    Lazy::new(|| !matches!(std::env::var("HUBAUTH_LOG").as_deref(), Ok("off" | "0")));

/// Whether warnings and notices may go to stderr (`HUBAUTH_LOG` is not
/// `off`), for a host whose own sink prints them there.
pub fn stderr_enabled() -> bool {
    *ENABLED
}

mod route;
mod transcript;

pub use route::{Level, Scope, Sink, route};
pub(crate) use transcript::append as transcript;

/// The characters that must never reach a terminal or a log raw: every
/// control character (Unicode category Cc: C0, DEL, C1) and every format
/// character (category Cf, as of Unicode 15: soft hyphen, bidirectional
/// marks, embeddings, overrides and isolates, zero-width characters, the
/// word joiner and invisible operators, the byte order mark, interlinear
/// annotations, Egyptian hieroglyph and shorthand format controls, musical
/// symbol formatting, and the tag characters), plus the line and paragraph
/// separators (U+2028, U+2029). Each can move the cursor, reorder or hide
/// what follows, or make a second line out of one. The one predicate every
/// printed server string goes through.
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

/// `text` with every [unprintable](is_unprintable) character written as a
/// visible `\u{..}` escape, so it prints as one inert line. Printable text,
/// including non-ASCII letters, is kept as it is.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unprintable) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unprintable(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// At most `limit` characters of `text`, [escaped](escape): how a server's
/// string (a message, a description) is quoted in a hubauth message.
pub fn quote(text: &str, limit: usize) -> String {
    let cut: String = text.chars().take(limit).collect();
    escape(cut.trim()).into_owned()
}

/// JSON text (as serde_json writes it) with every [unprintable](is_unprintable)
/// character written as a `\uXXXX` escape (a surrogate pair above U+FFFF).
/// The JSON means the same, value for value; only its bytes are safe to show
/// on a terminal. serde_json already escapes C0 controls; this adds DEL, C1
/// and the format characters, which it writes raw. Such characters can only
/// be inside strings: JSON's own syntax is ASCII, and the only controls
/// outside strings are its whitespace (newline, return, tab), kept as they are.
pub fn escape_in_json(json: &str) -> std::borrow::Cow<'_, str> {
    let in_string = |c: char| is_unprintable(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(in_string) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 12);
    for c in json.chars() {
        if in_string(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A warning for the call's sink, or stderr; `message` is escaped as a
/// whole, so a server string a caller put in it cannot reach a terminal or a
/// log raw.
pub(crate) fn warn(message: &str) {
    transcript("warning", message);
    if let Some(sink) = route::current() {
        sink(Level::Warn, &escape(message));
    } else if *ENABLED {
        eprintln!("hubauth: warning: {}", escape(message));
    }
}

/// Information a person needs now (e.g. a device code), for the call's sink,
/// or stderr unless `HUBAUTH_LOG=off`.
pub(crate) fn notice(message: &str) {
    transcript("notice", message);
    if let Some(sink) = route::current() {
        sink(Level::Notice, &escape(message));
    } else if *ENABLED {
        eprintln!("hubauth: {}", escape(message));
    }
}

/// Ordinary news of a call (which account it used), for `hubauth -v`: only
/// to the call's sink, never to stderr by itself.
pub(crate) fn info(message: &str) {
    if let Some(sink) = route::current() {
        sink(Level::Info, &escape(message));
    }
}

/// What a call is doing, for debugging (`hubauth -v`): only to the call's
/// sink, which decides whether to show it; never to stderr by itself.
pub(crate) fn debug(message: &str) {
    if let Some(sink) = route::current() {
        sink(Level::Debug, &escape(message));
    }
}

/// The login prompt (the URL to open), which a person cannot log in without:
/// a notice for the call's sink, else on stderr even with `HUBAUTH_LOG=off`.
/// Not in the transcript (it holds no message of ours about a failure).
pub(crate) fn prompt(message: &str) {
    if let Some(sink) = route::current() {
        sink(Level::Notice, &escape(message));
    } else {
        eprintln!("hubauth: {}", escape(message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_control_characters_visible() {
        assert_eq!(escape("ABCD-1234"), "ABCD-1234");
        assert_eq!(escape("café ü"), "café ü");
        assert_eq!(escape("a\x1b]0;pwned\x07b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(escape("x\ny\rz"), "x\\u{a}y\\u{d}z");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("a\u{202e}b"), "a\\u{202e}b");
        assert!(!escape("\x1b[2J").contains('\x1b'));
    }

    #[test]
    fn every_format_character_is_unprintable() {
        // Unicode 15's category Cf, range by range, and the separators.
        let format_ranges = [
            (0xad, 0xad),
            (0x600, 0x605),
            (0x61c, 0x61c),
            (0x6dd, 0x6dd),
            (0x70f, 0x70f),
            (0x890, 0x891),
            (0x8e2, 0x8e2),
            (0x180e, 0x180e),
            (0x200b, 0x200f),
            (0x2028, 0x202e),
            (0x2060, 0x2064),
            (0x2066, 0x206f),
            (0xfeff, 0xfeff),
            (0xfff9, 0xfffb),
            (0x110bd, 0x110bd),
            (0x110cd, 0x110cd),
            (0x13430, 0x1343f),
            (0x1bca0, 0x1bca3),
            (0x1d173, 0x1d17a),
            (0xe0001, 0xe0001),
            (0xe0020, 0xe007f),
        ];
        for (first, last) in format_ranges {
            for code in first..=last {
                let c = char::from_u32(code).unwrap();
                assert!(is_unprintable(c), "U+{code:04X}");
                let shown = escape(&format!("a{c}b")).into_owned();
                assert_eq!(shown, format!("a\\u{{{code:x}}}b"));
            }
        }
        for code in (0..0x20).chain(0x7f..0xa0) {
            assert!(
                is_unprintable(char::from_u32(code).unwrap()),
                "U+{code:04X}"
            );
        }
        // Neighbours that print are kept.
        for c in [
            'a', ' ', '~', '\u{a0}', '\u{ac}', '\u{ae}', '\u{2065}', '\u{2070}', '€', '名', '🙂',
        ] {
            assert!(!is_unprintable(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn quote_bounds_and_escapes() {
        assert_eq!(quote("  abc  ", 10), "abc");
        assert_eq!(quote("abcdef", 3), "abc");
        assert_eq!(quote("a\u{2066}b", 10), "a\\u{2066}b");
    }
    #[test]
    fn json_keeps_its_values_and_loses_raw_format_characters() {
        let value = serde_json::json!({
            "user": "alice\u{1b}]52;c;x\u{7}\u{9b}\u{202e}\u{e0041}",
            "plain": "café",
        });
        let raw = serde_json::to_string(&value).unwrap();
        // serde_json alone writes C1 and format characters raw.
        assert!(raw.contains('\u{202e}') && raw.contains('\u{9b}'));
        let shown = escape_in_json(&raw);
        assert!(!shown.chars().any(is_unprintable), "{shown}");
        assert!(
            shown.contains("\\u202e") && shown.contains("\\udb40\\udc41"),
            "{shown}"
        );
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, value);
        // Pretty JSON keeps its line breaks, which are outside strings.
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let shown = escape_in_json(&pretty);
        assert_eq!(shown.lines().count(), pretty.lines().count(), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, value);
        assert!(matches!(
            escape_in_json("{\"a\":1}"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
