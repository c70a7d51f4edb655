//! What a running call tells the host that waits for it: the login URL (and
//! user code) a person must see, and progress lines. A job ([`crate::job`])
//! listens for the call it runs; the flows below report here without knowing
//! who listens, the same way they find the call's cancel
//! ([`crate::cancel`]): every wait of a call happens on the thread that runs
//! it, so a thread-local is exactly the call's extent.

use std::cell::RefCell;
use std::sync::Arc;

use crate::options::HookAction;

/// One piece of news from a running call.
pub enum Report {
    /// A person must open `url` (and, for a device login, enter
    /// `user_code`); both were checked and escaped.
    Login {
        url: String,
        user_code: Option<String>,
    },
    /// One escaped line for a waiting person.
    Progress(String),
}

/// Who listens to a call, on the call's thread.
pub trait Listener: Send + Sync {
    /// Takes one piece of news; must not block.
    fn report(&self, report: Report);
    /// Runs the options' hook for this call (the listener may refuse it, or
    /// make others wait for it to return).
    fn call_hook(&self, hook: &dyn Fn() -> HookAction) -> HookAction {
        hook()
    }
}

thread_local! {
    static LISTENER: RefCell<Option<Arc<dyn Listener>>> = const { RefCell::new(None) };
}

/// While alive, reports on this thread go to its listener; dropping it
/// restores the one before.
#[must_use = "the scope ends when this is dropped"]
pub struct Scope {
    previous: Option<Arc<dyn Listener>>,
    /// Bound to the thread it was entered on.
    _thread: std::marker::PhantomData<*const ()>,
}

/// Sends this thread's reports to `listener` until the scope is dropped.
pub fn listen(listener: Arc<dyn Listener>) -> Scope {
    let previous = LISTENER.with(|l| l.replace(Some(listener)));
    Scope {
        previous,
        _thread: std::marker::PhantomData,
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        LISTENER.with(|l| *l.borrow_mut() = previous);
    }
}

/// Reports a login URL (and user code) the caller checked and escaped;
/// false when nobody listens on this thread.
pub fn login(url: &str, user_code: Option<&str>) -> bool {
    let Some(listener) = LISTENER.with(|l| l.borrow().clone()) else {
        return false;
    };
    listener.report(Report::Login {
        url: url.to_owned(),
        user_code: user_code.map(str::to_owned),
    });
    true
}

/// Calls the options' hook through this thread's listener, if any.
pub fn call_hook(hook: &dyn Fn() -> HookAction) -> HookAction {
    match LISTENER.with(|l| l.borrow().clone()) {
        Some(listener) => listener.call_hook(hook),
        None => hook(),
    }
}

/// Reports a progress line (escaped here), if anyone listens.
pub fn progress(message: &str) {
    if let Some(listener) = LISTENER.with(|l| l.borrow().clone()) {
        listener.report(Report::Progress(crate::log::escape(message).into_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Lines(Mutex<Vec<String>>);

    impl Listener for Lines {
        fn report(&self, report: Report) {
            self.0.lock().unwrap().push(match report {
                Report::Login { url, .. } => url,
                Report::Progress(line) => line,
            })
        }
        fn call_hook(&self, _hook: &dyn Fn() -> HookAction) -> HookAction {
            HookAction::Cancel
        }
    }

    #[test]
    fn reports_reach_the_listener_of_this_thread_only_while_it_listens() {
        assert!(!login("https://hub.example/login", None));
        assert_eq!(call_hook(&|| HookAction::Continue), HookAction::Continue);
        let seen = Arc::new(Lines(Mutex::new(Vec::new())));
        {
            let _scope = listen(seen.clone());
            assert_eq!(
                call_hook(&|| HookAction::Continue),
                HookAction::Cancel,
                "the listener decides"
            );
            assert!(login("https://hub.example/login", Some("ABCD")));
            progress("waiting\x1b[2J");
            let other = std::thread::spawn(|| login("https://x.example", None));
            assert!(!other.join().unwrap(), "another thread has no listener");
        }
        assert!(!login("https://hub.example/login", None));
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["https://hub.example/login", "waiting\\u{1b}[2J"]
        );
    }
}
