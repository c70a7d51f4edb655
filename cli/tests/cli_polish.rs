//! The CLI furniture: completions, the man page, "did you mean", setup-git,
//! the honest browser message, no QR code off a terminal, and library
//! messages shown with the CLI's flags.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use hubauth_testkit::{Flow, JuliaHubServer};

mod support;

use support::cli::{BIN, Home};

#[test]
fn completions_for_each_shell_name_every_command() {
    let home = Home::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = home.run(&["completions", shell]).expect(0);
        assert!(run.stdout.len() > 1000, "{shell}: {}", run.stdout);
        for command in ["setup-git", "switch", "token", "client-id"] {
            assert!(run.stdout.contains(command), "{shell} lacks {command}");
        }
    }
    home.run(&["completions", "tcsh"]).expect(2);
    // bash accepts the script.
    let run = home.run(&["completions", "bash"]).expect(0);
    let script = home.dir.path().join("hubauth.bash");
    std::fs::write(&script, &run.stdout).unwrap();
    let ok = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn the_man_page_renders() {
    let home = Home::new();
    let run = home.run(&["man"]).expect(0);
    assert!(run.stdout.contains(".TH hubauth 1"), "{}", run.stdout);
    let page = home.dir.path().join("hubauth.1");
    std::fs::write(&page, &run.stdout).unwrap();
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(&page)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NAME") && text.contains("setup-git"),
        "{text}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_mistyped_command_or_flag_gets_a_suggestion() {
    let home = Home::new();
    let run = home.run(&["tokn"]).expect(2);
    assert!(
        run.stderr.contains("similar subcommand exists: 'token'"),
        "{}",
        run.stderr
    );
    let run = home.run(&["token", "--servr", "x"]).expect(2);
    assert!(run.stderr.contains("--server"), "{}", run.stderr);
}

#[test]
fn setup_git_writes_the_helper_line_once() {
    let home = Home::new();
    let url = "https://hub.example.org";
    let gitconfig = home.home().join(".gitconfig");
    let run = home
        .run(&["setup-git", "--server", url, "--dry-run"])
        .expect(0);
    assert!(
        run.stderr.contains("would run: git config --global"),
        "{}",
        run.stderr
    );
    assert!(!gitconfig.exists(), "--dry-run writes nothing");
    for _ in 0..2 {
        let run = home.run(&["setup-git", "--server", url]).expect(0);
        assert!(
            run.stderr.contains("running: git config --global --add"),
            "{}",
            run.stderr
        );
    }
    let text = std::fs::read_to_string(&gitconfig).unwrap();
    let helper = format!("helper = !{BIN} git-credential --server {url}");
    assert_eq!(text.matches(&helper).count(), 1, "{text}");
    assert_eq!(
        text.matches("helper = \n").count() + text.matches("helper = \"\"").count(),
        1,
        "{text}"
    );
    assert!(text.contains(&format!("[credential \"{url}\"]")), "{text}");
}

#[test]
fn without_a_display_no_browser_is_claimed_and_no_qr_code_off_a_terminal() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    s.configure(|c| {
        c.flow = Flow::Classic;
        c.auto_approve = true;
    });
    let run = home
        .run(&["login", "--server", &s.url(), "-o", "poll_interval_ms=100"])
        .expect(0);
    assert!(
        run.stderr.contains("no browser can be opened here"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("opening it in your browser"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains('█') && !run.stderr.contains("scan it"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_library_message_names_the_clis_flag() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let path = home.auth_toml(&s);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "not = [valid toml").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = home.run(&["login", "--no-browser", "--server", &s.url()]);
    assert!(
        run.stderr.contains("authenticate with `--force`"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("force=true"), "{}", run.stderr);
    // `token` has no --force: the command that has it is named.
    let run = home.run(&["token", "--server", &s.url()]);
    assert!(
        run.stderr.contains("`hubauth login --force`"),
        "{}",
        run.stderr
    );
}

#[test]
fn status_check_says_what_each_server_answered() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let path = home.auth_toml(&s);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, s.issue_token(3600).to_toml()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = home.run(&["status", "--check"]).expect(0);
    let lines: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0].last(), Some(&"CHECK"), "{}", run.stdout);
    assert_eq!(lines[1].last(), Some(&"ok"), "{}", run.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&home.run(&["status", "--check", "--json"]).expect(0).stdout).unwrap();
    assert_eq!(json[0]["check"], "ok", "{json}");
    // The server now refuses the token.
    s.revoke_all();
    let json: serde_json::Value =
        serde_json::from_str(&home.run(&["status", "--check", "--json"]).expect(1).stdout).unwrap();
    assert_eq!(json[0]["check"], "rejected", "{json}");
    assert_eq!(json[0]["usable"], false, "{json}");
}

/// On a terminal (a pty from `script`), the device login's URL is also drawn
/// as a QR code.
#[test]
fn a_device_login_on_a_terminal_shows_a_qr_code() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    s.configure(|c| {
        c.flow = Flow::Device;
        c.auto_approve = true;
    });
    let line = format!(
        "{BIN} login --no-browser --server {} -o poll_interval_ms=100",
        s.url()
    );
    // The isolated home's environment, for `script` and so for hubauth.
    let isolated = home.command(&[]);
    let env = isolated
        .get_envs()
        .filter_map(|(key, value)| Some((key, value?)));
    let out = Command::new("script")
        .env_clear()
        .envs(env)
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("hubauth: or scan it:"), "{text}");
    assert!(text.contains("█▀") || text.contains("▀█"), "{text}");
    assert!(text.contains("Logged in to"), "{text}");
}

/// A browser login where no browser can appear says how to reach its
/// redirect from another machine: `ssh -L` with the real port, or the
/// device flow.
#[test]
fn a_headless_browser_login_gives_the_ssh_forward_for_its_port() {
    use hubauth_testkit::oidc_server::{NATIVE_CLIENT, OidcServer};
    let home = Home::new();
    let server = OidcServer::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let run = home
        .run(&[
            "login",
            "--provider",
            "oidc",
            "--issuer",
            &server.issuer,
            "--client-id",
            NATIVE_CLIENT,
            "--flow",
            "browser",
            "-o",
            &format!("redirect_port={port}"),
            "--timeout",
            "1",
        ])
        .expect(5);
    assert!(
        run.stderr.contains("no browser can be opened here"),
        "{}",
        run.stderr
    );
    let forward =
        format!("(`ssh -L {port}:127.0.0.1:{port} HOST`), or log in with `--flow device`");
    assert!(run.stderr.contains(&forward), "{}", run.stderr);
}

/// `logout --json` says what came of the revocation, as the library said it.
#[test]
fn logout_json_carries_the_revocation_result() {
    use hubauth_testkit::oidc_server::{
        CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, Config, OidcServer,
    };
    for revocation in [true, false] {
        let home = Home::new();
        let server = OidcServer::with(Config {
            revocation,
            ..Config::default()
        });
        let path = home.dir.path().join("oidc.toml");
        let path = path.to_str().unwrap();
        let args = |command: &'static str| {
            [
                command,
                "--provider",
                "oidc",
                "--issuer",
                server.issuer.as_str(),
                "--client-id",
                CONFIDENTIAL_CLIENT,
                "--token-path",
                path,
            ]
        };
        let secret = [("HUBAUTH_CLIENT_SECRET", CONFIDENTIAL_SECRET)];
        home.run_with(&args("token"), None, &secret).expect(0);
        let mut logout = args("logout").to_vec();
        logout.push("--json");
        let run = home.run_with(&logout, None, &secret).expect(0);
        let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(out["logged_out"], true, "{out}");
        let expected = if revocation {
            serde_json::json!([{"level": "info", "message": format!("revoked the tokens at {}", server.issuer)}])
        } else {
            let messages = out["messages"].as_array().unwrap();
            assert_eq!(messages.len(), 1, "{out}");
            assert_eq!(messages[0]["level"], "warning", "{out}");
            assert!(
                messages[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("offers no token revocation")
            );
            out["messages"].clone()
        };
        assert_eq!(out["messages"], expected, "{out}");
        assert_eq!(server.stat(&["revocation_requests"]) > 0, revocation);
    }
}
