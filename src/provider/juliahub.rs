//! `juliahub`: JuliaHub.jl + PkgAuthentication.jl. Pkg's auth.toml, its TOML
//! refresh, the classic and device logins chosen by `/auth/configuration`, and
//! JuliaHub's `/api/v1` for the user and for checks.

pub(crate) mod status;

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::flow::device::{self, DeviceEndpoints};
use crate::flow::oauth::Client;
use crate::flow::{LoginContext, pkg_classic, pkg_refresh};
use crate::log;
use crate::net::{self, Request};
use crate::options::Options;
use crate::provider::{self, Provider};
use crate::secret::Secret;
use crate::server::{ServerUrl, require_secure};
use crate::store::fsutil::{self, FileLock};
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
                    Error::invalid_argument("no server: set JULIA_PKG_SERVER or pass a server")
                })?,
        };
        let server = ServerUrl::parse(&server)?;
        let path = match &options.token_path {
            Some(path) => path.clone(),
            None => pkg_toml::path_for(&server)?,
        };
        Ok(JuliaHub { server, path })
    }

    /// The token file this provider reads and writes.
    pub fn token_path(&self) -> &std::path::Path {
        &self.path
    }

    fn lock(&self, options: &Options) -> Result<FileLock> {
        FileLock::acquire(&self.path, options.timeout)
    }

    fn deadline(options: &Options) -> Option<Instant> {
        Some(Instant::now() + options.timeout)
    }

    /// Under the lock: the stored token if fresh, else the stored token
    /// refreshed. None when nothing stored can be used (a login is needed).
    fn fresh_from_store(&self, options: &Options) -> Result<Option<Token>> {
        let Some(stored) = pkg_toml::load(&self.path)? else {
            return Ok(None);
        };
        if stored.is_usable() {
            let token = stored.to_token()?;
            if token.is_fresh(options.refresh_margin_s) {
                return Ok(Some(token));
            }
        }
        if !stored.is_refreshable() {
            return Ok(None);
        }
        match self.refresh_stored(stored, options) {
            Ok(token) => Ok(Some(token)),
            // The refresh token is no good: a new login will replace it.
            Err(e) if e.kind() == ErrorKind::Authentication => {
                log::warn(&format!("{}; a new login is needed", e.message()));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Refreshes `stored` and saves the result. The caller holds the lock.
    fn refresh_stored(&self, mut stored: PkgToken, options: &Options) -> Result<Token> {
        let refresh_url = stored
            .refresh_url()
            .ok_or_else(|| Error::authentication("the stored token has no refresh_url"))?
            .to_string();
        let refresh_token = stored
            .table()
            .get("refresh_token")
            .and_then(toml::Value::as_str)
            .map(Secret::new)
            .transpose()?
            .ok_or_else(|| Error::authentication("the stored token has no refresh_token"))?;
        let reply = pkg_refresh::refresh(
            &self.server,
            &refresh_url,
            &refresh_token,
            Self::deadline(options),
        )?;
        stored.apply_reply(reply, unix_now());
        pkg_toml::save(&self.path, &stored)?;
        stored
            .to_token()
            .map_err(|e| Error::server(format!("token refresh: {}", e.message())))
    }

    fn interactive_default() -> bool {
        !matches!(
            std::env::var("JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE")
                .map(|v| v.trim().to_ascii_lowercase())
                .as_deref(),
            Ok("false" | "0" | "no")
        )
    }

    /// An interactive login (device or classic flow), saved under the lock.
    fn login(&self, options: &Options) -> Result<Token> {
        let ctx = LoginContext::from_options(options, Self::interactive_default());
        if !ctx.can_login() {
            return Err(Error::no_credentials(format!(
                "no valid token for {} and interactive login is disabled; \
                 log in with `hubauth login --server {}`, or allow interactive login",
                self.server.as_str(),
                self.server.as_str()
            )));
        }
        let now = unix_now();
        let mut stored = PkgToken::default();
        match self.device_configuration(&ctx)? {
            Some(config) => {
                let reply = device::login(
                    &DeviceEndpoints {
                        authorization: &config.authorization,
                        token: &config.token,
                    },
                    &Client::public(device_client_id()),
                    config.scope.as_deref(),
                    &ctx,
                )?;
                stored.apply_reply(pkg_toml::table_from_json(&reply), now);
                if let Some(refresh_url) = config.refresh_url {
                    stored.set("refresh_url", toml::Value::String(refresh_url));
                }
            }
            None => {
                let reply = pkg_classic::login(&self.server, &ctx)?;
                stored.apply_reply(pkg_toml::table_from_json(&reply), now);
            }
        }
        let token = stored
            .to_token()
            .map_err(|e| Error::server(format!("login: {}", e.message())))?;
        let _lock = self.lock(options)?;
        pkg_toml::save(&self.path, &stored)?;
        Ok(token)
    }

    /// `/auth/configuration`: Some when the server offers the device flow.
    fn device_configuration(&self, ctx: &LoginContext) -> Result<Option<DeviceConfig>> {
        let response = net::send(
            Request::get(self.server.join("/auth/configuration"))
                .header("accept", "application/json")
                .deadline(Some(ctx.deadline)),
        )?;
        parse_configuration(response.status, &response.body)
    }

    /// A usable token, trying at most `maxcount` times. With `skip_store`, the
    /// stored token is not considered (it was found bad).
    fn obtain(&self, options: &Options, skip_store: bool) -> Result<Token> {
        provider::with_tries(self.server.as_str(), options, || {
            if !skip_store {
                let _lock = self.lock(options)?;
                if let Some(token) = self.fresh_from_store(options)? {
                    return Ok(token);
                }
            }
            self.login(options)
        })
    }

    fn api_v1(&self, token: &Token, options: &Options) -> Result<ApiAnswer> {
        let response = net::send(
            Request::get(self.server.join("/api/v1"))
                .bearer(token.bearer.expose())
                .header("accept", "application/json")
                .deadline(Self::deadline(options)),
        )?;
        match response.status {
            200 => {
                let info = response.json("/api/v1")?;
                if info.get("api_version").is_none() {
                    return Err(Error::server(format!(
                        "{}/api/v1 did not answer like JuliaHub (no api_version)",
                        self.server.as_str()
                    )));
                }
                let username = info
                    .get("username")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| token.username.clone());
                Ok(ApiAnswer::Valid { username })
            }
            401 => Ok(ApiAnswer::Unauthorized),
            status => Ok(ApiAnswer::Status(status)),
        }
    }

    /// Moves the bad token file aside as `auth.toml.<8 hex>.backup`.
    fn back_up_bad_token(&self, options: &Options) -> Result<()> {
        let _lock = self.lock(options)?;
        if !self.path.exists() {
            return Ok(());
        }
        let mut backup = self.path.clone().into_os_string();
        backup.push(format!(".{:08x}.backup", fsutil::random_u32()));
        let backup = PathBuf::from(backup);
        fsutil::rename(&self.path, &backup)?;
        log::warn(&format!(
            "the server rejected the stored token; moved it to {}",
            backup.display()
        ));
        Ok(())
    }

    /// Writes the user name `/api/v1` gave into the token file when it has
    /// none (a device login's reply carries no user_name), so `status` and
    /// later loads know the user without asking. Best effort: only if the file
    /// still holds this token; a failure changes nothing.
    fn remember_username(&self, token: &Token, username: &str, options: &Options) {
        let Ok(_lock) = self.lock(options) else {
            return;
        };
        let Ok(Some(mut stored)) = pkg_toml::load(&self.path) else {
            return;
        };
        let same_token = stored.table().get("id_token").and_then(toml::Value::as_str)
            == Some(token.bearer.expose());
        if same_token && stored.user_name().is_none() && stored.is_usable() {
            stored.set("user_name", toml::Value::String(username.to_string()));
            let _ = pkg_toml::save(&self.path, &stored);
        }
    }

    /// Adds the username from `/api/v1`; one forced login when the token is
    /// rejected (after moving the file aside).
    fn validated(&self, mut token: Token, options: &Options) -> Result<Token> {
        if !options.validate {
            return Ok(token);
        }
        let mut relogged = false;
        loop {
            match self.api_v1(&token, options)? {
                ApiAnswer::Valid { username } => {
                    if let Some(name) = &username
                        && token.username.is_none()
                    {
                        self.remember_username(&token, name, options);
                    }
                    token.username = username;
                    return Ok(token);
                }
                ApiAnswer::Unauthorized if !relogged => {
                    self.back_up_bad_token(options)?;
                    token = self.obtain(options, true)?;
                    relogged = true;
                }
                ApiAnswer::Unauthorized => {
                    return Err(Error::authentication(format!(
                        "{} rejected the token it just issued",
                        self.server.as_str()
                    )));
                }
                ApiAnswer::Status(status) => {
                    return Err(Error::server(format!(
                        "{}/api/v1 answered HTTP {status}",
                        self.server.as_str()
                    )));
                }
            }
        }
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
        refresh_url: config
            .get("device_token_refresh_url")
            .and_then(Value::as_str)
            .map(str::to_string),
        scope: config
            .get("device_token_scope")
            .and_then(Value::as_str)
            .map(str::to_string),
    }))
}

fn device_client_id() -> String {
    std::env::var("JULIA_PKG_AUTHENTICATION_DEVICE_CLIENT_ID")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEVICE_CLIENT_ID.to_string())
}

impl Provider for JuliaHub {
    fn server(&self) -> &str {
        self.server.as_str()
    }

    fn authenticate(&self, options: &Options) -> Result<Token> {
        if let Some(given) = &options.token {
            let token = Token::bare(given.clone());
            if !options.validate {
                return Ok(token);
            }
            return match self.api_v1(&token, options)? {
                ApiAnswer::Valid { username } => Ok(Token { username, ..token }),
                ApiAnswer::Unauthorized => Err(Error::authentication(format!(
                    "{} rejected the given token",
                    self.server.as_str()
                ))),
                ApiAnswer::Status(status) => Err(Error::server(format!(
                    "{}/api/v1 answered HTTP {status}",
                    self.server.as_str()
                ))),
            };
        }
        // JuliaHub.jl deletes the file before a forced login; we only skip it,
        // so a cancelled or failed login does not lose a working token.
        let token = self.obtain(options, options.force)?;
        self.validated(token, options)
    }

    fn refresh(&self, current: &Token, options: &Options) -> Result<Token> {
        if options.token.is_some() {
            return Ok(current.clone());
        }
        let _lock = self.lock(options)?;
        // Someone else may have refreshed while we waited for the lock.
        let stored = pkg_toml::load(&self.path)?.ok_or_else(|| {
            Error::no_credentials(format!(
                "the token file {} is gone; authenticate again",
                self.path.display()
            ))
        })?;
        if stored.is_usable() {
            let token = stored.to_token()?;
            if token.is_fresh(options.refresh_margin_s) {
                return Ok(Token {
                    username: token.username.or_else(|| current.username.clone()),
                    ..token
                });
            }
        }
        if !stored.is_refreshable() {
            return Err(Error::authentication(format!(
                "the token for {} expired and cannot be refreshed; authenticate again",
                self.server.as_str()
            )));
        }
        let token = self.refresh_stored(stored, options)?;
        Ok(Token {
            username: token.username.or_else(|| current.username.clone()),
            ..token
        })
    }

    fn reauthenticate(&self, current: &Token, options: &Options) -> Result<Token> {
        let reloaded = if options.force {
            None
        } else {
            let _lock = self.lock(options)?;
            self.fresh_from_store(options)?
        };
        let token = match reloaded {
            Some(token) => token,
            None => self.obtain(options, true)?,
        };
        let token = self.validated(token, options)?;
        if let (Some(before), Some(after)) = (&current.username, &token.username)
            && before != after
        {
            return Err(Error::authentication(format!(
                "logged in as {after:?}, but this authentication belongs to {before:?}"
            )));
        }
        Ok(Token {
            username: token.username.or_else(|| current.username.clone()),
            ..token
        })
    }

    fn check(&self, token: &Token, options: &Options) -> Result<bool> {
        match self.api_v1(token, options)? {
            ApiAnswer::Valid { .. } => Ok(true),
            ApiAnswer::Unauthorized | ApiAnswer::Status(500) => Ok(false),
            ApiAnswer::Status(status) => Err(Error::server(format!(
                "{}/api/v1 answered HTTP {status}",
                self.server.as_str()
            ))),
        }
    }

    /// Takes a whole auth.toml (e.g. copied from another machine); it must
    /// hold an id_token.
    fn save_token(&self, token: &str, options: &Options) -> Result<()> {
        let parsed = PkgToken::parse(
            token.as_bytes(),
            std::path::Path::new("the given token"),
            None,
        )
        .map_err(|_| {
            Error::invalid_argument(
                "juliahub takes the whole contents of an auth.toml file as the token",
            )
        })?;
        parsed
            .to_token()
            .map_err(|_| Error::invalid_argument("the given auth.toml has no id_token"))?;
        let _lock = self.lock(options)?;
        if !options.overwrite && self.path.exists() {
            return Err(Error::invalid_argument(format!(
                "{} already exists and overwrite=false",
                self.path.display()
            )));
        }
        pkg_toml::save(&self.path, &parsed)
    }

    fn logout(&self, options: &Options) -> Result<()> {
        let _lock = self.lock(options)?;
        fsutil::remove_file(&self.path)
    }
}
