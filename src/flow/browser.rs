//! Sending the user to a login page: the hook when there is one, else print
//! the URL and try the desktop's opener without ever waiting for it.

use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::flow::LoginContext;
use crate::log;
use crate::options::HookAction;

/// Shows `url` to the user. `user_code` is printed beside it for device flows.
/// A hook that answers Cancel stops the login at once.
pub fn open(ctx: &LoginContext, url: &str, user_code: Option<&str>) -> Result<()> {
    if let Some(hook) = &ctx.hook {
        // The hook gets only the URL: a code it cannot see would make the
        // login impossible, so show it where the user can read it.
        if let Some(code) = user_code {
            log::notice(&format!("the login page will ask for the code {code}"));
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
        Some(code) => eprintln!("hubauth: to log in, open {url} and enter the code {code}"),
        None => eprintln!("hubauth: to log in, open {url}"),
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

/// Starts xdg-open / open without waiting; failure is fine (the URL was
/// printed). Does nothing on a headless machine. Public for hooks that print
/// the URL their own way (the `hubauth` CLI).
pub fn launch_opener(url: &str) {
    let Some(opener) = opener() else {
        return;
    };
    let spawned = Command::new(opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut child) = spawned {
        // Reap it in the background so no zombie is left behind.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}
