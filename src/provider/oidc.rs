//! `oidc`: any standard OAuth 2.0 / OpenID Connect issuer. The order of a
//! call (the given token, the store, one renewal under the lock, logins up
//! to `maxcount`) is the engine's: see [`crate::lifecycle`]. What differs
//! here:
//! - Endpoints come from the issuer's discovery document, whose `issuer`
//!   must be exactly the one configured ([`IssuerCheck::Exact`]).
//! - Tokens live in hubauth's own TOML file, one per issuer and client
//!   ([`crate::store::oidc_toml`]).
//! - Renewal: with `subject_token`, an exchange (RFC 8693) of it; else the
//!   stored refresh token (single use: it rotates); else, for a
//!   confidential client, the client credentials grant.
//! - Login: an exchange or client credentials need no one; any other login
//!   needs a person ([`Provider::login_kind`]; `interactive` defaults to
//!   true). It is the one `flow` names; `auto` (the default) picks the
//!   device flow when discovery offers `device_authorization_endpoint`,
//!   else the browser login (authorization code + PKCE) when it offers
//!   `authorization_endpoint`.
//! - Check: introspection when offered (and allowed for this client), else
//!   userinfo.
//! - Logout revokes at the `revocation_endpoint` of the discovery document,
//!   else of the RFC 8414 metadata (`/.well-known/oauth-authorization-server`);
//!   when neither names one, it says the tokens stay valid until they expire.

pub(crate) mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::flow::LoginContext;
use crate::flow::authcode::{self, AuthCodeEndpoints};
use crate::flow::client_credentials;
use crate::flow::device::{self, DeviceEndpoints};
use crate::flow::discovery::{self, Discovery, IssuerCheck};
use crate::flow::exchange::{self, Subject};
use crate::flow::introspect::{self, Inspection};
use crate::flow::oauth::Client;
use crate::flow::refresh;
use crate::flow::revoke;
use crate::log;
use crate::options::{LoginFlow, Options, ProviderKind};
use crate::progress;
use crate::provider::{LoginKind, Overwrite, Provider, Renewal, Verdict};
use crate::reply::TokenReply;
use crate::scope;
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::fsutil;
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

impl Oidc {
    /// Resolves the issuer (https, or http to a loopback host), the client and
    /// the token file. Touches neither the network nor the file.
    pub fn new(options: &Options) -> Result<Self> {
        let issuer = options.issuer.as_deref().ok_or_else(|| {
            Error::invalid_argument("provider oidc needs the option `issuer` (the issuer's URL)")
        })?;
        let issuer = ProviderKind::Oidc.configured_server(issuer)?;
        let client_id = options
            .client_id
            .clone()
            .ok_or_else(|| Error::invalid_argument("provider oidc needs the option `client_id`"))?;
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

    fn discovery(&self) -> Result<Arc<Discovery>> {
        discovery::discover(&self.issuer, IssuerCheck::Exact, scope::deadline())
    }

    fn is_confidential(&self) -> bool {
        self.client.secret.is_some()
    }

    /// The stored record, refused when it belongs to another issuer or client.
    fn load_record(&self) -> Result<Option<OidcToken>> {
        let Some(stored) = oidc_toml::load(&self.path)? else {
            return Ok(None);
        };
        stored.check_owner(&self.path, self.issuer.as_str(), &self.client.id)?;
        Ok(Some(stored))
    }

    /// Stores the reply of a new grant; the caller holds the lock. Fields of
    /// the old file that hubauth does not know are kept; a file that cannot be
    /// read is replaced, one of another issuer or client is refused.
    fn save_grant_locked(&self, reply: &TokenReply, issued_at: i64) -> Result<Token> {
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

    /// The client credentials grant.
    fn client_credentials(&self, options: &Options) -> Result<OidcGrant> {
        let endpoint = self.discovery()?.token_endpoint.clone();
        let issued_at = unix_now();
        let reply = client_credentials::request(
            &endpoint,
            &self.client,
            options.scope.as_deref(),
            scope::deadline(),
        )?;
        Ok(OidcGrant::Reply(reply, issued_at))
    }

    /// Exchanges `subject_token` (RFC 8693).
    fn exchange(&self, subject_token: &Secret, options: &Options) -> Result<OidcGrant> {
        let endpoint = self.discovery()?.token_endpoint.clone();
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
            scope::deadline(),
        )?;
        Ok(OidcGrant::Reply(reply, issued_at))
    }

    /// The interactive login `flow` names (see the module doc for `auto`).
    fn interactive_login(&self, options: &Options) -> Result<OidcGrant> {
        let ctx = LoginContext::from_options(options, true);
        let found = self.discovery()?;
        let browser = match options.flow {
            LoginFlow::Device => false,
            LoginFlow::Browser => true,
            LoginFlow::Auto => {
                found.device_authorization_endpoint.is_none()
                    && found.authorization_endpoint.is_some()
            }
        };
        if browser {
            self.browser_login(&found, options, &ctx)
        } else {
            self.device_login(&found, options, &ctx)
        }
    }

    /// A browser login (authorization code + PKCE, loopback redirect).
    fn browser_login(
        &self,
        found: &Discovery,
        options: &Options,
        ctx: &LoginContext,
    ) -> Result<OidcGrant> {
        let authorization = found.authorization_endpoint.as_deref().ok_or_else(|| {
            Error::no_credentials(format!(
                "{} offers no browser login (no authorization_endpoint); \
                 use `flow=device` or pass `subject_token` or `token` instead",
                self.issuer.as_str()
            ))
        })?;
        let scope = options.scope.as_deref().unwrap_or(DEFAULT_SCOPE);
        let reply = authcode::login(
            &AuthCodeEndpoints {
                authorization,
                token: &found.token_endpoint,
            },
            &self.client,
            scope,
            options.redirect_port,
            ctx,
        )?;
        Ok(OidcGrant::Reply(reply, unix_now()))
    }

    /// A device login, approved by a person.
    fn device_login(
        &self,
        found: &Discovery,
        options: &Options,
        ctx: &LoginContext,
    ) -> Result<OidcGrant> {
        let authorization = found
            .device_authorization_endpoint
            .as_deref()
            .ok_or_else(|| {
                Error::no_credentials(format!(
                    "{} offers no device login (no device_authorization_endpoint); \
                 pass `subject_token` or `token` instead",
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
            ctx,
        )?;
        // The token was issued by the last poll, not when the login began.
        Ok(OidcGrant::Reply(reply, unix_now()))
    }

    /// Asks the issuer about `token`: introspection when offered (and allowed
    /// for this client), else userinfo. None when it offers neither.
    fn inspect(&self, token: &Token) -> Result<Option<Inspection>> {
        let found = self.discovery()?;
        let deadline = scope::deadline();
        let token = token.credential.token()?;
        if let Some(endpoint) = &found.introspection_endpoint
            && let Some(answer) = introspect::introspect(
                endpoint,
                &self.client,
                token,
                Some("access_token"),
                deadline,
            )?
        {
            return Ok(Some(answer));
        }
        match &found.userinfo_endpoint {
            Some(endpoint) => introspect::userinfo(endpoint, token, deadline).map(Some),
            None => Ok(None),
        }
    }

    /// Revokes what `stored` holds: the refresh token (which on most servers
    /// ends the whole grant), then the access token. False when the issuer
    /// offers no revocation, in its discovery document or its RFC 8414
    /// metadata.
    fn revoke_stored(&self, stored: &OidcToken) -> Result<bool> {
        let deadline = scope::deadline();
        let Some(endpoint) = discovery::revocation_endpoint(&self.issuer, deadline)? else {
            return Ok(false);
        };
        let endpoint = &endpoint;
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
        first_error.map_or(Ok(true), Err)
    }
}

/// A token reply not yet saved.
pub enum OidcGrant {
    /// A new grant's reply and when it was issued.
    Reply(TokenReply, i64),
    /// The stored record with a refresh reply laid over it.
    Refreshed(OidcToken),
}

/// How `renewal` found a stored token can be renewed.
pub enum OidcRenewal {
    /// Exchange `subject_token` (RFC 8693).
    Exchange(Secret),
    /// Present the stored refresh token (single use).
    Refresh(Secret),
    /// The client credentials grant of a confidential client.
    ClientCredentials,
}

impl Provider for Oidc {
    type Stored = OidcToken;
    type Grant = OidcGrant;
    type Plan = OidcRenewal;

    fn server(&self) -> &str {
        self.issuer.as_str()
    }

    fn lock_paths(&self) -> Vec<&Path> {
        vec![&self.path]
    }

    fn load(&self, _options: &Options, _skip: &[Secret]) -> Result<Option<OidcToken>> {
        self.load_record()
    }

    /// With `subject_token`, a stored token is not handed out as it is: the
    /// caller's subject decides who the token is for, so it is exchanged.
    fn token(&self, stored: &OidcToken, options: &Options) -> Option<Token> {
        if options.subject_token.is_some() {
            return None;
        }
        stored.to_token().ok()
    }

    /// An exchange of `subject_token`, else a refresh with the stored refresh
    /// token (rotation included), else client credentials.
    fn renewal(&self, stored: &OidcToken, options: &Options) -> Renewal<OidcRenewal> {
        if let Some(subject_token) = &options.subject_token {
            return Renewal::Reusable(OidcRenewal::Exchange(subject_token.clone()));
        }
        match stored.refresh_token() {
            Some(refresh_token) => {
                Renewal::SingleUse(refresh_token.clone(), OidcRenewal::Refresh(refresh_token))
            }
            None if self.is_confidential() => Renewal::Reusable(OidcRenewal::ClientCredentials),
            None => Renewal::None,
        }
    }

    fn renew(&self, stored: &OidcToken, plan: OidcRenewal, options: &Options) -> Result<OidcGrant> {
        let refresh_token = match plan {
            OidcRenewal::Exchange(subject_token) => return self.exchange(&subject_token, options),
            OidcRenewal::ClientCredentials => return self.client_credentials(options),
            OidcRenewal::Refresh(refresh_token) => refresh_token,
        };
        let endpoint = self.discovery()?.token_endpoint.clone();
        let issued_at = unix_now();
        let reply = refresh::refresh(
            &endpoint,
            &self.client,
            &refresh_token,
            None,
            scope::deadline(),
        )?;
        let mut renewed = stored.clone();
        renewed.apply_refresh(&reply, issued_at);
        Ok(OidcGrant::Refreshed(renewed))
    }

    /// An exchange or client credentials need no one; any other login does.
    fn login_kind(&self, options: &Options) -> LoginKind {
        if options.subject_token.is_some() || self.is_confidential() {
            return LoginKind::Unattended;
        }
        LoginKind::Interactive {
            interactive_default: true,
            advice: format!(
                "client {}: allow interactive login (`interactive=true`) or set a hook to log \
                 in on this device, or pass `subject_token` (e.g. a personal access token) or `token`",
                self.client.id
            ),
        }
    }

    /// A new grant: an exchange of `subject_token`, client credentials for a
    /// confidential client, else the interactive login `flow` picks.
    fn login(&self, options: &Options) -> Result<OidcGrant> {
        if let Some(subject_token) = &options.subject_token {
            return self.exchange(subject_token, options);
        }
        if self.is_confidential() {
            return self.client_credentials(options);
        }
        self.interactive_login(options)
    }

    fn save(&self, grant: OidcGrant, _options: &Options) -> Result<Token> {
        match grant {
            OidcGrant::Reply(reply, issued_at) => self.save_grant_locked(&reply, issued_at),
            OidcGrant::Refreshed(record) => {
                oidc_toml::save(&self.path, &record)?;
                record
                    .to_token()
                    .map_err(|e| Error::server(format!("token refresh: {}", e.message())))
            }
        }
    }

    fn check(&self, token: &Token, _options: &Options) -> Result<Verdict> {
        Ok(match self.inspect(token)? {
            Some(Inspection::Active { username }) => Verdict::Valid { username },
            Some(Inspection::Inactive) => Verdict::Rejected,
            None => Verdict::Unknown,
        })
    }

    /// A token the issuer calls inactive and that cannot be renewed is
    /// replaced by the next grant; the file stays until then.
    fn discard(&self, _stored: &OidcToken, _options: &Options) -> Result<()> {
        Ok(())
    }

    /// Takes a token reply as JSON (`{"access_token": …, "refresh_token": …}`),
    /// a whole token file as TOML, or a bare access token.
    fn save_token(&self, token: &str, _options: &Options, overwrite: &Overwrite) -> Result<()> {
        let text = token.trim();
        let mut record = OidcToken::new(self.issuer.as_str(), &self.client.id);
        if let Ok(reply @ Value::Object(_)) = serde_json::from_str::<Value>(text) {
            if !reply.get("access_token").is_some_and(Value::is_string) {
                return Err(Error::invalid_argument(
                    "the given token reply has no access_token",
                ));
            }
            let reply = TokenReply::from_json(reply, "the given token reply")
                .map_err(|e| Error::invalid_argument(e.message()))?;
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
            let reply = TokenReply::new(Secret::new(text)?);
            record.apply_grant(&reply, unix_now());
        }
        if self.path.exists() {
            overwrite.check(self.path.display())?;
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
    ///
    /// An issuer that offers no revocation at all is said so (a warning,
    /// which the CLI prints, and a progress line for a job's host): the user
    /// asked to log out, and the tokens stay valid there until they expire.
    fn logout(&self, _options: &Options) -> Result<()> {
        // A file we cannot read, or one of another issuer, is deleted unrevoked.
        if let Ok(Some(stored)) = self.load_record() {
            match self.revoke_stored(&stored) {
                Ok(true) => log::info(&format!("revoked the tokens at {}", self.issuer.as_str())),
                Ok(false) => {
                    let note = format!(
                        "{} offers no token revocation (no revocation_endpoint in its \
                         openid-configuration or its RFC 8414 metadata): the token file is \
                         removed, but the tokens stay valid there until they expire",
                        self.issuer.as_str()
                    );
                    log::warn(&note);
                    progress::progress(&note);
                }
                Err(e) => log::warn(&format!(
                    "{}; the token file is removed anyway, but {} may accept the token until \
                     it expires",
                    e.message(),
                    self.issuer.as_str()
                )),
            }
        }
        fsutil::remove_file(&self.path)
    }
}
