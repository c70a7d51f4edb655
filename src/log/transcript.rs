//! The transcript: `HUBAUTH_TRANSCRIPT` names a file to which every warning
//! and error message is appended, one line each, for tests that scan them
//! for secrets. It is for tests and debugging, not a log to keep.
//!
//! The file is opened for each line with `O_NOFOLLOW | O_CREAT | O_APPEND |
//! O_CLOEXEC | O_NONBLOCK` and mode 0600, then checked to be a regular file
//! owned by this user. Anything else (a symbolic link, maybe planted by
//! another user in a shared directory; another user's file; a FIFO or
//! device) is never written: the transcript is skipped, with one warning on
//! stderr per process. Appending server-influenced text to a file someone
//! else chose (a `~/.bashrc`) would be a path to running their commands.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use once_cell::sync::Lazy;

static PATH: Lazy<Option<PathBuf>> =
    Lazy::new(|| std::env::var_os("HUBAUTH_TRANSCRIPT").map(Into::into));

/// Set once the warning about an unusable transcript was shown.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Appends `kind: message` (escaped) as one line, if a transcript is set and
/// its file is safe to write.
pub(crate) fn append(kind: &str, message: &str) {
    let Some(path) = PATH.as_ref() else {
        return;
    };
    let line = format!("{kind}: {}\n", super::escape(message));
    match open(path) {
        // One write call per line: O_APPEND keeps lines of many processes whole.
        Ok(mut file) => {
            let _ = file.write_all(line.as_bytes());
        }
        Err(why) => {
            if !WARNED.swap(true, Ordering::SeqCst) && *super::ENABLED {
                eprintln!(
                    "hubauth: warning: HUBAUTH_TRANSCRIPT ({}) {why}; no transcript is written",
                    super::escape(&path.display().to_string())
                );
            }
        }
    }
}

/// The transcript file, opened for appending, or why it is not used.
fn open(path: &Path) -> Result<std::fs::File, String> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "is a symbolic link".to_string(),
            _ => format!("cannot be opened ({e})"),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot be checked ({e})"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("belongs to uid {}, not to you", meta.uid()));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_transcript_is_private_and_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transcript.log");
        drop(open(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        let target = dir.path().join("victim_rc");
        std::fs::write(&target, "# rc\n").unwrap();
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(open(&link).unwrap_err(), "is a symbolic link");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "# rc\n");
        assert_eq!(
            open(Path::new("/dev/null")).unwrap_err(),
            "is not a regular file"
        );
    }
}
