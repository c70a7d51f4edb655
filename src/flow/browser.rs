//! Sending the user to a login page: the hook when there is one, else print
//! the URL and try the desktop's opener without ever waiting for it.
//!
//! The URL comes from a server, so it is checked first ([`check_login_url`]:
//! an absolute https URL, http only for loopback) and only then handed to
//! the hook, printed (escaped) or opened. It is opened with the `opener`
//! crate, which runs `xdg-open` / `open` directly (no shell) with the URL as
//! its single argument; a checked URL starts with `https://` or `http://`,
//! so the opener can never take it for an option.

use reqwest::Url;

use crate::error::{Error, Result};
use crate::flow::LoginContext;
use crate::log::{self, escape};
use crate::options::HookAction;
use crate::server::require_secure;

/// A login URL a server handed over, checked: absolute, https (plain http only
/// to loopback), with a host; anything else (`file:`, `javascript:`, a
/// relative path, `-o…`) is an `Insecure` error that shows the URL escaped.
pub fn check_login_url(url: &str) -> Result<Url> {
    let refuse = || {
        Error::insecure(format!(
            "the server sent a login URL that is not an https URL: {:?}",
            escape(&url.chars().take(200).collect::<String>())
        ))
    };
    if url.starts_with('-') || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refuse());
    }
    let parsed = Url::parse(url).map_err(|_| refuse())?;
    require_secure(&parsed, "login URL").map_err(|_| refuse())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse());
    }
    Ok(parsed)
}

/// Shows `url` to the user. `user_code` is printed beside it for device flows.
/// A hook that answers Cancel stops the login at once. The URL is checked
/// ([`check_login_url`]) before anything else happens.
pub fn open(ctx: &LoginContext, url: &str, user_code: Option<&str>) -> Result<()> {
    check_login_url(url)?;
    if let Some(hook) = &ctx.hook {
        // The hook gets only the URL: a code it cannot see would make the
        // login impossible, so show it where the user can read it.
        if let Some(code) = user_code {
            log::notice(&format!(
                "the login page will ask for the code {}",
                escape(code)
            ));
        }
        return match hook(url) {
            HookAction::Continue => Ok(()),
            HookAction::Cancel => Err(Error::cancelled("the login was cancelled by the hook")),
        };
    }
    if !ctx.interactive {
        return Err(Error::no_credentials(
            "a login is needed but interactive login is disabled",
        ));
    }
    match user_code {
        Some(code) => eprintln!(
            "hubauth: to log in, open {} and enter the code {}",
            escape(url),
            escape(code)
        ),
        None => eprintln!("hubauth: to log in, open {}", escape(url)),
    }
    launch_opener(url);
    Ok(())
}

/// The desktop's URL opener, or None on a headless machine (no DISPLAY or
/// WAYLAND_DISPLAY outside macOS), where printing the URL is all we can do.
pub fn opener() -> Option<&'static str> {
    if cfg!(target_os = "macos") {
        Some("open")
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        Some("xdg-open")
    } else {
        None
    }
}

/// Starts the desktop's opener (the `opener` crate: xdg-open / open, no
/// shell) without waiting; failure is fine (the URL was printed). Does
/// nothing on a headless machine, or when `url` fails [`check_login_url`].
/// Public for hooks that print the URL their own way (the `hubauth` CLI).
pub fn launch_opener(url: &str) {
    if opener().is_none() || check_login_url(url).is_err() {
        return;
    }
    let _ = opener::open_browser(url);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn only_https_or_loopback_urls_are_opened() {
        let kind = |u: &str| check_login_url(u).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(kind("https://hub.example/device?user_code=AB-CD"), Ok(()));
        assert_eq!(kind("http://127.0.0.1:8080/auth/response?x"), Ok(()));
        for bad in [
            "file:///etc/passwd",
            "-oProxyCommand=evil",
            "--help",
            "javascript:alert(1)",
            "http://evil.example/login",
            "http://app.localhost/login",
            "/relative/login",
            "https://u:p@hub.example/",
            "https://hub.example/\x1b]0;owned\x07",
            "https://hub.example/ -x",
            "data:text/html,hi",
        ] {
            assert_eq!(kind(bad), Err(ErrorKind::Insecure), "{bad:?}");
        }
        let e = check_login_url("file:///x\x1b[2J").unwrap_err();
        assert!(!e.message().contains('\x1b'), "{e}");
    }
}
