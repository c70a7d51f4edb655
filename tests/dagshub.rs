//! Provider `dagshub` end to end, against the DagsHub test server: the token
//! cache shared with the real client (read back by the real PyYAML), the
//! order tokens are tried in, removal of rejected tokens, the OAuth middleman
//! login through a hook, save/logout, and the environment rules.
//!
//! Needs `python3` with PyYAML (`pip install PyYAML`): the tests that check a
//! written file with it fail, not skip, when it is missing.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubauth::lifecycle::{Engine, Lifecycle};
use hubauth::provider::dagshub::DagsHub;
use hubauth::store::dagshub_yaml::TokenCache;
use hubauth::{ErrorKind, Event, HookAction, Job, JobKind, Options, Outcome};
use hubauth_testkit::dagshub::REDIRECTED_USER_PATH;
use hubauth_testkit::{DagsHubServer, DagsHubToken, http};
use serde_json::{Value, json};

const FIXTURE: &str = include_str!("fixtures/dagshub/tokens");
const OTHER_HOST: &str = "https://my.dagshub.example";
/// The client id the test server is told to accept in login tests.
const CLIENT_ID: &str = "hubauth-test-client";

struct Fx {
    server: DagsHubServer,
    dir: tempfile::TempDir,
}

impl Fx {
    fn new() -> Fx {
        let server = DagsHubServer::start();
        server.configure(|c| c.client_id = CLIENT_ID.into());
        Fx {
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("dagshub").join("tokens")
    }

    fn options(&self) -> Options {
        let mut o = Options::new();
        o.set("provider", "dagshub").unwrap();
        o.set("server", &self.server.url()).unwrap();
        o.set("token_path", self.path().to_str().unwrap()).unwrap();
        o.set("client_id", CLIENT_ID).unwrap();
        o.set("interactive", "false").unwrap();
        o.set("timeout_ms", "20000").unwrap();
        o.set("poll_interval_ms", "50").unwrap();
        o
    }

    fn write(&self, text: &str) {
        fs::create_dir_all(self.path().parent().unwrap()).unwrap();
        fs::write(self.path(), text).unwrap();
        fs::set_permissions(self.path(), fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn read(&self) -> String {
        fs::read_to_string(self.path()).unwrap()
    }

    /// A cache entry in the real client's layout.
    fn entry(token: &DagsHubToken) -> String {
        let expiry = if token.expiry == "never" {
            "never".to_string()
        } else {
            format!("'{}'", token.expiry)
        };
        format!(
            "- access_token: {}\n  expiry: {expiry}\n  token_type: {}\n",
            token.access_token, token.token_type
        )
    }

    fn app(&self) -> DagsHubToken {
        DagsHubToken {
            access_token: self.server.issue_app_token(),
            expiry: "never".into(),
            token_type: "app-token".into(),
        }
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Loads `path` with the real client's loader (`yaml.load(f, yaml.Loader)`):
/// strings stay strings, anything else is shown as `{"__type__": ..}`.
/// Also says whether `yaml.dump` of the data gives back the file byte for byte.
fn pyyaml(path: &Path) -> (Value, bool) {
    const SCRIPT: &str = r#"
import json, sys, yaml
text = open(sys.argv[1], encoding="utf-8").read()
data = yaml.load(text, Loader=yaml.Loader)
def walk(x):
    if isinstance(x, dict):
        return {(k if isinstance(k, str) else "__key__" + repr(k)): walk(v) for k, v in x.items()}
    if isinstance(x, list):
        return [walk(v) for v in x]
    if isinstance(x, str):
        return x
    return {"__type__": type(x).__name__, "repr": repr(x)}
print(json.dumps({"data": walk(data), "same": yaml.dump(data) == text}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .output()
        .expect("these tests need python3 with PyYAML (pip install PyYAML)");
    assert!(
        out.status.success(),
        "python3 with PyYAML (pip install PyYAML) could not load {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (v["data"].clone(), v["same"].as_bool().unwrap())
}

/// The access tokens PyYAML sees for `host`, in order.
fn tokens_of(data: &Value, host: &str) -> Vec<String> {
    data[host]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| e["access_token"].as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_spec_file_is_read_and_other_hosts_are_separate() {
    let fx = Fx::new();
    fx.write(FIXTURE);
    let (data, same) = pyyaml(&fx.path());
    assert!(same, "the spec's literal file is what PyYAML itself writes");
    assert_eq!(data["version"], "1");

    let mut o = fx.options();
    o.set("validate", "false").unwrap();
    o.set("server", "https://dagshub.com").unwrap();
    let auth = hubauth::authenticate(&o).unwrap();
    assert_eq!(auth.token().unwrap().expose(), "app-token-123");
    assert_eq!(auth.expires_at(), None);
    o.set("server", OTHER_HOST).unwrap();
    let auth = hubauth::authenticate(&o).unwrap();
    assert_eq!(auth.token().unwrap().expose(), "other-host-tok");
    assert_eq!(fx.read(), FIXTURE, "reading never rewrites the file");

    let cache = TokenCache::parse(FIXTURE.as_bytes(), Path::new("tokens"), 0).unwrap();
    let tokens = cache.tokens("https://dagshub.com");
    assert_eq!(tokens[1].access_token.expose(), "oauth-tok-456");
    assert_eq!(tokens[1].expires_at(), Some(4_071_006_245));
}

#[test]
fn app_tokens_first_rejected_ones_removed_other_hosts_kept() {
    let fx = Fx::new();
    let bearer = fx.server.issue_bearer(3600);
    let revoked_app = fx.app();
    let good_app = fx.app();
    let expired = fx.server.issue_bearer(-60);
    assert!(fx.server.revoke(&revoked_app.access_token));
    let host = fx.server.url();
    fx.write(&format!(
        "{host}:\n{}{}{}{}{OTHER_HOST}:\n- access_token: other-host-tok\n  expiry: never\n  token_type: app-token\nversion: '1'\n",
        Fx::entry(&bearer),
        Fx::entry(&expired),
        Fx::entry(&revoked_app),
        Fx::entry(&good_app),
    ));

    let auth = hubauth::authenticate(&fx.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), good_app.access_token);
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert_eq!(auth.expires_at(), None, "an app token never expires");
    // App tokens in file order, and the expired bearer is never tried.
    assert_eq!(
        fx.server.stats().user_call_tokens,
        vec![
            revoked_app.access_token.clone(),
            good_app.access_token.clone()
        ]
    );

    let (data, same) = pyyaml(&fx.path());
    assert!(same);
    assert_eq!(
        tokens_of(&data, &host),
        vec![bearer.access_token.clone(), good_app.access_token.clone()],
        "the rejected app token and the expired bearer are gone"
    );
    assert_eq!(tokens_of(&data, OTHER_HOST), vec!["other-host-tok"]);
    assert_eq!(data[&host][0]["expiry"], bearer.expiry.as_str());
    assert_eq!(mode(&fx.path()), 0o600);
}

#[test]
fn bearer_is_used_when_no_app_token_and_expiry_is_kept() {
    let fx = Fx::new();
    let bearer = fx.server.issue_bearer(7200);
    fx.write(&format!("{}:\n{}", fx.server.url(), Fx::entry(&bearer)));
    let auth = hubauth::authenticate(&fx.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), bearer.access_token);
    let expires = auth.expires_at().unwrap();
    let now = hubauth::token::unix_now();
    assert!((now + 7100..=now + 7200).contains(&expires), "{expires}");
}

#[test]
fn oauth_middleman_login_through_the_hook() {
    let fx = Fx::new();
    let revoked = fx.app();
    fx.server.revoke(&revoked.access_token);
    fx.write(&format!(
        "{}:\n{}{OTHER_HOST}:\n- access_token: other-host-tok\n  expiry: never\n  token_type: app-token\n",
        fx.server.url(),
        Fx::entry(&revoked)
    ));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut o = fx.options();
    {
        let seen = seen.clone();
        o.set_hook(Some(Arc::new(move |url: &str| {
            seen.lock().unwrap().push(url.to_string());
            let url = url.to_string();
            // The "browser" approves a little later: the middleman long-polls.
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                let r = http::get(&url).unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
            });
            HookAction::Continue
        })));
    }
    let auth = hubauth::authenticate(&o).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    let token = auth.token().unwrap().expose().to_string();

    let urls = seen.lock().unwrap().clone();
    assert_eq!(urls.len(), 1);
    let url = reqwest::Url::parse(&urls[0]).unwrap();
    assert_eq!(url.path(), "/login/oauth/authorize");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["state"].len(), 36, "state is a uuid4");
    assert_eq!(q["middleman_request_id"].len(), 64, "sha256 hex");
    let stats = fx.server.stats();
    assert_eq!(stats.authorize_visits, 1);
    assert_eq!(stats.tokens_issued, 1);
    assert!(stats.middleman_polls >= 1);

    let (data, same) = pyyaml(&fx.path());
    assert!(same, "{}", fx.read());
    let host = fx.server.url();
    assert_eq!(tokens_of(&data, &host), vec![token.clone()]);
    let entry = &data[&host][0];
    assert_eq!(entry["token_type"], "bearer");
    let expiry = entry["expiry"]
        .as_str()
        .expect("the expiry is a string to PyYAML");
    assert_eq!(
        expiry.len(),
        "2099-01-02T03:04:05.678901Z".len(),
        "{expiry}"
    );
    assert!(expiry.ends_with('Z'));
    assert!(fx.read().contains(&format!("  expiry: '{expiry}'\n")));
    assert_eq!(tokens_of(&data, OTHER_HOST), vec!["other-host-tok"]);
    let expires = auth.expires_at().unwrap();
    let now = hubauth::token::unix_now();
    assert!((now + 3500..=now + 3600).contains(&expires), "{expires}");
    assert_eq!(mode(&fx.path()), 0o600);

    // Next time the cached bearer token is used, no login.
    let again = hubauth::authenticate(&fx.options()).unwrap();
    assert_eq!(again.token().unwrap().expose(), token);
    assert_eq!(fx.server.stats().authorize_visits, 1);
}

/// dagshub 0.7.3 cannot read a bearer entry with `expiry: never`
/// (auth/token_auth.py:108-116: `dateutil.parser.parse("never")` raises) and
/// drops it; hubauth does not hand it out either, and keeps it in the file.
#[test]
fn a_bearer_entry_with_expiry_never_is_not_handed_out() {
    let fx = Fx::new();
    let bearer = fx.server.issue_bearer(7200);
    let text = format!(
        "{}:\n- access_token: {}\n  expiry: never\n  token_type: bearer\n",
        fx.server.url(),
        bearer.access_token
    );
    fx.write(&text);
    let err = hubauth::authenticate(&fx.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert!(!err.message().contains(&bearer.access_token), "{err}");
    assert_eq!(fx.read(), text, "the entry stays where it is");
    // An app token saved next to it is the one handed out.
    let app = fx.app();
    hubauth::save_token(&fx.options(), &app.access_token).unwrap();
    let auth = hubauth::authenticate(&fx.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), app.access_token);
}

/// A login reply whose expiry has already passed (Go's zero time, as a Go
/// server sends an unset time) is an error that says so, and nothing is
/// saved.
#[test]
fn a_login_reply_already_expired_is_an_error_that_says_so() {
    let fx = Fx::new();
    fx.server
        .configure(|c| c.login_expiry = Some("0001-01-01T00:00:00Z".into()));
    let mut o = fx.options();
    // The default maxcount (3): the same server clock gives the same dead
    // token, so the person is asked once, not three times.
    let prompts = Arc::new(AtomicUsize::new(0));
    let counted = prompts.clone();
    o.set_hook(Some(Arc::new(move |url: &str| {
        counted.fetch_add(1, Ordering::SeqCst);
        let url = url.to_string();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            http::get(&url).unwrap();
        });
        HookAction::Continue
    })));
    let err = hubauth::authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(err.message().contains("already expired"), "{err}");
    assert!(err.message().contains("0001-01-01T00:00:00"), "{err}");
    assert!(!err.message().contains("tries"), "{err}");
    assert_eq!(prompts.load(Ordering::SeqCst), 1, "one prompt");
    assert_eq!(fx.server.stats().tokens_issued, 1);
    assert!(
        !fx.path().exists(),
        "nothing saved: {}",
        fx.dir.path().display()
    );
}

#[test]
fn middleman_long_poll_is_repeated_after_a_timeout() {
    let fx = Fx::new();
    fx.server.configure(|c| c.middleman_hold_ms = 150);
    let mut o = fx.options();
    o.set_hook(Some(Arc::new(|url: &str| {
        let url = url.to_string();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            http::get(&url).unwrap();
        });
        HookAction::Continue
    })));
    let auth = hubauth::authenticate(&o).unwrap();
    assert!(!auth.token().unwrap().is_empty());
    let stats = fx.server.stats();
    assert!(stats.middleman_timeouts >= 1, "{stats:?}");
    assert!(stats.middleman_polls >= 2, "{stats:?}");
}

#[test]
fn a_denied_or_cancelled_login_saves_nothing() {
    let fx = Fx::new();
    fx.server.configure(|c| c.deny = true);
    let mut o = fx.options();
    o.set_hook(Some(Arc::new(|url: &str| {
        assert_eq!(http::get(url).unwrap().status, 403);
        HookAction::Continue
    })));
    let err = hubauth::authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    let mut o = fx.options();
    o.set_hook(Some(Arc::new(|_: &str| HookAction::Cancel)));
    assert_eq!(
        hubauth::authenticate(&o).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    let err = hubauth::authenticate(&fx.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials);
    assert!(
        err.message().contains("hubauth login --provider dagshub"),
        "{err}"
    );
    assert!(!fx.path().exists());
}

#[test]
fn validation_follows_redirects_and_check_answers() {
    let fx = Fx::new();
    fx.server.configure(|c| c.user_redirect = true);
    let app = fx.app();
    hubauth::save_token(&fx.options(), &app.access_token).unwrap();
    let auth = hubauth::authenticate(&fx.options()).unwrap();
    assert_eq!(auth.username().as_deref(), Some("alice"));
    let stats = fx.server.stats();
    assert!(stats.user_redirects >= 2, "{stats:?}");
    assert_eq!(stats.user_calls, stats.user_redirects);
    assert!(REDIRECTED_USER_PATH.starts_with("/api/v1/user"));
    assert!(auth.check().unwrap());
    fx.server.revoke(&app.access_token);
    assert!(!auth.check().unwrap());
    fx.server.configure(|c| c.api_status = Some(500));
    assert_eq!(auth.check().unwrap_err().kind(), ErrorKind::Server);
}

#[test]
fn a_server_error_keeps_the_tokens() {
    let fx = Fx::new();
    let app = fx.app();
    fx.write(&format!("{}:\n{}", fx.server.url(), Fx::entry(&app)));
    let before = fx.read();
    fx.server.configure(|c| c.api_status = Some(503));
    let err = hubauth::authenticate(&fx.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(fx.read(), before, "an outage is no reason to drop a token");
}

#[test]
fn save_token_validates_and_adds_once() {
    let fx = Fx::new();
    let app = fx.app();
    let o = fx.options();
    hubauth::save_token(&o, &app.access_token).unwrap();
    hubauth::save_token(&o, &app.access_token).unwrap();
    let (data, _) = pyyaml(&fx.path());
    assert_eq!(
        tokens_of(&data, &fx.server.url()),
        vec![app.access_token.clone()]
    );
    assert_eq!(data[&fx.server.url()][0]["expiry"], "never");
    assert_eq!(data[&fx.server.url()][0]["token_type"], "app-token");

    let bogus = "not-a-real-token";
    let err = hubauth::save_token(&o, bogus).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(!err.message().contains(bogus));
    assert!(!fx.read().contains(bogus));

    // overwrite=false: a host that has a token keeps it as the one used
    // (the engine's rule for every hub); the same token again is no change.
    let mut keep = o.clone();
    keep.set("overwrite", "false").unwrap();
    hubauth::save_token(&keep, &app.access_token).unwrap();
    let before = fx.read();
    let other = fx.app();
    let err = hubauth::save_token(&keep, &other.access_token).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("overwrite=false"), "{err}");
    assert_eq!(fx.read(), before, "nothing was written");
}

/// Polls `job` until it is done, for at most 20 s.
fn done_of(job: &Job) -> hubauth::Result<Outcome> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match job.poll() {
            Some(Event::Done(outcome)) => return outcome,
            Some(_) => continue,
            None => {
                assert!(Instant::now() < until, "the job did not end");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

#[test]
fn a_save_token_job_checks_the_app_token_on_the_librarys_thread() {
    // Saving an app token asks the server first (validate): a round trip a
    // host's event loop must not wait for. The server holds its answer.
    let fx = Fx::new();
    fx.server.configure(|c| c.user_hold_ms = 400);
    let app = fx.app();
    let notified = Arc::new(AtomicUsize::new(0));
    let counted = notified.clone();
    let notify: hubauth::job::Notify = Box::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let started = Instant::now();
    let job = Job::start_save_token(
        fx.options(),
        hubauth::Secret::new(&app.access_token).unwrap(),
        Some(notify),
    )
    .unwrap();
    let start_took = started.elapsed();
    assert!(
        job.poll().is_none(),
        "nothing is done when start returns (took {start_took:?})"
    );
    assert!(!fx.path().exists());
    assert!(matches!(done_of(&job), Ok(Outcome::Done)));
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(notified.load(Ordering::SeqCst) >= 1);
    assert_eq!(fx.server.stats().user_calls, 1);
    let (data, _) = pyyaml(&fx.path());
    assert_eq!(tokens_of(&data, &fx.server.url()), vec![app.access_token]);

    // A token the server refuses: the job ends with the same error as the
    // blocking call, and nothing is written.
    let before = fx.read();
    let bogus = "not-a-real-token";
    let job =
        Job::start_save_token(fx.options(), hubauth::Secret::new(bogus).unwrap(), None).unwrap();
    let err = done_of(&job).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(!err.message().contains(bogus));
    assert_eq!(fx.read(), before);
}

#[test]
fn a_save_token_job_is_cancelled_while_the_server_holds_its_answer() {
    let fx = Fx::new();
    fx.server.configure(|c| c.user_hold_ms = 5_000);
    let app = fx.app();
    let job = Job::start_save_token(
        fx.options(),
        hubauth::Secret::new(&app.access_token).unwrap(),
        None,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let cancelled = Instant::now();
    job.cancel();
    let err = done_of(&job).err().expect("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(
        cancelled.elapsed() < Duration::from_secs(2),
        "{:?}",
        cancelled.elapsed()
    );
    assert!(!fx.path().exists(), "nothing saved");
}

#[test]
fn only_a_save_token_job_takes_a_token() {
    let fx = Fx::new();
    let err = Job::start(JobKind::SaveToken, None, Some(fx.options()), None)
        .err()
        .expect("a save job without its token is refused");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn logout_forgets_this_host_only() {
    let fx = Fx::new();
    fx.write(&FIXTURE.replace("https://dagshub.com", &fx.server.url()));
    hubauth::logout(&fx.options()).unwrap();
    let (data, same) = pyyaml(&fx.path());
    assert!(same);
    assert!(data.get(fx.server.url()).is_none());
    assert_eq!(tokens_of(&data, OTHER_HOST), vec!["other-host-tok"]);
    assert_eq!(data["version"], "1");
}

/// Tokens and hosts that PyYAML would turn into other types unless quoted.
#[test]
fn pyyaml_reads_back_exactly_what_was_written() {
    let fx = Fx::new();
    let tricky = [
        "12345",
        "0123",
        "0x1F",
        "0b101",
        "1_000",
        "1.5",
        "1e5",
        ".inf",
        ".NaN",
        "-.5",
        "190:20:30",
        "true",
        "False",
        "yes",
        "NO",
        "on",
        "Off",
        "y",
        "n",
        "null",
        "~",
        "Null",
        "2099-01-02",
        "2001-12-14 21:59:43.10 -5",
        "2099-01-02T03:04:05.678901Z",
        "<<",
        "=",
        "it's",
        "'q'",
        "\"dq\"",
        "-dash",
        "- dash",
        "?q",
        ":c",
        "a: b",
        "a #b",
        "#h",
        "%p",
        "@a",
        "`b",
        "!t",
        "&a",
        "*a",
        "|p",
        ">f",
        "[x]",
        "{y}",
        "a,b",
        "---",
        "...",
        " lead",
        "trail ",
        "tab\tin",
        "é-unicode",
        "line\nbreak",
        "back\\slash",
        "x",
    ];
    let mut o = fx.options();
    o.set("validate", "false").unwrap();
    for token in tricky {
        hubauth::save_token(&o, token).unwrap();
    }
    // A few hosts whose names need care too.
    let hosts = ["http://127.0.0.1:1", "https://example.com:8443"];
    for host in hosts {
        o.set("server", host).unwrap();
        hubauth::save_token(&o, "123").unwrap();
    }
    let (data, _) = pyyaml(&fx.path());
    let expected: Vec<String> = tricky.iter().map(|t| t.trim().to_string()).collect();
    assert_eq!(
        tokens_of(&data, &fx.server.url()),
        expected,
        "{}",
        fx.read()
    );
    for host in hosts {
        assert_eq!(tokens_of(&data, host), vec!["123"]);
    }
    assert_eq!(data["version"], "1");

    // And byte for byte what PyYAML itself writes (strings without line
    // breaks, spaces or non-ASCII are written exactly alike).
    let plain: Vec<&str> = tricky
        .iter()
        .copied()
        .filter(|t| t.chars().all(|c| c.is_ascii_graphic()))
        .collect();
    let fx2 = Fx::new();
    let mut o = fx2.options();
    o.set("validate", "false").unwrap();
    for token in &plain {
        hubauth::save_token(&o, token).unwrap();
    }
    let (data, same) = pyyaml(&fx2.path());
    assert!(same, "{}", fx2.read());
    assert_eq!(tokens_of(&data, &fx2.server.url()).len(), plain.len());
}

#[test]
fn json_caches_and_unusable_entries() {
    let fx = Fx::new();
    let app = fx.app();
    let host = fx.server.url();
    fx.write(
        &json!({
            host.clone(): [
                {"access_token": "mystery", "expiry": "never", "token_type": "magic"},
                {"access_token": app.access_token, "expiry": "never", "token_type": "app-token"},
            ],
            "version": "1",
        })
        .to_string(),
    );
    let auth = hubauth::authenticate(&fx.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), app.access_token);
    // Writing it (a save) keeps the entry hubauth could not use.
    let other = fx.app();
    hubauth::save_token(&fx.options(), &other.access_token).unwrap();
    let (data, same) = pyyaml(&fx.path());
    assert!(same);
    assert_eq!(
        tokens_of(&data, &host),
        vec!["mystery".to_string(), app.access_token, other.access_token]
    );
    assert_eq!(data[&host][0]["token_type"], "magic");
}

#[test]
fn no_refresh_token_so_an_expiring_token_is_replaced_or_refused() {
    let fx = Fx::new();
    let soon = fx.server.issue_bearer(120);
    fx.write(&format!("{}:\n{}", fx.server.url(), Fx::entry(&soon)));
    let o = fx.options();
    let provider = Engine::new(DagsHub::new(&o).unwrap());
    let current = provider.authenticate(&o).unwrap();
    let err = provider.refresh(&current, &o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(err.message().contains("log in again"), "{err}");
    assert!(!err.message().contains(&soon.access_token));

    // Another process saved an app token: the refresh takes it.
    let app = fx.app();
    hubauth::save_token(&o, &app.access_token).unwrap();
    let auth = hubauth::authenticate(&o).unwrap();
    assert_eq!(auth.token().unwrap().expose(), app.access_token);
    let refreshed = provider.refresh(&current, &o).unwrap();
    assert_eq!(refreshed.credential.secret().expose(), app.access_token);
}

#[test]
fn reauthenticate_asks_the_server_before_dropping_a_token() {
    // The real client drops a cached token only when /api/v1/user rejects it
    // (token_auth.py): a 401 elsewhere must not cost a token the server
    // still accepts.
    let fx = Fx::new();
    let first = fx.app();
    let second = fx.app();
    fx.write(&format!(
        "{}:\n{}{}",
        fx.server.url(),
        Fx::entry(&first),
        Fx::entry(&second)
    ));
    let auth = hubauth::authenticate(&fx.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), first.access_token);
    // Still accepted: kept.
    auth.reauthenticate(None).unwrap();
    assert_eq!(auth.token().unwrap().expose(), first.access_token);
    let (data, _) = pyyaml(&fx.path());
    assert_eq!(
        tokens_of(&data, &fx.server.url()),
        vec![first.access_token.clone(), second.access_token.clone()]
    );
    // Revoked: dropped, and the next one taken.
    assert!(fx.server.revoke(&first.access_token));
    auth.reauthenticate(None).unwrap();
    assert_eq!(auth.token().unwrap().expose(), second.access_token);
    let (data, _) = pyyaml(&fx.path());
    assert_eq!(
        tokens_of(&data, &fx.server.url()),
        vec![second.access_token.clone()]
    );
    // force asks for a login and leaves the cache alone when none can start.
    let mut force = fx.options();
    force.set("force", "true").unwrap();
    let err = auth.reauthenticate(Some(&force)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert_eq!(auth.token().unwrap().expose(), second.access_token);
    let (data, _) = pyyaml(&fx.path());
    assert_eq!(
        tokens_of(&data, &fx.server.url()),
        vec![second.access_token]
    );
}

#[test]
fn environment_rules() {
    let fx = Fx::new();
    let app = fx.app();
    let url = fx.server.url();
    let home = fx.dir.path().join("home");
    let env_map: HashMap<&str, String> = [
        ("HOME", home.to_string_lossy().into_owned()),
        ("DAGSHUB_CLIENT_HOST", format!("{url}/")),
        ("DAGSHUB_USER_TOKEN", app.access_token.clone()),
    ]
    .into_iter()
    .collect();
    let env = |name: &str| env_map.get(name).cloned();
    let mut o = Options::new();
    o.set("provider", "dagshub").unwrap();
    o.set("interactive", "false").unwrap();
    let provider = Engine::new(DagsHub::with_env(&env, &o).unwrap());
    assert_eq!(provider.host(), url);
    assert!(
        provider
            .token_path()
            .starts_with(home.join(".cache").join("dagshub"))
            || cfg!(target_os = "macos")
    );
    let token = provider.authenticate(&o).unwrap();
    assert_eq!(token.credential.secret().expose(), app.access_token);
    assert_eq!(token.username.as_deref(), Some("alice"));
    assert!(
        !provider.token_path().exists(),
        "the env token is never cached"
    );

    // Another host: the env token does not apply.
    let mut other = o.clone();
    other.set("server", "https://my.dagshub.example").unwrap();
    let provider = Engine::new(DagsHub::with_env(&env, &other).unwrap());
    assert!(!provider.uses_env_token());
}

#[test]
fn through_the_c_abi() {
    use hubauth::ffi::*;
    use std::ffi::{CStr, CString};
    let fx = Fx::new();
    let app = fx.app();
    let set = |o: *mut hubauth_options, k: &str, v: &str| {
        let (k, v) = (CString::new(k).unwrap(), CString::new(v).unwrap());
        assert_eq!(
            hubauth_options_set(o, k.as_ptr(), v.as_ptr(), std::ptr::null_mut()),
            0
        );
    };
    let o = hubauth_options_new();
    set(o, "provider", "dagshub");
    set(o, "server", &fx.server.url());
    set(o, "token_path", fx.path().to_str().unwrap());
    set(o, "interactive", "false");
    let token = CString::new(app.access_token.clone()).unwrap();
    assert_eq!(
        hubauth_save_token(o, token.as_ptr(), std::ptr::null_mut()),
        0
    );
    let mut auth = std::ptr::null_mut();
    assert_eq!(hubauth_authenticate(o, &mut auth, std::ptr::null_mut()), 0);
    let user = hubauth_auth_username(auth);
    // SAFETY: a NUL-terminated string from the library, freed only below.
    let name = unsafe { CStr::from_ptr(user) };
    assert_eq!(name.to_str().unwrap(), "alice");
    hubauth_string_free(user);
    assert_eq!(hubauth_auth_expires_at(auth), -1);
    hubauth_auth_free(auth);
    assert_eq!(hubauth_logout(o, std::ptr::null_mut()), 0);
    let mut err = std::ptr::null_mut();
    let mut auth = std::ptr::null_mut();
    assert_eq!(hubauth_authenticate(o, &mut auth, &mut err), 3);
    assert!(auth.is_null());
    assert_eq!(hubauth_error_code(err), 3);
    hubauth_error_free(err);
    hubauth_options_free(o);
}

/// Many generated strings, built from the characters PyYAML's resolvers and
/// indicators care about: all read back as the same strings, and the file is
/// byte for byte what `yaml.dump` writes.
#[test]
fn pyyaml_agrees_on_generated_strings() {
    use hubauth::secret::Secret;
    use hubauth::store::dagshub_yaml::CachedToken;
    const ALPHABET: &[u8] = b"0123456789._:-+eExXoObBtTfFyYnN~'\"#!&*|>%@`?,[]{}<= aZ/\\";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut cache = TokenCache::empty();
    let mut expected = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while expected.len() < 3000 {
        let len = 1 + (next() % 12) as usize;
        let s: String = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
            .collect();
        if !seen.insert(s.clone()) {
            continue;
        }
        cache
            .push("h", &CachedToken::app(Secret::new(&s).unwrap()))
            .unwrap();
        expected.push(s);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    cache.save(&path).unwrap();
    let (data, same) = pyyaml(&path);
    assert_eq!(tokens_of(&data, "h"), expected);
    assert!(same, "hubauth and PyYAML write these differently");
}
