//! A server or proxy that answers an error with the request it received
//! (plainly, or base64-encoded) gets none of the request's secrets into
//! hubauth's messages: not the error, not a warning, not `HUBAUTH_TRANSCRIPT`.
//! Each case: an OIDC refresh (refresh token, client secret), a device poll
//! (device code), DHCore's PAT exchange (subject token), and the CAVE and
//! DagsHub checks (bearer token, cookie).

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use support::cli::{Home, Run};
use support::hostile_oidc::{DEVICE_GRANT, Echo, HostileOidc, Script, echo_server};

const CLIENT_SECRET: &str = "client-secret-0123456789abcdef";
const PAT: &str = "pat-SECRET-0123456789abcdef";
const BEARER: &str = "bearer-SECRET-0123456789abcdef";

/// The characters that encode only `secret`'s bits, wherever it sits in a
/// longer base64 text (one per alignment), in both alphabets.
fn base64_cores(secret: &str) -> Vec<String> {
    let mut cores = Vec::new();
    for filler in ["", "a", "ab"] {
        let text = format!("{filler}{secret}");
        for encoded in [STANDARD_NO_PAD.encode(&text), URL_SAFE_NO_PAD.encode(&text)] {
            // Skip the characters that hold filler bits, and the last one.
            let skip = (8 * filler.len()).div_ceil(6);
            cores.push(encoded[skip..encoded.len() - 1].to_string());
        }
    }
    cores
}

/// Runs `hubauth ARGS` with a transcript and checks that neither output nor
/// the transcript holds any of `secrets` in any form, and that the echo was
/// seen (and redacted) rather than dropped.
#[track_caller]
fn assert_nothing_echoed(home: &Home, args: &[&str], env: &[(&str, &str)], secrets: &[String]) {
    let transcript = home.dir.path().join("transcript.log");
    let mut env = env.to_vec();
    let path = transcript.to_str().unwrap().to_string();
    env.push(("HUBAUTH_TRANSCRIPT", &path));
    // Whether the call fails in the end is not the point (a refresh that
    // fails may leave a token that is still good): what it prints is.
    let run: Run = home.run_with(args, None, &env);
    let written = std::fs::read_to_string(&transcript).unwrap_or_default();
    assert!(!secrets.is_empty());
    for secret in secrets {
        for (name, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("transcript", &written),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "{args:?}: {secret} in {name}:\n{text}"
            );
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            assert!(
                !text.contains(&encoded),
                "{args:?}: {encoded} in {name}:\n{text}"
            );
            for core in base64_cores(secret) {
                assert!(
                    !text.contains(&core),
                    "{args:?}: base64 of {secret} in {name}:\n{text}"
                );
            }
        }
    }
    assert!(
        run.stderr.contains("You sent: ") && run.stderr.contains("***"),
        "{args:?}: the echo was not quoted (redacted):\n{}",
        run.stderr
    );
    assert!(written.contains("***"), "{args:?}: transcript:\n{written}");
}

fn oidc(issuer: &str, verb: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = verb.iter().map(|a| a.to_string()).collect();
    for a in [
        "--provider",
        "oidc",
        "--issuer",
        issuer,
        "--client-id",
        "cli",
        "--timeout",
        "5",
        "-o",
        "poll_interval_ms=50",
    ] {
        args.push(a.to_string());
    }
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn an_echoed_refresh_shows_no_refresh_token_or_client_secret() {
    for style in [Echo::Plain, Echo::Base64] {
        let home = Home::new();
        let issuer = HostileOidc::start(Script {
            echo_grants: vec!["refresh_token"],
            echo_style: style,
            ttl: 1,
            ..Script::default()
        });
        let secret = [("HUBAUTH_CLIENT_SECRET", CLIENT_SECRET)];
        let login = oidc(&issuer.url(), &["login", "--no-browser"]);
        home.run_with(&strs(&login), None, &secret).expect(0);
        // The token lives a second: the next `token` refreshes it.
        std::thread::sleep(std::time::Duration::from_millis(1200));
        let mut secrets = issuer.issued();
        secrets.push(CLIENT_SECRET.to_string());
        let token = oidc(&issuer.url(), &["token"]);
        assert_nothing_echoed(&home, &strs(&token), &secret, &secrets);
    }
}

#[test]
fn an_echoed_device_poll_shows_no_device_code() {
    for style in [Echo::Plain, Echo::Base64] {
        let home = Home::new();
        let issuer = HostileOidc::start(Script {
            echo_grants: vec![DEVICE_GRANT],
            echo_style: style,
            ..Script::default()
        });
        let login = oidc(&issuer.url(), &["login", "--no-browser"]);
        // The device code is issued during the run: its prefix and the
        // issuer's log name it afterwards.
        let transcript = home.dir.path().join("transcript.log");
        let path = transcript.to_str().unwrap().to_string();
        let run = home.run_with(&strs(&login), None, &[("HUBAUTH_TRANSCRIPT", &path)]);
        assert_ne!(run.code, Some(0), "{}", run.stderr);
        let written = std::fs::read_to_string(&transcript).unwrap_or_default();
        let codes = issuer.issued();
        assert!(codes.iter().any(|c| c.starts_with("device-code")));
        for code in &codes {
            for text in [&run.stdout, &run.stderr, &written] {
                assert!(!text.contains(code.as_str()), "{code} in:\n{text}");
                for core in base64_cores(code) {
                    assert!(!text.contains(&core), "base64 of {code} in:\n{text}");
                }
            }
        }
        assert!(
            run.stderr.contains("You sent: ") && run.stderr.contains("***"),
            "the echo was not quoted (redacted):\n{}",
            run.stderr
        );
    }
}

#[test]
fn an_echoed_pat_exchange_shows_no_pat() {
    for style in [Echo::Plain, Echo::Base64] {
        let home = Home::new();
        let server = echo_server(style);
        let url = server.url();
        assert_nothing_echoed(
            &home,
            &["token", "--provider", "dhcore", "--timeout", "5"],
            &[
                ("DHCORE_ENDPOINT", &url),
                ("DHCORE_ISSUER", &url),
                ("DHCORE_CLIENT_ID", "cli"),
                ("DHCORE_PERSONAL_ACCESS_TOKEN", PAT),
            ],
            &[PAT.to_string()],
        );
    }
}

#[test]
fn echoed_bearer_checks_show_no_bearer_or_cookie() {
    for provider in ["cave", "dagshub"] {
        for style in [Echo::Plain, Echo::Base64] {
            let home = Home::new();
            let server = echo_server(style);
            let url = server.url();
            assert_nothing_echoed(
                &home,
                &[
                    "token",
                    "--provider",
                    provider,
                    "--server",
                    &url,
                    "--validate",
                    "--timeout",
                    "5",
                ],
                &[("HUBAUTH_TOKEN", BEARER)],
                &[BEARER.to_string()],
            );
        }
    }
}
