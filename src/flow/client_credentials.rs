//! The client credentials grant (RFC 6749 §4.4): a service logs in as itself
//! with its `client_id` and `client_secret`; no user, no refresh token.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::flow::oauth::{self, Client, TokenReply};

pub(crate) const GRANT_TYPE: &str = "client_credentials";

/// Asks for a token for the client itself. Only a confidential client (one
/// with a secret) can do this.
pub fn request(
    token_endpoint: &str,
    client: &Client,
    scope: Option<&str>,
    deadline: Option<Instant>,
) -> Result<TokenReply> {
    if client.secret.is_none() {
        return Err(Error::invalid_argument(
            "the client credentials grant needs a `client_secret`",
        ));
    }
    let mut form = oauth::form(&[("grant_type", GRANT_TYPE)]);
    if let Some(scope) = scope {
        form.push(("scope".into(), scope.into()));
    }
    oauth::token_request_ok(token_endpoint, client, form, deadline, "client credentials")
}
