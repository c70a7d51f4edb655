//! `juliahub`: JuliaHub.jl + PkgAuthentication.jl. Pkg's auth.toml, its TOML
//! refresh, the classic and device logins chosen by `/auth/configuration`, and
//! JuliaHub's `/api/v1` for the user and for checks.

pub(crate) mod status;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::flow::device::{self, DeviceEndpoints};
use crate::flow::oauth::Client;
use crate::flow::{LoginContext, pkg_classic, pkg_refresh};
use crate::log;
use crate::net::{self, Request};
use crate::options::Options;
use crate::provider::{Provider, Renewal, Verdict};
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

    fn deadline(options: &Options) -> Option<Instant> {
        Some(Instant::now() + options.timeout)
    }

    fn interactive_default() -> bool {
        !matches!(
            std::env::var("JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE")
                .map(|v| v.trim().to_ascii_lowercase())
                .as_deref(),
            Ok("false" | "0" | "no")
        )
    }

    /// An interactive login (device or classic flow); the engine saves it.
    fn interactive_login(&self, options: &Options) -> Result<PkgToken> {
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
        Ok(stored)
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

    /// Writes the user name `/api/v1` gave into the token file when it has
    /// none (a device login's reply carries no user_name), so `status` and
    /// later loads know the user without asking. Best effort: only if the file
    /// still holds this token; a failure changes nothing. The caller holds
    /// the lock.
    fn write_username(&self, token: &Token, username: &str) {
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
    type Stored = PkgToken;
    type Grant = PkgToken;

    fn server(&self) -> &str {
        self.server.as_str()
    }

    fn lock_paths(&self) -> Vec<&Path> {
        vec![&self.path]
    }

    fn load(&self, _options: &Options, _skip: &[Secret]) -> Result<Option<PkgToken>> {
        pkg_toml::load(&self.path)
    }

    fn token(&self, stored: &PkgToken, _options: &Options) -> Option<Token> {
        stored.is_usable().then(|| stored.to_token().ok()).flatten()
    }

    fn renewal(&self, stored: &PkgToken, _options: &Options) -> Renewal {
        match stored
            .table()
            .get("refresh_token")
            .and_then(toml::Value::as_str)
        {
            Some(refresh_token) if stored.is_refreshable() => Secret::new(refresh_token)
                .map(Renewal::SingleUse)
                .unwrap_or(Renewal::None),
            _ => Renewal::None,
        }
    }

    /// Pkg's refresh: the reply laid over the stored fields.
    fn renew(&self, stored: &PkgToken, options: &Options) -> Result<PkgToken> {
        let Renewal::SingleUse(refresh_token) = self.renewal(stored, options) else {
            return Err(Error::authentication(
                "the stored token has no refresh_token and refresh_url",
            ));
        };
        let refresh_url = stored.refresh_url().unwrap_or_default();
        let reply = pkg_refresh::refresh(
            &self.server,
            refresh_url,
            &refresh_token,
            Self::deadline(options),
        )?;
        let mut renewed = stored.clone();
        renewed.apply_reply(reply, unix_now());
        Ok(renewed)
    }

    /// JuliaHub.jl moves a token `/api/v1` rejects aside and logs in again,
    /// without trying its refresh token.
    fn renews_rejected(&self) -> bool {
        false
    }

    fn login(&self, options: &Options) -> Result<PkgToken> {
        self.interactive_login(options)
    }

    fn save(&self, grant: PkgToken, _options: &Options) -> Result<Token> {
        let token = grant
            .to_token()
            .map_err(|e| Error::server(format!("token reply: {}", e.message())))?;
        pkg_toml::save(&self.path, &grant)?;
        Ok(token)
    }

    fn check(&self, token: &Token, options: &Options) -> Result<Verdict> {
        match self.api_v1(token, options)? {
            ApiAnswer::Valid { username } => Ok(Verdict::Valid { username }),
            ApiAnswer::Unauthorized => Ok(Verdict::Rejected),
            ApiAnswer::Status(status) => Err(Error::server(format!(
                "{}/api/v1 answered HTTP {status}",
                self.server.as_str()
            ))),
        }
    }

    fn discard(&self, _stored: &PkgToken, _options: &Options) -> Result<()> {
        self.back_up_bad_token()
    }

    fn remember_username(&self, token: &Token, username: &str) {
        self.write_username(token, username);
    }

    /// Takes a whole auth.toml (e.g. copied from another machine); it must
    /// hold an id_token.
    fn save_token(&self, token: &str, options: &Options) -> Result<()> {
        let parsed = PkgToken::parse(token.as_bytes(), Path::new("the given token"), None)
            .map_err(|_| {
                Error::invalid_argument(
                    "juliahub takes the whole contents of an auth.toml file as the token",
                )
            })?;
        parsed
            .to_token()
            .map_err(|_| Error::invalid_argument("the given auth.toml has no id_token"))?;
        if !options.overwrite && self.path.exists() {
            return Err(Error::invalid_argument(format!(
                "{} already exists and overwrite=false",
                self.path.display()
            )));
        }
        pkg_toml::save(&self.path, &parsed)
    }

    fn logout(&self, _options: &Options) -> Result<()> {
        fsutil::remove_file(&self.path)
    }
}
