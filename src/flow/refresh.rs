//! The refresh grant (RFC 6749 §6). One request; the caller owns the rules
//! around it: hold the token file's lock, take the refresh token from the file
//! (the newest), and save the reply (with its rotated refresh token) before
//! the lock is released, so a rotated refresh token is never presented twice.

use std::time::Instant;

use crate::error::Result;
use crate::flow::oauth::{self, Client, TokenReply};
use crate::secret::Secret;

pub(crate) const GRANT_TYPE: &str = "refresh_token";

/// Exchanges `refresh_token` for a new token reply. `scope` may narrow the
/// scope (it must be a subset of the original one). A refused refresh token
/// (`invalid_grant`) is an `Authentication` error: log in again.
pub fn refresh(
    token_endpoint: &str,
    client: &Client,
    refresh_token: &Secret,
    scope: Option<&str>,
    deadline: Option<Instant>,
) -> Result<TokenReply> {
    let mut form = oauth::form(&[
        ("grant_type", GRANT_TYPE),
        ("refresh_token", refresh_token.expose()),
    ]);
    if let Some(scope) = scope {
        form.push(("scope".into(), scope.into()));
    }
    oauth::token_request_ok(token_endpoint, client, form, deadline, "token refresh")
}
