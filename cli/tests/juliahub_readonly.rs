//! Issue 14, point 10: a read-only depot is only read. Reading a token must
//! neither need a writable directory nor create `auth.toml.lock`. Run as a
//! non-root user (root ignores directory modes) through `setpriv`; skipped
//! with a message when that is impossible.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use hubauth_testkit::JuliaHubServer;

const BIN: &str = env!("CARGO_BIN_EXE_hubauth");
const NOBODY: u32 = 65534;

fn chown(path: &Path) {
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

/// `hubauth token --validate` as uid 65534, or None when it cannot run so.
fn token_as_nobody(depot: &Path, server: &str) -> Option<std::process::Output> {
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let setpriv = Path::new("/usr/bin/setpriv");
    if !is_root || !setpriv.exists() {
        eprintln!("SKIPPED: needs root and /usr/bin/setpriv to run as a non-root user");
        return None;
    }
    let output = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(BIN)
        .args(["token", "--validate", "--server", server])
        .env_clear()
        .env("JULIA_DEPOT_PATH", depot)
        .env("HOME", depot)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    Some(output)
}

/// A read-only depot (server dir 0555, owned by nobody) holding a token of
/// `server` valid for `ttl_s`, written as a PkgAuthentication device login
/// writes it (no user_name). Returns (tempdir, depot, server dir, file, text, id_token).
fn read_only_depot(
    server: &JuliaHubServer,
    ttl_s: i64,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    String,
    String,
) {
    // A world-traversable parent (tempdir is 0700 root), owned by nobody below.
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let depot = root.path().join("depot");
    let dir = depot.join("servers").join(server.server_dir_name());
    std::fs::create_dir_all(&dir).unwrap();
    // As a PkgAuthentication device login writes it: no user_name, so the
    // server names the user when the token is validated.
    let token = server.issue_token(ttl_s);
    let text = format!(
        "access_token = {:?}\nid_token = {:?}\nrefresh_token = {:?}\nrefresh_url = {:?}\nexpires = {}\nexpires_at = {}\n",
        token.access_token,
        token.id_token,
        token.refresh_token,
        token.refresh_url,
        token.expires_at,
        token.expires_at
    );
    let file = dir.join("auth.toml");
    std::fs::write(&file, &text).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    for p in [&depot, &depot.join("servers"), &dir, &file] {
        chown(p);
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    (root, depot, dir, file, text, token.id_token)
}

#[test]
fn p10_read_only_depot_is_read_without_lock_or_write() {
    let server = JuliaHubServer::start();
    let (_root, depot, dir, file, text, id_token) = read_only_depot(&server, 3600);
    let Some(out) = token_as_nobody(&depot, &server.url()) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id_token);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["auth.toml"], "nothing was created: {names:?}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    assert_eq!(server.stats().refreshes, 0);
}

/// A token inside the refresh margin but unexpired, in a read-only depot:
/// JuliaHub.jl uses it (it only looks at expiry). hubauth should too, since
/// a refresh it cannot save would spend the rotating refresh token.
#[test]

fn p10_read_only_depot_uses_an_unexpired_token_it_cannot_renew() {
    let server = JuliaHubServer::start();
    let (_root, depot, _dir, _file, _text, id_token) = read_only_depot(&server, 300);
    let Some(out) = token_as_nobody(&depot, &server.url()) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id_token);
    assert_eq!(
        server.stats().refreshes,
        0,
        "no refresh that cannot be saved"
    );
}
