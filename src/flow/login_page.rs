//! The page the desktop's opener is given instead of the login URL.
//!
//! A program's command line is readable by every local user
//! (`/proc/<pid>/cmdline`), and a login URL carries what must stay between
//! the user and the server: the browser login's `state` and PKCE challenge
//! (with them another user can complete the login with their own account),
//! DagsHub's middleman request id (a bearer for the code), a device flow's
//! user code. So the opener gets `file:///…/login-<random>.html`, a page
//! that sends the browser on to the URL (a meta refresh, and a link for a
//! browser that ignores it), and the URL itself only ever sits in a file
//! other users cannot read:
//!
//! - a new directory per page, `hubauth-login-<random>`, made with
//!   `mkdir(2)` mode 0700 under `$XDG_RUNTIME_DIR` (when it is an absolute
//!   path to a directory of ours that no one else may enter) or else the
//!   temporary directory (not one others may write without the sticky bit:
//!   they could rename ours away and put theirs in its place). `mkdir` fails on anything already there, a planted
//!   symbolic link included, and never follows one; the directory is then
//!   opened with `O_NOFOLLOW` and checked through that descriptor: a
//!   directory, ours, mode 0700;
//! - the page made inside it through that descriptor with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600.
//!
//! The page is removed, with its directory, when the [`LoginPage`] is
//! dropped (the login that opened it holds it until it ends) or
//! [`REMOVE_AFTER`] after it was written, whichever comes first: by then the
//! browser has long read it and moved on to the URL, and a login can wait far
//! longer (a device flow waits up to `timeout_ms`). A process killed before
//! either leaves the page behind, readable by its user only, in a directory
//! the system empties (`$XDG_RUNTIME_DIR` at logout, /tmp at boot); its
//! `state` is spent once that login has ended.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use reqwest::Url;

use crate::random;

/// How long a page stays when the login that wrote it has not ended.
pub const REMOVE_AFTER: Duration = Duration::from_secs(60);

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A written page; dropping it removes the page and its directory.
pub struct LoginPage {
    files: Arc<PageFiles>,
}

struct PageFiles {
    dir: PathBuf,
    file: PathBuf,
    /// Set once removed (by the drop or the timer, whichever is first).
    removed: Mutex<bool>,
}

impl PageFiles {
    fn remove(&self) {
        let mut removed = self.removed.lock().unwrap_or_else(|p| p.into_inner());
        if !*removed {
            let _ = std::fs::remove_file(&self.file);
            let _ = std::fs::remove_dir(&self.dir);
            *removed = true;
        }
    }
}

impl Drop for LoginPage {
    fn drop(&mut self) {
        self.files.remove();
    }
}

impl LoginPage {
    /// Writes a page that sends the browser to `url` (a checked login URL),
    /// in a new private directory, and starts its removal timer.
    pub fn write(url: &Url) -> std::io::Result<LoginPage> {
        let base = base_dir().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "no private place for the login page: the temporary directory is \
                 writable by others without the sticky bit",
            )
        })?;
        let suffix = random::from_alphabet(ALPHANUMERIC, 16).map_err(std::io::Error::other)?;
        let dir = base.join(format!("hubauth-login-{suffix}"));
        let dir_fd = make_private_dir(&dir)?;
        let name = format!("login-{suffix}.html");
        let page = LoginPage {
            files: Arc::new(PageFiles {
                file: dir.join(&name),
                dir,
                removed: Mutex::new(false),
            }),
        };
        // From here on a failure removes what was made (the drop).
        let mut file = create_private_file(&dir_fd, &name)?;
        file.write_all(page_html(url).as_bytes())?;
        file.flush()?;
        page.remove_after(REMOVE_AFTER);
        Ok(page)
    }

    /// The page's path.
    pub fn path(&self) -> &Path {
        &self.files.file
    }

    /// The page as a `file://` URL: what the opener is given.
    pub fn file_url(&self) -> Option<String> {
        Url::from_file_path(&self.files.file).ok().map(String::from)
    }

    /// Removes the page `delay` from now unless dropped before. The timer
    /// holds no reference that would keep anything alive.
    fn remove_after(&self, delay: Duration) {
        let files: Weak<PageFiles> = Arc::downgrade(&self.files);
        let _ = std::thread::Builder::new()
            .name("hubauth-login-page".into())
            .spawn(move || {
                std::thread::sleep(delay);
                if let Some(files) = files.upgrade() {
                    files.remove();
                }
            });
    }
}

/// `$XDG_RUNTIME_DIR` when it is an absolute path to a directory of ours
/// that only we may enter, else the temporary directory, unless others may
/// write there without the sticky bit (they could then rename our
/// directory away and put theirs in its place after our checks).
fn base_dir() -> Option<PathBuf> {
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && runtime.is_absolute()
        && std::fs::metadata(&runtime)
            .is_ok_and(|m| m.is_dir() && m.uid() == my_uid() && m.mode() & 0o077 == 0)
    {
        return Some(runtime);
    }
    let temp = std::env::temp_dir();
    let meta = std::fs::metadata(&temp).ok()?;
    // Writable by group or others, and no sticky bit (0o1000).
    let shared_unsafely = meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0;
    (meta.is_dir() && !shared_unsafely).then_some(temp)
}

fn my_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL in the path"))
}

/// Makes `dir` (which must not exist) mode 0700 and returns it opened,
/// checked to be the directory just made: not a link, ours, 0700.
fn make_private_dir(dir: &Path) -> std::io::Result<OwnedFd> {
    let path = c_path(dir)?;
    // SAFETY: a valid NUL-terminated path. EEXIST for anything already there.
    if unsafe { libc::mkdir(path.as_ptr(), 0o700) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let opened = open_dir_checked(&path);
    if opened.is_err() {
        let _ = std::fs::remove_dir(dir);
    }
    opened
}

fn open_dir_checked(path: &CString) -> std::io::Result<OwnedFd> {
    // SAFETY: a valid path; O_NOFOLLOW refuses a link put in its place.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just opened, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // The umask may have taken bits away, never added any: set 0700 exactly.
    // SAFETY: fchmod on a descriptor we own.
    if unsafe { libc::fchmod(fd.as_raw_fd(), 0o700) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let meta = fstat(&fd)?;
    if meta.st_mode & libc::S_IFMT != libc::S_IFDIR
        || meta.st_uid != my_uid()
        || meta.st_mode & 0o7777 != 0o700
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the login page's directory is not a private directory of ours",
        ));
    }
    Ok(fd)
}

/// Creates `name` in `dir`, mode 0600; fails on anything already there.
fn create_private_file(dir: &OwnedFd, name: &str) -> std::io::Result<std::fs::File> {
    let name = CString::new(name)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL in the name"))?;
    // SAFETY: a valid directory descriptor and name.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just opened, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: fchmod on a descriptor we own (the umask cannot widen 0600,
    // but 0600 is what the page must have, whatever the umask).
    if unsafe { libc::fchmod(fd.as_raw_fd(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(std::fs::File::from(fd))
}

fn fstat(fd: &OwnedFd) -> std::io::Result<libc::stat> {
    // SAFETY: a zeroed stat is valid to be written by fstat.
    let mut meta: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we own and a stat to fill.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut meta) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(meta)
}

/// The page: an immediate refresh to `url`, and a link to it.
fn page_html(url: &Url) -> String {
    let url = html_escape(url.as_str());
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta http-equiv=\"refresh\" content=\"0;url={url}\">\n\
         <title>hubauth login</title></head>\n\
         <body><p>Opening the login page. If nothing happens, \
         <a href=\"{url}\" rel=\"noreferrer\">continue to the login page</a>.</p></body></html>\n"
    )
}

/// `text` safe inside an HTML attribute value or element.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_page_is_private_holds_the_url_and_goes_when_dropped() {
        let url = Url::parse("https://id.example/auth?state=s1&code_challenge=c\"<x>&q='").unwrap();
        let page = LoginPage::write(&url).unwrap();
        let path = page.path().to_path_buf();
        let dir = path.parent().unwrap().to_path_buf();
        let file_meta = std::fs::symlink_metadata(&path).unwrap();
        let dir_meta = std::fs::symlink_metadata(&dir).unwrap();
        assert!(file_meta.is_file() && dir_meta.is_dir());
        assert_eq!(file_meta.permissions().mode() & 0o7777, 0o600);
        assert_eq!(dir_meta.permissions().mode() & 0o7777, 0o700);
        assert_eq!((file_meta.uid(), dir_meta.uid()), (my_uid(), my_uid()));
        let html = std::fs::read_to_string(&path).unwrap();
        let escaped = html_escape(url.as_str());
        assert!(!escaped.contains(['"', '<', '>', '\'']), "{escaped}");
        assert!(
            html.contains(&format!("content=\"0;url={escaped}\"")),
            "{html}"
        );
        assert!(html.contains(&format!("href=\"{escaped}\"")), "{html}");
        let file_url = page.file_url().unwrap();
        assert!(file_url.starts_with("file:///"), "{file_url}");
        assert!(
            file_url.ends_with(".html") && !file_url.contains('?'),
            "{file_url}"
        );
        drop(page);
        assert!(!path.exists() && !dir.exists());
    }

    #[test]
    fn the_timer_removes_a_page_its_login_still_holds() {
        let url = Url::parse("https://id.example/auth?state=s2").unwrap();
        let page = LoginPage::write(&url).unwrap();
        let path = page.path().to_path_buf();
        page.remove_after(Duration::from_millis(50));
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while path.exists() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!path.exists() && !path.parent().unwrap().exists());
        // The drop after the timer finds nothing left to do.
        drop(page);
    }

    #[test]
    fn a_planted_directory_or_link_is_never_used() {
        let base = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        std::fs::set_permissions(target.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let planted = base.path().join("hubauth-login-x");
        std::os::unix::fs::symlink(target.path(), &planted).unwrap();
        let err = make_private_dir(&planted).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        // The link's target was not touched.
        let mode = std::fs::metadata(target.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0);
        assert_eq!(mode & 0o777, 0o755);
        let existing = base.path().join("made-by-someone");
        std::fs::create_dir(&existing).unwrap();
        assert!(make_private_dir(&existing).is_err());
    }
}
