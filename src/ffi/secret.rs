//! `hubauth_secret`: a token handed to the caller, zeroed when freed.

use std::ffi::c_char;

use crate::secret::Secret;

/// A secret string (a token). Owned by the caller; free it with
/// `hubauth_secret_free`, which zeroes the bytes. Immutable, so it may be read
/// from several threads at once.
pub struct hubauth_secret {
    _private: [u8; 0],
}

pub(crate) fn into_handle(secret: Secret) -> *mut hubauth_secret {
    Box::into_raw(Box::new(secret)).cast()
}

fn as_secret<'a>(s: *const hubauth_secret) -> Option<&'a Secret> {
    // SAFETY: NULL or a pointer from `into_handle`.
    unsafe { s.cast::<Secret>().as_ref() }
}

/// A new secret holding a copy of `value` (a NUL-terminated UTF-8 string).
/// Returns NULL when `value` is NULL or not UTF-8. Free with `hubauth_secret_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_secret_new(value: *const c_char) -> *mut hubauth_secret {
    super::guard_value(std::ptr::null_mut(), || {
        match super::required_str(value, "value").and_then(Secret::new) {
            Ok(secret) => into_handle(secret),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// The secret's value as a NUL-terminated string. Borrowed: valid until
/// `hubauth_secret_free(s)`. Do not log it. NULL gives NULL.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_secret_expose(s: *const hubauth_secret) -> *const c_char {
    super::guard_value(std::ptr::null(), || match as_secret(s) {
        Some(secret) => secret.expose_cstr().as_ptr(),
        None => std::ptr::null(),
    })
}

/// The secret's length in bytes, without the terminating NUL. NULL gives 0.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_secret_len(s: *const hubauth_secret) -> usize {
    super::guard_value(0, || as_secret(s).map_or(0, Secret::len))
}

/// Zeroes and frees a secret. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_secret_free(s: *mut hubauth_secret) {
    super::guard_value((), || {
        if !s.is_null() {
            // SAFETY: a pointer from `into_handle`, freed once by contract.
            drop(unsafe { Box::from_raw(s.cast::<Secret>()) });
        }
    })
}
