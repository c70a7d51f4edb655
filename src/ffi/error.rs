//! `hubauth_error`: an owned error object with a code and a message.

use std::ffi::{CString, c_char};

use super::handle::{Castable, OwnedBox, free_handle, into_handle, try_ref};
use super::{HUBAUTH_ERR_NULL_ARGUMENT, hubauth_status};
use crate::error::Error;

/// An error returned through a `hubauth_error **err` out-parameter. Owned by
/// the caller; free it with `hubauth_error_free`. Not shared between threads
/// unless the caller synchronises.
pub struct hubauth_error {
    _private: [u8; 0],
}

pub(crate) struct ErrorValue {
    code: hubauth_status,
    message: CString,
}

impl Castable for hubauth_error {
    type Ownership = OwnedBox;
    type RustType = ErrorValue;
}

/// Hands `e` to the caller through `err` (when not NULL; `guard` has checked
/// that `*err` is NULL).
pub(crate) fn store(err: *mut *mut hubauth_error, e: Error) {
    if err.is_null() {
        return;
    }
    let handle = new_error(&e);
    // SAFETY: `err` is non-NULL and points to writable storage for a pointer.
    unsafe { err.write(handle) };
}

/// A new error object for the caller (e.g. a job's result).
pub(crate) fn new_error(e: &Error) -> *mut hubauth_error {
    let message = CString::new(e.message().replace('\0', " ")).unwrap_or_default();
    into_handle::<hubauth_error>(ErrorValue {
        code: e.kind().code(),
        message,
    })
}

/// The status code of an error. NULL gives HUBAUTH_ERR_NULL_ARGUMENT.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_error_code(e: *const hubauth_error) -> hubauth_status {
    super::guard_value(HUBAUTH_ERR_NULL_ARGUMENT, || {
        try_ref(e).map_or(HUBAUTH_ERR_NULL_ARGUMENT, |value| value.code)
    })
}

/// The error's message, UTF-8, never containing a token. Borrowed: valid
/// until `hubauth_error_free(e)`. NULL gives an empty string. An option it
/// names is written in backquotes as its key, alone or with a value
/// (`timeout_ms`, `force=true`), so a binding can show it in its own terms.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_error_message(e: *const hubauth_error) -> *const c_char {
    super::guard_value(c"".as_ptr(), || {
        try_ref(e).map_or(c"".as_ptr(), |value| value.message.as_ptr())
    })
}

/// Frees an error. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_error_free(e: *mut hubauth_error) {
    super::guard_value((), || free_handle(e))
}

/// Frees a string returned by hubauth (e.g. `hubauth_auth_server`). NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_string_free(s: *mut c_char) {
    super::guard_value((), || {
        if !s.is_null() {
            // SAFETY: a pointer from CString::into_raw in this library.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}
