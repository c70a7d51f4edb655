//! What holds for every hub, checked once per row of the hub table
//! (`hubauth::hubs::PROVIDERS`) instead of once per hub test file. For each
//! hub, in a home of its own (a temp dir; no variable of the caller's
//! environment but PATH), through the public API only:
//!
//! - `save_token` writes the files that `status` discovery then lists (one,
//!   or more where the hub's SDK reads more: CAVE's server file and its
//!   shared default), each mode 0600 and holding the token, with a
//!   `<file>.lock` beside one of them and no temp file left;
//! - token files that are symlinks (a dotfiles setup) stay symlinks: the
//!   next `save_token` writes through them to their targets (0600), no temp
//!   file left in either directory;
//! - `logout` succeeds, and a second `logout` is harmless. (What logout
//!   leaves differs by hub on purpose, e.g. CAVE's shared default file and a
//!   user's symlink stay, so discovery afterwards is each hub's own test.)
//!
//! Discovery reads the process environment (HOME, XDG_*, JULIA_DEPOT_PATH),
//! so each row runs in a child process of this test binary with its own
//! environment (`harness = false`: `main` is the parent and the child). A
//! hub added to the table without its row in [`case`] fails here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hubauth::Options;
use hubauth::hubs::PROVIDERS;
use hubauth::status::discover;

/// Set in the child to the hub it checks.
const ROW: &str = "HUBAUTH_CONFORMANCE_ROW";

/// One hub's way in: the options that address it, and two different tokens
/// it accepts in `save_token`, each with a text its stored file then holds.
struct Case {
    options: Vec<(&'static str, String)>,
    tokens: [(String, String); 2],
}

/// The per-hub inputs. Everything else in this file is the same for every hub.
fn case(hub: &str) -> Case {
    match hub {
        "juliahub" => {
            // An auth.toml as the hub's server issues it; the server need not
            // stay up (save_token, logout and discovery use no network).
            let server = hubauth_testkit::JuliaHubServer::start();
            let tokens = [0, 1].map(|_| {
                let token = server.issue_token(3600);
                (token.to_toml(), token.id_token)
            });
            Case {
                options: vec![("server", server.url())],
                tokens,
            }
        }
        "dagshub" => Case {
            options: vec![("server", "https://dagshub.example".into())],
            tokens: bare(["dagshub-app-token-one", "dagshub-app-token-two"]),
        },
        "cave" => Case {
            options: vec![("server", "https://cave.example".into())],
            tokens: bare([
                "0123456789abcdef0123456789abcdef",
                "fedcba9876543210fedcba9876543210",
            ]),
        },
        "dhcore" => Case {
            options: vec![("server", "https://dhcore.example".into())],
            tokens: bare(["dhcore-access-token-one", "dhcore-access-token-two"]),
        },
        "oidc" => Case {
            // Port 9 on loopback: nothing listens, so logout's revocation
            // fails at once (and logout still deletes).
            options: vec![
                ("issuer", "http://127.0.0.1:9/realm".into()),
                ("client_id", "conformance".into()),
            ],
            tokens: ["oidc-access-token-one", "oidc-access-token-two"].map(|access| {
                let reply = format!(
                    r#"{{"access_token": "{access}", "token_type": "Bearer", "expires_in": 3600}}"#
                );
                (reply, access.to_string())
            }),
        },
        other => panic!("hub {other:?} is in PROVIDERS but has no row in tests/conformance.rs"),
    }
}

fn bare(tokens: [&str; 2]) -> [(String, String); 2] {
    tokens.map(|t| (t.to_string(), t.to_string()))
}

fn main() {
    match std::env::var(ROW) {
        Ok(hub) => check_hub(&hub),
        Err(_) => run_every_row(),
    }
}

fn run_every_row() {
    let exe = std::env::current_exe().unwrap();
    let mut failed = Vec::new();
    for hub in PROVIDERS.iter().map(|p| p.name()) {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let status = Command::new(&exe)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(ROW, hub)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("JULIA_DEPOT_PATH", home.join(".julia"))
            .status()
            .unwrap();
        if status.success() {
            println!("ok - {hub}");
        } else {
            println!("not ok - {hub} ({status})");
            failed.push(hub);
        }
    }
    assert!(
        PROVIDERS.len() >= 5,
        "only {} rows in PROVIDERS",
        PROVIDERS.len()
    );
    assert!(
        failed.is_empty(),
        "the conformance checks failed for {failed:?}"
    );
}

/// Runs in the child: every check, for one hub.
fn check_hub(hub: &str) {
    let case = case(hub);
    let mut options = Options::new();
    options.set("provider", hub).unwrap();
    options.set("validate", "false").unwrap();
    options.set("interactive", "false").unwrap();
    options.set("timeout_ms", "10000").unwrap();
    for (key, value) in &case.options {
        options.set(key, value).unwrap();
    }
    let [(first, first_stored), (second, second_stored)] = &case.tokens;

    // save_token: discovery lists it; 0600, the lock file, no temp file.
    hubauth::save_token(&options, first).unwrap_or_else(|e| panic!("{hub}: save_token: {e}"));
    let paths = stored_files(hub);
    for path in &paths {
        assert!(
            read(path).contains(first_stored.as_str()),
            "{hub}: {} does not hold the saved token",
            path.display()
        );
        assert_eq!(mode(path), 0o600, "{hub}: {}", path.display());
        assert_no_temp_files(hub, path.parent().unwrap());
    }
    let locks: Vec<PathBuf> = paths.iter().map(|p| lock_file(p)).collect();
    assert!(
        locks.iter().any(|lock| lock.is_file()),
        "{hub}: no lock file: none of {locks:?}"
    );

    // Symlinked token files stay symlinks; their targets get the token.
    let dotfiles = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap()
        .join("dotfiles");
    std::fs::create_dir(&dotfiles).unwrap();
    let targets: Vec<PathBuf> = (0..paths.len())
        .map(|i| dotfiles.join(format!("token-file-{i}")))
        .collect();
    for (path, target) in paths.iter().zip(&targets) {
        std::fs::rename(path, target).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    }
    hubauth::save_token(&options, second)
        .unwrap_or_else(|e| panic!("{hub}: save_token through a symlink: {e}"));
    for (path, target) in paths.iter().zip(&targets) {
        assert!(
            std::fs::symlink_metadata(path)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{hub}: the write replaced the symlink {} by a file",
            path.display()
        );
        assert_eq!(
            mode(target),
            0o600,
            "{hub}: the target of {}",
            path.display()
        );
        assert_no_temp_files(hub, path.parent().unwrap());
    }
    // CAVE writes its shared default file only for a server without a file
    // of its own, i.e. the first time: the second token is in one target.
    assert!(
        targets
            .iter()
            .any(|t| read(t).contains(second_stored.as_str())),
        "{hub}: no symlink's target holds the second token"
    );
    assert_no_temp_files(hub, &dotfiles);

    // logout, then again: harmless.
    hubauth::logout(&options).unwrap_or_else(|e| panic!("{hub}: logout: {e}"));
    hubauth::logout(&options).unwrap_or_else(|e| panic!("{hub}: a second logout: {e}"));
}

/// The files `status` discovery lists for `hub` (the home was empty, and
/// the environment names nothing). A source names its file, then perhaps a
/// section (`~/.dhcore.ini [dev]`).
fn stored_files(hub: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = discover()
        .into_iter()
        .filter(|c| c.provider == hub)
        .map(|c| match c.source.rsplit_once(" [") {
            Some((file, _section)) => PathBuf::from(file),
            None => PathBuf::from(c.source),
        })
        .collect();
    paths.sort();
    paths.dedup();
    assert!(
        !paths.is_empty(),
        "{hub}: discovery lists nothing after save_token"
    );
    for path in &paths {
        assert!(path.is_file(), "{hub}: discovery names {}", path.display());
    }
    paths
}

/// The cross-process lock of a token file.
fn lock_file(path: &Path) -> PathBuf {
    let mut lock = path.as_os_str().to_owned();
    lock.push(".lock");
    PathBuf::from(lock)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The atomic writer's temp files are `.<name>.tmp.<pid>.<n>`.
fn assert_no_temp_files(hub: &str, dir: &Path) {
    let temps: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp."))
        .collect();
    assert!(
        temps.is_empty(),
        "{hub}: temp files left in {}: {temps:?}",
        dir.display()
    );
}
