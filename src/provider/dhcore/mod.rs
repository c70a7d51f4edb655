//! `dhcore`: the DigitalHub SDK's DHCore credentials (specs/dhcore.md).
//!
//! Settings come from `.dhcore.ini` (option `token_path`, else `$DH_CONFIG`,
//! else `~/.dhcore.ini`) and the environment, under the same names
//! (`DHCORE_ACCESS_TOKEN` in the environment is `dhcore_access_token` in the
//! file). Each setting is looked up in this order: the option that names it
//! (`server` for `DHCORE_ENDPOINT`, `client_id`, `issuer`, `subject_token`
//! for the personal access token), then the profile's section of the file
//! (with `[DEFAULT]` inherited), then the environment: the file wins, as in
//! SDK 0.16. The profile is option `profile`, else `$DH_NAME`, else
//! `[DEFAULT] current_environment`, else `__default`.
//!
//! The method, in priority order:
//! 1. a personal access token: exchanged (RFC 8693, `subject_token_type`
//!    `urn:ietf:params:oauth:token-type:pat`, `scope=credentials`, public
//!    client `DHCORE_CLIENT_ID`) for an access token, which is written back;
//!    a stored access token of known expiry is reused while it is fresh;
//! 2. access token + refresh token: used, and refreshed before it expires
//!    (`grant_type=refresh_token`, `client_id`, `refresh_token`,
//!    `scope=credentials`); refresh tokens are single use, so the refresh runs
//!    under the file's lock with the refresh token read from the file after
//!    taking it, and the rotated one is written before the lock is released;
//! 3. access token only: used as is until it expires, never refreshed;
//! 4. user + password: HTTP Basic;
//! 5. nothing: `NoCredentials`.
//!
//! What `token()` hands out is the value a request needs, in the form its
//! method needs:
//! - methods 1-3: the bare access token (send `Authorization: Bearer <token>`),
//!   like every other provider;
//! - method 4: the whole `Authorization` header value, `Basic
//!   base64(user:password)` (RFC 7617, UTF-8). There is no token to hand out,
//!   and a caller cannot tell a bare token from Basic credentials, so the
//!   scheme comes with them: send `Authorization: <value>` as is.
//!
//! So a caller that supports every method sends `Authorization: <value>`
//! when the value starts with `Basic `, else `Authorization: Bearer <value>`
//! (an access token never contains a space).
//!
//! Token replies are written to the profile's section with the SDK's names
//! (`access_token` → `dhcore_access_token`, `refresh_token` →
//! `dhcore_refresh_token`, `client_id` → `dhcore_client_id`, `issuer` →
//! `dhcore_issuer`, `token_endpoint` → `oauth2_token_endpoint`, every other
//! field as is), plus the client id and issuer used, plus
//! `dhcore_expires_at` (RFC 3339, UTC: when the token was requested +
//! `expires_in`), and `[DEFAULT] current_environment` is set to the profile.
//! The personal access token is never written. Expiry of a stored access
//! token: `dhcore_expires_at`, else the `exp` claim when it is a JWT, else
//! unknown (then it is used until the server rejects it).
//!
//! The check is `GET <DHCORE_ENDPOINT>/api/auth` with the credentials: 200
//! valid, 401/403 not. With `validate` (the default), `authenticate` checks a
//! stored credential this way and renews a rejected one when it can.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::env::{Env, process_env};
use crate::credential::CredentialInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::flow::discovery;
use crate::flow::exchange::{self, Subject};
use crate::flow::oauth::{self, Client};
use crate::flow::refresh;
use crate::jwt;
use crate::log;
use crate::net::{self, Request};
use crate::options::Options;
use crate::provider::Provider;
use crate::secret::Secret;
use crate::server::{ServerUrl, require_secure};
use crate::store::dhcore_ini::{self, CURRENT_ENVIRONMENT, DEFAULT_SECTION, Ini};
use crate::store::fsutil::FileLock;
use crate::token::{Token, unix_now};

/// The profile when nothing names one.
pub(crate) const DEFAULT_PROFILE: &str = "__default";
/// `subject_token_type` of DHCore's personal access tokens.
pub(crate) const PAT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:pat";
/// The scope of every DHCore token request.
pub(crate) const SCOPE: &str = "credentials";
/// The file's name in the home directory.
const FILE_NAME: &str = ".dhcore.ini";

const ENDPOINT: &str = "DHCORE_ENDPOINT";
const ISSUER: &str = "DHCORE_ISSUER";
const CLIENT_ID: &str = "DHCORE_CLIENT_ID";
const TOKEN_ENDPOINT: &str = "OAUTH2_TOKEN_ENDPOINT";
const PAT: &str = "DHCORE_PERSONAL_ACCESS_TOKEN";
const ACCESS_TOKEN: &str = "DHCORE_ACCESS_TOKEN";
const REFRESH_TOKEN: &str = "DHCORE_REFRESH_TOKEN";
const USER: &str = "DHCORE_USER";
const PASSWORD: &str = "DHCORE_PASSWORD";
const EXPIRES_IN: &str = "DHCORE_EXPIRES_IN";
const ID_TOKEN: &str = "DHCORE_ID_TOKEN";

/// Every setting read from both the file and the environment.
const SETTINGS: [&str; 11] = [
    ENDPOINT,
    ISSUER,
    CLIENT_ID,
    TOKEN_ENDPOINT,
    PAT,
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    USER,
    PASSWORD,
    EXPIRES_IN,
    ID_TOKEN,
];

/// hubauth's own key: when the stored access token expires.
const EXPIRES_AT_KEY: &str = "dhcore_expires_at";

/// Keys of a stored token, removed by `logout` and replaced by `save_token`.
const TOKEN_KEYS: [&str; 10] = [
    "dhcore_access_token",
    "dhcore_refresh_token",
    EXPIRES_AT_KEY,
    "expires_in",
    "dhcore_expires_in",
    "id_token",
    "dhcore_id_token",
    "token_type",
    "issued_token_type",
    "scope",
];

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The file's name for a setting.
fn ini_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Where a setting came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Option,
    File,
    Env,
}

/// How the credentials authenticate, in the SDK's priority order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A personal access token, exchanged for an access token.
    Exchange,
    /// An access token with a refresh token.
    OAuth2,
    /// An access token alone.
    Bearer,
    /// User and password.
    Basic,
    None,
}

impl Method {
    /// Whether a new access token can be had without the user.
    pub fn renews(self) -> bool {
        matches!(self, Method::Exchange | Method::OAuth2)
    }
}

/// The settings of one profile, each from where it was found first.
#[derive(Clone)]
struct Settings {
    values: BTreeMap<&'static str, (String, Origin)>,
    /// The file's `expires_in`, `dhcore_expires_at` (only with a file access token).
    file_expires_in: Option<String>,
    file_expires_at: Option<String>,
    /// The file's `id_token` (the SDK writes the reply's `id_token` as is).
    file_id_token: Option<String>,
    profile: String,
    path: PathBuf,
}

impl Settings {
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    fn origin(&self, name: &str) -> Option<Origin> {
        self.values.get(name).map(|(_, f)| *f)
    }

    fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).and_then(|v| Secret::new(v).ok())
    }

    fn method(&self) -> Method {
        if self.get(PAT).is_some() {
            Method::Exchange
        } else if self.get(ACCESS_TOKEN).is_some() && self.get(REFRESH_TOKEN).is_some() {
            Method::OAuth2
        } else if self.get(ACCESS_TOKEN).is_some() {
            Method::Bearer
        } else if self.get(USER).is_some() && self.get(PASSWORD).is_some() {
            Method::Basic
        } else {
            Method::None
        }
    }

    /// Where a setting is, for messages: `DHCORE_X` or `dhcore_x in [p] of <path>`.
    fn source(&self, name: &str) -> String {
        match self.origin(name) {
            Some(Origin::File) => format!(
                "{} in [{}] of {}",
                ini_key(name),
                self.profile,
                self.path.display()
            ),
            Some(Origin::Option) => format!("the option for {name}"),
            _ => format!("the environment variable {name}"),
        }
    }

    /// The stored access token as a [`Token`], with its expiry and lifetime.
    fn access_token(&self) -> Option<Token> {
        let access = self.secret(ACCESS_TOKEN)?;
        let from_file = self.origin(ACCESS_TOKEN) == Some(Origin::File);
        let (expires_at, lifetime) = if from_file {
            (
                self.file_expires_at
                    .as_deref()
                    .and_then(dhcore_ini::parse_rfc3339),
                self.file_expires_in
                    .as_deref()
                    .or_else(|| self.get_from(EXPIRES_IN, Origin::File))
                    .and_then(parse_seconds),
            )
        } else {
            (
                None,
                self.get_from(EXPIRES_IN, Origin::Env)
                    .and_then(parse_seconds),
            )
        };
        let expires_at = expires_at.or_else(|| jwt::expiry(access.expose()));
        Some(Token {
            refresh: self.secret(REFRESH_TOKEN),
            expires_at,
            lifetime: lifetime.filter(|s| *s > 0),
            username: self.username_from_id_token(),
            bearer: access,
        })
    }

    fn get_from(&self, name: &str, from: Origin) -> Option<&str> {
        self.values
            .get(name)
            .filter(|(_, f)| *f == from)
            .map(|(v, _)| v.as_str())
    }

    fn username_from_id_token(&self) -> Option<String> {
        let id_token = self
            .file_id_token
            .as_deref()
            .or_else(|| self.get(ID_TOKEN))?;
        jwt::claims(id_token).and_then(|c| jwt::username_from_claims(&c))
    }

    /// `Basic base64(user:password)`, the whole header value.
    fn basic(&self) -> Option<Token> {
        let user = self.get(USER)?;
        let password = self.get(PASSWORD)?;
        let mut pair = format!("{user}:{password}");
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
        zeroize::Zeroize::zeroize(&mut pair);
        let header = Secret::from_string(format!("Basic {encoded}")).ok()?;
        Some(Token {
            username: Some(user.to_string()),
            ..Token::bare(header)
        })
    }
}

fn parse_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    text.parse::<i64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
    })
}

/// The request header for a handed-out value (see the module docs).
fn authorization(value: &Secret) -> String {
    let value = value.expose();
    if value.starts_with("Basic ") {
        value.to_string()
    } else {
        format!("Bearer {value}")
    }
}

/// `DHCORE_ENDPOINT`: http(s) only, trailing `/` dropped, https unless loopback.
fn parse_endpoint(raw: &str, source: &str) -> Result<ServerUrl> {
    let trimmed = raw.trim();
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(Error::invalid_argument(format!(
            "{source} must start with http:// or https://"
        )));
    }
    ServerUrl::parse(trimmed.trim_end_matches('/')).map_err(|e| e.context(source))
}

fn check_profile(profile: &str) -> Result<()> {
    if profile == DEFAULT_SECTION {
        return Err(Error::invalid_argument(
            "DEFAULT cannot be a DHCore profile (it holds the values every profile inherits)",
        ));
    }
    if profile.trim().is_empty() || profile.chars().any(char::is_control) {
        return Err(Error::invalid_argument(format!(
            "{profile:?} cannot be a DHCore profile"
        )));
    }
    Ok(())
}

/// What `/api/auth` said.
enum ApiAnswer {
    Valid { username: Option<String> },
    Rejected,
}

/// Where a token came from: a stored one is checked when `validate` is set.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Stored,
    Issued,
}

pub struct DhCore {
    path: PathBuf,
    profile: String,
    /// The relevant environment variables, read once.
    env: BTreeMap<&'static str, String>,
    /// `DHCORE_ENDPOINT` (or option `server`), checked when first needed.
    endpoint: Option<Result<ServerUrl>>,
}

impl DhCore {
    /// Resolves the file, the profile and the endpoint from the options and
    /// the process environment. Reads the file (not under its lock) to find
    /// `current_environment` and `dhcore_endpoint`.
    pub fn new(options: &Options) -> Result<Self> {
        Self::with_env(&process_env, options)
    }

    /// Like [`new`](Self::new), reading the environment through `env`
    /// (`DH_CONFIG`, `DH_NAME`, `HOME` and the `DHCORE_*` settings).
    pub fn with_env(env: Env<'_>, options: &Options) -> Result<Self> {
        let path = match &options.token_path {
            Some(path) => path.clone(),
            None => default_path(env)?,
        };
        let env_values: BTreeMap<&'static str, String> = SETTINGS
            .iter()
            .filter_map(|name| non_empty(env(name).as_deref()).map(|v| (*name, v)))
            .collect();
        let ini = dhcore_ini::load(&path)?.unwrap_or_default();
        let profile = options
            .profile
            .clone()
            .or_else(|| non_empty(env("DH_NAME").as_deref()))
            .or_else(|| ini.current_environment().map(str::to_string))
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
        check_profile(&profile)?;
        let file_endpoint = non_empty(ini.get(&profile, &ini_key(ENDPOINT)));
        let (endpoint, endpoint_source) = match (&options.server, file_endpoint) {
            (Some(server), _) => (Some(server.clone()), "the option server".to_string()),
            (None, Some(value)) => (
                Some(value),
                format!("{} in [{profile}] of {}", ini_key(ENDPOINT), path.display()),
            ),
            (None, None) => (
                env_values.get(ENDPOINT).cloned(),
                format!("the environment variable {ENDPOINT}"),
            ),
        };
        let endpoint = endpoint.map(|raw| parse_endpoint(&raw, &endpoint_source));
        Ok(DhCore {
            path,
            profile,
            env: env_values,
            endpoint,
        })
    }

    /// The `.dhcore.ini` this provider reads and writes.
    pub fn token_path(&self) -> &Path {
        &self.path
    }

    /// The profile (section) it uses.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The method the current settings select (reads the file).
    pub fn method(&self, options: &Options) -> Result<Method> {
        Ok(self.settings(&self.load()?, options).method())
    }

    fn endpoint(&self) -> Result<&ServerUrl> {
        match &self.endpoint {
            Some(Ok(url)) => Ok(url),
            Some(Err(e)) => Err(e.clone()),
            None => Err(Error::invalid_argument(format!(
                "no DHCore endpoint: set {ENDPOINT} (e.g. https://core.example.org), \
                 or {} in [{}] of {}, or pass the option server",
                ini_key(ENDPOINT),
                self.profile,
                self.path.display()
            ))),
        }
    }

    fn load(&self) -> Result<Ini> {
        Ok(dhcore_ini::load(&self.path)?.unwrap_or_default())
    }

    fn lock(&self, options: &Options) -> Result<FileLock> {
        FileLock::acquire(&self.path, options.timeout)
    }

    fn deadline(options: &Options) -> Option<Instant> {
        Some(Instant::now() + options.timeout)
    }

    /// Every setting: option, else the profile's section, else the environment.
    fn settings(&self, ini: &Ini, options: &Options) -> Settings {
        let section = ini.section(&self.profile);
        let mut values = BTreeMap::new();
        for name in SETTINGS {
            let file = non_empty(section.get(&ini_key(name)).map(String::as_str));
            let found = match file {
                Some(value) => Some((value, Origin::File)),
                None => self.env.get(name).map(|v| (v.clone(), Origin::Env)),
            };
            if let Some(found) = found {
                values.insert(name, found);
            }
        }
        let option = |value: Option<&str>| non_empty(value).map(|v| (v, Origin::Option));
        if let Some(v) = option(options.client_id.as_deref()) {
            values.insert(CLIENT_ID, v);
        }
        if let Some(v) = option(options.issuer.as_deref()) {
            values.insert(ISSUER, v);
        }
        if let Some(pat) = &options.subject_token {
            values.insert(PAT, (pat.expose().to_string(), Origin::Option));
        }
        let file_access = values
            .get(ACCESS_TOKEN)
            .is_some_and(|(_, f)| *f == Origin::File);
        let file_value = |key: &str| {
            file_access
                .then(|| non_empty(section.get(key).map(String::as_str)))
                .flatten()
        };
        Settings {
            file_expires_in: file_value("expires_in"),
            file_expires_at: file_value(EXPIRES_AT_KEY),
            file_id_token: file_value("id_token"),
            values,
            profile: self.profile.clone(),
            path: self.path.clone(),
        }
    }

    fn client(&self, settings: &Settings, what: &str) -> Result<Client> {
        let id = settings.get(CLIENT_ID).ok_or_else(|| {
            Error::invalid_argument(format!(
                "{what} needs a client id: set {CLIENT_ID}, or {} in [{}] of {}, or pass client_id",
                ini_key(CLIENT_ID),
                self.profile,
                self.path.display()
            ))
        })?;
        Ok(Client::public(id))
    }

    /// `OAUTH2_TOKEN_ENDPOINT`, else the issuer's discovery document (cached).
    fn token_endpoint(&self, settings: &Settings, options: &Options) -> Result<String> {
        if let Some(endpoint) = settings.get(TOKEN_ENDPOINT) {
            let source = settings.source(TOKEN_ENDPOINT);
            let url = url::Url::parse(endpoint)
                .map_err(|_| Error::invalid_argument(format!("{source} is not a URL")))?;
            require_secure(&url, &source)?;
            return Ok(endpoint.to_string());
        }
        let issuer = settings.get(ISSUER).ok_or_else(|| {
            Error::invalid_argument(format!(
                "no token endpoint: set {ISSUER} (or {TOKEN_ENDPOINT}), or {} in [{}] of {}",
                ini_key(ISSUER),
                self.profile,
                self.path.display()
            ))
        })?;
        let issuer = ServerUrl::parse(issuer).map_err(|e| e.context(settings.source(ISSUER)))?;
        Ok(discovery::discover(&issuer, Self::deadline(options))?
            .token_endpoint
            .clone())
    }

    fn no_credentials(&self) -> Error {
        Error::no_credentials(format!(
            "no DHCore credentials for profile {:?}: set {PAT} (with {CLIENT_ID} and {ISSUER} \
             or {TOKEN_ENDPOINT}), or {ACCESS_TOKEN} (and {REFRESH_TOKEN}), or {USER} and \
             {PASSWORD}, in the environment or as the same keys in lower case in [{}] of {} \
             (or save a token with save_token)",
            self.profile,
            self.profile,
            self.path.display()
        ))
    }

    /// The message for an access token that has expired and cannot be renewed.
    fn cannot_renew(&self, settings: &Settings, why: &str) -> Error {
        Error::authentication(format!(
            "the DHCore access token from {} {why} and cannot be refreshed (there is no \
             refresh token or personal access token); set {PAT} (with {CLIENT_ID}) or a new \
             {ACCESS_TOKEN} with {REFRESH_TOKEN}, or save a new token",
            settings.source(ACCESS_TOKEN)
        ))
    }

    /// A usable token. With `rejected` (the server refused that token), a
    /// stored token equal to it is not reused but renewed, when the method
    /// can renew. `force` renews whatever is stored.
    fn obtain(
        &self,
        options: &Options,
        force: bool,
        rejected: Option<&Secret>,
    ) -> Result<(Token, Source)> {
        let settings = self.settings(&self.load()?, options);
        let reusable = |token: &Token, method: Method| {
            !force
                && rejected != Some(&token.bearer)
                && token.is_fresh(options.refresh_margin_s)
                // A personal access token is exchanged again unless the
                // stored token's expiry is known.
                && (method != Method::Exchange || token.expires_at.is_some())
        };
        match settings.method() {
            Method::None => Err(self.no_credentials()),
            Method::Basic => settings
                .basic()
                .map(|t| (t, Source::Stored))
                .ok_or_else(|| {
                    Error::invalid_argument("DHCore user or password is not valid text")
                }),
            Method::Bearer => {
                let token = settings
                    .access_token()
                    .ok_or_else(|| self.no_credentials())?;
                if !token.is_unexpired_at(unix_now()) {
                    return Err(self.cannot_renew(&settings, "has expired"));
                }
                Ok((token, Source::Stored))
            }
            method => {
                if let Some(token) = settings.access_token()
                    && reusable(&token, method)
                {
                    return Ok((token, Source::Stored));
                }
                let _lock = self.lock(options)?;
                // Someone may have renewed it while we waited for the lock.
                let settings = self.settings(&self.load()?, options);
                let method = settings.method();
                if let Some(token) = settings.access_token()
                    && method.renews()
                    && reusable(&token, method)
                {
                    return Ok((token, Source::Stored));
                }
                match method {
                    Method::Exchange => {
                        Ok((self.exchange_locked(&settings, options)?, Source::Issued))
                    }
                    Method::OAuth2 => {
                        Ok((self.refresh_locked(&settings, options)?, Source::Issued))
                    }
                    // The file changed under us: use what it holds now.
                    Method::Bearer => settings
                        .access_token()
                        .map(|t| (t, Source::Stored))
                        .ok_or_else(|| self.no_credentials()),
                    Method::Basic => settings
                        .basic()
                        .map(|t| (t, Source::Stored))
                        .ok_or_else(|| self.no_credentials()),
                    Method::None => Err(self.no_credentials()),
                }
            }
        }
    }

    /// Exchanges the personal access token and writes the reply back. The
    /// caller holds the lock.
    fn exchange_locked(&self, settings: &Settings, options: &Options) -> Result<Token> {
        let pat = settings.secret(PAT).ok_or_else(|| {
            Error::invalid_argument("the personal access token is not valid text")
        })?;
        let client = self.client(settings, "the personal access token exchange")?;
        let endpoint = self.token_endpoint(settings, options)?;
        let issued_at = unix_now();
        let reply = exchange::exchange(
            &endpoint,
            &client,
            &Subject {
                token: &pat,
                token_type: PAT_TOKEN_TYPE,
            },
            Some(SCOPE),
            Self::deadline(options),
        )?;
        self.write_back_locked(&reply, settings, issued_at)
    }

    /// Refreshes with the refresh token the caller just read under the lock.
    /// When the server refuses it, the file is read once more: a process that
    /// takes no lock (the SDK) may have rotated the single-use refresh token.
    fn refresh_locked(&self, settings: &Settings, options: &Options) -> Result<Token> {
        refresh_with_reread(
            settings.clone(),
            options.refresh_margin_s,
            |s| self.refresh_once(s, options),
            || Ok(self.settings(&self.load()?, options)),
        )
    }

    fn refresh_once(&self, settings: &Settings, options: &Options) -> Result<Token> {
        let refresh_token = settings
            .secret(REFRESH_TOKEN)
            .ok_or_else(|| Error::authentication("there is no refresh token"))?;
        let client = self.client(settings, "the token refresh")?;
        let endpoint = self.token_endpoint(settings, options)?;
        let issued_at = unix_now();
        let reply = refresh::refresh(
            &endpoint,
            &client,
            &refresh_token,
            Some(SCOPE),
            Self::deadline(options),
        )?;
        self.write_back_locked(&reply, settings, issued_at)
    }

    /// Writes a token reply to the profile, under the lock the caller holds,
    /// re-reading the file first so nothing another writer added is lost.
    fn write_back_locked(
        &self,
        reply: &Map<String, Value>,
        used: &Settings,
        issued_at: i64,
    ) -> Result<Token> {
        let mut ini = self.load()?;
        apply_reply(&mut ini, &self.profile, reply, used, issued_at)?;
        dhcore_ini::save(&self.path, &ini)?;
        let settings = self.settings(&ini, &Options::default());
        let mut token = settings
            .access_token()
            .ok_or_else(|| Error::server("the token reply has no access_token"))?;
        // The file may name an older refresh token only if the reply has
        // none; keep the one that was used then (it is still valid).
        if token.refresh.is_none() {
            token.refresh = used.secret(REFRESH_TOKEN);
        }
        Ok(token)
    }

    /// `GET <endpoint>/api/auth` with the credentials.
    fn api_auth(&self, token: &Token, options: &Options) -> Result<ApiAnswer> {
        let url = self.endpoint()?.join("/api/auth");
        let what = format!("GET {url}");
        let response = net::send(
            Request::get(&url)
                .header("authorization", authorization(&token.bearer))
                .header("accept", "application/json")
                .deadline(Self::deadline(options)),
        )?;
        match response.status {
            200 => {
                let username = serde_json::from_slice::<Value>(&response.body)
                    .ok()
                    .and_then(|v| {
                        ["username", "name"]
                            .iter()
                            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
                    })
                    .filter(|u| !u.is_empty());
                Ok(ApiAnswer::Valid { username })
            }
            401 | 403 => Ok(ApiAnswer::Rejected),
            status => Err(Error::server_reply(
                ErrorKind::Server,
                &what,
                status,
                &response.body,
            )),
        }
    }

    /// With `validate`, a stored credential must pass `/api/auth`; a rejected
    /// one is renewed once when the method can, else it is an error.
    fn validated(&self, found: (Token, Source), options: &Options) -> Result<Token> {
        let (mut token, source) = found;
        if !options.validate || source == Source::Issued {
            return Ok(token);
        }
        match self.api_auth(&token, options)? {
            ApiAnswer::Valid { username } => {
                token.username = username.or(token.username);
                Ok(token)
            }
            ApiAnswer::Rejected => {
                let settings = self.settings(&self.load()?, options);
                let method = settings.method();
                if method.renews() {
                    log::warn(&format!(
                        "{} rejected the stored DHCore access token; getting a new one",
                        self.endpoint()?.as_str()
                    ));
                    let (token, _) = self.obtain(options, false, Some(&token.bearer))?;
                    return Ok(token);
                }
                let what = if method == Method::Basic {
                    format!(
                        "the user and password from {} and {}; correct them",
                        settings.source(USER),
                        settings.source(PASSWORD)
                    )
                } else {
                    format!(
                        "the access token from {}; replace it",
                        settings.source(ACCESS_TOKEN)
                    )
                };
                Err(Error::authentication(format!(
                    "{} rejected {what}, or set {PAT} (with {CLIENT_ID})",
                    self.endpoint()?.as_str()
                )))
            }
        }
    }
}

/// Refreshes with `settings`; when refused (`Authentication`), asks `reread`
/// for the file's settings once more and, if another process has meanwhile
/// stored a fresh access token, returns it, or if it has rotated the refresh
/// token, refreshes with the new one. Otherwise the first error stands.
fn refresh_with_reread(
    settings: Settings,
    margin: i64,
    refresh: impl Fn(&Settings) -> Result<Token>,
    reread: impl FnOnce() -> Result<Settings>,
) -> Result<Token> {
    let first = match refresh(&settings) {
        Ok(token) => return Ok(token),
        Err(e) if e.kind() == ErrorKind::Authentication => e,
        Err(e) => return Err(e),
    };
    let again = reread()?;
    if let Some(token) = again.access_token()
        && settings.get(ACCESS_TOKEN) != Some(token.bearer.expose())
        && token.is_fresh(margin)
    {
        return Ok(token);
    }
    match (again.get(REFRESH_TOKEN), settings.get(REFRESH_TOKEN)) {
        (Some(new), Some(old)) if new != old => refresh(&again).map_err(|e| {
            e.context(
                "the DHCore refresh token can no longer be used; log in again or set a new one",
            )
        }),
        _ => Err(first.context(format!(
            "the refresh token from {} was refused; set a new one (or {PAT})",
            settings.source(REFRESH_TOKEN)
        ))),
    }
}

/// Lays a token reply over `profile` with the SDK's names, plus the client id
/// and issuer used, `dhcore_expires_at`, and `current_environment`.
fn apply_reply(
    ini: &mut Ini,
    profile: &str,
    reply: &Map<String, Value>,
    used: &Settings,
    issued_at: i64,
) -> Result<()> {
    // Token fields of an earlier reply that this one does not renew would
    // describe the wrong token.
    for stale in ["id_token", "expires_in", EXPIRES_AT_KEY] {
        if !reply.contains_key(stale) {
            ini.remove(profile, stale);
        }
    }
    for (field, value) in reply {
        let key = match field.as_str() {
            "access_token" => "dhcore_access_token".to_string(),
            "refresh_token" => "dhcore_refresh_token".to_string(),
            "client_id" => "dhcore_client_id".to_string(),
            "issuer" => "dhcore_issuer".to_string(),
            "token_endpoint" => "oauth2_token_endpoint".to_string(),
            other => other.to_ascii_lowercase(),
        };
        let valid_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_key
            || matches!(
                key.as_str(),
                "dhcore_personal_access_token" | EXPIRES_AT_KEY | CURRENT_ENVIRONMENT
            )
        {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            // Python's str(True), as the SDK would write it.
            Value::Bool(true) => "True".to_string(),
            Value::Bool(false) => "False".to_string(),
            Value::Null => continue,
            other => other.to_string(),
        };
        ini.set(profile, &key, &text)?;
    }
    for name in [CLIENT_ID, ISSUER] {
        let key = ini_key(name);
        if let Some(value) = used.get(name)
            && !reply.contains_key(&key["dhcore_".len()..])
            && ini.get(profile, &key) != Some(value)
        {
            ini.set(profile, &key, value)?;
        }
    }
    if used
        .origin(TOKEN_ENDPOINT)
        .is_some_and(|f| f != Origin::File)
        && !reply.contains_key("token_endpoint")
        && let Some(value) = used.get(TOKEN_ENDPOINT)
    {
        ini.set(profile, &ini_key(TOKEN_ENDPOINT), value)?;
    }
    if let Some(expires_in) = oauth::number(reply, "expires_in") {
        ini.set(
            profile,
            EXPIRES_AT_KEY,
            &dhcore_ini::format_rfc3339(issued_at.saturating_add(expires_in)),
        )?;
    }
    ini.set(DEFAULT_SECTION, CURRENT_ENVIRONMENT, profile)?;
    Ok(())
}

fn default_path(env: Env<'_>) -> Result<PathBuf> {
    if let Some(path) = non_empty(env("DH_CONFIG").as_deref()) {
        return Ok(PathBuf::from(path));
    }
    let home = non_empty(env("HOME").as_deref()).ok_or_else(|| {
        Error::invalid_argument(
            "cannot find the home directory for ~/.dhcore.ini; set DH_CONFIG or token_path",
        )
    })?;
    Ok(PathBuf::from(home).join(FILE_NAME))
}

/// `token`, with the username of `current` when it names none.
fn keep_username(token: Token, current: &Token) -> Token {
    Token {
        username: token.username.or_else(|| current.username.clone()),
        ..token
    }
}

impl Provider for DhCore {
    fn server(&self) -> &str {
        match &self.endpoint {
            Some(Ok(url)) => url.as_str(),
            _ => "",
        }
    }

    fn authenticate(&self, options: &Options) -> Result<Token> {
        self.endpoint()?;
        if let Some(given) = &options.token {
            let token = Token::bare(given.clone());
            if !options.validate {
                return Ok(token);
            }
            return match self.api_auth(&token, options)? {
                ApiAnswer::Valid { username } => Ok(Token { username, ..token }),
                ApiAnswer::Rejected => Err(Error::authentication(format!(
                    "{} rejected the given token",
                    self.endpoint()?.as_str()
                ))),
            };
        }
        let found = self.obtain(options, options.force, None)?;
        self.validated(found, options)
    }

    fn refresh(&self, current: &Token, options: &Options) -> Result<Token> {
        if options.token.is_some() {
            return Ok(current.clone());
        }
        let settings = self.settings(&self.load()?, options);
        if settings.method() == Method::Bearer
            && let Some(stored) = settings.access_token()
            && stored.bearer == current.bearer
        {
            // Not renewable: keep using it until it expires, then say what to do.
            return if current.is_unexpired_at(unix_now()) {
                Ok(current.clone())
            } else {
                Err(self.cannot_renew(&settings, "has expired"))
            };
        }
        self.obtain(options, false, None)
            .map(|(token, _)| keep_username(token, current))
    }

    fn reauthenticate(&self, current: &Token, options: &Options) -> Result<Token> {
        // Typically after a 401: the current token is not reused when it can be renewed.
        let found = self.obtain(options, options.force, Some(&current.bearer))?;
        let token = self.validated(found, options)?;
        Ok(keep_username(token, current))
    }

    fn check(&self, token: &Token, options: &Options) -> Result<bool> {
        Ok(matches!(
            self.api_auth(token, options)?,
            ApiAnswer::Valid { .. }
        ))
    }

    /// Writes `token` (a bare access token obtained elsewhere) as
    /// `dhcore_access_token` of the profile, replacing the stored token's
    /// other keys (refresh token, expiry, …).
    fn save_token(&self, token: &str, options: &Options) -> Result<()> {
        let token = token.trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid_argument(
                "dhcore takes a bare access token (no spaces, no \"Bearer \")",
            ));
        }
        let _lock = self.lock(options)?;
        let mut ini = self.load()?;
        if !options.overwrite && ini.get(&self.profile, "dhcore_access_token").is_some() {
            return Err(Error::invalid_argument(format!(
                "[{}] of {} already has an access token and overwrite=false",
                self.profile,
                self.path.display()
            )));
        }
        for key in TOKEN_KEYS {
            ini.remove(&self.profile, key);
        }
        ini.set(&self.profile, "dhcore_access_token", token)?;
        ini.set(DEFAULT_SECTION, CURRENT_ENVIRONMENT, &self.profile)?;
        dhcore_ini::save(&self.path, &ini)
    }

    /// Removes the stored token's keys from the profile's section; every
    /// other key and section (and the personal access token, user and
    /// password, which the user configured) stays.
    fn logout(&self, options: &Options) -> Result<()> {
        let _lock = self.lock(options)?;
        let Some(mut ini) = dhcore_ini::load(&self.path)? else {
            return Ok(());
        };
        let mut changed = false;
        for key in TOKEN_KEYS {
            changed |= ini.remove(&self.profile, key);
        }
        if changed {
            dhcore_ini::save(&self.path, &ini)?;
        }
        Ok(())
    }
}

/// The DHCore credentials `hubauth status` lists: each profile of the file
/// (`$DH_CONFIG` or `~/.dhcore.ini`) that has credentials, with the
/// environment merged in as `authenticate` would, plus the current profile
/// when only the environment has them. No network, no lock, no token values.
pub(crate) fn discover(env: Env<'_>) -> Vec<CredentialInfo> {
    let provider = crate::options::ProviderKind::DhCore.name();
    let Ok(path) = default_path(env) else {
        return Vec::new();
    };
    let has_env = SETTINGS
        .iter()
        .any(|name| non_empty(env(name).as_deref()).is_some());
    let entry = |profile: &str, server: String| CredentialInfo {
        provider: provider.to_string(),
        server,
        user: None,
        source: format!("{} [{profile}]", path.display()),
        expires_at: None,
        refreshable: false,
        usable: false,
        problem: None,
        options: vec![
            ("provider".into(), provider.into()),
            ("token_path".into(), path.display().to_string()),
            ("profile".into(), profile.into()),
        ],
    };
    let ini = match dhcore_ini::load(&path) {
        Ok(Some(ini)) => ini,
        Ok(None) if !has_env => return Vec::new(),
        Ok(None) => Ini::default(),
        Err(e) => {
            let mut broken = entry(DEFAULT_PROFILE, String::new());
            broken.problem = Some(e.message().to_string());
            return vec![broken];
        }
    };
    let current = non_empty(env("DH_NAME").as_deref())
        .or_else(|| ini.current_environment().map(str::to_string))
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let mut profiles: Vec<String> = ini.sections().iter().map(|s| s.to_string()).collect();
    if !profiles.contains(&current) {
        profiles.push(current.clone());
    }
    let mut found = Vec::new();
    for profile in profiles {
        let mut options = Options::new();
        options.profile = Some(profile.clone());
        options.token_path = Some(path.clone());
        let Ok(dh) = DhCore::with_env(env, &options) else {
            continue;
        };
        let settings = dh.settings(&ini, &options);
        let method = settings.method();
        if method == Method::None {
            continue;
        }
        let mut info = entry(&profile, dh.server().to_string());
        let from_file = [PAT, ACCESS_TOKEN, USER]
            .iter()
            .any(|n| settings.origin(n) == Some(Origin::File));
        if !from_file {
            info.source = format!("environment (profile {profile})");
        }
        info.refreshable = method.renews();
        let token = match method {
            Method::Basic => settings.basic(),
            _ => settings.access_token(),
        };
        if let Some(token) = &token {
            info.user = token.username.clone();
            info.expires_at = token.expires_at;
        }
        let unexpired = token.as_ref().is_none_or(|t| t.is_unexpired_at(unix_now()));
        info.usable = dh.endpoint().is_ok() && (unexpired || info.refreshable);
        info.problem = match dh.endpoint() {
            Err(e) => Some(e.message().to_string()),
            Ok(_) if !info.usable => Some(
                "the access token has expired and cannot be refreshed; set a new one".to_string(),
            ),
            Ok(_) => None,
        };
        found.push(info);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let provider = DhCore::with_env(
            &env(&[
                ("HOME", "/nonexistent-home"),
                ("DHCORE_ENDPOINT", "http://127.0.0.1:1"),
            ]),
            &Options::new(),
        )
        .unwrap();
        let mut ini = Ini::default();
        for (k, v) in pairs {
            ini.set(DEFAULT_PROFILE, k, v).unwrap();
        }
        provider.settings(&ini, &Options::new())
    }

    fn token(value: &str) -> Token {
        Token::bare(Secret::new(value).unwrap())
    }

    #[test]
    fn method_priority() {
        let all = [
            ("dhcore_personal_access_token", "p"),
            ("dhcore_access_token", "a"),
            ("dhcore_refresh_token", "r"),
            ("dhcore_user", "u"),
            ("dhcore_password", "w"),
        ];
        assert_eq!(settings(&all).method(), Method::Exchange);
        assert_eq!(settings(&all[1..]).method(), Method::OAuth2);
        assert_eq!(settings(&[all[1], all[3], all[4]]).method(), Method::Bearer);
        assert_eq!(settings(&all[3..]).method(), Method::Basic);
        assert_eq!(settings(&all[3..4]).method(), Method::None);
        assert_eq!(settings(&[all[2]]).method(), Method::None);
        let basic = settings(&all[3..]).basic().unwrap();
        assert_eq!(basic.bearer.expose(), "Basic dTp3");
        assert_eq!(authorization(&basic.bearer), "Basic dTp3");
        assert_eq!(authorization(&Secret::new("t").unwrap()), "Bearer t");
    }

    #[test]
    fn endpoint_and_path_rules() {
        let o = Options::new();
        let p = DhCore::with_env(
            &env(&[
                ("HOME", "/h"),
                ("DHCORE_ENDPOINT", "http://127.0.0.1:8080/"),
            ]),
            &o,
        )
        .unwrap();
        assert_eq!(p.server(), "http://127.0.0.1:8080");
        assert_eq!(p.token_path(), Path::new("/h/.dhcore.ini"));
        assert_eq!(p.profile(), DEFAULT_PROFILE);
        let p = DhCore::with_env(
            &env(&[
                ("HOME", "/h"),
                ("DH_CONFIG", "/c/x.ini"),
                ("DH_NAME", "dev"),
                ("DHCORE_ENDPOINT", "core.example.org"),
            ]),
            &o,
        )
        .unwrap();
        assert_eq!(p.token_path(), Path::new("/c/x.ini"));
        assert_eq!(p.profile(), "dev");
        assert_eq!(p.endpoint().unwrap_err().kind(), ErrorKind::InvalidArgument);
        let p = DhCore::with_env(
            &env(&[
                ("HOME", "/h"),
                ("DHCORE_ENDPOINT", "http://core.example.org"),
            ]),
            &o,
        )
        .unwrap();
        assert_eq!(p.endpoint().unwrap_err().kind(), ErrorKind::Insecure);
        let p = DhCore::with_env(&env(&[("HOME", "/h")]), &o).unwrap();
        let e = p.endpoint().unwrap_err();
        assert!(e.message().contains("DHCORE_ENDPOINT"), "{}", e.message());
        let mut o = Options::new();
        o.set("profile", "DEFAULT").unwrap();
        assert!(DhCore::with_env(&env(&[("HOME", "/h")]), &o).is_err());
    }

    #[test]
    fn reply_is_written_with_the_sdk_names() {
        let used = settings(&[
            ("dhcore_personal_access_token", "pat-secret"),
            ("dhcore_client_id", "cli"),
            ("dhcore_issuer", "http://127.0.0.1:9090"),
        ]);
        let mut ini = Ini::default();
        ini.set("p", "id_token", "stale").unwrap();
        let reply: Map<String, Value> = serde_json::from_str(
            r#"{"access_token":"a","refresh_token":"r","expires_in":60,"token_type":"Bearer",
                "scope":"credentials","aws_access_key_id":"k","weird key":"x","n":null,
                "flag":true,"token_endpoint":"http://127.0.0.1:9090/t"}"#,
        )
        .unwrap();
        apply_reply(&mut ini, "p", &reply, &used, 1_000_000_000).unwrap();
        let p = ini.section("p");
        let keys: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "aws_access_key_id",
                CURRENT_ENVIRONMENT,
                "dhcore_access_token",
                "dhcore_client_id",
                EXPIRES_AT_KEY,
                "dhcore_issuer",
                "dhcore_refresh_token",
                "expires_in",
                "flag",
                "oauth2_token_endpoint",
                "scope",
                "token_type",
            ]
        );
        assert_eq!(p[EXPIRES_AT_KEY], "2001-09-09T01:47:40Z");
        assert_eq!(p["flag"], "True");
        assert_eq!(ini.current_environment(), Some("p"));
        assert!(!ini.to_text().unwrap().contains("pat-secret"));
    }

    #[test]
    fn a_refused_refresh_rereads_the_file_once() {
        let refused = || Error::authentication("invalid_grant");
        let base = settings(&[
            ("dhcore_access_token", "a1"),
            ("dhcore_refresh_token", "r1"),
            ("dhcore_client_id", "c"),
        ]);
        // Another process rotated r1 → r2: the refresh is tried with r2.
        let rotated = settings(&[
            ("dhcore_access_token", "a2"),
            ("dhcore_refresh_token", "r2"),
            ("dhcore_expires_at", "2000-01-01T00:00:00Z"),
        ]);
        let calls = Cell::new(0);
        let got = refresh_with_reread(
            base.clone(),
            600,
            |s| {
                calls.set(calls.get() + 1);
                match s.get(REFRESH_TOKEN) {
                    Some("r2") => Ok(token("a3")),
                    _ => Err(refused()),
                }
            },
            || Ok(rotated.clone()),
        )
        .unwrap();
        assert_eq!(got.bearer.expose(), "a3");
        assert_eq!(calls.get(), 2);
        // It also stored a fresh access token: that one is used, no request.
        let fresh = settings(&[
            ("dhcore_access_token", "a2"),
            ("dhcore_refresh_token", "r2"),
            ("dhcore_expires_at", "2999-01-01T00:00:00Z"),
        ]);
        let calls = Cell::new(0);
        let got = refresh_with_reread(
            base.clone(),
            600,
            |_| {
                calls.set(calls.get() + 1);
                Err(refused())
            },
            || Ok(fresh.clone()),
        )
        .unwrap();
        assert_eq!(got.bearer.expose(), "a2");
        assert_eq!(calls.get(), 1);
        // Nothing changed: the first refusal stands, after one request.
        let calls = Cell::new(0);
        let e = refresh_with_reread(
            base.clone(),
            600,
            |_| {
                calls.set(calls.get() + 1);
                Err(refused())
            },
            || Ok(base.clone()),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(calls.get(), 1);
        // Other errors (network) are not retried and the file is not re-read.
        let e = refresh_with_reread(
            base.clone(),
            600,
            |_| Err(Error::network("down")),
            || panic!("no re-read after a network error"),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network);
    }

    #[test]
    fn expiry_comes_from_the_file_or_the_jwt() {
        let s = settings(&[
            ("dhcore_access_token", "a"),
            ("dhcore_expires_at", "2030-01-01T00:00:00Z"),
            ("expires_in", "3600"),
        ]);
        let t = s.access_token().unwrap();
        assert_eq!(t.expires_at, Some(1_893_456_000));
        assert_eq!(t.lifetime, Some(3600));
        // {"exp": 2000000000}
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":2000000000}"#);
        let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        let t = settings(&[("dhcore_access_token", &jwt)])
            .access_token()
            .unwrap();
        assert_eq!(t.expires_at, Some(2_000_000_000));
        assert_eq!(
            settings(&[("dhcore_access_token", "opaque")])
                .access_token()
                .unwrap()
                .expires_at,
            None
        );
    }

    #[test]
    fn status_lists_profiles_with_credentials_and_no_token_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".dhcore.ini");
        std::fs::write(
            &path,
            "[DEFAULT]\ncurrent_environment = dev\n[dev]\ndhcore_access_token = tok-dev\n\
             dhcore_refresh_token = ref-dev\ndhcore_expires_at = 2001-01-01T00:00:00Z\n\
             [old]\ndhcore_access_token = tok-old\ndhcore_expires_at = 2001-01-01T00:00:00Z\n\
             [empty]\nnote = x\n",
        )
        .unwrap();
        let home = dir.path().display().to_string();
        let e = env(&[("HOME", &home), ("DHCORE_ENDPOINT", "http://127.0.0.1:5")]);
        let found = discover(&e);
        let profiles: Vec<&str> = found.iter().map(|i| i.options[2].1.as_str()).collect();
        assert_eq!(profiles, ["dev", "old"]);
        assert!(found[0].usable && found[0].refreshable);
        assert_eq!(found[0].server, "http://127.0.0.1:5");
        assert_eq!(found[0].expires_at, Some(978_307_200));
        assert!(!found[1].usable && !found[1].refreshable);
        assert!(found[1].problem.as_deref().unwrap().contains("expired"));
        let shown = serde_json::to_string(&found).unwrap();
        assert!(!shown.contains("tok-") && !shown.contains("ref-dev"));
        // Only the environment: one entry for the current profile.
        let e = env(&[
            ("HOME", "/nonexistent"),
            ("DHCORE_USER", "u"),
            ("DHCORE_PASSWORD", "p"),
        ]);
        let found = discover(&e);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].user.as_deref(), Some("u"));
        assert!(found[0].source.starts_with("environment"));
        assert!(!found[0].usable, "no DHCORE_ENDPOINT");
        assert!(discover(&env(&[("HOME", "/nonexistent")])).is_empty());
    }
}
