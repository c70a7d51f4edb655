//! The real OpenID provider of tests/oidc-server (oidc-provider on node),
//! started per test on a free loopback port, and its `/_test/*` controls.
//!
//! The server exits when its stdin closes, so a test that panics or a killed
//! test binary never leaves it running; dropping [`OidcServer`] closes stdin.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hubauth::net::{self, Body, Request};
use hubauth::{HookAction, Options};
use serde_json::{Value, json};

pub const PUBLIC_CLIENT: &str = "hubauth-public";
/// Native public client for browser logins (redirect http://127.0.0.1/callback,
/// any port), with the device flow too when the server offers it.
pub const NATIVE_CLIENT: &str = "hubauth-native";
pub const CONFIDENTIAL_CLIENT: &str = "hubauth-confidential";
pub const CONFIDENTIAL_SECRET: &str = "hubauth-secret";
/// Always exists, for the account alice.
pub const ALICE_PAT: &str = "pat-alice-0123456789";
pub const PAT_TYPE: &str = "urn:ietf:params:oauth:token-type:pat";

/// How long the server may take to print its ISSUER line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start the server.
#[derive(Clone, Debug)]
pub struct Config {
    pub access_ttl: u64,
    /// `--device-interval`; None = the server sends no interval (then the
    /// client's poll_interval_ms applies).
    pub device_interval: Option<u64>,
    /// false: `--no-device-flow` (discovery offers no device_authorization_endpoint).
    pub device_flow: bool,
    /// false: `--no-revocation` (no revocation_endpoint anywhere).
    pub revocation: bool,
    /// `--revocation-in-rfc8414`: only the RFC 8414 metadata names it.
    pub revocation_in_rfc8414: bool,
    /// false: `--no-verification-uri-complete`.
    pub verification_uri_complete: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            access_ttl: 60,
            device_interval: Some(1),
            device_flow: true,
            revocation: true,
            revocation_in_rfc8414: false,
            verification_uri_complete: true,
        }
    }
}

/// A running server. Cheap handles to its controls: [`OidcServer::control`].
pub struct OidcServer {
    child: Child,
    stdin: Option<ChildStdin>,
    control: Control,
}

/// The issuer URL and the `/_test/*` helpers; `Clone + Send`, for hooks.
#[derive(Clone, Debug)]
pub struct Control {
    pub issuer: String,
}

fn server_js() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../oidc-server/server.js")
}

impl OidcServer {
    pub fn start() -> OidcServer {
        OidcServer::with(Config::default())
    }

    pub fn with_ttl(access_ttl: u64) -> OidcServer {
        OidcServer::with(Config {
            access_ttl,
            ..Config::default()
        })
    }

    pub fn with(config: Config) -> OidcServer {
        let mut command = Command::new("node");
        command.arg(server_js()).args([
            "--port",
            "0",
            "--access-ttl",
            &config.access_ttl.to_string(),
        ]);
        if let Some(interval) = config.device_interval {
            command.args(["--device-interval", &interval.to_string()]);
        }
        if !config.device_flow {
            command.arg("--no-device-flow");
        }
        if !config.revocation {
            command.arg("--no-revocation");
        }
        if config.revocation_in_rfc8414 {
            command.arg("--revocation-in-rfc8414");
        }
        if !config.verification_uri_complete {
            command.arg("--no-verification-uri-complete");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node tests/oidc-server/server.js (is node installed, and `npm ci --prefix tests/oidc-server` done?)");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        // Read the first line on a thread so a server that never starts fails
        // the test instead of hanging it.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let Ok(line) = receiver.recv_timeout(STARTUP_TIMEOUT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the OIDC test server did not start within {STARTUP_TIMEOUT:?}");
        };
        let issuer = line
            .trim()
            .strip_prefix("ISSUER=")
            .unwrap_or_else(|| panic!("the OIDC test server did not start (first line {line:?})"))
            .to_string();
        OidcServer {
            child,
            stdin,
            control: Control { issuer },
        }
    }

    pub fn control(&self) -> Control {
        self.control.clone()
    }
}

impl std::ops::Deref for OidcServer {
    type Target = Control;
    fn deref(&self) -> &Control {
        &self.control
    }
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the server exits
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user code in a verification URL (`…?user_code=ABCD-EFGH`), or the
/// argument itself.
pub fn user_code(url_or_code: &str) -> String {
    match url::Url::parse(url_or_code) {
        Ok(url) => url
            .query_pairs()
            .find(|(k, _)| k == "user_code")
            .map(|(_, v)| v.into_owned())
            .expect("the verification URL names a user_code"),
        Err(_) => url_or_code.to_string(),
    }
}

impl Control {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        let response = net::send(Request::post(self.url(path), Body::Json(body))).unwrap();
        let value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status, value)
    }

    /// Approves (or with `deny`, denies) a device login, as the user would.
    pub fn decide(&self, url_or_code: &str, deny: bool) -> Value {
        let (status, reply) = self.post_json(
            "/_test/approve",
            json!({"user_code": user_code(url_or_code), "deny": deny}),
        );
        assert_eq!(status, 200, "approve: {reply}");
        reply
    }

    /// Plays the browser of a browser login: opens `url` (an authorization
    /// URL), logs alice in and consents, and stops at the redirect to the
    /// client; with `deliver`, also GETs it. `{"location", "status", "body"}`.
    pub fn browse(&self, url: &str, deliver: bool) -> Value {
        let (status, reply) =
            self.post_json("/_test/browse", json!({"url": url, "deliver": deliver}));
        assert_eq!(status, 200, "browse: {reply}");
        reply
    }

    pub fn approve(&self, url_or_code: &str) -> Value {
        self.decide(url_or_code, false)
    }

    pub fn stats(&self) -> Value {
        let response = net::send(Request::get(self.url("/_test/stats"))).unwrap();
        serde_json::from_slice(&response.body).unwrap()
    }

    /// A counter of the stats: `stat(&["token_success", "refresh_token"])`.
    pub fn stat(&self, path: &[&str]) -> i64 {
        let stats = self.stats();
        let mut value = &stats;
        for key in path {
            value = &value[*key];
        }
        value.as_i64().unwrap_or(0)
    }

    /// A new personal access token for `account`.
    pub fn create_pat(&self, account: &str) -> String {
        let (status, reply) = self.post_json("/_test/pat", json!({"account": account}));
        assert_eq!(status, 200, "create_pat: {reply}");
        reply["pat"].as_str().unwrap().to_string()
    }

    /// The next matching request gets the given error (see the server's README).
    pub fn inject(&self, spec: Value) {
        let (status, reply) = self.post_json("/_test/inject", spec);
        assert_eq!(status, 200, "inject: {reply}");
    }

    /// Introspects `token` as the public client (its own tokens only).
    pub fn introspect(&self, token: &str) -> Value {
        let form = vec![
            ("token".to_string(), token.to_string()),
            ("client_id".to_string(), PUBLIC_CLIENT.to_string()),
        ];
        let response = net::send(Request::post(
            self.url("/token/introspection"),
            Body::Form(form),
        ))
        .unwrap();
        serde_json::from_slice(&response.body).unwrap()
    }

    /// A hook that approves (or denies) every login in the background, the way
    /// a person would after opening the URL; it counts its calls.
    pub fn hook(&self, deny: bool, calls: Arc<std::sync::atomic::AtomicUsize>) -> hubauth::Hook {
        let control = self.clone();
        Arc::new(move |url: &str| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let control = control.clone();
            let url = url.to_string();
            // The hook must return at once: polling starts after it.
            std::thread::spawn(move || control.decide(&url, deny));
            HookAction::Continue
        })
    }

    /// Options for this issuer with `client_id`, the token file at `token_path`,
    /// no browser, and a bounded wait.
    pub fn options(&self, client_id: &str, token_path: &Path) -> Options {
        let mut o = Options::new();
        o.set("provider", "oidc").unwrap();
        o.set("issuer", &self.issuer).unwrap();
        o.set("client_id", client_id).unwrap();
        o.set("token_path", token_path.to_str().unwrap()).unwrap();
        o.set("interactive", "false").unwrap();
        o.set("timeout_ms", "30000").unwrap();
        o.set("poll_interval_ms", "200").unwrap();
        o
    }
}
