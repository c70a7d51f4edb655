//! Security review round 3, finding 13: a depot that is not an absolute path
//! puts tokens under whatever directory the process runs in. `~user` (which
//! Julia refuses) is refused and nothing is written; a relative
//! `JULIA_DEPOT_PATH` or `HOME` (Julia takes both) is used with a warning.

mod support;

use std::path::Path;
use std::process::Output;

use support::cli::BIN;

const TOKEN: &str = "id_token = \"id-x\"\nexpires_at = 9999999999\n";

/// `hubauth save-token` run in `cwd` with `env` (nothing else but PATH).
fn save_token_in(cwd: &Path, env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .args(["save-token", "--server", "http://127.0.0.1:9"])
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(TOKEN.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_tilde_user_depot_is_refused_and_nothing_is_written() {
    let cwd = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = save_token_in(
        cwd.path(),
        &[
            ("HOME", home.path().to_str().unwrap()),
            ("JULIA_DEPOT_PATH", "~nobody/depot"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("~user is not expanded"), "{stderr}");
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
}

#[test]
fn a_relative_depot_or_home_is_warned_about_once() {
    let home = tempfile::tempdir().unwrap();
    for env in [
        vec![
            ("HOME", home.path().to_str().unwrap()),
            ("JULIA_DEPOT_PATH", "rel"),
        ],
        vec![("HOME", "h")],
    ] {
        let cwd = tempfile::tempdir().unwrap();
        let out = save_token_in(cwd.path(), &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{env:?}: {stderr}");
        assert_eq!(
            stderr.matches("is a relative path").count(),
            1,
            "{env:?}: {stderr}"
        );
        // Julia would write there too; the warning is what differs.
        assert!(
            std::fs::read_dir(cwd.path()).unwrap().count() > 0,
            "{env:?}"
        );
    }
}
