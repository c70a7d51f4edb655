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
}
