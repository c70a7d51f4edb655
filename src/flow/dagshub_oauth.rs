//! DagsHub's OAuth login, as the dagshub client does it: a long-poll
//! "middleman" rather than a redirect or the device flow.
//!
//! 1. The user is sent to `<host>/login/oauth/authorize?state=<uuid4>&client_id=<id>&middleman_request_id=<id>`
//!    where the request id is the SHA-256 hex of a random UUID.
//! 2. `POST <host>/login/oauth/middleman` (form `request_id`) is answered once
//!    the user approved, with the code as a JSON string. A long poll that the
//!    server or a proxy cuts short (408, 502-504, or a connection that stayed
//!    open for a while and then dropped) is simply repeated until the deadline.
//! 3. `POST <host>/login/oauth/access_token` (form `client_id, code, state`)
//!    answers `{access_token, expiry, token_type}`. There is no refresh token.

use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::flow::oauth::{self, Client};
use crate::flow::{LoginContext, browser};
use crate::net::{self, Body, Request};
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::dagshub_yaml::{format_expiry, parse_expiry};

/// The dagshub client's OAuth client id (`DAGSHUB_CLIENT_ID` overrides it).
pub(crate) const DEFAULT_CLIENT_ID: &str =
    "32b60ba385aa7cecf24046d8195a71c07dd345d9657977863b52e7748e0f0f28";

/// Statuses after which the middleman's long poll is repeated.
const RETRY_STATUSES: [u16; 4] = [408, 502, 503, 504];
/// A poll that failed at the network level after at least this long was a
/// long poll cut off (by a proxy, say); sooner, the server is unreachable.
const CUT_OFF_AFTER: Duration = Duration::from_secs(5);
/// Pause before repeating a poll that ended quickly.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

/// What a DagsHub login yields.
pub struct OAuthToken {
    pub access_token: Secret,
    /// Unix time in nanoseconds.
    pub expires_at_ns: i128,
}

/// A random (version 4) UUID in its text form, as Python's `uuid.uuid4()`.
pub fn uuid4() -> Result<String> {
    let uuid = uuid::Builder::from_random_bytes(crate::random::bytes()?).into_uuid();
    Ok(uuid.hyphenated().to_string())
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The authorize URL the user is sent to.
pub fn authorize_url(server: &ServerUrl, client_id: &str, state: &str, request_id: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", state)
        .append_pair("client_id", client_id)
        .append_pair("middleman_request_id", request_id)
        .finish();
    format!("{}?{query}", server.join("/login/oauth/authorize"))
}

/// Runs the whole login: send the user to the authorize page, wait for the
/// code, trade it for a token.
pub fn login(server: &ServerUrl, client_id: &str, ctx: &LoginContext) -> Result<OAuthToken> {
    let state = uuid4()?;
    let request_id = sha256_hex(uuid4()?.as_bytes());
    browser::open(
        ctx,
        &authorize_url(server, client_id, &state, &request_id),
        None,
    )?;
    let code = wait_for_code(server, &request_id, ctx)?;
    let what = format!("DagsHub login at {}", server.as_str());
    let reply = oauth::token_request_ok(
        &server.join("/login/oauth/access_token"),
        &Client::public(client_id),
        oauth::form(&[("code", code.expose()), ("state", &state)]),
        Some(ctx.deadline),
        &what,
    )?;
    if reply.access_token.is_empty() {
        return Err(Error::server(format!(
            "{what}: the reply has no access_token"
        )));
    }
    let expires_at_ns = match reply.text("expiry") {
        Some(expiry) => parse_expiry(expiry).ok_or_else(|| {
            Error::server(format!(
                "{what}: the reply's expiry is not an RFC 3339 time"
            ))
        })?,
        None => match reply.expires_in {
            Some(s) => (i128::from(crate::token::unix_now()) + i128::from(s)) * 1_000_000_000,
            None => return Err(Error::server(format!("{what}: the reply has no expiry"))),
        },
    };
    // The real client appends such a token and uses it for the session
    // (auth/tokens.py:186-196), then drops it at its next load; Go's zero
    // time (`0001-01-01T00:00:00Z`) is how a server would send one. A token
    // that is dead on arrival is useless to a caller, and saving it would
    // only make every later call find an expired entry: say what happened.
    // Definite: another login gets the same dead token from the same server
    // clock, and would cost the person another approval for nothing.
    if expires_at_ns <= i128::from(crate::token::unix_now()) * 1_000_000_000 {
        return Err(Error::server(format!(
            "{what}: the server issued a token that had already expired (its expiry is {}); \
             nothing was saved",
            format_expiry(expires_at_ns).unwrap_or_else(|| "in the past".to_string())
        ))
        .definite());
    }
    Ok(OAuthToken {
        access_token: reply.access_token.clone(),
        expires_at_ns,
    })
}

/// Long-polls the middleman until the user approved (the code), refused, or
/// the login's deadline passed.
fn wait_for_code(server: &ServerUrl, request_id: &str, ctx: &LoginContext) -> Result<Secret> {
    let url = server.join("/login/oauth/middleman");
    let what = format!("waiting for the DagsHub login at {}", server.as_str());
    let pause = ctx.poll_interval.unwrap_or(DEFAULT_PAUSE);
    loop {
        if Instant::now() >= ctx.deadline {
            return Err(ctx.timed_out(&what));
        }
        let started = Instant::now();
        let sent = net::send(
            Request::post(
                url.clone(),
                Body::Form(oauth::form(&[("request_id", request_id)])),
            )
            // Whoever polls with the request id receives the code.
            .credential()
            .header("accept", "application/json")
            .deadline(Some(ctx.deadline)),
        );
        match sent {
            Ok(response) if response.status == 200 => {
                let code: String = serde_json::from_slice(&response.body).map_err(|_| {
                    Error::server(format!("{what}: the reply is not a JSON string"))
                })?;
                if code.is_empty() {
                    return Err(Error::server(format!("{what}: the reply is an empty code")));
                }
                return Secret::from_string(code);
            }
            Ok(response) if RETRY_STATUSES.contains(&response.status) => {}
            Ok(response) => {
                let kind = if response.status >= 500 {
                    ErrorKind::Server
                } else {
                    ErrorKind::Authentication
                };
                return Err(Error::server_reply(kind, &what, &response));
            }
            Err(e) if e.kind() == ErrorKind::Timeout => return Err(ctx.timed_out(&what)),
            Err(e) if e.kind() == ErrorKind::Network && started.elapsed() >= CUT_OFF_AFTER => {}
            Err(e) => return Err(e),
        }
        if started.elapsed() < pause {
            ctx.sleep(pause, &what)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid4_and_request_id_have_the_right_shape() {
        let u = uuid4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert!(
            u.bytes()
                .all(|b| b == b'-' || matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(
            u.char_indices()
                .filter(|&(_, c)| c == '-')
                .map(|(i, _)| i)
                .collect::<Vec<_>>(),
            [8, 13, 18, 23]
        );
        assert_ne!(u, uuid4().unwrap());
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let s = ServerUrl::parse("https://dagshub.com").unwrap();
        assert_eq!(
            authorize_url(&s, "cid", "st", "rid"),
            "https://dagshub.com/login/oauth/authorize?state=st&client_id=cid&middleman_request_id=rid"
        );
    }
}
