//! A CAVE auth server (middle_auth, as CAVEclient's AuthClient uses it),
//! following CAVE's auth API (as CAVEclient calls it) to the letter: `GET /auth/api/v1/user/cache`
//! (any valid token: the user's record), `GET /auth/api/v1/user/token` (all
//! the user's keys, in plaintext, as middle_auth lists them),
//! `GET /auth/api/v1/user?id=` (user records; admins only in middle_auth,
//! any valid token here), and the browser pages
//! `GET /auth/api/v1/create_token` and `GET /sticky_auth/settings/tokens`
//! (CAVEclient 8.x), which make a new token; older keys keep working
//! (`APIKey.generate` revokes nothing). The info service
//! `GET /info/api/v2/datastack/full/<name>` names a datastack's
//! `local_server` (config `local_server`). Requests authenticate with
//! `Authorization: Bearer` and/or the cookie `middle_auth_token`. Plus a
//! `/_test/` control API.
//!
//! See tests/servers/README.md for the wire-level description.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{Handler, Request, Response};
use crate::running::{ConfigPatch, Protocol, Running, control_route, not_found, route};
use crate::util::random_hex;

/// The API's base path.
pub const API: &str = "/auth/api/v1";

/// The server's behaviour; change it with [`CaveServer::configure`] or
/// `POST /_test/config`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaveConfig {
    /// Id of the user who is logged in to the browser (create_token). Default 42.
    pub user_id: u64,
    /// That user's name. Default "alice".
    pub user: String,
    /// Accept the token from `Authorization: Bearer`. Default true.
    pub accept_bearer: bool,
    /// Accept the token from the cookie `middle_auth_token`. Default true.
    pub accept_cookie: bool,
    /// `/user/token` and `/user/cache` answer this status whatever the
    /// token. Default None.
    pub api_status: Option<u16>,
    /// The `local_server` the info service names for every datastack, any
    /// JSON value (a broken or hostile service may send a number or a path);
    /// None: the info service answers 404. Default None.
    pub local_server: Option<Value>,
}

impl Default for CaveConfig {
    fn default() -> Self {
        CaveConfig {
            user_id: 42,
            user: "alice".into(),
            accept_bearer: true,
            accept_cookie: true,
            api_status: None,
            local_server: None,
        }
    }
}

impl ConfigPatch for CaveConfig {
    /// Applies a JSON object holding any subset of the fields. All or nothing.
    fn apply_json(&mut self, patch: &Value) -> Result<(), String> {
        let obj = patch
            .as_object()
            .ok_or("the config must be a JSON object")?;
        let mut next = self.clone();
        for (key, v) in obj {
            let want = |what: &str| format!("{key}: expected {what}, got {v}");
            match key.as_str() {
                "user_id" => next.user_id = v.as_u64().ok_or_else(|| want("an integer >= 0"))?,
                "user" => {
                    next.user = v
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| want("a non-empty string"))?
                        .to_string()
                }
                "accept_bearer" => {
                    next.accept_bearer = v.as_bool().ok_or_else(|| want("a boolean"))?
                }
                "accept_cookie" => {
                    next.accept_cookie = v.as_bool().ok_or_else(|| want("a boolean"))?
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
                "local_server" => next.local_server = (!v.is_null()).then(|| v.clone()),
                _ => return Err(format!("unknown config key {key:?}")),
            }
        }
        *self = next;
        Ok(())
    }
}

/// Counters, from `GET /_test/stats` or [`CaveServer::stats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaveStats {
    /// `GET /auth/api/v1/user/token` requests.
    pub token_checks: u64,
    /// `GET /auth/api/v1/user` requests.
    pub user_info_calls: u64,
    /// `GET /auth/api/v1/user/cache` requests.
    pub cache_checks: u64,
    /// `GET /info/api/v2/datastack/full/<name>` requests.
    pub info_calls: u64,
    /// API requests that carried `Authorization: Bearer`.
    pub bearer_seen: u64,
    /// API requests that carried the cookie `middle_auth_token`.
    pub cookie_seen: u64,
    /// API requests whose bearer token and cookie differed.
    pub bearer_cookie_mismatches: u64,
    /// Visits of `/auth/api/v1/create_token` (the "browser").
    pub create_token_visits: u64,
    /// Tokens made by visits and `/_test/issue`.
    pub tokens_created: u64,
}

struct TokenInfo {
    id: u64,
    user_id: u64,
    revoked: bool,
}

struct Inner {
    config: CaveConfig,
    stats: CaveStats,
    tokens: HashMap<String, TokenInfo>,
    /// By id: name.
    users: HashMap<u64, String>,
    next_token_id: u64,
}

impl Inner {
    /// A new token for the configured user; with `revoke_previous`, the
    /// user's other tokens stop working (as create_token does).
    fn create(&mut self, revoke_previous: bool) -> String {
        let user_id = self.config.user_id;
        self.users.insert(user_id, self.config.user.clone());
        if revoke_previous {
            for info in self.tokens.values_mut() {
                if info.user_id == user_id {
                    info.revoked = true;
                }
            }
        }
        self.next_token_id += 1;
        let token = random_hex(16);
        crate::util::record_secrets(&[&token]);
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                id: self.next_token_id,
                user_id,
                revoked: false,
            },
        );
        self.stats.tokens_created += 1;
        token
    }

    /// The user id the request authenticates as, counting what it carried.
    fn authenticate(&mut self, req: &Request) -> Option<u64> {
        let bearer = req.bearer().map(str::to_string);
        let cookie = req.header("cookie").and_then(|c| {
            c.split(';').find_map(|part| {
                part.trim()
                    .strip_prefix("middle_auth_token=")
                    .map(str::to_string)
            })
        });
        if bearer.is_some() {
            self.stats.bearer_seen += 1;
        }
        if cookie.is_some() {
            self.stats.cookie_seen += 1;
        }
        if let (Some(b), Some(c)) = (&bearer, &cookie)
            && b != c
        {
            self.stats.bearer_cookie_mismatches += 1;
        }
        let live = |t: &Option<String>, accepted: bool| {
            t.as_ref()
                .filter(|_| accepted)
                .and_then(|t| self.tokens.get(t))
                .filter(|info| !info.revoked)
                .map(|info| info.user_id)
        };
        live(&bearer, self.config.accept_bearer)
            .or_else(|| live(&cookie, self.config.accept_cookie))
    }
}

/// The server's state; its handle is [`CaveServer`].
pub struct Cave {
    inner: Mutex<Inner>,
}

fn unauthorized() -> Response {
    Response::error(401, "unauthorized", "missing, unknown or revoked token")
        .with_header("WWW-Authenticate", "Bearer")
}

impl Cave {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn user_token(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.token_checks += 1;
        let user = s.authenticate(req);
        if let Some(status) = s.config.api_status {
            return Response::error(status, "forced", "status forced by the test config");
        }
        let Some(user_id) = user else {
            return unauthorized();
        };
        let mut records: Vec<(u64, &String)> = s
            .tokens
            .iter()
            .filter(|(_, info)| info.user_id == user_id && !info.revoked)
            .map(|(t, info)| (info.id, t))
            .collect();
        records.sort();
        let list: Vec<Value> = records
            .into_iter()
            .map(|(id, t)| json!({ "id": id, "token": t, "user_id": user_id }))
            .collect();
        Response::json(200, &list)
    }

    /// middle_auth's `/user/cache`: the record of the token's user.
    fn user_cache(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.cache_checks += 1;
        let user = s.authenticate(req);
        if let Some(status) = s.config.api_status {
            return Response::error(status, "forced", "status forced by the test config");
        }
        let Some(user_id) = user else {
            return unauthorized();
        };
        let name = s.users.get(&user_id).cloned().unwrap_or_default();
        Response::json(
            200,
            &json!({
                "id": user_id,
                "name": name,
                "email": format!("{name}@example.com"),
                "admin": false,
                "groups": ["default"],
                "permissions": {},
                "datasets_admin": [],
            }),
        )
    }

    fn datastack_info(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.info_calls += 1;
        if s.authenticate(req).is_none() {
            return unauthorized();
        }
        match &s.config.local_server {
            Some(local) => Response::json(
                200,
                &json!({ "local_server": local, "aligned_volume": { "name": "v1" } }),
            ),
            None => Response::error(404, "not_found", "no such datastack"),
        }
    }

    fn user_info(&self, req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.user_info_calls += 1;
        if s.authenticate(req).is_none() {
            return unauthorized();
        }
        let ids = req
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v);
        let Some(ids) = ids.filter(|v| !v.is_empty()) else {
            return Response::error(400, "invalid_request", "id is required (comma-separated)");
        };
        let mut users = Vec::new();
        for id in ids.split(',') {
            let Ok(id) = id.trim().parse::<u64>() else {
                return Response::error(400, "invalid_request", "id must be integers");
            };
            if let Some(name) = s.users.get(&id) {
                users.push(json!({
                    "id": id,
                    "name": name,
                    "email": format!("{name}@example.com"),
                    "admin": false,
                    "pi": "",
                }));
            }
        }
        Response::json(200, &users)
    }

    /// A browser visit that makes a key; middle_auth's `APIKey.generate`
    /// revokes none of the older ones.
    fn create_token(&self, _req: &Request) -> Response {
        let mut s = self.lock();
        s.stats.create_token_visits += 1;
        let token = s.create(false);
        Response::json(200, &token)
    }

    fn test_revoke(&self, req: &Request) -> Response {
        let wanted = if req.body.is_empty() {
            None
        } else {
            match req
                .json()
                .map(|v| v.get("token").and_then(Value::as_str).map(str::to_string))
            {
                Ok(Some(t)) => Some(t),
                Ok(None) => {
                    return Response::error(
                        400,
                        "invalid_request",
                        "the body must be {\"token\": \"...\"} or empty",
                    );
                }
                Err(r) => return r,
            }
        };
        let mut s = self.lock();
        let mut n = 0;
        for (t, info) in &mut s.tokens {
            if !info.revoked && wanted.as_ref().is_none_or(|w| w == t) {
                info.revoked = true;
                n += 1;
            }
        }
        Response::json(200, &json!({ "revoked": n }))
    }
}

impl Handler for Cave {
    fn handle(&self, req: &Request) -> Response {
        if let Some(response) = control_route(self, req) {
            return response;
        }
        let route = |method: &str, f: fn(&Self, &Request) -> Response| route(self, req, method, f);
        match req.path.as_str() {
            p if p == format!("{API}/user/token") => route("GET", Self::user_token),
            p if p == format!("{API}/user") => route("GET", Self::user_info),
            p if p == format!("{API}/user/cache") => route("GET", Self::user_cache),
            "/sticky_auth/settings/tokens" => route("GET", Self::create_token),
            p if p.starts_with("/info/api/v2/datastack/full/") => {
                route("GET", Self::datastack_info)
            }
            p if p == format!("{API}/create_token") => route("GET", Self::create_token),
            "/_test/issue" => route("POST", |h, _| {
                Response::json(200, &json!({ "token": h.lock().create(false) }))
            }),
            "/_test/revoke" => route("POST", Self::test_revoke),
            _ => not_found(req),
        }
    }
}

impl Protocol for Cave {
    const NAME: &'static str = "Cave";
    type Config = CaveConfig;
    type Stats = CaveStats;

    fn new(config: CaveConfig) -> Self {
        Cave {
            inner: Mutex::new(Inner {
                config,
                stats: CaveStats::default(),
                tokens: HashMap::new(),
                users: HashMap::new(),
                next_token_id: 0,
            }),
        }
    }

    fn with_control<R>(&self, f: impl FnOnce(&mut CaveConfig, &mut CaveStats) -> R) -> R {
        let mut inner = self.lock();
        let inner = &mut *inner;
        f(&mut inner.config, &mut inner.stats)
    }
}

/// A running CAVE test server on `127.0.0.1`; stops when dropped.
pub type CaveServer = Running<Cave>;

impl Running<Cave> {
    /// The per-server file name CAVEclient uses: `127.0.0.1:PORT-cave-secret.json`.
    pub fn server_file_name(&self) -> String {
        format!("127.0.0.1:{}-cave-secret.json", self.port())
    }

    /// A new token (32 lowercase hex) for the configured user; earlier
    /// tokens keep working (unlike a create_token visit).
    pub fn issue_token(&self) -> String {
        self.state.lock().create(false)
    }

    /// Revokes one token; false if it was unknown or already revoked.
    pub fn revoke(&self, token: &str) -> bool {
        let mut s = self.state.lock();
        match s.tokens.get_mut(token) {
            Some(info) if !info.revoked => {
                info.revoked = true;
                true
            }
            _ => false,
        }
    }
}
