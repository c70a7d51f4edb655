//! A secret string (a token, a password) that is zeroed when dropped and never
//! shown by Debug or Display.

use secrecy::{ExposeSecret, SecretBox};
use std::ffi::CStr;
use std::fmt;

use crate::error::{Error, Result};

/// A secret value. Held as UTF-8 bytes followed by one NUL, so the C ABI can
/// hand out a `const char *` without copying; the buffer is zeroed on drop.
pub struct Secret {
    /// Invariant: valid UTF-8, no interior NUL, exactly one trailing NUL.
    bytes: SecretBox<Vec<u8>>,
}

impl Secret {
    /// A secret holding `value`. Fails on an interior NUL, which no token has
    /// and which C callers could not see past.
    pub fn new(value: &str) -> Result<Self> {
        if value.as_bytes().contains(&0) {
            return Err(Error::invalid_argument(
                "a secret cannot contain a NUL character",
            ));
        }
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        Ok(Secret {
            bytes: SecretBox::new(Box::new(bytes)),
        })
    }

    /// Takes `value` and zeroes the original buffer.
    pub fn from_string(mut value: String) -> Result<Self> {
        let secret = Secret::new(&value);
        zeroize::Zeroize::zeroize(&mut value);
        secret
    }

    /// The secret value. Keep the borrow short and never log it.
    pub fn expose(&self) -> &str {
        let bytes = self.bytes.expose_secret();
        // The invariant makes both steps infallible; avoid re-validating UTF-8
        // on the hot path.
        let without_nul = &bytes[..bytes.len() - 1];
        // SAFETY: constructed only from &str, never mutated.
        unsafe { std::str::from_utf8_unchecked(without_nul) }
    }

    /// The secret value as a C string.
    pub fn expose_cstr(&self) -> &CStr {
        // SAFETY: the invariant guarantees a single trailing NUL.
        unsafe { CStr::from_bytes_with_nul_unchecked(self.bytes.expose_secret()) }
    }

    /// Length in bytes, without the trailing NUL.
    pub fn len(&self) -> usize {
        self.bytes.expose_secret().len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Clone for Secret {
    fn clone(&self) -> Self {
        Secret {
            bytes: SecretBox::new(Box::new(self.bytes.expose_secret().clone())),
        }
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.expose_secret() == other.bytes.expose_secret()
    }
}
impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(*****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("*****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-token").unwrap();
        assert_eq!(format!("{s:?}"), "Secret(*****)");
        assert_eq!(format!("{s}"), "*****");
        assert_eq!(s.expose(), "hunter2-token");
        assert_eq!(s.len(), 13);
        assert_eq!(s.expose_cstr().to_bytes(), b"hunter2-token");
    }

    #[test]
    fn interior_nul_is_rejected() {
        assert!(Secret::new("a\0b").is_err());
    }
}
