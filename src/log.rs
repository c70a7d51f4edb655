//! Warnings for the user, and the optional transcript used to prove that no
//! secret ever reaches a message.
//!
//! Warnings go to stderr, prefixed `hubauth:`, unless `HUBAUTH_LOG=off`.
//! When `HUBAUTH_TRANSCRIPT` names a file, every warning and every error
//! message hubauth creates is also appended to it (the test suite scans it for
//! token values). Callers never pass token values here.
//!
//! Every string that came from a server (a URL, a user code, a message, a
//! user name) goes through [`escape`] before it reaches a terminal or a log,
//! so a server cannot move the cursor, rewrite a line, set the window title
//! or fake a second message.

use std::io::Write;

use once_cell::sync::Lazy;

static ENABLED: Lazy<bool> =
    Lazy::new(|| !matches!(std::env::var("HUBAUTH_LOG").as_deref(), Ok("off" | "0")));

static TRANSCRIPT: Lazy<Option<std::path::PathBuf>> =
    Lazy::new(|| std::env::var_os("HUBAUTH_TRANSCRIPT").map(Into::into));

/// `text` with every control character (C0, DEL, C1, and the Unicode
/// bidirectional and line/paragraph separators) written as a visible
/// `\u{..}` escape, so it prints as one inert line. Printable text, including
/// non-ASCII letters, is kept as it is.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A warning on stderr; `message` is escaped as a whole, so a server string
/// a caller put in it cannot reach the terminal raw.
pub fn warn(message: &str) {
    transcript("warning", message);
    if *ENABLED {
        eprintln!("hubauth: warning: {}", escape(message));
    }
}

/// Information a person needs now (e.g. a device code), on stderr unless
/// `HUBAUTH_LOG=off`.
pub fn notice(message: &str) {
    transcript("notice", message);
    if *ENABLED {
        eprintln!("hubauth: {}", escape(message));
    }
}

/// Appends one line to the transcript, if one is configured.
pub(crate) fn transcript(kind: &str, message: &str) {
    let Some(path) = TRANSCRIPT.as_ref() else {
        return;
    };
    let line = format!("{kind}: {}\n", escape(message));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write call per line: O_APPEND keeps lines of many processes whole.
        let _ = file.write_all(line.as_bytes());
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
}
