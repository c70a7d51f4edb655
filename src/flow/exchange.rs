//! OAuth 2.0 Token Exchange (RFC 8693): a token the caller already has (a
//! personal access token, another issuer's access token) for an access token
//! of this issuer.

use std::time::Instant;

use crate::error::Result;
use crate::flow::oauth::{self, Client, TokenReply};
use crate::secret::Secret;

pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3: the default `subject_token_type`.
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What to exchange.
pub struct Subject<'a> {
    pub token: &'a Secret,
    /// A token type URI, e.g. [`ACCESS_TOKEN_TYPE`], or for DHCore's personal
    /// access tokens `urn:ietf:params:oauth:token-type:pat` (not registered by RFC 8693).
    pub token_type: &'a str,
}

/// Exchanges `subject` for an access token. `scope` is sent only when given
/// (servers then use the subject token's own scope). The reply normally has
/// no refresh token: exchange again when the access token expires.
pub fn exchange(
    token_endpoint: &str,
    client: &Client,
    subject: &Subject<'_>,
    scope: Option<&str>,
    deadline: Option<Instant>,
) -> Result<TokenReply> {
    let mut form = oauth::form(&[
        ("grant_type", GRANT_TYPE),
        ("subject_token", subject.token.expose()),
        ("subject_token_type", subject.token_type),
    ]);
    if let Some(scope) = scope {
        form.push(("scope".into(), scope.into()));
    }
    oauth::token_request_ok(token_endpoint, client, form, deadline, "token exchange")
}
