//! The device authorization grant (RFC 8628), shared by every provider that
//! logs in on a headless machine: ask for a code, send the user to the
//! verification page, poll the token endpoint honouring `interval` and
//! `slow_down`, stop at `expires_in`, at the deadline, or when cancelled.

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::flow::oauth::{self, Client, TokenOutcome};
use crate::flow::{LoginContext, browser};
use crate::net::{self, Body, Request};

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
    parse_authorization_reply(response.status, &response.body)
}

/// Reads the device authorization endpoint's reply (HTTP `status`, `body`):
/// the parsing half of [`authorize`], without I/O.
pub fn parse_authorization_reply(status: u16, body: &[u8]) -> Result<DeviceAuthorization> {
    const WHAT: &str = "device authorization";
    if !(200..300).contains(&status) {
        return Err(match oauth::OAuthError::from_reply(status, body) {
            Some(refusal) => refusal.into_error(WHAT),
            None => Error::server_reply(crate::error::ErrorKind::Server, WHAT, status, body),
        });
    }
    let Value::Object(reply) = net::parse_json(body, WHAT)? else {
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

/// Runs the whole device login and returns the token reply.
pub fn login(
    endpoints: &DeviceEndpoints<'_>,
    client: &Client,
    scope: Option<&str>,
    ctx: &LoginContext,
) -> Result<Map<String, Value>> {
    let authorization = authorize(endpoints.authorization, client, scope, ctx.deadline)?;
    let shown_code = if authorization.url.contains("user_code") {
        None
    } else {
        authorization.user_code.as_deref()
    };
    browser::open(ctx, &authorization.url, shown_code)?;
    poll(endpoints.token, client, &authorization, ctx)
}

/// Polls the token endpoint until the user approved, refused, or time ran out.
pub fn poll(
    token_endpoint: &str,
    client: &Client,
    authorization: &DeviceAuthorization,
    ctx: &LoginContext,
) -> Result<Map<String, Value>> {
    const WHAT: &str = "device login";
    let start = Instant::now();
    let expires = start.checked_add(authorization.expires_in).unwrap_or(start);
    let mut interval = authorization
        .interval
        .or(ctx.poll_interval)
        .unwrap_or(DEFAULT_INTERVAL);
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
        match oauth::token_request(token_endpoint, client, form, Some(ctx.deadline), WHAT)? {
            TokenOutcome::Token(reply) => return Ok(reply),
            TokenOutcome::Refused(refusal) => match refusal.error.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += SLOW_DOWN_STEP,
                "access_denied" => {
                    return Err(Error::authentication("device login: the login was denied"));
                }
                "expired_token" => {
                    return Err(Error::authentication(
                        "device login: the code expired before the login was approved; start again",
                    ));
                }
                _ => return Err(refusal.into_error(WHAT)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
