//! `HUBAUTH_TRANSCRIPT` writes only to a regular file of the user's own: a
//! planted symbolic link or another user's file is left untouched and the
//! transcript skipped, with one warning on stderr. A new transcript is 0600
//! whatever the umask. The cross-user cases run through `setpriv` (victim uid
//! 1001, other user 65534) and are skipped with a message when that is
//! impossible (not root, no setpriv).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hubauth");
const VICTIM: u32 = 1001;
const OTHER: u32 = 65534;

/// A `hubauth token` that fails (nothing stored, nothing listening), so it
/// has an error message for the transcript; run with umask 000.
fn failing_token(home: &Path, transcript: &Path, as_uid: Option<u32>) -> Output {
    let mut command = match as_uid {
        Some(uid) => {
            let mut c = Command::new("/usr/bin/setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                "--",
                BIN,
            ]);
            c
        }
        None => Command::new(BIN),
    };
    command
        .args(["token", "--server", "http://127.0.0.1:9", "--timeout", "1"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("JULIA_DEPOT_PATH", home.join("depot"))
        .env("HUBAUTH_TRANSCRIPT", transcript);
    // SAFETY: umask is async-signal-safe; nothing else runs before exec.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let output = command.output().unwrap();
    assert_ne!(output.status.code(), Some(0));
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn warnings_about_the_transcript(output: &Output) -> usize {
    stderr(output).matches("HUBAUTH_TRANSCRIPT").count()
}

#[test]
fn a_new_transcript_is_created_0600_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("transcript.log");
    let output = failing_token(dir.path(), &transcript, None);
    assert_eq!(
        warnings_about_the_transcript(&output),
        0,
        "{}",
        stderr(&output)
    );
    let meta = std::fs::metadata(&transcript).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(text.starts_with("error: "), "{text}");
}

#[test]
fn a_planted_symlink_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim_rc = dir.path().join("victim_rc");
    std::fs::write(&victim_rc, "# rc\n").unwrap();
    let transcript = dir.path().join("transcript.log");
    std::os::unix::fs::symlink(&victim_rc, &transcript).unwrap();
    let output = failing_token(dir.path(), &transcript, None);
    assert_eq!(std::fs::read_to_string(&victim_rc).unwrap(), "# rc\n");
    assert_eq!(
        warnings_about_the_transcript(&output),
        1,
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("is a symbolic link"),
        "{}",
        stderr(&output)
    );
}

/// Whether this test can switch users; says why not when it cannot.
fn can_switch_users() -> bool {
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !is_root || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIPPED: needs root and /usr/bin/setpriv to run as other users");
        return false;
    }
    true
}

/// As `uid`, `ln -s target link`.
fn symlink_as(uid: u32, target: &Path, link: &Path) {
    let status = Command::new("/usr/bin/setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "--",
            "/bin/ln",
            "-s",
        ])
        .arg(target)
        .arg(link)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn another_users_link_or_file_is_never_written() {
    if !can_switch_users() {
        return;
    }
    // A shared directory anyone may write (the review's setup).
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let home = root.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(VICTIM), Some(VICTIM)).unwrap();
    let victim_rc = shared.join("victim_rc");
    std::fs::write(&victim_rc, "# rc\n").unwrap();
    std::os::unix::fs::chown(&victim_rc, Some(VICTIM), Some(VICTIM)).unwrap();

    // The other user plants a link to the victim's file.
    let link = shared.join("transcript.log");
    symlink_as(OTHER, &victim_rc, &link);
    let output = failing_token(&home, &link, Some(VICTIM));
    assert_eq!(std::fs::read_to_string(&victim_rc).unwrap(), "# rc\n");
    assert_eq!(
        warnings_about_the_transcript(&output),
        1,
        "{}",
        stderr(&output)
    );

    // The other user's own file, writable by all: not the victim's to fill.
    let planted = shared.join("planted.log");
    std::fs::write(&planted, "").unwrap();
    std::os::unix::fs::chown(&planted, Some(OTHER), Some(OTHER)).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    let output = failing_token(&home, &planted, Some(VICTIM));
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), "");
    assert_eq!(
        warnings_about_the_transcript(&output),
        1,
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains(&format!("belongs to uid {OTHER}")),
        "{}",
        stderr(&output)
    );

    // The victim's own new transcript there is 0600 and theirs.
    let own = shared.join("own.log");
    let output = failing_token(&home, &own, Some(VICTIM));
    assert_eq!(
        warnings_about_the_transcript(&output),
        0,
        "{}",
        stderr(&output)
    );
    let meta = std::fs::metadata(&own).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (VICTIM, 0o600));
}
