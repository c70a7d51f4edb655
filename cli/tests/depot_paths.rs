//! Security review round 3, finding 13: a depot that is not an absolute path
//! puts tokens under whatever directory the process runs in. `~user` (which
//! Julia refuses) is refused and nothing is written; a relative
//! `JULIA_DEPOT_PATH` or `HOME` (Julia takes both) is used with a warning.

mod support;

use std::path::Path;

use support::cli::{Home, Run};

const TOKEN: &str = "id_token = \"id-x\"\nexpires_at = 9999999999\n";

const ARGS: [&str; 3] = ["save-token", "--server", "http://127.0.0.1:9"];

/// `hubauth save-token` run in `cwd`, in an isolated home whose HOME and
/// depot `env` may replace (no JULIA_DEPOT_PATH unless `env` sets one).
fn save_token_in(cwd: &Path, env: &[(&str, &str)]) -> Run {
    let home = Home::new();
    let mut cmd = home.command(&ARGS);
    cmd.current_dir(cwd)
        .env_remove("JULIA_DEPOT_PATH")
        .envs(env.iter().copied());
    Run::of(cmd, &ARGS, Some(TOKEN))
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
    let stderr = &out.stderr;
    assert_eq!(out.code, Some(2), "{stderr}");
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
        let stderr = &out.stderr;
        assert_eq!(out.code, Some(0), "{env:?}: {stderr}");
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
