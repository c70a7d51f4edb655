//! Warnings for the user, and the optional transcript used to prove that no
//! secret ever reaches a message.
//!
//! Warnings go to stderr, prefixed `hubauth:`, unless `HUBAUTH_LOG=off`.
//! When `HUBAUTH_TRANSCRIPT` names a file, every warning and every error
//! message hubauth creates is also appended to it (the test suite scans it for
//! token values). Callers never pass token values here.

use std::io::Write;

use once_cell::sync::Lazy;

static ENABLED: Lazy<bool> =
    Lazy::new(|| !matches!(std::env::var("HUBAUTH_LOG").as_deref(), Ok("off" | "0")));

static TRANSCRIPT: Lazy<Option<std::path::PathBuf>> =
    Lazy::new(|| std::env::var_os("HUBAUTH_TRANSCRIPT").map(Into::into));

pub fn warn(message: &str) {
    transcript("warning", message);
    if *ENABLED {
        eprintln!("hubauth: warning: {message}");
    }
}

/// Information a person needs now (e.g. a device code), on stderr unless
/// `HUBAUTH_LOG=off`.
pub fn notice(message: &str) {
    transcript("notice", message);
    if *ENABLED {
        eprintln!("hubauth: {message}");
    }
}

/// Appends one line to the transcript, if one is configured.
pub(crate) fn transcript(kind: &str, message: &str) {
    let Some(path) = TRANSCRIPT.as_ref() else {
        return;
    };
    let line = format!("{kind}: {}\n", message.replace('\n', "\\n"));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write call per line: O_APPEND keeps lines of many processes whole.
        let _ = file.write_all(line.as_bytes());
    }
}
