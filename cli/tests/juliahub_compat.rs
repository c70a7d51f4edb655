//! Where hubauth stranded a real JuliaHub user (issues 14 and 21): files,
//! servers and replies the originals (Pkg.jl, PkgAuthentication.jl,
//! JuliaHub.jl) accept. Each test names the point of the issue it covers
//! (`p<N>`: issue 14, `i21_<N>`: issue 21). The tests that need the process
//! environment are in juliahub_compat_env.rs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hubauth::{ErrorKind, HookAction, authenticate};
use hubauth_testkit::fixture::{BrowserHook, Fixture};

/// A hook that approves the login in the "browser" only after `delay`, so
/// the first polls see "pending".
fn slow_browser(options: &mut hubauth::Options, delay: Duration) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    options.set_hook(Some(Arc::new(move |url: &str| {
        counter.fetch_add(1, Ordering::SeqCst);
        let url = url.to_string();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = hubauth_testkit::http::get(&url);
        });
        HookAction::Continue
    })));
    calls
}

fn write_token(f: &Fixture, text: &str) {
    let path = f.token_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
}

// 1. A file without refresh fields (JuliaHub.jl authentication.jl:427-449).
#[test]
fn p1_unexpired_file_without_refresh_fields_is_used() {
    let f = Fixture::new();
    let text = f.server.issue_token_toml_without_refresh(3600);
    write_token(&f, &text);
    let id_token = f.stored_id_token();
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), id_token);
    assert_eq!(auth.username().as_deref(), Some("alice"));
    let stats = f.server.stats();
    assert_eq!(stats.refreshes + stats.refresh_rejections, 0);
    assert_eq!(stats.device_code_requests + stats.challenges, 0);
    assert_eq!(f.stored_text(), text, "the file is left as it was");
}

#[test]
fn p1_file_without_refresh_fields_is_used_inside_the_margin_until_it_expires() {
    let f = Fixture::new();
    // 100 s left: inside the 600 s margin, but it cannot be renewed.
    write_token(&f, &f.server.issue_token_toml_without_refresh(100));
    let id_token = f.stored_id_token();
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), id_token);
    // Expired and not renewable: a login is needed (none allowed here).
    let f = Fixture::new();
    write_token(&f, &f.server.issue_token_toml_without_refresh(-10));
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
}

// 2. A refresh URL on another (secure) host, stored or announced.
#[test]
fn p2_refresh_url_on_another_loopback_host_is_used() {
    let f = Fixture::new();
    let base = f
        .server
        .serve_refresh_on("127.0.0.2")
        .expect("binding 127.0.0.2 (Linux routes all of 127.0.0.0/8 to lo)");
    let stored = f.store_token(-30);
    assert!(
        stored.refresh_url.starts_with(&base),
        "{}",
        stored.refresh_url
    );
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(f.server.stats().refreshes, 1);
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
    assert!(
        f.stored_table()["refresh_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.2:")
    );
}

#[test]
fn p2_device_login_on_another_host_refreshes_later() {
    let f = Fixture::new();
    f.server.serve_refresh_on("127.0.0.2").unwrap();
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    authenticate(&options).unwrap();
    let refresh_url = f.stored_table()["refresh_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        refresh_url.starts_with("http://127.0.0.2:"),
        "{refresh_url}"
    );
    // Expire it in place: the next call refreshes on 127.0.0.2.
    let text = f.stored_text();
    let expired: String = text
        .lines()
        .map(|l| {
            if l.starts_with("expires") && !l.starts_with("expires_in") {
                let key = l.split('=').next().unwrap().trim();
                format!("{key} = 1000\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(f.token_path(), expired).unwrap();
    authenticate(&f.options()).unwrap();
    assert_eq!(f.server.stats().refreshes, 1);
}

// 5. Device polling: PkgAuthentication treats any 400/401 as pending.
fn plain_pending_login(status: u16) {
    let f = Fixture::new();
    f.server.configure(|c| c.plain_pending = Some(status));
    let mut options = f.options();
    let calls = slow_browser(&mut options, Duration::from_millis(2500));
    let auth = authenticate(&options).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one login, one code");
    let stats = f.server.stats();
    assert_eq!(stats.device_code_requests, 1);
    assert!(stats.device_token_polls >= 2, "{stats:?}");
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
}

#[test]
fn p5_plain_text_400_is_pending() {
    plain_pending_login(400);
}

#[test]
fn p5_plain_text_401_is_pending() {
    plain_pending_login(401);
}

#[test]
fn p5_denial_still_ends_the_login() {
    let f = Fixture::new();
    f.server.configure(|c| {
        c.plain_pending = Some(400);
        c.deny = true;
    });
    let mut options = f.options();
    options.set("maxcount", "1").unwrap();
    slow_browser(&mut options, Duration::from_millis(1500));
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("denied"), "{err}");
}

// 6. What a device login writes.
#[test]
fn p6_device_login_writes_expires_expires_at_and_refresh_url() {
    let f = Fixture::new();
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    authenticate(&options).unwrap();
    let table = f.stored_table();
    let expires = table["expires"]
        .as_integer()
        .expect("expires is an integer");
    let expires_at = table["expires_at"]
        .as_integer()
        .expect("expires_at is an integer");
    assert_eq!(expires, expires_at);
    assert!(expires > hubauth::token::unix_now() + 3000);
    assert_eq!(
        table["refresh_url"].as_str().unwrap(),
        format!("{}/auth/renew/token.toml/device/", f.server.url())
    );
    assert_eq!(table["user_name"].as_str(), Some("alice"));
}

// 7. /api/v1 as JuliaHub.jl reads it.
#[test]
fn p7_legacy_server_without_api_v1_uses_graphql_for_the_user() {
    let f = Fixture::new();
    f.store_token(3600);
    f.server.configure(|c| c.legacy_api = true);
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert!(auth.check().unwrap());
    let stats = f.server.stats();
    assert!(stats.graphql_calls >= 1, "{stats:?}");
    f.server.revoke_all();
    assert!(!auth.check().unwrap());
}

#[test]
fn p7_legacy_server_without_graphql_checks_with_nodespecs() {
    let f = Fixture::new();
    f.store_token(3600);
    f.server.configure(|c| {
        c.legacy_api = true;
        c.no_graphql = true;
    });
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"), "from the file");
    assert!(auth.check().unwrap());
    assert!(f.server.stats().nodespecs_calls >= 1);
    f.server.revoke_all();
    assert!(!auth.check().unwrap());
}

#[test]
fn p7_rejected_token_with_maxcount_1_is_an_error_and_the_file_stays() {
    let f = Fixture::new();
    f.store_token(3600);
    let before = f.stored_text();
    f.server.revoke_all();
    let hook = BrowserHook::default();
    let mut options = f.options();
    options.set("maxcount", "1").unwrap();
    hook.install(&mut options);
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert_eq!(hook.calls(), 0, "no new login with maxcount=1");
    assert_eq!(f.stored_text(), before, "the file is not moved aside");
}

#[test]
fn p7_api_v1_without_api_version_is_valid() {
    let f = Fixture::new();
    f.store_token(3600);
    f.server.configure(|c| c.api_version = false);
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert!(auth.check().unwrap());
}

// 8. JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE is parse(Bool, strip(v)).
#[test]
fn p8_allow_interactive_is_julias_parse_bool() {
    use hubauth::provider::juliahub::allow_interactive;
    assert!(allow_interactive(None));
    for yes in ["true", " true\n", "1"] {
        assert!(allow_interactive(Some(yes)), "{yes:?}");
    }
    for no in ["false", "0", "yes", "TRUE", "on", "", "maybe"] {
        assert!(!allow_interactive(Some(no)), "{no:?}");
    }
}

// 11. token_kind: the access_token for Pkg's server, the id_token for the API.
#[test]
fn p11_token_kind_access_hands_out_the_access_token() {
    let f = Fixture::new();
    let stored = f.store_token(3600);
    let mut options = f.options();
    options.set("token_kind", "access").unwrap();
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.token().unwrap().expose(), stored.access_token);
    let mut options = f.options();
    options.set("token_kind", "id").unwrap();
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.token().unwrap().expose(), stored.id_token);
    let err = f.options().set("token_kind", "refresh").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn p11_cli_and_git_credential_helper_take_token_kind() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let f = Fixture::new();
    let stored = f.store_token(3600);
    let run = |args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hubauth"))
            .args(args)
            .args(["--server", &f.server.url()])
            .args(["--token-path", f.token_path().to_str().unwrap()])
            .env_remove("JULIA_PKG_SERVER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let token = run(&["token", "--token-kind", "access"], "");
    assert_eq!(token.trim(), stored.access_token);
    let token = run(&["token"], "");
    assert_eq!(token.trim(), stored.id_token);
    let host = format!("127.0.0.1:{}", f.server.port());
    let request = format!("protocol=http\nhost={host}\n\n");
    let answer = run(
        &["git-credential", "get", "--token-kind", "access"],
        &request,
    );
    assert!(
        answer.contains(&format!("password={}\n", stored.access_token)),
        "{answer}"
    );
}

// 10. A pure read writes nothing (the read-only depot: juliahub_readonly.rs).
#[test]
fn p10_reading_a_file_with_user_name_creates_no_lock_file() {
    let f = Fixture::new();
    let stored = f.store_token(3600);
    let before = f.stored_text();
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), stored.id_token);
    assert!(!hubauth::store::fsutil::lock_path(&f.token_path()).exists());
    assert_eq!(f.stored_text(), before);
}

#[test]

fn p10_reading_a_file_without_user_name_creates_no_lock_file() {
    let f = Fixture::new();
    let t = f.server.issue_token(3600);
    let text = format!(
        "id_token = {:?}\nrefresh_token = {:?}\nrefresh_url = {:?}\nexpires = {}\n",
        t.id_token, t.refresh_token, t.refresh_url, t.expires_at
    );
    write_token(&f, &text);
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert!(!hubauth::store::fsutil::lock_path(&f.token_path()).exists());
    assert_eq!(f.stored_text(), text, "a read writes nothing");
}

/// Runs the CLI on `f`'s server and file (and depot, for `status`) with
/// `input` on stdin; returns (exit code, stdout, stderr).
fn run_cli(f: &Fixture, args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_hubauth"));
    command.args(args);
    if args[0] != "status" {
        command
            .args(["--server", &f.server.url()])
            .args(["--token-path", f.token_path().to_str().unwrap()]);
    }
    let mut child = command
        .env_remove("JULIA_PKG_SERVER")
        .env("JULIA_DEPOT_PATH", f.dir.path())
        .env("JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE", "false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn with_token_kind(mut options: hubauth::Options, kind: &str) -> hubauth::Options {
    options.set("token_kind", kind).unwrap();
    options
}

// Issue 21, 1. A refresh reply without id_token (PkgAuthentication.jl:394-396
// accepts an access_token alone) is saved: the rotated refresh token is kept.
#[test]
fn i21_1_refresh_reply_without_id_token_is_saved_then_a_login_is_needed() {
    let f = Fixture::new();
    let stored = f.store_token(-30);
    f.server
        .configure(|c| c.refresh_omits = vec!["id_token".into()]);
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert_eq!(f.server.stats().refreshes, 1);
    let table = f.stored_table();
    let rotated = table["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, stored.refresh_token, "the rotated token was saved");
    assert!(table.get("id_token").is_none(), "{table:?}");
    let access = table["access_token"].as_str().unwrap().to_string();
    assert_ne!(access, stored.access_token);
    // Later calls present no refresh token again: a login is needed.
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    // What Pkg uses works from the saved reply, without another refresh.
    let auth = authenticate(&with_token_kind(f.options(), "access")).unwrap();
    assert_eq!(auth.token().unwrap().expose(), access);
    // A login brings an id_token back.
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
    let stats = f.server.stats();
    assert_eq!(
        stats.refreshes, 1,
        "the spent refresh token was never sent again"
    );
    assert_eq!(stats.refresh_rejections + stats.refresh_reuse_detected, 0);
    assert_eq!(stats.device_tokens_issued, 1);
}

// Issue 21, 2. token_kind=access takes what Pkg takes: an access_token alone
// (Pkg.jl src/PlatformEngines.jl:155-174), no id_token, no expiry.
#[test]
fn i21_2_access_token_alone_serves_token_git_credential_and_status() {
    let f = Fixture::new();
    let issued = f.server.issue_token(3600);
    write_token(&f, &format!("access_token = {:?}\n", issued.access_token));
    let (code, out, err) = run_cli(&f, &["token", "--token-kind", "access"], "");
    assert_eq!(
        (code, out.trim()),
        (0, issued.access_token.as_str()),
        "{err}"
    );
    let host = format!("127.0.0.1:{}", f.server.port());
    let (code, out, err) = run_cli(
        &f,
        &["git-credential", "get", "--token-kind", "access"],
        &format!("protocol=http\nhost={host}\n\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("password={}\n", issued.access_token)),
        "{out}"
    );
    let (code, out, err) = run_cli(&f, &["status"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("incomplete"), "{out}");
    let stats = f.server.stats();
    assert_eq!(stats.refreshes + stats.device_code_requests, 0);
}

#[test]
fn i21_2_access_token_without_id_token_is_not_refreshed_while_fresh() {
    let f = Fixture::new();
    let issued = f.server.issue_token(3600);
    write_token(
        &f,
        &format!(
            "access_token = {:?}\nexpires_at = {}\nrefresh_token = {:?}\nrefresh_url = {:?}\n",
            issued.access_token, issued.expires_at, issued.refresh_token, issued.refresh_url
        ),
    );
    for _ in 0..3 {
        let auth = authenticate(&with_token_kind(f.options(), "access")).unwrap();
        assert_eq!(auth.token().unwrap().expose(), issued.access_token);
    }
    assert_eq!(f.server.stats().refreshes, 0);
}

// Issue 21, 3. A refresh never adopts another user's token: JuliaHub.jl's
// reauthenticate! refuses it (src/authentication.jl:612, 631-637).
#[test]
fn i21_3_refresh_never_switches_to_another_users_token() {
    let f = Fixture::new();
    // alice's token, 100 s left and not renewable: every token() refreshes.
    write_token(&f, &f.server.issue_token_toml_without_refresh(100));
    let alice = f.stored_id_token();
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    // Someone logs in as bob on the same depot.
    let bob = f.server.issue_token_for("bob", 3600);
    write_token(&f, &bob.to_toml());
    assert_eq!(auth.token().unwrap().expose(), alice);
    assert_eq!(
        auth.authorization().unwrap().expose(),
        format!("Bearer {alice}")
    );
    assert_eq!(auth.username().as_deref(), Some("alice"));
    // A file without user_name: /api/v1 names bob, and he is refused too.
    let bob = f.server.issue_token_for("bob", 3600);
    write_token(
        &f,
        &format!(
            "id_token = {:?}\nexpires_at = {}\n",
            bob.id_token, bob.expires_at
        ),
    );
    assert_eq!(auth.token().unwrap().expose(), alice);
    assert_eq!(auth.username().as_deref(), Some("alice"));
}

// Issue 21, 5. URLs the server or the file hand over never block a login.
#[test]
fn i21_5_unusable_device_token_refresh_url_does_not_block_the_login() {
    for url in [
        "",
        "/auth/renew/token.toml/device/",
        "http://example.com/auth/renew/token.toml/device/",
    ] {
        let f = Fixture::new();
        let announced = url.to_string();
        f.server
            .configure(|c| c.device_refresh_url = Some(announced));
        let hook = BrowserHook::default();
        let mut options = f.options();
        hook.install(&mut options);
        let auth = authenticate(&options).unwrap_or_else(|e| panic!("{url:?}: {e}"));
        assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
        assert_eq!(f.server.stats().device_tokens_issued, 1, "{url:?}");
        assert!(
            f.stored_table().get("refresh_url").is_none(),
            "{url:?}: a URL no refresh token may go to is not stored"
        );
    }
}

#[test]
fn i21_5_expired_file_with_unusable_refresh_url_falls_back_to_a_login() {
    for url in [
        "",
        "relative/path",
        "http://example.com/auth/renew/token.toml/v2/",
    ] {
        let f = Fixture::new();
        let mut table: toml::Table = f.server.issue_token_toml(-30).parse().unwrap();
        table.insert("refresh_url".into(), toml::Value::String(url.into()));
        write_token(&f, &toml::to_string(&table).unwrap());
        let hook = BrowserHook::default();
        let mut options = f.options();
        hook.install(&mut options);
        let auth = authenticate(&options).unwrap_or_else(|e| panic!("{url:?}: {e}"));
        assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
        let stats = f.server.stats();
        assert_eq!(stats.refreshes, 0, "{url:?}");
        assert_eq!(stats.device_tokens_issued, 1, "{url:?}");
    }
}

#[test]
fn i21_5_a_refresh_replys_refresh_url_replaces_the_stored_one() {
    let f = Fixture::new();
    f.store_token(-30);
    f.server
        .configure(|c| c.refresh_moves_to = Some("/auth/renew/token.toml/v3/".into()));
    authenticate(&f.options()).unwrap();
    let mut table = f.stored_table();
    assert_eq!(
        table["refresh_url"].as_str().unwrap(),
        format!("{}/auth/renew/token.toml/v3/", f.server.url())
    );
    // The next refresh goes to the new endpoint; the old one is retired.
    table.insert("expires_at".into(), toml::Value::Integer(1));
    write_token(&f, &toml::to_string(&table).unwrap());
    authenticate(&f.options()).unwrap();
    let stats = f.server.stats();
    assert_eq!(stats.refreshes, 2);
    assert_eq!(stats.refresh_rejections, 0);
}

#[test]
fn i21_5_expiry_is_this_machines_clock_plus_expires_in() {
    let f = Fixture::new();
    f.store_token(-30);
    // The server's clock is 2 h behind: its expires_at is an hour ago.
    f.server.configure(|c| c.expires_at_skew_s = -7200);
    let before = hubauth::token::unix_now();
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
    let expires_at = f.stored_table()["expires_at"].as_integer().unwrap();
    assert!(
        (before + 3600..=hubauth::token::unix_now() + 3600).contains(&expires_at),
        "{expires_at}"
    );
}

#[test]
fn i21_5_a_token_expired_on_arrival_is_blamed_on_the_clock() {
    let f = Fixture::new();
    f.store_token(-30);
    // No expires_in to count from: only the server's (2 h behind) expires_at.
    f.server.configure(|c| {
        c.expires_at_skew_s = -7200;
        c.refresh_omits = vec!["expires_in".into()];
    });
    let err = authenticate(&f.options()).unwrap_err();
    assert!(err.message().contains("clock"), "{err}");
    assert!(!err.message().contains("min_valid_s"), "{err}");
}

// Issue 21, 4. TLS as Julia does it: Downloads.jl skips verification for the
// hosts NetworkOptions' verify_host names (Curl/Easy.jl:109,
// verify_host.jl:55-70), and curl trusts a self-signed server certificate
// given as the CA file.

/// A self-signed certificate for 127.0.0.1 with `CA:TRUE`, as
/// `openssl req -x509` makes one; returns (cert.pem, key.pem).
fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// `hubauth token --validate` for `url` and `f`'s file, in a child with only
/// `env` of the TLS variables; returns (exit code, stdout, stderr).
fn token_over_tls(
    f: &Fixture,
    url: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hubauth"));
    command
        .args(["--server", url])
        .args(["--token-path", f.token_path().to_str().unwrap()])
        .args(["-o", "validate=true", "-o", "interactive=false"])
        .args(extra)
        .arg("token");
    for name in [
        "JULIA_PKG_SERVER",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "JULIA_SSL_CA_ROOTS_PATH",
        "JULIA_NO_VERIFY_HOSTS",
        "JULIA_SSL_NO_VERIFY_HOSTS",
        "JULIA_ALWAYS_VERIFY_HOSTS",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn i21_4_self_signed_server_certificate_and_no_verify_hosts() {
    let f = Fixture::new();
    let stored = f.store_token(3600);
    let pki = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(pki.path(), "server");
    let (other, _) = self_signed(pki.path(), "other");
    let url = f
        .server
        .serve_tls(
            &std::fs::read(&cert).unwrap(),
            &std::fs::read(&key).unwrap(),
        )
        .unwrap();
    let cert = cert.to_str().unwrap();
    let works = |(code, out, err): (i32, String, String)| {
        assert_eq!((code, out.trim()), (0, stored.id_token.as_str()), "{err}");
        err
    };
    let refused = |(code, out, err): (i32, String, String)| {
        assert_ne!(code, 0, "{out}");
        assert!(err.contains("certificate"), "{err}");
    };
    // Not configured: refused.
    refused(token_over_tls(&f, &url, &[], &[]));
    // The server's own certificate as the roots Julia reads, or as ca_file.
    works(token_over_tls(
        &f,
        &url,
        &[],
        &[("JULIA_SSL_CA_ROOTS_PATH", cert)],
    ));
    works(token_over_tls(
        &f,
        &url,
        &["-o", &format!("ca_file={cert}")],
        &[],
    ));
    // Another self-signed certificate is no trust in this one.
    let other = other.to_str().unwrap();
    refused(token_over_tls(
        &f,
        &url,
        &[],
        &[("JULIA_SSL_CA_ROOTS_PATH", other)],
    ));
    // Hosts Julia is told not to verify: not verified, with a warning.
    let err = works(token_over_tls(
        &f,
        &url,
        &[],
        &[("JULIA_SSL_NO_VERIFY_HOSTS", "127.0.0.1")],
    ));
    assert!(
        err.contains("not verifying the TLS certificate of 127.0.0.1"),
        "{err}"
    );
    works(token_over_tls(
        &f,
        &url,
        &[],
        &[("JULIA_NO_VERIFY_HOSTS", "example.com, **")],
    ));
    refused(token_over_tls(
        &f,
        &url,
        &[],
        &[("JULIA_SSL_NO_VERIFY_HOSTS", "127.0.0.2")],
    ));
    refused(token_over_tls(
        &f,
        &url,
        &[],
        &[
            ("JULIA_SSL_NO_VERIFY_HOSTS", "127.0.0.1"),
            ("JULIA_ALWAYS_VERIFY_HOSTS", "127.0.0.1"),
        ],
    ));
    assert_eq!(
        f.server.stats().api_v1_calls,
        4,
        "each accepted handshake asked /api/v1"
    );
}
