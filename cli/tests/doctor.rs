//! `hubauth doctor` and the clock-skew warning, run as child processes
//! against the in-process JuliaHub test server, each in its own HOME and
//! depot with no inherited environment.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hubauth_testkit::JuliaHubServer;

mod support;

use support::cli::Home;

/// Pkg's file in the home, with the mode given.
impl Home {
    fn store(&self, s: &JuliaHubServer, text: &str, mode: u32) -> PathBuf {
        let path = self.auth_toml(s);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

#[test]
fn a_healthy_credential_is_all_well_and_no_secret_is_shown() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    let path = home.store(&s, &token.to_toml(), 0o600);

    for args in [&["doctor", "--server", &s.url()][..], &["doctor"][..]] {
        let run = home.run(args).expect(0);
        run.hides(&token);
        assert!(run.problems().is_empty(), "{}", run.stdout);
        assert!(run.stdout.contains("All is well."), "{}", run.stdout);
        assert!(
            run.stdout
                .contains(&format!("file {} (mode 600, yours)", path.display())),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("user     alice"), "{}", run.stdout);
        assert!(
            run.stdout
                .contains(&format!("GET {}/auth/configuration answers (200", s.url())),
            "{}",
            run.stdout
        );
    }

    let run = home
        .run_with(
            &["doctor", "--json", "--server", &s.url()],
            None,
            &[("HTTPS_PROXY", "http://user:proxy-pw@proxy.invalid:3128")],
        )
        .expect(0);
    run.hides(&token);
    assert!(!run.stdout.contains("proxy-pw"), "{}", run.stdout);
    let v = run.json();
    assert_eq!(v["ok"], true);
    let c = &v["credentials"][0];
    assert_eq!(v["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(c["provider"], "juliahub");
    assert_eq!(c["server"], s.url().as_str());
    assert_eq!(c["user"], "alice");
    assert_eq!(c["expires_at"], token.expires_at);
    let left = c["seconds_left"].as_i64().unwrap();
    assert!((3500..=3600).contains(&left), "{left}");
    assert_eq!(c["file"]["mode"], "600");
    assert_eq!(c["file"]["owned_by_you"], true);
    assert_eq!(c["server_check"]["answered"], true);
    assert_eq!(c["server_check"]["status"], 200);
    assert!(c["server_check"]["clock_skew_s"].as_i64().unwrap().abs() <= 2);
    assert_eq!(c["problems"], serde_json::json!([]));
    let proxy = &v["environment"][0];
    assert_eq!(proxy["name"], "HTTPS_PROXY");
    assert_eq!(proxy["value"], "http://***@proxy.invalid:3128");

    // The exit codes are documented; bad usage is 2.
    let run = home.run(&["doctor", "--help"]).expect(0);
    assert!(
        run.stdout.contains("1    a problem was found"),
        "{}",
        run.stdout
    );
    home.run(&["doctor", "--provider", "nope"]).expect(2);
    home.run(&["doctor", "--server", "ftp://x"]).expect(2);
}

#[test]
fn a_file_others_can_read_is_a_problem_with_chmod() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    let path = home.store(&s, &token.to_toml(), 0o644);
    let run = home.run(&["doctor", "--server", &s.url()]).expect(1);
    run.hides(&token);
    let chmod = format!("run `chmod 600 {}`", path.display());
    assert!(
        run.problems()
            .iter()
            .any(|l| l.contains("can be read by other users (mode 644)") && l.contains(&chmod)),
        "{}",
        run.stdout
    );
    let v = home
        .run(&["doctor", "--json", "--server", &s.url()])
        .expect(1)
        .json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["credentials"][0]["file"]["others_can_access"], true);
}

/// A dotfiles-managed auth.toml (the user's own link to a 0600 file): the
/// store follows it, so the doctor judges the file it leads to (a link's own
/// mode is always 777) and names that file in its advice.
#[test]
fn a_linked_token_file_is_judged_by_the_file_it_leads_to() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let token = s.issue_token(3600);
    let path = home.store(&s, &token.to_toml(), 0o600);
    let target = home.dir.path().join("dotfiles-auth.toml");
    std::fs::rename(&path, &target).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let run = home.run(&["doctor", "--server", &s.url()]).expect(0);
    assert!(run.problems().is_empty(), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "file {} -> {} (mode 600, yours)",
            path.display(),
            target.display()
        )),
        "{}",
        run.stdout
    );

    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run = home.run(&["doctor", "--server", &s.url()]).expect(1);
    let chmod = format!("run `chmod 600 {}`", target.display());
    assert!(
        run.problems().iter().any(|l| l.contains(&chmod)),
        "{}",
        run.stdout
    );
}

#[test]
fn an_expired_token_that_cannot_be_refreshed_is_a_problem() {
    let home = Home::new();
    // An oidc token without a refresh token, expired; its issuer is a live
    // server (which answers the discovery probe 404: it answers).
    let s = JuliaHubServer::start();
    let file = home
        .dir
        .path()
        .join("config/hubauth/oidc/127.0.0.1/cli.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        format!(
            "access_token = \"oidc-access-secret\"\nexpires_at = 1\n\
             issuer = \"{}\"\nclient_id = \"cli\"\n",
            s.url()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = home
        .run(&["doctor", "--provider", "oidc", "--server", &s.url()])
        .expect(1);
    assert!(!run.stdout.contains("oidc-access-secret"));
    let problems = run.problems();
    assert_eq!(problems.len(), 1, "{}", run.stdout);
    assert!(
        problems[0].contains("expired") && problems[0].contains("hubauth login"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("answers (404"), "{}", run.stdout);

    // juliahub: expired but refreshable; `hubauth token` would refresh it,
    // so all is well (and doctor itself never spends the refresh token).
    let home = Home::new();
    let token = s.issue_token(-120);
    home.store(&s, &token.to_toml(), 0o600);
    let run = home.run(&["doctor", "--server", &s.url()]).expect(0);
    run.hides(&token);
    assert!(
        run.stdout.contains("expires  expired 2m ago") && run.stdout.contains("refreshable"),
        "{}",
        run.stdout
    );
    assert_eq!(s.stats().refreshes, 0);
}

#[test]
fn a_server_that_does_not_answer_is_a_problem() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    let url = s.url();
    let token = s.issue_token(3600);
    home.store(&s, &token.to_toml(), 0o600);
    drop(s);
    let run = home.run(&["doctor", "--server", &url]).expect(1);
    run.hides(&token);
    assert!(
        run.problems()
            .iter()
            .any(|l| l.contains(&format!("{url} does not answer")) && l.contains("check the URL")),
        "{}",
        run.stdout
    );
    let v = home
        .run(&["doctor", "--json", "--server", &url])
        .expect(1)
        .json();
    assert_eq!(v["credentials"][0]["server_check"]["answered"], false);

    // No credential at all for the selected server: said, and probed.
    let other = Home::new();
    let run = other.run(&["doctor", "--server", &url]).expect(1);
    assert!(
        run.problems()
            .iter()
            .any(|l| l.contains("no credentials found") && l.contains("hubauth login")),
        "{}",
        run.stdout
    );
    assert!(
        run.problems()
            .iter()
            .any(|l| l.contains(&format!("{url} does not answer"))),
        "{}",
        run.stdout
    );
}

#[test]
fn a_skewed_server_clock_is_warned_once_and_shown_by_doctor() {
    let home = Home::new();
    let s = JuliaHubServer::start();
    s.configure(|c| {
        c.clock_skew_s = 300;
        c.auto_approve = true;
        c.device_interval_s = 0;
    });
    // A device login: several requests to the server, one warning.
    let run = home
        .run(&[
            "login",
            "--no-browser",
            "--server",
            &s.url(),
            "-o",
            "poll_interval_ms=100",
        ])
        .expect(0);
    let warning = format!("hubauth: warning: the clock of {} is ", s.url());
    assert_eq!(run.stderr.matches(&warning).count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("s ahead of this computer's"),
        "{}",
        run.stderr
    );

    let run = home.run(&["doctor", "--server", &s.url()]).expect(1);
    assert!(run.stdout.contains(", clock +"), "{}", run.stdout);
    assert!(
        run.problems()
            .iter()
            .any(|l| l.contains("s ahead of this computer's") && l.contains("NTP")),
        "{}",
        run.stdout
    );
    let v = home
        .run(&["doctor", "--json", "--server", &s.url()])
        .expect(1)
        .json();
    let skew = v["credentials"][0]["server_check"]["clock_skew_s"]
        .as_i64()
        .unwrap();
    assert!((298..=302).contains(&skew), "{skew}");

    // Behind: said the other way round.
    s.configure(|c| c.clock_skew_s = -120);
    let run = home.run(&["doctor", "--server", &s.url()]).expect(1);
    assert!(
        run.stdout.contains("s behind this computer's"),
        "{}",
        run.stdout
    );
}
