//! The one error type of the library and its stable status codes.
//!
//! Messages are written for the person who has to act on them and never contain
//! a token: every constructor takes text composed by hubauth itself, and server
//! replies are quoted only through [`Error::server_reply`], which truncates them.

use std::fmt;

/// What went wrong, as a stable number the C ABI returns (`hubauth_status`).
/// The numbers are part of the ABI: never renumber or reuse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorKind {
    NullArgument = 1,
    InvalidArgument = 2,
    NoCredentials = 3,
    Authentication = 4,
    Network = 5,
    Server = 6,
    Io = 7,
    Format = 8,
    Cancelled = 9,
    Timeout = 10,
    Insecure = 11,
    Panic = 98,
    Internal = 99,
}

impl ErrorKind {
    /// The status code of this kind.
    pub fn code(self) -> i32 {
        self as i32
    }

    fn label(self) -> &'static str {
        match self {
            ErrorKind::NullArgument => "null argument",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NoCredentials => "no credentials",
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::Network => "network error",
            ErrorKind::Server => "server error",
            ErrorKind::Io => "I/O error",
            ErrorKind::Format => "bad format",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Insecure => "insecure",
            ErrorKind::Panic => "internal panic",
            ErrorKind::Internal => "internal error",
        }
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
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest piece of a server reply quoted in a message.
const QUOTE_LIMIT: usize = 200;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message = message.into();
        crate::log::transcript("error", &message);
        Error {
            kind,
            message,
            unsent: false,
            refused: false,
        }
    }

    /// Marks an error that is the server's well-formed refusal.
    pub(crate) fn refused(mut self) -> Self {
        self.refused = true;
        self
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

    /// A server answered with something unexpected. Only a short, printable
    /// prefix of the body is quoted, and only when it cannot be a token
    /// (callers pass bodies of error replies, never of token replies).
    pub fn server_reply(kind: ErrorKind, what: &str, status: u16, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let quoted: String = text
            .chars()
            .filter(|c| !c.is_control())
            .take(QUOTE_LIMIT)
            .collect();
        let message = if quoted.trim().is_empty() {
            format!("{what}: the server answered HTTP {status}")
        } else {
            format!(
                "{what}: the server answered HTTP {status}: {}",
                quoted.trim()
            )
        };
        Self::new(kind, message)
    }
}
