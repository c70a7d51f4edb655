//! The one token lifecycle every hub shares. A [`Provider`] says what differs
//! per hub (how its store is read and written, how a token is renewed, how a
//! person logs in, how the server is asked); [`Engine`] decides what to do
//! and when, the same way for all of them:
//!
//! 1. A token the caller gave (option `token`, or the hub's environment
//!    variable) is used as it is, checked with the server when `validate`,
//!    and nothing is read or written.
//! 2. Unless this call has `force`, the store is read (no lock: files are
//!    replaced atomically). A fresh token is handed out, after the server
//!    accepted it when `validate`. A rejected one is renewed when the hub
//!    renews rejected tokens, else discarded, and the store read again.
//! 3. A token that is not fresh is renewed under the lock of the hub's files.
//!    The store is read again once the lock is held: another thread or
//!    process may have renewed it meanwhile, and its token is used instead.
//! 4. A renewal request is sent once. A single-use credential (a rotating
//!    refresh token) is presented at most once per process, even when the
//!    request failed after it may have reached the server (a 5xx, a timeout,
//!    a cut connection): the server may have rotated it already, and a
//!    second use would make it revoke the whole grant. After a failed
//!    renewal the store is read again (a process that takes no lock, such as
//!    the hub's own SDK, may have saved a new token); otherwise a login is
//!    needed.
//! 5. A login (a person approving, client credentials, an exchange needing
//!    nothing stored) runs without the lock and is tried up to `maxcount`
//!    times; only logins are ever tried again, and never after a definite
//!    refusal (`access_denied`, `invalid_client`, `unauthorized_client`,
//!    `invalid_scope`, a token issued already expired: the same request gets
//!    the same answer). Its grant is saved under the lock.
//! 6. The username the server names is kept, and a token that turns out to
//!    belong to another user than the authentication it replaces is refused.
//!
//! `force` applies to the call that set it only ([`crate::auth`] never keeps
//! it for later calls).
//!
//! Every call runs in the [`scope`] of its options: their cancel (inside
//! the scope of the job that runs it, if any, [`crate::job`]), CA roots,
//! freshness policy and one deadline, `timeout_ms` from the call's start,
//! that every request, lock wait and login poll of the call shares. A
//! cancel triggered before the call ends it at once, one triggered during
//! it ends its current wait (login poll, lock, request) with `Cancelled`.

use std::collections::HashSet;
use std::sync::Mutex;

use once_cell::sync::Lazy;

use crate::cancel;
use crate::error::{Error, ErrorKind, Result};
use crate::flow::LoginContext;
use crate::log;
use crate::options::Options;
use crate::provider::{LoginKind, Overwrite, Provider, Renewal, Verdict};
use crate::scope;
use crate::secret::Secret;
use crate::store::fsutil::FileLock;
use crate::token::{Token, unix_now};

/// How often the store is read again in one call after discarding a
/// rejected token (a cache of many tokens offers the next each time).
const MAX_STORE_ROUNDS: usize = 16;

/// The lifecycle of one hub, as [`crate::auth`] uses it.
pub trait Lifecycle: Send + Sync {
    /// The normalised server URL.
    fn server(&self) -> &str;
    /// A usable token: given, stored, renewed, or from a login.
    fn authenticate(&self, options: &Options) -> Result<Token>;
    /// `current` is no longer fresh: a fresh one, renewed or from the store;
    /// never a login.
    fn refresh(&self, current: &Token, options: &Options) -> Result<Token>;
    /// The store read again (and the server asked, with `validate`), renewed
    /// or replaced by a login when needed; with `force`, a login.
    fn reauthenticate(&self, current: &Token, options: &Options) -> Result<Token>;
    /// Asks the server whether `token` is good.
    fn check(&self, token: &Token, options: &Options) -> Result<bool>;
    /// Stores a token the user obtained elsewhere.
    fn save_token(&self, token: &str, options: &Options) -> Result<()>;
    /// Forgets the stored token.
    fn logout(&self, options: &Options) -> Result<()>;
}

/// Drives a [`Provider`] through the lifecycle.
pub struct Engine<P: Provider> {
    hub: P,
}

/// What the store came to.
enum Stored {
    /// A usable token.
    Token(Token),
    /// Nothing stored can be used: a login is needed, after this renewal
    /// failure when there was one.
    LoginNeeded(Option<Error>),
}

/// What a renewal under the lock came to.
enum Renewed<S> {
    /// A fresh token: renewed here, or found in the store.
    Token(Token),
    /// The store holds nothing.
    Nothing,
    /// What the store holds cannot be renewed.
    NotRenewable(S),
    /// The renewal failed; the credential is not presented again.
    Failed(Error),
}

/// Fingerprints (SHA-256 of server and credential) of the single-use
/// credentials this process has presented. Never the credentials themselves.
static PRESENTED: Lazy<Mutex<HashSet<[u8; 32]>>> = Lazy::new(|| Mutex::new(HashSet::new()));

fn fingerprint(server: &str, secret: &Secret) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(server.as_bytes());
    context.update(&[0]);
    context.update(secret.expose().as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// Records that `secret` is about to be presented to `server`; false when it
/// was before.
fn present_once(server: &str, secret: &Secret) -> bool {
    PRESENTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(fingerprint(server, secret))
}

/// Forgets a presentation that spent nothing.
fn unpresent(server: &str, secret: &Secret) {
    PRESENTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .remove(&fingerprint(server, secret));
}

/// The refusal of a token that belongs to `after`, not to `before`, the
/// user of the authentication it would replace (JuliaHub.jl's
/// `reauthenticate!`, src/authentication.jl:612, 631-637).
fn other_user(before: &str, after: &str) -> Error {
    Error::authentication(format!(
        "logged in as {after:?}, but this authentication belongs to {before:?}"
    ))
}

/// `token`, with the username of `current` when it names none.
fn keep_username(token: Token, current: &Token) -> Token {
    Token {
        username: token.username.or_else(|| current.username.clone()),
        ..token
    }
}

impl<P: Provider> Engine<P> {
    pub fn new(hub: P) -> Self {
        Engine { hub }
    }

    pub fn boxed(hub: P) -> Box<dyn Lifecycle> {
        Box::new(Self::new(hub))
    }

    /// The provider this engine drives.
    pub fn provider(&self) -> &P {
        &self.hub
    }

    /// Runs `call` (named `what`) in the call scope of `options`
    /// ([`scope::enter_call`]): their cancel, CA roots, one deadline and
    /// freshness policy for everything the call does.
    fn in_call_scope<T>(
        &self,
        what: &str,
        options: &Options,
        call: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let _scope = scope::enter_call(options);
        cancel::check(&format!("{what} for {}", self.hub.server()))?;
        call()
    }

    /// Locks every file of the hub, in a fixed order so two callers never
    /// deadlock. The waits end by the call's deadline.
    fn lock(&self, options: &Options) -> Result<Vec<FileLock>> {
        let mut paths = self.hub.lock_paths();
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .map(|path| FileLock::acquire(path, options.timeout))
            .collect()
    }

    /// Fresh under the call's freshness policy ([`scope::freshness`]).
    fn is_fresh(token: &Token, options: &Options) -> bool {
        scope::freshness(options).is_fresh(token, unix_now())
    }

    /// Still good enough to hand out although it is not fresh: it has not
    /// expired, and lasts the `min_valid_s` the caller asked for.
    fn still_works(token: &Token, options: &Options) -> bool {
        scope::freshness(options).still_works(token, unix_now())
    }

    /// A token the caller gave, checked with the server when `validate`.
    fn use_given(&self, secret: Secret, source: &str, options: &Options) -> Result<Token> {
        let token = Token::bare(secret);
        if !options.validate {
            return Ok(token);
        }
        match self.hub.check(&token, options)? {
            Verdict::Valid { username } => Ok(Token { username, ..token }),
            Verdict::Unknown => Ok(token),
            Verdict::Rejected => Err(Error::authentication(format!(
                "{} rejected {source}",
                self.hub.server()
            ))),
        }
    }

    /// A usable token from the store (renewed if needed) or, when there is
    /// none or `force`, from a login.
    fn obtain(&self, options: &Options, force: bool) -> Result<Token> {
        let mut renew_failure = None;
        if !force {
            match self.use_store(options)? {
                Stored::Token(token) => return Ok(token),
                Stored::LoginNeeded(failure) => renew_failure = failure,
            }
        }
        self.login(options).map_err(|e| match renew_failure {
            // Say why a login was needed: the renewal failed. When no login
            // can start either, a broken server or network is the problem
            // to report; after a definite refusal, the missing login is.
            Some(failure) => Error::new(
                if e.kind() == ErrorKind::NoCredentials
                    && failure.kind() != ErrorKind::Authentication
                {
                    failure.kind()
                } else {
                    e.kind()
                },
                format!(
                    "{}; so a new login is needed, but {}",
                    failure.message().trim_end_matches('.'),
                    e.message()
                ),
            ),
            None => e,
        })
    }

    /// The stored token, checked and renewed as needed.
    fn use_store(&self, options: &Options) -> Result<Stored> {
        let mut rejected: Vec<Secret> = Vec::new();
        for _ in 0..MAX_STORE_ROUNDS {
            let Some(stored) = self.hub.load(options, &rejected)? else {
                return Ok(Stored::LoginNeeded(None));
            };
            let usable = self
                .hub
                .token(&stored, options)
                .filter(|t| !rejected.contains(t.credential.secret()));
            let Some(candidate) = usable else {
                // Nothing to hand out as it is: renew, else log in.
                drop(stored);
                return Ok(match self.renew_locked(options, &rejected)? {
                    Renewed::Token(token) => Stored::Token(self.issued(token, options)?),
                    Renewed::Failed(e) => Stored::LoginNeeded(Some(e)),
                    Renewed::Nothing | Renewed::NotRenewable(_) => Stored::LoginNeeded(None),
                });
            };
            if !Self::is_fresh(&candidate, options) {
                let renewed = match self.renew_locked(options, &rejected) {
                    // No renewal could even start (a read-only directory where
                    // the lock file cannot be made, a server out of reach): a
                    // token that still works is used as it is.
                    Err(e)
                        if e.kind() != ErrorKind::Cancelled
                            && Self::still_works(&candidate, options) =>
                    {
                        log::warn(&format!(
                            "{}; using the stored token until it expires",
                            e.message().trim_end_matches('.')
                        ));
                        Renewed::Failed(e)
                    }
                    other => other?,
                };
                match renewed {
                    Renewed::Token(token) => return self.issued(token, options).map(Stored::Token),
                    // A token that cannot be renewed, or whose renewal
                    // failed, is still used while it works.
                    Renewed::Failed(e) if !Self::still_works(&candidate, options) => {
                        return Ok(Stored::LoginNeeded(Some(e)));
                    }
                    Renewed::Nothing => return Ok(Stored::LoginNeeded(None)),
                    Renewed::NotRenewable(_) if !Self::still_works(&candidate, options) => {
                        return Ok(Stored::LoginNeeded(None));
                    }
                    Renewed::Failed(_) | Renewed::NotRenewable(_) => {}
                }
            }
            if !options.validate {
                return Ok(Stored::Token(candidate));
            }
            match self.hub.check(&candidate, options)? {
                Verdict::Valid { username } => {
                    return Ok(Stored::Token(Self::with_username(candidate, username)));
                }
                Verdict::Unknown => return Ok(Stored::Token(candidate)),
                Verdict::Rejected => {
                    log::warn(&format!(
                        "{} rejected the stored token; getting another",
                        self.hub.server()
                    ));
                    rejected.push(candidate.credential.secret().clone());
                }
            }
            if self.hub.renews_rejected() {
                match self.renew_locked(options, &rejected)? {
                    Renewed::Token(token) => return self.issued(token, options).map(Stored::Token),
                    Renewed::Nothing => return Ok(Stored::LoginNeeded(None)),
                    Renewed::Failed(e) => return Ok(Stored::LoginNeeded(Some(e))),
                    Renewed::NotRenewable(stored) => {
                        let _lock = self.lock(options)?;
                        self.hub.discard(&stored, options)?;
                    }
                }
            } else {
                let _lock = self.lock(options)?;
                self.hub.discard(&stored, options)?;
            }
        }
        Ok(Stored::LoginNeeded(None))
    }

    /// Under the lock: the store read again; a fresh token someone else
    /// saved meanwhile, else the stored credential renewed once and saved.
    /// `skip`: tokens that must not be handed out (rejected, or being
    /// replaced).
    fn renew_locked(&self, options: &Options, skip: &[Secret]) -> Result<Renewed<P::Stored>> {
        let _lock = self.lock(options)?;
        let Some(stored) = self.hub.load(options, skip)? else {
            return Ok(Renewed::Nothing);
        };
        if let Some(token) = self.fresh_unskipped(&stored, options, skip) {
            return Ok(Renewed::Token(token));
        }
        let (single_use, plan) = match self.hub.renewal(&stored, options) {
            Renewal::None => return Ok(Renewed::NotRenewable(stored)),
            Renewal::Reusable(plan) => (None, plan),
            Renewal::SingleUse(secret, plan) => (Some(secret), plan),
        };
        if let Some(secret) = &single_use
            && !present_once(self.hub.server(), secret)
        {
            return Ok(Renewed::Failed(Error::authentication(format!(
                "the stored refresh token for {} was already presented by this process and \
                 may have been used up",
                self.hub.server()
            ))));
        }
        let failure = match self.renew_presented(&stored, single_use.as_ref(), plan, options) {
            Ok(grant) => return self.save_renewed(grant, options),
            Err(e) if e.never_sent() => return Err(e),
            Err(e) => e,
        };
        // A writer that takes no lock (the hub's SDK) may have saved a new
        // token, or rotated the refresh token, since we read the store.
        if let Some(again) = self.hub.load(options, skip)? {
            if let Some(token) = self.fresh_unskipped(&again, options, skip) {
                return Ok(Renewed::Token(token));
            }
            if let Renewal::SingleUse(newer, plan) = self.hub.renewal(&again, options)
                && single_use.as_ref().is_some_and(|used| *used != newer)
                && present_once(self.hub.server(), &newer)
            {
                return match self.renew_presented(&again, Some(&newer), plan, options) {
                    Ok(grant) => self.save_renewed(grant, options),
                    Err(e) if e.never_sent() => Err(e),
                    Err(e) => Ok(Renewed::Failed(e)),
                };
            }
        }
        log::warn(&format!(
            "{}; a new login is needed",
            failure.message().trim_end_matches('.')
        ));
        Ok(Renewed::Failed(failure))
    }

    /// Saves a renewal's grant. One that was saved but holds no token this
    /// call can hand out (`NoCredentials` from `save`, e.g. a refresh reply
    /// without the `id_token`) needs a login, like a failed renewal: the
    /// caller then logs in, or says a login is needed.
    fn save_renewed(&self, grant: P::Grant, options: &Options) -> Result<Renewed<P::Stored>> {
        match self.hub.save(grant, options) {
            Ok(token) => Ok(Renewed::Token(token)),
            Err(e) if e.kind() == ErrorKind::NoCredentials => {
                log::warn(e.message());
                Ok(Renewed::Failed(e))
            }
            Err(e) => Err(e),
        }
    }

    /// One renewal request. A single-use credential (already marked
    /// presented by the caller) is given back when the failure shows the
    /// server cannot have used it up: a definite refusal, or a request that
    /// never left.
    ///
    /// A single-use credential, once sent, is not given up to a cancel: the
    /// request runs to its reply (bounded by the call's deadline) and the rotated
    /// token is saved, since a cut request may have been acted on and its
    /// credential would be lost for every holder in the process (a job
    /// cancelled mid-refresh would log the user out). A cancel triggered
    /// before the request is sent still ends the call.
    fn renew_presented(
        &self,
        stored: &P::Stored,
        single_use: Option<&Secret>,
        plan: P::Plan,
        options: &Options,
    ) -> Result<P::Grant> {
        let _whole_request = match single_use {
            Some(secret) => {
                if let Err(e) = cancel::check(&format!("refresh for {}", self.hub.server())) {
                    unpresent(self.hub.server(), secret);
                    return Err(e.unsent());
                }
                Some(scope::enter_uncancellable())
            }
            None => None,
        };
        self.hub.renew(stored, plan, options).inspect_err(|e| {
            if let Some(secret) = single_use
                && !e.may_have_spent_credential()
            {
                unpresent(self.hub.server(), secret);
            }
        })
    }

    fn fresh_unskipped(
        &self,
        stored: &P::Stored,
        options: &Options,
        skip: &[Secret],
    ) -> Option<Token> {
        self.hub
            .token(stored, options)
            .filter(|t| !skip.contains(t.credential.secret()) && Self::is_fresh(t, options))
    }

    /// A login, tried up to `maxcount` times, its grant saved under the lock.
    /// A refused or failed login (Authentication, Server) is tried again; any
    /// other error ends at once. When every try failed, the error keeps the
    /// last failure's kind and says how many tries were made.
    fn login(&self, options: &Options) -> Result<Token> {
        if let LoginKind::Interactive {
            interactive_default,
            advice,
        } = self.hub.login_kind(options)
            && !LoginContext::from_options(options, interactive_default).can_login()
        {
            return Err(Error::no_credentials(format!(
                "no valid token for {} and interactive login is disabled; {advice}",
                self.hub.server()
            )));
        }
        let mut last: Option<Error> = None;
        for _ in 0..options.maxcount {
            match self.hub.login(options) {
                Ok(grant) => {
                    let token = {
                        let _lock = self.lock(options)?;
                        self.hub.save(grant, options)?
                    };
                    return self.issued(token, options);
                }
                // A definite refusal (the user said no, the client or its
                // secret is refused) gets the same answer again: one Deny is
                // one prompt, a wrong secret is sent once.
                Err(e) if e.is_definite_refusal() => return Err(e),
                Err(e) if matches!(e.kind(), ErrorKind::Authentication | ErrorKind::Server) => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        let tries = options.maxcount;
        let (kind, last) = last.map_or((ErrorKind::Authentication, String::new()), |e| {
            (e.kind(), e.message().to_string())
        });
        Err(Error::new(
            kind,
            format!(
                "authentication with {} failed after {tries} {}: {last}",
                self.hub.server(),
                if tries == 1 { "try" } else { "tries" }
            ),
        ))
    }

    /// A token the server has just issued: it must last `min_valid_s`, and
    /// with `validate` the server names its user when the reply did not.
    fn issued(&self, token: Token, options: &Options) -> Result<Token> {
        self.lasts_long_enough(&token, options)?;
        if !options.validate || token.username.is_some() {
            return Ok(token);
        }
        match self.hub.check(&token, options)? {
            Verdict::Valid { username } => Ok(Self::with_username(token, username)),
            Verdict::Unknown => Ok(token),
            Verdict::Rejected => Err(Error::authentication(format!(
                "{} rejected the token it has just issued",
                self.hub.server()
            ))),
        }
    }

    /// A token a refresh found or made must belong to the user of the
    /// authentication it replaces: another user's token (someone logged in
    /// as another account on the same store) is refused, never adopted. The
    /// user is the one the store or reply names, or with `validate` the
    /// server's answer.
    fn same_user(&self, token: Token, current: &Token, options: &Options) -> Result<Token> {
        let Some(before) = &current.username else {
            return Ok(token);
        };
        let token = if token.username.is_none() && options.validate {
            match self.hub.check(&token, options)? {
                Verdict::Valid { username } => Self::with_username(token, username),
                _ => token,
            }
        } else {
            token
        };
        match &token.username {
            Some(after) if after != before => Err(other_user(before, after)),
            _ => Ok(token),
        }
    }

    /// A new token must last the `min_valid_s` the caller asked for. The
    /// error names the cause: a token that had expired when it arrived
    /// (a clock off by more than its lifetime), or one that lasts less than
    /// asked.
    fn lasts_long_enough(&self, token: &Token, options: &Options) -> Result<()> {
        if Self::still_works(token, options) {
            return Ok(());
        }
        let server = self.hub.server();
        let now = unix_now();
        match token.expires_at {
            Some(at) if at <= now => Err(Error::server(format!(
                "the token {server} has just issued had already expired {} s ago by this \
                 machine's clock (expires_at = {at}); this machine's clock or the server's is wrong",
                now - at
            ))),
            at => Err(Error::invalid_argument(format!(
                "`min_valid_s={}` cannot be met: {server} issues tokens that last {} s",
                options.min_valid_s,
                at.map_or(0, |at| at - now)
            ))),
        }
    }

    /// `token` with the username the server named. A read writes nothing
    /// (Pkg's and the SDKs' files are theirs: no lock file, no new field).
    fn with_username(token: Token, username: Option<String>) -> Token {
        Token {
            username: username.or(token.username.clone()),
            ..token
        }
    }
}

/// The engine reads as its provider, so a provider's own accessors (its
/// files, its host) stay at hand.
impl<P: Provider> std::ops::Deref for Engine<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.hub
    }
}

impl<P: Provider> Lifecycle for Engine<P> {
    fn server(&self) -> &str {
        self.hub.server()
    }

    fn authenticate(&self, options: &Options) -> Result<Token> {
        self.in_call_scope("authenticate", options, || {
            if let Some((secret, source)) = self.hub.given(options) {
                return self.use_given(secret, source, options);
            }
            self.obtain(options, options.force)
        })
    }

    fn refresh(&self, current: &Token, options: &Options) -> Result<Token> {
        if self.hub.given(options).is_some() {
            return Ok(current.clone());
        }
        self.in_call_scope("refresh", options, || {
            match self.renew_locked(options, std::slice::from_ref(current.credential.secret()))? {
                Renewed::Token(token) => {
                    let token = self.same_user(token, current, options)?;
                    self.lasts_long_enough(&token, options)?;
                    Ok(keep_username(token, current))
                }
                Renewed::Nothing | Renewed::NotRenewable(_) => Err(self.hub.cannot_renew()),
                Renewed::Failed(e) => Err(e.context(format!(
                    "the token for {} could not be refreshed; authenticate again",
                    self.hub.server()
                ))),
            }
        })
    }

    fn reauthenticate(&self, current: &Token, options: &Options) -> Result<Token> {
        let token = self.in_call_scope("reauthenticate", options, || {
            match self.hub.given(options) {
                // Nothing stored stands behind a given token: a forced login
                // would be shadowed by it again, so say so instead.
                Some((_, source)) if options.force => Err(Error::invalid_argument(format!(
                    "this authentication uses {source}; `force=true` cannot log in past it: \
                     authenticate again with another token (or none)"
                ))),
                Some((secret, source)) => self.use_given(secret, source, options),
                None => self.obtain(options, options.force),
            }
        })?;
        if let (Some(before), Some(after)) = (&current.username, &token.username)
            && before != after
        {
            return Err(other_user(before, after));
        }
        Ok(keep_username(token, current))
    }

    fn check(&self, token: &Token, options: &Options) -> Result<bool> {
        let verdict = self.in_call_scope("check", options, || self.hub.check(token, options))?;
        match verdict {
            Verdict::Valid { .. } => Ok(true),
            Verdict::Rejected => Ok(false),
            Verdict::Unknown => Err(Error::server(format!(
                "{} offers no way to check a token",
                self.hub.server()
            ))),
        }
    }

    fn save_token(&self, token: &str, options: &Options) -> Result<()> {
        self.in_call_scope("save_token", options, || {
            let _lock = self.lock(options)?;
            self.hub.save_token(token, options, &Overwrite::of(options))
        })
    }

    fn logout(&self, options: &Options) -> Result<()> {
        self.in_call_scope("logout", options, || {
            let _lock = self.lock(options)?;
            self.hub.logout(options)
        })
    }
}

#[cfg(test)]
mod tests;
