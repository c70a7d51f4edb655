//! `hubauth_cancel`: stops a waiting call from another thread or a signal
//! handler (how, in [`crate::cancel`]). The handle is a counted reference
//! (`Arc`); the options it is set on, and every hubauth_auth made from them,
//! hold references of their own.

use super::{guard, guard_value, hubauth_options, hubauth_status, required};
use crate::cancel::Cancel;

/// A cancellation handle. Create with `hubauth_cancel_new`, give to calls
/// with `hubauth_options_set_cancel`, trigger with `hubauth_cancel_trigger`,
/// free with `hubauth_cancel_free`. Thread-safe.
pub struct hubauth_cancel {
    _private: [u8; 0],
}

/// A new, untriggered cancel; NULL when none can be made (out of memory or
/// of file descriptors: each cancel holds a pipe). Free with
/// `hubauth_cancel_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_cancel_new() -> *mut hubauth_cancel {
    guard_value(std::ptr::null_mut(), || match Cancel::new() {
        Ok(cancel) => cancel.into_raw().cast_mut().cast(),
        Err(_) => std::ptr::null_mut(),
    })
}

/// Triggers `c`: every call whose options carry it returns
/// HUBAUTH_ERR_CANCELLED within a fraction of a second (a login poll, a lock
/// wait, a request), having written nothing; a call started later returns it
/// at once. A triggered cancel stays triggered (there is no reset: make a new
/// one). Triggering twice is harmless. Async-signal-safe: it may be called
/// from any thread or from a signal handler (it only sets a flag and writes
/// to a pipe, and keeps errno). `c` must not have been freed; NULL is
/// ignored.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_cancel_trigger(c: *mut hubauth_cancel) {
    // catch_unwind costs nothing (no allocation, no lock) when nothing
    // panics, and nothing here can.
    guard_value((), || {
        if !c.is_null() {
            // SAFETY: a live pointer from hubauth_cancel_new, by contract.
            unsafe { Cancel::trigger_raw(c.cast_const().cast()) }
        }
    })
}

/// Frees the caller's handle. NULL is allowed. Options and authentications
/// it was set on keep their own reference, so this is safe while a call
/// waits: that call still returns HUBAUTH_ERR_CANCELLED for a trigger made
/// before the free (but nothing can trigger it through `c` afterwards).
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_cancel_free(c: *mut hubauth_cancel) {
    guard_value((), || {
        if !c.is_null() {
            // SAFETY: a pointer from hubauth_cancel_new, freed once by contract.
            drop(unsafe { Cancel::from_raw(c.cast_const().cast()) });
        }
    })
}

/// Makes calls with these options cancellable by `c` (NULL: not
/// cancellable). The options keep their own reference to `c`, and so does
/// every hubauth_auth created from them: a later hubauth_token refresh or
/// hubauth_reauthenticate with NULL options is cancelled by `c` too (and,
/// once `c` is triggered, fails with HUBAUTH_ERR_CANCELLED; options given to
/// hubauth_reauthenticate with another cancel replace it for that call).
/// HUBAUTH_ERR_NULL_ARGUMENT when `o` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_options_set_cancel(
    o: *mut hubauth_options,
    c: *mut hubauth_cancel,
) -> hubauth_status {
    guard(std::ptr::null_mut(), || {
        let cell = required(o.cast_const(), "options")?;
        // SAFETY: NULL or a live pointer from hubauth_cancel_new.
        let cancel = (!c.is_null()).then(|| unsafe { Cancel::clone_raw(c.cast_const().cast()) });
        cell.lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_cancel(cancel);
        Ok(())
    })
}
