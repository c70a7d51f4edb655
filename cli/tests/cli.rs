//! The `hubauth` command-line tool, run as a child process against the
//! in-process JuliaHub test server. Every child gets its own HOME, depot and
//! XDG directories (and no inherited environment), so nothing here touches the
//! real ~/.julia, ~/.config or ~/.cache.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hubauth_testkit::{CaveServer, DagsHubServer, Flow, JuliaHubServer, JuliaHubToken};
use serde_json::Value;

mod support;

use support::cli::Home;

/// Pkg's files in the home.
impl Home {
    /// Stores a token as Pkg would (0600).
    fn store(&self, s: &JuliaHubServer, token: &JuliaHubToken) {
        self.store_text(s, &token.to_toml());
    }

    fn store_text(&self, s: &JuliaHubServer, text: &str) {
        let path = self.auth_toml(s);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn stored_id_token(&self, s: &JuliaHubServer) -> String {
        let text = std::fs::read_to_string(self.auth_toml(s)).unwrap();
        let table: toml::Table = text.parse().unwrap();
        table["id_token"].as_str().unwrap().to_string()
    }
}

fn classic_server() -> JuliaHubServer {
    let s = JuliaHubServer::start();
    s.configure(|c| {
        c.flow = Flow::Classic;
        c.auto_approve = true;
    });
    s
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn help_lists_exit_codes_and_bad_usage_exits_2() {
    let home = Home::new();
    let run = home.run(&["--help"]).expect(0);
    assert!(run.stdout.contains("Exit codes:"), "{}", run.stdout);
    for command in [
        "login",
        "status",
        "token",
        "logout",
        "refresh",
        "save-token",
    ] {
        let run = home.run(&[command, "--help"]).expect(0);
        assert!(run.stdout.contains("130"), "{command}: {}", run.stdout);
    }
    let run = home.run(&["git-credential", "--help"]).expect(0);
    assert!(run.stdout.contains("credential.https://"), "{}", run.stdout);
    home.run(&[
        "token",
        "-o",
        "no_such_option=1",
        "--server",
        "http://127.0.0.1:9",
    ])
    .expect(2);
    home.run(&["no-such-command"]).expect(2);
    home.run(&["token", "-o", "missing-equals"]).expect(2);
}

#[test]
fn login_classic_writes_0600_and_shows_the_url() {
    let home = Home::new();
    let s = classic_server();
    let url = s.url();
    let run = home
        .run(&[
            "login",
            "--no-browser",
            "--server",
            &url,
            "-o",
            "poll_interval_ms=100",
        ])
        .expect(0);
    assert!(
        run.stderr.contains(&format!("{url}/auth/response?")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("Logged in to {url} as alice")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    let path = home.auth_toml(&s);
    assert_eq!(mode(&path), 0o600);
    let id_token = home.stored_id_token(&s);
    assert!(!run.stderr.contains(&id_token));
    assert_eq!(s.stats().challenges, 1);

    // A usable token is kept unless --force.
    let run = home
        .run(&["login", "--no-browser", "--server", &url])
        .expect(0);
    assert!(run.stderr.contains("still good"), "{}", run.stderr);
    assert_eq!(s.stats().challenges, 1);
    home.run(&[
        "login",
        "--no-browser",
        "--force",
        "--server",
        &url,
        "-o",
        "poll_interval_ms=100",
    ])
    .expect(0);
    assert_eq!(s.stats().challenges, 2);
    assert_ne!(home.stored_id_token(&s), id_token);
}

#[test]
fn login_device_flow_shows_url_and_code() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    s.configure(|c| {
        c.auto_approve = true;
        c.device_interval_s = 0;
    });
    let url = s.url();
    let run = home
        .run_with(
            &["login", "--no-browser", "-o", "poll_interval_ms=100"],
            None,
            &[("JULIA_PKG_SERVER", &url)],
        )
        .expect(0);
    assert!(
        run.stderr
            .contains(&format!("{url}/auth/device?user_code=")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("it should show the code"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Logged in to"), "{}", run.stderr);
    assert_eq!(mode(&home.auth_toml(&s)), 0o600);
    assert_eq!(s.stats().device_tokens_issued, 1);
}

#[test]
fn a_login_token_expires_in_after_it_arrived_not_after_the_login_began() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    // The device reply holds only expires_in; the first poll, 2 s in, gets it.
    s.configure(|c| {
        c.auto_approve = true;
        c.device_interval_s = 2;
    });
    home.run(&["login", "--no-browser", "--server", &s.url()])
        .expect(0);
    let arrived = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let text = std::fs::read_to_string(home.auth_toml(&s)).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let expires_at = table["expires_at"].as_integer().unwrap();
    // From when the login began it would be 2 s earlier (or more).
    assert!(
        (arrived + 3600 - 1..=arrived + 3600).contains(&expires_at),
        "expires_at {expires_at}, token arrived by {arrived}"
    );
}

#[test]
fn ctrl_c_cancels_a_login_with_130_and_writes_nothing() {
    let home = Home::new();
    let s = JuliaHubServer::start(); // device flow, nobody approves
    let mut child = home
        .command(&["login", "--no-browser", "--server", &s.url()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no URL shown: {seen}"
        );
        seen.push_str(&line);
        if line.contains("/auth/device?user_code=") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("hubauth login still runs 5 s after SIGINT: {seen}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = signalled.elapsed();
    eprintln!("hubauth login exited {took:?} after SIGINT");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    // Through the library's cancel: its wait (the poll's sleep or request)
    // ended with Cancelled, the CLI did not just exit.
    assert!(
        rest.lines()
            .any(|l| l.starts_with("hubauth: ") && l.ends_with(": cancelled") && l.len() > 20),
        "{rest}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(s.stats().device_tokens_issued, 0);
    assert!(!home.auth_toml(&s).exists());
    let dir = home.auth_toml(&s).parent().unwrap().to_path_buf();
    if dir.exists() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(!name.contains(".tmp."), "left behind: {name}");
        }
    }
}

#[test]
fn status_lists_credentials_without_network() {
    let home = Home::new();
    let s = JuliaHubServer::start();

    let run = home.run(&["status"]).expect(1);
    assert!(run.stderr.contains("hubauth login"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let run = home.run(&["status", "--json"]).expect(1);
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).unwrap(),
        Value::Array(vec![])
    );

    let token = s.issue_token(3590);
    home.store(&s, &token);
    s.reset_stats();
    let run = home.run(&["status"]).expect(0);
    run.hides(&token);
    let table = &run.stdout;
    assert!(table.starts_with("PROVIDER"), "{table}");
    for expected in ["juliahub", &s.url(), "alice", "in 59m", "yes"] {
        assert!(table.contains(expected), "{expected:?} missing in\n{table}");
    }
    assert!(
        table.contains(&home.auth_toml(&s).display().to_string()),
        "{table}"
    );

    let run = home.run(&["status", "--json"]).expect(0);
    run.hides(&token);
    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    let entry = &list[0];
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(entry["provider"], "juliahub");
    assert_eq!(entry["server"], s.url());
    assert_eq!(entry["user"], "alice");
    assert_eq!(entry["source"], home.auth_toml(&s).display().to_string());
    assert_eq!(entry["expires_at"], token.expires_at);
    assert_eq!(entry["refreshable"], true);
    assert_eq!(entry["usable"], true);
    assert_eq!(entry["problem"], Value::Null);
    let stats = s.stats();
    assert_eq!(
        stats.api_v1_calls + stats.refreshes + stats.configuration_requests,
        0
    );

    // Expired but refreshable: still usable.
    let expired = s.issue_token(-3 * 3600);
    home.store(&s, &expired);
    let run = home.run(&["status"]).expect(0);
    assert!(run.stdout.contains("expired 3h ago"), "{}", run.stdout);

    // --check asks the server: revoked and not refreshable → not usable.
    s.revoke_all();
    s.configure(|c| c.refresh_fails = true);
    let run = home.run(&["status", "--json", "--check"]).expect(1);
    run.hides(&expired);
    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list[0]["usable"], false);
    assert!(list[0]["problem"].is_string(), "{list}");

    // An incomplete file is not usable, even without --check.
    home.store_text(&s, "id_token = \"x\"\n");
    let run = home.run(&["status"]).expect(1);
    assert!(run.stdout.contains("incomplete token"), "{}", run.stdout);
    home.store(&s, &s.issue_token(3600));

    // JULIA_PKG_SERVER naming a server without a token shows up as a problem;
    // --server narrows the list.
    let other = "http://127.0.0.1:9";
    let env = [("JULIA_PKG_SERVER", other)];
    let run = home.run_with(&["status", "--json"], None, &env).expect(1);
    let list: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[1]["source"], "JULIA_PKG_SERVER");
    assert_eq!(list[1]["usable"], false);
    home.run_with(&["status", "--server", &s.url()], None, &env)
        .expect(0);
}

#[test]
fn token_prints_only_the_id_token_and_does_no_network_io() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    home.store(&s, &token);
    s.reset_stats();
    let run = home.run(&["token", "--server", &s.url()]).expect(0);
    assert_eq!(run.stdout, format!("{}\n", token.id_token));
    assert_eq!(run.stderr, "");
    let run = home
        .run_with(&["token"], None, &[("JULIA_PKG_SERVER", &s.url())])
        .expect(0);
    assert_eq!(run.stdout, format!("{}\n", token.id_token));
    let stats = s.stats();
    assert_eq!(
        stats.api_v1_calls + stats.refreshes + stats.configuration_requests,
        0
    );

    // --validate asks the server.
    home.run(&["token", "--validate", "--server", &s.url()])
        .expect(0);
    assert_eq!(s.stats().api_v1_calls, 1);
}

#[test]
fn token_min_valid_renews_first_or_fails_clearly() {
    let home = Home::new();
    let s = JuliaHubServer::start(); // its tokens last 3600 s
    let token = s.issue_token(900);
    home.store(&s, &token);
    // The stored token lasts long enough: it, with no refresh.
    let run = home
        .run(&["token", "--min-valid", "600", "--server", &s.url()])
        .expect(0);
    assert_eq!(run.stdout, format!("{}\n", token.id_token));
    assert_eq!(s.stats().refreshes, 0);
    // It does not: renewed first.
    let run = home
        .run(&["token", "--min-valid", "1800", "--server", &s.url()])
        .expect(0);
    let fresh = home.stored_id_token(&s);
    assert_ne!(fresh, token.id_token);
    assert_eq!(run.stdout, format!("{fresh}\n"));
    assert_eq!(s.stats().refreshes, 1);
    // Longer than any token of this server lasts: exit 2, a clear message.
    let run = home
        .run(&["token", "--min-valid", "7200", "--server", &s.url()])
        .expect(2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("`--min-valid 7200` cannot be met")
            && run.stderr.contains("issues tokens that last 3"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&fresh));
    // The option's own check of the value.
    let run = home
        .run(&["token", "--min-valid", "soon", "--server", &s.url()])
        .expect(2);
    assert!(
        run.stderr
            .contains("option `--min-valid` takes a whole number"),
        "{}",
        run.stderr
    );
}

#[test]
fn token_json_has_exactly_the_four_keys() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    home.store(&s, &token);
    let run = home
        .run(&["token", "--json", "--server", &s.url()])
        .expect(0);
    assert_eq!(run.stderr, "");
    assert!(run.stdout.ends_with("}\n"), "{}", run.stdout);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, ["expires_at", "server", "token", "username"]);
    assert_eq!(v["token"], token.id_token.as_str());
    assert_eq!(v["expires_at"], token.expires_at);
    assert_eq!(v["server"], s.url().as_str());
    assert_eq!(v["username"], "alice");
}

#[test]
fn token_refreshes_an_expired_token() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let old = s.issue_token(-60);
    home.store(&s, &old);
    let run = home.run(&["token", "--server", &s.url()]).expect(0);
    let fresh = home.stored_id_token(&s);
    assert_ne!(fresh, old.id_token);
    assert_eq!(run.stdout, format!("{fresh}\n"));
    assert_eq!(s.stats().refreshes, 1);
}

#[test]
fn token_without_credentials_exits_3() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let run = home.run(&["token", "--server", &s.url()]).expect(3);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("hubauth login"), "{}", run.stderr);
    assert_eq!(s.stats().device_code_requests + s.stats().challenges, 0);
    // Refused refresh and nothing else: still 3, never a login.
    home.store(&s, &s.issue_token(-60));
    s.configure(|c| c.refresh_fails = true);
    home.run(&["token", "--server", &s.url()]).expect(3);
    assert_eq!(s.stats().device_code_requests + s.stats().challenges, 0);
}

#[test]
fn logout_removes_the_token_file() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    home.store(&s, &s.issue_token(3600));
    let run = home.run(&["logout", "--server", &s.url()]).expect(0);
    assert!(
        run.stderr.contains(&format!("Logged out of {}", s.url())),
        "{}",
        run.stderr
    );
    assert!(!home.auth_toml(&s).exists());
    home.run(&["token", "--server", &s.url()]).expect(3);
}

#[test]
fn save_token_reads_stdin() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    let run = home
        .run_with(
            &["save-token", "--server", &s.url()],
            Some(&token.to_toml()),
            &[],
        )
        .expect(0);
    run.hides(&token);
    assert_eq!(mode(&home.auth_toml(&s)), 0o600);
    assert_eq!(home.stored_id_token(&s), token.id_token);
    let run = home.run(&["token", "--server", &s.url()]).expect(0);
    assert_eq!(run.stdout, format!("{}\n", token.id_token));

    home.run_with(&["save-token", "--server", &s.url()], Some("\n"), &[])
        .expect(2);
    let run = home
        .run_with(
            &["save-token", "--server", &s.url()],
            Some("not toml ="),
            &[],
        )
        .expect(2);
    assert!(run.stderr.contains("auth.toml"), "{}", run.stderr);
    assert_eq!(home.stored_id_token(&s), token.id_token);
}

#[test]
fn git_credential_answers_only_for_the_server() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    home.store(&s, &token);
    let host = s.url().trim_start_matches("http://").to_string();
    let ask = format!("protocol=http\nhost={host}\npath=org/repo.git\n\n");

    let run = home
        .run_with(
            &["git-credential", "--server", &s.url(), "get"],
            Some(&ask),
            &[],
        )
        .expect(0);
    // password_expiry_utc (git >= 2.40) lets git drop the token when it expires.
    let answer = format!(
        "username=alice\npassword={}\npassword_expiry_utc={}\n",
        token.id_token, token.expires_at
    );
    assert_eq!(run.stdout, answer);
    assert_eq!(run.stderr, "");
    let run = home
        .run_with(
            &["git-credential", "get"],
            Some(&ask),
            &[("JULIA_PKG_SERVER", &s.url())],
        )
        .expect(0);
    assert_eq!(run.stdout, answer);

    // Another host, another scheme, another user, no server: nothing.
    for other in [
        "protocol=https\nhost=example.com\n\n".to_string(),
        format!("protocol=https\nhost={host}\n\n"),
        format!("protocol=http\nhost={host}\nusername=bob\n\n"),
    ] {
        let run = home
            .run_with(
                &["git-credential", "--server", &s.url(), "get"],
                Some(&other),
                &[],
            )
            .expect(0);
        assert_eq!(run.stdout, "", "{other}");
    }
    let run = home
        .run_with(&["git-credential", "get"], Some(&ask), &[])
        .expect(0);
    assert_eq!(run.stdout, "");

    // store / erase / unknown operations: ignored.
    for op in ["store", "erase", "capability"] {
        let input = format!("{ask}password=whatever\n");
        let run = home
            .run_with(
                &["git-credential", "--server", &s.url(), op],
                Some(&input),
                &[],
            )
            .expect(0);
        assert_eq!(run.stdout, "");
    }
    assert_eq!(home.stored_id_token(&s), token.id_token);

    // A matching host without a token: nothing on stdout, a hint on stderr.
    std::fs::remove_file(home.auth_toml(&s)).unwrap();
    let run = home
        .run_with(
            &["git-credential", "--server", &s.url(), "get"],
            Some(&ask),
            &[],
        )
        .expect(0);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("hubauth login"), "{}", run.stderr);
}

#[test]
fn refresh_renews_a_due_token_and_prints_the_expiry() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    s.configure(|c| c.token_ttl_s = 3590);
    let old = s.issue_token(-60);
    home.store(&s, &old);
    let run = home
        .run(&["refresh", "--no-browser", "--server", &s.url()])
        .expect(0);
    run.hides(&old);
    assert!(run.stderr.contains("expires in 59m"), "{}", run.stderr);
    assert!(run.stderr.contains("as alice"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let renewed = home.stored_id_token(&s);
    assert_ne!(renewed, old.id_token);
    assert_eq!(s.stats().refreshes, 1);

    // A fresh token is kept (no refresh, no login).
    home.run(&["refresh", "--no-browser", "--server", &s.url()])
        .expect(0);
    assert_eq!(s.stats().refreshes, 1);
    assert_eq!(home.stored_id_token(&s), renewed);

    // --force logs in again.
    s.configure(|c| {
        c.flow = Flow::Classic;
        c.auto_approve = true;
    });
    home.run(&[
        "refresh",
        "--force",
        "--no-browser",
        "--server",
        &s.url(),
        "-o",
        "poll_interval_ms=100",
    ])
    .expect(0);
    assert_eq!(s.stats().challenges, 1);
    assert_ne!(home.stored_id_token(&s), renewed);
}

#[test]
fn status_lists_every_provider_from_its_default_location() {
    let home = Home::new();
    // dagshub: the literal cache of the real client, at $XDG_CACHE_HOME/dagshub/tokens
    let cache = home.dir.path().join("cache/dagshub/tokens");
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/dagshub/tokens"
        ),
        &cache,
    )
    .unwrap();
    // cave: a default and a per-server file in ~/.cloudvolume/secrets
    let secrets = home.home().join(".cloudvolume/secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(
        secrets.join("cave-secret.json"),
        r#"{"token": "ffff456789abcdef0123456789abcdef"}"#,
    )
    .unwrap();
    std::fs::write(
        secrets.join("localhost:8080-cave-secret.json"),
        r#"{"other": "x"}"#,
    )
    .unwrap();
    // oidc: an expired token with a refresh token
    let oidc = home
        .dir
        .path()
        .join("config/hubauth/oidc/idp.example/cli.toml");
    std::fs::create_dir_all(oidc.parent().unwrap()).unwrap();
    std::fs::write(
        &oidc,
        "access_token = \"oidc-access-secret\"\nrefresh_token = \"oidc-refresh-secret\"\n\
         expires_at = 1\nissuer = \"https://idp.example\"\nclient_id = \"cli\"\nusername = \"bob\"\n",
    )
    .unwrap();

    let run = home.run(&["status", "--json"]).expect(1); // the cave per-server file has no token
    for secret in [
        "oidc-access-secret",
        "oidc-refresh-secret",
        "ffff4567",
        "app-token-123",
    ] {
        assert!(!run.stdout.contains(secret), "{secret} leaked");
    }
    let list: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    let find = |provider: &str, server: &str| {
        list.iter()
            .find(|e| e["provider"] == provider && e["server"] == server)
            .unwrap_or_else(|| panic!("no {provider} entry for {server} in {list:?}"))
    };
    assert_eq!(find("dagshub", "https://dagshub.com")["usable"], true);
    assert_eq!(
        find("dagshub", "https://my.dagshub.example")["usable"],
        true
    );
    assert_eq!(find("cave", "https://global.daf-apis.com")["usable"], true);
    assert_eq!(find("cave", "https://localhost:8080")["usable"], false);
    let o = find("oidc", "https://idp.example");
    assert_eq!(o["usable"], true, "expired but refreshable");
    assert_eq!(o["refreshable"], true);
    assert_eq!(o["user"], "bob");
}

#[test]
fn a_token_file_others_can_read_is_used_with_a_warning() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    home.store(&s, &token);
    std::fs::set_permissions(home.auth_toml(&s), std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = home.run(&["token", "--server", &s.url()]).expect(0);
    assert_eq!(run.stdout, format!("{}\n", token.id_token));
    assert!(
        run.stderr.contains("can be read by other users (mode 644)")
            && run.stderr.contains("chmod 600"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(&token.id_token));
    assert!(!run.stderr.contains(&token.refresh_token));
    // HUBAUTH_LOG=off silences warnings.
    let run = home
        .run_with(
            &["token", "--server", &s.url()],
            None,
            &[("HUBAUTH_LOG", "off")],
        )
        .expect(0);
    assert_eq!(run.stderr, "");
}

/// A CAVE server file names host and port, not the scheme: `status --check`
/// checked an http CAVE server over https and failed. The scheme comes from
/// `--server` or from the datastack map.
#[test]
fn status_checks_an_http_cave_server() {
    let home = Home::new();
    let cave = CaveServer::start();
    let token = cave.issue_token();
    let secrets = home.home().join(".cloudvolume/secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let file = secrets.join(cave.server_file_name());
    std::fs::write(&file, format!(r#"{{"token": "{token}"}}"#)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = home
        .run(&[
            "status",
            "--json",
            "--check",
            "--provider",
            "cave",
            "--server",
            &cave.url(),
        ])
        .expect(0);
    let list: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["server"], cave.url().as_str());
    assert_eq!(list[0]["usable"], true, "{list:?}");
    assert!(!run.stdout.contains(&token));

    std::fs::write(
        secrets.join("cave_datastack_to_server_map.json"),
        format!(r#"{{"my_stack": "{}"}}"#, cave.url()),
    )
    .unwrap();
    let run = home
        .run(&["status", "--json", "--check", "--provider", "cave"])
        .expect(0);
    let list: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list[0]["server"], cave.url().as_str(), "{list:?}");
    assert_eq!(list[0]["usable"], true, "{list:?}");
}

/// A dagshub token cache whose first token is an app token the server has
/// revoked, before a good OAuth token: (cache, revoked, good).
fn dagshub_cache_revoked_first(home: &Home, s: &DagsHubServer) -> (PathBuf, String, String) {
    let revoked = s.issue_app_token();
    let good = s.issue_bearer(3600);
    assert!(s.revoke(&revoked));
    let cache = home.dir.path().join("dagshub-tokens");
    std::fs::write(
        &cache,
        format!(
            "{url}:\n- access_token: '{revoked}'\n  expiry: never\n  token_type: app-token\n\
             - access_token: '{}'\n  expiry: '{}'\n  token_type: bearer\nversion: '1'\n",
            good.access_token,
            good.expiry,
            url = s.url()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    (cache, revoked, good.access_token)
}

/// tokens.py:136-175: the real get_token() checks each cached token and drops
/// the ones the server rejects. `hubauth token --provider dagshub` printed a
/// revoked app token (listed before a good OAuth token) with exit 0; now it
/// asks the server once per run, drops the revoked token and prints the good
/// one.
#[test]
fn token_for_dagshub_never_prints_a_token_the_server_rejected() {
    let home = Home::new();
    let s = DagsHubServer::start();
    let (cache, revoked, good) = dagshub_cache_revoked_first(&home, &s);
    let args = [
        "token",
        "--provider",
        "dagshub",
        "--server",
        &s.url(),
        "--token-path",
        cache.to_str().unwrap(),
    ];
    let run = home.run(&args).expect(0);
    assert_eq!(run.stdout, format!("{good}\n"));
    assert!(!run.stderr.contains(&revoked));
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(
        !text.contains(&revoked),
        "the rejected token left the cache"
    );
    assert!(text.contains(&good));
    // Once per run: the second run asks about the good token only.
    s.reset_stats();
    home.run(&args).expect(0);
    assert_eq!(s.stats().user_calls, 1);
}

/// git-credential hands tokens out as `token` does: for dagshub it asks the
/// server first, so git never gets the revoked app token listed first (it
/// did, with validate=false of its own), and the name git sends is the user's.
#[test]
fn git_credential_for_dagshub_never_gives_a_token_the_server_rejected() {
    let home = Home::new();
    let s = DagsHubServer::start();
    let (cache, revoked, good) = dagshub_cache_revoked_first(&home, &s);
    let host = s.url().trim_start_matches("http://").to_string();
    let ask = format!("protocol=http\nhost={host}\npath=user/repo.git\n\n");
    let run = home
        .run_with(
            &[
                "git-credential",
                "--provider",
                "dagshub",
                "--server",
                &s.url(),
                "--token-path",
                cache.to_str().unwrap(),
                "get",
            ],
            Some(&ask),
            &[],
        )
        .expect(0);
    assert!(
        run.stdout.contains(&format!("\npassword={good}\n")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(&revoked) && !run.stderr.contains(&revoked));
    assert!(!std::fs::read_to_string(&cache).unwrap().contains(&revoked));
}

/// DHCore in a cluster: `DHCORE_ENDPOINT=http://<release>-core:<port>`. The
/// SDK accepts it, so hubauth does, warning once per origin per process that
/// the token travels unencrypted.
#[test]
fn a_configured_http_endpoint_is_used_with_one_warning() {
    let home = Home::new();
    let run = home
        .run_with(
            &["token", "--provider", "dhcore", "-o", "validate=false"],
            None,
            &[
                ("DHCORE_ENDPOINT", "http://digitalhub-core:8080"),
                ("DHCORE_ACCESS_TOKEN", "tok-in-cluster"),
            ],
        )
        .expect(0);
    assert_eq!(run.stdout, "tok-in-cluster\n");
    assert_eq!(
        run.stderr.matches("uses plain http").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("http://digitalhub-core:8080"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("tok-in-cluster"));
}

/// DHCore with a user and password has no token: `token` refuses and says
/// to use `--header`, which gives the Basic header value; git-credential
/// gives git the user and password (git sends them as Basic itself). Before
/// issue 23 both handed out the header value `Basic …` as if it were a token.
#[test]
fn dhcore_basic_credentials_are_never_handed_out_as_a_token() {
    let home = Home::new();
    let env = [
        ("DHCORE_ENDPOINT", "https://digitalhub-core:8443"),
        ("DHCORE_USER", "ann"),
        ("DHCORE_PASSWORD", "ann-s3cret"),
    ];
    let token = ["token", "--provider", "dhcore", "-o", "validate=false"];
    let run = home.run_with(&token, None, &env).expect(2);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("--header"), "{}", run.stderr);
    assert!(!run.stderr.contains("ann-s3cret"), "{}", run.stderr);

    let header = [&token[..], &["--header"]].concat();
    let run = home.run_with(&header, None, &env).expect(0);
    assert_eq!(run.stdout, "Basic YW5uOmFubi1zM2NyZXQ=\n");

    let ask = "protocol=https\nhost=digitalhub-core:8443\npath=x.git\n\n";
    let run = home
        .run_with(
            &["git-credential", "--provider", "dhcore", "get"],
            Some(ask),
            &env,
        )
        .expect(0);
    assert_eq!(run.stdout, "username=ann\npassword=ann-s3cret\n");
}

// ---- secrets never on the command line (issue 13) ----

#[test]
fn secrets_on_the_command_line_are_refused_with_how_to_pass_them() {
    let home = Home::new();
    for (key, flag, env) in [
        (
            "client_secret",
            "--client-secret-file",
            "HUBAUTH_CLIENT_SECRET",
        ),
        ("token", "--token-file", "HUBAUTH_TOKEN"),
        (
            "subject_token",
            "--subject-token-file",
            "HUBAUTH_SUBJECT_TOKEN",
        ),
    ] {
        let arg = format!("{key}=hunter2-secret");
        let run = home.run(&["token", "-o", &arg]).expect(2);
        assert!(run.stderr.contains(flag), "{}", run.stderr);
        assert!(run.stderr.contains(env), "{}", run.stderr);
        assert!(!run.stderr.contains("hunter2-secret"), "{}", run.stderr);
    }
    // --help says how secrets are passed.
    let run = home.run(&["token", "--help"]).expect(0);
    for needle in [
        "--client-secret-file",
        "--token-file",
        "--subject-token-file",
        "HUBAUTH_CLIENT_SECRET",
        "secrets are refused here",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
}

#[test]
fn the_cli_knows_every_secret_option_of_the_library() {
    // A key is a secret when Options' Debug does not show its value. Each
    // such key must be one the CLI refuses on argv and takes from a file.
    let home = Home::new();
    let help = home.run(&["token", "--help"]).expect(0).stdout;
    let mut secrets = 0;
    for key in hubauth::options::KEYS {
        let mut o = hubauth::Options::new();
        let probe = "probe-value-314159";
        if o.set(key, probe).is_err() {
            continue;
        }
        let shown = format!("{o:?}");
        if !shown.contains(probe) {
            secrets += 1;
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(key) && l.contains("FILE"));
            assert!(
                line.is_some(),
                "{key} is a secret the CLI does not take from a file"
            );
        }
    }
    assert!(
        secrets >= 3,
        "client_secret, token and subject_token are secrets"
    );
}

#[test]
fn a_token_comes_from_a_file_stdin_or_the_environment() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    let file = home.dir.path().join("given-token");
    std::fs::write(&file, format!("{}\n", token.id_token)).unwrap();
    let server = s.url();
    let base = ["token", "--server", server.as_str()];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|a| a.to_string()).collect()
    };
    let args = with(&["--token-file", file.to_str().unwrap()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = home.run(&args).expect(0);
    assert_eq!(run.stdout, format!("{}\n", token.id_token));
    let args = with(&["--token-file", "-"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = home
        .run_with(&args, Some(&format!("{}\n", token.id_token)), &[])
        .expect(0);
    assert_eq!(run.stdout, format!("{}\n", token.id_token));
    let run = home
        .run_with(&base, None, &[("HUBAUTH_TOKEN", token.id_token.as_str())])
        .expect(0);
    assert_eq!(run.stdout, format!("{}\n", token.id_token));
    // Nothing was stored: a given token touches no file.
    assert!(!home.auth_toml(&s).exists());
    // A missing file is an error naming it.
    let run = home
        .run(&[
            "token",
            "--server",
            &server,
            "--token-file",
            "/nonexistent/t",
        ])
        .expect(1);
    assert!(run.stderr.contains("/nonexistent/t"), "{}", run.stderr);
}

#[test]
fn a_confidential_clients_secret_comes_from_a_file_or_the_environment() {
    use hubauth_testkit::oidc_server::{CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, OidcServer};
    let home = Home::new();
    let server = OidcServer::start();
    let path = home.dir.path().join("oidc.toml");
    let secret_file = home.dir.path().join("secret");
    std::fs::write(&secret_file, format!("{CONFIDENTIAL_SECRET}\n")).unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        [
            "token",
            "--provider",
            "oidc",
            "--issuer",
            server.issuer.as_str(),
            "--client-id",
            CONFIDENTIAL_CLIENT,
            "--token-path",
            path.to_str().unwrap(),
            "-o",
            "force=true",
        ]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect()
    };
    let a = args(&["--client-secret-file", secret_file.to_str().unwrap()]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let run = home.run(&a).expect(0);
    assert!(!run.stdout.trim().is_empty());
    assert!(!run.stderr.contains(CONFIDENTIAL_SECRET));
    let a = args(&[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    home.run_with(&a, None, &[("HUBAUTH_CLIENT_SECRET", CONFIDENTIAL_SECRET)])
        .expect(0);
    // A wrong secret from the environment is refused by the server.
    let run = home
        .run_with(&a, None, &[("HUBAUTH_CLIENT_SECRET", "wrong-secret")])
        .expect(4);
    assert!(!run.stderr.contains("wrong-secret"), "{}", run.stderr);
    assert!(server.stat(&["token_success", "client_credentials"]) >= 2);
}

/// An issuer that offers no revocation anywhere: logout removes the file and
/// says that the tokens stay valid there, rather than succeeding silently.
#[test]
fn logout_says_when_the_issuer_cannot_revoke() {
    use hubauth_testkit::oidc_server::{
        CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, Config, OidcServer,
    };
    let home = Home::new();
    let server = OidcServer::with(Config {
        revocation: false,
        ..Config::default()
    });
    let path = home.dir.path().join("oidc.toml");
    let args = |command: &str| -> Vec<String> {
        [
            command,
            "--provider",
            "oidc",
            "--issuer",
            server.issuer.as_str(),
            "--client-id",
            CONFIDENTIAL_CLIENT,
            "--token-path",
            path.to_str().unwrap(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let secret = [("HUBAUTH_CLIENT_SECRET", CONFIDENTIAL_SECRET)];
    let a = args("token");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    home.run_with(&a, None, &secret).expect(0);
    assert!(path.exists());
    let a = args("logout");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let run = home.run_with(&a, None, &secret).expect(0);
    assert!(!path.exists());
    assert!(
        run.stderr.contains("offers no token revocation"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("stay valid"), "{}", run.stderr);
    assert_eq!(server.stat(&["revocation_requests"]), 0);
}
