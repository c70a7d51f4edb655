//! The call scope: what one public call (authenticate, a token refresh, a
//! check, …) fixes once at its start and every wait below it reads: its
//! cancel, the CA roots its requests trust, its one deadline, and when a
//! token is fresh enough.
//!
//! # One deadline per call
//!
//! `timeout_ms` bounds the whole call. The deadline is computed once, when
//! the lifecycle engine enters the call's scope, and every request
//! (`net::send`), lock wait (`FileLock::acquire`) and login poll
//! (`LoginContext`) of the call draws on it through [`deadline_within`]:
//! a call that sends two slow requests ends at `timeout_ms`, not at twice
//! that. A call nested in another (a token refresh inside a call that
//! waited for another thread's refresh, [`crate::auth`]) keeps the outer
//! deadline when it is earlier.
//!
//! # Why a scope
//!
//! A scope, rather than a parameter, because the requests are sent from
//! every provider and flow through one `net::send`: a parameter would thread
//! the call's cancel, roots and deadline through each provider's calls, where
//! a scope is set in one place (the engine) and read in three (sleep, lock,
//! request). Every wait of a call happens on the calling thread (`net::send`
//! blocks on it), so a thread-local is exactly the call's extent.
//!
//! # Nesting
//!
//! - A job ([`crate::job`]) enters a scope holding only its cancel
//!   ([`enter_cancel`]) around the call it runs; the call's own scope
//!   ([`enter_call`]) joins the options' cancel with it, so a trigger of
//!   either stops the call.
//! - A refresh request that presents a single-use credential (a rotating
//!   refresh token) runs to its reply once sent ([`enter_uncancellable`]:
//!   the same deadline and roots, no cancel; the lifecycle's
//!   `renew_presented`).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cancel::Cancel;
use crate::env::process_env;
use crate::net::client::Roots;
use crate::options::Options;
use crate::token::Freshness;

/// What one call fixed at its start. Fields a scope does not set (a job's
/// scope sets only the cancel) are the enclosing scope's.
#[derive(Clone, Default)]
pub struct CallScope {
    /// Stops the call's waits; None: the call cannot be cancelled.
    cancel: Option<Cancel>,
    /// The CA roots every request of the call trusts.
    roots: Option<Arc<Roots>>,
    /// When the whole call must be done (`timeout_ms` after it started).
    deadline: Option<Instant>,
    /// When a token is fresh enough for this call.
    freshness: Option<Freshness>,
}

thread_local! {
    static CURRENT: RefCell<Option<CallScope>> = const { RefCell::new(None) };
}

/// While alive, the scope it was entered with is the current one on this
/// thread; dropping it restores the one before.
#[must_use = "the scope ends when this is dropped"]
pub struct Entered {
    previous: Option<CallScope>,
    /// Bound to the thread it was entered on.
    _thread: PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

fn enter(scope: CallScope) -> Entered {
    let previous = CURRENT.with(|c| c.replace(Some(scope)));
    Entered {
        previous,
        _thread: PhantomData,
    }
}

fn current() -> CallScope {
    CURRENT.with(|c| c.borrow().clone()).unwrap_or_default()
}

/// `timeout` from `now`, never panicking: options bound timeout_ms to a
/// day, but a directly assigned `Duration::MAX` must not overflow either.
fn after(now: Instant, timeout: Duration) -> Instant {
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// Enters the scope of one call made with `options`: their cancel joined
/// with the enclosing one (a job's), their CA roots, the deadline
/// `timeout_ms` from now (or the enclosing call's, when earlier), and their
/// freshness policy.
pub fn enter_call(options: &Options) -> Entered {
    let outer = current();
    let cancel = match (outer.cancel, options.cancel.as_ref()) {
        (Some(outer), Some(own)) => Some(own.within(&outer)),
        (outer, None) => outer,
        (None, own) => own.cloned(),
    };
    let own_deadline = after(Instant::now(), options.timeout);
    enter(CallScope {
        cancel,
        roots: Some(Arc::new(Roots::for_options(options, &process_env))),
        deadline: Some(outer.deadline.map_or(own_deadline, |d| d.min(own_deadline))),
        freshness: Some(Freshness::of(options)),
    })
}

/// Enters a scope whose cancel is `cancel` (None: cannot be cancelled), the
/// rest as the enclosing scope has it: how a job runs its call.
pub fn enter_cancel(cancel: Option<&Cancel>) -> Entered {
    enter(CallScope {
        cancel: cancel.cloned(),
        ..current()
    })
}

/// Enters the current scope without its cancel: what runs inside can no
/// longer be cancelled, and still ends by the call's deadline.
pub fn enter_uncancellable() -> Entered {
    enter_cancel(None)
}

/// The cancel of the call running on this thread, if any.
pub fn cancel() -> Option<Cancel> {
    CURRENT.with(|c| c.borrow().as_ref().and_then(|s| s.cancel.clone()))
}

/// The CA roots for a request sent now on this thread: the call's, else the
/// variables of every provider.
pub fn roots() -> Arc<Roots> {
    CURRENT
        .with(|c| c.borrow().as_ref().and_then(|s| s.roots.clone()))
        .unwrap_or_else(|| Arc::new(Roots::for_provider(None, None, &process_env)))
}

/// The deadline of the call running on this thread, if any.
pub fn deadline() -> Option<Instant> {
    CURRENT.with(|c| c.borrow().as_ref().and_then(|s| s.deadline))
}

/// When a wait starting now must end: `timeout` from now, but never past
/// the deadline of the call running on this thread.
pub fn deadline_within(timeout: Duration) -> Instant {
    let own = after(Instant::now(), timeout);
    deadline().map_or(own, |call| call.min(own))
}

/// The freshness policy of the call running on this thread, else the one
/// `options` give.
pub fn freshness(options: &Options) -> Freshness {
    CURRENT
        .with(|c| c.borrow().as_ref().and_then(|s| s.freshness))
        .unwrap_or_else(|| Freshness::of(options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::{check, sleep};
    use crate::error::ErrorKind;

    fn options(timeout: Duration, cancel: Option<&Cancel>) -> Options {
        let mut o = Options::default();
        o.timeout = timeout;
        o.set_cancel(cancel.cloned());
        o
    }

    #[test]
    fn scopes_nest_and_restore() {
        let outer = Cancel::new().unwrap();
        assert!(cancel().is_none() && deadline().is_none());
        {
            let _a = enter_cancel(Some(&outer));
            outer.trigger();
            assert!(check("x").is_err());
            {
                let _b = enter_uncancellable();
                assert!(check("x").is_ok());
                assert!(sleep(Duration::from_millis(1), "x").is_ok());
            }
            let err = sleep(Duration::from_secs(10), "waiting").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Cancelled);
            assert_eq!(err.message(), "waiting: cancelled");
        }
        assert!(cancel().is_none());
    }

    #[test]
    fn a_call_inside_a_job_is_stopped_by_either_cancel() {
        let job = Cancel::new().unwrap();
        let own = Cancel::new().unwrap();
        let _outer = enter_cancel(Some(&job));
        {
            let _inner = enter_call(&options(Duration::from_secs(60), Some(&own)));
            assert!(check("x").is_ok());
            let waker = job.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                waker.trigger();
            });
            let started = Instant::now();
            let err = sleep(Duration::from_secs(10), "waiting").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Cancelled);
            assert!(started.elapsed() < Duration::from_secs(2));
            t.join().unwrap();
            assert!(!own.is_triggered(), "the job's trigger is not the call's");
        }
        {
            let _none = enter_call(&options(Duration::from_secs(60), None));
            assert!(check("x").is_err(), "no own cancel keeps the job's");
        }
    }

    #[test]
    fn the_deadline_is_fixed_at_the_call_start_and_shared() {
        let _call = enter_call(&options(Duration::from_millis(300), None));
        let fixed = deadline().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // A wait starting later gets what is left, not a new timeout_ms.
        assert_eq!(deadline_within(Duration::from_millis(300)), fixed);
        assert!(deadline_within(Duration::from_millis(10)) < fixed);
        // A nested call keeps the earlier, outer deadline.
        {
            let _nested = enter_call(&options(Duration::from_secs(60), None));
            assert_eq!(deadline(), Some(fixed));
            let _uncancellable = enter_uncancellable();
            assert_eq!(deadline(), Some(fixed));
        }
        assert_eq!(deadline(), Some(fixed));
    }

    #[test]
    fn a_huge_timeout_does_not_overflow() {
        let _call = enter_call(&options(Duration::MAX, None));
        assert!(deadline().unwrap() > Instant::now());
        assert!(deadline_within(Duration::MAX) > Instant::now());
    }
}
