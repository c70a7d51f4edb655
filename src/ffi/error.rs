//! `hubauth_error`: an owned error object with a code and a message.

use std::ffi::{CString, c_char};

use super::{HUBAUTH_ERR_NULL_ARGUMENT, hubauth_status};
use crate::error::Error;

/// An error returned through a `hubauth_error **err` out-parameter. Owned by
/// the caller; free it with `hubauth_error_free`. Not shared between threads
/// unless the caller synchronises.
pub struct hubauth_error {
    _private: [u8; 0],
}

struct ErrorValue {
    code: hubauth_status,
    message: CString,
}

/// Hands `e` to the caller through `err` (when not NULL).
pub(crate) fn store(err: *mut *mut hubauth_error, e: Error) {
    if err.is_null() {
        return;
    }
    let message = CString::new(e.message().replace('\0', " ")).unwrap_or_default();
    let value = Box::new(ErrorValue {
        code: e.kind().code(),
        message,
    });
    // SAFETY: `err` is non-NULL and points to writable storage for a pointer.
    unsafe { err.write(Box::into_raw(value).cast()) };
}

/// The status code of an error. NULL gives HUBAUTH_ERR_NULL_ARGUMENT.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_error_code(e: *const hubauth_error) -> hubauth_status {
    super::guard_value(HUBAUTH_ERR_NULL_ARGUMENT, || {
        // SAFETY: NULL or a pointer from `store`.
        match unsafe { e.cast::<ErrorValue>().as_ref() } {
            Some(value) => value.code,
            None => HUBAUTH_ERR_NULL_ARGUMENT,
        }
    })
}

/// The error's message, UTF-8, never containing a token. Borrowed: valid
/// until `hubauth_error_free(e)`. NULL gives an empty string.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_error_message(e: *const hubauth_error) -> *const c_char {
    super::guard_value(c"".as_ptr(), || {
        // SAFETY: NULL or a pointer from `store`.
        match unsafe { e.cast::<ErrorValue>().as_ref() } {
            Some(value) => value.message.as_ptr(),
            None => c"".as_ptr(),
        }
    })
}

/// Frees an error. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_error_free(e: *mut hubauth_error) {
    super::guard_value((), || {
        if !e.is_null() {
            // SAFETY: a pointer from `store`, freed once by contract.
            drop(unsafe { Box::from_raw(e.cast::<ErrorValue>()) });
        }
    })
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
