//! `hubauth_options`: string-keyed options and the login hook.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Arc, Mutex};

use super::{guard, hubauth_error, hubauth_status, required, required_str};
use crate::error::Result;
use crate::options::{HookAction, Options};

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

pub(crate) type OptionsCell = Mutex<Options>;

/// The options behind a handle (a copy, so a login does not hold the lock).
pub(crate) fn snapshot(o: *const hubauth_options, name: &str) -> Result<Options> {
    let cell = required(o.cast::<OptionsCell>(), name)?;
    Ok(cell.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

/// New options, all at their defaults (provider juliahub). Never NULL except
/// when out of memory. Free with `hubauth_options_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_new() -> *mut hubauth_options {
    super::guard_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(OptionsCell::new(Options::new()))).cast()
    })
}

/// Sets option `key` to `value` (both NUL-terminated UTF-8). Keys: provider,
/// server, force, maxcount, interactive, validate, token_path, profile,
/// token_key, client_id, client_secret, issuer, scope, timeout_ms,
/// refresh_margin_s, token, overwrite, poll_interval_ms, subject_token (a token
/// to exchange for an access token, RFC 8693, e.g. a personal access token),
/// subject_token_type (its RFC 8693 type; default
/// "urn:ietf:params:oauth:token-type:access_token"; DHCore personal access
/// tokens use "urn:ietf:params:oauth:token-type:pat"). Booleans are "true" or
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
        let cell = required(o.cast_const().cast::<OptionsCell>(), "options")?;
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
unsafe impl Sync for CHook {}

/// Sets (or, with a NULL `hook`, clears) the login hook. `userdata` is passed
/// back unchanged; it must stay valid as long as these options, or any
/// hubauth_auth created from them, may log in (authenticate, reauthenticate).
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_set_hook(
    o: *mut hubauth_options,
    hook: hubauth_hook_fn,
    userdata: *mut c_void,
) -> hubauth_status {
    guard(std::ptr::null_mut(), || {
        let cell = required(o.cast_const().cast::<OptionsCell>(), "options")?;
        let rust_hook = hook.map(|hook| {
            let c = CHook { hook, userdata };
            Arc::new(move |url: &str| c.call(url)) as crate::options::Hook
        });
        cell.lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_hook(rust_hook);
        Ok(())
    })
}

/// Frees options. NULL is allowed. Authentications created from them keep
/// their own copy.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_free(o: *mut hubauth_options) {
    super::guard_value((), || {
        if !o.is_null() {
            // SAFETY: a pointer from hubauth_options_new, freed once by contract.
            drop(unsafe { Box::from_raw(o.cast::<OptionsCell>()) });
        }
    })
}
