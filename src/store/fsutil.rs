//! The only way hubauth writes files: a temporary file in the same directory,
//! fsync, rename, fsync of the directory; files 0600, directories it creates
//! 0700; and an exclusive cross-process lock in a sibling `.lock` file.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::log;

/// Largest token file read; real ones are a few KiB.
pub(crate) const MAX_FILE: u64 = 1024 * 1024;

/// Creates `dir` and its missing parents; the ones created get mode 0700.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, &e))
}

/// Reads a token file: None when it does not exist. Warns (without content)
/// when group or others may read it.
pub fn read_file(path: &Path) -> Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path, &e)),
    };
    let meta = file.metadata().map_err(|e| Error::io("read", path, &e))?;
    if meta.len() > MAX_FILE {
        return Err(Error::format(format!(
            "{} is larger than {} KiB; it is not a token file",
            path.display(),
            MAX_FILE / 1024
        )));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        log::warn(&format!(
            "{} can be read by other users (mode {:o}); run `chmod 600` on it",
            path.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, &e))?;
    Ok(Some(bytes))
}

/// Replaces `path` with `bytes` atomically: readers see the old file or the new
/// one, never a mix, and a crash leaves the old one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    ensure_dir(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token".into());
    let temp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        crate::random::hex_suffix()?
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| Error::io("create", &temp, &e))?;
        file.write_all(bytes)
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io("write", &temp, &e))?;
        fs::rename(&temp, path).map_err(|e| Error::io("replace", path, &e))
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

/// Removes `path`; a missing file is fine.
pub fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, &e)),
    }
}

/// Renames `path` atomically to `to` (used for `.backup` files).
pub fn rename(path: &Path, to: &Path) -> Result<()> {
    fs::rename(path, to).map_err(|e| Error::io("rename", path, &e))
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
    path: PathBuf,
}

impl FileLock {
    /// Waits for the lock until `timeout` has passed, or until the call's
    /// cancel is triggered ([`crate::cancel`]; a free lock is taken anyway).
    pub fn acquire(token_file: &Path, timeout: Duration) -> Result<FileLock> {
        let path = lock_path(token_file);
        ensure_dir(&parent_dir(&path))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, &e))?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { file, path }),
                Err(fs::TryLockError::WouldBlock) => {}
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", &path, &e));
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::timeout(format!(
                    "another process held {} for more than {:.1} s",
                    path.display(),
                    timeout.as_secs_f64()
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
        let _ = &self.path;
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
