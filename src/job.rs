//! Jobs: a call that can wait on the network, run on a thread of the
//! library's own while the host's thread goes on (libcurl's multi interface
//! is the model). The host is told when there is news by a `notify` function
//! it gives (Julia passes `uv_async_send`, C may write to an eventfd), and
//! then takes the news with [`Job::poll`], which never blocks: the login URL
//! and user code to show, progress, and at last the result.
//!
//! A job runs the same engine as the blocking calls ([`crate::auth`]), on a
//! thread of its own, inside a scope holding its cancel ([`crate::scope::enter_cancel`]):
//! [`Job::cancel`] stops its waits within a fraction of a second, and so does
//! dropping the job, whose thread then ends by itself and frees what it made.
//! The job's cancel is never kept by an authentication it creates (a freed
//! job must not poison later refreshes).
//!
//! The flows below report the login URL and progress through
//! [`crate::progress`], which the job's thread listens to.
//!
//! The warnings and notices of a job's call are news too: a host whose code
//! may not run on the library's thread (Julia) cannot take a log callback
//! there. So a job whose options have no log sink of their own
//! ([`crate::options::Options::set_log`]) queues every line its call logs as
//! an [`Event::Log`], in order with the rest, and nothing of it goes to
//! stderr; with a sink set, the sink gets them (on the job's thread) and no
//! event is made.
//!
//! A job whose answer is at hand (a fresh token) is finished when it starts,
//! on the caller's thread, without a thread: the fast path stays a few
//! hundred nanoseconds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

use crate::auth::Authentication;
use crate::cancel::Cancel;
use crate::error::{Error, ErrorKind, Result};
use crate::options::HookAction;
use crate::progress::{self, Report};
use crate::scope;
use crate::secret::Secret;

/// What a job does: the calls that can wait on the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// [`crate::auth::authenticate`]: finds or obtains a token.
    Authenticate,
    /// [`Authentication::reauthenticate`]: reloads, or logs in again.
    Reauthenticate,
    /// [`Authentication::token`]: the token, refreshed first when due.
    Token,
    /// [`Authentication::authorization`]: the Authorization header value.
    Authorization,
    /// [`Authentication::check`]: asks the server whether the token is good.
    Check,
    /// [`crate::auth::logout`]: forgets (and revokes) the stored token.
    Logout,
    /// [`crate::auth::save_token`]: stores a token obtained elsewhere (a
    /// DagsHub app token is first checked with the server, unless
    /// `validate=false`; every save may wait for the file lock). Started
    /// with [`Job::start_save_token`], which takes the token.
    SaveToken,
}

/// What a finished job produced.
pub enum Outcome {
    /// A new authentication (Authenticate).
    Auth(Authentication),
    /// A token or an Authorization header value (Token, Authorization).
    Secret(Secret),
    /// The server's verdict (Check).
    Valid(bool),
    /// Done, nothing to hand over (Reauthenticate, Logout, SaveToken).
    Done,
}

/// News from a job, in the order it happened.
pub enum Event {
    /// A person must open `url` (and, for a device login, enter `user_code`)
    /// to log in. Both were checked and escaped: safe to show.
    Login {
        url: String,
        user_code: Option<String>,
    },
    /// Something a waiting person may like to read (one escaped line).
    Progress(String),
    /// A line the call logged (a warning, the login notice): escaped, one
    /// line, without the `hubauth:` prefix. Never merged or dropped.
    Log {
        level: crate::log::Level,
        message: String,
    },
    /// The job ended; no event follows.
    Done(Result<Outcome>),
}

/// Called from the job's thread whenever there is news. It must not block
/// and must not free the job it belongs to.
pub type Notify = Box<dyn Fn() + Send + Sync>;

/// A running or finished job. Dropping it cancels a running job and never
/// blocks (beyond a notify call in flight on another thread); no notify call
/// starts after the drop returns.
pub struct Job {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// None for a job finished in `start` (no pipe made for nothing).
    cancel: Option<Cancel>,
    /// The host's notify, None once the job was dropped. Held locked while it
    /// is called, so a drop waits for a call in flight and none starts after.
    notify: Mutex<Option<Notify>>,
    /// Set by a drop: no notify or hook call starts after it.
    detached: AtomicBool,
    /// Held while the options' hook runs on the job's thread, so a drop waits
    /// for a hook call in flight (the host may free the hook's data after).
    hook_call: Mutex<()>,
    /// The thread that runs the job, if any (a drop from inside `notify`, on
    /// that thread, must not wait for itself).
    worker: Mutex<Option<ThreadId>>,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    /// The Done event was queued.
    finished: bool,
}

/// Progress events waiting to be taken are merged: a host that polls late
/// finds the newest one, not hundreds.
const MAX_PENDING_PROGRESS: usize = 1;

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, event: Event) {
        {
            let mut queue = self.queue();
            if queue.finished {
                return;
            }
            if let Event::Progress(_) = event {
                let pending = queue
                    .events
                    .iter()
                    .filter(|e| matches!(e, Event::Progress(_)))
                    .count();
                let oldest = queue
                    .events
                    .iter()
                    .position(|e| matches!(e, Event::Progress(_)));
                if let Some(pos) = oldest.filter(|_| pending >= MAX_PENDING_PROGRESS) {
                    queue.events.remove(pos);
                }
            }
            queue.finished = matches!(event, Event::Done(_));
            queue.events.push_back(event);
        }
        self.wake();
    }

    fn wake(&self) {
        if self.detached.load(Ordering::SeqCst) {
            return;
        }
        let notify = self.notify.lock().unwrap_or_else(|p| p.into_inner());
        if self.detached.load(Ordering::SeqCst) {
            return;
        }
        if let Some(notify) = notify.as_ref() {
            // A panic in the host's notify (it is Rust only in tests) must
            // not kill the job's thread before its result is queued.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(notify));
        }
    }
}

/// The job's thread listens to its call: news goes to the queue, and the
/// options' hook is gated so that none is called once the job was dropped,
/// and a drop waits for one in flight (the host may free the hook's data
/// right after `hubauth_job_free`).
impl progress::Listener for Shared {
    fn report(&self, report: Report) {
        self.push(match report {
            Report::Login { url, user_code } => Event::Login { url, user_code },
            Report::Progress(line) => Event::Progress(line),
        });
    }

    fn call_hook(&self, hook: &dyn Fn() -> HookAction) -> HookAction {
        let _calling = self.hook_call.lock().unwrap_or_else(|p| p.into_inner());
        if self.detached.load(Ordering::SeqCst) {
            return HookAction::Cancel;
        }
        hook()
    }
}

impl Job {
    /// Starts `kind` on a thread of the library's own. `auth` is required by
    /// every kind but Authenticate and Logout, which need `options`; for the
    /// others `options` are laid over the authentication's (Reauthenticate)
    /// or unused. Returns at once; a job whose answer is at hand (a fresh
    /// token) is finished before it returns, and `notify` has been called.
    pub fn start(
        kind: JobKind,
        auth: Option<Authentication>,
        options: Option<crate::options::Options>,
        notify: Option<Notify>,
    ) -> Result<Job> {
        Self::launch(Work::new(kind, auth, options, None)?, notify)
    }

    /// Starts [`JobKind::SaveToken`]: stores `token` for the options'
    /// provider and server, on a thread of the library's own.
    pub fn start_save_token(
        options: crate::options::Options,
        token: Secret,
        notify: Option<Notify>,
    ) -> Result<Job> {
        let work = Work::new(JobKind::SaveToken, None, Some(options), Some(token))?;
        Self::launch(work, notify)
    }

    fn launch(work: Work, notify: Option<Notify>) -> Result<Job> {
        let at_hand = work.at_hand();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            cancel: match at_hand {
                Some(_) => None,
                None => Some(Cancel::new()?),
            },
            notify: Mutex::new(notify),
            detached: AtomicBool::new(false),
            hook_call: Mutex::new(()),
            worker: Mutex::new(None),
        });
        if let Some(outcome) = at_hand {
            shared.push(Event::Done(Ok(outcome)));
            return Ok(Job { shared });
        }
        let worker = shared.clone();
        let handle = std::thread::Builder::new()
            .name("hubauth-job".into())
            .spawn(move || {
                *worker.worker.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(std::thread::current().id());
                // The call's log lines become events, unless its options
                // route them to a sink of their own (crate::auth enters it).
                let queue = worker.clone();
                let sink: crate::log::Sink = Arc::new(move |level, message: &str| {
                    queue.push(Event::Log {
                        level,
                        message: message.to_string(),
                    })
                });
                let outcome = {
                    let _log = crate::log::route(Some(&sink));
                    let _listening = progress::listen(worker.clone());
                    let _scope = scope::enter_cancel(worker.cancel.as_ref());
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.run()))
                        .unwrap_or_else(|_| {
                            Err(Error::new(
                                ErrorKind::Panic,
                                "hubauth panicked in a job (a bug, please report it)",
                            ))
                        })
                };
                worker.push(Event::Done(outcome));
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot start a thread for the job: {e}"),
                )
            })?;
        // Detached: the thread ends by itself once its call does.
        drop(handle);
        Ok(Job { shared })
    }

    /// The next event, or None when there is nothing new (the job still
    /// runs). Never blocks. After the Done event, None for ever.
    pub fn poll(&self) -> Option<Event> {
        self.shared.queue().events.pop_front()
    }

    /// Whether the Done event was queued (taken or not).
    pub fn is_finished(&self) -> bool {
        self.shared.queue().finished
    }

    /// Stops the job's waits: it ends with `Cancelled` within a fraction of
    /// a second, unless it already had its answer. Async-signal-safe.
    pub fn cancel(&self) {
        if let Some(cancel) = &self.shared.cancel {
            cancel.trigger();
        }
    }

    /// Runs the job to its end on the calling thread's behalf: waits (without
    /// holding anything the job needs) and returns its result. What the
    /// blocking calls would do, for tests and hosts without a loop.
    pub fn wait(self) -> Result<Outcome> {
        loop {
            if let Some(Event::Done(outcome)) = self.poll() {
                return outcome;
            }
            if !self.is_finished() {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.cancel();
        let shared = &self.shared;
        shared.detached.store(true, Ordering::SeqCst);
        let worker = *shared.worker.lock().unwrap_or_else(|p| p.into_inner());
        if worker != Some(std::thread::current().id()) {
            // Waits for a notify or hook call in flight on the job's
            // thread; none starts after `detached` was set.
            let mut notify = shared.notify.lock().unwrap_or_else(|p| p.into_inner());
            notify.take();
            drop(shared.hook_call.lock().unwrap_or_else(|p| p.into_inner()));
        }
        // From inside notify (on the job's thread) the lock is held by the
        // caller's frame: `detached` alone stops later calls, and the notify
        // is dropped with the shared state.
    }
}

/// A job's call, with what it needs.
struct Work {
    kind: JobKind,
    auth: Option<Authentication>,
    options: Option<crate::options::Options>,
    /// The token a SaveToken job stores.
    token: Option<Secret>,
}

impl Work {
    fn new(
        kind: JobKind,
        auth: Option<Authentication>,
        options: Option<crate::options::Options>,
        token: Option<Secret>,
    ) -> Result<Work> {
        if (kind == JobKind::SaveToken) != token.is_some() {
            return Err(Error::invalid_argument(
                "only a SaveToken job takes a token, and it needs one (Job::start_save_token)",
            ));
        }
        let needs_auth = !matches!(
            kind,
            JobKind::Authenticate | JobKind::Logout | JobKind::SaveToken
        );
        if needs_auth && auth.is_none() {
            return Err(Error::new(
                ErrorKind::NullArgument,
                format!("a {kind:?} job needs an authentication"),
            ));
        }
        if !needs_auth && options.is_none() {
            return Err(Error::new(
                ErrorKind::NullArgument,
                format!("a {kind:?} job needs options"),
            ));
        }
        Ok(Work {
            kind,
            auth,
            options,
            token,
        })
    }

    /// The outcome without any wait, when it is at hand (a fresh token).
    fn at_hand(&self) -> Option<Outcome> {
        let auth = self.auth.as_ref()?;
        match self.kind {
            JobKind::Token => auth.token_if_fresh().map(Outcome::Secret),
            JobKind::Authorization => auth.authorization_if_fresh().map(Outcome::Secret),
            _ => None,
        }
    }

    fn run(self) -> Result<Outcome> {
        let auth = || self.auth.as_ref().ok_or_else(|| Error::internal("no auth"));
        let options = || {
            self.options
                .as_ref()
                .ok_or_else(|| Error::internal("no options"))
        };
        match self.kind {
            JobKind::Authenticate => crate::auth::authenticate(options()?).map(Outcome::Auth),
            JobKind::Logout => crate::auth::logout(options()?).map(|()| Outcome::Done),
            JobKind::Reauthenticate => auth()?
                .reauthenticate(self.options.as_ref())
                .map(|()| Outcome::Done),
            JobKind::Token => auth()?.token().map(Outcome::Secret),
            JobKind::Authorization => auth()?.authorization().map(Outcome::Secret),
            JobKind::Check => auth()?.check().map(Outcome::Valid),
            JobKind::SaveToken => {
                let token = self
                    .token
                    .as_ref()
                    .ok_or_else(|| Error::internal("no token"))?;
                crate::auth::save_token(options()?, token.expose()).map(|()| Outcome::Done)
            }
        }
    }
}
