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

/// Starts the opener without waiting; failure is fine (the URL was printed).
/// Public for hooks that print the URL their own way (the `hubauth` CLI).
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

#[cfg(test)]
mod tests {
    use super::opener_for;

    #[test]
    fn opener_policy_is_pkg_authentications() {
        assert_eq!(opener_for(true, false), Some("open"));
        assert_eq!(opener_for(false, true), Some("explorer.exe"));
        // No DISPLAY is not consulted: xdg-open is tried anyway.
        assert_eq!(opener_for(false, false), Some("xdg-open"));
    }
}
