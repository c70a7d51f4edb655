//! Cancellation: a handle that another thread, or a signal handler, triggers
//! to make a waiting call return `Cancelled` within a fraction of a second,
//! having written nothing.
//!
//! # The handle
//!
//! A [`Cancel`] is a flag (an atomic) plus a self-pipe. [`Cancel::trigger`]
//! sets the flag and, the first time only, writes one byte to the pipe: an
//! atomic swap and one `write(2)`, no allocation, no lock, `errno` preserved,
//! so it is async-signal-safe and may be called from any thread or a
//! SIGINT handler. The byte is never read back: the pipe stays readable for
//! ever, which is how "a triggered cancel stays triggered" is kept, and a
//! second trigger finds the flag set and does nothing. There is no reset
//! (a waiter could miss a trigger that a reset undid): make a new cancel.
//!
//! A process made by `fork()` shares the pipe: a trigger in either process
//! ends the blocking waits of both (the pipe is the truth; a waiter that
//! finds the byte sets its own flag).
//!
//! Clones share one flag and one pipe (an `Arc`), so every holder, the
//! options a call was given, the authentication created from them, the C
//! handle, keeps the pipe open as long as it needs it. Dropping one
//! holder (e.g. `hubauth_cancel_free` while a call waits) leaves the others
//! working: the waiting call still sees every trigger made before that drop.
//!
//! # How a call sees it
//!
//! The cancel travels in [`Options`](crate::options::Options) like the hook.
//! The lifecycle engine enters the call's [`scope`](crate::scope), which
//! holds the call's cancel; every wait below it asks [`current`]:
//!
//! - sleeps between login polls (`LoginContext::sleep`) and file-lock waits
//!   (`FileLock::acquire`) use [`sleep`]: `poll(2)` on the pipe with the
//!   pause as timeout, so a trigger wakes them at once;
//! - HTTP requests (`net::send`) race the request against [`triggered`] on
//!   the tokio runtime, which checks the flag every [`ASYNC_TICK`] (the
//!   pipe is not registered with tokio's reactor: that needs its `net`
//!   feature and a `dup` of the pipe per request, for a 25 ms gain).
//!
//! Why a scope rather than a parameter: see [`crate::scope`].
//!
//! A trigger that lands after a reply was received does not undo it: what a
//! call saves under a lock it already holds is saved. A refresh request that
//! presents a single-use credential (a rotating refresh token) is not cut
//! once sent: it runs to its reply, bounded by the call's deadline, and the rotated
//! token is saved (the lifecycle's `renew_presented`); a cut request could
//! have been acted on, and the credential would be lost for every holder.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How often an asynchronous wait (an HTTP request) looks at the flag.
pub const ASYNC_TICK: Duration = Duration::from_millis(25);

/// A cancellation handle; clones share the same state.
#[derive(Clone)]
pub struct Cancel {
    inner: Arc<Inner>,
    /// An enclosing call's cancel that also stops this one (a job's cancel
    /// around the options' own, [`crate::scope::enter_call`]). Never
    /// triggered through this.
    outer: Option<Arc<Inner>>,
}

struct Inner {
    triggered: AtomicBool,
    read: OwnedFd,
    write: OwnedFd,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

impl Cancel {
    /// A new, untriggered cancel. Fails only when no pipe can be made (out
    /// of file descriptors).
    pub fn new() -> Result<Cancel> {
        let (read, write) = pipe().map_err(|e| {
            Error::new(
                crate::error::ErrorKind::Io,
                format!("cannot create a cancel (pipe): {e}"),
            )
        })?;
        Ok(Cancel {
            inner: Arc::new(Inner {
                triggered: AtomicBool::new(false),
                read,
                write,
            }),
            outer: None,
        })
    }

    /// Triggers the cancel. Async-signal-safe; a second call does nothing.
    pub fn trigger(&self) {
        self.inner.trigger();
    }

    /// Whether it (or the enclosing cancel it was joined with) was triggered.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
            || self
                .outer
                .as_ref()
                .is_some_and(|o| o.triggered.load(Ordering::SeqCst))
    }

    /// A cancel that is triggered when `self` or `outer` is: what a call with
    /// its own cancel sees inside an enclosing one. Triggering the result
    /// triggers `self` only.
    pub(crate) fn within(&self, outer: &Cancel) -> Cancel {
        // The same call's scope entered again (a refresh inside the scope
        // in which it waited for the single flight): already joined.
        if Arc::ptr_eq(&self.inner, &outer.inner) {
            return outer.clone();
        }
        Cancel {
            inner: self.inner.clone(),
            outer: Some(outer.inner.clone()),
        }
    }

    /// Waits until triggered or `timeout` passed; true when triggered.
    pub fn wait(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if self.is_triggered() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // Rounded up, so a sub-millisecond pause still sleeps.
            let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
            let pollfd = |inner: &Inner| libc::pollfd {
                fd: inner.read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let mut fds = [pollfd(&self.inner), pollfd(&self.inner)];
            let count = match &self.outer {
                Some(outer) => {
                    fds[1] = pollfd(outer);
                    2
                }
                None => 1,
            };
            // SAFETY: `count` valid pollfds; EINTR and the rest loop back to the flag.
            if unsafe { libc::poll(fds.as_mut_ptr(), count, ms) } > 0 {
                let mut woken = false;
                for (fd, inner) in fds[..count as usize].iter().zip(
                    [Some(&self.inner), self.outer.as_ref()]
                        .into_iter()
                        .flatten(),
                ) {
                    if fd.revents & libc::POLLIN != 0 {
                        // The byte is there: triggered, here or in a process that
                        // shares the pipe through fork() (its flag is its own copy).
                        inner.triggered.store(true, Ordering::SeqCst);
                        woken = true;
                    }
                }
                if woken {
                    return true;
                }
            }
        }
    }

    /// The same cancel shared with C: a pointer that keeps a reference.
    pub(crate) fn into_raw(self) -> *const () {
        Arc::into_raw(self.inner).cast()
    }

    /// A new reference to the cancel behind `ptr` (from [`Cancel::into_raw`],
    /// not yet released).
    ///
    /// # Safety
    /// `ptr` comes from `into_raw` and has not been given to `from_raw`.
    pub(crate) unsafe fn clone_raw(ptr: *const ()) -> Cancel {
        let ptr = ptr.cast::<Inner>();
        // SAFETY: per the contract, `ptr` holds one reference we add to.
        unsafe { Arc::increment_strong_count(ptr) };
        Cancel {
            // SAFETY: the reference just added.
            inner: unsafe { Arc::from_raw(ptr) },
            outer: None,
        }
    }

    /// Triggers the cancel behind `ptr` without touching its reference count:
    /// async-signal-safe.
    ///
    /// # Safety
    /// `ptr` comes from `into_raw` and has not been given to `from_raw`.
    pub(crate) unsafe fn trigger_raw(ptr: *const ()) {
        // SAFETY: per the contract, the Inner is alive.
        unsafe { &*ptr.cast::<Inner>() }.trigger();
    }

    /// Releases the reference `into_raw` kept.
    ///
    /// # Safety
    /// `ptr` comes from `into_raw`, and is released once.
    pub(crate) unsafe fn from_raw(ptr: *const ()) -> Cancel {
        Cancel {
            // SAFETY: per the contract.
            inner: unsafe { Arc::from_raw(ptr.cast::<Inner>()) },
            outer: None,
        }
    }
}

impl Inner {
    fn trigger(&self) {
        if self.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        // SAFETY: errno is thread-local; a signal handler must leave it as
        // it found it. write(2) on a non-blocking pipe is async-signal-safe;
        // its result does not matter (the flag is set; a full pipe is
        // readable anyway).
        unsafe {
            let errno = errno_location();
            let saved = *errno;
            libc::write(self.write.as_raw_fd(), [1u8].as_ptr().cast(), 1);
            *errno = saved;
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) unsafe fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) unsafe fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__error() }
}

/// A non-blocking, close-on-exec pipe: (read end, write end). Made so in
/// one step where the system can (pipe2), so a child another thread execs
/// meanwhile never inherits it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both were just opened and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A non-blocking, close-on-exec pipe: (read end, write end). Without pipe2
/// the flags are set just after.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both were just opened and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&read, &write] {
        let fd = fd.as_raw_fd();
        // SAFETY: fcntl on descriptors we own.
        let ok = unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
                && libc::fcntl(
                    fd,
                    libc::F_SETFL,
                    libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
                ) == 0
        };
        if !ok {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok((read, write))
}

/// The cancel of the call running on this thread, if any (the call's
/// [`scope`](crate::scope)).
pub fn current() -> Option<Cancel> {
    crate::scope::cancel()
}

/// The error a cancelled wait returns.
pub fn cancelled(what: &str) -> Error {
    Error::cancelled(format!("{what}: cancelled"))
}

/// `Err(Cancelled)` when the current call's cancel was triggered.
pub fn check(what: &str) -> Result<()> {
    match current() {
        Some(c) if c.is_triggered() => Err(cancelled(what)),
        _ => Ok(()),
    }
}

/// Sleeps `pause`, or returns `Cancelled` as soon as the current call's
/// cancel is triggered (at once when it already was).
pub fn sleep(pause: Duration, what: &str) -> Result<()> {
    match current() {
        Some(c) if c.wait(pause) => Err(cancelled(what)),
        Some(_) => Ok(()),
        None => {
            std::thread::sleep(pause);
            Ok(())
        }
    }
}

/// Resolves when `cancel` is triggered (checked every [`ASYNC_TICK`]).
pub async fn triggered(cancel: &Cancel) {
    while !cancel.is_triggered() {
        tokio::time::sleep(ASYNC_TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipe_is_close_on_exec_and_non_blocking() {
        let (read, write) = pipe().unwrap();
        for fd in [read.as_raw_fd(), write.as_raw_fd()] {
            // SAFETY: fcntl queries on descriptors we own.
            let (fd_flags, fl_flags) = unsafe {
                (
                    libc::fcntl(fd, libc::F_GETFD),
                    libc::fcntl(fd, libc::F_GETFL),
                )
            };
            assert_ne!(fd_flags & libc::FD_CLOEXEC, 0);
            assert_ne!(fl_flags & libc::O_NONBLOCK, 0);
        }
    }

    #[test]
    fn trigger_wakes_a_waiter_and_stays() {
        let c = Cancel::new().unwrap();
        assert!(!c.is_triggered());
        let started = Instant::now();
        assert!(!c.wait(Duration::from_millis(20)));
        assert!(started.elapsed() >= Duration::from_millis(20));
        let other = c.clone();
        let waiter = std::thread::spawn(move || {
            let started = Instant::now();
            (other.wait(Duration::from_secs(10)), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        c.trigger();
        c.trigger();
        let (woken, took) = waiter.join().unwrap();
        assert!(woken && took < Duration::from_secs(2), "{took:?}");
        // Stays triggered: an immediate answer every time.
        let started = Instant::now();
        assert!(c.wait(Duration::from_secs(10)) && c.wait(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_byte_from_a_forked_process_counts_as_a_trigger() {
        // What a child made by fork() does with its copy: the byte, not our flag.
        let c = Cancel::new().unwrap();
        // SAFETY: writing one byte from a live buffer to our own pipe.
        let written = unsafe { libc::write(c.inner.write.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
        assert_eq!(written, 1);
        assert!(!c.is_triggered());
        let started = Instant::now();
        assert!(
            c.wait(Duration::from_secs(10)),
            "no spinning until the timeout"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(c.is_triggered());
    }

    #[test]
    fn raw_references_count() {
        let c = Cancel::new().unwrap();
        let raw = c.clone().into_raw();
        // SAFETY: `raw` is alive until from_raw below.
        let again = unsafe { Cancel::clone_raw(raw) };
        // SAFETY: as above.
        unsafe { Cancel::trigger_raw(raw) };
        // SAFETY: released once.
        drop(unsafe { Cancel::from_raw(raw) });
        assert!(c.is_triggered() && again.is_triggered());
        assert_eq!(Arc::strong_count(&c.inner), 2);
    }
}
