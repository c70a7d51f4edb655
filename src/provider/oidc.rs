//! `oidc`: any standard OAuth 2.0 / OpenID Connect issuer. Discovery finds
//! the endpoints; tokens come from the device login (public clients), the
//! client credentials grant (confidential clients) or a token exchange
//! (`subject_token`, e.g. a personal access token), are kept in hubauth's own
//! TOML file and refreshed with rotation under the file's lock.
//!
//! The order `authenticate` tries things in:
//! 1. `token` given: used as is (with `validate`, the issuer must call it active);
//! 2. `subject_token` given: exchanged (RFC 8693) and stored;
//! 3. `force`: the stored token is deleted first;
//! 4. the stored token, when fresh; else refreshed with the refresh token read
//!    from the file under the lock, and stored before it is used;
//! 5. a new grant: client credentials for a confidential client, else a
//!    device login when someone can approve it (a hook, or `interactive`,
//!    which defaults to true here), else `NoCredentials`.
//!
//! Steps 4-5 are tried up to `maxcount` times, as JuliaHub.jl does.

pub(crate) mod status;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::flow::LoginContext;
use crate::flow::client_credentials;
use crate::flow::device::{self, DeviceEndpoints};
use crate::flow::discovery::{self, Discovery};
use crate::flow::exchange::{self, Subject};
use crate::flow::introspect::{self, Inspection};
use crate::flow::oauth::{self, Client};
use crate::flow::refresh;
use crate::flow::revoke;
use crate::log;
use crate::options::Options;
use crate::provider::{self, Provider};
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::fsutil::{self, FileLock};
use crate::store::oidc_toml::{self, OidcToken};
use crate::token::{Token, unix_now};

/// The scope of a device login when the options name none: an id_token for
/// the username, and a refresh token.
pub(crate) const DEFAULT_SCOPE: &str = "openid offline_access";

pub struct Oidc {
    issuer: ServerUrl,
    client: Client,
    path: PathBuf,
}

/// Where a token came from: a stored one is checked with the issuer when
/// `validate` is set; one the issuer has just issued is not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Stored,
    Issued,
}

impl Oidc {
    /// Resolves the issuer (https, or http to a loopback host), the client and
    /// the token file. Touches neither the network nor the file.
    pub fn new(options: &Options) -> Result<Self> {
        let issuer = options.issuer.as_deref().ok_or_else(|| {
            Error::invalid_argument("provider oidc needs the option issuer (the issuer's URL)")
        })?;
        let issuer = ServerUrl::parse(issuer)?;
        let client_id = options
            .client_id
            .clone()
            .ok_or_else(|| Error::invalid_argument("provider oidc needs the option client_id"))?;
        let path = match &options.token_path {
            Some(path) => path.clone(),
            None => oidc_toml::path_for(&issuer, &client_id)?,
        };
        Ok(Oidc {
            issuer,
            client: Client {
                id: client_id,
                secret: options.client_secret.clone(),
            },
            path,
        })
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

    fn discovery(&self, options: &Options) -> Result<Arc<Discovery>> {
        discovery::discover(&self.issuer, Self::deadline(options))
    }

    fn is_confidential(&self) -> bool {
        self.client.secret.is_some()
    }

    /// The stored record, refused when it belongs to another issuer or client.
    fn load(&self) -> Result<Option<OidcToken>> {
        let Some(stored) = oidc_toml::load(&self.path)? else {
            return Ok(None);
        };
        stored.check_owner(&self.path, self.issuer.as_str(), &self.client.id)?;
        Ok(Some(stored))
    }

    /// Under the lock: the stored token if fresh (and not `rejected`, a token
    /// the issuer called inactive), else the stored token refreshed. None when
    /// a new grant is needed.
    fn fresh_from_store(
        &self,
        options: &Options,
        rejected: Option<&Secret>,
    ) -> Result<Option<(Token, Source)>> {
        let Some(stored) = self.load()? else {
            return Ok(None);
        };
        if let Ok(token) = stored.to_token()
            && token.is_fresh(options.refresh_margin_s)
            && rejected != Some(&token.bearer)
        {
            return Ok(Some((token, Source::Stored)));
        }
        if stored.refresh_token().is_none() {
            return Ok(None);
        }
        match self.refresh_stored(stored, options) {
            Ok(token) => Ok(Some((token, Source::Issued))),
            // The refresh token is no good (expired, revoked): a new grant replaces it.
            Err(e) if e.kind() == ErrorKind::Authentication => {
                log::warn(&format!("{}; a new login is needed", e.message()));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Refreshes with the refresh token of `stored` (just read from the file)
    /// and saves the reply, rotated refresh token included, before returning.
    /// The caller holds the lock, so no one else can present the old refresh
    /// token meanwhile. If the save fails the rotated token is lost and the
    /// next refresh fails with invalid_grant, which leads to a new login.
    fn refresh_stored(&self, mut stored: OidcToken, options: &Options) -> Result<Token> {
        let refresh_token = stored
            .refresh_token()
            .ok_or_else(|| Error::authentication("the stored token has no refresh_token"))?;
        let endpoint = self.discovery(options)?.token_endpoint.clone();
        let issued_at = unix_now();
        let reply = refresh::refresh(
            &endpoint,
            &self.client,
            &refresh_token,
            None,
            Self::deadline(options),
        )?;
        stored.apply_refresh(&reply, issued_at);
        oidc_toml::save(&self.path, &stored)?;
        stored
            .to_token()
            .map_err(|e| Error::server(format!("token refresh: {}", e.message())))
    }

    /// Stores the reply of a new grant; the caller holds the lock. Fields of
    /// the old file that hubauth does not know are kept; a file that cannot be
    /// read is replaced, one of another issuer or client is refused.
    fn save_grant_locked(&self, reply: &Map<String, Value>, issued_at: i64) -> Result<Token> {
        let mut record = match oidc_toml::load(&self.path) {
            Ok(Some(record)) => {
                record.check_owner(&self.path, self.issuer.as_str(), &self.client.id)?;
                record
            }
            Ok(None) | Err(_) => OidcToken::new(self.issuer.as_str(), &self.client.id),
        };
        record.apply_grant(reply, issued_at);
        let token = record
            .to_token()
            .map_err(|e| Error::server(format!("token reply: {}", e.message())))?;
        oidc_toml::save(&self.path, &record)?;
        Ok(token)
    }

    fn save_grant(
        &self,
        reply: &Map<String, Value>,
        issued_at: i64,
        options: &Options,
    ) -> Result<Token> {
        let _lock = self.lock(options)?;
        self.save_grant_locked(reply, issued_at)
    }

    /// The client credentials grant; not saved.
    fn client_credentials(&self, options: &Options) -> Result<Map<String, Value>> {
        let endpoint = self.discovery(options)?.token_endpoint.clone();
        client_credentials::request(
            &endpoint,
            &self.client,
            options.scope.as_deref(),
            Self::deadline(options),
        )
    }

    /// Exchanges `subject_token` and stores the result; the caller holds the lock.
    fn exchange_locked(&self, subject_token: &Secret, options: &Options) -> Result<Token> {
        let endpoint = self.discovery(options)?.token_endpoint.clone();
        let issued_at = unix_now();
        let subject = Subject {
            token: subject_token,
            token_type: options
                .subject_token_type
                .as_deref()
                .unwrap_or(exchange::ACCESS_TOKEN_TYPE),
        };
        // The default scope is for logins; an exchange asks for a scope only
        // when the caller named one (the server then uses the subject's).
        let reply = exchange::exchange(
            &endpoint,
            &self.client,
            &subject,
            options.scope.as_deref(),
            Self::deadline(options),
        )?;
        self.save_grant_locked(&reply, issued_at)
    }

    /// A new grant, stored: client credentials for a confidential client,
    /// else a device login.
    fn grant(&self, options: &Options) -> Result<Token> {
        if self.is_confidential() {
            let issued_at = unix_now();
            let reply = self.client_credentials(options)?;
            return self.save_grant(&reply, issued_at, options);
        }
        let ctx = LoginContext::from_options(options, true);
        if !ctx.can_login() {
            return Err(Error::no_credentials(format!(
                "no valid token for {} (client {}) and interactive login is disabled; \
                 allow interactive login or set a hook to log in on this device, \
                 or pass subject_token (e.g. a personal access token) or token",
                self.issuer.as_str(),
                self.client.id
            )));
        }
        let found = self.discovery(options)?;
        let authorization = found
            .device_authorization_endpoint
            .as_deref()
            .ok_or_else(|| {
                Error::no_credentials(format!(
                    "{} offers no device login (no device_authorization_endpoint); \
                 pass subject_token or token instead",
                    self.issuer.as_str()
                ))
            })?;
        let scope = options.scope.as_deref().unwrap_or(DEFAULT_SCOPE);
        let reply = device::login(
            &DeviceEndpoints {
                authorization,
                token: &found.token_endpoint,
            },
            &self.client,
            Some(scope),
            &ctx,
        )?;
        // The token was issued by the last poll, not when the login began.
        self.save_grant(&reply, unix_now(), options)
    }

    /// A usable token, trying at most `maxcount` times. With `use_store`, a
    /// stored (or refreshed) token is preferred to a new grant.
    fn obtain(
        &self,
        options: &Options,
        use_store: bool,
        rejected: Option<&Secret>,
    ) -> Result<(Token, Source)> {
        provider::with_tries(self.issuer.as_str(), options, || {
            if use_store {
                let _lock = self.lock(options)?;
                if let Some(found) = self.fresh_from_store(options, rejected)? {
                    return Ok(found);
                }
            }
            Ok((self.grant(options)?, Source::Issued))
        })
    }

    /// Asks the issuer about `token`: introspection when offered (and allowed
    /// for this client), else userinfo. None when it offers neither.
    fn inspect(&self, token: &Token, options: &Options) -> Result<Option<Inspection>> {
        let found = self.discovery(options)?;
        let deadline = Self::deadline(options);
        if let Some(endpoint) = &found.introspection_endpoint
            && let Some(answer) = introspect::introspect(
                endpoint,
                &self.client,
                &token.bearer,
                Some("access_token"),
                deadline,
            )?
        {
            return Ok(Some(answer));
        }
        match &found.userinfo_endpoint {
            Some(endpoint) => introspect::userinfo(endpoint, &token.bearer, deadline).map(Some),
            None => Ok(None),
        }
    }

    /// With `validate`: a stored token must be active at the issuer (else it
    /// is replaced, once), and a token without a known user gets the one the
    /// issuer names. Issuers that offer no way to ask are taken at their word.
    fn validated(&self, found: (Token, Source), options: &Options) -> Result<Token> {
        let (mut token, source) = found;
        if !options.validate || (source == Source::Issued && token.username.is_some()) {
            return Ok(token);
        }
        match self.inspect(&token, options)? {
            None => Ok(token),
            Some(Inspection::Active { username }) => {
                if token.username.is_none() {
                    token.username = username;
                }
                Ok(token)
            }
            Some(Inspection::Inactive) if source == Source::Stored => {
                log::warn(&format!(
                    "{} says the stored token is no longer active; getting a new one",
                    self.issuer.as_str()
                ));
                let (token, _) = self.obtain(options, true, Some(&token.bearer))?;
                Ok(token)
            }
            Some(Inspection::Inactive) => Err(Error::authentication(format!(
                "{} says the token it has just issued is not active",
                self.issuer.as_str()
            ))),
        }
    }

    /// Revokes what `stored` holds: the refresh token (which on most servers
    /// ends the whole grant), then the access token.
    fn revoke_stored(&self, stored: &OidcToken, options: &Options) -> Result<()> {
        let found = self.discovery(options)?;
        let Some(endpoint) = &found.revocation_endpoint else {
            return Ok(());
        };
        let deadline = Self::deadline(options);
        let mut first_error = None;
        if let Some(refresh_token) = stored.refresh_token()
            && let Err(e) = revoke::revoke(
                endpoint,
                &self.client,
                &refresh_token,
                "refresh_token",
                deadline,
            )
        {
            first_error = Some(e);
        }
        let unexpired = stored.expires_at().is_none_or(|t| unix_now() < t);
        if let Some(access) = stored.access_token().filter(|_| unexpired) {
            let access = Secret::new(access)?;
            if let Err(e) =
                revoke::revoke(endpoint, &self.client, &access, "access_token", deadline)
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// `token`, with the username of `current` when it names none.
fn keep_username(token: Token, current: &Token) -> Token {
    Token {
        username: token.username.or_else(|| current.username.clone()),
        ..token
    }
}

impl Provider for Oidc {
    fn server(&self) -> &str {
        self.issuer.as_str()
    }

    fn authenticate(&self, options: &Options) -> Result<Token> {
        if let Some(given) = &options.token {
            let token = Token::bare(given.clone());
            if !options.validate {
                return Ok(token);
            }
            return match self.inspect(&token, options)? {
                Some(Inspection::Active { username }) => Ok(Token { username, ..token }),
                Some(Inspection::Inactive) => Err(Error::authentication(format!(
                    "{} says the given token is not active (expired or revoked)",
                    self.issuer.as_str()
                ))),
                None => Ok(token),
            };
        }
        if options.force {
            let _lock = self.lock(options)?;
            fsutil::remove_file(&self.path)?;
        }
        if let Some(subject_token) = &options.subject_token {
            let token = {
                let _lock = self.lock(options)?;
                self.exchange_locked(subject_token, options)?
            };
            return self.validated((token, Source::Issued), options);
        }
        let found = self.obtain(options, true, None)?;
        self.validated(found, options)
    }

    fn refresh(&self, current: &Token, options: &Options) -> Result<Token> {
        if options.token.is_some() {
            return Ok(current.clone());
        }
        let _lock = self.lock(options)?;
        let stored = self.load()?;
        // Someone else (a thread with another handle, another process) may
        // have refreshed while we waited for the lock: use theirs.
        if let Some(token) = stored.as_ref().and_then(|s| s.to_token().ok())
            && token.is_fresh(options.refresh_margin_s)
        {
            return Ok(keep_username(token, current));
        }
        if let Some(subject_token) = &options.subject_token {
            return Ok(keep_username(
                self.exchange_locked(subject_token, options)?,
                current,
            ));
        }
        let token = match stored {
            Some(stored) if stored.refresh_token().is_some() => {
                self.refresh_stored(stored, options).map_err(|e| {
                    if e.kind() == ErrorKind::Authentication {
                        e.context("the token can no longer be refreshed; authenticate again")
                    } else {
                        e
                    }
                })?
            }
            _ if self.is_confidential() => {
                let issued_at = unix_now();
                let reply = self.client_credentials(options)?;
                self.save_grant_locked(&reply, issued_at)?
            }
            None => {
                return Err(Error::no_credentials(format!(
                    "the token file {} is gone; authenticate again",
                    self.path.display()
                )));
            }
            Some(_) => {
                return Err(Error::authentication(format!(
                    "the token for {} expired and cannot be refreshed; authenticate again",
                    self.issuer.as_str()
                )));
            }
        };
        Ok(keep_username(token, current))
    }

    fn reauthenticate(&self, current: &Token, options: &Options) -> Result<Token> {
        let found = if let Some(subject_token) = &options.subject_token {
            let _lock = self.lock(options)?;
            (
                self.exchange_locked(subject_token, options)?,
                Source::Issued,
            )
        } else {
            self.obtain(options, !options.force, None)?
        };
        let token = self.validated(found, options)?;
        if let (Some(before), Some(after)) = (&current.username, &token.username)
            && before != after
        {
            return Err(Error::authentication(format!(
                "logged in as {after:?}, but this authentication belongs to {before:?}"
            )));
        }
        Ok(keep_username(token, current))
    }

    fn check(&self, token: &Token, options: &Options) -> Result<bool> {
        match self.inspect(token, options)? {
            Some(answer) => Ok(answer.is_active()),
            None => Err(Error::server(format!(
                "{} offers neither token introspection nor userinfo; cannot check the token",
                self.issuer.as_str()
            ))),
        }
    }

    /// Takes a token reply as JSON (`{"access_token": …, "refresh_token": …}`),
    /// a whole token file as TOML, or a bare access token.
    fn save_token(&self, token: &str, options: &Options) -> Result<()> {
        let text = token.trim();
        let mut record = OidcToken::new(self.issuer.as_str(), &self.client.id);
        if let Ok(Value::Object(reply)) = serde_json::from_str::<Value>(text) {
            if oauth::field(&reply, "access_token").is_none() {
                return Err(Error::invalid_argument(
                    "the given token reply has no access_token",
                ));
            }
            record.apply_grant(&reply, unix_now());
        } else if let Ok(file) = OidcToken::parse(text.as_bytes(), std::path::Path::new("-")) {
            file.check_owner(
                std::path::Path::new("given"),
                self.issuer.as_str(),
                &self.client.id,
            )?;
            if file.access_token().is_none() {
                return Err(Error::invalid_argument(
                    "the given token file has no access_token",
                ));
            }
            record = file;
            record.set_owner(self.issuer.as_str(), &self.client.id);
        } else {
            if text.is_empty() || text.chars().any(char::is_whitespace) {
                return Err(Error::invalid_argument(
                    "oidc takes an access token, a JSON token reply or a token file as the token",
                ));
            }
            let mut reply = Map::new();
            reply.insert("access_token".into(), Value::String(text.to_string()));
            record.apply_grant(&reply, unix_now());
        }
        let _lock = self.lock(options)?;
        if !options.overwrite && self.path.exists() {
            return Err(Error::invalid_argument(format!(
                "{} already exists and overwrite=false",
                self.path.display()
            )));
        }
        oidc_toml::save(&self.path, &record)
    }

    /// Revokes the stored refresh (and access) token, then deletes the file.
    ///
    /// Decision: a failed revocation (server down, refused) does not keep the
    /// file and does not fail the call. The caller asked to forget the
    /// credentials here; keeping a live secret on disk because the server is
    /// unreachable would be worse, and once the file is gone there is nothing
    /// left to retry with. The failure is reported as a warning, saying the
    /// token may stay valid at the issuer until it expires.
    fn logout(&self, options: &Options) -> Result<()> {
        let _lock = self.lock(options)?;
        // A file we cannot read, or one of another issuer, is deleted unrevoked.
        if let Ok(Some(stored)) = self.load()
            && let Err(e) = self.revoke_stored(&stored, options)
        {
            log::warn(&format!(
                "{}; the token file is removed anyway, but {} may accept the token until it expires",
                e.message(),
                self.issuer.as_str()
            ));
        }
        fsutil::remove_file(&self.path)
    }
}
