//! One token entry of a host's list: its type, its expiry, and whether
//! hubauth can use it.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::tree::Node;
use crate::secret::Secret;

/// `token_type` of long-lived tokens made in the user's settings.
pub(super) const APP_TOKEN: &str = "app-token";
/// `token_type` of tokens from the OAuth flow.
pub(super) const BEARER: &str = "bearer";
/// `expiry` of tokens that do not expire.
pub(super) const NEVER: &str = "never";
/// The latest expiry `format_expiry` (and the real client's `strftime`)
/// can write.
const LATEST_EXPIRY: &str = "9999-12-31T23:59:59.999999Z";

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

    pub(super) fn to_node(&self) -> Node {
        // A bearer's expiry is always a time: the real client cannot read
        // `never` on a bearer (see `classify`), so one beyond the year 9999
        // is written as the last time it can read.
        let expiry = match (self.token_type, self.expires_at_ns) {
            (TokenType::App, _) => NEVER.to_string(),
            (TokenType::Bearer, ns) => ns
                .and_then(format_expiry)
                .unwrap_or_else(|| LATEST_EXPIRY.to_string()),
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

/// What one entry of a host's list is.
pub(super) enum Entry {
    Usable(CachedToken),
    Expired,
    Skipped(String),
}

pub(super) fn classify(node: &Node, now_ns: i128) -> Entry {
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
        // dagshub 0.7.3 parses a bearer's expiry with `dateutil.parser.parse`
        // (auth/token_auth.py:108-116): `never` raises, the entry is dropped
        // from its cache (auth/tokens.py:291-296) and deleted at its next
        // write (300-313). hubauth does not hand it out either (and keeps it
        // in the file, as every entry it cannot use).
        TokenType::Bearer => match node.get("expiry").and_then(Node::scalar_text) {
            Some(NEVER) => {
                return Entry::Skipped(
                    "it is a bearer token with expiry never, which the dagshub client \
                     cannot read (a bearer token's expiry is a time)"
                        .into(),
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // A bearer whose expiry cannot be written gets the latest one the
        // client can read, never `never` (which it cannot read on a bearer).
        let far = CachedToken {
            access_token: Secret::new("t").unwrap(),
            token_type: TokenType::Bearer,
            expires_at_ns: Some(i128::from(i64::MAX) * 1_000_000_000),
        };
        let Node::Map(fields) = far.to_node() else {
            panic!("a mapping")
        };
        assert_eq!(fields[1].1, Node::Str(LATEST_EXPIRY.into()));
        assert!(parse_expiry(LATEST_EXPIRY).is_some());
        assert!(parse_expiry("never").is_none());
        assert_eq!(
            format_expiry(base + 678_901_999).unwrap(),
            "2099-01-02T03:04:05.678901Z"
        );
    }
}
