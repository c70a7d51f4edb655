//! Issue 22, point 5: the directories that hold token files. Another user who
//! can rename entries in one of them could swap one server's directory for
//! another's, and the first server would receive the second one's token
//! (ssh's StrictModes refuses such directories for the same reason).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use hubauth::{ErrorKind, authenticate};
use hubauth_testkit::fixture::Fixture;

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_directory_every_user_can_write_is_refused_unless_sticky() {
    let f = Fixture::new();
    let stored = f.store_token(3600);
    let servers = f.dir.path().join("servers");
    set_mode(&servers, 0o777);
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains("writable by every user"), "{err}");
    assert!(
        err.message().contains(&servers.display().to_string()),
        "{err}"
    );
    // Saving is refused the same way, and the stored file is left alone.
    let mut save = f.options();
    save.set("overwrite", "true").unwrap();
    let saved = hubauth::save_token(&save, &f.server.issue_token_toml(3600));
    assert_eq!(saved.unwrap_err().kind(), ErrorKind::Io);
    assert!(f.stored_text().contains(&stored.id_token));
    // With the sticky bit (as /tmp) nobody renames entries of others.
    set_mode(&servers, 0o1777);
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), stored.id_token);
}

#[test]
fn a_token_directory_of_another_user_is_refused() {
    let f = Fixture::new();
    f.store_token(3600);
    let dir = f.token_path().parent().unwrap().to_path_buf();
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("SKIPPED: needs root to give a directory to another user");
        return;
    }
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains("owned by another user"), "{err}");
}

/// The review's reproducer (a13): a depot every user can write, two servers,
/// and an attacker (uid 65534) who swaps their directories. The victim's
/// next login to E must not hand E the token of J.
#[test]
fn another_user_swapping_server_directories_gets_no_token_sent() {
    let setpriv = Path::new("/usr/bin/setpriv");
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !is_root || !setpriv.exists() {
        eprintln!("SKIPPED: needs root and /usr/bin/setpriv to run the attacker as another user");
        return;
    }
    let e = Fixture::new();
    let j = Fixture::with(hubauth_testkit::JuliaHubServer::start());
    // One depot for both: J's token file lives beside E's.
    let depot = e.dir.path();
    let j_dir = depot.join("servers").join(j.server.server_dir_name());
    std::fs::create_dir_all(&j_dir).unwrap();
    std::fs::write(j_dir.join("auth.toml"), j.server.issue_token_toml(3600)).unwrap();
    let e_token = e.store_token(3600);
    set_mode(depot, 0o777);
    set_mode(&depot.join("servers"), 0o777);
    let e_dir = e.token_path().parent().unwrap().to_path_buf();
    let swapped = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args([
            "/bin/sh",
            "-c",
            "mv \"$1\" \"$1.old\" && mv \"$2\" \"$1\"",
            "sh",
        ])
        .arg(&e_dir)
        .arg(&j_dir)
        .status()
        .unwrap();
    assert!(swapped.success(), "the attacker could swap the directories");
    // E's path now holds J's token.
    assert!(!e.stored_text().contains(&e_token.id_token));
    let err = authenticate(&e.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains("writable by every user"), "{err}");
    let stats = e.server.stats();
    assert_eq!(
        stats.api_v1_calls + stats.refreshes + stats.refresh_rejections,
        0,
        "E was sent nothing"
    );
}
