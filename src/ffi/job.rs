//! `hubauth_job`: the non-blocking form of every call that can wait on the
//! network (how it runs: [`crate::job`]). Start, be notified, poll, free.

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::Mutex;

use super::auth::hubauth_auth;
use super::error::new_error;
use super::handle::{Castable, Out, OwnedBox, free_handle, into_handle, required};
use super::options::snapshot;
use super::secret::hubauth_secret;
use super::{guard, guard_value, hubauth_error, hubauth_options, hubauth_status, required_str};
use crate::error::{Error, Result};
use crate::job::{Event, Job, JobKind, Notify, Outcome};

/// Job kind: `hubauth_authenticate` (needs options; DONE carries `auth`).
pub const HUBAUTH_JOB_AUTHENTICATE: i32 = 1;
/// Job kind: `hubauth_reauthenticate` (needs an auth; options optional).
pub const HUBAUTH_JOB_REAUTHENTICATE: i32 = 2;
/// Job kind: `hubauth_token` (needs an auth; DONE carries `secret`).
pub const HUBAUTH_JOB_TOKEN: i32 = 3;
/// Job kind: `hubauth_authorization` (needs an auth; DONE carries `secret`).
pub const HUBAUTH_JOB_AUTHORIZATION: i32 = 4;
/// Job kind: `hubauth_check` (needs an auth; DONE carries `valid`).
pub const HUBAUTH_JOB_CHECK: i32 = 5;
/// Job kind: `hubauth_logout` (needs options).
pub const HUBAUTH_JOB_LOGOUT: i32 = 6;
/// Job kind: `hubauth_save_token` (needs options and the token: started
/// with `hubauth_job_start_save_token` only).
pub const HUBAUTH_JOB_SAVE_TOKEN: i32 = 7;

/// Event kind: nothing new; the job still runs.
pub const HUBAUTH_JOB_EVENT_NONE: i32 = 0;
/// Event kind: show `url` (and `user_code`, when not NULL) to the person
/// who logs in. Both were checked and escaped by the library.
pub const HUBAUTH_JOB_EVENT_LOGIN: i32 = 1;
/// Event kind: `message` is a line of progress (e.g. the login still waits).
pub const HUBAUTH_JOB_EVENT_PROGRESS: i32 = 2;
/// Event kind: the job ended with `status`; its result is in `auth`,
/// `secret`, `valid` or `error`. Every later poll gives DONE again with the
/// same status and no result.
pub const HUBAUTH_JOB_EVENT_DONE: i32 = 3;
/// Event kind: a line the job's call logged: `status` is its level (a
/// HUBAUTH_LOG_*: a warning, or the login notice), `message` the line,
/// escaped, without the `hubauth:` prefix. Made only when the job's options
/// have no log callback (hubauth_options_set_log; with one, the callback
/// gets the line on the library's thread instead); never merged or dropped,
/// and then nothing of it goes to stderr.
pub const HUBAUTH_JOB_EVENT_LOG: i32 = 4;

/// A job started with `hubauth_job_start` or `hubauth_job_start_auth`. Owned
/// by the caller; free with `hubauth_job_free`. Thread-safe.
pub struct hubauth_job {
    _private: [u8; 0],
}

/// Called from the library's thread whenever a job has news. It must return
/// quickly; `uv_async_send` fits (with the
/// `uv_async_t *` as `arg`), and so does `hubauth_notify_fd`.
pub type hubauth_notify_fn = Option<unsafe extern "C" fn(arg: *mut c_void)>;

/// One piece of news from `hubauth_job_poll`. Strings are borrowed from the
/// job, valid until the next `hubauth_job_poll` of this job or its free;
/// `auth`, `secret` and `error` are the caller's to free (each handed out
/// once). Fields a kind does not use are NULL, false or 0.
#[repr(C)]
pub struct hubauth_job_event {
    /// HUBAUTH_JOB_EVENT_NONE, _LOGIN, _PROGRESS, _LOG or _DONE.
    pub kind: i32,
    /// DONE: the call's status (HUBAUTH_OK or an error code). LOG: the
    /// line's level (a HUBAUTH_LOG_*).
    pub status: hubauth_status,
    /// LOGIN: the URL to open (borrowed).
    pub url: *const c_char,
    /// LOGIN: the code to enter on that page, or NULL (borrowed).
    pub user_code: *const c_char,
    /// PROGRESS, LOG: one line to show (borrowed).
    pub message: *const c_char,
    /// DONE of HUBAUTH_JOB_AUTHENTICATE: the new authentication (owned;
    /// hubauth_auth_free). It is also what hubauth_current returns.
    pub auth: *mut hubauth_auth,
    /// DONE of HUBAUTH_JOB_TOKEN or _AUTHORIZATION: the value (owned;
    /// hubauth_secret_free).
    pub secret: *mut hubauth_secret,
    /// DONE of HUBAUTH_JOB_CHECK: the server's verdict.
    pub valid: bool,
    /// DONE with an error status: the error (owned; hubauth_error_free).
    pub error: *mut hubauth_error,
}

pub(crate) struct JobCell {
    job: Job,
    /// The strings of the last event polled, kept for the caller to read.
    last: Mutex<Vec<CString>>,
    /// The DONE status, repeated by every later poll.
    done: Mutex<Option<hubauth_status>>,
}

impl Castable for hubauth_job {
    type Ownership = OwnedBox;
    type RustType = JobCell;
}

/// The caller's notify function and argument, called from the job's thread.
struct CNotify {
    notify: unsafe extern "C" fn(*mut c_void),
    arg: *mut c_void,
}

impl CNotify {
    fn call(&self) {
        // SAFETY: the caller's function with the documented contract.
        unsafe { (self.notify)(self.arg) }
    }
}

// SAFETY: the header says notify is called from the library's thread; the
// caller promises that `arg` may be used there (uv_async_send's handle is).
unsafe impl Send for CNotify {}
// SAFETY: a shared CNotify is two words that are never written; the one use
// is `call`, made on the job's thread (hubauth_notify_fn in the header).
unsafe impl Sync for CNotify {}

fn kind_of(kind: c_int) -> Result<JobKind> {
    Ok(match kind {
        HUBAUTH_JOB_AUTHENTICATE => JobKind::Authenticate,
        HUBAUTH_JOB_REAUTHENTICATE => JobKind::Reauthenticate,
        HUBAUTH_JOB_TOKEN => JobKind::Token,
        HUBAUTH_JOB_AUTHORIZATION => JobKind::Authorization,
        HUBAUTH_JOB_CHECK => JobKind::Check,
        HUBAUTH_JOB_LOGOUT => JobKind::Logout,
        HUBAUTH_JOB_SAVE_TOKEN => JobKind::SaveToken,
        other => {
            return Err(Error::invalid_argument(format!(
                "{other} is not a job kind (HUBAUTH_JOB_AUTHENTICATE … HUBAUTH_JOB_SAVE_TOKEN)"
            )));
        }
    })
}

fn rust_notify(notify: hubauth_notify_fn, arg: *mut c_void) -> Option<Notify> {
    notify.map(|notify| {
        let c = CNotify { notify, arg };
        Box::new(move || c.call()) as Notify
    })
}

/// Starts an options-based call as a job and returns at once: `kind` is
/// HUBAUTH_JOB_AUTHENTICATE or HUBAUTH_JOB_LOGOUT (the others need an
/// authentication: `hubauth_job_start_auth`). The options are copied; `o`
/// may be freed at once. The call runs on a thread of the library's own;
/// `notify(arg)` (NULL allowed: poll on a timer instead) is called from that
/// thread whenever there is news, never after `hubauth_job_free` returned.
/// Poll once after starting (a job may be done already) and after every
/// notify, until the DONE event. A login's URL and code reach the caller as
/// a LOGIN event; unless option open_browser is false, the library also
/// shows them (as a LOG event, or to the options' log callback) and opens a
/// browser, as the blocking call does. A hook set in
/// the options is called on the job's thread; the job holds a copy of it
/// until its thread ends, which may be after hubauth_job_free (a hook with
/// free_userdata may then be freed on that thread). On success writes the job to
/// `*out` (free with `hubauth_job_free`).
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_job_start(
    o: *const hubauth_options,
    kind: c_int,
    notify: hubauth_notify_fn,
    arg: *mut c_void,
    out: *mut *mut hubauth_job,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let out = Out::new(out, "out")?;
        let kind = kind_of(kind)?;
        let options = snapshot(o, "options")?;
        if kind == JobKind::SaveToken {
            return Err(Error::invalid_argument(
                "HUBAUTH_JOB_SAVE_TOKEN needs the token: use hubauth_job_start_save_token",
            ));
        }
        if !matches!(kind, JobKind::Authenticate | JobKind::Logout) {
            return Err(Error::invalid_argument(
                "this job kind needs an authentication: use hubauth_job_start_auth",
            ));
        }
        let job = Job::start(kind, None, Some(options), rust_notify(notify, arg))?;
        out.give(JobCell::new(job));
        Ok(())
    })
}

/// Starts a call on an authentication as a job, like `hubauth_job_start`:
/// `kind` is HUBAUTH_JOB_REAUTHENTICATE (`o` NULL or laid over the
/// authentication's options, as hubauth_reauthenticate does),
/// HUBAUTH_JOB_TOKEN, HUBAUTH_JOB_AUTHORIZATION or HUBAUTH_JOB_CHECK (`o`
/// must be NULL). The job holds its own reference to `a`. A token that needs
/// no refresh is at hand: the job is done when this returns (its DONE event
/// waits, and notify was called once, on this thread), and no thread is
/// started.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_job_start_auth(
    a: *const hubauth_auth,
    o: *const hubauth_options,
    kind: c_int,
    notify: hubauth_notify_fn,
    arg: *mut c_void,
    out: *mut *mut hubauth_job,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let out = Out::new(out, "out")?;
        let auth = required(a, "auth")?.clone();
        let kind = kind_of(kind)?;
        if matches!(
            kind,
            JobKind::Authenticate | JobKind::Logout | JobKind::SaveToken
        ) {
            return Err(Error::invalid_argument(
                "this job kind needs options, not an authentication: use hubauth_job_start \
                 (hubauth_job_start_save_token for HUBAUTH_JOB_SAVE_TOKEN)",
            ));
        }
        let options = if o.is_null() {
            None
        } else if kind == JobKind::Reauthenticate {
            Some(snapshot(o, "options")?)
        } else {
            return Err(Error::invalid_argument(
                "only HUBAUTH_JOB_REAUTHENTICATE takes options; pass NULL",
            ));
        };
        let job = Job::start(kind, Some(auth), options, rust_notify(notify, arg))?;
        out.give(JobCell::new(job));
        Ok(())
    })
}

/// `hubauth_save_token` as a job (HUBAUTH_JOB_SAVE_TOKEN), started like
/// `hubauth_job_start`: stores `token` (copied; it may be freed at once) for
/// the options' provider and server. Its DONE carries only the status. It
/// can wait: on the server for a DagsHub app token (checked first unless
/// option validate is false) and on the token file's lock (another
/// process's refresh), each up to option timeout_ms.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_job_start_save_token(
    o: *const hubauth_options,
    token: *const c_char,
    notify: hubauth_notify_fn,
    arg: *mut c_void,
    out: *mut *mut hubauth_job,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let out = Out::new(out, "out")?;
        let options = snapshot(o, "options")?;
        let token = crate::secret::Secret::new(required_str(token, "token")?)?;
        let job = Job::start_save_token(options, token, rust_notify(notify, arg))?;
        out.give(JobCell::new(job));
        Ok(())
    })
}

impl JobCell {
    fn new(job: Job) -> JobCell {
        JobCell {
            job,
            last: Mutex::new(Vec::new()),
            done: Mutex::new(None),
        }
    }
}

/// Takes the next event of `j` into `*ev` without ever blocking:
/// HUBAUTH_JOB_EVENT_NONE when nothing is new. Events come in order: any
/// LOGIN, PROGRESS and LOG, then one DONE with the result, then DONE again (with
/// no result) for every later poll. Polling is level-triggered: poll until
/// NONE after each notify (notifies may be merged). Returns HUBAUTH_OK
/// whenever `*ev` was written (the call's own status is `ev->status`);
/// HUBAUTH_ERR_NULL_ARGUMENT for a NULL `j` or `ev`.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_job_poll(
    j: *mut hubauth_job,
    ev: *mut hubauth_job_event,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let cell = required(j.cast_const(), "job")?;
        let ev = Out::new(ev, "ev")?;
        let mut last = cell.last.lock().unwrap_or_else(|p| p.into_inner());
        last.clear();
        let mut event = hubauth_job_event {
            kind: HUBAUTH_JOB_EVENT_NONE,
            status: super::HUBAUTH_OK,
            url: std::ptr::null(),
            user_code: std::ptr::null(),
            message: std::ptr::null(),
            auth: std::ptr::null_mut(),
            secret: std::ptr::null_mut(),
            valid: false,
            error: std::ptr::null_mut(),
        };
        let mut keep = |s: &str| -> *const c_char {
            let c = CString::new(s.replace('\0', " ")).unwrap_or_default();
            let ptr = c.as_ptr();
            // The CString's heap buffer does not move when the vector grows.
            last.push(c);
            ptr
        };
        let mut done = cell.done.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(status) = *done {
            event.kind = HUBAUTH_JOB_EVENT_DONE;
            event.status = status;
            ev.write(event);
            return Ok(());
        }
        match cell.job.poll() {
            None => {}
            Some(Event::Login { url, user_code }) => {
                event.kind = HUBAUTH_JOB_EVENT_LOGIN;
                event.url = keep(&url);
                event.user_code = user_code.as_deref().map_or(std::ptr::null(), &mut keep);
            }
            Some(Event::Progress(message)) => {
                event.kind = HUBAUTH_JOB_EVENT_PROGRESS;
                event.message = keep(&message);
            }
            Some(Event::Log { level, message }) => {
                event.kind = HUBAUTH_JOB_EVENT_LOG;
                event.status = level as i32;
                event.message = keep(&message);
            }
            Some(Event::Done(outcome)) => {
                event.kind = HUBAUTH_JOB_EVENT_DONE;
                match outcome {
                    Ok(Outcome::Auth(auth)) => event.auth = into_handle::<hubauth_auth>(auth),
                    Ok(Outcome::Secret(secret)) => {
                        event.secret = into_handle::<hubauth_secret>(secret)
                    }
                    Ok(Outcome::Valid(valid)) => event.valid = valid,
                    Ok(Outcome::Done) => {}
                    Err(e) => {
                        event.status = e.kind().code();
                        event.error = new_error(&e);
                    }
                }
                *done = Some(event.status);
            }
        }
        ev.write(event);
        Ok(())
    })
}

/// Cancels `j`: its waits end within a fraction of a second and it finishes
/// with HUBAUTH_ERR_CANCELLED (unless it had its result already; poll for
/// the DONE event). Async-signal-safe; NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_job_cancel(j: *mut hubauth_job) {
    guard_value((), || {
        if let Some(cell) = super::handle::try_ref(j.cast_const()) {
            cell.job.cancel();
        }
    })
}

/// Frees `j`, cancelling it if it still runs (its thread ends by itself and
/// frees what it made, e.g. a new authentication, zeroing any secret).
/// Never waits for the job; waits only for a notify or hook call in flight
/// on the job's thread, and no notify or hook call starts after this
/// returns (the options' hook, and its userdata, are not used again; a hook
/// should return promptly). Safe from
/// any thread, also from inside the job's notify. Using `j` after this is
/// undefined behaviour, as with every handle. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_job_free(j: *mut hubauth_job) {
    guard_value((), || free_handle(j))
}

/// A ready-made notify: writes the 8-byte value 1 to the file descriptor
/// `(int)(intptr_t)arg`, an eventfd or the write end of a pipe (make it
/// non-blocking). errno is kept. Pass it with the descriptor as `arg`, then
/// wait for the descriptor to be readable in the host's loop.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_notify_fd(arg: *mut c_void) {
    let fd = arg as isize as c_int;
    let one = 1u64.to_ne_bytes();
    // SAFETY: write(2) of 8 bytes from a local buffer; errno restored, as a
    // failure (a full pipe: it is readable anyway) changes nothing.
    unsafe {
        let errno = crate::cancel::errno_location();
        let saved = *errno;
        libc::write(fd, one.as_ptr().cast(), one.len());
        *errno = saved;
    }
}
