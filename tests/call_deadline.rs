//! `timeout_ms` bounds a whole call (issue 23 item 2): every request, lock
//! wait and login poll of one public call draws on one deadline fixed at the
//! call's start. Before, each request and each login computed "now +
//! timeout_ms" anew, so a call that waited twice took twice as long.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hubauth::store::fsutil::FileLock;
use hubauth::{ErrorKind, HookAction, Options, authenticate};
use support::recorder::{Recorded, Recorder, json, response};

const TIMEOUT: Duration = Duration::from_millis(1000);
/// How much later than `TIMEOUT` a call may end (a loaded machine, the
/// cancel tick): well under what a second full `TIMEOUT` would add.
const SLACK: Duration = Duration::from_millis(450);

/// The `http://host:port` this request was sent to.
fn own_url(request: &Recorded) -> String {
    let host = request
        .headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    format!("http://{host}")
}

fn discovery_doc(issuer: &str) -> String {
    format!(
        r#"{{"issuer":"{issuer}","token_endpoint":"{issuer}/token","device_authorization_endpoint":"{issuer}/device"}}"#
    )
}

fn oidc_options(issuer: &str, path: &std::path::Path) -> Options {
    let mut o = Options::new();
    o.set("provider", "oidc").unwrap();
    o.set("issuer", issuer).unwrap();
    o.set("client_id", "cli").unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o.set("interactive", "false").unwrap();
    o.set("validate", "false").unwrap();
    o.set("maxcount", "1").unwrap();
    o.set("timeout_ms", &TIMEOUT.as_millis().to_string())
        .unwrap();
    o
}

fn assert_ends_at_the_deadline(started: Instant, err: &hubauth::Error) {
    let took = started.elapsed();
    assert!(
        took < TIMEOUT + SLACK,
        "the call took {took:?} with timeout_ms {TIMEOUT:?}: {err}"
    );
    // A request cut at the deadline is a network failure, a login poll
    // that runs out a timeout.
    assert!(
        matches!(err.kind(), ErrorKind::Timeout | ErrorKind::Network),
        "{err}"
    );
}

/// A refresh needs two requests: discovery, slow (most of timeout_ms), then
/// the token endpoint, which stalls. The token request gets what is left,
/// not a fresh timeout_ms.
#[test]
fn two_slow_requests_of_one_call_share_one_timeout() {
    let slow_discovery = TIMEOUT * 8 / 10;
    let hub = Recorder::start("127.0.0.1", move |r| match r.path() {
        "/.well-known/openid-configuration" => {
            std::thread::sleep(slow_discovery);
            json(&discovery_doc(&own_url(r)))
        }
        _ => {
            std::thread::sleep(Duration::from_secs(10));
            response("500 Internal Server Error", &[], "")
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(
        &path,
        format!(
            "access_token = \"old-access\"\nrefresh_token = \"r1\"\nexpires_at = 1\n\
             issuer = \"{}\"\nclient_id = \"cli\"\n",
            hub.url
        ),
    )
    .unwrap();
    let started = Instant::now();
    let err = authenticate(&oidc_options(&hub.url, &path)).unwrap_err();
    assert_ends_at_the_deadline(started, &err);
    let token_requests = hub
        .requests()
        .iter()
        .filter(|r| r.path() == "/token")
        .count();
    assert_eq!(token_requests, 1, "the refresh request was sent once");
}

/// The lock is held by another holder for most of timeout_ms; what is left
/// is all the device login's polling gets.
#[test]
fn a_lock_wait_and_the_login_polls_after_it_share_one_timeout() {
    let hub = Recorder::start("127.0.0.1", |r| match r.path() {
        "/.well-known/openid-configuration" => json(&discovery_doc(&own_url(r))),
        "/device" => json(
            r#"{"device_code":"dc","user_code":"UC","verification_uri":"https://example.org/device","expires_in":600}"#,
        ),
        _ => response(
            "400 Bad Request",
            &[],
            r#"{"error":"authorization_pending"}"#,
        ),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    // Expired, nothing to renew it with: the engine takes the lock to look
    // again, then a login is needed.
    std::fs::write(
        &path,
        format!(
            "access_token = \"old-access\"\nexpires_at = 1\nissuer = \"{}\"\nclient_id = \"cli\"\n",
            hub.url
        ),
    )
    .unwrap();
    let mut o = oidc_options(&hub.url, &path);
    o.set("interactive", "true").unwrap();
    o.set("flow", "device").unwrap();
    o.set("poll_interval_ms", "50").unwrap();
    let hooked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = hooked.clone();
    o.set_hook(Some(Arc::new(move |_url: &str| {
        seen.store(true, std::sync::atomic::Ordering::SeqCst);
        HookAction::Continue
    })));

    let held = FileLock::acquire(&path, Duration::from_secs(1)).unwrap();
    let lock_wait = TIMEOUT * 6 / 10;
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(lock_wait);
        drop(held);
    });
    let started = Instant::now();
    let err = authenticate(&o).unwrap_err();
    releaser.join().unwrap();
    assert_ends_at_the_deadline(started, &err);
    assert!(
        hooked.load(std::sync::atomic::Ordering::SeqCst),
        "the login started after the lock wait: {err}"
    );
    assert!(started.elapsed() >= lock_wait);
}
