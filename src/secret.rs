//! A secret string (a token, a password) that is zeroed when dropped and never
//! shown by Debug or Display.

use secrecy::{ExposeSecret, SecretBox};
use std::ffi::CStr;
use std::fmt;
use zeroize::Zeroize;

use crate::error::{Error, Result};

/// A secret value. Held as UTF-8 bytes followed by one NUL, so the C ABI can
/// hand out a `const char *` without copying; the buffer is zeroed on drop.
/// One allocation of exactly the value's length + 1 (a clone, on the hot path
/// of `hubauth_token`, allocates once).
pub struct Secret {
    /// Invariant: valid UTF-8, no interior NUL, exactly one trailing NUL.
    bytes: SecretBox<Bytes>,
}

/// The bytes of a secret. Zeroed with volatile writes (`zeroize`) eight bytes
/// at a time where aligned, not byte by byte: freeing a 1 KiB token takes
/// about 130 stores instead of 1024.
#[repr(transparent)]
struct Bytes([u8]);

impl Zeroize for Bytes {
    fn zeroize(&mut self) {
        // SAFETY: every bit pattern is a valid u64, and align_to_mut keeps
        // each part in bounds; the three parts cover the whole slice.
        let (head, words, tail) = unsafe { self.0.align_to_mut::<u64>() };
        head.zeroize();
        words.zeroize();
        tail.zeroize();
    }
}

/// Wraps `bytes` (UTF-8 + one trailing NUL) as a secret buffer.
fn secret_bytes(bytes: Box<[u8]>) -> SecretBox<Bytes> {
    // SAFETY: `Bytes` is a repr(transparent) wrapper of `[u8]`, so the fat
    // pointer's layout and metadata are the same.
    SecretBox::new(unsafe { Box::from_raw(Box::into_raw(bytes) as *mut Bytes) })
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
        // Exact capacity: no reallocation, so no unzeroed copy is left behind.
        Ok(Secret {
            bytes: secret_bytes(bytes.into_boxed_slice()),
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
        let bytes = &self.bytes.expose_secret().0;
        // The invariant makes both steps infallible; avoid re-validating UTF-8
        // on the hot path.
        let without_nul = &bytes[..bytes.len() - 1];
        // SAFETY: constructed only from &str, never mutated.
        unsafe { std::str::from_utf8_unchecked(without_nul) }
    }

    /// The secret value as a C string.
    pub fn expose_cstr(&self) -> &CStr {
        // SAFETY: the invariant guarantees a single trailing NUL.
        unsafe { CStr::from_bytes_with_nul_unchecked(&self.bytes.expose_secret().0) }
    }

    /// Length in bytes, without the trailing NUL.
    pub fn len(&self) -> usize {
        self.bytes.expose_secret().0.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Clone for Secret {
    fn clone(&self) -> Self {
        Secret {
            bytes: secret_bytes(Box::from(&self.bytes.expose_secret().0)),
        }
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.expose_secret().0 == other.bytes.expose_secret().0
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

/// From a JSON string (e.g. a token reply's `access_token`). A NUL is refused
/// as [`Secret::from_string`] refuses it; the error never quotes the value.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Secret::from_string(value).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

/// Zeroes every string in a parsed JSON value (a token reply holds tokens in
/// its strings), nested ones included, so that dropping it leaves no copy.
/// Numbers, booleans and object keys hold no secrets and are left.
pub fn scrub_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub_json),
        Value::Object(map) => map.values_mut().for_each(scrub_json),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// [`scrub_json`] for a parsed TOML value (a token file).
pub fn scrub_toml(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) => s.zeroize(),
        toml::Value::Array(items) => items.iter_mut().for_each(scrub_toml),
        toml::Value::Table(table) => scrub_toml_table(table),
        _ => {}
    }
}

/// [`scrub_toml`] for every value of a TOML table.
pub fn scrub_toml_table(table: &mut toml::Table) {
    table.iter_mut().for_each(|(_, v)| scrub_toml(v));
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
    fn clones_are_equal_and_independent() {
        for value in ["", "x", "0123456", "01234567", &"jwt.".repeat(300)] {
            let s = Secret::new(value).unwrap();
            let c = s.clone();
            drop(s);
            assert_eq!(c.expose(), value);
            assert_eq!(c.len(), value.len());
            assert_eq!(c.expose_cstr().to_bytes(), value.as_bytes());
        }
    }

    #[test]
    fn zeroize_clears_every_byte_at_any_alignment() {
        let mut buffer = [0xAAu8; 40];
        for start in 0..8 {
            for len in 0..=32 {
                buffer.fill(0xAA);
                // SAFETY: a sub-slice of `buffer`, same layout as `Bytes`.
                let bytes =
                    unsafe { &mut *(&mut buffer[start..start + len] as *mut [u8] as *mut Bytes) };
                bytes.zeroize();
                assert!(buffer[start..start + len].iter().all(|&b| b == 0));
                assert!(buffer[..start].iter().all(|&b| b == 0xAA));
                assert!(buffer[start + len..].iter().all(|&b| b == 0xAA));
            }
        }
    }

    #[test]
    fn interior_nul_is_rejected() {
        assert!(Secret::new("a\0b").is_err());
    }

    #[test]
    fn deserializes_from_a_json_string_only() {
        let s: Secret = serde_json::from_str(r#""tok""#).unwrap();
        assert_eq!(s.expose(), "tok");
        let nul = serde_json::from_str::<Secret>(r#""qx\u0000zy""#).unwrap_err();
        assert!(!nul.to_string().contains("qx"), "{nul}");
        assert!(serde_json::from_str::<Secret>("42").is_err());
    }

    #[test]
    fn scrub_zeroes_every_string_of_json_and_toml() {
        let mut json: serde_json::Value = serde_json::from_str(
            r#"{"access_token":"tok-a","nested":{"list":["tok-b",1,true,null]}}"#,
        )
        .unwrap();
        scrub_json(&mut json);
        let shown = json.to_string();
        assert!(!shown.contains("tok-"), "{shown}");
        assert!(shown.contains("\"nested\""), "keys are kept: {shown}");
        let mut table: toml::Table = "a = \"tok-c\"\n[t]\nb = [\"tok-d\"]\nn = 3\n"
            .parse()
            .unwrap();
        scrub_toml_table(&mut table);
        let shown = toml::to_string(&table).unwrap();
        assert!(!shown.contains("tok-"), "{shown}");
        assert!(shown.contains("n = 3"), "{shown}");
    }
}
