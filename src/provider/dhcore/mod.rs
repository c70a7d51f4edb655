//! `dhcore`: the DigitalHub SDK's DHCore credentials (digitalhub's credentials and configurator code). The
//! order of a call (the given token, the store, one renewal under the lock,
//! logins) is the engine's, [`crate::lifecycle`]; what differs is below.
//!
//! Settings come from `.dhcore.ini` (option `token_path`, else `$DH_CONFIG`,
//! else `~/.dhcore.ini`) and the environment, under the same names
//! (`DHCORE_ACCESS_TOKEN` in the environment is `dhcore_access_token` in the
//! file). Each setting is looked up as SDK 0.15.11 (the stable release)
//! does: first the option that names it (`server` for `DHCORE_ENDPOINT`,
//! `client_id`, `issuer`, `subject_token` for the personal access token);
//! then, for the configuration (`DHCORE_ENDPOINT`, `DHCORE_ISSUER`,
//! `DHCORE_CLIENT_ID`, `OAUTH2_TOKEN_ENDPOINT`), the environment before the
//! profile's section of the file (config_manager.py:101-113), and for the
//! credentials the file before the environment (139-156). (0.16 betas let
//! the file win for everything, 0.16.0b19 credential_store.py:31-37, 64-68;
//! hubauth follows the stable release, and so never writes a configuration
//! value that came from the environment into the file, where a 0.16 SDK
//! would take it over the environment ever after: see "Token replies".) The
//! profile is option `profile`, else `$DH_NAME`, else `[DEFAULT]
//! current_environment`, else `__default`. A profile missing from the file
//! gives no value at all, not even `[DEFAULT]`'s, as in SDK 0.15.11, which
//! reads `file[profile][key]` and takes the KeyError as unset
//! (file_module.py:139-142); an existing profile inherits `[DEFAULT]`. An empty value is set, as for the SDK: an empty
//! personal access token selects the exchange, and hubauth then fails saying
//! which value is empty rather than sending it.
//!
//! Plain http: DHCore defaults to `http://localhost:8080` and in-cluster
//! workspaces get `http://<release>-core:<port>`, and the SDK accepts http.
//! So does hubauth for what the user configured (endpoint, issuer, token
//! endpoint; option, environment or file), with a warning once per origin
//! that tokens travel unencrypted. A token endpoint learned from discovery
//! must be https, or http only on the configured http issuer's own origin
//! ([`IssuerCheck::Lenient`](crate::flow::discovery::IssuerCheck)).
//! Discovery reads `token_endpoint` from
//! `<DHCORE_ISSUER>/.well-known/openid-configuration` and, like the SDK
//! (refresh.py:328-354), does not compare the document's `issuer` with
//! `DHCORE_ISSUER` (deployments name it in another form: internal vs
//! external URL, `:443`, http behind a TLS proxy). The `oidc` provider keeps
//! RFC 8414's exact match.
//!
//! The method, in priority order:
//! 1. a personal access token: exchanged (RFC 8693, `subject_token_type`
//!    `urn:ietf:params:oauth:token-type:pat`, `scope=credentials`, public
//!    client `DHCORE_CLIENT_ID`) for an access token, which is written back;
//!    a stored access token of known expiry is reused while it is fresh and
//!    the personal access token is the one it was exchanged for (hubauth's
//!    `hubauth_pat_sha256`, the SHA-256 of that token; the SDK exchanges the
//!    current token at every start, 0.15.11 client_configurator.py:65-80);
//! 2. access token + refresh token: used, and refreshed before it expires
//!    (`grant_type=refresh_token`, `client_id`, `refresh_token`,
//!    `scope=credentials`); the refresh token is single use (it rotates);
//! 3. access token only: used as is until it expires, never refreshed;
//! 4. user + password: HTTP Basic;
//! 5. nothing: `NoCredentials` (a deployment without authentication needs
//!    no hubauth: its requests carry no Authorization header).
//!
//! The credential `token()` gives the engine is typed
//! ([`Credential`](crate::token::Credential)):
//! - methods 1-3: `Bearer`, the bare access token, like every other provider;
//! - method 4: `Basic { user, password }`, sent as `Authorization: Basic
//!   base64(user:password)` (RFC 7617, UTF-8). There is no token to hand
//!   out: `hubauth_token` and `Authentication::token` refuse
//!   (`InvalidArgument`) and say to use `hubauth_authorization`, which
//!   renders the header value; `git-credential` gives git the user and
//!   password.
//!
//! When the file's credentials fail (the server rejects them and they
//! cannot be renewed, or renewing them fails), the environment's `DHCORE_*`
//! credentials alone are tried, as both SDK versions do (0.15.11
//! refresh.py:80-147 calls `eval_retry`, config_manager.py:176-202, which
//! switches to `reload_credentials_from_env`, 164-174; 0.16.0b19
//! auth/refresh.py:84-151, credential_session.py:33-41): a personal access
//! token is exchanged; an access token is asked about at `/api/auth` and
//! used when valid (not written), else refreshed with the environment's
//! refresh token (the renewed tokens are written, as the SDK writes them).
//! DigitalHub workspaces inject fresh tokens in the environment while an
//! old `~/.dhcore.ini` persists in the home directory.
//!
//! So a caller that supports every method asks for the header value
//! (`hubauth_authorization`) and sends it as is.
//!
//! Token replies are written to the profile's section with the SDK's names
//! (`access_token` → `dhcore_access_token`, `refresh_token` →
//! `dhcore_refresh_token`, every other field as is, e.g. `expires_in`,
//! `token_type`, `scope`, `id_token`, store credentials such as `aws_*`),
//! plus `dhcore_expires_at` (RFC 3339, UTC: when the token was requested +
//! `expires_in`), and `[DEFAULT] current_environment` is set to the profile.
//! The client id, issuer and token endpoint are written only where they
//! already were: the file's own values stay, and values from the
//! environment or an option are not copied in (SDK 0.15.11 writes
//! `dhcore_client_id`/`dhcore_issuer` only when the reply carries them,
//! refresh.py:262-300, and 0.16 betas would let a copied value override the
//! environment). The issuer and token endpoint that issued the credentials
//! are recorded in hubauth's own `hubauth_issuer` / `hubauth_token_endpoint`
//! when they came from the environment or an option, so the credentials are
//! never sent to another issuer the environment names later. A reply never
//! writes `client_id`, `issuer`, `token_endpoint` or an endpoint (a reply must not
//! change where the PAT goes next), and the token endpoint from the
//! environment is never written (the SDK does not, and a copy in the file
//! would pin it). The personal access token is never written. Expiry of a
//! stored access token: the `exp` claim when it is a JWT (after the SDK
//! refreshed, hubauth's `dhcore_expires_at` describes an older token), else
//! `dhcore_expires_at`, else unknown (then it is used until the server
//! rejects it).
//!
//! `~/.env`: SDK 0.15.11 also writes the new tokens to `~/.env` and loads
//! it; 0.16 only with `DOTENV_WRITE=true`. hubauth never writes it: the
//! ini file always holds the current tokens, and both SDK versions take
//! credentials from the file before the environment, so a `~/.env` left
//! behind (with a rotated, single-use refresh token) is never used while the
//! profile has a token; a second copy of every secret, outside the file's
//! lock, would only be one more place for a stale refresh token.
//!
//! The check is `GET <DHCORE_ENDPOINT>/api/auth` with the credentials: 200
//! valid, 401/403 not. A rejected credential is renewed when it can be.

mod renew;
mod settings;
mod status;

use self::settings::*;
pub use self::settings::{Method, Settings};
pub(crate) use self::status::discover;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::env::{Env, process_env};
use crate::error::{Error, ErrorKind, Result};
use crate::flow::user_check::user_check;
use crate::log;
use crate::net::Request;
use crate::options::Options;
use crate::provider::{Overwrite, Provider, Renewal, Verdict};
use crate::reply::TokenReply;
use crate::scope;
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::dhcore_ini::{self, CURRENT_ENVIRONMENT, DEFAULT_SECTION, Ini};
use crate::token::{Token, unix_now};

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
        // An empty variable is set, as for the SDK (see check_not_empty).
        let env_values: BTreeMap<&'static str, String> = SETTINGS
            .iter()
            .filter_map(|name| env(name).map(|v| (*name, v.trim().to_string())))
            .collect();
        let ini = dhcore_ini::load(&path)?.unwrap_or_default();
        let profile = options
            .profile
            .clone()
            .or_else(|| non_empty(env("DH_NAME").as_deref()))
            .or_else(|| ini.current_environment().map(str::to_string))
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
        check_profile(&profile)?;
        // A profile missing from the file gives no value (see load_profile).
        let file_endpoint = ini
            .has_section(&profile)
            .then(|| non_empty(ini.get(&profile, &ini_key(ENDPOINT))))
            .flatten();
        // SDK 0.15.11: the environment before the file for the endpoint.
        let env_endpoint = env_values.get(ENDPOINT).cloned().filter(|v| !v.is_empty());
        let (endpoint, endpoint_source) = match (&options.server, env_endpoint, file_endpoint) {
            (Some(server), _, _) => (Some(server.clone()), "the option `server`".to_string()),
            (None, Some(value), _) => (Some(value), format!("the environment variable {ENDPOINT}")),
            (None, None, file) => (
                file,
                format!("{} in [{profile}] of {}", ini_key(ENDPOINT), path.display()),
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
        Ok(self.settings(&self.load_ini()?, options).method())
    }

    fn endpoint(&self) -> Result<&ServerUrl> {
        match &self.endpoint {
            Some(Ok(url)) => Ok(url),
            Some(Err(e)) => Err(e.clone()),
            None => Err(Error::invalid_argument(format!(
                "no DHCore endpoint: set {ENDPOINT} (e.g. https://core.example.org), \
                 or {} in [{}] of {}, or pass the option `server`",
                ini_key(ENDPOINT),
                self.profile,
                self.path.display()
            ))),
        }
    }

    fn load_ini(&self) -> Result<Ini> {
        Ok(dhcore_ini::load(&self.path)?.unwrap_or_default())
    }

    /// The file, for reading the profile's settings. SDK 0.15.11 reads each
    /// key as `file[profile][key]` and takes a KeyError as "not set"
    /// (file_module.py:139-142): a profile missing from the file gives no
    /// value at all, not even `[DEFAULT]`'s. So does hubauth (it used to
    /// inherit `[DEFAULT]`); `save_token` still creates the profile.
    fn load_profile(&self) -> Result<Ini> {
        let ini = self.load_ini()?;
        if !ini.has_section(&self.profile) {
            return Ok(Ini::default());
        }
        Ok(ini)
    }

    fn no_credentials(&self) -> Error {
        Error::no_credentials(format!(
            "no DHCore credentials for profile {:?}: set {PAT} (with {CLIENT_ID} and {ISSUER} \
             or {TOKEN_ENDPOINT}), or {ACCESS_TOKEN} (and {REFRESH_TOKEN}), or {USER} and \
             {PASSWORD}, in the environment or as the same keys in lower case in [{}] of {} \
             (or save a token with save_token); a DHCore deployment without authentication \
             needs no hubauth: send its requests without an Authorization header",
            self.profile,
            self.profile,
            self.path.display()
        ))
    }

    /// The message for an access token that has expired and cannot be renewed.
    fn cannot_renew_from(&self, settings: &Settings, why: &str) -> Error {
        Error::authentication(format!(
            "the DHCore access token from {} {why} and cannot be refreshed (there is no \
             refresh token or personal access token); set {PAT} (with {CLIENT_ID}) or a new \
             {ACCESS_TOKEN} with {REFRESH_TOKEN}, or save a new token",
            settings.source(ACCESS_TOKEN)
        ))
    }

    /// The SDK's fallback once the file's credentials failed: the
    /// environment's credentials alone. SDK 0.15.11: a failed refresh calls
    /// `eval_retry` (refresh.py:80-147), which switches the session to the
    /// environment's credentials (config_manager.py:164-202,
    /// `reload_credentials_from_env`); 0.16.0b19 does the same
    /// (auth/refresh.py:84-151, credential_session.py:33-41). DigitalHub
    /// workspaces inject fresh `DHCORE_*` tokens while an old
    /// `~/.dhcore.ini` persists in the home directory. None when no
    /// credential came from the file (the environment's were the ones that
    /// failed) or the environment holds none.
    fn env_fallback(&self, ini: &Ini, options: &Options, used: &Settings) -> Option<Settings> {
        if !used.has_file_credentials() {
            return None;
        }
        let env = self.settings_with(ini, options, Credentials::EnvOnly);
        (env.method() != Method::None && env.check_not_empty().is_ok()).then_some(env)
    }

    /// A login with the settings as they are: an exchange, or what the user
    /// configured.
    fn login_with(&self, settings: &Settings) -> Result<DhCoreGrant> {
        match settings.method() {
            Method::Exchange => self.exchange(settings),
            Method::Basic => settings
                .basic()
                .map(DhCoreGrant::Configured)
                .ok_or_else(|| {
                    Error::invalid_argument("DHCore user or password is not valid text")
                }),
            Method::Bearer => match settings.access_token() {
                Some(token) if token.is_unexpired_at(unix_now()) => {
                    Ok(DhCoreGrant::Configured(token))
                }
                _ => Err(self.cannot_renew_from(settings, "has expired")),
            },
            Method::OAuth2 => Err(Error::authentication(format!(
                "the refresh token from {} cannot be used; set a new one (or {PAT})",
                settings.source(REFRESH_TOKEN)
            ))),
            Method::None => Err(self.no_credentials()),
        }
    }

    /// A login with the environment's credentials, as the SDK's retry does
    /// it (0.15.11 refresh.py:133-147): a personal access token is
    /// exchanged; an access token is asked about at `/api/auth` and used
    /// when valid, else refreshed with the refresh token when there is one
    /// (the renewed tokens are written to the file, as the SDK writes them).
    fn login_from_env(&self, env: &Settings) -> Result<DhCoreGrant> {
        let (Method::OAuth2 | Method::Bearer) = env.method() else {
            return self.login_with(env);
        };
        let token = env
            .access_token()
            .ok_or_else(|| Error::invalid_argument("the access token is not valid text"))?;
        if token.is_unexpired_at(unix_now())
            && let Verdict::Valid { username } = self.api_auth(&token)?
        {
            return Ok(DhCoreGrant::Configured(Token {
                username: username.or(token.username.clone()),
                ..token
            }));
        }
        if env.method() == Method::OAuth2 {
            return self.refresh(env);
        }
        Err(self.cannot_renew_from(env, "was rejected or has expired"))
    }

    /// `GET <endpoint>/api/auth` with the credentials.
    fn api_auth(&self, token: &Token) -> Result<Verdict> {
        let request = Request::get(self.endpoint()?.join("/api/auth"))
            .header("authorization", token.credential.authorization()?.expose())
            .deadline(scope::deadline());
        user_check(request, &[401, 403], &["username", "name"])
    }
}

/// How `renewal` found the settings can be renewed (the credentials are
/// read from the same settings).
pub enum DhCoreRenewal {
    /// Exchange the personal access token.
    Exchange,
    /// Present the refresh token (single use).
    Refresh,
}

/// A token for DHCore not yet saved.
pub enum DhCoreGrant {
    /// A token reply, the settings it was requested with, and when.
    Reply {
        reply: Box<TokenReply>,
        used: Settings,
        issued_at: i64,
    },
    /// What the user configured (user and password, an access token alone):
    /// nothing to save.
    Configured(Token),
}

impl Provider for DhCore {
    type Stored = Settings;
    type Grant = DhCoreGrant;
    type Plan = DhCoreRenewal;

    fn server(&self) -> &str {
        match &self.endpoint {
            Some(Ok(url)) => url.as_str(),
            _ => "",
        }
    }

    fn lock_paths(&self) -> Vec<&Path> {
        vec![&self.path]
    }

    /// The profile's settings; None when they hold no credentials. When the
    /// server rejected the file's access token (or user and password) in
    /// this call and they cannot be renewed, the environment's own
    /// credentials, as the SDK falls back to them (see [`Self::env_fallback`]).
    fn load(&self, options: &Options, skip: &[Secret]) -> Result<Option<Settings>> {
        self.endpoint()?;
        let ini = self.load_profile()?;
        let settings = self.settings(&ini, options);
        settings.check_not_empty()?;
        let method = settings.method();
        if method == Method::None {
            return Ok(None);
        }
        let skipped = |s: &Settings| {
            self.token(s, options)
                .is_some_and(|t| skip.contains(t.credential.secret()))
        };
        if !method.renews()
            && skipped(&settings)
            && let Some(env) = self.env_fallback(&ini, options, &settings)
            && !skipped(&env)
        {
            log::warn(&format!(
                "{} rejected the credentials of [{}] in {}; using the DHCORE_* credentials of \
                 the environment, as the DigitalHub SDK does",
                self.server(),
                self.profile,
                self.path.display()
            ));
            return Ok(Some(env));
        }
        Ok(Some(settings))
    }

    /// A personal access token is exchanged again unless the stored token's
    /// expiry is known and it was exchanged for this same personal access
    /// token (the SDK exchanges the current one at every start; a changed
    /// token may be another account's, or replace a leaked one).
    fn token(&self, settings: &Settings, _options: &Options) -> Option<Token> {
        match settings.method() {
            Method::Basic => settings.basic(),
            Method::Exchange => settings
                .access_token()
                .filter(|t| t.expires_at.is_some() && settings.access_token_is_from_this_pat()),
            Method::OAuth2 | Method::Bearer => settings.access_token(),
            Method::None => None,
        }
    }

    fn renewal(&self, settings: &Settings, _options: &Options) -> Renewal<DhCoreRenewal> {
        match settings.method() {
            Method::Exchange => Renewal::Reusable(DhCoreRenewal::Exchange),
            Method::OAuth2 => settings
                .secret(REFRESH_TOKEN)
                .map_or(Renewal::None, |refresh| {
                    Renewal::SingleUse(refresh, DhCoreRenewal::Refresh)
                }),
            Method::Bearer | Method::Basic | Method::None => Renewal::None,
        }
    }

    fn renew(
        &self,
        settings: &Settings,
        plan: DhCoreRenewal,
        _options: &Options,
    ) -> Result<DhCoreGrant> {
        match plan {
            DhCoreRenewal::Exchange => self.exchange(settings),
            DhCoreRenewal::Refresh => self.refresh(settings),
        }
    }

    /// DHCore has no login a person approves: a personal access token is
    /// exchanged; configured credentials are used as they are; otherwise the
    /// error says what to set.
    fn login(&self, options: &Options) -> Result<DhCoreGrant> {
        self.endpoint()?;
        let ini = self.load_profile()?;
        let settings = self.settings(&ini, options);
        settings.check_not_empty()?;
        let failure = match self.login_with(&settings) {
            Err(e) if e.kind() == ErrorKind::Authentication => e,
            other => return other,
        };
        let Some(env) = self.env_fallback(&ini, options, &settings) else {
            return Err(failure);
        };
        log::warn(&format!(
            "{}; trying the DHCORE_* credentials of the environment, as the DigitalHub SDK does",
            failure.message().trim_end_matches('.')
        ));
        self.login_from_env(&env).map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "{}; and with the credentials of the environment: {}",
                    failure.message().trim_end_matches('.'),
                    e.message()
                ),
            )
        })
    }

    fn save(&self, grant: DhCoreGrant, _options: &Options) -> Result<Token> {
        match grant {
            DhCoreGrant::Reply {
                reply,
                used,
                issued_at,
            } => self.write_back_locked(&reply, &used, issued_at),
            DhCoreGrant::Configured(token) => Ok(token),
        }
    }

    fn check(&self, token: &Token, _options: &Options) -> Result<Verdict> {
        self.api_auth(token)
    }

    /// Credentials the user configured are theirs to correct.
    fn discard(&self, settings: &Settings, _options: &Options) -> Result<()> {
        let what = if settings.method() == Method::Basic {
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

    fn cannot_renew(&self) -> Error {
        match self.load_ini() {
            Ok(ini) => self.cannot_renew_from(&self.settings(&ini, &Options::default()), "expires"),
            Err(e) => e,
        }
    }

    /// Writes `token` (a bare access token obtained elsewhere) as
    /// `dhcore_access_token` of the profile, replacing the stored token's
    /// other keys (refresh token, expiry, …).
    fn save_token(&self, token: &str, _options: &Options, overwrite: &Overwrite) -> Result<()> {
        let token = token.trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid_argument(
                "dhcore takes a bare access token (no spaces, no \"Bearer \")",
            ));
        }
        let mut ini = self.load_ini()?;
        if ini.get(&self.profile, "dhcore_access_token").is_some() {
            overwrite.check(format_args!(
                "[{}] of {}",
                self.profile,
                self.path.display()
            ))?;
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
    fn logout(&self, _options: &Options) -> Result<()> {
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
        // In-cluster workspaces get http://<release>-core:<port>; the SDK
        // accepts it, and so does hubauth when the user configured it.
        assert_eq!(p.endpoint().unwrap().as_str(), "http://core.example.org");
        let p = DhCore::with_env(&env(&[("HOME", "/h")]), &o).unwrap();
        let e = p.endpoint().unwrap_err();
        assert!(e.message().contains("DHCORE_ENDPOINT"), "{}", e.message());
        let mut o = Options::new();
        o.set("profile", "DEFAULT").unwrap();
        assert!(DhCore::with_env(&env(&[("HOME", "/h")]), &o).is_err());
    }
}
