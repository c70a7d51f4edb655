//! The extern "C" surface: converts and checks arguments, catches panics, and
//! calls the Rust API. No auth logic lives here.
//!
//! Conventions (rustls-ffi, wasmtime's C API): opaque handles are boxed Rust
//! values cast to pointers of zero-sized C types; out-parameters are written
//! only on success; every `_free` accepts NULL.
#![allow(non_camel_case_types)]
// These functions are called from C, where `unsafe` is invisible: the pointer
// contract of each one is written in its doc comment (and so in the header).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod auth;
mod cancel;
mod error;
mod options;
mod secret;

pub use auth::*;
pub use cancel::*;
pub use error::*;
pub use options::*;
pub use secret::*;

use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, ErrorKind, Result};

/// The result of every fallible function: `HUBAUTH_OK` (0) or an error code.
/// The numbers are stable and never reused.
pub type hubauth_status = i32;

/// Success.
pub const HUBAUTH_OK: hubauth_status = 0;
/// A required pointer argument was NULL.
pub const HUBAUTH_ERR_NULL_ARGUMENT: hubauth_status = 1;
/// An argument was invalid: bad UTF-8, unknown option key, bad option value.
pub const HUBAUTH_ERR_INVALID_ARGUMENT: hubauth_status = 2;
/// No usable token and no way to get one without a user (e.g. interactive=false).
pub const HUBAUTH_ERR_NO_CREDENTIALS: hubauth_status = 3;
/// The server refused: bad token, denied login, tries exhausted.
pub const HUBAUTH_ERR_AUTHENTICATION: hubauth_status = 4;
/// The server could not be reached or stopped answering.
pub const HUBAUTH_ERR_NETWORK: hubauth_status = 5;
/// The server answered with an error or with something unusable.
pub const HUBAUTH_ERR_SERVER: hubauth_status = 6;
/// A file could not be read or written.
pub const HUBAUTH_ERR_IO: hubauth_status = 7;
/// A stored file is malformed; it was left unchanged.
pub const HUBAUTH_ERR_FORMAT: hubauth_status = 8;
/// The call was cancelled: the hook returned nonzero, or the options'
/// hubauth_cancel was triggered.
pub const HUBAUTH_ERR_CANCELLED: hubauth_status = 9;
/// The login or a lock wait took longer than timeout_ms.
pub const HUBAUTH_ERR_TIMEOUT: hubauth_status = 10;
/// A URL was refused because it is not https (http is allowed for loopback only).
pub const HUBAUTH_ERR_INSECURE: hubauth_status = 11;
/// A bug: hubauth panicked; the panic was caught at the boundary.
pub const HUBAUTH_ERR_PANIC: hubauth_status = 98;
/// A bug or an impossible state inside hubauth.
pub const HUBAUTH_ERR_INTERNAL: hubauth_status = 99;

/// Runs `body`, turning an error or a panic into a status code and, when
/// `err` is not NULL, an error object for the caller.
pub(crate) fn guard(
    err: *mut *mut hubauth_error,
    body: impl FnOnce() -> Result<()>,
) -> hubauth_status {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::new(
            ErrorKind::Panic,
            format!("hubauth panicked (a bug, please report it): {what}"),
        ))
    });
    match outcome {
        Ok(()) => HUBAUTH_OK,
        Err(e) => {
            let code = e.kind().code();
            error::store(err, e);
            code
        }
    }
}

/// Runs `body` for functions that return a value instead of a status; a panic
/// yields `fallback`.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A required pointer argument.
pub(crate) fn required<'a, T>(ptr: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: the caller passes NULL or a pointer this library handed out.
    unsafe { ptr.as_ref() }
        .ok_or_else(|| Error::new(ErrorKind::NullArgument, format!("{name} must not be NULL")))
}

/// A required NUL-terminated UTF-8 string argument.
pub(crate) fn required_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::new(
            ErrorKind::NullArgument,
            format!("{name} must not be NULL"),
        ));
    }
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| Error::invalid_argument(format!("{name} is not valid UTF-8")))
}

/// Writes an out-parameter (checked non-NULL before any work was done).
pub(crate) fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: checked non-NULL by the caller through `required_out`.
    unsafe { out.write(value) }
}

/// Checks that an out-parameter is not NULL.
pub(crate) fn required_out<T>(out: *mut T, name: &str) -> Result<()> {
    if out.is_null() {
        Err(Error::new(
            ErrorKind::NullArgument,
            format!("{name} must not be NULL"),
        ))
    } else {
        Ok(())
    }
}
