//! A DagsHub server for the dagshub client's auth, following the dagshub client's calls
//! to the letter: `GET /api/v1/user` (optionally behind a redirect), and the
//! OAuth "middleman" login: `/login/oauth/authorize` (the browser visit
//! approves), the long-polled `POST /login/oauth/middleman`, and
//! `POST /login/oauth/access_token`. A data API `GET /api/v1/repos/<path>`
//! stands for every other authenticated call (its 401 is what makes a client
//! renegotiate; config `reject_valid` makes it refuse good tokens, as a
//! permission error, a proxy or a transient fault does). Plus a `/_test/`
//! control API.
//!
//! See tests/servers/README.md for the wire-level description.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{Handler, Request, Response};
use crate::running::{ConfigPatch, Protocol, Running, control_route, not_found, route};
use crate::util::{now_unix, random_hex};

/// The dagshub client's default OAuth client id.
pub const DEFAULT_CLIENT_ID: &str =
    "32b60ba385aa7cecf24046d8195a71c07dd345d9657977863b52e7748e0f0f28";
/// Where `GET /api/v1/user` redirects to when `user_redirect` is set.
pub const REDIRECTED_USER_PATH: &str = "/api/v1/user/redirected";

/// The server's behaviour; change it with [`DagsHubServer::configure`] or
/// `POST /_test/config`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DagsHubConfig {
    /// The only OAuth client id `/login/oauth/*` accepts. Default the dagshub client's.
    pub client_id: String,
    /// `login` and `username` of the user who logs in. Default "alice".
    pub user: String,
    /// Lifetime of OAuth tokens. Default 3600.
    pub token_ttl_s: i64,
    /// The browser visit refuses the login. Default false.
    pub deny: bool,
    /// `GET /api/v1/user` answers 302 to [`REDIRECTED_USER_PATH`]. Default false.
    pub user_redirect: bool,
    /// How long `/login/oauth/middleman` holds a request before answering 408. Default 20000.
    pub middleman_hold_ms: u64,
    /// `/api/v1/user` answers this status whatever the token. Default None.
    pub api_status: Option<u16>,
    /// The next this many `GET /api/v1/repos/…` requests answer 401 even
    /// with a valid token (`/api/v1/user` still accepts it). Default 0.
    pub reject_valid: u64,
    /// The login reply's `expiry` is this text instead of the token's real
    /// expiry (e.g. Go's zero time `0001-01-01T00:00:00Z`, which a Go server
    /// sends for an unset time). Default None.
    pub login_expiry: Option<String>,
    /// `/api/v1/user` answers after this many milliseconds, as over a slow
    /// network. Default 0.
    pub user_hold_ms: u64,
}

impl Default for DagsHubConfig {
    fn default() -> Self {
        DagsHubConfig {
            client_id: DEFAULT_CLIENT_ID.into(),
            user: "alice".into(),
            token_ttl_s: 3600,
            deny: false,
            user_redirect: false,
            middleman_hold_ms: 20_000,
            api_status: None,
            reject_valid: 0,
            login_expiry: None,
            user_hold_ms: 0,
        }
    }
}

impl ConfigPatch for DagsHubConfig {
    /// Applies a JSON object holding any subset of the fields. All or nothing.
    fn apply_json(&mut self, patch: &Value) -> Result<(), String> {
        let obj = patch
            .as_object()
            .ok_or("the config must be a JSON object")?;
        let mut next = self.clone();
        for (key, v) in obj {
            let want = |what: &str| format!("{key}: expected {what}, got {v}");
            let string = || {
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| want("a non-empty string"))
            };
            match key.as_str() {
                "client_id" => next.client_id = string()?,
                "user" => next.user = string()?,
                "token_ttl_s" => next.token_ttl_s = v.as_i64().ok_or_else(|| want("an integer"))?,
                "deny" => next.deny = v.as_bool().ok_or_else(|| want("a boolean"))?,
                "user_redirect" => {
                    next.user_redirect = v.as_bool().ok_or_else(|| want("a boolean"))?
                }
                "middleman_hold_ms" => {
                    next.middleman_hold_ms = v.as_u64().ok_or_else(|| want("an integer >= 0"))?
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
                "login_expiry" => {
                    next.login_expiry = match v {
                        Value::Null => None,
                        _ => Some(string()?),
                    }
                }
                "reject_valid" => {
                    next.reject_valid = v.as_u64().ok_or_else(|| want("an integer >= 0"))?
                }
                "user_hold_ms" => {
                    next.user_hold_ms = v.as_u64().ok_or_else(|| want("an integer >= 0"))?
                }
                _ => return Err(format!("unknown config key {key:?}")),
            }
        }
        *self = next;
        Ok(())
    }
}

/// Counters, from `GET /_test/stats` or [`DagsHubServer::stats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DagsHubStats {
    /// `GET /api/v1/user` requests answered (after any redirect).
    pub user_calls: u64,
    /// The bearer token of each of those calls, in order ("" when none).
    pub user_call_tokens: Vec<String>,
    /// `GET /api/v1/repos/…` requests.
    pub data_calls: u64,
    /// Of those, the ones refused with a valid token (`reject_valid`).
    pub data_rejected_valid: u64,
    /// Redirects sent by `GET /api/v1/user`.
    pub user_redirects: u64,
    /// Visits of `/login/oauth/authorize` (the "browser").
    pub authorize_visits: u64,
    /// `POST /login/oauth/middleman` requests.
    pub middleman_polls: u64,
    /// Middleman requests answered 408 after `middleman_hold_ms`.
    pub middleman_timeouts: u64,
    /// `POST /login/oauth/access_token` requests.
    pub access_token_requests: u64,
    /// OAuth tokens handed out.
    pub tokens_issued: u64,
    /// `client_id`, `state` and `middleman_request_id` of the last authorize visit.
    pub last_client_id: Option<String>,
    pub last_state: Option<String>,
    pub last_request_id: Option<String>,
}

/// A token as the cache file holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DagsHubToken {
    pub access_token: String,
    /// RFC 3339 (nine fractional digits, `Z`) for bearer tokens, `never` for app tokens.
    pub expiry: String,
    /// `bearer` or `app-token`.
    pub token_type: String,
}

struct TokenInfo {
    user: String,
    /// Unix seconds; None for app tokens.
    valid_until: Option<f64>,
    revoked: bool,
}

enum Decision {
    Approved { code: String },
    Denied,
}

struct Login {
    decision: Decision,
    delivered: bool,
}

struct Code {
    client_id: String,
    state: String,
    used: bool,
}

struct Inner {
    config: DagsHubConfig,
    stats: DagsHubStats,
    tokens: HashMap<String, TokenInfo>,
    /// By middleman_request_id.
    logins: HashMap<String, Login>,
    codes: HashMap<String, Code>,
}

/// The server's state; its handle is [`DagsHubServer`].
pub struct DagsHub {
    inner: Mutex<Inner>,
    /// Wakes middleman requests when a login is decided.
    decided: Condvar,
}

/// Unix seconds as RFC 3339 UTC with nine fractional digits, as DagsHub's
/// Go server writes times.
pub fn rfc3339_nanos(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let nanos = ((unix - secs as f64) * 1e9)
        .round()
        .clamp(0.0, 999_999_999.0) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn is_request_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Inner {
    fn mint_bearer(&mut self, ttl_s: i64, user: Option<&str>) -> DagsHubToken {
        let now = now_unix();
        let valid_until = now + ttl_s as f64;
        let token = random_hex(20);
        crate::util::record_secrets(&[&token]);
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                user: user.unwrap_or(&self.config.user).to_string(),
                valid_until: Some(valid_until),
                revoked: false,
            },
        );
        DagsHubToken {
            access_token: token,
            expiry: rfc3339_nanos(valid_until),
            token_type: "bearer".into(),
        }
    }

    fn mint_app(&mut self, user: Option<&str>) -> DagsHubToken {
        let token = random_hex(20);
        crate::util::record_secrets(&[&token]);
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                user: user.unwrap_or(&self.config.user).to_string(),
                valid_until: None,
                revoked: false,
            },
        );
        DagsHubToken {
            access_token: token,
            expiry: "never".into(),
            token_type: "app-token".into(),
        }
    }

    fn user_of(&self, token: &str) -> Option<String> {
        let info = self.tokens.get(token)?;
        let live = !info.revoked && info.valid_until.is_none_or(|t| now_unix() < t);
        live.then(|| info.user.clone())
    }

    fn revoke(&mut self, token: Option<&str>) -> usize {
        let mut n = 0;
        for (t, info) in &mut self.tokens {
            if !info.revoked && token.is_none_or(|wanted| wanted == t) {
                info.revoked = true;
                n += 1;
            }
        }
        n
    }
}

impl DagsHub {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The data API: 200 `{"repo": <path>, "owner": <user>}` for a valid
    /// token, 401 otherwise (and for `reject_valid` requests with one).
    fn data(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.data_calls += 1;
        let user = req.bearer().and_then(|t| s.user_of(t));
        let Some(user) = user else {
            return Response::json(401, &json!({ "message": "invalid or missing token" }))
                .with_header("WWW-Authenticate", "Bearer");
        };
        if s.config.reject_valid > 0 {
            s.config.reject_valid -= 1;
            s.stats.data_rejected_valid += 1;
            return Response::json(401, &json!({ "message": "not allowed (transient)" }))
                .with_header("WWW-Authenticate", "Bearer");
        }
        let repo = req.path.trim_start_matches("/api/v1/repos/").to_string();
        Response::json(200, &json!({ "repo": repo, "owner": user }))
    }

    fn user(&self, req: &Request) -> Response {
        let hold = self.lock().config.user_hold_ms;
        std::thread::sleep(Duration::from_millis(hold));
        let mut s = self.lock();
        if req.path == "/api/v1/user" && s.config.user_redirect {
            s.stats.user_redirects += 1;
            return Response::new(302, "text/plain; charset=utf-8", "redirecting").with_header(
                "Location",
                &format!("{}{REDIRECTED_USER_PATH}", req.base_url),
            );
        }
        s.stats.user_calls += 1;
        s.stats
            .user_call_tokens
            .push(req.bearer().unwrap_or("").to_string());
        if let Some(status) = s.config.api_status {
            return Response::error(status, "forced", "status forced by the test config");
        }
        match req.bearer().and_then(|t| s.user_of(t)) {
            Some(user) => Response::json(
                200,
                &json!({
                    "id": 1,
                    "login": user,
                    "username": user,
                    "full_name": "",
                    "email": format!("{user}@example.com"),
                    "avatar_url": "",
                }),
            ),
            None => Response::json(401, &json!({ "message": "invalid or missing token" }))
                .with_header("WWW-Authenticate", "Bearer"),
        }
    }

    fn authorize(&self, req: &Request) -> Response {
        let query: HashMap<String, String> = req.query_pairs().into_iter().collect();
        let mut s = self.lock();
        s.stats.authorize_visits += 1;
        s.stats.last_client_id = query.get("client_id").cloned();
        s.stats.last_state = query.get("state").cloned();
        s.stats.last_request_id = query.get("middleman_request_id").cloned();
        let (Some(client_id), Some(state), Some(request_id)) = (
            query.get("client_id"),
            query.get("state").filter(|s| !s.is_empty()),
            query.get("middleman_request_id"),
        ) else {
            return Response::html(
                400,
                "Bad request",
                "state, client_id and middleman_request_id are required.",
            );
        };
        if *client_id != s.config.client_id {
            return Response::html(400, "Unknown client", "This OAuth client is unknown.");
        }
        if !is_request_id(request_id) {
            return Response::html(
                400,
                "Bad request",
                "middleman_request_id must be 64 lowercase hex characters.",
            );
        }
        let decision = if s.config.deny {
            Decision::Denied
        } else {
            let code = random_hex(16);
            crate::util::record_secrets(&[&code]);
            s.codes.insert(
                code.clone(),
                Code {
                    client_id: client_id.clone(),
                    state: state.clone(),
                    used: false,
                },
            );
            Decision::Approved { code }
        };
        let denied = matches!(decision, Decision::Denied);
        s.logins.insert(
            request_id.clone(),
            Login {
                decision,
                delivered: false,
            },
        );
        drop(s);
        self.decided.notify_all();
        if denied {
            Response::html(403, "Login denied", "The login request was denied.")
        } else {
            Response::html(
                200,
                "Login approved",
                "You are logged in. You can close this page.",
            )
        }
    }

    fn middleman(&self, req: &Request) -> Response {
        let form = match req.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let Some(request_id) = form.get("request_id").filter(|r| is_request_id(r)) else {
            return Response::error(
                400,
                "invalid_request",
                "request_id (64 lowercase hex characters) is required",
            );
        };
        let mut s = self.lock();
        s.stats.middleman_polls += 1;
        let hold = Duration::from_millis(s.config.middleman_hold_ms);
        let deadline = Instant::now() + hold;
        loop {
            if let Some(login) = s.logins.get_mut(request_id) {
                if login.delivered {
                    return Response::error(
                        400,
                        "invalid_request",
                        "this login request was already answered",
                    );
                }
                login.delivered = true;
                return match &login.decision {
                    Decision::Approved { code } => Response::json(200, code),
                    Decision::Denied => {
                        Response::error(403, "access_denied", "the user denied the login")
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                s.stats.middleman_timeouts += 1;
                return Response::error(
                    408,
                    "timeout",
                    "the login was not approved in time; ask again",
                );
            }
            s = self
                .decided
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn access_token(&self, req: &Request) -> Response {
        let form = match req.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut s = self.lock();
        s.stats.access_token_requests += 1;
        let (Some(client_id), Some(code), Some(state)) =
            (form.get("client_id"), form.get("code"), form.get("state"))
        else {
            return Response::error(
                400,
                "invalid_request",
                "client_id, code and state are required",
            );
        };
        let Some(entry) = s.codes.get_mut(code) else {
            return Response::error(400, "invalid_grant", "unknown code");
        };
        if entry.used {
            return Response::error(400, "invalid_grant", "the code was already used");
        }
        if entry.client_id != *client_id {
            return Response::error(401, "invalid_client", "client_id differs from the login");
        }
        if entry.state != *state {
            return Response::error(400, "invalid_grant", "state differs from the login");
        }
        entry.used = true;
        let ttl = s.config.token_ttl_s;
        let mut token = s.mint_bearer(ttl, None);
        if let Some(expiry) = &s.config.login_expiry {
            token.expiry = expiry.clone();
        }
        s.stats.tokens_issued += 1;
        Response::json(200, &token)
    }

    fn test_issue(&self, req: &Request) -> Response {
        let mut kind = "app-token".to_string();
        let mut ttl = None;
        let mut user = None;
        for (k, v) in req.query_pairs() {
            match k.as_str() {
                "kind" if v == "app-token" || v == "bearer" => kind = v,
                "ttl_s" => match v.parse::<i64>() {
                    Ok(n) => ttl = Some(n),
                    Err(_) => {
                        return Response::error(400, "invalid_request", "ttl_s must be an integer");
                    }
                },
                "user" if !v.is_empty() => user = Some(v),
                _ => {
                    return Response::error(
                        400,
                        "invalid_request",
                        &format!("unknown or bad query parameter {k:?}"),
                    );
                }
            }
        }
        let mut s = self.lock();
        let token = if kind == "bearer" {
            let ttl = ttl.unwrap_or(s.config.token_ttl_s);
            s.mint_bearer(ttl, user.as_deref())
        } else {
            s.mint_app(user.as_deref())
        };
        Response::json(200, &token)
    }

    fn test_revoke(&self, req: &Request) -> Response {
        let token = if req.body.is_empty() {
            None
        } else {
            match req.json() {
                Ok(v) => match v.get("token").and_then(Value::as_str) {
                    Some(t) => Some(t.to_string()),
                    None => {
                        return Response::error(
                            400,
                            "invalid_request",
                            "the body must be {\"token\": \"...\"} or empty",
                        );
                    }
                },
                Err(r) => return r,
            }
        };
        let n = self.lock().revoke(token.as_deref());
        Response::json(200, &json!({ "revoked": n }))
    }
}

impl Handler for DagsHub {
    fn handle(&self, req: &Request) -> Response {
        if let Some(response) = control_route(self, req) {
            return response;
        }
        let route = |method: &str, f: fn(&Self, &Request) -> Response| route(self, req, method, f);
        match req.path.as_str() {
            "/api/v1/user" | REDIRECTED_USER_PATH => route("GET", Self::user),
            "/login/oauth/authorize" => route("GET", Self::authorize),
            "/login/oauth/middleman" => route("POST", Self::middleman),
            "/login/oauth/access_token" => route("POST", Self::access_token),
            p if p.starts_with("/api/v1/repos/") => route("GET", Self::data),
            "/_test/issue" => route("POST", Self::test_issue),
            "/_test/revoke" => route("POST", Self::test_revoke),
            _ => not_found(req),
        }
    }
}

impl Protocol for DagsHub {
    const NAME: &'static str = "DagsHub";
    type Config = DagsHubConfig;
    type Stats = DagsHubStats;

    fn new(config: DagsHubConfig) -> Self {
        DagsHub {
            inner: Mutex::new(Inner {
                config,
                stats: DagsHubStats::default(),
                tokens: HashMap::new(),
                logins: HashMap::new(),
                codes: HashMap::new(),
            }),
            decided: Condvar::new(),
        }
    }

    fn with_control<R>(&self, f: impl FnOnce(&mut DagsHubConfig, &mut DagsHubStats) -> R) -> R {
        let mut inner = self.lock();
        let inner = &mut *inner;
        f(&mut inner.config, &mut inner.stats)
    }
}

/// A running DagsHub test server on `127.0.0.1`; stops when dropped.
pub type DagsHubServer = Running<DagsHub>;

impl Running<DagsHub> {
    /// A new app token of the configured user (`expiry: never`).
    pub fn issue_app_token(&self) -> String {
        self.state.lock().mint_app(None).access_token
    }

    /// A new app token of `user`.
    pub fn issue_app_token_for(&self, user: &str) -> String {
        self.state.lock().mint_app(Some(user)).access_token
    }

    /// A new OAuth (bearer) token valid for `ttl_s` (negative: already expired).
    pub fn issue_bearer(&self, ttl_s: i64) -> DagsHubToken {
        self.state.lock().mint_bearer(ttl_s, None)
    }

    /// Revokes one token; false if it was unknown or already revoked.
    pub fn revoke(&self, token: &str) -> bool {
        self.state.lock().revoke(Some(token)) == 1
    }

    /// Revokes every token; returns how many were live.
    pub fn revoke_all(&self) -> usize {
        self.state.lock().revoke(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_nanos_matches_known_dates() {
        assert_eq!(rfc3339_nanos(0.0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_nanos(4_071_006_245.5),
            "2099-01-02T03:04:05.500000000Z"
        );
        assert_eq!(
            rfc3339_nanos(951_782_400.0),
            "2000-02-29T00:00:00.000000000Z"
        );
    }
}
