//! DHCore's own API as the DigitalHub SDK checks credentials with it
//! (as the digitalhub SDK calls it): `GET /api/auth` answers 200 when the request's
//! credentials are good, 401 when they are missing, unknown or inactive.
//!
//! Bearer tokens are good when they are one of the configured static tokens,
//! or when the OAuth server's introspection endpoint (RFC 7662; e.g. the real
//! oidc-provider of tests/oidc-server, which issues DHCore's tokens in the
//! tests) calls them `active`. HTTP Basic credentials are good when they are
//! the configured user and password. Plus a `/_test/` control API.
//!
//! See tests/servers/README.md for the wire-level description.

use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{self, Handler, Request, Response};
use crate::running::{ConfigPatch, Protocol, Running, control_route, not_found, route};
use crate::util::{random_hex, record_secrets};

/// The check endpoint.
pub const AUTH_PATH: &str = "/api/auth";

/// The server's behaviour; change it with [`DhCoreServer::configure`] or
/// `POST /_test/config`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DhCoreConfig {
    /// Where to introspect bearer tokens (`http://…/token/introspection`);
    /// None = only static tokens are accepted. Default None.
    pub introspection_url: Option<String>,
    /// The client id sent with introspection requests (a public client:
    /// `client_id` only). Default `hubauth-public`.
    pub client_id: String,
    /// HTTP Basic user and password accepted; None = Basic is refused.
    pub basic_user: Option<String>,
    pub basic_password: Option<String>,
    /// Bearer tokens accepted without asking anyone.
    pub tokens: Vec<String>,
    /// `/api/auth` answers this status whatever the credentials. Default None.
    pub api_status: Option<u16>,
}

impl Default for DhCoreConfig {
    /// No introspection, no Basic, no static token.
    fn default() -> Self {
        DhCoreConfig {
            introspection_url: None,
            client_id: "hubauth-public".into(),
            basic_user: None,
            basic_password: None,
            tokens: Vec::new(),
            api_status: None,
        }
    }
}

impl DhCoreConfig {
    /// The default config, introspecting at `introspection_url`.
    pub fn introspecting(introspection_url: &str) -> DhCoreConfig {
        DhCoreConfig {
            introspection_url: Some(introspection_url.to_string()),
            ..DhCoreConfig::default()
        }
    }
}

impl ConfigPatch for DhCoreConfig {
    /// Applies a JSON object holding any subset of the fields. All or nothing.
    fn apply_json(&mut self, patch: &Value) -> Result<(), String> {
        let obj = patch
            .as_object()
            .ok_or("the config must be a JSON object")?;
        let mut next = self.clone();
        for (key, v) in obj {
            let want = |what: &str| format!("{key}: expected {what}, got {v}");
            let opt_string = |v: &Value| -> Result<Option<String>, String> {
                match v {
                    Value::Null => Ok(None),
                    Value::String(s) => Ok(Some(s.clone())),
                    _ => Err(want("a string or null")),
                }
            };
            match key.as_str() {
                "introspection_url" => next.introspection_url = opt_string(v)?,
                "client_id" => {
                    next.client_id = v
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| want("a non-empty string"))?
                        .to_string()
                }
                "basic_user" => next.basic_user = opt_string(v)?,
                "basic_password" => next.basic_password = opt_string(v)?,
                "tokens" => {
                    next.tokens = v
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|t| t.as_str().map(str::to_string))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| want("an array of strings"))?
                }
                "api_status" => {
                    next.api_status = if v.is_null() {
                        None
                    } else {
                        Some(
                            v.as_u64()
                                .filter(|s| (100..=599).contains(s))
                                .map(|s| s as u16)
                                .ok_or_else(|| want("an HTTP status or null"))?,
                        )
                    }
                }
                _ => return Err(format!("unknown config key {key:?}")),
            }
        }
        *self = next;
        Ok(())
    }
}

/// Counters, from `GET /_test/stats` or [`DhCoreServer::stats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DhCoreStats {
    /// `GET /api/auth` requests.
    pub auth_requests: u64,
    /// Of those: with `Authorization: Bearer`, with `Authorization: Basic`.
    pub bearer_requests: u64,
    pub basic_requests: u64,
    /// Answered 200 / 401.
    pub accepted: u64,
    pub rejected: u64,
    /// Introspection requests made for bearer tokens.
    pub introspections: u64,
}

struct Inner {
    config: DhCoreConfig,
    stats: DhCoreStats,
}

/// The server's state; its handle is [`DhCoreServer`].
pub struct DhCore {
    inner: Mutex<Inner>,
}

/// Standard base64 with padding (RFC 4648 §4), as HTTP Basic uses it.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unauthorized() -> Response {
    Response::error(
        401,
        "unauthorized",
        "missing, unknown or inactive credentials",
    )
    .with_header("WWW-Authenticate", "Bearer, Basic realm=\"dhcore\"")
}

impl DhCore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn auth(&self, req: &Request) -> Response {
        let (config, scheme, credentials) = {
            let mut s = self.lock();
            s.stats.auth_requests += 1;
            let header = req.header("authorization").unwrap_or("").trim().to_string();
            let (scheme, credentials) = match header.split_once(' ') {
                Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest.trim().to_string()),
                None => (String::new(), String::new()),
            };
            match scheme.as_str() {
                "bearer" => s.stats.bearer_requests += 1,
                "basic" => s.stats.basic_requests += 1,
                _ => {}
            }
            (s.config.clone(), scheme, credentials)
        };
        if let Some(status) = config.api_status {
            return Response::error(status, "forced", "status forced by the test config");
        }
        let user = match scheme.as_str() {
            "basic" => match (&config.basic_user, &config.basic_password) {
                (Some(user), Some(password))
                    if credentials == base64(format!("{user}:{password}").as_bytes()) =>
                {
                    Some(user.clone())
                }
                _ => None,
            },
            "bearer" if credentials.is_empty() => None,
            "bearer" if config.tokens.contains(&credentials) => Some("static".to_string()),
            "bearer" => match &config.introspection_url {
                Some(url) => match self.introspect(url, &config.client_id, &credentials) {
                    Ok(user) => user,
                    Err(e) => {
                        return Response::error(
                            502,
                            "introspection_failed",
                            &format!("cannot introspect the token: {e}"),
                        );
                    }
                },
                None => None,
            },
            _ => None,
        };
        let mut s = self.lock();
        match user {
            Some(name) => {
                s.stats.accepted += 1;
                Response::json(200, &json!({ "name": name, "authenticated": true }))
            }
            None => {
                s.stats.rejected += 1;
                unauthorized()
            }
        }
    }

    /// Some(user) when the introspection endpoint calls the token active.
    fn introspect(&self, url: &str, client_id: &str, token: &str) -> io::Result<Option<String>> {
        self.lock().stats.introspections += 1;
        let response = http::post_form(url, &[("token", token), ("client_id", client_id)])?;
        if response.status != 200 {
            return Err(io::Error::other(format!("HTTP {}", response.status)));
        }
        let reply = response.json()?;
        if reply.get("active") != Some(&Value::Bool(true)) {
            return Ok(None);
        }
        let user = ["username", "sub"]
            .iter()
            .find_map(|k| reply.get(*k).and_then(Value::as_str))
            .unwrap_or("unknown");
        Ok(Some(user.to_string()))
    }
}

fn record_config_secrets(config: &DhCoreConfig) {
    let mut secrets: Vec<&str> = config.tokens.iter().map(String::as_str).collect();
    if let Some(password) = &config.basic_password {
        secrets.push(password);
    }
    record_secrets(&secrets);
}

impl Handler for DhCore {
    fn handle(&self, req: &Request) -> Response {
        if let Some(response) = control_route(self, req) {
            return response;
        }
        let route = |method: &str, f: fn(&Self, &Request) -> Response| route(self, req, method, f);
        match req.path.as_str() {
            AUTH_PATH => route("GET", Self::auth),
            "/_test/issue" => route("POST", |h, _| {
                let token = random_hex(20);
                record_secrets(&[&token]);
                h.lock().config.tokens.push(token.clone());
                Response::json(200, &json!({ "token": token }))
            }),
            _ => not_found(req),
        }
    }
}

impl Protocol for DhCore {
    const NAME: &'static str = "DhCore";
    type Config = DhCoreConfig;
    type Stats = DhCoreStats;

    fn new(config: DhCoreConfig) -> Self {
        DhCore {
            inner: Mutex::new(Inner {
                config,
                stats: DhCoreStats::default(),
            }),
        }
    }

    fn with_control<R>(&self, f: impl FnOnce(&mut DhCoreConfig, &mut DhCoreStats) -> R) -> R {
        let mut inner = self.lock();
        let inner = &mut *inner;
        f(&mut inner.config, &mut inner.stats)
    }

    /// Its tokens and password are secrets the transcript check must know.
    fn config_changed(config: &DhCoreConfig) {
        record_config_secrets(config);
    }
}

/// A running DHCore test server on `127.0.0.1`; stops when dropped.
pub type DhCoreServer = Running<DhCore>;

impl Running<DhCore> {
    /// A new static bearer token (40 lowercase hex) that `/api/auth` accepts.
    pub fn issue_token(&self) -> String {
        let token = random_hex(20);
        record_secrets(&[&token]);
        self.state.lock().config.tokens.push(token.clone());
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn api_auth_accepts_basic_and_static_tokens() {
        let server = DhCoreServer::start_with(DhCoreConfig {
            basic_user: Some("ann".into()),
            basic_password: Some("pw".into()),
            ..DhCoreConfig::default()
        });
        let url = format!("{}{AUTH_PATH}", server.url());
        let basic = format!("Basic {}", base64(b"ann:pw"));
        let status = |auth: &str| {
            http::request("GET", &url, &[("Authorization", auth)], &[])
                .unwrap()
                .status
        };
        assert_eq!(status(&basic), 200);
        assert_eq!(status(&format!("Basic {}", base64(b"ann:no"))), 401);
        let token = server.issue_token();
        assert_eq!(status(&format!("Bearer {token}")), 200);
        assert_eq!(status("Bearer unknown"), 401);
        assert_eq!(http::get(&url).unwrap().status, 401);
        server.configure(|c| c.api_status = Some(503));
        assert_eq!(status(&basic), 503);
        let stats = server.stats();
        assert_eq!(stats.auth_requests, 6);
        assert_eq!((stats.accepted, stats.rejected), (2, 3));
        assert_eq!((stats.basic_requests, stats.bearer_requests), (3, 2));
    }
}
