//! Issue 14, the points that depend on the process environment (depot,
//! JULIA_PKG_SERVER as written, ALLOW_INTERACTIVE, the browser opener). The
//! tests share one lock, so none reads the environment while another
//! changes it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hubauth::{ErrorKind, Options, authenticate};
use hubauth_testkit::JuliaHubServer;

static ENV: Mutex<()> = Mutex::new(());

/// Runs `f` with these variables set (None: removed), then restores them.
fn with_env<R>(vars: &[(&str, Option<&str>)], f: impl FnOnce() -> R) -> R {
    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    let saved: Vec<(String, Option<std::ffi::OsString>)> = vars
        .iter()
        .map(|(k, _)| (k.to_string(), std::env::var_os(k)))
        .collect();
    // SAFETY: every test of this binary holds ENV while it touches the
    // environment, and hubauth keeps no thread that reads it.
    unsafe {
        for (k, v) in vars {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    // SAFETY: as above, still under ENV.
    unsafe {
        for (k, v) in saved {
            match v {
                Some(v) => std::env::set_var(&k, v),
                None => std::env::remove_var(&k),
            }
        }
    }
    result.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn store(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn quiet_options(server: &str) -> Options {
    let mut o = Options::new();
    o.set("server", server).unwrap();
    o.set("interactive", "false").unwrap();
    o.set("timeout_ms", "20000").unwrap();
    o
}

// 3. The directory under servers/ is Pkg's: the host as written, port kept.
#[test]
fn p3_server_directory_keeps_case_and_explicit_port() {
    let server = JuliaHubServer::start();
    let depot = tempfile::tempdir().unwrap();
    let written = format!("http://LocalHost:{}/", server.port());
    let expected = depot
        .path()
        .join("servers")
        .join(format!("LocalHost_{}", server.port()))
        .join("auth.toml");
    let token = server.issue_token(3600);
    store(&expected, &token.to_toml());
    let depot_str = depot.path().to_str().unwrap().to_string();
    with_env(&[("JULIA_DEPOT_PATH", Some(&depot_str))], || {
        let auth = authenticate(&quiet_options(&written)).unwrap();
        assert_eq!(auth.token().unwrap().expose(), token.id_token);
        let p = |s: &str| hubauth::store::pkg_toml::path_for(s).unwrap();
        assert_eq!(
            p("https://juliahub.com:443"),
            depot.path().join("servers/juliahub.com_443/auth.toml")
        );
        assert_eq!(
            p("https://JuliaHub.com"),
            depot.path().join("servers/JuliaHub.com/auth.toml")
        );
    });
}

// 4. JULIA_DEPOT_PATH as Julia reads it: expanduser, empty entries.
#[test]
fn p4_depot_path_is_expanded_like_julia() {
    let server = JuliaHubServer::start();
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap().to_string();
    let dir = server.server_dir_name();
    let in_depot = |depot: PathBuf| depot.join("servers").join(&dir).join("auth.toml");
    let cases: [(&str, PathBuf); 4] = [
        ("~/depot", home.path().join("depot")),
        ("~/second:/nonexistent", home.path().join("second")),
        ("", home.path().join(".julia")),
        (":/nonexistent", home.path().join(".julia")),
    ];
    for (value, depot) in cases {
        let token = server.issue_token(3600);
        store(&in_depot(depot.clone()), &token.to_toml());
        with_env(
            &[("HOME", Some(&home_str)), ("JULIA_DEPOT_PATH", Some(value))],
            || {
                let auth = authenticate(&quiet_options(&server.url()))
                    .unwrap_or_else(|e| panic!("JULIA_DEPOT_PATH={value:?}: {e}"));
                assert_eq!(
                    auth.token().unwrap().expose(),
                    token.id_token,
                    "JULIA_DEPOT_PATH={value:?} → {}",
                    depot.display()
                );
            },
        );
    }
}

// 8. A value Julia's parse(Bool, …) refuses forbids interactive login.
#[test]
fn p8_unparsable_allow_interactive_refuses_login() {
    let server = JuliaHubServer::start();
    let depot = tempfile::tempdir().unwrap();
    let depot_str = depot.path().to_str().unwrap().to_string();
    for value in ["yes", "on", "maybe"] {
        with_env(
            &[
                ("JULIA_DEPOT_PATH", Some(&depot_str)),
                ("JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE", Some(value)),
            ],
            || {
                let mut o = Options::new();
                o.set("server", &server.url()).unwrap();
                o.set("timeout_ms", "1500").unwrap();
                let err = authenticate(&o).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::NoCredentials, "{value:?}: {err}");
            },
        );
    }
    assert_eq!(server.stats().device_code_requests, 0);
}

/// A fake opener named `name` in a fresh bin dir that appends its
/// arguments (a line `ARGV …`) and then the page it was given to
/// `<dir>/opened`; beside it a fake `wslpath -w` that turns a path into
/// `W:<path>`, as the Windows path explorer.exe gets under WSL.
fn fake_opener(name: &str) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("opened");
    let scripts = [
        (
            name,
            format!(
                "#!/bin/sh\necho \"ARGV $*\" >> '{log}.part'\np=\"${{1#file://}}\"\n\
                 cat \"${{p#W:}}\" >> '{log}.part'\nmv '{log}.part' '{log}'\n",
                log = log.display()
            ),
        ),
        (
            "wslpath",
            "#!/bin/sh\n[ \"$1\" = -w ] && printf 'W:%s\\n' \"$2\"\n".to_string(),
        ),
    ];
    for (file, text) in scripts {
        let script = bin.path().join(file);
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (bin, log)
}

fn wait_for(path: &Path) -> String {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the opener was not run");
}

/// Starts a login with no hook (interactive), which prints the URL, runs
/// the opener, and times out; returns what the opener was given.
fn login_with_opener(name: &str, extra: &[(&str, Option<&str>)]) -> String {
    let server = JuliaHubServer::start();
    let depot = tempfile::tempdir().unwrap();
    let depot_str = depot.path().to_str().unwrap().to_string();
    let (bin, log) = fake_opener(name);
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let mut vars: Vec<(&str, Option<&str>)> = vec![
        ("JULIA_DEPOT_PATH", Some(&depot_str)),
        ("PATH", Some(&path)),
        ("DISPLAY", None),
        ("WAYLAND_DISPLAY", None),
        ("WSL_DISTRO_NAME", None),
        ("JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE", None),
    ];
    vars.extend_from_slice(extra);
    with_env(&vars, || {
        let mut o = Options::new();
        o.set("server", &server.url()).unwrap();
        o.set("interactive", "true").unwrap();
        o.set("maxcount", "1").unwrap();
        o.set("timeout_ms", "1500").unwrap();
        let err = authenticate(&o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        let opened = wait_for(&log);
        // The page holds the URL; the command line only the page.
        assert!(opened.contains(&server.url()), "{opened}");
        let argv = opened.lines().next().unwrap();
        assert!(!argv.contains(&server.url()), "{argv}");
        assert!(!argv.contains("user_code") && !argv.contains('?'), "{argv}");
        opened
    })
}

// 9. The opener runs without DISPLAY, and WSL opens the Windows browser.
#[test]
fn p9_xdg_open_runs_even_without_display() {
    let opened = login_with_opener("xdg-open", &[]);
    assert!(opened.starts_with("ARGV file:///"), "{opened}");
    assert!(opened.contains("user_code="), "{opened}");
}

#[test]
fn p9_wsl_opens_the_windows_browser() {
    let opened = login_with_opener("explorer.exe", &[("WSL_DISTRO_NAME", Some("Ubuntu"))]);
    // The page's Windows path, from wslpath.
    assert!(opened.starts_with("ARGV W:/"), "{opened}");
    assert!(opened.contains("user_code="), "{opened}");
}
