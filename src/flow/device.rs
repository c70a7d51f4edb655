//! The device authorization grant (RFC 8628), shared by every provider that
//! logs in on a headless machine: ask for a code, send the user to the
//! verification page, poll the token endpoint honouring `interval` and
//! `slow_down`, stop at `expires_in`, at the deadline, or when cancelled.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::flow::oauth::{self, Client, TokenOutcome, TokenReply};
use crate::flow::{LoginContext, browser};
use crate::net::{self, Body, Request, Response};

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 §3.2: the interval when the server gives none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 8628 §3.5: how much `slow_down` adds.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The endpoints of one device login.
pub struct DeviceEndpoints<'a> {
    pub authorization: &'a str,
    pub token: &'a str,
}

/// The server's answer to the device authorization request.
pub struct DeviceAuthorization {
    device_code: String,
    pub user_code: Option<String>,
    /// Where to send the user: `verification_uri_complete`, else `verification_uri`.
    pub url: String,
    pub expires_in: Duration,
    pub interval: Option<Duration>,
}

impl Drop for DeviceAuthorization {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.device_code);
    }
}

/// Asks the server for a device code.
pub fn authorize(
    endpoint: &str,
    client: &Client,
    scope: Option<&str>,
    deadline: Instant,
) -> Result<DeviceAuthorization> {
    let mut form = Vec::new();
    client.add_to_form(&mut form);
    if let Some(scope) = scope {
        form.push(("scope".into(), scope.into()));
    }
    let response = net::send(
        // Its reply decides where the user is sent: only from the server asked.
        Request::post(endpoint, Body::Form(form))
            .header("accept", "application/json")
            .same_origin_only()
            .deadline(Some(deadline)),
    )?;
    parse_authorization_reply(&response)
}

/// Reads the device authorization endpoint's reply: the parsing half of
/// [`authorize`], without I/O.
pub fn parse_authorization_reply(response: &Response) -> Result<DeviceAuthorization> {
    const WHAT: &str = "device authorization";
    if !response.is_success() {
        return Err(match oauth::OAuthError::from_reply(response) {
            Some(refusal) => refusal.into_error(WHAT),
            None => Error::server_reply(crate::error::ErrorKind::Server, WHAT, response),
        });
    }
    let Value::Object(reply) = net::parse_json(&response.body, WHAT)? else {
        return Err(Error::server(format!(
            "{WHAT}: the reply is not a JSON object"
        )));
    };
    parse_authorization(&reply)
}

fn parse_authorization(reply: &Map<String, Value>) -> Result<DeviceAuthorization> {
    let missing =
        |field: &str| Error::server(format!("device authorization: the reply has no {field}"));
    let device_code = oauth::field(reply, "device_code").ok_or_else(|| missing("device_code"))?;
    let user_code = oauth::field(reply, "user_code").map(str::to_string);
    let url = match oauth::field(reply, "verification_uri_complete") {
        Some(complete) => complete.to_string(),
        None => {
            let uri = oauth::field(reply, "verification_uri")
                .ok_or_else(|| missing("verification_uri"))?;
            if user_code.is_none() {
                return Err(missing("user_code"));
            }
            uri.to_string()
        }
    };
    // Where the user is sent: an https URL (http only for loopback), never a
    // file, a script or an option for the opener.
    browser::check_login_url(&url)?;
    let expires_in = oauth::number(reply, "expires_in").ok_or_else(|| missing("expires_in"))?;
    // Capped like expires_in: a huge interval would overflow the clock in
    // `poll` (`Instant + Duration` panics), and any interval past the code's
    // lifetime ends the polling at once anyway.
    let interval = oauth::number(reply, "interval")
        .filter(|s| *s >= 0)
        .map(|s| Duration::from_secs(s.min(86_400) as u64));
    Ok(DeviceAuthorization {
        device_code: device_code.to_string(),
        user_code,
        url,
        expires_in: Duration::from_secs(expires_in.clamp(0, 86_400) as u64),
        interval,
    })
}

/// The pause between polls: the server's `interval`, but one below a second
/// (0 would poll the token endpoint in a tight loop) is raised to RFC 8628's
/// 5 s default or `poll_interval_ms`, whichever is larger; without one,
/// `poll_interval_ms` or the default.
fn poll_interval(server: Option<Duration>, configured: Option<Duration>) -> Duration {
    match server {
        Some(interval) if interval >= Duration::from_secs(1) => interval,
        Some(_) => configured.map_or(DEFAULT_INTERVAL, |c| c.max(DEFAULT_INTERVAL)),
        None => configured.unwrap_or(DEFAULT_INTERVAL),
    }
}

/// How the token endpoint's "not yet" is recognised while polling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollRules {
    /// Any 400 or 401 reply without an OAuth error body (plain text, HTML,
    /// JSON without `error`) and any OAuth error other than `slow_down`,
    /// `access_denied` and `expired_token` on a 400 or 401 means "pending",
    /// as PkgAuthentication.jl reads JuliaHub's replies
    /// (PkgAuthentication.jl:671-685). False (the default): RFC 8628 §3.5,
    /// only `authorization_pending` is.
    pub any_400_401_is_pending: bool,
}

impl PollRules {
    /// RFC 8628 as written (standard OAuth servers).
    pub fn rfc8628() -> Self {
        PollRules::default()
    }

    /// PkgAuthentication.jl's reading, for JuliaHub's device endpoint.
    pub fn pkg_authentication() -> Self {
        PollRules {
            any_400_401_is_pending: true,
        }
    }
}

/// Runs the whole device login and returns the token reply.
pub fn login(
    endpoints: &DeviceEndpoints<'_>,
    client: &Client,
    scope: Option<&str>,
    ctx: &LoginContext,
) -> Result<TokenReply> {
    login_with(endpoints, client, scope, ctx, PollRules::rfc8628())
}

/// [`login`] with the polling rules of a particular server.
pub fn login_with(
    endpoints: &DeviceEndpoints<'_>,
    client: &Client,
    scope: Option<&str>,
    ctx: &LoginContext,
    rules: PollRules,
) -> Result<TokenReply> {
    let authorization = authorize(endpoints.authorization, client, scope, ctx.deadline)?;
    let shown_code = if authorization.url.contains("user_code") {
        None
    } else {
        authorization.user_code.as_deref()
    };
    browser::open(ctx, &authorization.url, shown_code)?;
    poll_with(endpoints.token, client, &authorization, ctx, rules)
}

/// Polls the token endpoint until the user approved, refused, or time ran out.
pub fn poll(
    token_endpoint: &str,
    client: &Client,
    authorization: &DeviceAuthorization,
    ctx: &LoginContext,
) -> Result<TokenReply> {
    poll_with(
        token_endpoint,
        client,
        authorization,
        ctx,
        PollRules::rfc8628(),
    )
}

/// What one poll reply means under `rules`: the token, pending (`Ok(None)`),
/// or the end of the login. Without I/O.
pub fn read_poll_reply(reply: &Response, rules: PollRules) -> Result<Option<PollStep>> {
    const WHAT: &str = "device login";
    let lenient = rules.any_400_401_is_pending && matches!(reply.status, 400 | 401);
    let outcome = match oauth::parse_token_reply(reply, WHAT) {
        Ok(outcome) => outcome,
        Err(_) if lenient => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(match outcome {
        TokenOutcome::Token(reply) => PollStep::Token(reply),
        TokenOutcome::Refused(refusal) => match refusal.error.as_str() {
            "authorization_pending" => return Ok(None),
            "slow_down" => PollStep::SlowDown,
            "access_denied" => {
                return Err(Error::authentication("device login: the login was denied").definite());
            }
            "expired_token" => {
                return Err(Error::authentication(
                    "device login: the code expired before the login was approved; start again",
                ));
            }
            _ if lenient => return Ok(None),
            _ => return Err(refusal.into_error(WHAT)),
        },
    }))
}

/// A poll reply that is not "pending".
pub enum PollStep {
    Token(TokenReply),
    SlowDown,
}

/// [`poll`] with the polling rules of a particular server.
pub fn poll_with(
    token_endpoint: &str,
    client: &Client,
    authorization: &DeviceAuthorization,
    ctx: &LoginContext,
    rules: PollRules,
) -> Result<TokenReply> {
    const WHAT: &str = "device login";
    let start = Instant::now();
    let expires = start.checked_add(authorization.expires_in).unwrap_or(start);
    let mut interval = poll_interval(authorization.interval, ctx.poll_interval);
    loop {
        if Instant::now()
            .checked_add(interval)
            .is_none_or(|next| next >= expires)
        {
            return Err(Error::authentication(
                "device login: the code expired before the login was approved; start again",
            ));
        }
        ctx.sleep(interval, WHAT)?;
        let form = oauth::form(&[
            ("grant_type", GRANT_TYPE),
            ("device_code", &authorization.device_code),
        ]);
        let mut form = form;
        client.add_to_form(&mut form);
        let response = net::send(
            Request::post(token_endpoint, Body::Form(form))
                .header("accept", "application/json")
                .deadline(Some(ctx.deadline)),
        )?;
        match read_poll_reply(&response, rules)? {
            Some(PollStep::Token(reply)) => return Ok(reply),
            Some(PollStep::SlowDown) => interval += SLOW_DOWN_STEP,
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_below_a_second_never_makes_a_tight_loop() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(poll_interval(Some(s(0)), None), s(5));
        assert_eq!(poll_interval(Some(s(0)), Some(ms(100))), s(5));
        assert_eq!(poll_interval(Some(s(0)), Some(s(9))), s(9));
        assert_eq!(poll_interval(Some(s(2)), Some(ms(100))), s(2));
        assert_eq!(poll_interval(None, Some(ms(100))), ms(100));
        assert_eq!(poll_interval(None, None), s(5));
    }

    #[test]
    fn plain_text_4xx_is_pending_only_under_pkg_rules() {
        let pkg = PollRules::pkg_authentication();
        let rfc = PollRules::rfc8628();
        assert!(matches!(
            read_poll_reply(&Response::from_parts(400, b"pending"), pkg),
            Ok(None)
        ));
        assert!(matches!(
            read_poll_reply(&Response::from_parts(401, b"<html>"), pkg),
            Ok(None)
        ));
        assert!(read_poll_reply(&Response::from_parts(400, b"pending"), rfc).is_err());
        assert!(read_poll_reply(&Response::from_parts(403, b"nope"), pkg).is_err());
        let denied = br#"{"error":"access_denied"}"#;
        assert!(read_poll_reply(&Response::from_parts(400, denied), pkg).is_err());
        let odd = br#"{"error":"invalid_grant"}"#;
        assert!(matches!(
            read_poll_reply(&Response::from_parts(400, odd), pkg),
            Ok(None)
        ));
        assert!(read_poll_reply(&Response::from_parts(400, odd), rfc).is_err());
        let pending = br#"{"error":"authorization_pending"}"#;
        assert!(matches!(
            read_poll_reply(&Response::from_parts(400, pending), rfc),
            Ok(None)
        ));
        let slow = br#"{"error":"slow_down"}"#;
        assert!(matches!(
            read_poll_reply(&Response::from_parts(400, slow), pkg),
            Ok(Some(PollStep::SlowDown))
        ));
    }

    #[test]
    fn authorization_reply_needs_a_url_and_code() {
        let reply: Map<String, Value> = serde_json::from_str(
            r#"{"device_code":"d","user_code":"ABCD","verification_uri":"https://x/device","expires_in":600}"#,
        )
        .unwrap();
        let a = parse_authorization(&reply).unwrap();
        assert_eq!(a.url, "https://x/device");
        assert_eq!(a.interval, None);
        let reply: Map<String, Value> = serde_json::from_str(
            r#"{"device_code":"d","verification_uri":"https://x","expires_in":600}"#,
        )
        .unwrap();
        assert!(parse_authorization(&reply).is_err());
    }
}
