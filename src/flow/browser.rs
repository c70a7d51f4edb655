//! Sending the user to a login page: the hook when there is one, else print
//! the URL and try the desktop's opener without ever waiting for it.
//!
//! The URL comes from a server, so it is checked first ([`check_login_url`]:
//! an absolute https URL, http only for loopback, no control, space or
//! invisible formatting character) and only then handed to the hook, printed
//! (escaped) or opened.
//!
//! The opener never sees the URL: a command line is readable by every local
//! user, and the URL carries the login's `state`, PKCE challenge, DagsHub's
//! request id or a device code. It is given a private page that sends the
//! browser on ([`LoginPage`], `file:///…/login-<random>.html`), run directly
//! (no shell), with an environment reduced to what a desktop needs to show
//! a browser ([`OPENER_ENV`]): the caller's tokens and secrets in variables
//! (`DAGSHUB_USER_TOKEN`, `DHCORE_*`, `HUBAUTH_*`) stay out of the browser
//! and everything it starts.

use reqwest::Url;

use crate::error::{Error, Result};
use crate::flow::LoginContext;
use crate::flow::login_page::LoginPage;
use crate::log::{self, escape};
use crate::options::HookAction;
use crate::server::{configured_http_origin, require_secure_with};

/// A login URL a server handed over, checked: absolute, https (plain http only
/// to loopback or to an http server the user configured for a hub that
/// allows it, as requests may go there too), with a host; anything else (`file:`, `javascript:`, a
/// relative path, `-o…`), or one holding a control, space or Unicode format
/// character (bidi overrides and isolates, marks, zero-width characters, which
/// make a printed URL read as another), is an `Insecure` error that does not
/// quote the URL.
pub fn check_login_url(url: &str) -> Result<Url> {
    // The URL itself is not quoted: it came in a reply whose other fields
    // are secrets (the device code), and a refused one may carry any of them.
    let refuse = || {
        Error::insecure(
            "the server sent a login URL that is not an absolute https URL (plain http only \
             to loopback); it was neither opened nor shown",
        )
    };
    if url.starts_with('-')
        || url
            .chars()
            .any(|c| c.is_whitespace() || log::is_unprintable(c))
    {
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
    // A call cancelled while its login request was answered shows nothing:
    // no hook call, no printed URL, no browser for a login nobody awaits.
    crate::cancel::check("the login")?;
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
        return match crate::progress::call_hook(&|| hook(&hook_url)) {
            HookAction::Continue => Ok(()),
            HookAction::Cancel => Err(Error::cancelled("the login was cancelled by the hook")),
        };
    }
    if !ctx.interactive {
        return Err(Error::no_credentials(
            "a login is needed but interactive login is disabled (`interactive=false`)",
        ));
    }
    let reported = report();
    if !ctx.open_browser {
        return if reported {
            Ok(())
        } else {
            Err(Error::invalid_argument(
                "a login is needed, but `open_browser=false` and neither a hook nor a job's \
                 host is there to show the login URL",
            ))
        };
    }
    log::prompt(&match &user_code {
        Some(code) => format!("to log in, open {url} and enter the code {code}"),
        None => format!("to log in, open {url}"),
    });
    if let Some(page) = launch_opener(url) {
        ctx.keep_until_done(page);
    }
    Ok(())
}

/// The desktop's URL opener. The URL is always printed first, so the opener
/// is a convenience, as in PkgAuthentication.jl (`open_browser`): under WSL
/// the Windows browser (PkgAuthentication runs `cmd.exe /c start`; we run
/// `explorer.exe <page>`, which opens the default browser without a shell),
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

/// The environment variables the opener keeps; every other one is removed.
/// What a desktop needs to find and show a browser: the session (X11 with
/// its cookie, Wayland, D-Bus, the runtime directory), the user's choice of
/// browser (`BROWSER`, `XDG_*`, the desktop names xdg-open looks at), locale
/// and terminal, and WSL's interop. A trailing `*` makes a prefix.
pub const OPENER_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TMPDIR",
    "TERM",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "DISPLAY",
    "XAUTHORITY",
    "WAYLAND_DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    "XDG_*",
    "BROWSER",
    "DESKTOP_SESSION",
    "KDE_FULL_SESSION",
    "KDE_SESSION_VERSION",
    "GNOME_DESKTOP_SESSION_ID",
    "WSL_*",
    "WSLENV",
];

/// Whether the opener keeps the variable `name` ([`OPENER_ENV`]).
pub fn opener_keeps(name: &str) -> bool {
    OPENER_ENV
        .iter()
        .any(|allowed| match allowed.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *allowed,
        })
}

/// Starts the desktop's opener on a private page that leads to `url`
/// ([`LoginPage`]), without waiting; failure is fine (the URL was printed).
/// Never through a shell, never with the URL in its arguments, with the
/// environment of [`OPENER_ENV`] only. Under WSL the page's Windows path
/// (`wslpath -w`) goes to `explorer.exe`. Does nothing when `url` fails
/// [`check_login_url`] or no page can be written.
///
/// The page is removed when the returned value is dropped, or a minute
/// after it was written ([`crate::flow::login_page::REMOVE_AFTER`]): keep it
/// until the login ends. Public for hooks that print the URL their own way
/// (the `hubauth` CLI).
#[must_use = "the page is removed when this is dropped: keep it until the login ends"]
pub fn launch_opener(url: &str) -> Option<LoginPage> {
    let program = opener()?;
    let url = check_login_url(url).ok()?;
    let page = LoginPage::write(&url).ok()?;
    let target = if program == "explorer.exe" {
        windows_path(page.path())?
    } else {
        page.file_url()?
    };
    let spawned = opener_command(program)
        .arg(target)
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
    Some(page)
}

/// `program`, to be run with the opener's environment ([`OPENER_ENV`]).
fn opener_command(program: &str) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| name.to_str().is_some_and(opener_keeps)));
    command
}

/// The Windows path of `page` under WSL (`wslpath -w`), for explorer.exe.
fn windows_path(page: &std::path::Path) -> Option<String> {
    let output = opener_command("wslpath")
        .arg("-w")
        .arg(page)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let path = String::from_utf8(output.stdout).ok()?;
    let path = path.trim_end_matches(['\r', '\n']);
    (output.status.success() && !path.is_empty() && !path.starts_with('-'))
        .then(|| path.to_string())
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

    /// Invisible characters that reorder or hide text make a printed URL read
    /// as another one; a URL holding any of them is refused.
    #[test]
    fn bidi_and_format_characters_are_refused() {
        let kind = |u: &str| check_login_url(u).map(|_| ()).map_err(|e| e.kind());
        for c in [
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200e}',
            '\u{200f}',
            '\u{2028}',
            '\u{2029}',
            '\u{200b}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{00ad}',
            '\u{061c}',
            '\u{e0041}',
        ] {
            let url = format!("https://hub.example/device?user_code=AB{c}CD");
            assert_eq!(kind(&url), Err(ErrorKind::Insecure), "U+{:04X}", c as u32);
        }
        // Letters of any script are not format characters.
        assert_eq!(kind("https://hub.example/device?who=Zoë&ß=日本"), Ok(()));
    }

    #[test]
    fn the_opener_keeps_only_the_desktops_variables() {
        for kept in [
            "PATH",
            "HOME",
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "XDG_RUNTIME_DIR",
            "XAUTHORITY",
            "DBUS_SESSION_BUS_ADDRESS",
            "BROWSER",
            "LANG",
            "LC_ALL",
            "WSL_DISTRO_NAME",
            "WSLENV",
        ] {
            assert!(opener_keeps(kept), "{kept}");
        }
        for dropped in [
            "DAGSHUB_USER_TOKEN",
            "DHCORE_PERSONAL_ACCESS_TOKEN",
            "DHCORE_PASSWORD",
            "HUBAUTH_TOKEN",
            "HUBAUTH_CLIENT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "LD_PRELOAD",
            "PATHX",
            "XDG",
            "LC",
            "HOMEDIR",
        ] {
            assert!(!opener_keeps(dropped), "{dropped}");
        }
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
