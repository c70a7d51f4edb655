//! Servers that stall, flood or answer garbage: every call ends with a clear
//! NETWORK or SERVER error within timeout_ms, and the token file is untouched.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hubauth::{ErrorKind, Options, authenticate};
use support::raw_server::{RawServer, respond};

/// An expired auth.toml whose refresh goes to `server`.
fn expired_token_file(dir: &tempfile::TempDir, server: &RawServer) -> (PathBuf, String) {
    let path = dir.path().join("auth.toml");
    let text = format!(
        "access_token = \"a\"\nid_token = \"stored-id-token\"\nrefresh_token = \"stored-refresh-token\"\n\
         refresh_url = \"{}/auth/renew/token.toml/v2/\"\nexpires_at = 1\nexpires_in = 3600\nuser_name = \"alice\"\n",
        server.url
    );
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

fn options(server: &RawServer, path: &std::path::Path, timeout_ms: u64) -> Options {
    let mut o = Options::new();
    o.set("server", &server.url).unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o.set("interactive", "false").unwrap();
    o.set("timeout_ms", &timeout_ms.to_string()).unwrap();
    o
}

/// Runs a refresh against `server` and returns the error and how long it took.
fn refresh_against(server: &RawServer, timeout_ms: u64) -> (hubauth::Error, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (path, before) = expired_token_file(&dir, server);
    let started = Instant::now();
    let err = authenticate(&options(server, &path, timeout_ms)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "file untouched"
    );
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 2, "only auth.toml and its lock file");
    for secret in ["stored-id-token", "stored-refresh-token"] {
        assert!(!err.message().contains(secret), "{err}");
    }
    (err, took)
}

#[test]
fn stalling_mid_body_is_a_network_error_within_the_timeout() {
    let server = RawServer::start(|_line, stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/toml\r\ncontent-length: 1000\r\n\r\nid_token = \"x",
        );
        let _ = stream.flush();
        std::thread::sleep(Duration::from_secs(30));
    });
    let (err, took) = refresh_against(&server, 1500);
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(took < Duration::from_millis(3000), "{took:?}");
    assert!(
        err.message().contains("token.toml"),
        "names the request: {err}"
    );
}

#[test]
fn a_server_that_never_answers_is_bounded_by_the_timeout() {
    let server = RawServer::start(|_line, _stream| std::thread::sleep(Duration::from_secs(30)));
    let (err, took) = refresh_against(&server, 1000);
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[test]
fn a_huge_body_is_refused() {
    let server = RawServer::start(|_line, stream| {
        let body = vec![b'a'; 3 * 1024 * 1024];
        respond(stream, "200 OK", "application/toml", &body);
    });
    let (err, _) = refresh_against(&server, 10_000);
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(err.message().contains("larger than"), "{err}");
}

#[test]
fn a_huge_chunked_body_is_refused_while_streaming() {
    let server = RawServer::start(|_line, stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/toml\r\ntransfer-encoding: chunked\r\n\r\n",
        );
        let chunk = vec![b'b'; 64 * 1024];
        for _ in 0..64 {
            let _ = stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
            if stream.write_all(&chunk).is_err() || stream.write_all(b"\r\n").is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    });
    let (err, _) = refresh_against(&server, 10_000);
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
}

#[test]
fn garbage_replies_are_server_errors() {
    let replies: Vec<(&str, Vec<u8>)> = vec![
        ("200 OK", vec![0xff, 0xfe, 0x00, 0x01]),
        ("200 OK", b"this is = not [toml".to_vec()),
        ("200 OK", b"user_name = \"alice\"\n".to_vec()), // TOML without a token
        ("503 Service Unavailable", b"<html>down</html>".to_vec()),
    ];
    for (status, body) in replies {
        let server = RawServer::start(move |_line, stream| {
            respond(stream, status, "application/toml", &body);
        });
        let (err, _) = refresh_against(&server, 10_000);
        assert_eq!(err.kind(), ErrorKind::Server, "{status}: {err}");
    }
}

#[test]
fn a_connection_closed_without_an_answer_is_a_network_error() {
    let server = RawServer::start(|_line, stream| {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    });
    let (err, _) = refresh_against(&server, 10_000);
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
}

#[test]
fn a_garbage_status_line_is_a_network_error() {
    let server = RawServer::start(|_line, stream| {
        let _ = stream.write_all(b"SMTP ready\r\n\r\n");
    });
    let (err, _) = refresh_against(&server, 10_000);
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
}

#[test]
fn hostile_login_endpoints_fail_cleanly() {
    // /auth/configuration floods, then the classic challenge answers garbage.
    let server = RawServer::start(|line, stream| {
        if line.contains("/auth/configuration") {
            respond(
                stream,
                "200 OK",
                "application/json",
                &vec![b'{'; 2 * 1024 * 1024],
            );
        } else {
            respond(stream, "200 OK", "text/plain", &[0xff; 10]);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    let mut o = options(&server, &path, 5000);
    o.set_hook(Some(std::sync::Arc::new(|_: &str| {
        hubauth::HookAction::Continue
    })));
    let err = authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(!path.exists());
}
