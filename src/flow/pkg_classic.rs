//! PkgAuthentication's classic login: challenge, browser page, claim polling.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorKind, Result};
use crate::flow::{LoginContext, browser};
use crate::net::{self, Body, Request};
use crate::server::ServerUrl;
use crate::token::unix_now;

/// How often the claim endpoint is polled, as PkgAuthentication does.
pub const CLAIM_INTERVAL: Duration = Duration::from_secs(5);
/// 200 replies that are neither a token nor an expiry, before giving up.
const MAX_FAILED_CLAIMS: u32 = 20;

/// Runs the classic flow and returns the token object from the claim reply.
pub fn login(server: &ServerUrl, ctx: &LoginContext) -> Result<Map<String, Value>> {
    let challenge = random_challenge()?;
    let response = net::send(
        // The challenge and the server's response together claim the token.
        Request::post(
            server.join("/auth/challenge"),
            Body::Text(challenge.clone()),
        )
        .credential()
        .deadline(Some(ctx.deadline)),
    )?;
    if response.status == 404 && !response.is_html() {
        // No login endpoint: not a hub (asking again gets the same answer).
        return Err(Error::server(format!(
            "login challenge: the server at {} answered 404: it has no hub login \
             (check `server`)",
            response.host
        ))
        .definite());
    }
    if !response.is_success() {
        return Err(Error::server_reply(
            ErrorKind::Server,
            "login challenge",
            &response,
        ));
    }
    let answer = response.text("login challenge")?.trim().to_string();
    if answer.is_empty() || answer.len() > 4096 {
        return Err(Error::server(
            "login challenge: the server's response is not usable",
        ));
    }
    browser::open(
        ctx,
        &format!("{}?{answer}", server.join("/auth/response")),
        None,
    )?;
    poll_claim(server, &challenge, &answer, ctx)
}

fn poll_claim(
    server: &ServerUrl,
    challenge: &str,
    answer: &str,
    ctx: &LoginContext,
) -> Result<Map<String, Value>> {
    const WHAT: &str = "login";
    let interval = ctx.poll_interval.unwrap_or(CLAIM_INTERVAL);
    let body = json!({ "challenge": challenge, "response": answer });
    let mut failures = 0;
    loop {
        ctx.sleep(interval, WHAT)?;
        let reply = net::send(
            Request::post(server.join("/auth/claimtoken"), Body::Json(body.clone()))
                .credential()
                .header("accept", "application/json")
                .deadline(Some(ctx.deadline)),
        )?;
        if !reply.is_success() {
            return Err(Error::server_reply(
                if reply.status >= 500 {
                    ErrorKind::Server
                } else {
                    ErrorKind::Authentication
                },
                "login: claiming the token",
                &reply,
            ));
        }
        match parse_claim_reply(&reply.body) {
            ClaimReply::Token(token) => return Ok(token),
            ClaimReply::Expiry(expiry) => {
                if (unix_now() as f64) > expiry {
                    return Err(Error::authentication(
                        "login: the login request expired before it was approved; start again",
                    ));
                }
            }
            ClaimReply::Unusable => {
                failures += 1;
                if failures >= MAX_FAILED_CLAIMS {
                    return Err(Error::server(format!(
                        "login: the server gave {failures} unusable answers while waiting for approval"
                    )));
                }
            }
        }
    }
}

/// What a 200 reply of `/auth/claimtoken` says.
pub enum ClaimReply {
    /// `{"token": {...}}`: the login is done.
    Token(Map<String, Value>),
    /// `{"expiry": <unix s>}`: not approved yet; the request lapses then.
    Expiry(f64),
    /// Anything else.
    Unusable,
}

/// Reads the body of a 200 reply of `/auth/claimtoken`: the parsing half of
/// the claim polling, without I/O.
pub fn parse_claim_reply(body: &[u8]) -> ClaimReply {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match parsed.as_ref().and_then(Value::as_object) {
        Some(object) if object.get("token").is_some_and(Value::is_object) => {
            match parsed.and_then(|mut v| v.get_mut("token").map(Value::take)) {
                Some(Value::Object(token)) => ClaimReply::Token(token),
                _ => ClaimReply::Unusable,
            }
        }
        Some(object) if object.get("expiry").is_some_and(Value::is_number) => {
            ClaimReply::Expiry(object["expiry"].as_f64().unwrap_or(0.0))
        }
        _ => ClaimReply::Unusable,
    }
}

/// 32 random alphanumeric characters from the OS's generator.
fn random_challenge() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    crate::random::from_alphabet(ALPHABET, 32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn challenge_is_32_alphanumerics() {
        let c = super::random_challenge().unwrap();
        assert_eq!(c.len(), 32);
        assert!(c.chars().all(|ch| ch.is_ascii_alphanumeric()));
        assert_ne!(c, super::random_challenge().unwrap());
    }
}
