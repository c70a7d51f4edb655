//! `hubauth_options`: string-keyed options and the login hook.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Arc, Mutex};

use super::handle::{Castable, OwnedBox, free_handle, into_handle};
use super::{guard, hubauth_error, hubauth_status, required, required_str};
use crate::error::Result;
use crate::options::{Hook, HookAction, Options};

/// A set of options. Owned by the caller; free with `hubauth_options_free`.
/// Thread-safe: it may be set and used from several threads.
pub struct hubauth_options {
    _private: [u8; 0],
}

/// Called with the URL a user must open to log in, instead of opening a
/// browser. Return 0 to go on waiting for the login, nonzero to cancel it at
/// once (the call then fails with HUBAUTH_ERR_CANCELLED). Called on the thread
/// that runs the login; `url` is valid only during the call.
pub type hubauth_hook_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, url: *const c_char) -> i32>;

/// Frees the `userdata` of a hook (`hubauth_options_set_hook_full`) or of a
/// log callback (`hubauth_options_set_log`).
pub(crate) type FreeUserdataFn = unsafe extern "C" fn(userdata: *mut c_void);

impl Castable for hubauth_options {
    type Ownership = OwnedBox;
    type RustType = Mutex<Options>;
}

/// The options behind a handle (a copy, so a login does not hold the lock).
pub(crate) fn snapshot(o: *const hubauth_options, name: &str) -> Result<Options> {
    let cell = required(o, name)?;
    Ok(cell.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

/// New options, all at their defaults (provider juliahub). Never NULL except
/// when out of memory. Free with `hubauth_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_new() -> *mut hubauth_options {
    super::guard_value(std::ptr::null_mut(), || {
        into_handle::<hubauth_options>(Mutex::new(Options::new()))
    })
}

/// Sets option `key` to `value` (both NUL-terminated UTF-8). Keys: provider,
/// server, force, maxcount, interactive, validate, token_path, profile,
/// token_key, client_id, client_secret, issuer, scope, timeout_ms,
/// refresh_margin_s, token, overwrite, poll_interval_ms, subject_token (a token
/// to exchange for an access token, RFC 8693, e.g. a personal access token),
/// subject_token_type (its RFC 8693 type; default
/// "urn:ietf:params:oauth:token-type:access_token"; DHCore personal access
/// tokens use "urn:ietf:params:oauth:token-type:pat"), min_valid_s, flow,
/// redirect_port, ca_file, token_kind, open_browser ("false": the library
/// neither prints the login URL nor opens a browser; a hook or a job's
/// LOGIN event shows it), require_username ("true": an authentication whose
/// user the server does not name is refused and never made current), account
/// (a named account recorded by `hubauth login --name NAME`: every option not
/// set is taken from it; unset: HUBAUTH_ACCOUNT, else the default account
/// when no option selects a hub; empty: none).
/// `hubauth --help` lists them all (under -o). Booleans are "true" or
/// "false". An unknown key or a bad value gives HUBAUTH_ERR_INVALID_ARGUMENT
/// and leaves the options unchanged. An empty value unsets a string option.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_set(
    o: *mut hubauth_options,
    key: *const c_char,
    value: *const c_char,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let cell = required(o.cast_const(), "options")?;
        let key = required_str(key, "key")?;
        let value = required_str(value, "value")?;
        cell.lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(key, value)
    })
}

struct CHook {
    hook: unsafe extern "C" fn(*mut c_void, *const c_char) -> i32,
    userdata: *mut c_void,
}

impl CHook {
    fn call(&self, url: &str) -> HookAction {
        let Ok(url) = CString::new(url) else {
            return HookAction::Cancel;
        };
        // SAFETY: a C function pointer with the documented contract.
        match unsafe { (self.hook)(self.userdata, url.as_ptr()) } {
            0 => HookAction::Continue,
            _ => HookAction::Cancel,
        }
    }
}

// SAFETY: the header documents that the hook may be called from any thread
// that runs a login with these options; the caller guarantees `userdata`
// allows that.
unsafe impl Send for CHook {}
// SAFETY: the fields are never written; logins made with copies of these
// options on several threads each call the hook on their own thread, with
// the `userdata` whose use there the caller guarantees, as for Send.
unsafe impl Sync for CHook {}

/// Calls `free_userdata(userdata)` when dropped: it lives in the closure of
/// the hook (or log callback), so it runs once, when the last copy is gone.
pub(crate) struct FreeOnDrop {
    pub(crate) free: FreeUserdataFn,
    pub(crate) userdata: *mut c_void,
}

impl Drop for FreeOnDrop {
    fn drop(&mut self) {
        // SAFETY: the caller's function with the documented contract; an
        // `extern "C"` function cannot unwind into us.
        unsafe { (self.free)(self.userdata) }
    }
}

// SAFETY: as for CHook: the header says free_userdata may run on any thread.
unsafe impl Send for FreeOnDrop {}
// SAFETY: a shared reference gives no access at all: `free` runs only in
// drop, which has the value to itself.
unsafe impl Sync for FreeOnDrop {}

/// Sets (or, with a NULL `hook`, clears) the login hook. `userdata` is passed
/// back unchanged; it must stay valid as long as these options, or any
/// hubauth_auth created from them, may log in (authenticate, reauthenticate).
/// The same as `hubauth_options_set_hook_full(o, hook, userdata, NULL)`.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_set_hook(
    o: *mut hubauth_options,
    hook: hubauth_hook_fn,
    userdata: *mut c_void,
) -> hubauth_status {
    hubauth_options_set_hook_full(o, hook, userdata, None)
}

/// Sets (or, with a NULL `hook`, clears) the login hook, and gives the library
/// `userdata` to free: `free_userdata(userdata)` (when `free_userdata` is not
/// NULL) runs exactly once, when the library holds no copy of this hook any
/// more, which is the first moment when all of these hold: the hook was
/// replaced or cleared in these options (or the options were freed), every
/// hubauth_auth created from them was freed (every reference, including those
/// from `hubauth_current`), and none of those authentications is the current
/// one (another `hubauth_authenticate` succeeded since), and every job
/// started with them has ended. It runs on whichever thread releases the
/// last copy, inside one of `hubauth_options_free`, `hubauth_auth_free`,
/// `hubauth_authenticate`, `hubauth_reauthenticate` or this function, or on
/// a job's thread as it ends (after `hubauth_job_free`, if the job still ran
/// then); never during a call to the hook. A hook still held when
/// the process exits (e.g. by the current authentication) is not freed.
/// With a NULL `hook` nothing is kept and `free_userdata` runs before this
/// function returns. The library takes `userdata` only when the call
/// succeeds: on HUBAUTH_ERR_NULL_ARGUMENT (`o` NULL) `free_userdata` is not
/// called. The previous hook of `o`, if any, is released after the options
/// lock is let go, so its free function may call into hubauth.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_set_hook_full(
    o: *mut hubauth_options,
    hook: hubauth_hook_fn,
    userdata: *mut c_void,
    free_userdata: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
) -> hubauth_status {
    guard(std::ptr::null_mut(), || {
        let cell = required(o.cast_const(), "options")?;
        let free = free_userdata.map(|free| FreeOnDrop { free, userdata });
        let rust_hook = hook.map(|hook| {
            let c = CHook { hook, userdata };
            Arc::new(move |url: &str| {
                let _owned = &free;
                c.call(url)
            }) as Hook
        });
        // With no hook, `free` was not moved into a closure: dropped below.
        let previous = {
            let mut options = cell.lock().unwrap_or_else(|p| p.into_inner());
            let previous = options.hook.take();
            options.set_hook(rust_hook);
            previous
        };
        drop(previous);
        Ok(())
    })
}

/// Frees options. NULL is allowed. Authentications created from them keep
/// their own copy.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_free(o: *mut hubauth_options) {
    super::guard_value((), || free_handle(o))
}
