//! `hubauth_secret`: a token handed to the caller, zeroed when freed.

use std::ffi::c_char;

use super::handle::{Castable, OwnedBox, free_handle, into_handle, try_ref};
use crate::secret::Secret;

/// A secret string (a token). Owned by the caller; free it with
/// `hubauth_secret_free`, which zeroes the bytes. Immutable, so it may be read
/// from several threads at once.
pub struct hubauth_secret {
    _private: [u8; 0],
}

impl Castable for hubauth_secret {
    type Ownership = OwnedBox;
    type RustType = Secret;
}

/// A new secret holding a copy of `value` (a NUL-terminated UTF-8 string).
/// Returns NULL when `value` is NULL or not UTF-8. Free with `hubauth_secret_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_secret_new(value: *const c_char) -> *mut hubauth_secret {
    super::guard_value(std::ptr::null_mut(), || {
        match super::required_str(value, "value").and_then(Secret::new) {
            Ok(secret) => into_handle::<hubauth_secret>(secret),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// The secret's value as a NUL-terminated string. Borrowed: valid until
/// `hubauth_secret_free(s)`. Do not log it. NULL gives NULL.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_secret_expose(s: *const hubauth_secret) -> *const c_char {
    super::guard_value(std::ptr::null(), || {
        try_ref(s).map_or(std::ptr::null(), |secret| secret.expose_cstr().as_ptr())
    })
}

/// The secret's length in bytes, without the terminating NUL. NULL gives 0.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_secret_len(s: *const hubauth_secret) -> usize {
    super::guard_value(0, || try_ref(s).map_or(0, Secret::len))
}

/// Zeroes and frees a secret. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_secret_free(s: *mut hubauth_secret) {
    super::guard_value((), || free_handle(s))
}
