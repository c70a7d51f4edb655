//! Jobs (src/job.rs): the calls that can wait on the network, run on the
//! library's thread while the caller's goes on, against the JuliaHub-protocol
//! server. The C ABI's form of the same is tested in bindings/c/tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hubauth::{ErrorKind, Event, Job, JobKind, Outcome, authenticate};
use hubauth_testkit::fixture::Fixture;

/// A notify that counts its calls.
fn counter() -> (Arc<AtomicUsize>, hubauth::job::Notify) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    (
        count,
        Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }),
    )
}

/// Polls `job` until an event comes, for at most `limit`.
fn next_event(job: &Job, limit: Duration) -> Event {
    let until = Instant::now() + limit;
    loop {
        if let Some(event) = job.poll() {
            return event;
        }
        assert!(Instant::now() < until, "no event within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn login_options(f: &Fixture) -> hubauth::Options {
    let mut o = f.options();
    o.set("interactive", "true").unwrap();
    o.set("open_browser", "false").unwrap();
    o
}

#[test]
fn a_device_login_job_hands_the_url_to_the_host_and_ends_with_the_authentication() {
    let f = Fixture::new();
    let (notified, notify) = counter();
    let started = Instant::now();
    let job = Job::start(
        JobKind::Authenticate,
        None,
        Some(login_options(&f)),
        Some(notify),
    )
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "start returns at once"
    );
    let (url, code) = loop {
        match next_event(&job, Duration::from_secs(10)) {
            Event::Login { url, user_code } => break (url, user_code),
            Event::Progress(_) | Event::Log { .. } => continue,
            Event::Done(r) => panic!("done before a login URL: {:?}", r.err()),
        }
    };
    assert!(url.starts_with(&f.server.url()), "{url}");
    // PkgAuthentication's device login puts the code in the URL it opens.
    assert!(code.is_none_or(|c| url.contains(&c)));
    assert!(notified.load(Ordering::SeqCst) >= 1);
    // The person opens the page (approves); the job sees it on its next poll.
    hubauth_testkit::http::get(&url).unwrap();
    let mut progress = 0;
    let auth = loop {
        match next_event(&job, Duration::from_secs(15)) {
            Event::Progress(line) => {
                assert!(line.contains("waiting"), "{line}");
                progress += 1;
            }
            Event::Login { .. } => panic!("one login URL only"),
            Event::Log { level, message } => panic!("nothing to log: {level:?} {message}"),
            Event::Done(Ok(Outcome::Auth(auth))) => break auth,
            Event::Done(Ok(_)) => panic!("an authenticate job ends with an authentication"),
            Event::Done(Err(e)) => panic!("{e}"),
        }
    };
    assert!(progress >= 1, "the polls were reported");
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
    assert!(job.poll().is_none(), "nothing after Done");
    assert!(job.is_finished());
}

#[test]
fn a_cancelled_login_job_ends_at_once_and_writes_nothing() {
    let f = Fixture::new();
    let job = Job::start(JobKind::Authenticate, None, Some(login_options(&f)), None).unwrap();
    while !matches!(
        next_event(&job, Duration::from_secs(10)),
        Event::Login { .. }
    ) {}
    let cancelled = Instant::now();
    job.cancel();
    let outcome = loop {
        if let Event::Done(outcome) = next_event(&job, Duration::from_secs(5)) {
            break outcome;
        }
    };
    assert!(cancelled.elapsed() < Duration::from_secs(1));
    assert_eq!(outcome.err().map(|e| e.kind()), Some(ErrorKind::Cancelled));
    assert!(!f.token_path().exists());
}

#[test]
fn dropping_a_running_job_cancels_it_and_notify_is_never_called_after() {
    let f = Fixture::new();
    let (notified, notify) = counter();
    let job = Job::start(
        JobKind::Authenticate,
        None,
        Some(login_options(&f)),
        Some(notify),
    )
    .unwrap();
    while !matches!(
        next_event(&job, Duration::from_secs(10)),
        Event::Login { .. }
    ) {}
    drop(job);
    let after_drop = notified.load(Ordering::SeqCst);
    // The job's thread sees the cancel within a poll and queues Done: to
    // nobody, since the host is gone.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(notified.load(Ordering::SeqCst), after_drop);
    assert!(!f.token_path().exists());
}

#[test]
fn a_fresh_token_is_at_hand_when_the_job_starts() {
    let f = Fixture::new();
    let stored = f.store_token(3600);
    let auth = authenticate(&f.options()).unwrap();
    let (notified, notify) = counter();
    let job = Job::start(JobKind::Token, Some(auth), None, Some(notify)).unwrap();
    assert!(job.is_finished(), "no thread, no wait");
    assert_eq!(notified.load(Ordering::SeqCst), 1);
    match job.poll() {
        Some(Event::Done(Ok(Outcome::Secret(token)))) => {
            assert_eq!(token.expose(), stored.id_token)
        }
        _ => panic!("the token"),
    }
}

/// A token of 4 s is fresh for its first half (the margin is at most half
/// the lifetime), then due.
fn wait_until_due() {
    std::thread::sleep(Duration::from_millis(2500));
}

#[test]
fn a_due_token_is_refreshed_on_the_jobs_thread() {
    let f = Fixture::new();
    let stored = f.store_token(4);
    let auth = authenticate(&f.options()).unwrap();
    wait_until_due();
    let job = Job::start(JobKind::Token, Some(auth.clone()), None, None).unwrap();
    let token = match job.wait() {
        Ok(Outcome::Secret(token)) => token,
        Ok(_) => panic!("a token job hands out a token"),
        Err(e) => panic!("{e}"),
    };
    assert_ne!(token.expose(), stored.id_token);
    assert_eq!(token.expose(), f.stored_id_token());
    assert_eq!(f.server.stats().refreshes, 1);
    // Check and reauthenticate run the same way.
    let check = Job::start(JobKind::Check, Some(auth.clone()), None, None).unwrap();
    assert!(matches!(check.wait(), Ok(Outcome::Valid(true))));
    let again = Job::start(JobKind::Reauthenticate, Some(auth), None, None).unwrap();
    assert!(matches!(again.wait(), Ok(Outcome::Done)));
}

#[test]
fn the_jobs_cancel_is_not_kept_by_the_authentication_it_made() {
    let f = Fixture::new();
    f.store_token(4);
    let job = Job::start(JobKind::Authenticate, None, Some(f.options()), None).unwrap();
    let auth = loop {
        if let Event::Done(outcome) = next_event(&job, Duration::from_secs(10)) {
            match outcome {
                Ok(Outcome::Auth(auth)) => break auth,
                _ => panic!("an authentication"),
            }
        }
    };
    job.cancel();
    drop(job);
    wait_until_due();
    // This refresh would fail with Cancelled if the authentication had kept
    // the job's cancel.
    let refreshed = auth.token().unwrap();
    assert_eq!(refreshed.expose(), f.stored_id_token());
    assert_eq!(f.server.stats().refreshes, 1);
}

#[test]
fn open_browser_false_without_a_hook_or_a_job_is_refused() {
    let f = Fixture::new();
    let err = authenticate(&login_options(&f)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("open_browser"), "{err}");
}

#[test]
fn a_job_needs_what_its_kind_needs() {
    let err = Job::start(JobKind::Token, None, None, None).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::NullArgument);
    let err = Job::start(JobKind::Authenticate, None, None, None)
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::NullArgument);
}

/// A hook that waits for another thread (or job) asking the same
/// authentication for its token (issue: the cross-thread re-entry
/// deadlock): that wait ends when its job is cancelled.
#[test]
fn a_token_job_waiting_for_a_login_in_flight_ends_when_cancelled() {
    let f = Fixture::new();
    f.store_token(4);
    let auth = authenticate(&f.options()).unwrap();
    wait_until_due();
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let mut login = hubauth::Options::new();
    login.set("force", "true").unwrap();
    login.set("interactive", "true").unwrap();
    login.set_hook(Some(Arc::new(move |_url: &str| {
        let _ = entered_tx.send(());
        // The hook holds the login (and its single flight) until released.
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20));
        hubauth::HookAction::Cancel
    })));
    let relogin = {
        let auth = auth.clone();
        std::thread::spawn(move || auth.reauthenticate(Some(&login)))
    };
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let job = Job::start(JobKind::Token, Some(auth.clone()), None, None).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!job.is_finished(), "it waits for the login in flight");
    let cancelled = Instant::now();
    job.cancel();
    let outcome = loop {
        if let Event::Done(outcome) = next_event(&job, Duration::from_secs(5)) {
            break outcome;
        }
    };
    assert!(cancelled.elapsed() < Duration::from_secs(1));
    assert_eq!(outcome.err().map(|e| e.kind()), Some(ErrorKind::Cancelled));
    release_tx.send(()).unwrap();
    let err = relogin.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "the hook said cancel");
}

#[test]
fn a_login_without_a_username_is_refused_and_never_current_when_required() {
    let f = Fixture::new();
    f.store_token(3600);
    authenticate(&f.options()).unwrap();
    let mut given = hubauth::Options::new();
    given.set("server", &f.server.url()).unwrap();
    given.set("token", "a-token-from-somewhere").unwrap();
    given.set("validate", "false").unwrap();
    given.set("require_username", "true").unwrap();
    let err = authenticate(&given).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(err.message(), "Unable to determine username.");
    // Other tests of this binary authenticate meanwhile: the refused one,
    // with its own token, is what must never be current.
    let current = hubauth::current().unwrap();
    let current_token = current.token_if_fresh().map(|t| t.expose().to_string());
    assert_ne!(current_token.as_deref(), Some("a-token-from-somewhere"));
    given.set("require_username", "false").unwrap();
    assert!(authenticate(&given).unwrap().username().is_none());
}

/// The security review's §7 (a15), with blocking calls: a hook that waits
/// for another thread asking the same authentication for its (due) token.
/// That thread's wait for the login in flight ends at timeout_ms, so the
/// hook, and the login, end too.
#[test]
fn a_hook_waiting_for_a_thread_that_asks_for_the_token_ends_at_timeout_ms() {
    let f = Fixture::new();
    f.store_token(4);
    let mut options = f.options();
    options.set("timeout_ms", "1500").unwrap();
    let auth = authenticate(&options).unwrap();
    wait_until_due();
    let mut login = hubauth::Options::new();
    login.set("force", "true").unwrap();
    login.set("interactive", "true").unwrap();
    let asker = auth.clone();
    let answer = Arc::new(std::sync::Mutex::new(None));
    let seen = answer.clone();
    login.set_hook(Some(Arc::new(move |_url: &str| {
        let asker = asker.clone();
        let started = Instant::now();
        let result = std::thread::spawn(move || asker.token().map(|_| ()))
            .join()
            .unwrap();
        *seen.lock().unwrap() = Some((result.map_err(|e| e.kind()), started.elapsed()));
        hubauth::HookAction::Cancel
    })));
    let started = Instant::now();
    let err = auth.reauthenticate(Some(&login)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(10));
    let (result, took) = answer.lock().unwrap().take().expect("the hook ran");
    assert_eq!(result, Err(ErrorKind::Timeout));
    assert!(took >= Duration::from_millis(1400), "{took:?}");
}

/// After a job is dropped (hubauth_job_free) the options' hook is never
/// called again, even when the login's first reply was already on its way:
/// the host may free the hook's data at once.
#[test]
fn no_hook_call_starts_after_the_job_was_dropped() {
    let f = Fixture::new();
    let mut rounds = Vec::new();
    for round in 0..40u64 {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut options = login_options(&f);
        let counted = calls.clone();
        options.set_hook(Some(Arc::new(move |_url: &str| {
            counted.fetch_add(1, Ordering::SeqCst);
            hubauth::HookAction::Continue
        })));
        let job = Job::start(JobKind::Authenticate, None, Some(options), None).unwrap();
        // Dropped at different points of the device-code request.
        std::thread::sleep(Duration::from_micros(round * 100));
        drop(job);
        let at_drop = calls.load(Ordering::SeqCst);
        rounds.push((calls, at_drop));
    }
    // The jobs' threads see their cancels within a poll and end.
    std::thread::sleep(Duration::from_millis(500));
    for (round, (calls, at_drop)) in rounds.iter().enumerate() {
        assert_eq!(calls.load(Ordering::SeqCst), *at_drop, "round {round}");
    }
}

/// Found by the asyncio tests: a token job cancelled while its refresh
/// request was on the wire gave up the reply; the server had rotated the
/// refresh token, so every later refresh in the process failed. The request
/// now runs to its reply and the new token is saved.
#[test]
fn a_job_cancelled_mid_refresh_keeps_the_login() {
    let f = Fixture::new();
    let stored = f.store_token(4);
    let auth = authenticate(&f.options()).unwrap();
    wait_until_due();
    f.server.configure(|c| c.refresh_reply_delay_ms = 400);
    let job = Job::start(JobKind::Token, Some(auth.clone()), None, None).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    job.cancel();
    let outcome = job.wait();
    // The reply came: the job hands out the new token (the cancel came too
    // late to matter), and it is saved for everyone.
    assert!(
        matches!(outcome, Ok(Outcome::Secret(_))),
        "{:?}",
        outcome.err()
    );
    assert_eq!(f.server.stats().refreshes, 1);
    assert_ne!(f.stored_id_token(), stored.id_token);
    f.server.configure(|c| c.refresh_reply_delay_ms = 0);
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
}

/// Options whose stored token file is readable by others (mode 0644): the
/// call warns about it once per file and process.
fn loose_file_options(f: &Fixture, name: &str) -> hubauth::Options {
    use std::os::unix::fs::PermissionsExt;
    let path = f.dir.path().join(name);
    std::fs::write(&path, f.server.issue_token(3600).to_toml()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut o = f.options();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o
}

/// Every event of `job` up to and with Done.
fn all_events(job: &Job) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let event = next_event(job, Duration::from_secs(10));
        let done = matches!(event, Event::Done(_));
        events.push(event);
        if done {
            return events;
        }
    }
}

#[test]
fn a_jobs_warning_is_a_log_event_before_done() {
    let f = Fixture::new();
    let o = loose_file_options(&f, "loose.toml");
    let job = Job::start(JobKind::Authenticate, None, Some(o), None).unwrap();
    let events = all_events(&job);
    let logs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Log { level, message } => Some((*level, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].0, hubauth::log::Level::Warn);
    assert!(logs[0].1.contains("can be read by other users"), "{logs:?}");
    assert!(!logs[0].1.starts_with("hubauth:"), "{logs:?}");
    assert!(matches!(
        events.last(),
        Some(Event::Done(Ok(Outcome::Auth(_))))
    ));
}

#[test]
fn a_job_with_a_log_sink_sends_it_there_and_makes_no_event() {
    let f = Fixture::new();
    let mut o = loose_file_options(&f, "loose-sink.toml");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = seen.clone();
    o.set_log(Some(Arc::new(move |_level, message: &str| {
        into.lock().unwrap().push(message.to_string())
    })));
    let job = Job::start(JobKind::Authenticate, None, Some(o), None).unwrap();
    let events = all_events(&job);
    assert!(!events.iter().any(|e| matches!(e, Event::Log { .. })));
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter()
            .any(|m| m.contains("can be read by other users")),
        "{seen:?}"
    );
}
