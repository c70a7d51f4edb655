//! Other local users are hostile (README's "Security model", issue 13):
//! token, lock and temp files never follow a planted link or wait on a FIFO,
//! a token file must be the user's own regular file, a user's own dotfile
//! link keeps working, loose modes are tightened and warned about once, and
//! a full or read-only disk leaves the stored file intact.
//!
//! The tests run as root (as CI does); "another user" is uid 65534: files
//! are chown-ed to it, and where another user acts, a helper runs as it with
//! `setpriv`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use hubauth::store::fsutil;
use hubauth::{ErrorKind, HookAction, authenticate};

mod support;
use hubauth_testkit::fixture::Fixture;
use support::raw_server::RawServer;

const OTHER_UID: u32 = 65534;

fn am_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown(path: &Path, uid: u32, follow: bool) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string; -1 leaves the group as it is.
    let rc = unsafe {
        if follow {
            libc::chown(c.as_ptr(), uid, u32::MAX)
        } else {
            libc::lchown(c.as_ptr(), uid, u32::MAX)
        }
    };
    assert_eq!(rc, 0, "chown {}", path.display());
}

/// Runs `f` on a thread and fails (instead of hanging the suite) when it
/// takes longer than `bound`.
fn within<T: Send + 'static>(bound: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(bound)
        .unwrap_or_else(|_| panic!("did not return within {bound:?}: it blocked"))
}

macro_rules! require_root {
    () => {
        if !am_root() {
            println!("SKIPPED: needs root to chown files to another user");
            return;
        }
    };
}

#[test]
fn a_planted_lock_link_is_refused_and_its_target_never_created() {
    require_root!();
    let f = Fixture::new();
    f.store_token(-60); // expired: the refresh takes the lock
    let victim_target = f.dir.path().join("created-by-the-victim");
    let lock = fsutil::lock_path(&f.token_path());
    // Another user plants the link where the victim's lock file will be
    // (as they could in a group- or world-writable directory).
    std::os::unix::fs::symlink(&victim_target, &lock).unwrap();
    chown(&lock, OTHER_UID, false);
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains(&lock.display().to_string()), "{err}");
    assert!(!victim_target.exists(), "the link was followed");
    // Even a link the user made is not followed for a lock file.
    let err = fsutil::FileLock::acquire(&f.token_path(), Duration::from_secs(1))
        .err()
        .unwrap();
    assert!(err.message().contains("link"), "{err}");
    assert!(!victim_target.exists());
}

#[test]
fn a_fifo_in_place_of_the_token_file_fails_at_once() {
    let f = Fixture::new();
    let path = f.token_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let options = f.options();
    let err = within(Duration::from_secs(10), move || {
        authenticate(&options).unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("not a regular file"), "{err}");
    assert!(err.message().contains(&path.display().to_string()), "{err}");
    // The lock was released: a second call fails the same way, at once.
    let options = f.options();
    let err = within(Duration::from_secs(10), move || {
        authenticate(&options).unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
}

#[test]
fn a_token_file_of_another_user_is_refused() {
    require_root!();
    let f = Fixture::new();
    f.store_token(3600);
    chown(&f.token_path(), OTHER_UID, true);
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("another user"), "{err}");
    assert!(
        err.message()
            .contains(&f.token_path().display().to_string()),
        "{err}"
    );
    // The file is left as it was.
    assert_eq!(std::fs::metadata(f.token_path()).unwrap().uid(), OTHER_UID);
}

#[test]
fn a_file_written_by_another_user_through_setpriv_is_refused() {
    require_root!();
    if Command::new("setpriv").arg("--version").output().is_err() {
        println!("SKIPPED: setpriv is not installed");
        return;
    }
    let f = Fixture::new();
    let token = f.server.issue_token(3600);
    let path = f.token_path();
    let dir = path.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    // A shared directory (like /tmp) where another user can write.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(f.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let staged = f.dir.path().join("staged.toml");
    std::fs::write(&staged, token.to_toml()).unwrap();
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o644)).unwrap();
    let status = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cp"])
        .arg(&staged)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), OTHER_UID);
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("another user"), "{err}");
}

#[test]
fn a_dotfile_link_of_the_user_keeps_working_and_stays_a_link() {
    let f = Fixture::new();
    let token = f.server.issue_token(-60); // expired: the refresh writes
    let dotfiles = f.dir.path().join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    let target = dotfiles.join("auth.toml");
    std::fs::write(&target, token.to_toml()).unwrap();
    let path = f.token_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let auth = authenticate(&f.options()).unwrap();
    assert!(auth.check().unwrap());
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_symlink(), "the write replaced the link");
    let stored = std::fs::read_to_string(&target).unwrap();
    assert!(stored.contains(auth.token().unwrap().expose()));
    assert_ne!(stored, token.to_toml(), "the refreshed token was written");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No temp file was left beside the link or the target.
    for dir in [path.parent().unwrap(), dotfiles.as_path()] {
        let temps: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        assert!(temps.is_empty(), "{temps:?}");
    }
    // A relative link, and a link to a file that does not exist yet.
    let relative = f.dir.path().join("relative.toml");
    std::os::unix::fs::symlink("dotfiles/new.toml", &relative).unwrap();
    assert!(fsutil::read_file(&relative).unwrap().is_none());
    fsutil::atomic_write(&relative, b"a = 1\n").unwrap();
    assert!(
        std::fs::symlink_metadata(&relative)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read(dotfiles.join("new.toml")).unwrap(),
        b"a = 1\n"
    );
    assert_eq!(
        fsutil::read_file(&relative).unwrap().unwrap().as_slice(),
        b"a = 1\n"
    );
    // Logout removes the token, not the user's link.
    fsutil::remove_file(&relative).unwrap();
    assert!(!dotfiles.join("new.toml").exists());
    assert!(std::fs::symlink_metadata(&relative).is_ok());
}

#[test]
fn a_link_or_target_of_another_user_is_refused() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.toml");
    std::fs::write(&target, b"a = 1\n").unwrap();
    let link = dir.path().join("auth.toml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    // The link is another user's: refused for reading and writing.
    chown(&link, OTHER_UID, false);
    let err = fsutil::read_file(&link).unwrap_err();
    assert!(err.message().contains("another user"), "{err}");
    assert!(err.message().contains("auth.toml"), "{err}");
    let err = fsutil::atomic_write(&link, b"a = 2\n").unwrap_err();
    assert!(err.message().contains("another user"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"a = 1\n");
    // The link is the user's, the target another user's: refused too.
    chown(&link, 0, false);
    chown(&target, OTHER_UID, true);
    let err = fsutil::read_file(&link).unwrap_err();
    assert!(err.message().contains("another user"), "{err}");
}

#[test]
fn a_readable_token_file_is_tightened_at_the_next_write_and_warned_once() {
    // The warning goes to a transcript; a child process has its own
    // once-per-process memory and its own HUBAUTH_TRANSCRIPT.
    if std::env::var_os("LOCAL_FILES_CHILD").is_some() {
        let path = std::path::PathBuf::from(std::env::var_os("LOCAL_FILES_CHILD").unwrap());
        for _ in 0..5 {
            fsutil::read_file(&path).unwrap().unwrap();
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, b"a = 1\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let transcript = dir.path().join("transcript");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_readable_token_file_is_tightened_at_the_next_write_and_warned_once",
            "--nocapture",
        ])
        .env("LOCAL_FILES_CHILD", &path)
        .env("HUBAUTH_TRANSCRIPT", &transcript)
        .env("HUBAUTH_LOG", "off")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&transcript).unwrap_or_default();
    let warnings = text.matches("can be read by other users").count();
    assert_eq!(warnings, 1, "five reads, one warning:\n{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    fsutil::atomic_write(&path, b"a = 2\n").unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn temp_files_are_never_opened_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    // Whatever the temp name, create_new + O_NOFOLLOW refuse what is there;
    // here the whole directory is probed by writing many times next to a
    // planted link named like a temp file of another process.
    let planted = dir.path().join(".auth.toml.tmp.1.00000000");
    let victim = dir.path().join("victim");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    for i in 0..20 {
        fsutil::atomic_write(&path, format!("a = {i}\n").as_bytes()).unwrap();
    }
    assert!(!victim.exists());
}

/// A tmpfs of 64 KiB mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        if !am_root() {
            println!("SKIPPED: mounting a small tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallDisk { dir }),
            other => {
                println!("SKIPPED: cannot mount a tmpfs here ({other:?})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, how: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{how}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_full_disk_leaves_the_stored_file_and_no_temp() {
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let path = disk.path().join("auth.toml");
    fsutil::atomic_write(&path, b"id_token = \"old\"\n").unwrap();
    // Fill the disk to the last block.
    let filler = disk.path().join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![b'x'; 4096];
    use std::io::Write;
    while file.write_all(&block).is_ok() {}
    while file.write_all(b"x").is_ok() {}
    drop(file);
    let big = vec![b'y'; 16 * 1024];
    let err = fsutil::atomic_write(&path, &big).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains(&path.display().to_string()), "{err}");
    assert!(err.message().contains("disk is full"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"id_token = \"old\"\n");
    assert_eq!(entries(disk.path()), ["auth.toml", "filler"]);
}

#[test]
fn a_read_only_disk_leaves_the_stored_file_and_no_temp() {
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let path = disk.path().join("auth.toml");
    fsutil::atomic_write(&path, b"id_token = \"old\"\n").unwrap();
    disk.remount("ro");
    let err = fsutil::atomic_write(&path, b"id_token = \"new\"\n").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains(&path.display().to_string()), "{err}");
    assert!(err.message().contains("read-only"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"id_token = \"old\"\n");
    assert_eq!(entries(disk.path()), ["auth.toml"]);
    // Through the library: a refresh that cannot be saved is an Io error
    // naming the file, and the stored token is kept.
    disk.remount("rw");
    let f = Fixture::new();
    let token = f.server.issue_token(-60);
    std::fs::write(&path, token.to_toml()).unwrap();
    drop(fsutil::FileLock::acquire(&path, Duration::from_secs(1)).unwrap());
    disk.remount("ro");
    let mut options = f.options();
    options.set("token_path", path.to_str().unwrap()).unwrap();
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("auth.toml"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), token.to_toml());
    disk.remount("rw");
}

// ---- hooks that call back into the library, and fork (issue 13) ----

#[test]
fn a_hook_that_reauthenticates_the_same_authentication_fails_at_once() {
    let f = Fixture::new();
    f.store_token(3600);
    let auth = authenticate(&f.options()).unwrap();
    let nested: Arc<Mutex<Vec<hubauth::Error>>> = Arc::default();
    let mut forced = hubauth::Options::new();
    forced.set("force", "true").unwrap();
    let (inner_auth, seen) = (auth.clone(), nested.clone());
    forced.set_hook(Some(Arc::new(move |_url: &str| {
        // Each of these would wait for the refresh lock the login holds.
        if let Err(e) = inner_auth.reauthenticate(None) {
            seen.lock().unwrap().push(e);
        }
        if let Err(e) = authenticate(&inner_auth.options().clone()) {
            seen.lock().unwrap().push(e);
        }
        // The lock-free paths work: the current token, the current handle.
        assert!(inner_auth.token().is_ok());
        assert!(hubauth::current().is_some());
        HookAction::Cancel
    })));
    let outer = within(Duration::from_secs(20), move || {
        auth.reauthenticate(Some(&forced)).unwrap_err()
    });
    assert_eq!(outer.kind(), ErrorKind::Cancelled, "{outer}");
    let nested = nested.lock().unwrap();
    assert_eq!(nested.len(), 2);
    for e in nested.iter() {
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains("called from inside a hook"), "{e}");
    }
}

#[test]
fn a_fork_while_another_thread_refreshes_does_not_hang_the_child() {
    let f = Fixture::new();
    f.store_token(120); // usable, but inside a 600 s refresh margin
    // A server that takes the refresh request and never answers.
    let (got, seen) = mpsc::channel();
    let got = Mutex::new(got);
    let slow = RawServer::start(move |_line, stream| {
        let _ = got.lock().unwrap().send(());
        std::thread::sleep(Duration::from_secs(30));
        let _ = stream;
    });
    let mut options = f.options();
    options.set("server", &slow.url).unwrap();
    options.set("refresh_margin_s", "600").unwrap();
    options.set("timeout_ms", "25000").unwrap();
    let refresher = std::thread::spawn(move || authenticate(&options));
    // The refresh is in flight: the thread holds the file lock and waits.
    seen.recv_timeout(Duration::from_secs(10))
        .expect("the refresh reached the slow server");
    let mut child_options = f.options();
    child_options.set("refresh_margin_s", "0").unwrap();
    // SAFETY: the child only calls the library and then _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = authenticate(&child_options).is_ok_and(|a| a.token().is_ok());
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let started = std::time::Instant::now();
    let mut status = 0;
    let done = loop {
        // SAFETY: pid is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break true;
        }
        if started.elapsed() > Duration::from_secs(10) {
            // SAFETY: pid is our child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(done, "the forked child hung");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child could not authenticate from the file (status {status})"
    );
    // The refresher stays blocked on the slow server until its timeout;
    // it is not waited for.
    drop(refresher);
    drop(slow);
}
