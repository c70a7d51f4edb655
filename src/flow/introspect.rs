//! Asking the issuer whether a token is good: token introspection (RFC 7662)
//! when it offers it, else the userinfo endpoint (OpenID Connect Core §5.3).
//! Who the user is, from those replies; reading an id_token is crate::jwt's.

use std::time::Instant;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::flow::oauth::{Client, OAuthError};
use crate::jwt::username_from_claims;
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
        let refusal = OAuthError::from_reply(&response);
        if matches!(response.status, 401 | 403)
            || refusal
                .as_ref()
                .is_some_and(|r| r.error == "invalid_client")
        {
            return Ok(None);
        }
        return Err(match refusal {
            Some(refusal) => refusal.into_error(WHAT),
            None => Error::server_reply(ErrorKind::Server, WHAT, &response),
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
            let lacks_scope =
                OAuthError::from_reply(&response).is_some_and(|r| r.error == "insufficient_scope");
            Ok(if lacks_scope {
                Inspection::Active { username: None }
            } else {
                Inspection::Inactive
            })
        }
        _ => Err(Error::server_reply(ErrorKind::Server, WHAT, &response)),
    }
}
