//! Where a call's warnings and notices go: to the host's own logging when the
//! call's options carry a [`Sink`] (the C ABI's `hubauth_options_set_log`,
//! Python's `logging`), else to stderr.
//!
//! The sink travels in [`Options`](crate::options::Options) like the hook and
//! the cancel, and each entry point of [`crate::auth`] enters a [`Scope`]
//! with its options' sink for the whole call. Warnings are raised deep in the
//! providers, stores and flows, which are not given the options everywhere;
//! every one of them runs on the thread of the call that caused it (the
//! caller's thread for a blocking call, the job's thread for a job), so a
//! thread-local is exactly the call's extent, as for [`crate::progress`] and
//! [`crate::cancel`]. No global: two calls with different sinks on two
//! threads each reach their own.

use std::cell::RefCell;
use std::sync::Arc;

/// How much a message matters. The numbers are syslog's, and the C ABI's
/// `HUBAUTH_LOG_*` (src/ffi/log.rs), so hosts map them without a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum Level {
    /// Something failed that the call could not work around (not used yet:
    /// a call's failure is its error, not a log line).
    Error = 3,
    /// Something is wrong, but the call went on (a refresh failed while the
    /// token still works, a token file others can read, ...).
    Warn = 4,
    /// What a person must see now: the login URL and code.
    Notice = 5,
    /// Ordinary news: which account a call used (`hubauth -v`).
    Info = 6,
    /// For debugging: what a call resolved and did (`hubauth -v -v`).
    Debug = 7,
}

/// Takes one message of a call: escaped (no control or format character),
/// without the `hubauth:` prefix, one line. Called on the call's thread; it
/// must not block.
pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// While alive, messages on this thread go to its sink; dropping it restores
/// the one before.
#[must_use = "the scope ends when this is dropped"]
pub struct Scope {
    previous: Option<Option<Sink>>,
    /// Bound to the thread it was entered on.
    _thread: std::marker::PhantomData<*const ()>,
}

/// Sends this thread's messages to `sink` until the scope is dropped. None
/// keeps the enclosing call's sink (or stderr): a call without a sink of its
/// own, made inside one that has one, reports where that one does.
pub fn route(sink: Option<&Sink>) -> Scope {
    let previous = sink.map(|sink| SINK.with(|s| s.replace(Some(sink.clone()))));
    Scope {
        previous,
        _thread: std::marker::PhantomData,
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            SINK.with(|s| *s.borrow_mut() = previous);
        }
    }
}

/// The sink of the call running on this thread, if it has one.
pub(crate) fn current() -> Option<Sink> {
    SINK.with(|s| s.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What a test sink received, in order.
    type Seen = Arc<Mutex<Vec<(Level, String)>>>;

    fn collector() -> (Sink, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let sink: Sink = Arc::new(move |level, message: &str| {
            into.lock().unwrap().push((level, message.to_owned()))
        });
        (sink, seen)
    }

    #[test]
    fn a_scope_routes_this_thread_only_and_restores_the_one_before() {
        assert!(current().is_none());
        let (outer, outer_seen) = collector();
        let (inner, inner_seen) = collector();
        {
            let _outer = route(Some(&outer));
            {
                let _none = route(None);
                current().unwrap()(Level::Warn, "kept by None");
                let _inner = route(Some(&inner));
                current().unwrap()(Level::Notice, "inner");
                let other = std::thread::spawn(|| current().is_none());
                assert!(other.join().unwrap(), "another thread has no sink");
            }
            current().unwrap()(Level::Warn, "outer again");
        }
        assert!(current().is_none());
        assert_eq!(
            *outer_seen.lock().unwrap(),
            [
                (Level::Warn, "kept by None".to_owned()),
                (Level::Warn, "outer again".to_owned())
            ]
        );
        assert_eq!(
            *inner_seen.lock().unwrap(),
            [(Level::Notice, "inner".to_owned())]
        );
    }
}
