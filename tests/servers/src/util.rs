//! Small helpers shared by the test servers: randomness, time, base64url.

use std::time::{SystemTime, UNIX_EPOCH};

/// Fills `buf` with OS randomness.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random number generator failed");
}

/// `2 * n_bytes` lowercase hex characters of randomness.
pub(crate) fn random_hex(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    random_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `len` characters drawn from `alphabet` (ASCII).
pub(crate) fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut buf = vec![0u8; len];
    random_bytes(&mut buf);
    buf.iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

/// Seconds since the Unix epoch, with sub-second precision.
pub(crate) fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Unpadded base64url (RFC 4648 §5), as in JWTs.
pub(crate) fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Appends minted secrets to `$HUBAUTH_TRANSCRIPT_TOKENS`, one per line, so
/// the test suite can prove none of them ever appears in a message.
pub fn record_secrets(secrets: &[&str]) {
    use std::io::Write;
    let Some(path) = std::env::var_os("HUBAUTH_TRANSCRIPT_TOKENS") else {
        return;
    };
    let mut lines = String::new();
    for secret in secrets {
        lines.push_str(secret);
        lines.push('\n');
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(lines.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(b"fooba"), "Zm9vYmE");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn random_helpers_have_the_right_shape() {
        let h = random_hex(20);
        assert_eq!(h.len(), 40);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(h, random_hex(20));
        let c = random_from(b"AB", 16);
        assert_eq!(c.len(), 16);
        assert!(c.bytes().all(|b| b == b'A' || b == b'B'));
    }
}
