//! `dagshub`: the dagshub Python client's auth. Its YAML token cache shared
//! with the real client, `DAGSHUB_USER_TOKEN`, validation through
//! `/api/v1/user`, and the OAuth "middleman" login. The order of a call is
//! the engine's ([`crate::lifecycle`]); what differs here:
//! - `DAGSHUB_USER_TOKEN`, for the default host, is a given token (used as
//!   is, never cached), as the `token` option is.
//! - The store offers the host's cached tokens, app tokens before bearer
//!   tokens, in file order, a fresh one first; a token the server rejects is
//!   removed from the cache and the next one offered (nothing is renewed:
//!   DagsHub issues no refresh tokens).
//! - The login is the OAuth login; it needs a person, and its token is
//!   appended to the cache.
//!
//! Checks and renegotiation (the dagshub client's auth code, as read): the real
//! `get_token()` checks each cached token at `/api/v1/user` and drops the
//! rejected ones (tokens.py:136-175), so `hubauth token --provider dagshub`
//! always checks (once per run, i.e. per process; `-o validate=false`
//! skips it), and never prints a token the server rejected. On a 401 from
//! another call (`hubauth_reauthenticate`), the token is checked first and
//! dropped only when `/api/v1/user` rejects it (token_auth.py:42-45); a
//! 401 from permissions, a proxy or a transient fault keeps it. Unlike the
//! real client, only a 401/403 from the check drops a token (never a 5xx,
//! a 429 or a network error).
//!
//! Plain `http://` hosts are accepted when the user configured them (option
//! `server`, `DAGSHUB_CLIENT_HOST`), as the real client accepts them, with
//! a warning once per origin that the token travels unencrypted.
//!
//! Expiries (issue 21, dagshub 0.7.3 as read):
//! - `expiry: never` is for app tokens only. A bearer's expiry goes through
//!   `dateutil.parser.parse` (auth/token_auth.py:108-116), so `never`
//!   raises, the client drops the entry from its cache (auth/tokens.py:
//!   291-296) and leaves it out at its next write (`_store_cache_file`,
//!   300-313). hubauth does not hand such an entry out either (it stays in
//!   the file), and writes a bearer's expiry past the year 9999 as the last
//!   time the client can read, never as `never`
//!   ([`crate::store::dagshub_yaml`]).
//! - A login reply whose `expiry` has already passed (Go's zero time is how
//!   a server sends an unset one): the client appends that token and uses it
//!   for the session (auth/tokens.py:186-196), then drops it at its next
//!   load. hubauth saves nothing and fails saying the server issued an
//!   expired token ([`crate::flow::dagshub_oauth`]).

pub(crate) mod status;

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use crate::env::{Env, non_empty, process_env};
use crate::error::{Error, ErrorKind, Result};
use crate::flow::user_check::{self, Answer};
use crate::flow::{LoginContext, dagshub_oauth};
use crate::log;
use crate::net::Request;
use crate::options::{Options, ProviderKind};
use crate::provider::{LoginKind, Overwrite, Provider, Verdict};
use crate::scope;
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::dagshub_yaml::{CachedToken, TokenCache, TokenType};
use crate::token::{Token, unix_now};

/// The real client's default host.
pub(crate) const DEFAULT_HOST: &str = "https://dagshub.com";

/// The cache key of a host: the URL as given, without trailing `/` (as the
/// real client keys it); a URL given without a scheme gets `https://`.
fn host_key(input: &str, server: &ServerUrl) -> String {
    let trimmed = input.trim().trim_end_matches('/');
    if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        server.as_str().to_string()
    }
}

pub struct DagsHub {
    server: ServerUrl,
    /// The key of this host in the token cache.
    host: String,
    /// `DAGSHUB_USER_TOKEN`, when this is the default host.
    env_token: Option<Secret>,
    path: PathBuf,
    client_id: String,
}

impl DagsHub {
    /// Resolves host, cache path and client id from the options and the
    /// process environment. Touches neither the network nor the file.
    pub fn new(options: &Options) -> Result<Self> {
        Self::with_env(&process_env, options)
    }

    /// Like [`new`](Self::new), reading the environment through `env`
    /// (`DAGSHUB_CLIENT_HOST`, `DAGSHUB_USER_TOKEN`, `DAGSHUB_CLIENT_TOKENS_CACHE`,
    /// `DAGSHUB_CLIENT_ID`, `XDG_CACHE_HOME`, `HOME`).
    pub fn with_env(env: Env<'_>, options: &Options) -> Result<Self> {
        let default_input =
            non_empty(env, "DAGSHUB_CLIENT_HOST").unwrap_or_else(|| DEFAULT_HOST.to_string());
        let default_server = ProviderKind::DagsHub
            .configured_server(&default_input)
            .map_err(|e| e.context("DAGSHUB_CLIENT_HOST"))?;
        let default_host = host_key(&default_input, &default_server);
        let (server, host) = match &options.server {
            Some(input) => {
                let server = ProviderKind::DagsHub.configured_server(input)?;
                let host = host_key(input, &server);
                (server, host)
            }
            None => (default_server, default_host.clone()),
        };
        let env_token = if host == default_host {
            non_empty(env, "DAGSHUB_USER_TOKEN")
                .map(|t| Secret::from_string(t.trim().to_string()))
                .transpose()?
        } else {
            None
        };
        let path = match &options.token_path {
            Some(path) => path.clone(),
            None => match non_empty(env, "DAGSHUB_CLIENT_TOKENS_CACHE") {
                Some(path) => PathBuf::from(path),
                None => cache_dir(env)?.join("dagshub").join("tokens"),
            },
        };
        let client_id = options
            .client_id
            .clone()
            .or_else(|| non_empty(env, "DAGSHUB_CLIENT_ID"))
            .unwrap_or_else(|| dagshub_oauth::DEFAULT_CLIENT_ID.to_string());
        Ok(DagsHub {
            server,
            host,
            env_token,
            path,
            client_id,
        })
    }

    /// The token cache this provider reads and writes.
    pub fn token_path(&self) -> &Path {
        &self.path
    }

    /// The host's key in the token cache.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The OAuth client id of logins.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// True when `DAGSHUB_USER_TOKEN` applies to this host.
    pub fn uses_env_token(&self) -> bool {
        self.env_token.is_some()
    }

    fn user_url(&self) -> String {
        self.server.join("/api/v1/user")
    }

    /// `GET <host>/api/v1/user` (redirects followed): valid when 200 and the
    /// JSON names the user (`username`, else `login`): a reply that is not
    /// JSON or names no user is an error (not a DagsHub server); 401/403
    /// reject the token; anything else is an error that says nothing about
    /// the token.
    fn api_user(&self, token: &str) -> Result<Verdict> {
        let request = Request::get(self.user_url())
            .bearer(token)
            .deadline(scope::deadline());
        let what = format!("GET {}", self.user_url());
        let response = match user_check::ask(request, &[401, 403])? {
            Answer::Valid(response) => response,
            Answer::Rejected => return Ok(Verdict::Rejected),
            Answer::Other(response) => {
                return Err(Error::server_reply(ErrorKind::Server, &what, &response));
            }
        };
        response.json(&what)?;
        match user_check::username(&response.body, &["username", "login"]) {
            Some(username) => Ok(Verdict::Valid {
                username: Some(username),
            }),
            None => Err(Error::server(format!(
                "{what}: the reply names no user; is {} a DagsHub server?",
                self.server.as_str()
            ))),
        }
    }

    fn load_cache(&self, warn: bool) -> Result<TokenCache> {
        let cache = TokenCache::load(&self.path, unix_now())?;
        if warn {
            for message in cache.skipped() {
                log::warn(message);
            }
        }
        Ok(cache)
    }

    /// The OAuth login; the engine appends its token to the cache.
    fn oauth_login(&self, options: &Options) -> Result<CachedToken> {
        let ctx = LoginContext::from_options(options, true);
        let issued = dagshub_oauth::login(&self.server, &self.client_id, &ctx)?;
        Ok(CachedToken {
            access_token: issued.access_token,
            token_type: TokenType::Bearer,
            expires_at_ns: Some(issued.expires_at_ns),
        })
    }
}

/// A cached token as hubauth hands it out.
fn cached_token(cached: &CachedToken) -> Token {
    Token {
        expires_at: cached.expires_at(),
        ..Token::bare(cached.access_token.clone())
    }
}

/// The real client's cache directory (`appdirs.user_cache_dir`).
fn cache_dir(env: Env<'_>) -> Result<PathBuf> {
    let home = || {
        non_empty(env, "HOME").map(PathBuf::from).ok_or_else(|| {
            Error::invalid_argument(
                "cannot find the home directory; set DAGSHUB_CLIENT_TOKENS_CACHE or `token_path`",
            )
        })
    };
    if cfg!(target_os = "macos") {
        return Ok(home()?.join("Library").join("Caches"));
    }
    match non_empty(env, "XDG_CACHE_HOME") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(home()?.join(".cache")),
    }
}

impl Provider for DagsHub {
    type Stored = CachedToken;
    type Grant = CachedToken;
    /// Nothing is renewed.
    type Plan = Infallible;

    fn server(&self) -> &str {
        self.server.as_str()
    }

    fn lock_paths(&self) -> Vec<&Path> {
        vec![&self.path]
    }

    /// The caller's token, else `DAGSHUB_USER_TOKEN` on the default host;
    /// neither is ever cached.
    fn given(&self, options: &Options) -> Option<(Secret, &'static str)> {
        match (&options.token, &self.env_token) {
            (Some(token), _) => Some((token.clone(), "the given token")),
            (None, Some(token)) => Some((token.clone(), "the token in DAGSHUB_USER_TOKEN")),
            (None, None) => None,
        }
    }

    /// The host's first cached token that is not skipped, app tokens before
    /// bearer tokens, in file order; a fresh one before one about to expire.
    fn load(&self, options: &Options, skip: &[Secret]) -> Result<Option<CachedToken>> {
        let candidates: Vec<CachedToken> = self
            .load_cache(true)?
            .tokens(&self.host)
            .into_iter()
            .filter(|c| !skip.contains(&c.access_token))
            .collect();
        let fresh = candidates
            .iter()
            .position(|c| scope::freshness(options).is_fresh(&cached_token(c), unix_now()));
        Ok(match fresh {
            Some(index) => candidates.into_iter().nth(index),
            None => candidates.into_iter().next(),
        })
    }

    fn token(&self, stored: &CachedToken, _options: &Options) -> Option<Token> {
        Some(cached_token(stored))
    }

    fn renew(
        &self,
        _stored: &CachedToken,
        plan: Infallible,
        _options: &Options,
    ) -> Result<CachedToken> {
        match plan {}
    }

    /// DagsHub issues no refresh tokens: a rejected token leaves the cache
    /// and the next one is tried.
    fn renews_rejected(&self) -> bool {
        false
    }

    fn login_kind(&self, _options: &Options) -> LoginKind {
        LoginKind::Interactive {
            interactive_default: true,
            advice: format!(
                "log in with `hubauth login --provider dagshub --server {host}`, save an app \
                 token with `hubauth save-token --provider dagshub --server {host}`, or set \
                 DAGSHUB_USER_TOKEN",
                host = self.host
            ),
        }
    }

    fn login(&self, options: &Options) -> Result<CachedToken> {
        self.oauth_login(options)
    }

    /// Appends the login's token to the cache.
    fn save(&self, grant: CachedToken, _options: &Options) -> Result<Token> {
        let mut cache = self.load_cache(false)?;
        cache.push(&self.host, &grant)?;
        cache.save(&self.path)?;
        Ok(cached_token(&grant))
    }

    fn check(&self, token: &Token, _options: &Options) -> Result<Verdict> {
        self.api_user(token.credential.token()?.expose())
    }

    /// A token the server rejected leaves the cache (after reading the file
    /// again); other hosts' entries are never touched.
    fn discard(&self, stored: &CachedToken, _options: &Options) -> Result<()> {
        let mut cache = self.load_cache(false)?;
        if cache.remove_token(&self.host, stored.access_token.expose()) > 0 {
            cache.save(&self.path)?;
            log::warn(&format!(
                "{} rejected a cached token; removed it from {}",
                self.server.as_str(),
                self.path.display()
            ));
        }
        Ok(())
    }

    fn cannot_renew(&self) -> Error {
        Error::authentication(format!(
            "the DagsHub token for {host} expires and DagsHub issues no refresh tokens; \
             log in again with `hubauth login --provider dagshub --server {host}`, \
             or save an app token with `hubauth save-token --provider dagshub --server {host}`",
            host = self.host
        ))
    }

    /// The real client's `add_app_token`: checked with the server (when
    /// `validate`), then appended as an app token unless already cached.
    fn save_token(&self, token: &str, options: &Options, overwrite: &Overwrite) -> Result<()> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::invalid_argument("the token is empty"));
        }
        let secret = Secret::new(token)?;
        if options.validate
            && let Verdict::Rejected = self.api_user(token)?
        {
            return Err(Error::authentication(format!(
                "{} rejected the token; it was not saved",
                self.server.as_str()
            )));
        }
        let mut cache = self.load_cache(false)?;
        if cache.contains(&self.host, token) {
            return Ok(());
        }
        // The new token goes before the host's others (app tokens first), so
        // it replaces them as the one handed out.
        if !cache.tokens(&self.host).is_empty() {
            overwrite.check(format_args!("{} (for {})", self.path.display(), self.host))?;
        }
        cache.push(&self.host, &CachedToken::app(secret))?;
        cache.save(&self.path)
    }

    /// Removes this host's tokens; other hosts keep theirs (the real client
    /// deletes the whole file).
    fn logout(&self, _options: &Options) -> Result<()> {
        let mut cache = self.load_cache(false)?;
        if cache.remove_host(&self.host) {
            cache.save(&self.path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn resolves_like_the_real_client() {
        let o = Options::new();
        let d = DagsHub::with_env(&env(&[("HOME", "/h")]), &o).unwrap();
        assert_eq!(d.host(), "https://dagshub.com");
        assert_eq!(d.server(), "https://dagshub.com");
        assert_eq!(d.client_id(), dagshub_oauth::DEFAULT_CLIENT_ID);
        assert!(!d.uses_env_token());
        if !cfg!(target_os = "macos") {
            assert_eq!(d.token_path(), Path::new("/h/.cache/dagshub/tokens"));
            let d =
                DagsHub::with_env(&env(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]), &o).unwrap();
            assert_eq!(d.token_path(), Path::new("/x/dagshub/tokens"));
        }
        let e = env(&[
            ("DAGSHUB_CLIENT_HOST", "https://my.dagshub.example/"),
            ("DAGSHUB_USER_TOKEN", "env-tok"),
            ("DAGSHUB_CLIENT_TOKENS_CACHE", "/c/tokens"),
            ("DAGSHUB_CLIENT_ID", "cid"),
        ]);
        let d = DagsHub::with_env(&e, &o).unwrap();
        assert_eq!(d.host(), "https://my.dagshub.example");
        assert!(d.uses_env_token());
        assert_eq!(d.token_path(), Path::new("/c/tokens"));
        assert_eq!(d.client_id(), "cid");
        // The env token is for the default host only.
        let mut other = Options::new();
        other.set("server", "https://dagshub.com").unwrap();
        other.set("token_path", "/t").unwrap();
        other.set("client_id", "mine").unwrap();
        let d = DagsHub::with_env(&e, &other).unwrap();
        assert!(!d.uses_env_token());
        assert_eq!(d.token_path(), Path::new("/t"));
        assert_eq!(d.client_id(), "mine");
        let mut same = Options::new();
        same.set("server", "https://my.dagshub.example").unwrap();
        assert!(DagsHub::with_env(&e, &same).unwrap().uses_env_token());
    }

    #[test]
    fn a_configured_http_host_is_accepted_like_the_real_client() {
        let e = env(&[
            ("HOME", "/h"),
            ("DAGSHUB_CLIENT_HOST", "http://dagshub.internal:3000/"),
        ]);
        let d = DagsHub::with_env(&e, &Options::new()).unwrap();
        assert_eq!(d.host(), "http://dagshub.internal:3000");
        assert_eq!(d.server(), "http://dagshub.internal:3000");
        let mut o = Options::new();
        o.set("server", "http://dagshub.lan").unwrap();
        assert_eq!(
            DagsHub::with_env(&e, &o).unwrap().server(),
            "http://dagshub.lan"
        );
    }
}
