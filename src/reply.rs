//! What a token reply may change: the tokens, their expiry, and who the user
//! is. Nothing else.
//!
//! Where the next request goes (endpoints, issuer, refresh URL, server) and
//! who asks (client id, client secret) come from the user's configuration,
//! or from the login that first stored the token; a later reply from a token
//! endpoint never changes them, or a hostile or broken server could send the
//! next refresh token, PAT or client secret anywhere it likes. Every store
//! that lays a reply over a stored record (oidc's TOML, Pkg's auth.toml,
//! DHCore's `.dhcore.ini`) asks [`may_change`]; there is no second list.
//!
//! [`TokenReply`] is a successful reply, typed: a leaf, so that both the flows
//! that receive one and the stores that lay one over a record can name it.

use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::secret::{Secret, scrub_json};

/// The reply fields a store takes from a token reply.
pub const REPLY_MAY_CHANGE: [&str; 13] = [
    // The tokens and what describes them.
    "access_token",
    "id_token",
    "refresh_token",
    "token_type",
    "issued_token_type",
    "scope",
    // Their expiry.
    "expires_in",
    "expires_at",
    "expires",
    "refresh_expires_in",
    // Who the user is.
    "user_name",
    "user_email",
    "username",
];

/// Whether a token reply may set `field` (compared as written, the way the
/// stores name their keys).
pub fn may_change(field: &str) -> bool {
    REPLY_MAY_CHANGE.contains(&field)
}

/// A successful token reply (RFC 6749 §5.1, RFC 8693 §2.2.1): the standard
/// fields typed, every other field kept in `extra` (DHCore's `aws_*` store
/// credentials, DagsHub's `expiry`, JuliaHub's `user_name`, …).
///
/// The optional typed fields are lenient: a value of the wrong JSON type (a
/// number as `refresh_token`, an object as `scope`, a non-numeric
/// `expires_in`, a NUL in a token) reads as None and is dropped, so it is
/// neither used nor written to a store. `expires_in` may be a number or a
/// numeric string (some servers send one). `access_token` is required.
///
/// Debug shows the names of the fields, never the tokens nor `extra`'s
/// values; dropping a reply zeroes `extra`'s strings (the tokens are
/// [`Secret`]s and zero themselves).
#[derive(Deserialize)]
pub struct TokenReply {
    pub access_token: Secret,
    #[serde(default, deserialize_with = "lenient_string")]
    pub token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_number")]
    pub expires_in: Option<i64>,
    #[serde(default, deserialize_with = "lenient_secret")]
    pub refresh_token: Option<Secret>,
    #[serde(default, deserialize_with = "lenient_secret")]
    pub id_token: Option<Secret>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub issued_token_type: Option<String>,
    /// Every other field, as the server sent it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn lenient_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        mut other => {
            scrub_json(&mut other);
            None
        }
    })
}

fn lenient_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Secret>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Secret::from_string(s).ok(),
        mut other => {
            scrub_json(&mut other);
            None
        }
    })
}

/// A number, or a numeric string, as [`crate::jwt::number`] reads one.
fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

impl TokenReply {
    /// A reply holding only `access_token` (a bare token the user handed over).
    pub fn new(access_token: Secret) -> Self {
        TokenReply {
            access_token,
            token_type: None,
            expires_in: None,
            refresh_token: None,
            id_token: None,
            scope: None,
            issued_token_type: None,
            extra: Map::new(),
        }
    }

    /// Reads a reply from a JSON object. The error never quotes the reply
    /// (serde's messages can quote a value): `what` and a fixed sentence.
    pub fn from_json(value: Value, what: &str) -> Result<Self> {
        if !value.get("access_token").is_some_and(Value::is_string) {
            return Err(Error::server(format!(
                "{what}: the reply has no access_token"
            )));
        }
        TokenReply::deserialize(value)
            .map_err(|_| Error::server(format!("{what}: the reply is not a valid token reply")))
    }

    /// A string field: a typed one by its standard name (`access_token`,
    /// `refresh_token`, `id_token`, `token_type`, `scope`,
    /// `issued_token_type`), else a string in `extra` (e.g. `expiry`).
    pub fn text(&self, key: &str) -> Option<&str> {
        match key {
            "access_token" => Some(self.access_token.expose()),
            "refresh_token" => self.refresh_token.as_ref().map(Secret::expose),
            "id_token" => self.id_token.as_ref().map(Secret::expose),
            "token_type" => self.token_type.as_deref(),
            "scope" => self.scope.as_deref(),
            "issued_token_type" => self.issued_token_type.as_deref(),
            "expires_in" => None,
            _ => self.extra.get(key).and_then(Value::as_str),
        }
    }

    /// The whole reply as a JSON object: the typed fields that are set, in
    /// their canonical form (`expires_in` an integer), and `extra`. Only for
    /// the stores that keep a login reply whole: Pkg's `auth.toml` (as
    /// PkgAuthentication writes it) and DHCore's write-back of every reply
    /// field with the SDK's names (which [`may_change`] still
    /// filters). Everything else reads the typed fields. The copy is not
    /// zeroed on drop; keep it short-lived.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = self.extra.clone();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                map.insert(key.to_string(), value);
            }
        };
        let text = |s: Option<&str>| s.map(|s| Value::String(s.to_string()));
        put("access_token", text(Some(self.access_token.expose())));
        put("token_type", text(self.token_type.as_deref()));
        put("expires_in", self.expires_in.map(Value::from));
        put(
            "refresh_token",
            text(self.refresh_token.as_ref().map(Secret::expose)),
        );
        put("id_token", text(self.id_token.as_ref().map(Secret::expose)));
        put("scope", text(self.scope.as_deref()));
        put("issued_token_type", text(self.issued_token_type.as_deref()));
        map
    }
}

impl fmt::Debug for TokenReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenReply")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token)
            .field("id_token", &self.id_token)
            .field("scope", &self.scope)
            .field("issued_token_type", &self.issued_token_type)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Drop for TokenReply {
    fn drop(&mut self) {
        self.extra.values_mut().for_each(scrub_json);
    }
}

/// A token reply from JSON text, for unit tests.
#[cfg(test)]
pub(crate) fn token_reply(json: &str) -> Result<TokenReply> {
    let value = serde_json::from_str(json).map_err(|_| Error::format("not JSON"))?;
    TokenReply::from_json(value, "test")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_requests_go_is_never_a_reply_field() {
        for field in [
            "token_endpoint",
            "dhcore_endpoint",
            "issuer",
            "client_id",
            "client_secret",
            "refresh_url",
            "server",
            "oauth2_token_endpoint",
            "device_token_refresh_url",
        ] {
            assert!(!may_change(field), "{field}");
        }
        assert!(may_change("access_token") && may_change("expires_in"));
    }

    #[test]
    fn a_reply_keeps_its_extra_fields() {
        let reply = token_reply(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":"r",
                "id_token":"i","scope":"openid","issued_token_type":"urn:x",
                "aws_access_key_id":"k","expiry":"2030-01-01T00:00:00Z","n":null,
                "nested":{"x":[1,"y"]}}"#,
        )
        .unwrap();
        assert_eq!(reply.access_token.expose(), "a");
        assert_eq!(reply.expires_in, Some(60));
        assert_eq!(reply.refresh_token.as_ref().map(Secret::expose), Some("r"));
        assert_eq!(reply.text("id_token"), Some("i"));
        assert_eq!(reply.text("expiry"), Some("2030-01-01T00:00:00Z"));
        assert_eq!(reply.text("expires_in"), None);
        // Typed fields are not duplicated in extra.
        let extra: Vec<&str> = reply.extra.keys().map(String::as_str).collect();
        assert_eq!(extra, ["aws_access_key_id", "expiry", "n", "nested"]);
        // The whole reply comes back, field for field.
        let map = reply.to_map();
        let expected: Map<String, Value> = serde_json::from_str(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":"r",
                "id_token":"i","scope":"openid","issued_token_type":"urn:x",
                "aws_access_key_id":"k","expiry":"2030-01-01T00:00:00Z","n":null,
                "nested":{"x":[1,"y"]}}"#,
        )
        .unwrap();
        assert_eq!(map, expected);
    }

    #[test]
    fn expires_in_may_be_a_numeric_string() {
        for (text, expected) in [
            (r#""3600""#, Some(3600)),
            (r#"" 60 ""#, Some(60)),
            ("59.9", Some(59)),
            (r#""soon""#, None),
            ("true", None),
            ("null", None),
        ] {
            let reply =
                token_reply(&format!(r#"{{"access_token":"a","expires_in":{text}}}"#)).unwrap();
            assert_eq!(reply.expires_in, expected, "{text}");
            // A value of the wrong type is dropped, not kept in extra.
            assert!(reply.extra.is_empty(), "{text}");
        }
    }

    #[test]
    fn wrong_types_in_optional_fields_read_as_none() {
        let reply = token_reply(
            r#"{"access_token":"a","refresh_token":42,"id_token":{"x":1},"scope":["a"],
                "token_type":null,"issued_token_type":false}"#,
        )
        .unwrap();
        assert!(reply.refresh_token.is_none() && reply.id_token.is_none());
        assert!(reply.scope.is_none() && reply.token_type.is_none());
        assert!(reply.issued_token_type.is_none() && reply.extra.is_empty());
        let nul = token_reply(r#"{"access_token":"a","refresh_token":"r\u0000x"}"#).unwrap();
        assert!(nul.refresh_token.is_none());
    }

    #[test]
    fn a_reply_without_an_access_token_is_refused() {
        for json in [
            r#"{"token_type":"Bearer"}"#,
            r#"{"access_token":42}"#,
            r#"{"access_token":null}"#,
            "[]",
        ] {
            let e = token_reply(json).unwrap_err();
            assert!(e.message().contains("no access_token"), "{json}");
        }
        let e = token_reply(r#"{"access_token":"secret-\u0000-value"}"#).unwrap_err();
        assert_eq!(e.message(), "test: the reply is not a valid token reply");
    }

    #[test]
    fn debug_shows_no_secret() {
        let reply = token_reply(
            r#"{"access_token":"acc-secret","refresh_token":"ref-secret","id_token":"id-secret",
                "aws_secret_access_key":"aws-secret","scope":"openid"}"#,
        )
        .unwrap();
        let shown = format!("{reply:?}");
        assert!(!shown.contains("-secret"), "{shown}");
        assert!(shown.contains("aws_secret_access_key") && shown.contains("openid"));
        let bare = TokenReply::new(Secret::new("bare-secret").unwrap());
        assert!(!format!("{bare:?}").contains("bare-secret"));
        assert_eq!(bare.to_map().len(), 1);
    }
}
