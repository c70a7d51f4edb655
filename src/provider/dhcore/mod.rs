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

mod renew;
mod settings;
mod status;

pub use self::settings::Method;
use self::settings::*;
pub(crate) use self::status::discover;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::env::{Env, process_env};
use crate::error::{Error, ErrorKind, Result};
use crate::log;
use crate::net::{self, Request};
use crate::options::Options;
use crate::provider::Provider;
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::dhcore_ini::{self, CURRENT_ENVIRONMENT, DEFAULT_SECTION, Ini};
use crate::store::fsutil::FileLock;
use crate::token::{Token, unix_now};

/// The request header for a handed-out value (see the module docs).
fn authorization(value: &Secret) -> String {
    let value = value.expose();
    if value.starts_with("Basic ") {
        value.to_string()
    } else {
        format!("Bearer {value}")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    pub(super) fn settings(pairs: &[(&str, &str)]) -> Settings {
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

    pub(super) fn token(value: &str) -> Token {
        Token::bare(Secret::new(value).unwrap())
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
}
