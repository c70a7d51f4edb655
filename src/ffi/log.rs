//! `hubauth_options_set_log`: a call's warnings and notices into the host's
//! own logging instead of stderr (how they are routed: [`crate::log::route`]).

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use super::options::FreeOnDrop;
use super::{guard, hubauth_options, hubauth_status, required};
use crate::log::{Level, Sink};

// The numbers are `crate::log::Level`'s (a test below ties them), written as
// literals so that cbindgen can write them into the header.

/// Log level: something failed that the call could not work around
/// (reserved; a call's failure is its error). The numbers are syslog's
/// (LOG_ERR to LOG_DEBUG).
pub const HUBAUTH_LOG_ERROR: i32 = 3;
/// Log level: something is wrong, but the call went on (e.g. a refresh
/// failed while the token still works; a token file others can read).
pub const HUBAUTH_LOG_WARN: i32 = 4;
/// Log level: what a person must see now (the login URL and code).
pub const HUBAUTH_LOG_NOTICE: i32 = 5;
/// Log level: ordinary news (reserved).
pub const HUBAUTH_LOG_INFO: i32 = 6;
/// Log level: for debugging (reserved).
pub const HUBAUTH_LOG_DEBUG: i32 = 7;

/// Takes one message of a call: `level` is a HUBAUTH_LOG_* (a host should
/// treat an unknown one like the nearest it knows); `message` is one line of
/// NUL-terminated UTF-8, already escaped (every control or format character
/// is written as a visible `\u{..}`), without the `hubauth:` prefix that
/// stderr gets, valid only during the call.
///
/// Thread: it runs on the thread of the call that has news, during that
/// call: the caller's own thread for a blocking call (hubauth_authenticate,
/// hubauth_token, ...), the library's thread for a job (hubauth_job_start),
/// possibly on several threads at once when several calls use these options
/// or authentications made from them. It must return quickly and must not
/// block (the call waits for it): a host whose code may not run on other
/// threads queues the line and shows it from its own loop. It must not call
/// a hubauth function that can wait on the network.
pub type hubauth_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: i32, message: *const c_char)>;

struct CLog {
    log: unsafe extern "C" fn(*mut c_void, i32, *const c_char),
    userdata: *mut c_void,
}

impl CLog {
    fn call(&self, level: Level, message: &str) {
        // Escaped messages have no NUL (it is a control character); one that
        // had would be cut there rather than lost.
        let message = CString::new(message).unwrap_or_else(|e| {
            let end = e.nul_position();
            CString::new(&e.into_vec()[..end]).unwrap_or_default()
        });
        // SAFETY: a C function pointer with the documented contract.
        unsafe { (self.log)(self.userdata, level as i32, message.as_ptr()) }
    }
}

// SAFETY: the header documents that the callback may be called from any
// thread that runs a call with these options; the caller guarantees that
// `userdata` allows that.
unsafe impl Send for CLog {}
// SAFETY: the header says the callback may run on several threads at once
// when several calls use these options (hubauth_log_fn); the caller
// guarantees `userdata` allows that. The fields are never written.
unsafe impl Sync for CLog {}

/// Sends the warnings and notices of every call made with these options,
/// and with every hubauth_auth created from them (refreshes included), to
/// `log` instead of stderr; a NULL `log` goes back to stderr, the default.
/// `HUBAUTH_LOG=off` silences stderr only: `log` is called regardless.
/// Messages of calls with other options, and the rare ones not raised by a
/// call, still go to stderr. See hubauth_log_fn for the thread it runs on.
/// A job (hubauth_job_start) whose options have no `log` yields its lines
/// as HUBAUTH_JOB_EVENT_LOG events instead, never to stderr.
///
/// `userdata` is passed back unchanged. `free_userdata` (when not NULL)
/// frees it exactly as hubauth_options_set_hook_full frees a hook's: once,
/// when the library holds no copy of this callback any more (replaced or
/// cleared here, or the options freed; every hubauth_auth created from them
/// freed and no longer the current one; every job started with them ended),
/// on whichever thread releases the last copy, never during a call to `log`.
/// With a NULL `log` nothing is kept and `free_userdata` runs before this
/// function returns; on HUBAUTH_ERR_NULL_ARGUMENT (`o` NULL) it is not
/// called. The previous callback of `o` is released after the options lock
/// is let go, so its free function may call into hubauth.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_set_log(
    o: *mut hubauth_options,
    log: hubauth_log_fn,
    userdata: *mut c_void,
    free_userdata: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
) -> hubauth_status {
    guard(std::ptr::null_mut(), || {
        let cell = required(o.cast_const(), "options")?;
        let free = free_userdata.map(|free| FreeOnDrop { free, userdata });
        let sink = log.map(|log| {
            let c = CLog { log, userdata };
            Arc::new(move |level: Level, message: &str| {
                let _owned = &free;
                c.call(level, message)
            }) as Sink
        });
        // With no callback, `free` was not moved into a closure: dropped below.
        let previous = {
            let mut options = cell.lock().unwrap_or_else(|p| p.into_inner());
            let previous = options.log.take();
            options.set_log(sink);
            previous
        };
        drop(previous);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_levels_are_syslogs_and_the_library_s() {
        let levels = [
            Level::Error,
            Level::Warn,
            Level::Notice,
            Level::Info,
            Level::Debug,
        ];
        assert_eq!(
            [
                HUBAUTH_LOG_ERROR,
                HUBAUTH_LOG_WARN,
                HUBAUTH_LOG_NOTICE,
                HUBAUTH_LOG_INFO,
                HUBAUTH_LOG_DEBUG
            ],
            levels.map(|l| l as i32)
        );
        assert_eq!(
            [
                HUBAUTH_LOG_ERROR,
                HUBAUTH_LOG_WARN,
                HUBAUTH_LOG_NOTICE,
                HUBAUTH_LOG_INFO,
                HUBAUTH_LOG_DEBUG
            ],
            [3, 4, 5, 6, 7]
        );
    }
}
