//! The options' log sink (src/log/route.rs; the C ABI's
//! hubauth_options_set_log): a call's warnings and notices reach the host's
//! sink, escaped, on the thread that runs the call: the caller's for a
//! blocking call, the library's for a job. The C tests check that stderr
//! then stays silent.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use hubauth::log::{Level, Sink};
use hubauth::{Job, JobKind, Options, Outcome, authenticate};
use hubauth_testkit::fixture::Fixture;

/// What a sink received: level, message, and the thread it ran on.
type Seen = Arc<Mutex<Vec<(Level, String, ThreadId)>>>;

fn recording_sink() -> (Sink, Seen) {
    let seen: Seen = Arc::default();
    let into = seen.clone();
    let sink: Sink = Arc::new(move |level, message: &str| {
        into.lock()
            .unwrap()
            .push((level, message.to_owned(), std::thread::current().id()))
    });
    (sink, seen)
}

/// Options whose token file is stored with mode 0644 (one warning per file
/// and process), in a directory whose name holds an escape sequence.
fn loose_file_options(f: &Fixture) -> Options {
    let dir = f.dir.path().join("evil\u{1b}[2J");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.join("auth.toml");
    std::fs::write(&path, f.server.issue_token(3600).to_toml()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut o = f.options();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o
}

fn the_loose_file_warning(seen: &Seen) -> (Level, String, ThreadId) {
    let seen = seen.lock().unwrap();
    let found = seen
        .iter()
        .find(|(_, m, _)| m.contains("can be read by other users"))
        .unwrap_or_else(|| panic!("no warning about the file in {seen:?}"));
    found.clone()
}

#[test]
fn a_blocking_call_warns_the_sink_on_the_callers_thread_escaped() {
    let f = Fixture::new();
    let mut o = loose_file_options(&f);
    let (sink, seen) = recording_sink();
    o.set_log(Some(sink));
    let auth = authenticate(&o).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    let (level, message, thread) = the_loose_file_warning(&seen);
    assert_eq!(level, Level::Warn);
    assert_eq!(thread, std::thread::current().id());
    assert!(message.contains("evil\\u{1b}[2J"), "{message}");
    assert!(!message.contains('\u{1b}'), "{message}");
    assert!(!message.starts_with("hubauth:"), "{message}");
}

#[test]
fn a_job_warns_the_sink_on_the_jobs_thread() {
    let f = Fixture::new();
    let mut o = loose_file_options(&f);
    let (sink, seen) = recording_sink();
    o.set_log(Some(sink));
    let job = Job::start(JobKind::Authenticate, None, Some(o), None).unwrap();
    let Outcome::Auth(auth) = job.wait().unwrap() else {
        panic!("an authenticate job ends with an authentication")
    };
    assert_eq!(auth.username().as_deref(), Some("alice"));
    let (level, _, thread) = the_loose_file_warning(&seen);
    assert_eq!(level, Level::Warn);
    assert_ne!(thread, std::thread::current().id(), "the job's own thread");
}

#[test]
fn concurrent_calls_each_reach_their_own_sink() {
    let run = || {
        let f = Fixture::new();
        let mut o = loose_file_options(&f);
        let (sink, seen) = recording_sink();
        o.set_log(Some(sink));
        authenticate(&o).unwrap();
        let path = o.token_path.unwrap().display().to_string();
        (path, seen)
    };
    let other = std::thread::spawn(run);
    let (path, seen) = run();
    let (other_path, other_seen) = other.join().unwrap();
    for (mine, theirs, seen) in [
        (&path, &other_path, &seen),
        (&other_path, &path, &other_seen),
    ] {
        let seen = seen.lock().unwrap();
        let about = |p: &str| {
            let shown = p.replace('\u{1b}', "\\u{1b}");
            seen.iter().filter(|(_, m, _)| m.contains(&shown)).count()
        };
        assert_eq!(about(mine), 1, "{seen:?}");
        assert_eq!(about(theirs), 0, "{seen:?}");
    }
}

#[test]
fn an_authentication_keeps_the_sink_for_its_refreshes_blocking_or_in_a_job() {
    let f = Fixture::new();
    // An hour's token with 300 s left: inside the refresh margin (600 s, at
    // most half the lifetime) but still good, so every token request tries
    // an early refresh, which the server refuses, and warns.
    let mut token = f.server.issue_token(3600);
    token.expires_at = hubauth::token::unix_now() + 300;
    std::fs::create_dir_all(f.token_path().parent().unwrap()).unwrap();
    std::fs::write(f.token_path(), token.to_toml()).unwrap();
    f.server.configure(|c| c.refresh_fails = true);
    let mut o = f.options();
    let (sink, seen) = recording_sink();
    o.set_log(Some(sink));
    let auth = authenticate(&o).unwrap();
    let refresh_warnings = |from: usize| {
        seen.lock().unwrap()[from..]
            .iter()
            .filter(|(l, m, _)| {
                *l == Level::Warn && m.contains("could not refresh the token early")
            })
            .map(|(_, _, thread)| *thread)
            .collect::<Vec<_>>()
    };
    let before = seen.lock().unwrap().len();
    auth.token().unwrap();
    assert_eq!(refresh_warnings(before), [std::thread::current().id()]);
    let before = seen.lock().unwrap().len();
    let job = Job::start(JobKind::Token, Some(auth.clone()), None, None).unwrap();
    assert!(matches!(job.wait().unwrap(), Outcome::Secret(_)));
    let threads = refresh_warnings(before);
    assert_eq!(threads.len(), 1, "{:?}", seen.lock().unwrap());
    assert_ne!(threads[0], std::thread::current().id(), "the job's thread");
}
