//! A JuliaHub / PkgAuthentication.jl server, following PkgAuthentication.jl and JuliaHub.jl to
//! the letter: `/auth/configuration`, the classic challenge flow, the RFC 8628
//! device flow, the TOML refresh endpoint with rotating single-use refresh
//! tokens, and JuliaHub's `/api/v1`. Plus a `/_test/` control API.
//!
//! See tests/servers/README.md for the wire-level description.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{Handler, Request, Response};
use crate::running::{ConfigPatch, Protocol, Running, control_route, not_found, route};
use crate::util::{base64url, http_date, now_unix, random_from, random_hex};

/// Every path under this one is the refresh endpoint.
pub const REFRESH_PREFIX: &str = "/auth/renew/token.toml";
/// `refresh_url` path of tokens from the classic flow and `/_test/issue` in classic mode.
pub const CLASSIC_REFRESH_PATH: &str = "/auth/renew/token.toml/v2/";
/// `refresh_url` path of tokens from the device flow (`device_token_refresh_url`).
pub const DEVICE_REFRESH_PATH: &str = "/auth/renew/token.toml/device/";
/// The RFC 8628 grant type.
pub const DEVICE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// A device-token poll that arrives this much earlier than the current
/// interval is still accepted (timer and scheduling jitter).
pub const POLL_TOLERANCE_MS: u64 = 250;
/// What RFC 8628 (and the spec) adds to the interval on every `slow_down`.
pub const SLOW_DOWN_STEP_S: u64 = 5;

/// Characters of a device `user_code` (RFC 8628 §6.1: no vowels, no look-alikes).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Which login flow `/auth/configuration` advertises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flow {
    /// `/auth/configuration` answers 501: clients use the challenge flow.
    Classic,
    /// `/auth/configuration` advertises the device flow.
    Device,
}

/// The server's behaviour; change it with [`JuliaHubServer::configure`] or
/// `POST /_test/config`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JuliaHubConfig {
    /// Default [`Flow::Device`].
    pub flow: Flow,
    /// `expires_in` of every minted token. Default 3600.
    pub token_ttl_s: i64,
    /// `interval` of new device logins. Default 1.
    pub device_interval_s: u64,
    /// Lifetime of new device logins and classic challenges. Default 300.
    pub device_expires_in_s: u64,
    /// Answer `slow_down` to the first N token polls of each device login. Default 0.
    pub slow_down_polls: u32,
    /// The "user" refuses every login (browser visit or auto-approval). Default false.
    pub deny: bool,
    /// A login is decided on its first poll, with no browser visit. Default false.
    pub auto_approve: bool,
    /// Every refresh is answered 401. Default false.
    pub refresh_fails: bool,
    /// The next N refreshes rotate the refresh token as usual, but the reply
    /// is lost: a proxy answers `lost_refresh_status` instead (as when a
    /// gateway times out after the server acted). Default 0.
    pub lost_refreshes: u32,
    /// The status of a lost refresh reply. Default 502.
    pub lost_refresh_status: u16,
    /// A refresh is answered this many milliseconds after the server
    /// rotated the token (a slow gateway). Default 0.
    pub refresh_reply_delay_ms: u64,
    /// `/api/v1` answers this status whatever the token. Default None.
    pub api_status: Option<u16>,
    /// `user_name` of new logins. Default "alice".
    pub user: String,
    /// `user_email` of new logins; None → `<user>@example.com`.
    pub email: Option<String>,
    /// How far the server's clock (its `Date` header) is ahead of the real
    /// one, in seconds; negative = behind. Default 0.
    pub clock_skew_s: i64,
    /// Pending device polls are answered with this status (400 or 401) and
    /// a plain-text body, as PkgAuthentication.jl allows (it treats any 400
    /// or 401 as pending). None (default): RFC 8628's JSON
    /// `authorization_pending`.
    pub plain_pending: Option<u16>,
    /// The base URL (`scheme://host:port`) of the `refresh_url` of new
    /// logins and of `device_token_refresh_url`; None (default): the
    /// server's own. [`JuliaHubServer::serve_refresh_on`] opens a listener on
    /// another loopback host and sets it.
    pub refresh_base: Option<String>,
    /// JuliaHub before 6.2: `/api/v1` answers 404; `POST /v1/graphql`
    /// (the user) and `GET /app/config/nodespecs/info` (the check) serve
    /// instead. Default false.
    pub legacy_api: bool,
    /// With `legacy_api`: `/v1/graphql` answers 404 too, leaving only
    /// nodespecs. Default false.
    pub no_graphql: bool,
    /// `/api/v1`'s 200 carries `api_version`. Default true.
    pub api_version: bool,
    /// Fields left out of refresh replies, e.g. `["id_token"]`: the reply
    /// PkgAuthentication and Pkg accept with an `access_token` alone
    /// (PkgAuthentication.jl:394-396). Default none.
    pub refresh_omits: Vec<String>,
    /// A refresh moves the login's refresh endpoint to this path (under
    /// [`REFRESH_PREFIX`]): the reply's `refresh_url` names it, and the old
    /// path is refused from then on. None (default): it stays.
    pub refresh_moves_to: Option<String>,
    /// `/auth/configuration` names this `device_token_refresh_url`, as
    /// written (blank, relative, plain http...); device logins still refresh
    /// at the usual path. None (default): the usual URL.
    pub device_refresh_url: Option<String>,
    /// How far the clock that writes `expires_at` (in token replies and
    /// `/_test/issue`) is ahead of the real one, in seconds; negative =
    /// behind. `expires_in` and the real validity are not affected. Default 0.
    pub expires_at_skew_s: i64,
}

impl Default for JuliaHubConfig {
    fn default() -> Self {
        JuliaHubConfig {
            flow: Flow::Device,
            token_ttl_s: 3600,
            device_interval_s: 1,
            device_expires_in_s: 300,
            slow_down_polls: 0,
            deny: false,
            auto_approve: false,
            refresh_fails: false,
            lost_refreshes: 0,
            lost_refresh_status: 502,
            refresh_reply_delay_ms: 0,
            api_status: None,
            user: "alice".into(),
            email: None,
            clock_skew_s: 0,
            plain_pending: None,
            refresh_base: None,
            legacy_api: false,
            no_graphql: false,
            api_version: true,
            refresh_omits: Vec::new(),
            refresh_moves_to: None,
            device_refresh_url: None,
            expires_at_skew_s: 0,
        }
    }
}

impl JuliaHubConfig {
    /// The `user_email` new logins get.
    pub fn user_email(&self) -> String {
        self.email
            .clone()
            .unwrap_or_else(|| format!("{}@example.com", self.user))
    }
}

impl ConfigPatch for JuliaHubConfig {
    /// Applies a JSON object holding any subset of the fields (the body of
    /// `POST /_test/config`). All or nothing: on error nothing changes.
    fn apply_json(&mut self, patch: &Value) -> Result<(), String> {
        let obj = patch
            .as_object()
            .ok_or("the config must be a JSON object")?;
        let mut next = self.clone();
        for (key, v) in obj {
            let want = |what: &str| format!("{key}: expected {what}, got {v}");
            match key.as_str() {
                "flow" => {
                    next.flow = match v.as_str() {
                        Some("classic") => Flow::Classic,
                        Some("device") => Flow::Device,
                        _ => return Err(want("\"classic\" or \"device\"")),
                    }
                }
                "token_ttl_s" => next.token_ttl_s = v.as_i64().ok_or_else(|| want("an integer"))?,
                "clock_skew_s" => {
                    next.clock_skew_s = v.as_i64().ok_or_else(|| want("an integer"))?
                }
                "device_interval_s" => {
                    next.device_interval_s = v.as_u64().ok_or_else(|| want("an integer >= 0"))?
                }
                "device_expires_in_s" => {
                    next.device_expires_in_s = v.as_u64().ok_or_else(|| want("an integer >= 0"))?
                }
                "slow_down_polls" => {
                    next.slow_down_polls = v
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| want("an integer >= 0"))?
                }
                "deny" => next.deny = v.as_bool().ok_or_else(|| want("a boolean"))?,
                "auto_approve" => {
                    next.auto_approve = v.as_bool().ok_or_else(|| want("a boolean"))?
                }
                "refresh_fails" => {
                    next.refresh_fails = v.as_bool().ok_or_else(|| want("a boolean"))?
                }
                "lost_refreshes" => {
                    next.lost_refreshes = v
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| want("an integer >= 0"))?
                }
                "refresh_reply_delay_ms" => {
                    next.refresh_reply_delay_ms =
                        v.as_u64().ok_or_else(|| want("an integer >= 0"))?
                }
                "lost_refresh_status" => {
                    next.lost_refresh_status = v
                        .as_u64()
                        .filter(|s| (100..=599).contains(s))
                        .map(|s| s as u16)
                        .ok_or_else(|| want("an HTTP status"))?
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
                "user" => {
                    next.user = v
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| want("a non-empty string"))?
                        .to_string()
                }
                "email" => {
                    next.email = if v.is_null() {
                        None
                    } else {
                        Some(
                            v.as_str()
                                .ok_or_else(|| want("a string or null"))?
                                .to_string(),
                        )
                    }
                }
                "plain_pending" => {
                    next.plain_pending = if v.is_null() {
                        None
                    } else {
                        Some(
                            v.as_u64()
                                .filter(|s| matches!(s, 400 | 401))
                                .map(|s| s as u16)
                                .ok_or_else(|| want("400, 401 or null"))?,
                        )
                    }
                }
                "refresh_base" => {
                    next.refresh_base = if v.is_null() {
                        None
                    } else {
                        Some(
                            v.as_str()
                                .filter(|s| s.starts_with("http"))
                                .ok_or_else(|| want("a base URL or null"))?
                                .trim_end_matches('/')
                                .to_string(),
                        )
                    }
                }
                "legacy_api" => next.legacy_api = v.as_bool().ok_or_else(|| want("a boolean"))?,
                "no_graphql" => next.no_graphql = v.as_bool().ok_or_else(|| want("a boolean"))?,
                "api_version" => next.api_version = v.as_bool().ok_or_else(|| want("a boolean"))?,
                "refresh_omits" => {
                    next.refresh_omits = v
                        .as_array()
                        .and_then(|fields| {
                            fields
                                .iter()
                                .map(|f| f.as_str().map(str::to_string))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| want("an array of field names"))?
                }
                "refresh_moves_to" => {
                    next.refresh_moves_to = if v.is_null() {
                        None
                    } else {
                        Some(
                            v.as_str()
                                .filter(|p| p.starts_with(&format!("{REFRESH_PREFIX}/")))
                                .ok_or_else(|| want("a path under the refresh prefix or null"))?
                                .to_string(),
                        )
                    }
                }
                "device_refresh_url" => {
                    next.device_refresh_url = if v.is_null() {
                        None
                    } else {
                        Some(
                            v.as_str()
                                .ok_or_else(|| want("a string or null"))?
                                .to_string(),
                        )
                    }
                }
                "expires_at_skew_s" => {
                    next.expires_at_skew_s = v.as_i64().ok_or_else(|| want("an integer"))?
                }
                _ => return Err(format!("unknown config key {key:?}")),
            }
        }
        *self = next;
        Ok(())
    }
}

/// Counters and timings, from `GET /_test/stats` or [`JuliaHubServer::stats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JuliaHubStats {
    /// `GET /auth/configuration` requests.
    pub configuration_requests: u64,
    /// `POST /auth/challenge` requests that opened a login.
    pub challenges: u64,
    /// `POST /auth/claimtoken` requests.
    pub claim_polls: u64,
    /// Milliseconds between successive claim polls of the same login.
    pub claim_poll_intervals_ms: Vec<u64>,
    /// Tokens handed out by `/auth/claimtoken`.
    pub tokens_claimed: u64,
    /// `POST /auth/device/code` requests that opened a login.
    pub device_code_requests: u64,
    /// `client_id` and `scope` of the last device code request.
    pub last_device_client_id: Option<String>,
    pub last_device_scope: Option<String>,
    /// `POST /auth/token` requests.
    pub device_token_polls: u64,
    /// When each device token poll arrived, in ms since the server started.
    pub device_poll_instants_ms: Vec<u64>,
    /// Milliseconds between successive token polls of the same device login.
    pub device_poll_intervals_ms: Vec<u64>,
    /// Milliseconds from a device code's issue to its first token poll.
    pub device_first_poll_delays_ms: Vec<u64>,
    /// `slow_down` answers sent (forced by `slow_down_polls` or for polling too fast).
    pub slow_downs_sent: u64,
    /// `slow_down` answers sent because the client polled faster than the interval.
    pub too_fast_polls: u64,
    /// Tokens handed out by `/auth/token`.
    pub device_tokens_issued: u64,
    /// Successful refreshes.
    pub refreshes: u64,
    /// Refresh requests answered with an error (any reason, reuse included).
    pub refresh_rejections: u64,
    /// Refreshes with an already-used refresh token (each revoked a family).
    pub refresh_reuse_detected: u64,
    /// Refreshes that rotated the token but whose reply was lost.
    pub refresh_replies_lost: u64,
    /// `GET /api/v1` requests.
    pub api_v1_calls: u64,
    /// `POST /v1/graphql` requests (legacy user query).
    pub graphql_calls: u64,
    /// `GET /app/config/nodespecs/info` requests (legacy check).
    pub nodespecs_calls: u64,
    /// Visits of `/auth/response?...` and `/auth/device...` (the "browser").
    pub browser_visits: u64,
    /// Logins minted by `/_test/issue`.
    pub test_issued: u64,
}

/// One token set, with the fields a JuliaHub `auth.toml` holds (in that order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JuliaHubToken {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
    pub refresh_url: String,
    pub expires_at: i64,
    pub expires_in: i64,
    pub user_name: String,
    pub user_email: String,
}

impl JuliaHubToken {
    /// The token as `auth.toml` text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("serialising a token to TOML")
    }
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Approval {
    Pending,
    Approved,
    Denied,
}

/// All tokens of one login, through all its refreshes.
struct Family {
    user_name: String,
    user_email: String,
    refresh_url: String,
    revoked: bool,
}

struct IssuedToken {
    family: usize,
    /// Unix seconds; the advertised `expires_at` is `floor` of the issue time
    /// plus the ttl, so the server never rejects a token a client thinks valid.
    valid_until: f64,
}

struct RefreshToken {
    family: usize,
    used: bool,
}

struct ClassicLogin {
    response: String,
    expiry: i64,
    deadline: Instant,
    approval: Approval,
    last_poll: Option<Instant>,
}

struct DeviceLogin {
    client_id: String,
    user_code: String,
    issued: Instant,
    deadline: Instant,
    interval_ms: u64,
    polls: u32,
    last_poll: Option<Instant>,
    approval: Approval,
}

struct Inner {
    config: JuliaHubConfig,
    stats: JuliaHubStats,
    /// By challenge.
    classic: HashMap<String, ClassicLogin>,
    /// By device_code.
    device: HashMap<String, DeviceLogin>,
    families: Vec<Family>,
    id_tokens: HashMap<String, IssuedToken>,
    access_tokens: HashMap<String, IssuedToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
}

/// The server's state; its handle is [`JuliaHubServer`].
pub struct JuliaHub {
    started: Instant,
    inner: Mutex<Inner>,
}

/// The path of an absolute URL (`/` when it has none).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("/", |i| &rest[i..])
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn fake_jwt(user: &str, email: &str, iat: f64, exp: i64) -> String {
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = json!({
        "sub": user,
        "name": user,
        "email": email,
        "iat": iat.floor() as i64,
        "exp": exp,
        "jti": random_hex(8),
    });
    let mut sig = [0u8; 32];
    crate::util::random_bytes(&mut sig);
    format!(
        "{header}.{}.{}",
        base64url(payload.to_string().as_bytes()),
        base64url(&sig)
    )
}

impl Inner {
    fn new_family(&mut self, refresh_url: String, user: Option<&str>) -> usize {
        let (user_name, user_email) = match user {
            Some(u) => (u.to_string(), format!("{u}@example.com")),
            None => (self.config.user.clone(), self.config.user_email()),
        };
        self.families.push(Family {
            user_name,
            user_email,
            refresh_url,
            revoked: false,
        });
        self.families.len() - 1
    }

    fn mint(&mut self, family: usize, ttl_s: i64) -> JuliaHubToken {
        let now = now_unix();
        let expires_at = now.floor() as i64 + ttl_s;
        let valid_until = now + ttl_s as f64;
        let f = &self.families[family];
        let token = JuliaHubToken {
            access_token: random_hex(20),
            id_token: fake_jwt(&f.user_name, &f.user_email, now, expires_at),
            refresh_token: random_hex(20),
            refresh_url: f.refresh_url.clone(),
            expires_at: expires_at + self.config.expires_at_skew_s,
            expires_in: ttl_s,
            user_name: f.user_name.clone(),
            user_email: f.user_email.clone(),
        };
        self.id_tokens.insert(
            token.id_token.clone(),
            IssuedToken {
                family,
                valid_until,
            },
        );
        self.access_tokens.insert(
            token.access_token.clone(),
            IssuedToken {
                family,
                valid_until,
            },
        );
        self.refresh_tokens.insert(
            token.refresh_token.clone(),
            RefreshToken {
                family,
                used: false,
            },
        );
        crate::util::record_secrets(&[&token.access_token, &token.id_token, &token.refresh_token]);
        token
    }

    /// The base of refresh URLs: `refresh_base`, else the server's `base`.
    fn refresh_base(&self, base: &str) -> String {
        self.config
            .refresh_base
            .clone()
            .unwrap_or_else(|| base.to_string())
    }

    fn issue(&mut self, base: &str, ttl_s: i64, user: Option<&str>) -> JuliaHubToken {
        let path = match self.config.flow {
            Flow::Classic => CLASSIC_REFRESH_PATH,
            Flow::Device => DEVICE_REFRESH_PATH,
        };
        let base = self.refresh_base(base);
        let family = self.new_family(format!("{base}{path}"), user);
        self.stats.test_issued += 1;
        self.mint(family, ttl_s)
    }

    fn revoke_all(&mut self) -> usize {
        let mut n = 0;
        for f in &mut self.families {
            if !f.revoked {
                f.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// The decision of a pending login when it is polled (auto_approve).
    fn decide_on_poll(&self, approval: Approval) -> Approval {
        match approval {
            Approval::Pending if self.config.auto_approve => {
                if self.config.deny {
                    Approval::Denied
                } else {
                    Approval::Approved
                }
            }
            other => other,
        }
    }

    fn visit_decision(&self) -> Approval {
        if self.config.deny {
            Approval::Denied
        } else {
            Approval::Approved
        }
    }
}

fn visit_page(decision: Approval) -> Response {
    match decision {
        Approval::Denied => Response::html(403, "Login denied", "The login request was denied."),
        _ => Response::html(
            200,
            "Login approved",
            "You are logged in. You can close this page.",
        ),
    }
}

impl JuliaHub {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn since_start_ms(&self, t: Instant) -> u64 {
        ms(t.duration_since(self.started))
    }

    fn configuration(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.configuration_requests += 1;
        if s.config.flow == Flow::Classic {
            return Response::error(
                501,
                "not_implemented",
                "this server offers only the classic flow",
            );
        }
        let accepts_json = req
            .header("accept")
            .is_some_and(|a| a.to_ascii_lowercase().contains("application/json"));
        if !accepts_json {
            return Response::error(
                406,
                "invalid_request",
                "send Accept: application/json to read the auth configuration",
            );
        }
        let base = &req.base_url;
        let refresh_url = s
            .config
            .device_refresh_url
            .clone()
            .unwrap_or_else(|| format!("{}{DEVICE_REFRESH_PATH}", s.refresh_base(base)));
        Response::json(
            200,
            &json!({
                "auth_flows": ["classic", "device"],
                "device_authorization_endpoint": format!("{base}/auth/device/code"),
                "device_token_endpoint": format!("{base}/auth/token"),
                "device_token_refresh_url": refresh_url,
                "device_token_scope": "openid offline_access",
            }),
        )
    }

    fn challenge(&self, req: &Request) -> Response {
        let challenge = match req.text() {
            Ok(t) => t.to_string(),
            Err(r) => return r,
        };
        if challenge.len() != 32 || !challenge.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Response::error(
                400,
                "invalid_request",
                "the body must be the 32-character challenge (ASCII letters and digits)",
            );
        }
        let mut s = self.lock();
        s.stats.challenges += 1;
        let response = random_hex(16);
        let lifetime = s.config.device_expires_in_s;
        s.classic.insert(
            challenge,
            ClassicLogin {
                response: response.clone(),
                expiry: now_unix().floor() as i64 + lifetime as i64,
                deadline: Instant::now() + Duration::from_secs(lifetime),
                approval: Approval::Pending,
                last_poll: None,
            },
        );
        Response::text(200, response)
    }

    fn response_visit(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.browser_visits += 1;
        let Some(response) = req.query.as_deref().filter(|q| !q.is_empty()) else {
            return Response::html(400, "Bad request", "Missing the login response.");
        };
        let decision = s.visit_decision();
        let Some(login) = s.classic.values_mut().find(|l| l.response == response) else {
            return Response::html(404, "Unknown login", "This login request is unknown.");
        };
        if Instant::now() >= login.deadline {
            return Response::html(410, "Login expired", "This login request has expired.");
        }
        login.approval = decision;
        visit_page(decision)
    }

    fn claimtoken(&self, req: &Request) -> Response {
        let body = match req.json() {
            Ok(v) => v,
            Err(r) => return r,
        };
        let (Some(challenge), Some(response)) = (
            body.get("challenge").and_then(Value::as_str),
            body.get("response").and_then(Value::as_str),
        ) else {
            return Response::error(
                400,
                "invalid_request",
                "the body must be JSON {\"challenge\": \"...\", \"response\": \"...\"}",
            );
        };
        let now = Instant::now();
        let mut s = self.lock();
        s.stats.claim_polls += 1;
        let Some(login) = s.classic.get(challenge).filter(|l| l.response == response) else {
            return Response::error(404, "invalid_grant", "unknown challenge/response pair");
        };
        let last_poll = login.last_poll;
        let deadline = login.deadline;
        let decision = s.decide_on_poll(login.approval);
        if let Some(prev) = last_poll {
            s.stats
                .claim_poll_intervals_ms
                .push(ms(now.duration_since(prev)));
        }
        let login = s.classic.get_mut(challenge).expect("login present");
        login.last_poll = Some(now);
        login.approval = decision;
        let expiry = login.expiry;
        if now >= deadline {
            s.classic.remove(challenge);
            return Response::error(400, "expired_token", "the login request has expired");
        }
        match decision {
            Approval::Pending => Response::json(200, &json!({ "expiry": expiry })),
            Approval::Denied => {
                s.classic.remove(challenge);
                Response::error(403, "access_denied", "the user denied the login")
            }
            Approval::Approved => {
                s.classic.remove(challenge);
                let base = s.refresh_base(&req.base_url);
                let family = s.new_family(format!("{base}{CLASSIC_REFRESH_PATH}"), None);
                let ttl = s.config.token_ttl_s;
                let token = s.mint(family, ttl);
                s.stats.tokens_claimed += 1;
                let mut value = serde_json::to_value(&token).expect("token to JSON");
                value["token_type"] = json!("Bearer");
                Response::json(200, &json!({ "token": value }))
            }
        }
    }

    fn device_code(&self, req: &Request) -> Response {
        let form = match req.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let Some(client_id) = form.get("client_id").filter(|c| !c.is_empty()) else {
            return Response::error(400, "invalid_request", "client_id is required");
        };
        let mut s = self.lock();
        s.stats.device_code_requests += 1;
        s.stats.last_device_client_id = Some(client_id.clone());
        s.stats.last_device_scope = form.get("scope").cloned();
        let device_code = random_hex(20);
        let raw = random_from(USER_CODE_ALPHABET, 8);
        let user_code = format!("{}-{}", &raw[..4], &raw[4..]);
        let interval = s.config.device_interval_s;
        let expires_in = s.config.device_expires_in_s;
        let now = Instant::now();
        s.device.insert(
            device_code.clone(),
            DeviceLogin {
                client_id: client_id.clone(),
                user_code: user_code.clone(),
                issued: now,
                deadline: now + Duration::from_secs(expires_in),
                interval_ms: interval * 1000,
                polls: 0,
                last_poll: None,
                approval: Approval::Pending,
            },
        );
        let base = &req.base_url;
        Response::json(
            200,
            &json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": format!("{base}/auth/device"),
                "verification_uri_complete": format!("{base}/auth/device?user_code={user_code}"),
                "expires_in": expires_in,
                "interval": interval,
            }),
        )
    }

    fn device_visit(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.browser_visits += 1;
        let code = req
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k == "user_code")
            .map(|(_, v)| v);
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            return Response::new(
                200,
                "text/html; charset=utf-8",
                "<!DOCTYPE html>\n<html><head><title>Device login</title></head><body>\
                 <form method=\"get\" action=\"/auth/device\">Code: \
                 <input name=\"user_code\"><button>Continue</button></form></body></html>\n",
            );
        };
        let norm = |c: &str| c.replace('-', "").to_ascii_uppercase();
        let wanted = norm(&code);
        let decision = s.visit_decision();
        let Some(login) = s.device.values_mut().find(|l| norm(&l.user_code) == wanted) else {
            return Response::html(404, "Unknown code", "This code is unknown.");
        };
        if Instant::now() >= login.deadline {
            return Response::html(410, "Code expired", "This code has expired.");
        }
        login.approval = decision;
        visit_page(decision)
    }

    fn device_token(&self, req: &Request) -> Response {
        let form = match req.form() {
            Ok(f) => f,
            Err(r) => return r,
        };
        let now = Instant::now();
        let mut s = self.lock();
        s.stats.device_token_polls += 1;
        let at = self.since_start_ms(now);
        s.stats.device_poll_instants_ms.push(at);

        match form.get("grant_type").map(String::as_str) {
            Some(DEVICE_GRANT_TYPE) => {}
            Some(other) => {
                return Response::error(
                    400,
                    "unsupported_grant_type",
                    &format!("grant_type {other:?} is not supported here"),
                );
            }
            None => return Response::error(400, "invalid_request", "grant_type is required"),
        }
        let (Some(device_code), Some(client_id)) = (form.get("device_code"), form.get("client_id"))
        else {
            return Response::error(
                400,
                "invalid_request",
                "device_code and client_id are required",
            );
        };
        let Some(login) = s.device.get(device_code) else {
            return Response::error(400, "invalid_grant", "unknown device_code");
        };
        if &login.client_id != client_id {
            return Response::error(
                401,
                "invalid_client",
                "client_id differs from the device code request",
            );
        }
        let (issued, last_poll, deadline, polls, interval_ms) = (
            login.issued,
            login.last_poll,
            login.deadline,
            login.polls + 1,
            login.interval_ms,
        );
        let decision = s.decide_on_poll(login.approval);
        match last_poll {
            Some(prev) => s
                .stats
                .device_poll_intervals_ms
                .push(ms(now.duration_since(prev))),
            None => s
                .stats
                .device_first_poll_delays_ms
                .push(ms(now.duration_since(issued))),
        }

        if now >= deadline {
            s.device.remove(device_code);
            return Response::error(400, "expired_token", "the device code has expired");
        }
        let forced = polls <= s.config.slow_down_polls;
        let too_fast = last_poll
            .is_some_and(|prev| ms(now.duration_since(prev)) + POLL_TOLERANCE_MS < interval_ms);
        let login = s.device.get_mut(device_code).expect("login present");
        login.polls = polls;
        login.last_poll = Some(now);
        if forced || too_fast {
            login.interval_ms += SLOW_DOWN_STEP_S * 1000;
            s.stats.slow_downs_sent += 1;
            if too_fast {
                s.stats.too_fast_polls += 1;
            }
            return Response::error(400, "slow_down", "poll less often (interval + 5 s)");
        }
        login.approval = decision;
        match decision {
            Approval::Pending => match s.config.plain_pending {
                Some(status) => Response::new(
                    status,
                    "text/plain; charset=utf-8",
                    "authorization pending\n",
                ),
                None => Response::error(
                    400,
                    "authorization_pending",
                    "the user has not yet approved the login",
                ),
            },
            Approval::Denied => {
                s.device.remove(device_code);
                Response::error(400, "access_denied", "the user denied the login")
            }
            Approval::Approved => {
                s.device.remove(device_code);
                let base = s.refresh_base(&req.base_url);
                let family = s.new_family(format!("{base}{DEVICE_REFRESH_PATH}"), None);
                let ttl = s.config.token_ttl_s;
                let token = s.mint(family, ttl);
                s.stats.device_tokens_issued += 1;
                Response::json(
                    200,
                    &json!({
                        "access_token": token.access_token,
                        "id_token": token.id_token,
                        "refresh_token": token.refresh_token,
                        "expires_in": token.expires_in,
                        "token_type": "Bearer",
                    }),
                )
            }
        }
    }

    fn refresh(&self, req: &Request) -> Response {
        let mut s = self.lock();
        let reject = |s: &mut Inner, code: &str, description: &str| {
            s.stats.refresh_rejections += 1;
            Response::error(401, code, description)
                .with_header("WWW-Authenticate", "Bearer error=\"invalid_token\"")
        };
        if s.config.refresh_fails {
            return reject(&mut s, "invalid_grant", "refresh is failing (test config)");
        }
        let Some(refresh_token) = req.bearer() else {
            return reject(
                &mut s,
                "invalid_request",
                "send Authorization: Bearer <refresh_token>",
            );
        };
        let Some(rt) = s.refresh_tokens.get(refresh_token) else {
            return reject(&mut s, "invalid_grant", "unknown refresh token");
        };
        let (family, used) = (rt.family, rt.used);
        if s.families[family].revoked {
            return reject(&mut s, "invalid_grant", "the refresh token was revoked");
        }
        if used {
            s.families[family].revoked = true;
            s.stats.refresh_reuse_detected += 1;
            return reject(
                &mut s,
                "invalid_grant",
                "refresh token reused: every token of this login is revoked",
            );
        }
        let expected_path = url_path(&s.families[family].refresh_url).to_string();
        if req.path != expected_path {
            s.stats.refresh_rejections += 1;
            return Response::error(
                400,
                "invalid_request",
                &format!(
                    "this refresh token belongs to refresh_url path {expected_path}, not {}",
                    req.path
                ),
            );
        }
        s.refresh_tokens
            .get_mut(refresh_token)
            .expect("refresh token present")
            .used = true;
        if let Some(path) = s.config.refresh_moves_to.clone() {
            let base = s.refresh_base(&req.base_url);
            s.families[family].refresh_url = format!("{base}{path}");
        }
        let ttl = s.config.token_ttl_s;
        let token = s.mint(family, ttl);
        s.stats.refreshes += 1;
        if s.config.lost_refreshes > 0 {
            s.config.lost_refreshes -= 1;
            s.stats.refresh_replies_lost += 1;
            let status = s.config.lost_refresh_status;
            return Response::new(status, "text/html", "<html>Bad Gateway</html>");
        }
        let mut reply: toml::Table = toml::Table::try_from(&token).expect("token to TOML");
        for field in &s.config.refresh_omits {
            reply.remove(field);
        }
        let delay = s.config.refresh_reply_delay_ms;
        drop(s);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        Response::new(200, "application/toml", reply.to_string())
    }

    /// The user of a live id_token sent as bearer.
    fn known_user(s: &Inner, req: &Request) -> Option<String> {
        req.bearer().and_then(|t| s.id_tokens.get(t)).and_then(|t| {
            let f = &s.families[t.family];
            (!f.revoked && now_unix() < t.valid_until).then(|| f.user_name.clone())
        })
    }

    fn api_v1(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.api_v1_calls += 1;
        if s.config.legacy_api {
            return not_found(req);
        }
        let known = Self::known_user(&s, req);
        let info = |user: &str| {
            if s.config.api_version {
                json!({ "api_version": "0.0.1", "username": user })
            } else {
                json!({ "username": user })
            }
        };
        match (s.config.api_status, known) {
            (Some(200), _) => Response::json(200, &info(&s.config.user)),
            (Some(status), _) => {
                Response::error(status, "forced", "status forced by the test config")
            }
            (None, Some(user)) => Response::json(200, &info(&user)),
            (None, None) => Response::error(
                401,
                "invalid_token",
                "missing, unknown, expired or revoked id_token",
            )
            .with_header("WWW-Authenticate", "Bearer error=\"invalid_token\""),
        }
    }

    /// JuliaHub before 6.2: the Hasura GraphQL user query JuliaHub.jl sends
    /// (`X-Hasura-Role: jhuser`); the reply lists the token's user.
    fn graphql(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.graphql_calls += 1;
        if !s.config.legacy_api || s.config.no_graphql {
            return not_found(req);
        }
        if req.header("x-hasura-role") != Some("jhuser") {
            return Response::error(400, "invalid_request", "X-Hasura-Role: jhuser is required");
        }
        match Self::known_user(&s, req) {
            Some(user) => Response::json(
                200,
                &json!({ "data": { "users": [{
                    "id": 1, "name": user, "username": user, "firstname": user,
                    "info": [{ "email": format!("{user}@example.com"), "features": [] }],
                }] } }),
            ),
            None => Response::error(401, "invalid_token", "unknown or expired token"),
        }
    }

    /// JuliaHub before 6.2: what JuliaHub.jl's check asks instead of `/api/v1`.
    fn nodespecs(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.nodespecs_calls += 1;
        if !s.config.legacy_api {
            return not_found(req);
        }
        match Self::known_user(&s, req) {
            Some(_) => Response::json(
                200,
                &json!({ "success": true, "node_specs": [["cpu", 2, 8.0, 0, 0.1, "m6", 1.0, true]] }),
            ),
            None => Response::error(401, "invalid_token", "unknown or expired token"),
        }
    }

    fn test_issue(&self, req: &Request) -> Response {
        let mut ttl = None;
        let mut user = None;
        for (k, v) in req.query_pairs() {
            match k.as_str() {
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
                        &format!("unknown or empty query parameter {k:?}"),
                    );
                }
            }
        }
        let mut s = self.lock();
        let ttl = ttl.unwrap_or(s.config.token_ttl_s);
        let token = s.issue(&req.base_url, ttl, user.as_deref());
        Response::new(200, "application/toml", token.to_toml())
    }
}

impl Handler for JuliaHub {
    fn handle(&self, req: &Request) -> Response {
        let response = self.answer(req);
        match self.lock().config.clock_skew_s {
            0 => response,
            skew => response.with_header("Date", &http_date(now_unix() as i64 + skew)),
        }
    }
}

impl JuliaHub {
    fn answer(&self, req: &Request) -> Response {
        if let Some(response) = control_route(self, req) {
            return response;
        }
        let route = |method: &str, f: fn(&Self, &Request) -> Response| route(self, req, method, f);
        match req.path.as_str() {
            "/auth/configuration" => route("GET", Self::configuration),
            "/auth/challenge" => route("POST", Self::challenge),
            "/auth/response" => route("GET", Self::response_visit),
            "/auth/claimtoken" => route("POST", Self::claimtoken),
            "/auth/device/code" => route("POST", Self::device_code),
            "/auth/device" => route("GET", Self::device_visit),
            "/auth/token" => route("POST", Self::device_token),
            p if p == REFRESH_PREFIX || p.starts_with(&format!("{REFRESH_PREFIX}/")) => {
                route("GET", Self::refresh)
            }
            "/api/v1" => route("GET", Self::api_v1),
            "/v1/graphql" => route("POST", Self::graphql),
            "/app/config/nodespecs/info" => route("GET", Self::nodespecs),
            "/_test/revoke" => route("POST", |h, _| {
                let n = h.lock().revoke_all();
                Response::json(200, &json!({ "revoked_logins": n }))
            }),
            "/_test/issue" => route("POST", Self::test_issue),
            _ => not_found(req),
        }
    }
}

// ---------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------

impl Protocol for JuliaHub {
    const NAME: &'static str = "JuliaHub";
    type Config = JuliaHubConfig;
    type Stats = JuliaHubStats;

    fn new(config: JuliaHubConfig) -> Self {
        JuliaHub {
            started: Instant::now(),
            inner: Mutex::new(Inner {
                config,
                stats: JuliaHubStats::default(),
                classic: HashMap::new(),
                device: HashMap::new(),
                families: Vec::new(),
                id_tokens: HashMap::new(),
                access_tokens: HashMap::new(),
                refresh_tokens: HashMap::new(),
            }),
        }
    }

    fn with_control<R>(&self, f: impl FnOnce(&mut JuliaHubConfig, &mut JuliaHubStats) -> R) -> R {
        let mut inner = self.lock();
        let inner = &mut *inner;
        f(&mut inner.config, &mut inner.stats)
    }
}

/// A running JuliaHub test server on `127.0.0.1`; stops when dropped.
pub type JuliaHubServer = Running<JuliaHub>;

impl Running<JuliaHub> {
    /// The directory name the spec derives from the URL (`127.0.0.1_PORT`),
    /// as in `<depot>/servers/<dir>/auth.toml`.
    pub fn server_dir_name(&self) -> String {
        format!("127.0.0.1_{}", self.port())
    }

    /// Revokes every token of every login; returns how many logins were live.
    pub fn revoke_all(&self) -> usize {
        self.state.lock().revoke_all()
    }

    /// Mints a login as if approved; `ttl_s` may be negative (already
    /// expired; its refresh token still works).
    pub fn issue_token(&self, ttl_s: i64) -> JuliaHubToken {
        self.state.lock().issue(&self.url(), ttl_s, None)
    }

    /// Like [`issue_token`](Self::issue_token) for another user.
    pub fn issue_token_for(&self, user: &str, ttl_s: i64) -> JuliaHubToken {
        self.state.lock().issue(&self.url(), ttl_s, Some(user))
    }

    /// [`issue_token`](Self::issue_token) as `auth.toml` text.
    pub fn issue_token_toml(&self, ttl_s: i64) -> String {
        self.issue_token(ttl_s).to_toml()
    }

    /// A login as a file without refresh fields (no `refresh_token`, no
    /// `refresh_url`), as JuliaHub.jl accepts it: `id_token`,
    /// `access_token`, `expires` (integer), `user_name`, `user_email`.
    pub fn issue_token_toml_without_refresh(&self, ttl_s: i64) -> String {
        let t = self.issue_token(ttl_s);
        format!(
            "access_token = {:?}\nid_token = {:?}\nexpires = {}\nuser_name = {:?}\nuser_email = {:?}\n",
            t.access_token, t.id_token, t.expires_at, t.user_name, t.user_email
        )
    }

    /// Serves this server on another loopback address too (e.g.
    /// `127.0.0.2`, any free port) and makes new refresh URLs point there,
    /// as a JuliaHub whose refresh endpoint lives on another host. Returns
    /// that base URL. The listener forwards bytes to the server and lives as
    /// long as the process.
    pub fn serve_refresh_on(&self, host: &str) -> std::io::Result<String> {
        let listener = std::net::TcpListener::bind((host, 0))?;
        let base = format!("http://{}", listener.local_addr()?);
        let target = std::net::SocketAddr::from(([127, 0, 0, 1], self.port()));
        std::thread::Builder::new()
            .name("juliahub-refresh-forwarder".into())
            .spawn(move || {
                for client in listener.incoming().flatten() {
                    let Ok(upstream) = std::net::TcpStream::connect(target) else {
                        continue;
                    };
                    forward(client, upstream);
                }
            })?;
        let refresh_base = base.clone();
        self.configure(|c| c.refresh_base = Some(refresh_base));
        Ok(base)
    }
}

/// Copies bytes both ways between two connections until either closes.
fn forward(a: std::net::TcpStream, b: std::net::TcpStream) {
    let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    };
    if let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) {
        pipe(a, b2);
        pipe(b, a2);
    }
}
