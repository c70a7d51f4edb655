//! CA roots and proxies, end to end through the `hubauth` CLI in a child
//! process (the variables are process-wide, so each case gets its own
//! environment): a TLS server (`openssl s_server`) whose certificate comes
//! from a CA made by the test, and a real proxy (Debian's tinyproxy).
//!
//! `openssl s_server -www` answers every GET with an HTML status page, so a
//! request whose TLS handshake succeeded ends in "not a hub's API" (the
//! discovery or user endpoint expects JSON), and one whose certificate was
//! not trusted in a certificate error.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Every variable that changes proxies or roots: removed from each child's
/// environment before the case sets its own.
const VARIABLES: &[&str] = &[
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
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "DAGSHUB_USER_TOKEN",
    "REQUEST_METHOD",
];

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run openssl");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A non-loopback IPv4 address of this machine (no packet is sent).
fn outward_address() -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(("10.255.255.254", 9)).ok()?;
    match socket.local_addr().ok()? {
        SocketAddr::V4(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => Some(*a.ip()),
        _ => None,
    }
}

/// A CA and a server certificate it signed, for 127.0.0.1 and `extra`.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new(extra: Option<Ipv4Addr>) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(Command::new("openssl")
            .current_dir(d)
            .args(["req", "-x509"])
            .args(ec)
            .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"])
            .args(["-subj", "/CN=hubauth test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
        run(Command::new("openssl")
            .current_dir(d)
            .arg("req")
            .args(ec)
            .args(["-keyout", "server.key", "-out", "server.csr"])
            .args(["-subj", "/CN=hubauth test server"]));
        let mut san = "subjectAltName=IP:127.0.0.1".to_string();
        if let Some(ip) = extra {
            san.push_str(&format!(",IP:{ip}"));
        }
        std::fs::write(
            d.join("ext.cnf"),
            format!("{san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        run(Command::new("openssl")
            .current_dir(d)
            .args(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem"])
            .args(["-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem"])
            .args(["-days", "2", "-extfile", "ext.cnf"]));
        std::fs::create_dir(d.join("certs")).unwrap();
        std::fs::copy(d.join("ca.pem"), d.join("certs/test-ca.pem")).unwrap();
        std::fs::write(d.join("certs/README"), "not a certificate\n").unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A child process killed (by its own pid) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openssl s_server -www` on every interface, on a port it picks.
fn tls_server(pki: &Pki) -> (Guard, u16) {
    let mut child = Command::new("openssl")
        .args(["s_server", "-accept", "0", "-www"])
        .arg("-cert")
        .arg(pki.path("server.pem"))
        .arg("-key")
        .arg(pki.path("server.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines.next().expect("s_server printed ACCEPT").unwrap();
        if let Some(addr) = line.strip_prefix("ACCEPT ") {
            break addr.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (guard, port)
}

/// Runs `hubauth token` for `provider` against `url`, with `env` only (of
/// the variables above), and returns (exit code, stderr).
fn hubauth(provider: &str, url: &str, extra: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubauth"));
    cmd.args([
        "--provider",
        provider,
        "--timeout",
        "20",
        "-o",
        "maxcount=1",
    ]);
    match provider {
        "oidc" => cmd
            .args(["--issuer", url, "--client-id", "hubauth-test"])
            .args(["-o", "interactive=false"])
            .env("HUBAUTH_SUBJECT_TOKEN", "pat-0123"),
        // validate=true: the given token is checked at /api/v1/user.
        _ => cmd
            .args(["--server", url])
            .args(["-o", "validate=true", "-o", "interactive=false"])
            .env("HUBAUTH_TOKEN", "app-token-0123"),
    };
    cmd.args(extra).arg("token");
    for name in VARIABLES {
        cmd.env_remove(name);
    }
    cmd.env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .env("JULIA_DEPOT_PATH", home.path().join(".julia"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output { status, stderr, .. } = cmd.output().expect("run hubauth");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The TLS handshake succeeded: the server's HTML page was read.
fn trusted(result: &(i32, String)) -> bool {
    assert_ne!(result.0, 0, "s_server never answers JSON: {result:?}");
    if result
        .1
        .contains("with an HTML page: it is not a hub's API")
    {
        return true;
    }
    assert!(result.1.contains("certificate"), "{result:?}");
    false
}

#[test]
fn a_test_ca_is_trusted_only_where_it_is_configured() {
    let pki = Pki::new(None);
    let (_server, port) = tls_server(&pki);
    let url = format!("https://127.0.0.1:{port}");
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let dir = pki.path("certs");
    let dir = dir.to_str().unwrap();

    // Not configured: refused, and the message names the roots and the fix.
    let refused = hubauth("oidc", &url, &[], &[]);
    assert!(!trusted(&refused));
    assert_eq!(refused.0, 5, "{refused:?}");
    assert!(
        refused.1.contains("trusted roots: the built-in roots"),
        "{refused:?}"
    );
    assert!(refused.1.contains("SSL_CERT_FILE"), "{refused:?}");
    // The CLI names the option its own way (`-o key=value`).
    assert!(
        refused.1.contains("the option `-o ca_file=…`"),
        "{refused:?}"
    );

    // Every provider: SSL_CERT_FILE, SSL_CERT_DIR, the option ca_file.
    assert!(trusted(&hubauth(
        "oidc",
        &url,
        &[],
        &[("SSL_CERT_FILE", ca)]
    )));
    assert!(trusted(&hubauth(
        "oidc",
        &url,
        &[],
        &[("SSL_CERT_DIR", dir)]
    )));
    assert!(trusted(&hubauth(
        "oidc",
        &url,
        &["-o", &format!("ca_file={ca}")],
        &[]
    )));
    assert!(trusted(&hubauth(
        "dagshub",
        &url,
        &[],
        &[("SSL_CERT_FILE", ca)]
    )));

    // requests' variables count for the Python SDKs' hubs, not for oidc.
    assert!(trusted(&hubauth(
        "dagshub",
        &url,
        &[],
        &[("REQUESTS_CA_BUNDLE", ca)]
    )));
    assert!(trusted(&hubauth(
        "dagshub",
        &url,
        &[],
        &[("CURL_CA_BUNDLE", ca)]
    )));
    let other = hubauth("oidc", &url, &[], &[("REQUESTS_CA_BUNDLE", ca)]);
    assert!(!trusted(&other));
    let dagshub = hubauth("dagshub", &url, &[], &[]);
    assert!(!trusted(&dagshub), "{dagshub:?}");
    assert!(dagshub.1.contains("REQUESTS_CA_BUNDLE"), "{dagshub:?}");

    // A variable that names the CA is listed among the roots when it still fails
    // (here: the CA is fine but the variable names another file).
    let wrong = pki.path("server.pem");
    let listed = hubauth(
        "oidc",
        &url,
        &[],
        &[("SSL_CERT_FILE", wrong.to_str().unwrap())],
    );
    assert!(!trusted(&listed));
    assert!(
        listed
            .1
            .contains(&format!("{} (SSL_CERT_FILE)", wrong.display())),
        "{listed:?}"
    );

    // An unreadable ca_file is a usage error naming it; a variable naming
    // nothing is only a warning.
    let missing = hubauth("oidc", &url, &["-o", "ca_file=/nonexistent/ca.pem"], &[]);
    assert_eq!(missing.0, 2, "{missing:?}");
    assert!(missing.1.contains("ca_file"), "{missing:?}");
    let skipped = hubauth(
        "oidc",
        &url,
        &[],
        &[("SSL_CERT_FILE", "/nonexistent/ca.pem")],
    );
    assert!(!trusted(&skipped));
    assert!(skipped.1.contains("ignored"), "{skipped:?}");
}

/// tinyproxy on 127.0.0.1, logging to a file of its temp dir.
struct Proxy {
    _guard: Guard,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    fn start() -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            probe.local_addr().unwrap().port()
        };
        let log = dir.path().join("tinyproxy.log");
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\n\
                 PidFile \"{}\"\nMaxClients 20\nAllow 127.0.0.1\n",
                log.display(),
                dir.path().join("tinyproxy.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tinyproxy (apt-get install tinyproxy; .ci/run does)");
        let guard = Guard(child);
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < until, "tinyproxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Proxy {
            _guard: guard,
            port,
            log,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many CONNECTs to `target` the log shows.
    fn connects(&self, target: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(&format!("CONNECT {target} ")))
            .count()
    }
}

#[test]
fn https_proxy_carries_requests_and_no_proxy_bypasses_it() {
    let outward = outward_address();
    let pki = Pki::new(outward);
    let (_server, port) = tls_server(&pki);
    let proxy = Proxy::start();
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let proxy_url = proxy.url();

    // A host the proxy must tunnel to. Without an address other than loopback
    // (which never goes through the proxy), a name that does not resolve still
    // shows the CONNECT in the proxy's log, and the request then fails.
    let (host, reachable) = match outward {
        Some(ip) => (ip.to_string(), true),
        None => ("hubauth-proxy-test.invalid".to_string(), false),
    };
    let target = format!("{host}:{port}");
    let url = format!("https://{target}");

    for (name, value) in [
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("https_proxy", proxy_url.as_str()),
        ("ALL_PROXY", proxy_url.as_str()),
    ] {
        let before = proxy.connects(&target);
        let result = hubauth("oidc", &url, &[], &[(name, value), ("SSL_CERT_FILE", ca)]);
        assert!(proxy.connects(&target) > before, "{name}: {result:?}");
        if reachable {
            assert!(trusted(&result), "{name}: {result:?}");
        }
    }

    // NO_PROXY (either case, by address or with other entries) goes direct.
    for (name, value) in [
        ("NO_PROXY", host.clone()),
        ("no_proxy", format!("example.com, {host}")),
    ] {
        let before = proxy.connects(&target);
        let result = hubauth(
            "oidc",
            &url,
            &[],
            &[
                ("HTTPS_PROXY", &proxy_url),
                (name, &value),
                ("SSL_CERT_FILE", ca),
            ],
        );
        assert_eq!(proxy.connects(&target), before, "{name}: {result:?}");
        if reachable {
            assert!(trusted(&result), "{name}: {result:?}");
        }
    }
    if reachable {
        let star = hubauth(
            "oidc",
            &url,
            &[],
            &[
                ("HTTPS_PROXY", &proxy_url),
                ("NO_PROXY", "*"),
                ("SSL_CERT_FILE", ca),
            ],
        );
        assert!(trusted(&star), "{star:?}");
    }

    // HTTP_PROXY is for http URLs only: an https request ignores it.
    let before = proxy.connects(&target);
    hubauth(
        "oidc",
        &url,
        &[],
        &[("HTTP_PROXY", &proxy_url), ("SSL_CERT_FILE", ca)],
    );
    assert_eq!(proxy.connects(&target), before);

    // Loopback never goes through the proxy.
    let local = format!("127.0.0.1:{port}");
    let result = hubauth(
        "oidc",
        &format!("https://{local}"),
        &[],
        &[("HTTPS_PROXY", &proxy_url), ("SSL_CERT_FILE", ca)],
    );
    assert!(trusted(&result), "{result:?}");
    assert_eq!(proxy.connects(&local), 0);
    let log = std::fs::read_to_string(&proxy.log).unwrap();
    assert!(!log.contains("CONNECT 127.0.0.1"), "{log}");

    // A proxy that is not a URL is an error that names the variable.
    let bad = hubauth("oidc", &url, &[], &[("HTTPS_PROXY", "http://[::1")]);
    assert!(bad.1.contains("HTTPS_PROXY"), "{bad:?}");
}
