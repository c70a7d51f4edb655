//! Warnings for the user. They go to stderr, prefixed `hubauth:`, unless
//! `HUBAUTH_LOG=off`. Callers never pass token values here.

use once_cell::sync::Lazy;

static ENABLED: Lazy<bool> =
    Lazy::new(|| !matches!(std::env::var("HUBAUTH_LOG").as_deref(), Ok("off" | "0")));

pub fn warn(message: &str) {
    if *ENABLED {
        eprintln!("hubauth: warning: {message}");
    }
}
