//! The browser login: the authorization code grant (RFC 6749 §4.1) with PKCE
//! (RFC 7636, S256) and `state`, for native apps (RFC 8252): the redirect goes
//! to a listener on `http://127.0.0.1:<port>/callback` (a random port, or
//! `redirect_port` for one fixed in advance, e.g. for SSH port forwarding),
//! the URL is handed to the hook or the browser like the device flow's, and
//! the code is exchanged at the token endpoint with the code verifier.
//!
//! `prompt=consent` is added when the scope asks for `offline_access`: OpenID
//! Connect Core §11 says a server must ignore `offline_access` otherwise (and
//! oidc-provider does), so no refresh token would come.

use reqwest::Url;

use crate::error::{Error, Result};
use crate::flow::loopback::{Callback, Listener};
use crate::flow::oauth::{self, Client, TokenReply};
use crate::flow::{LoginContext, browser};
use crate::random;
use crate::secret::Secret;

/// The path of the redirect URI (the client must register
/// `http://127.0.0.1/callback`; RFC 8252 §7.3 lets the port vary).
pub const REDIRECT_PATH: &str = "/callback";

/// RFC 7636 §4.1's unreserved characters.
const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The endpoints of one browser login.
pub struct AuthCodeEndpoints<'a> {
    pub authorization: &'a str,
    pub token: &'a str,
}

/// A PKCE pair: the secret verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

impl Pkce {
    /// A new verifier of 64 unreserved characters (≈ 380 bits) and its challenge.
    pub fn new() -> Result<Pkce> {
        let verifier = random::from_alphabet(UNRESERVED, 64)?;
        let challenge = challenge(&verifier);
        Ok(Pkce {
            verifier: Secret::from_string(verifier)?,
            challenge,
        })
    }
}

/// RFC 7636 §4.2: BASE64URL(SHA256(ASCII(verifier))), unpadded.
pub fn challenge(verifier: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The URL the user opens: `endpoint` with the authorization request added
/// to whatever query it already has.
pub fn authorization_url(
    endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    state: &str,
    challenge: &str,
) -> Result<String> {
    let mut url = Url::parse(endpoint).map_err(|_| {
        Error::server("browser login: the authorization_endpoint is not a valid URL")
    })?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if scope.split(' ').any(|s| s == "offline_access") {
            query.append_pair("prompt", "consent");
        }
    }
    Ok(url.into())
}

/// Runs the whole browser login and returns the token reply.
pub fn login(
    endpoints: &AuthCodeEndpoints<'_>,
    client: &Client,
    scope: &str,
    redirect_port: Option<u16>,
    ctx: &LoginContext,
) -> Result<TokenReply> {
    const WHAT: &str = "browser login";
    let listener = Listener::bind(redirect_port)?;
    let redirect_uri = format!("http://127.0.0.1:{}{REDIRECT_PATH}", listener.port());
    let pkce = Pkce::new()?;
    let state = random::from_alphabet(ALPHANUMERIC, 32)?;
    let url = authorization_url(
        endpoints.authorization,
        &client.id,
        &redirect_uri,
        scope,
        &state,
        &pkce.challenge,
    )?;
    browser::open(ctx, &url, None)?;
    let callback = listener.wait(REDIRECT_PATH, &state, ctx)?;
    // The port is free again before the exchange.
    drop(listener);
    let code = match &callback {
        Callback::Code(code) => code,
        Callback::Refused { error, description } => {
            let detail = match description {
                Some(d) => format!("{error} ({d})"),
                None => error.clone(),
            };
            let refused = Error::authentication(format!(
                "{WHAT}: the server did not authorize the login: {detail}"
            ));
            return Err(if oauth::is_definite(error) {
                refused.definite()
            } else {
                refused
            });
        }
    };
    let form = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), code.clone()),
        ("redirect_uri".to_string(), redirect_uri),
        (
            "code_verifier".to_string(),
            pkce.verifier.expose().to_string(),
        ),
    ];
    oauth::token_request_ok(endpoints.token, client, form, Some(ctx.deadline), WHAT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_long_unreserved_and_differ() {
        let a = Pkce::new().unwrap();
        let b = Pkce::new().unwrap();
        let v = a.verifier.expose();
        assert!((43..=128).contains(&v.len()));
        assert!(v.bytes().all(|c| UNRESERVED.contains(&c)));
        assert_ne!(v, b.verifier.expose());
        assert_eq!(a.challenge, challenge(v));
    }

    #[test]
    fn the_url_carries_the_request_and_keeps_the_endpoints_query() {
        let url = authorization_url(
            "https://id.example/auth?tenant=a",
            "cli",
            "http://127.0.0.1:5555/callback",
            "openid offline_access",
            "st",
            "ch",
        )
        .unwrap();
        let url = Url::parse(&url).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("tenant"), Some("a"));
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:5555/callback"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("state"), Some("st"));
        assert_eq!(get("prompt"), Some("consent"));
        let without =
            authorization_url("https://id.example/auth", "c", "r", "openid", "s", "c").unwrap();
        assert!(!without.contains("prompt="));
    }
}
