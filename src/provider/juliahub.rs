//! `juliahub`: JuliaHub.jl + PkgAuthentication.jl. Pkg's auth.toml, its TOML
//! refresh, the classic and device logins chosen by `/auth/configuration`, and
//! JuliaHub's `/api/v1` for the user and for checks.
//!
//! Facts from the sources (JuliaHub.jl 42e8422, PkgAuthentication.jl master
//! 763e829), where they decide what this file does:
//! - `/api/v1` (JuliaHub.jl src/userinfo.jl:59-71 `_get_api_information`): a
//!   404 (JuliaHub before 6.2) falls back to GraphQL, `POST <server>/v1/graphql`
//!   with `X-Hasura-Role: jhuser` and the `UserInfo` query (userinfo.jl:8-26,
//!   src/userinfo.gql), whose reply is `{"data":{"users":[{"username":…}]}}`.
//!   Its check (src/authentication.jl:543-553 `check_authentication`) asks
//!   `app/config/nodespecs/info` on such servers and looks at the status only:
//!   200 valid, 401 or 500 invalid. A 200 from `/api/v1` without `api_version`
//!   is therefore valid here too.
//! - A 401 moves the file aside and logs in again only when `maxcount > 1`
//!   (authentication.jl:357-366); with `maxcount = 1` the error stands.
//! - `JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE` is read with
//!   `parse(Bool, strip(v))`: `true`, `false`, `1`, `0`; any other value throws
//!   inside PkgAuthentication, which then refuses an interactive login.
//! - Device polling (PkgAuthentication.jl:671-685): any 400 or 401 reply is
//!   "pending", JSON or not ([`PollRules::pkg_authentication`]); an OAuth
//!   `access_denied` / `expired_token` still ends it (hubauth's improvement).
//! - A device login writes `expires` and `expires_at` (integers,
//!   `floor(now) + expires_in`) and `refresh_url = device_token_refresh_url`.
//! - JuliaHub.jl sends the `id_token` to its API; Pkg sends the
//!   `access_token` to the package server: option `token_kind`.
//! - PkgAuthentication gives a device login up after 21 pending polls, 5 s
//!   apart: `max_failures = 20` (PkgAuthentication.jl:499), each 400/401 a
//!   failure (l.671-685), `failures > max_failures` ends it (l.571-573).
//!
//! Issue 21 (the refresh, Pkg's file, the user; Pkg.jl e52498951):
//! - A refresh reply needs `access_token` or `id_token`, `expires_in`, and
//!   `expires` or `expires_at` (PkgAuthentication.jl:394-396); it is
//!   written as it came (l.439-458, `TOML.print`). Pkg needs the
//!   `access_token` only (src/PlatformEngines.jl:205-212) and writes the
//!   reply with `expires_at = floor(now + expires_in)`, "avoids clock skew"
//!   (l.213-221).
//! - Pkg's usable file is an `access_token` alone; no `expires_at` /
//!   `expires_in` means no expiry (PlatformEngines.jl:155-174). A refresh
//!   URL that is not secure is skipped, the token still sent (l.182-186).
//! - A file without `id_token` makes JuliaHub.jl log in through
//!   PkgAuthentication (src/authentication.jl:429-433), whose
//!   `is_token_valid` wants an `id_token` (PkgAuthentication.jl:735-742).
//! - PkgAuthentication stores `refresh_url = device_token_refresh_url`
//!   whatever it is (PkgAuthentication.jl:669).
//! - `reauthenticate!` keeps a reloaded token only for the same user
//!   (authentication.jl:612) and throws when a new login names another
//!   (l.631-637).

pub(crate) mod status;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::flow::device::{self, DeviceEndpoints, PollRules};
use crate::flow::oauth::Client;
use crate::flow::user_check::{self, Answer};
use crate::flow::{LoginContext, pkg_classic, pkg_refresh};
use crate::log;
use crate::net::{self, Body, Request};
use crate::options::{Options, ProviderKind};
use crate::provider::{LoginKind, Overwrite, Provider, Renewal, Verdict};
use crate::scope;
use crate::secret::Secret;
use crate::server::{ServerUrl, require_secure};
use crate::store::fsutil;
use crate::store::pkg_toml::{self, PkgToken};
use crate::token::{Token, unix_now};

const DEVICE_CLIENT_ID: &str = "device";

pub struct JuliaHub {
    server: ServerUrl,
    path: PathBuf,
}

/// What `/api/v1` said about a token.
enum ApiAnswer {
    Valid { username: Option<String> },
    Unauthorized,
    Status(u16),
}

impl JuliaHub {
    /// Resolves the server (option, else `JULIA_PKG_SERVER`) and the token file.
    pub fn new(options: &Options) -> Result<Self> {
        let server = match &options.server {
            Some(server) => server.clone(),
            None => std::env::var("JULIA_PKG_SERVER")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| {
                    Error::invalid_argument("no server: set JULIA_PKG_SERVER or pass `server`")
                })?,
        };
        // The directory is named from the text as written (Pkg's rule), so
        // the path comes from `raw`, not from the normalised URL.
        let raw = server;
        let server = ProviderKind::JuliaHub.configured_server(&raw)?;
        let path = match &options.token_path {
            Some(path) => path.clone(),
            None => pkg_toml::path_for(&raw)?,
        };
        Ok(JuliaHub { server, path })
    }

    /// The token file this provider reads and writes.
    pub fn token_path(&self) -> &std::path::Path {
        &self.path
    }

    fn interactive_default() -> bool {
        allow_interactive(
            std::env::var_os("JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE")
                .map(|v| v.to_string_lossy().into_owned())
                .as_deref(),
        )
    }

    /// An interactive login (device or classic flow); the engine saves it.
    fn interactive_login(&self, options: &Options) -> Result<PkgToken> {
        let ctx = LoginContext::from_options(options, Self::interactive_default());
        let mut stored = PkgToken::default();
        match self.device_configuration(&ctx)? {
            Some(config) => {
                let reply = device::login_with(
                    &DeviceEndpoints {
                        authorization: &config.authorization,
                        token: &config.token,
                    },
                    &Client::public(device_client_id()),
                    config.scope.as_deref(),
                    &ctx,
                    PollRules::pkg_authentication(),
                )?;
                // expires_in counts from the reply, not from when the login
                // began (spec: expires_at = floor(now) + expires_in on success).
                // Stored whole, as PkgAuthentication stores it.
                stored.apply_reply(pkg_toml::table_from_json(&reply.to_map()), unix_now());
                // As PkgAuthentication writes it: both expiry fields, integers.
                if let Some(expires_at) = stored.expires_at() {
                    stored.set("expires_at", toml::Value::Integer(expires_at));
                    stored.set("expires", toml::Value::Integer(expires_at));
                }
                if let Some(refresh_url) = config.refresh_url {
                    stored.set("refresh_url", toml::Value::String(refresh_url));
                }
            }
            None => {
                let reply = pkg_classic::login(&self.server, &ctx)?;
                stored.apply_reply(pkg_toml::table_from_json(&reply), unix_now());
            }
        }
        // A device reply names no user: ask now, so the file is written once
        // with it and later reads need neither the lock nor a write.
        if options.validate
            && stored.user_name().is_none()
            && let Ok(id_token) = stored.to_token()
            && let Ok(ApiAnswer::Valid {
                username: Some(name),
            }) = self.ask_api(&id_token)
        {
            stored.set("user_name", toml::Value::String(name));
        }
        Ok(stored)
    }

    /// The token of `stored` a request carries: the `id_token` (JuliaHub's
    /// API, the default) or the `access_token` (Pkg's package server), as
    /// option `token_kind` says.
    fn bearer_token(&self, stored: &PkgToken, options: &Options) -> Result<Token> {
        stored.to_token_kind(options.token_kind)
    }

    /// `/auth/configuration`: Some when the server offers the device flow.
    fn device_configuration(&self, ctx: &LoginContext) -> Result<Option<DeviceConfig>> {
        let response = net::send(
            // It names the device endpoints: only from the server itself.
            Request::get(self.server.join("/auth/configuration"))
                .header("accept", "application/json")
                .same_origin_only()
                .deadline(Some(ctx.deadline)),
        )?;
        parse_configuration(response.status, &response.body)
    }

    /// `GET /api/v1`. A 200 is valid whatever its body (JuliaHub.jl's check
    /// looks at the status only); the username comes from it when it has one.
    fn api_v1(&self, token: &Token) -> Result<ApiAnswer> {
        let request = Request::get(self.server.join("/api/v1"))
            .bearer(token.credential.token()?.expose())
            .deadline(scope::deadline());
        Ok(match user_check::ask(request, &[401])? {
            Answer::Valid(response) => ApiAnswer::Valid {
                username: user_check::username(&response.body, &["username"]),
            },
            Answer::Rejected => ApiAnswer::Unauthorized,
            Answer::Other(response) => ApiAnswer::Status(response.status),
        })
    }

    /// What JuliaHub's API says about an id_token: `/api/v1`, or on a server
    /// without it the legacy endpoints.
    fn ask_api(&self, id_token: &Token) -> Result<ApiAnswer> {
        match self.api_v1(id_token)? {
            ApiAnswer::Status(404) => self.legacy_check(id_token),
            answer => Ok(answer),
        }
    }

    /// A JuliaHub before 6.2 (no `/api/v1`): GraphQL names the user; when it
    /// cannot, `app/config/nodespecs/info` says whether the token is good.
    fn legacy_check(&self, token: &Token) -> Result<ApiAnswer> {
        let query = json!({
            "variables": {},
            "operationName": null,
            "query": "query UserInfo { users { name username id info: emails { email } } }",
        });
        let response = net::send(
            Request::post(self.server.join("/v1/graphql"), Body::Json(query))
                .bearer(token.credential.token()?.expose())
                .header("x-hasura-role", "jhuser")
                .header("accept", "application/json")
                .deadline(scope::deadline()),
        )?;
        match response.status {
            200 => {
                let username = serde_json::from_slice::<Value>(&response.body)
                    .ok()
                    .and_then(|v| match v.pointer("/data/users")?.as_array()?.as_slice() {
                        [user] => user.get("username")?.as_str().map(str::to_string),
                        _ => None,
                    });
                if username.is_some() {
                    return Ok(ApiAnswer::Valid { username });
                }
            }
            401 => return Ok(ApiAnswer::Unauthorized),
            _ => {}
        }
        let response = net::send(
            Request::get(self.server.join("/app/config/nodespecs/info"))
                .bearer(token.credential.token()?.expose())
                .header("accept", "application/json")
                .deadline(scope::deadline()),
        )?;
        Ok(match response.status {
            200 => ApiAnswer::Valid { username: None },
            401 | 500 => ApiAnswer::Unauthorized,
            status => ApiAnswer::Status(status),
        })
    }

    /// The refresh URL a refresh reply names, when it replaces `current`: a
    /// URL hubauth may send a refresh token to (Pkg's `is_secure_url`) on
    /// the origin of `current` or of the server. A reply cannot send the
    /// next refresh token to a host that did not have it (README, "Security
    /// model"); such a move is refused with a warning, and the stored URL
    /// stays.
    fn moved_refresh_url(&self, current: &str, next: &str) -> Option<String> {
        if next == current {
            return None;
        }
        let checked = pkg_refresh::check_refresh_url(next).and_then(|url| {
            let origin = url.origin();
            let known = [Some(current), Some(self.server.as_str())]
                .into_iter()
                .flatten()
                .filter_map(|u| reqwest::Url::parse(u).ok())
                .any(|u| u.origin() == origin);
            if known {
                Ok(())
            } else {
                Err(Error::insecure(
                    "the refresh_url is on another origin than the stored one and the server's",
                ))
            }
        });
        match checked {
            Ok(()) => Some(next.to_string()),
            Err(e) => {
                log::warn(&format!(
                    "token refresh: keeping the stored refresh_url, as the reply's cannot be \
                     used ({})",
                    e.message()
                ));
                None
            }
        }
    }

    /// Moves the bad token file aside as `auth.toml.backup` (0600, replacing
    /// an older one: one backup per token file, so refresh tokens do not
    /// pile up), and says where it is. The caller holds the lock.
    fn back_up_bad_token(&self) -> Result<()> {
        if let Some(backup) = fsutil::back_up(&self.path)? {
            log::warn(&format!(
                "the server rejected the stored token; moved it to {} (delete it when done)",
                backup.display()
            ));
        }
        Ok(())
    }
}

/// The device flow's endpoints, from `/auth/configuration`.
#[doc(hidden)]
pub struct DeviceConfig {
    pub authorization: String,
    pub token: String,
    pub refresh_url: Option<String>,
    pub scope: Option<String>,
}

/// Reads the reply of `/auth/configuration` (HTTP `status`, `body`): Some when
/// the server offers the device flow. The parsing half of the flow choice,
/// without I/O.
#[doc(hidden)]
pub fn parse_configuration(status: u16, body: &[u8]) -> Result<Option<DeviceConfig>> {
    if status != 200 {
        return Ok(None);
    }
    let Ok(Value::Object(config)) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    let offers_device = config
        .get("auth_flows")
        .and_then(Value::as_array)
        .is_some_and(|flows| flows.iter().any(|f| f.as_str() == Some("device")));
    if !offers_device {
        return Ok(None);
    }
    let endpoint = |key: &str| -> Result<String> {
        let url = config.get(key).and_then(Value::as_str).ok_or_else(|| {
            Error::server(format!(
                "/auth/configuration offers the device flow but has no {key}"
            ))
        })?;
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| Error::server(format!("/auth/configuration: {key} is not a URL")))?;
        require_secure(&parsed, key)?;
        Ok(url.to_string())
    };
    Ok(Some(DeviceConfig {
        authorization: endpoint("device_authorization_endpoint")?,
        token: endpoint("device_token_endpoint")?,
        // PkgAuthentication stores whatever it is (PkgAuthentication.jl:
        // 665-670) and logs in again when a refresh fails. A URL hubauth will
        // never send a refresh token to (blank, relative, plain http to
        // another host) is not stored, so the login goes on and the token is
        // used until it expires.
        refresh_url: config
            .get("device_token_refresh_url")
            .and_then(Value::as_str)
            .and_then(|url| match pkg_refresh::check_refresh_url(url) {
                Ok(_) => Some(url.to_string()),
                Err(e) => {
                    log::warn(&format!(
                        "/auth/configuration: device_token_refresh_url: {}; \
                         the token will not be refreshed, and a new login is needed when it expires",
                        e.message()
                    ));
                    None
                }
            }),
        scope: config
            .get("device_token_scope")
            .and_then(Value::as_str)
            .map(str::to_string),
    }))
}

/// `JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE` as PkgAuthentication reads it:
/// unset allows; `parse(Bool, strip(v))` decides; a value Julia cannot parse
/// throws there, which refuses the interactive login.
#[doc(hidden)]
pub fn allow_interactive(value: Option<&str>) -> bool {
    match value {
        None => true,
        Some(v) => matches!(v.trim(), "true" | "1"),
    }
}

fn device_client_id() -> String {
    std::env::var("JULIA_PKG_AUTHENTICATION_DEVICE_CLIENT_ID")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEVICE_CLIENT_ID.to_string())
}

/// A refresh `renewal` found possible: the stored refresh token, and the
/// checked refresh URL it goes to.
pub struct PkgRefresh {
    refresh_token: Secret,
    refresh_url: String,
}

impl Provider for JuliaHub {
    type Stored = PkgToken;
    type Grant = PkgToken;
    type Plan = PkgRefresh;

    fn server(&self) -> &str {
        self.server.as_str()
    }

    fn lock_paths(&self) -> Vec<&Path> {
        vec![&self.path]
    }

    fn load(&self, _options: &Options, _skip: &[Secret]) -> Result<Option<PkgToken>> {
        pkg_toml::load(&self.path)
    }

    /// JuliaHub.jl's rule for the `id_token` (it and an expiry), Pkg's for
    /// the `access_token` (it alone; no expiry means none). No refresh
    /// fields needed (an unexpired token that cannot be renewed is used
    /// while it works).
    fn token(&self, stored: &PkgToken, options: &Options) -> Option<Token> {
        stored
            .is_usable_as(options.token_kind)
            .then(|| self.bearer_token(stored, options).ok())
            .flatten()
    }

    /// A record without the token this call hands out is not refreshed: the
    /// originals log in instead (JuliaHub.jl authentication.jl:429-433 goes
    /// to PkgAuthentication, whose `is_token_valid` wants an `id_token`,
    /// PkgAuthentication.jl:735-742; Pkg sends no token without an
    /// `access_token`). Refreshing it would cost a rotation on every call.
    /// A refresh URL hubauth will not send the refresh token to (blank,
    /// relative, plain http to another host) makes the record one that
    /// needs a login, never an error that blocks the login.
    fn renewal(&self, stored: &PkgToken, options: &Options) -> Renewal<PkgRefresh> {
        if !stored.holds_kind(options.token_kind) {
            return Renewal::None;
        }
        let (Some(refresh_token), Some(refresh_url)) = (
            stored
                .table()
                .get("refresh_token")
                .and_then(toml::Value::as_str),
            stored.refresh_url(),
        ) else {
            return Renewal::None;
        };
        if let Err(e) = pkg_refresh::check_refresh_url(refresh_url) {
            log::warn(&format!(
                "{}: not refreshing the stored token ({}); a new login is needed",
                self.path.display(),
                e.message()
            ));
            return Renewal::None;
        }
        let Ok(refresh_token) = Secret::new(refresh_token) else {
            return Renewal::None;
        };
        let plan = PkgRefresh {
            refresh_token: refresh_token.clone(),
            refresh_url: refresh_url.to_string(),
        };
        Renewal::SingleUse(refresh_token, plan)
    }

    /// Pkg's refresh: the reply laid over the stored fields. Its
    /// `refresh_url` replaces the stored one, as Pkg and PkgAuthentication
    /// write the reply as it came (PlatformEngines.jl:213-221,
    /// PkgAuthentication.jl:439-458): a server that moves its renew endpoint
    /// is followed. Only within the origin of the stored refresh URL or of
    /// the server, though (`moved_refresh_url`).
    fn renew(&self, stored: &PkgToken, plan: PkgRefresh, _options: &Options) -> Result<PkgToken> {
        let PkgRefresh {
            refresh_token,
            refresh_url,
        } = plan;
        let refresh_url = refresh_url.as_str();
        let reply = pkg_refresh::refresh(refresh_url, &refresh_token, scope::deadline())?;
        let moved_to = reply
            .get("refresh_url")
            .and_then(toml::Value::as_str)
            .and_then(|next| self.moved_refresh_url(refresh_url, next));
        let mut renewed = stored.clone();
        renewed.apply_reply(reply, unix_now());
        if let Some(next) = moved_to {
            renewed.set("refresh_url", toml::Value::String(next));
        }
        Ok(renewed)
    }

    /// JuliaHub.jl moves a token `/api/v1` rejects aside and logs in again,
    /// without trying its refresh token.
    fn renews_rejected(&self) -> bool {
        false
    }

    fn login_kind(&self, _options: &Options) -> LoginKind {
        LoginKind::Interactive {
            interactive_default: Self::interactive_default(),
            advice: format!(
                "log in with `hubauth login --server {}`, or allow interactive login (`interactive=true`)",
                self.server.as_str()
            ),
        }
    }

    fn login(&self, options: &Options) -> Result<PkgToken> {
        self.interactive_login(options)
    }

    /// Saved first, whatever it holds: the server has rotated the refresh
    /// token, and the new one must reach the file (Pkg and
    /// PkgAuthentication save a reply with an `access_token` or an
    /// `id_token`, PkgAuthentication.jl:394-396). A grant without the token
    /// this call hands out is then `NoCredentials`: a login is needed.
    fn save(&self, grant: PkgToken, options: &Options) -> Result<Token> {
        pkg_toml::save(&self.path, &grant)?;
        self.bearer_token(&grant, options).map_err(|e| {
            Error::no_credentials(format!(
                "the server's token reply was saved, but {} (`token_kind={}`); a new login is needed",
                e.message(),
                options.token_kind
            ))
        })
    }

    /// JuliaHub's API takes the id_token. With `token_kind=access` the
    /// id_token stored beside the access token is asked about; a token with
    /// none (e.g. given) cannot be checked.
    fn check(&self, token: &Token, options: &Options) -> Result<Verdict> {
        let id_token;
        let token = if options.token_kind == "access" {
            let stored = pkg_toml::load(&self.path)?;
            let beside = stored.filter(|s| {
                s.table().get("access_token").and_then(toml::Value::as_str)
                    == token.credential.bearer().map(Secret::expose)
            });
            match beside.map(|s| s.to_token()) {
                Some(Ok(t)) => {
                    id_token = t;
                    &id_token
                }
                _ => return Ok(Verdict::Unknown),
            }
        } else {
            token
        };
        match self.ask_api(token)? {
            ApiAnswer::Valid { username } => Ok(Verdict::Valid { username }),
            ApiAnswer::Unauthorized => Ok(Verdict::Rejected),
            ApiAnswer::Status(status) => Err(Error::server(format!(
                "{}/api/v1 answered HTTP {status}",
                self.server.as_str()
            ))),
        }
    }

    /// JuliaHub.jl moves the file aside and logs in again only when
    /// `maxcount > 1`; with one try the rejection is the answer.
    fn discard(&self, stored: &PkgToken, options: &Options) -> Result<()> {
        if options.maxcount <= 1 {
            return Err(Error::authentication(format!(
                "{} rejected the stored token (HTTP 401) and `maxcount=1` allows no new login; \
                 authenticate again with `force=true` or a higher `maxcount`",
                self.server.as_str()
            )));
        }
        // The server was asked without the lock: Pkg or another job may have
        // saved a new auth.toml since `stored` was read. Only the rejected
        // one is moved aside; a newer one is read next.
        match pkg_toml::load(&self.path)? {
            Some(current) if current.table() == stored.table() => self.back_up_bad_token(),
            _ => Ok(()),
        }
    }

    /// Takes a whole auth.toml (e.g. copied from another machine); it must
    /// hold the token of `token_kind` (an `access_token` is all Pkg needs).
    fn save_token(&self, token: &str, options: &Options, overwrite: &Overwrite) -> Result<()> {
        let parsed = PkgToken::parse(token.as_bytes(), Path::new("the given token"), None)
            .map_err(|_| {
                Error::invalid_argument(
                    "juliahub takes the whole contents of an auth.toml file as the token",
                )
            })?;
        parsed.to_token_kind(options.token_kind).map_err(|e| {
            Error::invalid_argument(format!("the given auth.toml: {}", e.message()))
        })?;
        if self.path.exists() {
            overwrite.check(self.path.display())?;
        }
        pkg_toml::save(&self.path, &parsed)
    }

    fn logout(&self, _options: &Options) -> Result<()> {
        fsutil::remove_file(&self.path)
    }
}
