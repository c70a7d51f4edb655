//! `Authentication`: a shared, mutable handle to a logged-in session, like
//! JuliaHub.jl's. Handing out a fresh token is a lock-free read of the current
//! state; refreshing is single-flight (one thread refreshes, the others wait and
//! use its result) and the provider serialises processes with a file lock.

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::accounts;
use crate::error::{Error, Result};
use crate::hubs;
use crate::lifecycle::Lifecycle;
use crate::log;
use crate::options::Options;
use crate::scope;
use crate::secret::Secret;
use crate::store::fsutil::MAX_FILE;
use crate::token::{Credential, Freshness, Token, unix_now};

struct Inner {
    provider: Box<dyn Lifecycle>,
    /// The options it was created with, less `force` (it applies to the call
    /// that set it only); later calls reuse their hook and flags.
    options: Options,
    state: ArcSwap<Token>,
    /// Single flight within the process; the provider's file lock covers processes.
    refreshing: Mutex<()>,
}

/// A shared handle: clones see the same state, and `reauthenticate` updates it
/// for every holder.
#[derive(Clone)]
pub struct Authentication {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Authentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authentication")
            .field("server", &self.server())
            .field("username", &self.username())
            .field("expires_at", &self.expires_at())
            .finish_non_exhaustive()
    }
}

/// How often a wait for the single flight looks again (a refresh takes a
/// round trip; this is well under one).
const FLIGHT_PAUSE: Duration = Duration::from_millis(5);

thread_local! {
    /// How many hooks run on this thread now (a hook may log in again).
    static IN_HOOK: Cell<u32> = const { Cell::new(0) };
}

/// Marks the thread as running a hook until dropped (also on unwind).
struct HookScope;

impl HookScope {
    fn enter() -> HookScope {
        IN_HOOK.with(|n| n.set(n.get() + 1));
        HookScope
    }
}

impl Drop for HookScope {
    fn drop(&mut self) {
        IN_HOOK.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// Refuses a call made from inside a hook that could wait for the lock the
/// login running the hook holds (the refresh mutex, the file lock): it would
/// deadlock. The lock-free paths (a fresh `token`, `current`, `check`) work.
fn refuse_in_hook(what: &str) -> Result<()> {
    if IN_HOOK.with(Cell::get) > 0 {
        return Err(Error::invalid_argument(format!(
            "{what} was called from inside a hook; a hook must return before the \
             library is used again for a login (hand the URL to another thread and return)"
        )));
    }
    Ok(())
}

/// `options` with its hook wrapped so the thread is known to run a hook
/// while it does.
fn guarded(options: &Options) -> Options {
    let mut guarded = options.clone();
    if let Some(hook) = options.hook.clone() {
        guarded.hook = Some(Arc::new(move |url: &str| {
            let _scope = HookScope::enter();
            hook(url)
        }));
    }
    guarded
}

/// The most recent successful `authenticate` of this process.
static CURRENT: ArcSwapOption<Inner> = ArcSwapOption::const_empty();

/// Finds or obtains a token as the options say, and makes it the current one.
pub fn authenticate(options: &Options) -> Result<Authentication> {
    refuse_in_hook("authenticate")?;
    let _log = log::route(options.log.as_ref());
    let options = &guarded(&accounts::resolve(options)?);
    let provider = hubs::for_options(options)?;
    let token = provider.authenticate(options)?;
    // Checked before the authentication becomes the current one, so a
    // refused login leaves the previous one current (as JuliaHub.jl's
    // __AUTH__ is left unchanged when authenticate throws).
    if options.require_username && token.username.is_none() {
        return Err(Error::authentication("Unable to determine username."));
    }
    let inner = Arc::new(Inner {
        provider,
        // `force` was for this call only.
        options: options.without("force"),
        state: ArcSwap::from_pointee(token),
        refreshing: Mutex::new(()),
    });
    CURRENT.store(Some(inner.clone()));
    Ok(Authentication { inner })
}

/// The most recent authentication of this process, if any.
pub fn current() -> Option<Authentication> {
    CURRENT.load_full().map(|inner| Authentication { inner })
}

/// Stores a token the user obtained elsewhere (an app token, a CAVE token, …).
/// A token larger than a token file may be (1 MiB) is refused
/// as an invalid argument: it would be written, then refused on every read.
pub fn save_token(options: &Options, token: &str) -> Result<()> {
    refuse_in_hook("save_token")?;
    let _log = log::route(options.log.as_ref());
    if token.len() as u64 > MAX_FILE {
        return Err(Error::invalid_argument(format!(
            "the token is {} KiB; a token file holds at most {} KiB",
            token.len().div_ceil(1024),
            MAX_FILE / 1024
        )));
    }
    let options = &accounts::resolve(options)?;
    hubs::for_options(options)?.save_token(token, options)
}

/// Forgets the stored token for the options' provider and server.
pub fn logout(options: &Options) -> Result<()> {
    refuse_in_hook("logout")?;
    let _log = log::route(options.log.as_ref());
    let options = &accounts::resolve(options)?;
    hubs::for_options(options)?.logout(options)
}

impl Authentication {
    /// The token a request should carry, refreshed first when it expires within
    /// the refresh margin. A fresh token costs no lock and no I/O. HTTP Basic
    /// credentials (dhcore's user and password) are no token: `InvalidArgument`,
    /// saying to use [`authorization`](Self::authorization).
    pub fn token(&self) -> Result<Secret> {
        {
            let state = self.inner.state.load();
            if self.is_fresh(&state) {
                return state.credential.token().cloned();
            }
        }
        self.refresh_slow()?.credential.token().cloned()
    }

    /// The credential [`token`](Self::token) and
    /// [`authorization`](Self::authorization) are made from, refreshed the
    /// same way: a bearer token, or (dhcore) a user and password.
    pub fn credential(&self) -> Result<Credential> {
        {
            let state = self.inner.state.load();
            if self.is_fresh(&state) {
                return Ok(state.credential.clone());
            }
        }
        Ok(self.refresh_slow()?.credential.clone())
    }

    /// The token [`token`](Self::token) would return when it needs no
    /// refresh, else None: never a lock, a wait or I/O (a job's fast path).
    pub fn token_if_fresh(&self) -> Option<Secret> {
        let state = self.inner.state.load();
        self.is_fresh(&state)
            .then(|| state.credential.bearer().cloned())
            .flatten()
    }

    /// The header value [`authorization`](Self::authorization) would return
    /// when the token needs no refresh, else None.
    pub fn authorization_if_fresh(&self) -> Option<Secret> {
        let state = self.inner.state.load_full();
        if !self.is_fresh(&state) {
            return None;
        }
        state.credential.authorization().ok()
    }

    /// Fresh as this authentication's options ask (refresh margin, the
    /// validity a caller needs).
    fn is_fresh(&self, token: &Token) -> bool {
        Freshness::of(&self.inner.options).is_fresh(token, unix_now())
    }

    /// Calls `f` with a borrow of the token [`token`](Self::token) would
    /// return, refreshed the same way, without copying it: on the fresh path
    /// no allocation, lock or I/O. `f` runs while the state is pinned (an
    /// arc-swap guard), so keep it short and do not call back into `self`.
    #[inline]
    pub fn with_token<R>(&self, f: impl FnOnce(&Secret) -> R) -> Result<R> {
        /// Unix seconds, as `token::unix_now`, read straight from the clock:
        /// `SystemTime`'s subtraction and checks cost more than the reading.
        #[inline]
        fn now() -> i64 {
            #[cfg(unix)]
            {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: a valid clock id and a valid out-pointer.
                if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0 {
                    // time_t is narrower than i64 on some targets.
                    #[allow(clippy::unnecessary_cast)]
                    return ts.tv_sec as i64;
                }
            }
            unix_now()
        }
        {
            let state = self.inner.state.load();
            if Freshness::of(&self.inner.options).is_fresh(&state, now()) {
                return state.credential.token().map(f);
            }
        }
        self.refresh_slow()?.credential.token().map(f)
    }

    /// Waits for this authentication's single flight (a refresh or a login
    /// in another thread or job), at most `timeout_ms`, and ends the wait
    /// with `Cancelled` when the call's cancel (or its job's) is triggered: a
    /// hook that waits for another thread asking this authentication for a
    /// token must not hang for ever. Called in the call's scope: the wait
    /// and the refresh or login after it share the call's deadline.
    fn flight(&self, options: &Options) -> Result<MutexGuard<'_, ()>> {
        let until = scope::deadline_within(options.timeout);
        loop {
            match self.inner.refreshing.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(TryLockError::Poisoned(poisoned)) => return Ok(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
            if Instant::now() >= until {
                return Err(Error::timeout(
                    "`timeout_ms` ran out waiting for another refresh or login of this \
                     authentication (is a hook waiting for this call?)",
                ));
            }
            crate::cancel::sleep(FLIGHT_PAUSE, "waiting for another refresh or login")?;
        }
    }

    #[cold]
    fn refresh_slow(&self) -> Result<Arc<Token>> {
        refuse_in_hook("a token refresh")?;
        let _log = log::route(self.inner.options.log.as_ref());
        let _call = scope::enter_call(&self.inner.options);
        let _flight = self.flight(&self.inner.options)?;
        // Another thread may have refreshed while we waited.
        let current = self.inner.state.load_full();
        if self.is_fresh(&current) {
            return Ok(current);
        }
        match self.inner.provider.refresh(&current, &self.inner.options) {
            Ok(token) => {
                let token = Arc::new(token);
                self.inner.state.store(token.clone());
                Ok(token)
            }
            // A proactive refresh that failed is not fatal while the token works.
            Err(e) if Freshness::of(&self.inner.options).still_works(&current, unix_now()) => {
                log::warn(&format!(
                    "could not refresh the token early ({}); using it until it expires",
                    e.message()
                ));
                Ok(current)
            }
            Err(e) => Err(e),
        }
    }

    /// The whole Authorization header value a request should carry
    /// (`Bearer <token>`, or `Basic <credentials>` where the hub uses them),
    /// refreshed like [`token`](Self::token).
    pub fn authorization(&self) -> Result<Secret> {
        let state = self.inner.state.load_full();
        let token = if self.is_fresh(&state) {
            state
        } else {
            self.refresh_slow()?
        };
        token.credential.authorization()
    }

    /// Reloads the stored token (another process may have renewed it), or logs
    /// in again when that fails or `force` is set. What `options` sets
    /// explicitly (force, interactive, hook, timeout, …) is laid over the
    /// options of the original call for this call only; None reuses them.
    pub fn reauthenticate(&self, options: Option<&Options>) -> Result<()> {
        refuse_in_hook("reauthenticate")?;
        let merged = options.map(|o| guarded(&o.overlaid_on(&self.inner.options)));
        let options = merged.as_ref().unwrap_or(&self.inner.options);
        let _log = log::route(options.log.as_ref());
        let _call = scope::enter_call(options);
        let _flight = self.flight(options)?;
        let current = self.inner.state.load_full();
        // A token the caller gave is the engine's rule (Lifecycle::reauthenticate).
        let token = self.inner.provider.reauthenticate(&current, options)?;
        self.inner.state.store(Arc::new(token));
        Ok(())
    }

    /// Asks the server whether the current token is good.
    pub fn check(&self) -> Result<bool> {
        let _log = log::route(self.inner.options.log.as_ref());
        let current = self.inner.state.load_full();
        self.inner.provider.check(&current, &self.inner.options)
    }

    pub fn server(&self) -> &str {
        self.inner.provider.server()
    }

    /// The user's name as the server or the token file has it. It is kept
    /// unchanged (other SDKs read those files back, and real names hold
    /// format characters, e.g. Persian's zero-width non-joiner), so it may
    /// hold any character: escape it ([`crate::log::escape`]) to print it.
    pub fn username(&self) -> Option<String> {
        self.inner.state.load().username.clone()
    }

    /// Unix seconds at which the current token expires; None = never or unknown.
    pub fn expires_at(&self) -> Option<i64> {
        self.inner.state.load().expires_at
    }

    /// The options this authentication was created with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }
}
