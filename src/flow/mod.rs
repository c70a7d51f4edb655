//! How new tokens are obtained: refresh, interactive logins, exchanges.

pub mod authcode;
pub mod browser;
pub mod client_credentials;
pub mod dagshub_oauth;
pub mod device;
pub mod discovery;
pub mod exchange;
pub mod introspect;
pub mod login_page;
pub mod loopback;
pub mod oauth;
pub mod pkg_classic;
pub mod pkg_refresh;
pub mod refresh;
pub mod revoke;
pub mod user_check;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cancel;
use crate::error::{Error, Result};
use crate::flow::login_page::LoginPage;
use crate::options::{Hook, Options};

/// What an interactive flow needs: where to send the user, whether it may wait
/// for one, and until when.
pub struct LoginContext {
    pub hook: Option<Hook>,
    /// May open a browser / wait for a person (a hook may run even when false).
    pub interactive: bool,
    /// hubauth prints the URL and opens a browser itself (option open_browser).
    pub open_browser: bool,
    pub deadline: Instant,
    /// Poll interval when the server gives none.
    pub poll_interval: Option<Duration>,
    /// The pages the opener was given ([`LoginPage`]): removed when the
    /// login ends, this context being dropped.
    pages: Mutex<Vec<LoginPage>>,
}

impl LoginContext {
    /// A context from options; `interactive_default` is the provider's default
    /// (e.g. from JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE).
    pub fn from_options(options: &Options, interactive_default: bool) -> Self {
        LoginContext {
            hook: options.hook.clone(),
            interactive: options.interactive_or(interactive_default),
            open_browser: options.open_browser,
            // The call's deadline: every login poll, and each of the
            // maxcount logins, draws on it (crate::scope).
            deadline: crate::scope::deadline_within(options.timeout),
            poll_interval: options.poll_interval,
            pages: Mutex::new(Vec::new()),
        }
    }

    /// Keeps `page` until this login ends (then it is removed).
    pub fn keep_until_done(&self, page: LoginPage) {
        self.pages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(page);
    }

    /// True when a login may start: someone can be sent to a URL.
    pub fn can_login(&self) -> bool {
        self.interactive || self.hook.is_some()
    }

    /// Sleeps `pause`, or fails with `Timeout` when that would pass the
    /// deadline, or with `Cancelled` as soon as the call's cancel is
    /// triggered ([`crate::cancel`]).
    pub fn sleep(&self, pause: Duration, what: &str) -> Result<()> {
        let now = Instant::now();
        crate::progress::progress(&format!(
            "{what}: waiting for the login to be approved ({} s left)",
            self.deadline.saturating_duration_since(now).as_secs()
        ));
        if now.checked_add(pause).is_none_or(|end| end > self.deadline) {
            let left = self.deadline.saturating_duration_since(now);
            cancel::sleep(left, what)?;
            return Err(self.timed_out(what));
        }
        cancel::sleep(pause, what)
    }

    pub fn timed_out(&self, what: &str) -> Error {
        Error::timeout(format!(
            "{what}: gave up waiting for the login to be approved (raise `timeout_ms` to wait longer)"
        ))
    }
}
