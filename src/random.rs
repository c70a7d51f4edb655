//! Randomness from the OS, the only source hubauth uses: OAuth `state` and
//! request ids, PKG challenges, temp-file names. It never falls back to the
//! clock: a predictable `state` lets another party complete a login as the
//! user, so having no randomness is an error, not a reason to guess.

use crate::error::{Error, Result};

/// `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::internal(format!("no randomness from the OS: {e}")))?;
    Ok(buf)
}

/// Eight lowercase hex digits, to make a file name unique.
pub(crate) fn hex_suffix() -> Result<String> {
    Ok(format!("{:08x}", u32::from_le_bytes(bytes()?)))
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 bytes, all
/// ASCII).
pub(crate) fn from_alphabet(alphabet: &[u8], len: usize) -> Result<String> {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256 && alphabet.is_ascii());
    // Bytes at or above the largest multiple of the alphabet's size are
    // drawn again, so no character is more likely than another.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in bytes::<64>()? {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_have_the_right_shape_and_differ() {
        let suffix = hex_suffix().unwrap();
        assert_eq!(suffix.len(), 8);
        assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(bytes::<16>().unwrap(), bytes::<16>().unwrap());
        let drawn = from_alphabet(b"abc", 300).unwrap();
        assert_eq!(drawn.len(), 300);
        for c in ['a', 'b', 'c'] {
            assert!(drawn.contains(c), "{c} never drawn");
        }
        assert!(drawn.chars().all(|c| "abc".contains(c)));
    }
}
