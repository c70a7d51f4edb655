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
use crate::server::{configured_http_origin, require_secure_with};

/// A login URL a server handed over, checked: absolute, https (plain http only
/// to loopback or to an http server the user configured for a hub that
/// allows it, as requests may go there too), with a host; anything else (`file:`, `javascript:`, a
/// relative path, `-o…`) is an `Insecure` error that does not quote the URL.
pub fn check_login_url(url: &str) -> Result<Url> {
    // The URL itself is not quoted: it came in a reply whose other fields
    // are secrets (the device code), and a refused one may carry any of them.
    let refuse = || {
        Error::insecure(
            "the server sent a login URL that is not an absolute https URL (plain http only \
             to loopback); it was neither opened nor shown",
        )
    };
    if url.starts_with('-') || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refuse());
    }
    let parsed = Url::parse(url).map_err(|_| refuse())?;
    let configured = configured_http_origin(&parsed);
    require_secure_with(&parsed, "login URL", configured.as_ref()).map_err(|_| refuse())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse());
    }
    Ok(parsed)
}

/// The URL a hook gets. Its one argument is a URL, so a code the user must
/// type (a device login whose server sent no `verification_uri_complete`,
/// which RFC 8628 §3.2 makes optional) goes in it as the `user_code` query
/// parameter, the form of RFC 8628 §3.3.1's `verification_uri_complete`
/// example: the CLI and apps read the code there, and a server that does not
/// prefill its form from it ignores it. Only the hook gets this URL; the job's
/// host gets the bare URL and the code apart.
fn hook_url(url: &str, mut checked: Url, user_code: Option<&str>) -> String {
    match user_code {
        // A code with control or bidi characters (escape changes it) is a
        // hostile server's: it is shown escaped, never put where a hook
        // would decode it raw.
        Some(code)
            if matches!(escape(code), std::borrow::Cow::Borrowed(_))
                && !checked.query_pairs().any(|(k, _)| k == "user_code") =>
        {
            checked.query_pairs_mut().append_pair("user_code", code);
            checked.into()
        }
        // As the server wrote it.
        _ => url.to_string(),
    }
}

/// Shows `url` to the user. `user_code` is printed beside it for device flows.
/// A hook that answers Cancel stops the login at once. The URL is checked
/// ([`check_login_url`]) before anything else happens. Inside a job the URL
/// and code also go to the job's host (its LOGIN event, [`crate::progress`]); with
/// option `open_browser=false` that host, or a hook, is the only one to show
/// them.
pub fn open(ctx: &LoginContext, url: &str, user_code: Option<&str>) -> Result<()> {
    let checked = check_login_url(url)?;
    let hook_url = hook_url(url, checked, user_code);
    let user_code = user_code.map(escape);
    let report = || crate::progress::login(url, user_code.as_deref());
    if let Some(hook) = &ctx.hook {
        report();
        // The hook gets only the URL: a code it cannot see would make the
        // login impossible, so show it where the user can read it.
        if let Some(code) = user_code.as_ref().filter(|_| ctx.open_browser) {
            log::notice(&format!("the login page will ask for the code {code}"));
        }
        return match hook(&hook_url) {
            HookAction::Continue => Ok(()),
            HookAction::Cancel => Err(Error::cancelled("the login was cancelled by the hook")),
        };
    }
    if !ctx.interactive {
        return Err(Error::no_credentials(
            "a login is needed but interactive login is disabled",
        ));
    }
    let reported = report();
    if !ctx.open_browser {
        return if reported {
            Ok(())
        } else {
            Err(Error::invalid_argument(
                "a login is needed, but open_browser=false and neither a hook nor a job's \
                 host is there to show the login URL",
            ))
        };
    }
    match &user_code {
        Some(code) => eprintln!(
            "hubauth: to log in, open {} and enter the code {code}",
            escape(url),
        ),
        None => eprintln!("hubauth: to log in, open {}", escape(url)),
    }
    launch_opener(url);
    Ok(())
}

/// The desktop's URL opener. The URL is always printed first, so the opener
/// is a convenience, as in PkgAuthentication.jl (`open_browser`): under WSL
/// the Windows browser (PkgAuthentication runs `cmd.exe /c start`; we run
/// `explorer.exe <url>`, which opens the default browser without a shell),
/// `open` on macOS, and elsewhere `xdg-open` even without DISPLAY (it may
/// find a browser that needs none, and its failure is harmless).
pub fn opener() -> Option<&'static str> {
    opener_for(cfg!(target_os = "macos"), is_wsl())
}

/// [`opener`]'s policy, without looking at the machine.
pub fn opener_for(macos: bool, wsl: bool) -> Option<&'static str> {
    if macos {
        Some("open")
    } else if wsl {
        Some("explorer.exe")
    } else if cfg!(unix) {
        Some("xdg-open")
    } else {
        None
    }
}

/// True inside the Windows Subsystem for Linux (WSL sets `WSL_DISTRO_NAME`;
/// its kernel names itself "microsoft").
pub fn is_wsl() -> bool {
    if cfg!(not(target_os = "linux")) {
        return false;
    }
    std::env::var_os("WSL_DISTRO_NAME").is_some_and(|v| !v.is_empty())
        || std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .is_ok_and(|r| r.to_ascii_lowercase().contains("microsoft"))
}

/// Starts the desktop's opener without waiting; failure is fine (the URL was
/// printed). Never through a shell: under WSL `explorer.exe <url>` is run
/// directly, elsewhere the `opener` crate (xdg-open / open). Does nothing
/// when `url` fails [`check_login_url`]. Public for hooks that print the URL
/// their own way (the `hubauth` CLI).
pub fn launch_opener(url: &str) {
    let Some(program) = opener() else {
        return;
    };
    if check_login_url(url).is_err() {
        return;
    }
    if program != "explorer.exe" {
        let _ = opener::open_browser(url);
        return;
    }
    let spawned = std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Ok(mut child) = spawned {
        // Reaped in the background so no zombie is left behind.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn the_hooks_url_carries_a_code_it_lacks_and_nothing_hostile() {
        let hook = |url: &str, code| hook_url(url, check_login_url(url).unwrap(), code);
        assert_eq!(
            hook("https://id.example/device", Some("WDJB-MJHT")),
            "https://id.example/device?user_code=WDJB-MJHT"
        );
        assert_eq!(
            hook("https://id.example/device?x=1", Some("A B")),
            "https://id.example/device?x=1&user_code=A+B"
        );
        let complete = "https://id.example/device?user_code=WDJB-MJHT";
        assert_eq!(hook(complete, Some("WDJB-MJHT")), complete);
        assert_eq!(hook("https://id.example", None), "https://id.example");
        assert_eq!(
            hook("https://id.example/device", Some("U\u{1b}[2JC")),
            "https://id.example/device"
        );
    }

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

    /// A hub the user configured over plain http (DagsHub, CAVE) shows its
    /// login page there; no other http origin gains that.
    #[test]
    fn a_configured_http_server_may_show_its_login_page() {
        let kind = |u: &str| check_login_url(u).map(|_| ()).map_err(|e| e.kind());
        let page = "http://dagshub.login-test.example:8080/login/oauth/authorize?state=x";
        assert_eq!(kind(page), Err(ErrorKind::Insecure));
        crate::server::ServerUrl::parse_configured("http://dagshub.login-test.example:8080")
            .unwrap();
        assert_eq!(kind(page), Ok(()));
        for other in [
            "http://dagshub.login-test.example:8081/login",
            "http://other.login-test.example:8080/login",
            "http://u:p@dagshub.login-test.example:8080/login",
        ] {
            assert_eq!(kind(other), Err(ErrorKind::Insecure), "{other}");
        }
    }
}

#[cfg(test)]
mod opener_tests {
    use super::opener_for;

    #[test]
    fn opener_policy_is_pkg_authentications() {
        assert_eq!(opener_for(true, false), Some("open"));
        assert_eq!(opener_for(false, true), Some("explorer.exe"));
        // No DISPLAY is not consulted: xdg-open is tried anyway.
        assert_eq!(opener_for(false, false), Some("xdg-open"));
    }
}
