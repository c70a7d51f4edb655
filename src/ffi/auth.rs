//! `hubauth_auth`: a shared authentication, and the calls that use options.

use std::ffi::{CString, c_char};

use super::handle::{Castable, Out, OwnedArc, free_handle, into_handle, try_ref};
use super::options::snapshot;
use super::secret::hubauth_secret;
use super::{
    guard, hubauth_error, hubauth_options, hubauth_status, null_argument, required, required_str,
};
use crate::auth::{self, Authentication};
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

/// An authentication: a server, a user and a token kept fresh. A reference
/// to shared state: every reference sees `hubauth_reauthenticate`'s update.
/// Thread-safe. Each reference returned to the caller is owned by it and freed
/// with `hubauth_auth_free`.
pub struct hubauth_auth {
    _private: [u8; 0],
}

impl Castable for hubauth_auth {
    type Ownership = OwnedArc;
    type RustType = Authentication;
}

fn owned_string(s: &str) -> *mut c_char {
    CString::new(s.replace('\0', " "))
        .map(CString::into_raw)
        .unwrap_or(std::ptr::null_mut())
}

/// Finds a stored token, refreshes it, or logs in, as the options say; on
/// success writes a new reference to `*out` (free with `hubauth_auth_free`)
/// and makes it what `hubauth_current` returns. May block for as long as a
/// login takes (timeout_ms). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_authenticate(
    o: *const hubauth_options,
    out: *mut *mut hubauth_auth,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let out = Out::new(out, "out")?;
        let options = snapshot(o, "options")?;
        out.give(auth::authenticate(&options)?);
        Ok(())
    })
}

/// Reloads the stored token (another process may have renewed it) and
/// refreshes it if needed; logs in again when that fails or option force is
/// true. Updates `a` in place for every holder. `o` may be NULL to reuse the
/// options `a` was created with; otherwise the keys set in `o` (and its hook,
/// if one was set) are laid over those options for this call only, e.g. just
/// "force" = "true". The user must not change.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_reauthenticate(
    a: *mut hubauth_auth,
    o: *const hubauth_options,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let authentication = required(a.cast_const(), "auth")?;
        let options = if o.is_null() {
            None
        } else {
            Some(snapshot(o, "options")?)
        };
        authentication.reauthenticate(options.as_ref())
    })
}

/// Asks the server whether the token is good: `*valid` is true or false. An
/// error (network, unexpected answer) leaves `*valid` untouched.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_check(
    a: *const hubauth_auth,
    valid: *mut bool,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let valid = Out::new(valid, "valid")?;
        valid.write(required(a, "auth")?.check()?);
        Ok(())
    })
}

/// The token a request should carry (for juliahub the id_token), refreshed
/// first when it expires within refresh_margin_s (never more than half its
/// lifetime). A fresh token takes no lock and does no I/O. On success writes a
/// new secret to `*out`, owned by the caller (free with `hubauth_secret_free`).
/// Thread-safe; concurrent callers share one refresh.
///
/// dhcore configured with a user and password has no token: its credential is
/// HTTP Basic, and this returns HUBAUTH_ERR_INVALID_ARGUMENT with a message
/// saying to use `hubauth_authorization`, which gives the whole header value
/// (`Basic <base64 of user:password>`). Neither the password (long-lived,
/// and no token: sent as `Bearer <password>` it would be refused, and it
/// would land wherever the caller keeps tokens) nor a `Basic …` header value
/// (which a caller would send as `Bearer Basic …`) is handed out as a token.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_token(
    a: *const hubauth_auth,
    out: *mut *mut hubauth_secret,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let out = Out::new(out, "out")?;
        out.give(required(a, "auth")?.with_token(Secret::clone)?);
        Ok(())
    })
}

/// Like `hubauth_token`, but copies the token into the caller's buffer `buf`
/// of `cap` bytes, NUL-terminated, allocating nothing when the token is fresh.
/// On success writes the token's length (without the NUL) to `*len`. When
/// `cap` is less than that length + 1, returns HUBAUTH_ERR_BUFFER_TOO_SMALL,
/// leaves `buf` untouched and writes the length needed (without the NUL) to
/// `*len`: the one exception to "out-parameters only on success". So
/// `buf` NULL with `cap` 0 asks for the length (the token may change between
/// two calls: loop while the status is BUFFER_TOO_SMALL). `buf` NULL with
/// `cap` > 0, or `len` NULL, gives HUBAUTH_ERR_NULL_ARGUMENT. The bytes are
/// the caller's: zero them when done (e.g. `explicit_bzero`).
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_token_copy(
    a: *const hubauth_auth,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let len = Out::new(len, "len")?;
        if buf.is_null() && cap != 0 {
            return Err(null_argument("buf"));
        }
        // Ok(length copied) or Err(length needed): small, so the hot path
        // moves no error value around.
        let copied = required(a, "auth")?.with_token(|token| {
            let bytes = token.expose_cstr().to_bytes_with_nul();
            if bytes.len() > cap {
                return Err(bytes.len() - 1);
            }
            // SAFETY: `buf` is non-NULL (cap > 0 here) and the caller promises
            // `cap` writable bytes; a token never overlaps the caller's buffer.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len()) };
            Ok(bytes.len() - 1)
        })?;
        match copied {
            Ok(n) => {
                len.write(n);
                Ok(())
            }
            Err(needed) => {
                len.write(needed);
                Err(buffer_too_small(cap, needed))
            }
        }
    })
}

#[cold]
fn buffer_too_small(cap: usize, needed: usize) -> Error {
    Error::new(
        ErrorKind::BufferTooSmall,
        format!(
            "the buffer of {cap} bytes is too small: the token needs {} (its length {needed} and a NUL)",
            needed + 1
        ),
    )
}

/// The whole value of the Authorization header a request should carry:
/// `Bearer <token>`, or `Basic <base64 of user:password>` where the hub takes
/// HTTP Basic credentials (dhcore with a user and password). Refreshed first
/// like `hubauth_token`. On success writes a new secret to `*out`, owned by
/// the caller (free with `hubauth_secret_free`). Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_authorization(
    a: *const hubauth_auth,
    out: *mut *mut hubauth_secret,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let out = Out::new(out, "out")?;
        out.give(required(a, "auth")?.authorization()?);
        Ok(())
    })
}

/// Stores a token obtained elsewhere for the options' provider and server
/// (juliahub: a whole auth.toml; dagshub: an app token; cave: a 32-hex token).
/// Written atomically, mode 0600, under the file lock. A token larger than
/// 1 MiB (the largest token file read) is HUBAUTH_ERR_INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_save_token(
    o: *const hubauth_options,
    token: *const c_char,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || {
        let options = snapshot(o, "options")?;
        let token = required_str(token, "token")?;
        auth::save_token(&options, token)
    })
}

/// Forgets the stored token for the options' provider and server (revoking it
/// on the server where the provider allows). A missing token is not an error.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_logout(
    o: *const hubauth_options,
    err: *mut *mut hubauth_error,
) -> hubauth_status {
    guard(err, || auth::logout(&snapshot(o, "options")?))
}

/// A new reference to the most recent successful authentication of this
/// process, or NULL if there is none. Free with `hubauth_auth_free`.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_current() -> *mut hubauth_auth {
    super::guard_value(std::ptr::null_mut(), || {
        auth::current().map_or(std::ptr::null_mut(), into_handle::<hubauth_auth>)
    })
}

/// The normalised server URL, owned by the caller (free with
/// `hubauth_string_free`). NULL when `a` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_auth_server(a: *const hubauth_auth) -> *mut c_char {
    super::guard_value(std::ptr::null_mut(), || {
        try_ref(a).map_or(std::ptr::null_mut(), |a| owned_string(a.server()))
    })
}

/// The user name, owned by the caller (free with `hubauth_string_free`), or
/// NULL when unknown or `a` is NULL. It is the server's string, unchanged:
/// it may hold control or bidirectional characters, so escape it to print it.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_auth_username(a: *const hubauth_auth) -> *mut c_char {
    super::guard_value(std::ptr::null_mut(), || {
        try_ref(a)
            .and_then(Authentication::username)
            .map_or(std::ptr::null_mut(), |u| owned_string(&u))
    })
}

/// When the current token expires, in unix seconds; -1 when it never expires,
/// when that is unknown, or when `a` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_auth_expires_at(a: *const hubauth_auth) -> i64 {
    super::guard_value(-1, || {
        try_ref(a)
            .and_then(Authentication::expires_at)
            .unwrap_or(-1)
    })
}

/// Frees one reference. NULL is allowed. Other references stay valid.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_auth_free(a: *mut hubauth_auth) {
    super::guard_value((), || free_handle(a))
}

/// The library's version, e.g. "0.1.0". Static: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn hubauth_version() -> *const c_char {
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => panic!("the version has a NUL"),
    };
    VERSION.as_ptr()
}
