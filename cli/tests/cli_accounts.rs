//! Named accounts through the CLI, against two in-process JuliaHub test
//! servers: `login --name` records an account, `token --name`,
//! `HUBAUTH_ACCOUNT` and the default account need no other flag, `status`
//! lists them, `switch` moves the default and `logout --name` forgets one.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hubauth_testkit::{Flow, JuliaHubServer};

mod support;

use support::cli::Home;

fn classic_server() -> JuliaHubServer {
    let s = JuliaHubServer::start();
    s.configure(|c| {
        c.flow = Flow::Classic;
        c.auto_approve = true;
    });
    s
}

fn accounts_toml(home: &Home) -> PathBuf {
    home.dir.path().join("config/hubauth/accounts.toml")
}

fn stored_id_token(home: &Home, s: &JuliaHubServer) -> String {
    let text = std::fs::read_to_string(home.auth_toml(s)).unwrap();
    let table: toml::Table = text.parse().unwrap();
    table["id_token"].as_str().unwrap().to_string()
}

fn login(home: &Home, name: &str, s: &JuliaHubServer, extra: &[&str]) -> String {
    login_with(home, name, s, extra, &[])
}

fn login_with(
    home: &Home,
    name: &str,
    s: &JuliaHubServer,
    extra: &[&str],
    env: &[(&str, &str)],
) -> String {
    let url = s.url();
    let mut args = vec![
        "login",
        "--no-browser",
        "--name",
        name,
        "--server",
        &url,
        "-o",
        "poll_interval_ms=100",
    ];
    args.extend_from_slice(extra);
    home.run_with(&args, None, env).expect(0).stderr
}

#[test]
fn an_account_round_trip() {
    let home = Home::new();
    let (one, two) = (classic_server(), classic_server());

    let said = login(&home, "one", &one, &["--scope", "openid"]);
    assert!(said.contains("Saved account one (the default)"), "{said}");
    let path = accounts_toml(&home);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&one.url()), "{text}");
    assert!(
        !text.contains(&stored_id_token(&home, &one)),
        "no token in it"
    );

    // A new account is made from what its login gives, whatever account
    // the environment names.
    let said = login_with(
        &home,
        "two",
        &two,
        &["--default"],
        &[("HUBAUTH_ACCOUNT", "one")],
    );
    assert!(said.contains("Saved account two (the default)"), "{said}");
    let text = std::fs::read_to_string(&path).unwrap();
    let list: toml::Table = text.parse().unwrap();
    assert_eq!(
        list["accounts"]["one"]["scope"].as_str(),
        Some("openid"),
        "{text}"
    );
    assert!(
        list["accounts"]["two"].get("scope").is_none(),
        "not one's: {text}"
    );
    assert_eq!(list["default"].as_str(), Some("two"), "{text}");
    let (token_one, token_two) = (stored_id_token(&home, &one), stored_id_token(&home, &two));

    // No flag: the default account; --name and HUBAUTH_ACCOUNT pick one.
    let token = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["token"];
        all.extend_from_slice(args);
        home.run_with(&all, None, env)
            .expect(0)
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(token(&[], &[]), token_two);
    assert_eq!(token(&["--name", "one"], &[]), token_one);
    assert_eq!(token(&[], &[("HUBAUTH_ACCOUNT", "one")]), token_one);
    // What the user sets wins over the account's.
    assert_eq!(
        token(&["--name", "two", "--server", &one.url()], &[]),
        token_one
    );
    let run = home.run(&["token", "--name", "nope"]).expect(2);
    assert!(run.stderr.contains("known: one, two"), "{}", run.stderr);

    // status lists the accounts; the default is marked, both are usable.
    let run = home.run(&["status"]).expect(0);
    let rows: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("ACCOUNT"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let (url_one, url_two) = (one.url(), two.url());
    assert_eq!(
        rows,
        [
            vec!["ACCOUNT", "PROVIDER", "SERVER", "DEFAULT", "USABLE"],
            vec!["one", "juliahub", url_one.as_str(), "no", "yes"],
            vec!["two", "juliahub", url_two.as_str(), "yes", "yes"],
        ],
        "{}",
        run.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&home.run(&["status", "--json"]).expect(0).stdout).unwrap();
    let names: Vec<&serde_json::Value> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["accounts"])
        .collect();
    assert!(names.contains(&&serde_json::json!(["one"])), "{json}");

    // switch moves the default; an unknown account is refused.
    let run = home.run(&["switch", "one"]).expect(0);
    assert!(
        run.stderr.contains("default account is now one"),
        "{}",
        run.stderr
    );
    assert_eq!(token(&[], &[]), token_one);
    home.run(&["switch", "nope"]).expect(2);

    // -v says which account a call used, -vv what it filled in.
    let run = home.run(&["-v", "token"]).expect(0);
    assert!(
        run.stderr.contains("hubauth: using account one ("),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("debug:"), "{}", run.stderr);
    let run = home.run(&["token", "-vv"]).expect(0);
    let debug = format!(
        "hubauth: debug: account one fills in: provider=juliahub scope=openid server={}",
        one.url()
    );
    assert!(run.stderr.contains(&debug), "{}", run.stderr);

    // logout --name logs out and forgets the account; the only one left is the default.
    let run = home.run(&["logout", "--name", "one", "--json"]).expect(0);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["logged_out"], true);
    assert_eq!(out["account_forgotten"], "one");
    assert_eq!(out["server"], one.url());
    assert!(!home.auth_toml(&one).exists());
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains("[accounts.one]")
    );
    assert_eq!(token(&[], &[]), token_two);
}

#[test]
fn a_login_under_a_known_name_reuses_its_options() {
    let home = Home::new();
    let s = classic_server();
    login(&home, "work", &s, &[]);
    // No --server: the account gives it.
    let run = home
        .run(&[
            "login",
            "--no-browser",
            "--name",
            "work",
            "--force",
            "-o",
            "poll_interval_ms=100",
        ])
        .expect(0);
    assert!(
        run.stderr.contains(&format!("Logged in to {}", s.url())),
        "{}",
        run.stderr
    );
    assert_eq!(s.stats().challenges, 2);
    home.run(&["login", "--default"]).expect(2);
}

/// A broken account list fails only the calls that name an account; the
/// others are told that no default applied, and go on.
#[test]
fn a_broken_account_list_fails_only_calls_that_name_an_account() {
    let home = Home::new();
    let s = classic_server();
    login(&home, "work", &s, &[]);
    let path = accounts_toml(&home);
    std::fs::write(&path, "default = [broken").unwrap();
    let url = s.url();
    let run = home.run(&["token", "--server", &url]).expect(0);
    assert!(
        run.stderr.is_empty(),
        "a hub is selected: the list is not read: {}",
        run.stderr
    );
    let run = home
        .run_with(&["token"], None, &[("JULIA_PKG_SERVER", url.as_str())])
        .expect(0);
    assert!(
        run.stderr.contains("no default account applies"),
        "{}",
        run.stderr
    );
    let run = home.run(&["token", "--name", "work"]).expect(1);
    assert!(
        run.stderr.contains("accounts.toml: not valid TOML"),
        "{}",
        run.stderr
    );
}
