//! Cancellation (issue 12): each kind of wait a call can be in, a login
//! poll, a DagsHub middleman long-poll, a file-lock wait, an HTTP request to
//! a server that never answers, returns `Cancelled` soon after the trigger
//! and writes nothing. Each test prints how long the return took.

mod support;

use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hubauth::store::fsutil::FileLock;
use hubauth::{Cancel, ErrorKind, HookAction, Options, authenticate};
use hubauth_testkit::DagsHubServer;
use hubauth_testkit::fixture::Fixture;
use support::raw_server::RawServer;

/// Generous bound for a loaded CI machine; the numbers printed are the real ones.
const BOUND: Duration = Duration::from_secs(2);

/// Runs `authenticate(options)` on a thread, triggers `cancel` once `ready`
/// says the call waits (plus `settle`), and returns the error and the time
/// from the trigger to the return.
fn cancel_while_waiting(
    name: &str,
    options: Options,
    cancel: &Cancel,
    ready: impl Fn() -> bool,
    settle: Duration,
) -> (hubauth::Error, Duration) {
    let call = std::thread::spawn(move || {
        let result = authenticate(&options);
        (result.map(|_| ()), Instant::now())
    });
    let waiting = Instant::now();
    while !ready() {
        assert!(
            waiting.elapsed() < Duration::from_secs(10),
            "{name}: never waited"
        );
        assert!(!call.is_finished(), "{name}: returned before it waited");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(settle);
    assert!(!call.is_finished(), "{name}: returned before the trigger");
    let triggered = Instant::now();
    cancel.trigger();
    let (result, returned) = call.join().unwrap();
    let took = returned.duration_since(triggered);
    eprintln!("{name}: returned {took:?} after the trigger");
    let err = result.expect_err(name);
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{name}: {err}");
    assert!(took < BOUND, "{name}: {took:?}");
    (err, took)
}

fn no_temp_files(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(!name.contains(".tmp"), "left behind: {name}");
        }
    }
}

#[test]
fn a_login_poll_is_cancelled_and_nothing_is_written() {
    let f = Fixture::new();
    // A long interval: the call sleeps between polls when the trigger comes.
    f.server.configure(|c| c.device_interval_s = 30);
    let cancel = Cancel::new().unwrap();
    let prompted = Arc::new(AtomicBool::new(false));
    let mut options = f.options();
    let seen = prompted.clone();
    options.set_hook(Some(Arc::new(move |_url: &str| {
        seen.store(true, Ordering::SeqCst);
        HookAction::Continue // nobody ever approves
    })));
    options.set_cancel(Some(cancel.clone()));
    let (err, _) = cancel_while_waiting(
        "login poll",
        options,
        &cancel,
        || prompted.load(Ordering::SeqCst),
        Duration::from_millis(200),
    );
    assert!(err.message().contains("device login: cancelled"), "{err}");
    assert!(!f.token_path().exists());
    no_temp_files(f.token_path().parent().unwrap());
    assert_eq!(f.server.stats().device_tokens_issued, 0);
}

#[test]
fn a_dagshub_middleman_long_poll_is_cancelled() {
    let server = DagsHubServer::start();
    server.configure(|c| {
        c.client_id = "cid".into();
        c.middleman_hold_ms = 60_000;
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dagshub").join("tokens");
    let mut options = Options::new();
    for (key, value) in [
        ("provider", "dagshub"),
        ("server", &server.url()),
        ("token_path", path.to_str().unwrap()),
        ("client_id", "cid"),
        ("interactive", "false"),
        ("timeout_ms", "20000"),
    ] {
        options.set(key, value).unwrap();
    }
    options.set_hook(Some(Arc::new(|_url: &str| HookAction::Continue)));
    let cancel = Cancel::new().unwrap();
    options.set_cancel(Some(cancel.clone()));
    let (err, _) = cancel_while_waiting(
        "middleman long-poll",
        options,
        &cancel,
        || server.stats().middleman_polls > 0,
        Duration::from_millis(200),
    );
    assert!(err.message().contains("POST"), "{err}");
    assert!(!path.exists());
    assert_eq!(server.stats().tokens_issued, 0);
}

#[test]
fn a_lock_wait_is_cancelled_and_the_file_is_unchanged() {
    let f = Fixture::new();
    f.store_token(-60); // expired: the call must take the lock to refresh it
    let before = f.stored_text();
    let held = FileLock::acquire(&f.token_path(), Duration::from_secs(1)).unwrap();
    let cancel = Cancel::new().unwrap();
    let mut options = f.options();
    options.set_cancel(Some(cancel.clone()));
    // Nothing observable marks the lock wait; the call has nothing else to
    // wait for before it, so half a second in, it waits for the lock.
    let (err, _) = cancel_while_waiting(
        "lock wait",
        options,
        &cancel,
        || true,
        Duration::from_millis(500),
    );
    assert!(err.message().contains("auth.toml.lock"), "{err}");
    drop(held);
    assert_eq!(f.stored_text(), before);
    assert_eq!(f.server.stats().refreshes, 0);
}

#[test]
fn a_request_to_a_server_that_never_answers_is_cancelled() {
    let asked = Arc::new(AtomicBool::new(false));
    let seen = asked.clone();
    let server = RawServer::start(move |_line: &str, _stream: &mut TcpStream| {
        seen.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(60)); // never answers
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oidc.toml");
    let mut options = Options::new();
    for (key, value) in [
        ("provider", "oidc"),
        ("issuer", server.url.as_str()),
        ("client_id", "cid"),
        ("token_path", path.to_str().unwrap()),
        ("interactive", "false"),
    ] {
        options.set(key, value).unwrap();
    }
    options.set_hook(Some(Arc::new(|_url: &str| HookAction::Continue)));
    let cancel = Cancel::new().unwrap();
    options.set_cancel(Some(cancel.clone()));
    let (err, _) = cancel_while_waiting(
        "HTTP request",
        options,
        &cancel,
        || asked.load(Ordering::SeqCst),
        Duration::from_millis(200),
    );
    assert!(err.message().starts_with("GET "), "{err}");
    assert!(!path.exists());
    no_temp_files(dir.path());
}

#[test]
fn a_cancel_triggered_before_the_call_ends_it_at_once() {
    let f = Fixture::new();
    f.store_token(3600); // even a good stored token is not handed out
    let cancel = Cancel::new().unwrap();
    cancel.trigger();
    cancel.trigger(); // twice: harmless
    let mut options = f.options();
    options.set_cancel(Some(cancel.clone()));
    let started = Instant::now();
    let err = authenticate(&options).unwrap_err();
    let took = started.elapsed();
    eprintln!("triggered before: returned in {took:?}");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(took < BOUND, "{took:?}");
    let stats = f.server.stats();
    assert_eq!(stats.device_code_requests + stats.refreshes, 0);
    // Still triggered: the next call ends at once too; another cancel does not.
    assert_eq!(
        authenticate(&options).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    options.set_cancel(Some(Cancel::new().unwrap()));
    authenticate(&options).unwrap();
}

#[test]
fn an_authentication_keeps_its_cancel_for_refreshes() {
    let f = Fixture::new();
    f.store_token(3600);
    let cancel = Cancel::new().unwrap();
    let mut options = f.options();
    options.set_cancel(Some(cancel.clone()));
    let auth = authenticate(&options).unwrap();
    cancel.trigger();
    let before = f.stored_text();
    let mut forced = Options::new();
    forced.set("force", "true").unwrap();
    let err = auth.reauthenticate(Some(&forced)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    // Another cancel given for one call replaces the kept one for that call.
    forced.set_cancel(Some(Cancel::new().unwrap()));
    forced.set("interactive", "false").unwrap();
    let err = auth.reauthenticate(Some(&forced)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert_eq!(f.stored_text(), before);
}

#[test]
fn dropping_the_callers_handle_keeps_the_trigger_seen() {
    let f = Fixture::new();
    f.server.configure(|c| c.device_interval_s = 30);
    let cancel = Cancel::new().unwrap();
    let mut options = f.options();
    options.set_hook(Some(Arc::new(|_url: &str| HookAction::Continue)));
    options.set_cancel(Some(cancel.clone()));
    let call = std::thread::spawn(move || authenticate(&options).map(|_| ()));
    while f.server.stats().device_code_requests == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let triggered = Instant::now();
    cancel.trigger();
    drop(cancel); // the options (moved into the call) hold their own reference
    let err = call.join().unwrap().unwrap_err();
    let took = triggered.elapsed();
    eprintln!("trigger then drop: returned {took:?} after the trigger");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(took < BOUND);
    assert!(!f.token_path().exists());
}
