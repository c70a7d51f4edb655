//! The extern "C" surface: converts and checks arguments, catches panics, and
//! calls the Rust API. No auth logic lives here.
//!
//! Conventions (rustls-ffi, wasmtime's C API): opaque handles are Rust values
//! behind pointers of zero-sized C types, each kind converted by one typed
//! path with its ownership ([`handle`]); out-parameters are written only on
//! success, through [`handle::Out`]; every `_free` accepts NULL; a non-NULL
//! `*err` on entry is refused ([`guard`]).
#![allow(non_camel_case_types)]
// These functions are called from C, where `unsafe` is invisible: the pointer
// contract of each one is written in its doc comment (and so in the header).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod auth;
mod cancel;
mod error;
mod handle;
mod job;
mod log;
mod options;
mod secret;

pub use auth::*;
pub use cancel::*;
pub use error::*;
pub use job::*;
pub use log::*;
pub use options::*;
pub use secret::*;

/// The status codes, `HUBAUTH_OK` and `HUBAUTH_ERR_*`: the one list in
/// `crate::error` (tests/header.rs writes their `#define`s into the header).
pub use crate::error::status::*;

use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, ErrorKind, Result};

pub(crate) use handle::{null_argument, required};

/// The result of every fallible function: `HUBAUTH_OK` (0) or an error code.
/// The numbers are stable and never reused.
pub type hubauth_status = i32;

/// Runs `body`, turning an error or a panic into a status code and, when
/// `err` is not NULL, an error object for the caller.
///
/// `*err` must be NULL on entry (as with GLib's `GError`): an error object
/// already there is neither freed nor overwritten (either could lose or
/// corrupt what the caller holds), and the call does nothing and returns
/// HUBAUTH_ERR_INVALID_ARGUMENT.
#[inline]
pub(crate) fn guard(
    err: *mut *mut hubauth_error,
    body: impl FnOnce() -> Result<()>,
) -> hubauth_status {
    // SAFETY: `err` is NULL or points to a readable `hubauth_error *`.
    if !err.is_null() && !unsafe { err.read() }.is_null() {
        return HUBAUTH_ERR_INVALID_ARGUMENT;
    }
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

/// A required NUL-terminated UTF-8 string argument.
pub(crate) fn required_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(null_argument(name));
    }
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| Error::invalid_argument(format!("{name} is not valid UTF-8")))
}
