//! The `hubauth-test-server` binary: URL line, serving, stopping.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hubauth_testkit::http;

const BIN: &str = env!("CARGO_BIN_EXE_hubauth-test-server");

fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .strip_suffix('\n')
        .and_then(|l| l.strip_prefix("URL="))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn prints_url_serves_and_stops_at_stdin_eof() {
    let (mut child, url) = spawn(&[
        "juliahub",
        "--flow",
        "classic",
        "--auto-approve",
        "--token-ttl",
        "120",
    ]);
    let r = http::request(
        "GET",
        &format!("{url}/auth/configuration"),
        &[("Accept", "application/json")],
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 501);
    let config = http::get(&format!("{url}/_test/config"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(config["auto_approve"], true);
    assert_eq!(config["token_ttl_s"], 120);
    let toml = http::post(&format!("{url}/_test/issue"), "text/plain", b"")
        .unwrap()
        .text();
    let id_token = toml
        .lines()
        .find_map(|l| l.strip_prefix("id_token = \""))
        .unwrap()
        .trim_end_matches('"');
    assert_eq!(
        http::get_bearer(&format!("{url}/api/v1"), id_token)
            .unwrap()
            .status,
        200
    );

    drop(child.stdin.take()); // EOF
    assert!(wait_exit(&mut child).success());
    assert!(http::get(&format!("{url}/api/v1")).is_err());
}

#[test]
fn stops_on_sigterm() {
    let (mut child, url) = spawn(&["juliahub", "--device-interval=2"]);
    let config = http::get(&format!("{url}/_test/config"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (
            config["flow"].as_str(),
            config["device_interval_s"].as_u64()
        ),
        (Some("device"), Some(2))
    );
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(wait_exit(&mut child).success());
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &[][..],
        &["nope"][..],
        &["juliahub", "--flow", "x"][..],
        &["juliahub", "--token-ttl"][..],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--auto-approve"));
}
