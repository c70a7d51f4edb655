//! Asking the issuer whether a token is good: token introspection (RFC 7662)
//! when it offers it, else the userinfo endpoint (OpenID Connect Core §5.3).
//! Also: who the user is, from those replies or from an id_token.

use std::time::Instant;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::flow::oauth::{Client, OAuthError};
use crate::net::{self, Body, Request};
use crate::secret::Secret;

/// The issuer's verdict on a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inspection {
    Active { username: Option<String> },
    Inactive,
}

impl Inspection {
    pub fn is_active(&self) -> bool {
        matches!(self, Inspection::Active { .. })
    }
}

/// Introspects `token` (RFC 7662), the client authenticating as at the token
/// endpoint. None when the endpoint refuses this client (many servers let
/// only confidential clients introspect): the caller may ask userinfo instead.
pub fn introspect(
    endpoint: &str,
    client: &Client,
    token: &Secret,
    token_type_hint: Option<&str>,
    deadline: Option<Instant>,
) -> Result<Option<Inspection>> {
    const WHAT: &str = "token introspection";
    let mut form = vec![("token".to_string(), token.expose().to_string())];
    if let Some(hint) = token_type_hint {
        form.push(("token_type_hint".into(), hint.into()));
    }
    client.add_to_form(&mut form);
    let response = net::send(
        Request::post(endpoint, Body::Form(form))
            .header("accept", "application/json")
            .deadline(deadline),
    )?;
    if !response.is_success() {
        let refusal = OAuthError::from_reply(response.status, &response.body);
        if matches!(response.status, 401 | 403)
            || refusal
                .as_ref()
                .is_some_and(|r| r.error == "invalid_client")
        {
            return Ok(None);
        }
        return Err(match refusal {
            Some(refusal) => refusal.into_error(WHAT),
            None => Error::server_reply(ErrorKind::Server, WHAT, response.status, &response.body),
        });
    }
    let Value::Object(reply) = response.json(WHAT)? else {
        return Err(Error::server(format!(
            "{WHAT}: the reply is not a JSON object"
        )));
    };
    match reply.get("active") {
        Some(Value::Bool(true)) => Ok(Some(Inspection::Active {
            username: username_from_claims(&reply),
        })),
        Some(Value::Bool(false)) => Ok(Some(Inspection::Inactive)),
        _ => Err(Error::server(format!(
            "{WHAT}: the reply has no boolean \"active\""
        ))),
    }
}

/// Presents `token` at the userinfo endpoint: 200 means good, 401 means not.
/// A 403 `insufficient_scope` means the token is good but lacks `openid`.
pub fn userinfo(endpoint: &str, token: &Secret, deadline: Option<Instant>) -> Result<Inspection> {
    const WHAT: &str = "userinfo";
    let response = net::send(
        Request::get(endpoint)
            .bearer(token.expose())
            .header("accept", "application/json")
            .deadline(deadline),
    )?;
    match response.status {
        200..=299 => {
            // A signed (application/jwt) reply is fine too; it just names no one we can read.
            let username = match serde_json::from_slice::<Value>(&response.body) {
                Ok(Value::Object(claims)) => username_from_claims(&claims),
                _ => None,
            };
            Ok(Inspection::Active { username })
        }
        401 => Ok(Inspection::Inactive),
        403 => {
            let lacks_scope = OAuthError::from_reply(403, &response.body)
                .is_some_and(|r| r.error == "insufficient_scope");
            Ok(if lacks_scope {
                Inspection::Active { username: None }
            } else {
                Inspection::Inactive
            })
        }
        status => Err(Error::server_reply(
            ErrorKind::Server,
            WHAT,
            status,
            &response.body,
        )),
    }
}

/// The user named by a set of claims: `preferred_username`, else RFC 7662's
/// `username`, else `sub`.
pub fn username_from_claims(claims: &Map<String, Value>) -> Option<String> {
    ["preferred_username", "username", "sub"]
        .iter()
        .find_map(|key| claims.get(*key).and_then(Value::as_str))
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// The payload of a JWT (e.g. an id_token), unverified. Use only for tokens
/// that came straight from the issuer's token endpoint over a secure channel.
pub fn jwt_claims(jwt: &str) -> Option<Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_from_an_id_token() {
        // {"sub":"u-1","preferred_username":"alice"}
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"u-1","preferred_username":"alice"}"#);
        let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        let claims = jwt_claims(&jwt).unwrap();
        assert_eq!(username_from_claims(&claims).as_deref(), Some("alice"));
        let only_sub: Map<String, Value> = serde_json::from_str(r#"{"sub":"u-1"}"#).unwrap();
        assert_eq!(username_from_claims(&only_sub).as_deref(), Some("u-1"));
        assert!(jwt_claims("not-a-jwt").is_none());
    }
}
