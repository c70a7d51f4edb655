//! Network failures and servers that are not hubs, each against a real local
//! server that fails that way: the error is one line with the cause and what
//! to do (no reqwest chain, no quoted HTML page), and a server that is not a
//! hub ends the call at once (one try, whatever `maxcount`).
//!
//! The proxy case sets HTTPS_PROXY, which is read once per process, so it
//! runs in a child: this test binary started again with one test selected.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use hubauth::{ErrorKind, Options, authenticate};
use support::raw_server::{RawServer, respond};

/// The page Python's `http.server` sends for a POST (HTTP 501).
const PYTHON_501: &str = "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        \
                          <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        \
                          <p>Error code: 501</p>\n    </body>\n</html>\n";

/// juliahub options for a first login to `server`, with nothing stored: the
/// login gets as far as the server lets it (a browser is never opened).
fn login_options(server: &str, dir: &tempfile::TempDir) -> Options {
    let mut o = Options::new();
    o.set("server", server).unwrap();
    o.set("token_path", dir.path().join("auth.toml").to_str().unwrap())
        .unwrap();
    o.set("interactive", "true").unwrap();
    o.set("open_browser", "false").unwrap();
    o.set("maxcount", "3").unwrap();
    o.set("timeout_ms", "20000").unwrap();
    o
}

/// A server answering every request with `status` and `body`; it records
/// the request lines.
fn answering(
    status: &'static str,
    content_type: &'static str,
    body: &'static str,
) -> (RawServer, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = RawServer::start(move |line, stream| {
        log.lock().unwrap().push(line.to_string());
        respond(stream, status, content_type, body.as_bytes());
    });
    (server, seen)
}

fn host(url: &str) -> &str {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
}

#[test]
fn connection_refused_says_so_in_one_line() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let err = authenticate(&login_options(&url, &dir)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network);
    assert_eq!(
        err.message(),
        format!(
            "GET {url}/auth/configuration: cannot connect to 127.0.0.1:{port} \
             (connection refused): is the server running? (check `server`)"
        )
    );
}

#[test]
fn an_unknown_host_is_a_dns_failure() {
    let dir = tempfile::tempdir().unwrap();
    // .invalid never resolves (RFC 6761), with or without a network.
    let err = authenticate(&login_options("https://hub.invalid", &dir)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network);
    assert_eq!(
        err.message(),
        "GET https://hub.invalid/auth/configuration: cannot find the host hub.invalid \
         (DNS lookup failed): check `server` and the network"
    );
}

#[test]
fn a_silent_server_runs_out_of_time_with_the_option_to_raise() {
    let server = RawServer::start(|_line, _stream| {
        std::thread::sleep(std::time::Duration::from_secs(5));
    });
    let dir = tempfile::tempdir().unwrap();
    let mut o = login_options(&server.url, &dir);
    o.set("timeout_ms", "700").unwrap();
    let err = authenticate(&o).unwrap_err();
    let message = err.message();
    let prefix = format!(
        "GET {}/auth/configuration: no complete answer from {} within ",
        server.url,
        host(&server.url)
    );
    let rest = message
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{message}"));
    let (seconds, tail) = rest
        .split_once(" s: ")
        .unwrap_or_else(|| panic!("{message}"));
    assert!(
        seconds
            .parse::<f64>()
            .is_ok_and(|s| (0.5..2.0).contains(&s)),
        "{message}"
    );
    assert_eq!(
        tail,
        "the server or the network is slow or down (raise `timeout_ms` to wait longer)"
    );
    assert_eq!(err.kind(), ErrorKind::Network);
}

#[test]
fn a_web_server_answering_html_is_not_a_hub_and_is_asked_once() {
    // As `python -m http.server`: GET 404, POST 501, both HTML pages.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let server = RawServer::start(move |line, stream| {
        log.lock().unwrap().push(line.to_string());
        if line.starts_with("POST") {
            respond(
                stream,
                "501 Unsupported method",
                "text/html;charset=utf-8",
                PYTHON_501.as_bytes(),
            );
        } else {
            respond(
                stream,
                "404 File not found",
                "text/html;charset=utf-8",
                b"<!DOCTYPE HTML><html><body>404</body></html>",
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let err = authenticate(&login_options(&server.url, &dir)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(
        err.message(),
        format!(
            "login challenge: the server at {} answered 501 with an HTML page: \
             it is not a hub's API (check `server`)",
            host(&server.url)
        )
    );
    // The configuration, then one challenge: maxcount=3 does not ask again.
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "GET /auth/configuration HTTP/1.1",
            "POST /auth/challenge HTTP/1.1"
        ]
    );
}

#[test]
fn a_server_without_the_login_endpoint_is_not_a_hub() {
    let (server, seen) = answering("404 Not Found", "text/plain", "Not Found");
    let dir = tempfile::tempdir().unwrap();
    let err = authenticate(&login_options(&server.url, &dir)).unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "login challenge: the server at {} answered 404: it has no hub login (check `server`)",
            host(&server.url)
        )
    );
    assert_eq!(seen.lock().unwrap().len(), 2, "{:?}", seen.lock().unwrap());
}

#[test]
fn an_html_page_where_the_issuer_should_be_names_the_issuer() {
    let (server, seen) = answering(
        "200 OK",
        "text/html",
        "<html><body>Welcome to nginx!</body></html>",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new();
    o.set("provider", "oidc").unwrap();
    o.set("issuer", &server.url).unwrap();
    o.set("client_id", "cli").unwrap();
    o.set("token_path", dir.path().join("t.toml").to_str().unwrap())
        .unwrap();
    o.set("open_browser", "false").unwrap();
    o.set("interactive", "true").unwrap();
    let err = authenticate(&o).unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "discovery for {}: the server at {} answered 200 with an HTML page: \
             it is not a hub's API (check `issuer`)",
            server.url,
            host(&server.url)
        )
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "{:?}", seen.lock().unwrap());
}

#[test]
fn an_issuer_with_no_discovery_document_is_asked_once() {
    let (server, seen) = answering(
        "404 Not Found",
        "application/json",
        "{\"error\":\"not found\"}",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new();
    o.set("provider", "oidc").unwrap();
    o.set("issuer", &server.url).unwrap();
    o.set("client_id", "cli").unwrap();
    o.set("token_path", dir.path().join("t.toml").to_str().unwrap())
        .unwrap();
    o.set("open_browser", "false").unwrap();
    o.set("interactive", "true").unwrap();
    let err = authenticate(&o).unwrap_err();
    assert_eq!(
        err.message(),
        format!(
            "discovery for {}: the server at {} answered 404: it is not an OpenID provider \
             (check `issuer`)",
            server.url,
            host(&server.url)
        )
    );
    // The OpenID document, then RFC 8414's: no try after that.
    assert_eq!(seen.lock().unwrap().len(), 2, "{:?}", seen.lock().unwrap());
}

/// A TLS server (openssl s_server) whose self-signed certificate no root
/// trusts; the guard stops it.
struct TlsServer {
    child: std::process::Child,
    port: u16,
    /// Holds the key and certificate until the server stops.
    _files: tempfile::TempDir,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn self_signed_tls_server() -> TlsServer {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("openssl")
        .args(["s_server", "-www", "-accept"])
        .arg(port.to_string())
        .arg("-key")
        .arg(dir.path().join("key.pem"))
        .arg("-cert")
        .arg(dir.path().join("cert.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).is_ok_and(|n| n > 0) && !line.contains("ACCEPT") {
        line.clear();
    }
    // Keep reading its output so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    TlsServer {
        child,
        port,
        _files: dir,
    }
}

#[test]
fn an_untrusted_certificate_names_the_roots_and_how_to_add_one() {
    let server = self_signed_tls_server();
    let url = format!("https://127.0.0.1:{}", server.port);
    let dir = tempfile::tempdir().unwrap();
    let err = in_child(
        "tls",
        &[("SERVER", &url), ("DIR", dir.path().to_str().unwrap())],
    );
    assert_eq!(
        err,
        format!(
            "Network: GET {url}/auth/configuration: the TLS certificate of 127.0.0.1:{} is not \
             trusted: it is signed by an unknown CA (trusted roots: the built-in roots; to trust \
             another CA, set SSL_CERT_FILE, SSL_CERT_DIR, JULIA_SSL_CA_ROOTS_PATH or the option `ca_file`)",
            server.port
        )
    );
}

#[test]
fn a_proxy_that_refuses_the_tunnel_is_named() {
    let connects = Arc::new(AtomicUsize::new(0));
    let counted = connects.clone();
    let proxy = RawServer::start(move |line, stream| {
        if line.starts_with("CONNECT hub.example:443 ") {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
    });
    let dir = tempfile::tempdir().unwrap();
    let err = in_child(
        "proxy",
        &[
            ("SERVER", "https://hub.example"),
            ("DIR", dir.path().to_str().unwrap()),
            ("HTTPS_PROXY", &proxy.url),
        ],
    );
    assert_eq!(
        err,
        "Network: GET https://hub.example/auth/configuration: the proxy for hub.example failed: \
         it refused to open a connection to the server (check HTTPS_PROXY)"
    );
    assert!(connects.load(Ordering::SeqCst) >= 1);
}

/// Runs `child_login` in a child process with a clean network environment
/// plus `env`, and returns the "Kind: message" line it printed.
fn in_child(case: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_login", "--exact", "--nocapture", "--test-threads=1"]);
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "JULIA_SSL_CA_ROOTS_PATH",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("NETWORK_ERRORS_CHILD", case);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| {
            panic!(
                "no result from the child: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string()
}

/// The child of [`in_child`]; does nothing when run as a test of its own.
#[test]
fn child_login() {
    if std::env::var("NETWORK_ERRORS_CHILD").is_err() {
        return;
    }
    let dir = tempfile::TempDir::new_in(std::env::var("DIR").unwrap()).unwrap();
    let err = authenticate(&login_options(&std::env::var("SERVER").unwrap(), &dir)).unwrap_err();
    println!("RESULT {:?}: {}", err.kind(), err.message());
}

#[test]
fn an_html_page_where_the_refreshed_token_should_be_is_named_not_quoted() {
    let (server, seen) = answering(
        "200 OK",
        "text/html",
        "<!doctype html><title>Sign in to the Wi-Fi</title>",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(
        &path,
        format!(
            "access_token = \"a\"\nid_token = \"stored-id\"\nrefresh_token = \"stored-refresh\"\n\
             refresh_url = \"{}/auth/renew/token.toml/v2/\"\nexpires_at = 1\nexpires_in = 3600\n",
            server.url
        ),
    )
    .unwrap();
    let mut o = Options::new();
    o.set("server", &server.url).unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o.set("interactive", "false").unwrap();
    let err = authenticate(&o).unwrap_err();
    let page = format!(
        "token refresh: the server at {} answered 200 with an HTML page: it is not a hub's API \
         (check `server`)",
        host(&server.url)
    );
    assert!(err.message().contains(&page), "{}", err.message());
    assert!(!err.message().contains("Wi-Fi"), "{}", err.message());
    assert_eq!(seen.lock().unwrap().len(), 1, "{:?}", seen.lock().unwrap());
}
