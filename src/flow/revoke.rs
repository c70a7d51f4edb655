//! Token revocation (RFC 7009).

use std::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::flow::oauth::{Client, OAuthError};
use crate::net::{self, Body, Request};
use crate::secret::Secret;

/// Revokes `token` (`token_type_hint` is `refresh_token` or `access_token`).
/// The server answers 200 for unknown tokens too, so success means only
/// "the server no longer honours this token, if it ever did".
pub fn revoke(
    endpoint: &str,
    client: &Client,
    token: &Secret,
    token_type_hint: &str,
    deadline: Option<Instant>,
) -> Result<()> {
    const WHAT: &str = "token revocation";
    let mut form = vec![
        ("token".to_string(), token.expose().to_string()),
        ("token_type_hint".to_string(), token_type_hint.to_string()),
    ];
    client.add_to_form(&mut form);
    let response = net::send(
        Request::post(endpoint, Body::Form(form))
            .header("accept", "application/json")
            .deadline(deadline),
    )?;
    if response.is_success() {
        return Ok(());
    }
    Err(match OAuthError::from_reply(&response) {
        Some(refusal) => refusal.into_error(WHAT),
        None => Error::server_reply(
            if response.status >= 500 {
                ErrorKind::Server
            } else {
                ErrorKind::Authentication
            },
            WHAT,
            &response,
        ),
    })
}
