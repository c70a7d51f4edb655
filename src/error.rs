//! The one error type of the library and its stable status codes.
//!
//! Messages are written for the person who has to act on them and never contain
//! a token: every constructor takes text composed by hubauth itself, and server
//! replies are quoted only through [`Error::server_reply`], which truncates
//! them and takes out the request's secrets. Every message is escaped
//! ([`crate::log::escape`]), so none carries a control or format character.
//!
//! # Options in messages
//!
//! A message that names an option writes it in backquotes, as its key from
//! [`crate::options::KEYS`] alone (`` `timeout_ms` ``) or with a value
//! (`` `force=true` ``), and writes nothing else that way except commands
//! with spaces (`` `hubauth login --force` ``). Each caller renders these
//! spans in its own terms: C shows them as they are, Python and Julia as
//! their keywords (`force=True`), the CLI as its flags (`--force`). A test
//! below reads every string literal of src/ and fails on a backquoted span
//! that looks like an option but names no key.

use std::fmt;

/// The one list of status codes. Each row: the variant, its stable number,
/// its C name, a short label for messages, and its documentation (which the
/// header carries). It makes [`ErrorKind`] and the constants of [`status`]
/// (re-exported by `crate::ffi`); tests/header.rs writes the header's
/// `#define HUBAUTH_*` lines from [`status::ALL`]. Add a code = add a row.
macro_rules! status_codes {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $code:literal, $c_name:ident, $label:literal; )+) => {
        /// What went wrong, as a stable number the C ABI returns (`hubauth_status`).
        /// The numbers are part of the ABI: never renumber or reuse one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum ErrorKind {
            $( $(#[doc = $doc])+ $variant = $code, )+
        }

        impl ErrorKind {
            /// Every kind, in the order of the list.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant),+];

            fn label(self) -> &'static str {
                match self { $(ErrorKind::$variant => $label,)+ }
            }

            /// The name of its status code in the C header (`HUBAUTH_ERR_…`).
            pub fn c_name(self) -> &'static str {
                match self { $(ErrorKind::$variant => stringify!($c_name),)+ }
            }

            /// Its documentation, as the header shows it.
            pub fn doc(self) -> &'static str {
                match self { $(ErrorKind::$variant => concat!($($doc, "\n"),+).trim_ascii(),)+ }
            }

            /// The kind with status code `code`, if any.
            pub fn from_code(code: i32) -> Option<ErrorKind> {
                match code { $($code => Some(ErrorKind::$variant),)+ _ => None }
            }
        }

        /// The status codes as constants: `HUBAUTH_OK` and one `HUBAUTH_ERR_…`
        /// per [`ErrorKind`].
        pub mod status {
            /// Success.
            pub const HUBAUTH_OK: i32 = 0;
            $( $(#[doc = $doc])+ pub const $c_name: i32 = $code; )+

            /// Every status code: (C name, number, documentation), `HUBAUTH_OK` first.
            pub const ALL: &[(&str, i32, &str)] = &[
                ("HUBAUTH_OK", HUBAUTH_OK, "Success."),
                $( (stringify!($c_name), $code, concat!($($doc, "\n"),+).trim_ascii()), )+
            ];
        }
    };
}

status_codes! {
    /// A required pointer argument was NULL.
    NullArgument = 1, HUBAUTH_ERR_NULL_ARGUMENT, "null argument";
    /// An argument was invalid: bad UTF-8, unknown option key, bad option
    /// value, or a non-NULL `*err` on entry.
    InvalidArgument = 2, HUBAUTH_ERR_INVALID_ARGUMENT, "invalid argument";
    /// No usable token and no way to get one without a user (e.g. interactive=false).
    NoCredentials = 3, HUBAUTH_ERR_NO_CREDENTIALS, "no credentials";
    /// The server refused: bad token, denied login, tries exhausted.
    Authentication = 4, HUBAUTH_ERR_AUTHENTICATION, "authentication failed";
    /// The server could not be reached or stopped answering.
    Network = 5, HUBAUTH_ERR_NETWORK, "network error";
    /// The server answered with an error or with something unusable.
    Server = 6, HUBAUTH_ERR_SERVER, "server error";
    /// A file could not be read or written.
    Io = 7, HUBAUTH_ERR_IO, "I/O error";
    /// A stored file is malformed; it was left unchanged.
    Format = 8, HUBAUTH_ERR_FORMAT, "bad format";
    /// The call was cancelled: the hook returned nonzero, or the options'
    /// hubauth_cancel was triggered; nothing was written.
    Cancelled = 9, HUBAUTH_ERR_CANCELLED, "cancelled";
    /// The login or a lock wait took longer than timeout_ms.
    Timeout = 10, HUBAUTH_ERR_TIMEOUT, "timed out";
    /// A URL was refused because it is not https (http is allowed for loopback only).
    Insecure = 11, HUBAUTH_ERR_INSECURE, "insecure";
    /// The caller's buffer is too small (`hubauth_token_copy`); the length
    /// needed was written to `*len`.
    BufferTooSmall = 12, HUBAUTH_ERR_BUFFER_TOO_SMALL, "buffer too small";
    /// A bug: hubauth panicked; the panic was caught at the boundary.
    Panic = 98, HUBAUTH_ERR_PANIC, "internal panic";
    /// A bug or an impossible state inside hubauth.
    Internal = 99, HUBAUTH_ERR_INTERNAL, "internal error";
}

impl ErrorKind {
    /// The status code of this kind.
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An error: a kind (status code) and a message that says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The request this error is about never left the machine (no connection
    /// could be made), so a single-use credential in it was not spent.
    unsent: bool,
    /// The server answered with a well-formed refusal (an OAuth error): it
    /// issued nothing, so a single-use credential in the request is unspent.
    refused: bool,
    /// The refusal is definite: asking again gets the same answer (the user
    /// denied, the client or its secret or scope is not accepted, the
    /// server is not a hub at all: an HTML page, no login endpoint, or it
    /// issued a token already expired by this machine's clock).
    definite: bool,
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest piece of a server reply quoted in a message.
const QUOTE_LIMIT: usize = 200;

impl Error {
    /// An error with `message`, escaped ([`crate::log::escape`]): whatever
    /// a message holds (a server's string, a path), every caller of every
    /// language may print it as it is.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match crate::log::escape(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        crate::log::transcript("error", &message);
        Error {
            kind,
            message,
            unsent: false,
            refused: false,
            definite: false,
        }
    }

    /// Marks an error that is the server's well-formed refusal.
    pub(crate) fn refused(mut self) -> Self {
        self.refused = true;
        self
    }

    /// Marks a refusal that asking again cannot change (a login is then not
    /// tried again: one Deny is one prompt, a wrong secret is sent once).
    pub(crate) fn definite(mut self) -> Self {
        self.definite = true;
        self
    }

    /// Whether this is a refusal that asking again cannot change.
    pub fn is_definite_refusal(&self) -> bool {
        self.definite
    }

    /// Marks a network error whose request never left the machine.
    pub(crate) fn unsent(mut self) -> Self {
        self.unsent = true;
        self
    }

    /// Whether the request that failed with this error never left the
    /// machine: an error raised before sending (bad arguments, a refused
    /// URL) or no connection at all.
    pub fn never_sent(&self) -> bool {
        match self.kind {
            // A request stopped by a cancel before it was sent is unsent too.
            ErrorKind::Network | ErrorKind::Cancelled => self.unsent,
            ErrorKind::NullArgument
            | ErrorKind::InvalidArgument
            | ErrorKind::NoCredentials
            | ErrorKind::Insecure
            | ErrorKind::BufferTooSmall
            | ErrorKind::Panic
            | ErrorKind::Internal => true,
            _ => false,
        }
    }

    /// Whether a single-use credential carried by the request that failed
    /// with this error may have been used up: the server may have acted on it
    /// without our seeing its answer (a 5xx page from a proxy, a timeout, a
    /// cut connection, an unreadable reply). A definite refusal (an OAuth
    /// error reply, or any Authentication error: the server answered that it
    /// does not take the credential) spends nothing, and neither does a
    /// request that never left.
    pub fn may_have_spent_credential(&self) -> bool {
        !self.never_sent() && !self.refused && self.kind != ErrorKind::Authentication
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with context put in front of its message.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error {
            unsent: self.unsent,
            refused: self.refused,
            definite: self.definite,
            ..Self::new(self.kind, format!("{context}: {}", self.message))
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn no_credentials(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NoCredentials, message)
    }
    pub fn authentication(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Authentication, message)
    }
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Network, message)
    }
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Server, message)
    }
    pub fn format(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Format, message)
    }
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    pub fn insecure(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Insecure, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// An I/O error on `path`, saying what was being done.
    pub fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        Self::new(
            ErrorKind::Io,
            format!("cannot {action} {}: {err}", path.display()),
        )
    }

    /// A server answered with something unexpected. A short prefix of the
    /// body is quoted, with every secret the request carried redacted (a
    /// proxy may echo the request; see [`crate::net::sent_secrets`]) and
    /// every unprintable character escaped ([`crate::log::escape`]).
    /// Callers pass error replies, never token replies.
    pub fn server_reply(kind: ErrorKind, what: &str, reply: &crate::net::Response) -> Self {
        // A web server's or a proxy's page: no hub answered, whatever `kind`.
        if let Some(page) = reply.not_a_hub(what, "server") {
            return page;
        }
        let status = reply.status;
        let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&reply.body).into_owned());
        let quoted = crate::log::quote(&reply.sent_secrets.redact(&text), QUOTE_LIMIT);
        let message = if quoted.is_empty() {
            format!("{what}: the server answered HTTP {status}")
        } else {
            format!("{what}: the server answered HTTP {status}: {quoted}")
        };
        Self::new(kind, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Response;

    /// The string literals of Rust source `src` (plain and raw; comments,
    /// char literals and lifetimes skipped), each with its line number.
    fn string_literals(src: &str) -> Vec<(String, usize)> {
        let bytes = src.as_bytes();
        let line_at = |i: usize| src[..i].matches('\n').count() + 1;
        let mut found = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let rest = &src[i..];
            let after_ident =
                i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
            if rest.starts_with("//") {
                i += rest.find('\n').unwrap_or(rest.len());
            } else if rest.starts_with("/*") {
                i += rest.find("*/").map_or(rest.len(), |end| end + 2);
            } else if !after_ident
                && (rest.starts_with("r\"") || rest.starts_with("r#") || rest.starts_with("br"))
                && rest.trim_start_matches('b')[1..]
                    .trim_start_matches('#')
                    .starts_with('"')
            {
                let body = rest.trim_start_matches('b');
                let hashes = body[1..].len() - body[1..].trim_start_matches('#').len();
                let open = (rest.len() - body.len()) + 1 + hashes + 1;
                let close = format!("\"{}", "#".repeat(hashes));
                let end = rest[open..].find(&close).map_or(rest.len(), |e| open + e);
                found.push((rest[open..end].to_string(), line_at(i)));
                i += end + close.len();
            } else if let Some(after) = rest.strip_prefix('\'') {
                // A char literal ('x', '\n', '\u{..}', '\'') or a lifetime ('a).
                let first = after.chars().next().map_or(0, char::len_utf8);
                i += if after.starts_with('\\') {
                    after
                        .get(2..)
                        .and_then(|a| a.find('\''))
                        .map_or(1, |end| end + 4)
                } else if after[first..].starts_with('\'') {
                    first + 2
                } else {
                    1
                };
            } else if rest.starts_with('"') {
                let mut j = 1;
                while j < rest.len() && bytes[i + j] != b'"' {
                    j += if bytes[i + j] == b'\\' { 2 } else { 1 };
                }
                found.push((rest[1..j].to_string(), line_at(i)));
                i += j + 1;
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        found
    }

    fn rust_files(dir: &std::path::Path, into: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") {
                into.push(path);
            }
        }
    }

    /// A backquoted span looks like an option when it is one lower-case
    /// word, alone or with `=value`.
    fn option_like(span: &str) -> Option<&str> {
        let key = span.split_once('=').map_or(span, |(key, _)| key);
        let word = key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        (word && !span.contains(char::is_whitespace)).then_some(key)
    }

    #[test]
    fn every_option_named_in_a_message_is_a_real_key() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut wrong = Vec::new();
        let mut options_named = 0;
        // The CLI's own texts (src/bin) speak in its flags; tests quote freely.
        let is_library =
            |p: &std::path::Path| !p.starts_with(src.join("bin")) && !p.ends_with("tests.rs");
        for file in files.iter().filter(|p| is_library(p)) {
            let text = std::fs::read_to_string(file).unwrap();
            let text = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            let literals = string_literals(text);
            for (literal, line) in literals {
                for span in literal.split('`').skip(1).step_by(2) {
                    let Some(key) = option_like(span) else {
                        continue;
                    };
                    if crate::options::KEYS.contains(&key) {
                        options_named += 1;
                    } else {
                        wrong.push(format!("{}:{line}: `{span}`", file.display()));
                    }
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "backquoted like an option, but no option has that key:\n{}",
            wrong.join("\n")
        );
        // The scan did find the convention at work (a broken reader finds nothing).
        assert!(
            options_named >= 30,
            "only {options_named} options named in src/"
        );
    }

    #[test]
    fn the_literal_reader_reads_rust() {
        let src = "let a = 'x'; let b: &'static str = \"say `force=true`\"; // `nope`\n\
                   /* `nope` */ let c = r#\"raw \"`timeout_ms`\"\"#; let d = '\\'';\n\
                   let e = \"esc \\\" `server`\";";
        let found: Vec<String> = string_literals(src).into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            found,
            [
                "say `force=true`",
                "raw \"`timeout_ms`\"",
                "esc \\\" `server`"
            ]
        );
        assert_eq!(option_like("force=true"), Some("force"));
        assert_eq!(option_like("hubauth login --force"), None);
        assert_eq!(option_like("{key}"), None);
        assert_eq!(option_like("HOME"), None);
    }

    #[test]
    fn messages_carry_no_unprintable_character() {
        let e = Error::server(format!("issuer {} is not {}", "a\u{1b}[2J", "b\u{2067}c"));
        assert_eq!(e.message(), "issuer a\\u{1b}[2J is not b\\u{2067}c");
        let e = e.context("discovery\u{85}");
        assert_eq!(
            e.message(),
            "discovery\\u{85}: issuer a\\u{1b}[2J is not b\\u{2067}c"
        );
    }

    #[test]
    fn a_quoted_reply_is_cut_and_escaped_once() {
        let body = format!("{}\u{202e}{}", "a".repeat(10), "b".repeat(500));
        let e = Error::server_reply(
            ErrorKind::Server,
            "x",
            &Response::from_parts(400, body.as_bytes()),
        );
        let quoted = e
            .message()
            .strip_prefix("x: the server answered HTTP 400: ")
            .unwrap();
        assert_eq!(
            quoted,
            format!("{}\\u{{202e}}{}", "a".repeat(10), "b".repeat(189))
        );
        let e = Error::server_reply(ErrorKind::Server, "x", &Response::from_parts(502, b" \n "));
        assert_eq!(e.message(), "x: the server answered HTTP 502");
    }
}
