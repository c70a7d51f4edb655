//! The browser login (authorization code + PKCE, loopback redirect) of the
//! oidc provider, end to end against the real oidc-provider server of
//! tests/oidc-server. The hook "plays the browser" through the server's
//! `/_test/browse`, which logs alice in, consents, and delivers the redirect
//! to hubauth's listener.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubauth::net::{self, Request};
use hubauth::{ErrorKind, HookAction, Options, authenticate};
use hubauth_testkit::oidc_server::{Config, Control, NATIVE_CLIENT, OidcServer};

fn stored(path: &Path) -> toml::Table {
    std::fs::read_to_string(path).unwrap().parse().unwrap()
}

fn query(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The URLs the hook saw.
type Seen = Arc<Mutex<Vec<String>>>;

struct Case {
    server: OidcServer,
    _dir: tempfile::TempDir,
    path: PathBuf,
    seen: Seen,
}

impl Case {
    fn new(server: OidcServer) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oidc").join("token.toml");
        Case {
            server,
            _dir: dir,
            path,
            seen: Arc::default(),
        }
    }

    fn options(&self) -> Options {
        self.server.options(NATIVE_CLIENT, &self.path)
    }

    /// Options whose hook records the URL and runs `user` on a thread (the
    /// hook itself must return at once: the listener starts waiting after it).
    fn with_user(&self, user: impl Fn(Control, String) + Send + Sync + 'static) -> Options {
        let mut o = self.options();
        let control = self.server.control();
        let seen = self.seen.clone();
        let user = Arc::new(user);
        o.set_hook(Some(Arc::new(move |url: &str| {
            seen.lock().unwrap().push(url.to_string());
            let (control, url, user) = (control.clone(), url.to_string(), user.clone());
            std::thread::spawn(move || user(control, url));
            HookAction::Continue
        })));
        o
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// The user logs in and the browser follows the redirect to hubauth.
fn log_in(control: Control, url: String) {
    let reply = control.browse(&url, true);
    assert_eq!(reply["status"], 200, "{reply}");
    assert!(
        reply["body"].as_str().unwrap().contains("close this page"),
        "{reply}"
    );
}

fn get(url: &str) -> u16 {
    net::send(Request::get(url)).unwrap().status
}

#[test]
fn a_browser_login_stores_tokens_and_the_refresh_works() {
    let case = Case::new(OidcServer::with_ttl(3));
    let mut options = case.with_user(log_in);
    options.set("flow", "browser").unwrap();
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));

    // The request: PKCE S256, state, a loopback redirect on a random port.
    let seen = case.seen();
    assert_eq!(seen.len(), 1);
    let url = &seen[0];
    assert!(
        url.starts_with(&format!("{}/auth?", case.server.issuer)),
        "{url}"
    );
    assert_eq!(query(url, "response_type").as_deref(), Some("code"));
    assert_eq!(query(url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(url, "code_challenge").unwrap().len(), 43);
    assert!(query(url, "state").unwrap().len() >= 32);
    let redirect = url::Url::parse(&query(url, "redirect_uri").unwrap()).unwrap();
    assert_eq!(redirect.host_str(), Some("127.0.0.1"));
    assert_eq!(redirect.path(), "/callback");
    assert!(redirect.port().is_some_and(|p| p != 0));
    assert!(!url.contains("code_verifier"));
    // The listener is closed once the login is done.
    assert!(TcpStream::connect(("127.0.0.1", redirect.port().unwrap())).is_err());

    let file = stored(&case.path);
    let access = file["access_token"].as_str().unwrap().to_string();
    let refresh = file["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(auth.token().unwrap().expose(), access);
    assert_eq!(
        case.server.stat(&["token_success", "authorization_code"]),
        1
    );

    // Refresh: the stored refresh token is used, rotated and stored.
    let expires_at = file["expires_at"].as_integer().unwrap();
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        if now >= expires_at as f64 + 0.05 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let renewed = auth.token().unwrap();
    assert_ne!(renewed.expose(), access);
    let file = stored(&case.path);
    assert_eq!(file["access_token"].as_str(), Some(renewed.expose()));
    assert_ne!(file["refresh_token"].as_str(), Some(refresh.as_str()));
    assert_eq!(case.server.stat(&["token_success", "refresh_token"]), 1);
    assert_eq!(case.seen().len(), 1, "a refresh is no login");
}

#[test]
fn a_wrong_state_is_refused_and_the_listener_keeps_waiting() {
    let case = Case::new(OidcServer::start());
    let refused: Arc<Mutex<Vec<u16>>> = Arc::default();
    let statuses = refused.clone();
    let mut options = case.with_user(move |control, url| {
        let reply = control.browse(&url, false);
        let location = reply["location"].as_str().unwrap().to_string();
        let state = query(&location, "state").unwrap();
        assert!(query(&location, "code").is_some(), "{reply}");
        let mut got = Vec::new();
        // Another state, no state, another path (404), a broken request.
        got.push(get(&location.replace(&state, "forged-state")));
        got.push(get(&location.replace(&format!("state={state}"), "x=1")));
        got.push(get(&location.replace("/callback", "/favicon.ico")));
        got.push(get(&location.replace("/callback", "/callback/")));
        let port = url::Url::parse(&location).unwrap().port().unwrap();
        let mut raw = TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::io::Write::write_all(&mut raw, b"BREW /callback HTTP/1.1\r\n\r\n").unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut raw, &mut answer).unwrap();
        got.push(if answer.starts_with("HTTP/1.1 400") {
            400
        } else {
            0
        });
        statuses.lock().unwrap().extend(got);
        // Then the real browser arrives.
        assert_eq!(get(&location), 200);
    });
    options.set("flow", "browser").unwrap();
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert_eq!(*refused.lock().unwrap(), vec![400, 400, 404, 404, 400]);
    assert!(stored(&case.path).contains_key("refresh_token"));
}

/// A non-loopback IPv4 address of this machine, if it has one (no packet is
/// sent: connecting a UDP socket only picks the route).
fn outward_address() -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect(("10.255.255.254", 9)).ok()?;
    match socket.local_addr().ok()? {
        SocketAddr::V4(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => Some(*a.ip()),
        _ => None,
    }
}

#[test]
fn a_fixed_redirect_port_is_used_and_bound_to_loopback_only() {
    let case = Case::new(OidcServer::start());
    let port = {
        let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        probe.local_addr().unwrap().port()
    };
    let elsewhere: Arc<Mutex<Vec<String>>> = Arc::default();
    let found = elsewhere.clone();
    let mut options = case.with_user(move |control, url| {
        // While the listener waits: nothing answers on other addresses.
        let mut reached = Vec::new();
        if TcpStream::connect_timeout(
            &SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port)),
            Duration::from_secs(1),
        )
        .is_ok()
        {
            reached.push("[::1]".to_string());
        }
        if let Some(ip) = outward_address()
            && TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_secs(1))
                .is_ok()
        {
            reached.push(ip.to_string());
        }
        found.lock().unwrap().extend(reached);
        log_in(control, url);
    });
    options.set("flow", "browser").unwrap();
    options.set("redirect_port", &port.to_string()).unwrap();
    authenticate(&options).unwrap();
    let url = &case.seen()[0];
    assert_eq!(
        query(url, "redirect_uri").unwrap(),
        format!("http://127.0.0.1:{port}/callback")
    );
    assert!(
        elsewhere.lock().unwrap().is_empty(),
        "the listener answered on {:?}",
        elsewhere.lock().unwrap()
    );

    // A port in use is an error naming the option, before any URL is shown.
    let busy = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut options = case.with_user(log_in);
    options.set("flow", "browser").unwrap();
    options.set("force", "true").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    options
        .set("redirect_port", &busy_port.to_string())
        .unwrap();
    let err = authenticate(&options).unwrap_err();
    assert!(err.message().contains("redirect_port"), "{err}");
    assert_eq!(case.seen().len(), 1);
}

#[test]
fn auto_picks_the_device_flow_when_offered_else_the_browser() {
    // Offered: the device flow, as before (the same client could do both).
    let case = Case::new(OidcServer::start());
    let options = case.with_user(|control, url| {
        control.approve(&url);
    });
    authenticate(&options).unwrap();
    let url = &case.seen()[0];
    assert!(
        url.contains("/device") && url.contains("user_code"),
        "{url}"
    );
    assert_eq!(case.server.stat(&["device_authorizations"]), 1);

    // flow=browser overrides it on the same server.
    let mut options = case.with_user(log_in);
    options.set("flow", "browser").unwrap();
    options.set("force", "true").unwrap();
    authenticate(&options).unwrap();
    assert!(case.seen()[1].contains("/auth?"), "{:?}", case.seen());

    // Not offered: the browser login.
    let case = Case::new(OidcServer::with(Config {
        device_flow: false,
        ..Config::default()
    }));
    let auth = authenticate(&case.with_user(log_in)).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    let url = &case.seen()[0];
    assert!(
        url.starts_with(&format!("{}/auth?", case.server.issuer)),
        "{url}"
    );
    assert_eq!(case.server.stat(&["device_authorizations"]), 0);

    // flow=device there is an error that says why.
    let mut options = case.with_user(log_in);
    options.set("flow", "device").unwrap();
    options.set("force", "true").unwrap();
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert!(
        err.message().contains("device_authorization_endpoint"),
        "{err}"
    );
}

#[test]
fn a_timeout_ends_the_browser_login_and_writes_nothing() {
    let case = Case::new(OidcServer::start());
    // The user never comes back.
    let mut options = case.with_user(|_, _| {});
    options.set("flow", "browser").unwrap();
    options.set("timeout_ms", "1500").unwrap();
    options.set("maxcount", "1").unwrap();
    let started = Instant::now();
    let err = authenticate(&options).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(3000),
        "{took:?}"
    );
    assert!(!case.path.exists());
    // And the port is free again.
    let port = url::Url::parse(&query(&case.seen()[0], "redirect_uri").unwrap())
        .unwrap()
        .port()
        .unwrap();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert_eq!(
        case.server.stat(&["token_requests", "authorization_code"]),
        0
    );
}

#[test]
fn a_refused_login_is_an_authentication_error() {
    let case = Case::new(OidcServer::start());
    let mut options = case.with_user(|control, url| {
        let location = control.browse(&url, false)["location"]
            .as_str()
            .unwrap()
            .to_string();
        let state = query(&location, "state").unwrap();
        let base = location.split('?').next().unwrap().to_string();
        assert_eq!(
            get(&format!("{base}?error=access_denied&state={state}")),
            200
        );
    });
    options.set("flow", "browser").unwrap();
    options.set("maxcount", "1").unwrap();
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("access_denied"), "{err}");
    assert!(!case.path.exists());
}

// Issue 22, item 2: any local user can connect to the listener; none can
// hold the login up (security review, finding 2).

/// The redirect listener's port, from the login URL.
fn listener_port(url: &str) -> u16 {
    url::Url::parse(&query(url, "redirect_uri").unwrap())
        .unwrap()
        .port()
        .unwrap()
}

/// How many silent connections a siege keeps open.
const IDLE: usize = 12;

/// A hostile local client: it keeps [`IDLE`] silent connections open to the
/// listener and one more that trickles a request a byte every 200 ms,
/// reopening each as the listener closes it, until dropped.
struct Siege {
    stop: Arc<AtomicBool>,
    /// How often the listener closed the trickling connection.
    cut: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Siege {
    fn start(port: u16) -> Siege {
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicUsize::new(0));
        let idle = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // Replaced every half second: always a dozen fresh ones.
                    let open: Vec<TcpStream> = (0..IDLE)
                        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
                        .collect();
                    std::thread::sleep(Duration::from_millis(500));
                    drop(open);
                }
            })
        };
        let trickle = {
            let (stop, cut) = (stop.clone(), cut.clone());
            std::thread::spawn(move || {
                let request = b"GET /callback?code=x&state=guess HTTP/1.1\r\nHost: a\r\n";
                while !stop.load(Ordering::SeqCst) {
                    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    for byte in request.iter().cycle() {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        if stream.write_all(&[*byte]).is_err() {
                            cut.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            })
        };
        // Let the connections be accepted before the real browser comes.
        std::thread::sleep(Duration::from_millis(300));
        Siege {
            stop,
            cut,
            threads: vec![idle, trickle],
        }
    }

    fn cut(&self) -> usize {
        self.cut.load(Ordering::SeqCst)
    }
}

impl Drop for Siege {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Options whose user starts a siege on the listener (kept in the returned
/// slot until the test drops it) and then does nothing.
fn besieged(case: &Case) -> (Options, Arc<Mutex<Option<Siege>>>) {
    let slot: Arc<Mutex<Option<Siege>>> = Arc::default();
    let keep = slot.clone();
    let mut options = case.with_user(move |_, url| {
        *keep.lock().unwrap() = Some(Siege::start(listener_port(&url)));
    });
    options.set("flow", "browser").unwrap();
    options.set("maxcount", "1").unwrap();
    (options, slot)
}

#[test]
fn idle_connections_and_a_trickler_do_not_hold_up_the_callback() {
    let case = Case::new(OidcServer::start());
    let delivered: Arc<Mutex<Option<Duration>>> = Arc::default();
    let took = delivered.clone();
    let mut options = case.with_user(move |control, url| {
        let siege = Siege::start(listener_port(&url));
        let location = control.browse(&url, false)["location"]
            .as_str()
            .unwrap()
            .to_string();
        let started = Instant::now();
        assert_eq!(get(&location), 200);
        *took.lock().unwrap() = Some(started.elapsed());
        drop(siege);
    });
    options.set("flow", "browser").unwrap();
    options.set("timeout_ms", "30000").unwrap();
    let started = Instant::now();
    let auth = authenticate(&options).unwrap();
    let total = started.elapsed();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    let callback = delivered.lock().unwrap().unwrap();
    eprintln!("callback answered in {callback:?}, login took {total:?}");
    // Generous bounds: the listener answers at once; one blocked on a
    // connection would wait seconds per connection.
    assert!(callback < Duration::from_secs(2), "{callback:?}");
    assert!(total < Duration::from_secs(15), "{total:?}");
}

#[test]
fn a_cancel_ends_a_besieged_browser_login_within_a_second() {
    let case = Case::new(OidcServer::start());
    let (mut options, siege) = besieged(&case);
    let cancel = hubauth::Cancel::new().unwrap();
    options.set_cancel(Some(cancel.clone()));
    options.set("timeout_ms", "30000").unwrap();
    let trigger = std::thread::spawn({
        let siege = siege.clone();
        move || {
            // Once the siege runs and the trickler is mid-request.
            let until = Instant::now() + Duration::from_secs(20);
            while siege.lock().unwrap().is_none() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(700));
            cancel.trigger();
            Instant::now()
        }
    });
    let err = authenticate(&options).unwrap_err();
    let returned = Instant::now();
    let triggered = trigger.join().unwrap();
    drop(siege.lock().unwrap().take());
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let late = returned.saturating_duration_since(triggered);
    eprintln!("returned {late:?} after the cancel");
    assert!(late < Duration::from_secs(1), "{late:?}");
    assert!(!case.path.exists());
}

#[test]
fn timeout_ms_ends_a_besieged_browser_login() {
    let case = Case::new(OidcServer::start());
    let (mut options, siege) = besieged(&case);
    options.set("timeout_ms", "3500").unwrap();
    let started = Instant::now();
    let err = authenticate(&options).unwrap_err();
    let took = started.elapsed();
    let cut = siege.lock().unwrap().as_ref().map_or(0, Siege::cut);
    drop(siege.lock().unwrap().take());
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    eprintln!("timed out after {took:?}; the trickler was cut off {cut} times");
    assert!(
        took >= Duration::from_millis(3400) && took < Duration::from_millis(4500),
        "{took:?}"
    );
    // The trickler's request head had a 2 s budget, not one per byte.
    assert!(cut >= 1, "the trickling connection was never closed");
    assert!(!case.path.exists());
}

/// The siege run by another user (uid 65534 through setpriv, as bash with
/// /dev/tcp): it cannot hold the login up either. Skipped with a message
/// when it cannot run so.
#[test]
fn another_user_cannot_block_the_browser_login() {
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let (setpriv, bash) = (Path::new("/usr/bin/setpriv"), Path::new("/bin/bash"));
    if !is_root || !setpriv.exists() || !bash.exists() {
        eprintln!("SKIPPED: needs root, /usr/bin/setpriv and /bin/bash to run as another user");
        return;
    }
    // A dozen silent connections and a trickler, reopened as they are closed.
    const ATTACK: &str = r#"
        trap '' PIPE
        port=$1
        echo ready
        while :; do
            for fd in 3 4 5 6 7 8 9 10 11 12 13 14; do
                eval "exec $fd<>/dev/tcp/127.0.0.1/$port" 2>/dev/null || exit 0
            done
            exec 20<>/dev/tcp/127.0.0.1/$port 2>/dev/null || exit 0
            for c in G E T ' ' / c a l l b a c k '?'; do
                printf %s "$c" >&20 2>/dev/null || break
                sleep 0.2
            done
        done
    "#;
    let case = Case::new(OidcServer::start());
    let attacker: Arc<Mutex<Option<std::process::Child>>> = Arc::default();
    let delivered: Arc<Mutex<Option<Duration>>> = Arc::default();
    let (child_slot, took) = (attacker.clone(), delivered.clone());
    let mut options = case.with_user(move |control, url| {
        let port = listener_port(&url);
        let mut child = std::process::Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args([bash.to_str().unwrap(), "-c", ATTACK, "attack"])
            .arg(port.to_string())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready.trim(), "ready");
        *child_slot.lock().unwrap() = Some(child);
        // Let it open its connections and start trickling.
        std::thread::sleep(Duration::from_millis(700));
        let location = control.browse(&url, false)["location"]
            .as_str()
            .unwrap()
            .to_string();
        let started = Instant::now();
        assert_eq!(get(&location), 200);
        *took.lock().unwrap() = Some(started.elapsed());
    });
    options.set("flow", "browser").unwrap();
    options.set("timeout_ms", "30000").unwrap();
    let result = authenticate(&options);
    if let Some(mut child) = attacker.lock().unwrap().take() {
        let alive = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        assert!(alive, "the attacker was not running during the login");
    }
    let auth = result.unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    let callback = delivered.lock().unwrap().unwrap();
    eprintln!("callback answered in {callback:?} under another user's siege");
    assert!(callback < Duration::from_secs(2), "{callback:?}");
}
