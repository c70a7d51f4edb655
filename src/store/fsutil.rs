//! The only way hubauth reads and writes token files.
//!
//! Writes: a temporary file in the same directory, fsync, rename, fsync of
//! the directory; files 0600, directories it creates 0700; and an exclusive
//! cross-process lock in a sibling `.lock` file.
//!
//! Other local users are hostile (README's "Security model"): a token file
//! must be a regular file owned by the user (or root), like ssh's
//! StrictModes; lock and temp files are opened with `O_NOFOLLOW | O_NONBLOCK
//! | O_CLOEXEC`, so a planted link or FIFO is refused instead of followed or
//! waited on. A token file that is a link the user made (a dotfiles
//! repository) keeps working: the link and its target must both be the
//! user's, and a write replaces the target in the target's directory, so the
//! link stays a link.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::log;

/// Largest token file read; real ones are a few KiB.
pub(crate) const MAX_FILE: u64 = 1024 * 1024;

/// Flags for every file hubauth opens where a link or a FIFO would be an
/// attacker's lever.
const SAFE_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;

/// How many links a token path may go through (the kernel allows 40).
const MAX_LINKS: usize = 16;

/// The effective user, whose files token files must be.
fn my_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether a file owned by `uid` may hold this user's secrets.
/// The user running hubauth, or root: owners whose files and links are used.
pub fn trusted_owner(uid: u32) -> bool {
    uid == my_uid() || uid == 0
}

fn not_owned(path: &Path, what: &str, uid: u32) -> Error {
    Error::new(
        crate::error::ErrorKind::Io,
        format!(
            "{} is {what} owned by another user (uid {uid}); refusing to use it as yours. \
             Remove it, or make it yours with chown",
            path.display()
        ),
    )
}

/// Follows `path` through the links the user made to the file it names (which
/// may not exist yet). Every link on the way must be owned by the user or
/// root; a link of another user is an error naming it.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let meta = match fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(current),
            Err(e) => return Err(Error::io("inspect", &current, &e)),
        };
        if !meta.file_type().is_symlink() {
            return Ok(current);
        }
        if !trusted_owner(meta.uid()) {
            return Err(not_owned(&current, "a link", meta.uid()));
        }
        let target = fs::read_link(&current).map_err(|e| Error::io("read link", &current, &e))?;
        current = if target.is_absolute() {
            target
        } else {
            parent_dir(&current).join(target)
        };
    }
    Err(Error::new(
        crate::error::ErrorKind::Io,
        format!("{} goes through too many links", path.display()),
    ))
}

/// Files whose loose permissions were already reported by this process.
static WARNED_MODE: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Warns `message()` the first time this process warns about `path`.
fn warn_once(path: &Path, message: impl FnOnce() -> String) {
    // The lock is held for the insert only: a fork while another thread
    // logs must not leave it locked in the child.
    let first = WARNED_MODE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(path.to_path_buf());
    if first {
        log::warn(&message());
    }
}

/// Warns once per file and process that others may read it.
fn warn_loose_mode(path: &Path, mode: u32) {
    warn_once(path, || {
        format!(
            "{} can be read by other users (mode {:o}); hubauth makes it 0600 at its next \
             write, or run `chmod 600` on it",
            path.display(),
            mode & 0o777
        )
    });
}

/// Creates `dir` and its missing parents; the ones created get mode 0700.
/// The directories on the way must pass [`check_directories`].
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("create directory", dir, &e))?;
    }
    check_directories(dir)
}

/// Directories already found safe by this process (a few stats saved per call).
static CHECKED_DIRS: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// ssh's StrictModes for the directories that hold a token file: `dir` and
/// its parents up to the home directory (or `/` for a file outside it).
/// Another user who can rename entries in one of them can swap one server's
/// directory for another's, and hubauth would send one hub's token to the
/// other. So a directory writable by every user without the sticky bit is
/// refused, as is a token file's own directory owned by another user
/// (other than root); a group-writable one (a team's shared depot) and an
/// ancestor owned by another user are warned about once.
pub fn check_directories(dir: &Path) -> Result<()> {
    let known = |d: &Path| {
        CHECKED_DIRS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|set| set.contains(d))
    };
    if known(dir) {
        return Ok(());
    }
    let home = dirs::home_dir();
    let mut current = Some(dir);
    let mut own_directory = true;
    while let Some(d) = current.filter(|d| !d.as_os_str().is_empty()) {
        match fs::metadata(d) {
            Ok(meta) => {
                let mode = meta.mode();
                let sticky = mode & 0o1000 != 0; // S_ISVTX
                if mode & 0o002 != 0 && !sticky {
                    return Err(Error::new(
                        crate::error::ErrorKind::Io,
                        format!(
                            "{} is writable by every user (mode {:o}): another user could swap \
                             the token files in it; refusing to use it. Run `chmod o-w {}`",
                            d.display(),
                            mode & 0o7777,
                            d.display()
                        ),
                    ));
                }
                if !trusted_owner(meta.uid()) {
                    if own_directory {
                        return Err(not_owned(d, "a directory", meta.uid()));
                    }
                    warn_loose_directory(d, "is owned by another user");
                } else if mode & 0o020 != 0 && !sticky {
                    warn_loose_directory(d, "is writable by its group");
                }
            }
            Err(e) if e.kind() == IoKind::NotFound => {}
            Err(e) => return Err(Error::io("inspect", d, &e)),
        }
        if home.as_deref() == Some(d) {
            break;
        }
        own_directory = false;
        current = d.parent();
    }
    CHECKED_DIRS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(dir.to_path_buf());
    Ok(())
}

/// Warns once per directory and process that others could change it.
fn warn_loose_directory(dir: &Path, why: &str) {
    warn_once(dir, || {
        format!(
            "{} {why}, who could swap the token files in it; make it yours and \
             `chmod go-w` it",
            dir.display()
        )
    });
}

/// Reads a token file: None when it does not exist. The file (and every link
/// to it) must be the user's or root's, and a regular file: a FIFO, a device
/// or another user's file is an error naming the path, never a hang or a
/// token taken for the user's own. Warns once (without content) when group
/// or others may read it. The bytes are zeroed when dropped.
pub fn read_file(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let real = resolve(path)?;
    check_directories(&parent_dir(&real))?;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(SAFE_FLAGS)
        .open(&real)
    {
        Ok(file) => file,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, &e)),
    };
    let meta = file.metadata().map_err(|e| Error::io("read", path, &e))?;
    if !meta.file_type().is_file() {
        return Err(Error::new(
            crate::error::ErrorKind::Io,
            format!(
                "{} is not a regular file; refusing to read a token from it",
                path.display()
            ),
        ));
    }
    if !trusted_owner(meta.uid()) {
        return Err(not_owned(path, "a file", meta.uid()));
    }
    if meta.len() > MAX_FILE {
        return Err(Error::format(format!(
            "{} is larger than {} KiB; it is not a token file",
            path.display(),
            MAX_FILE / 1024
        )));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        warn_loose_mode(path, meta.permissions().mode());
    }
    // One allocation of the final size (+1 to see growth): no reallocation
    // leaves an unzeroed copy behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    let mut file = file.take(MAX_FILE + 1);
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let n = match file.read(&mut chunk[..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == IoKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", path, &e)),
        };
        if bytes.len() + n > bytes.capacity() {
            // The file grew while being read: move to a larger buffer and
            // zero the old one.
            let mut larger = Zeroizing::new(Vec::with_capacity((bytes.len() + n) * 2));
            larger.extend_from_slice(&bytes);
            bytes = larger;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(bytes))
}

/// What a failed save says: the path, the cause, and for a full or read-only
/// disk that the stored file was left as it was.
fn save_error(path: &Path, err: &std::io::Error) -> Error {
    let hint = match err.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
            "; the disk is full, and the stored file was left as it was"
        }
        Some(libc::EROFS) => {
            "; the file system is read-only, and the stored file was left as it was"
        }
        _ => "",
    };
    Error::new(
        crate::error::ErrorKind::Io,
        format!("cannot save {}: {err}{hint}", path.display()),
    )
}

/// Replaces `path` with `bytes` atomically: readers see the old file or the new
/// one, never a mix, and a crash, a full disk or a read-only file system leaves
/// the old one and no temp file. Where `path` is a link the user made, the
/// target is replaced (the temp file is made in the target's directory) and
/// the link stays. The new file is 0600, so a file others could read is
/// tightened by the write.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let real = resolve(path)?;
    let dir = parent_dir(&real);
    ensure_dir(&dir)?;
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token".into());
    let temp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        crate::random::hex_suffix()?
    ));
    let result = (|| {
        // create_new is O_EXCL: never follows or reuses what is there.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(SAFE_FLAGS)
            .open(&temp)
            .map_err(|e| save_error(path, &e))?;
        file.write_all(bytes)
            .and_then(|_| file.sync_all())
            .map_err(|e| save_error(path, &e))?;
        drop(file);
        fs::rename(&temp, &real).map_err(|e| save_error(path, &e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    // Make the rename itself durable; failure here loses nothing already visible.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    sweep_stale_temps(&dir, &name);
    Ok(())
}

/// How old a temp file must be before it is taken for a dead writer's.
const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// Removes temp files of `name` that a killed writer left behind. A live
/// writer's temp file exists for milliseconds, so a minute-old one is dead.
fn sweep_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if !file_name.to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes the token file at `path`; a missing file is fine. Where `path` is
/// a link the user made, the target is removed and the link stays (a later
/// save writes through it again).
pub fn remove_file(path: &Path) -> Result<()> {
    let real = resolve(path)?;
    match fs::remove_file(&real) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, &e)),
    }
}

/// Where [`back_up`] keeps the one backup of `path`: `<path>.backup`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".backup");
    PathBuf::from(name)
}

/// Moves the token file at `path` aside to [`backup_path`], replacing an
/// older backup, as a 0600 file; the token file is gone afterwards. One
/// backup per token file, so refresh tokens do not pile up. Returns where the
/// backup is, or None when there was no file.
pub fn back_up(path: &Path) -> Result<Option<PathBuf>> {
    let Some(bytes) = read_file(path)? else {
        return Ok(None);
    };
    let backup = backup_path(path);
    atomic_write(&backup, &bytes)?;
    remove_file(path)?;
    Ok(Some(backup))
}

/// Modification time of `path` in unix seconds, if it exists.
pub fn mtime(path: &Path) -> Option<i64> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// An exclusive lock on `<file>.lock`, held until dropped. Protects the whole
/// read-refresh-write of one token file across threads and processes.
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Waits for the lock until `timeout` has passed or the call's deadline
    /// ([`crate::scope`]), whichever comes first, or until the call's cancel
    /// is triggered ([`crate::cancel`]; a free lock is taken anyway).
    pub fn acquire(token_file: &Path, timeout: Duration) -> Result<FileLock> {
        let path = lock_path(token_file);
        ensure_dir(&parent_dir(&path))?;
        // A planted link is refused (O_NOFOLLOW: ELOOP), never followed to
        // create or lock its target; a FIFO does not block (O_NONBLOCK).
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(SAFE_FLAGS)
            .open(&path);
        // On a read-only file system an existing lock file still locks
        // (flock needs no write access), so stored tokens stay readable.
        let opened = match opened {
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => OpenOptions::new()
                .read(true)
                .custom_flags(SAFE_FLAGS)
                .open(&path)
                .map_err(|_| e),
            other => other,
        };
        let file = opened.map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => Error::new(
                    crate::error::ErrorKind::Io,
                    format!(
                        "{} is a link; refusing to follow it (remove it: hubauth makes its own lock file)",
                        path.display()
                    ),
                ),
                _ => Error::io("open lock file", &path, &e),
            })?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io("open lock file", &path, &e))?;
        if !meta.file_type().is_file() {
            return Err(Error::new(
                crate::error::ErrorKind::Io,
                format!("{} is not a regular file; remove it", path.display()),
            ));
        }
        if !trusted_owner(meta.uid()) {
            return Err(not_owned(&path, "a lock file", meta.uid()));
        }
        // Never past the deadline of the call that waits (crate::scope).
        let started = Instant::now();
        let deadline = crate::scope::deadline_within(timeout);
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { file }),
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", &path, &e));
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::timeout(format!(
                    "another process held {} for more than {:.1} s",
                    path.display(),
                    started.elapsed().as_secs_f64()
                )));
            }
            crate::cancel::sleep(pause, &format!("waiting for {}", path.display()))?;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

pub fn lock_path(token_file: &Path) -> PathBuf {
    let mut name = token_file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_0600_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/auth.toml");
        atomic_write(&path, b"a = 1\n").unwrap();
        atomic_write(&path, b"a = 2\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a = 2\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn stale_temp_files_are_swept_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        let stale = dir.path().join(".auth.toml.tmp.1.0000abcd");
        let fresh = dir.path().join(".auth.toml.tmp.2.0000abce");
        let other = dir.path().join(".other.tmp.1.0000abcd");
        for p in [&stale, &fresh, &other] {
            fs::write(p, b"x").unwrap();
        }
        let two_minutes_ago = std::time::SystemTime::now() - Duration::from_secs(120);
        for p in [&stale, &other] {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_minutes_ago)
                .unwrap();
        }
        atomic_write(&path, b"a = 1\n").unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists(), "a live writer's temp file is kept");
        assert!(other.exists(), "only this file's temps are touched");
    }

    #[test]
    fn lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.toml");
        let first = FileLock::acquire(&path, Duration::from_secs(1)).unwrap();
        let err = FileLock::acquire(&path, Duration::from_millis(30))
            .err()
            .unwrap();
        assert_eq!(err.kind(), crate::error::ErrorKind::Timeout);
        drop(first);
        FileLock::acquire(&path, Duration::from_millis(30)).unwrap();
    }
}
