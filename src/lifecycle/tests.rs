//! The engine's rules, against an in-memory hub whose store, renewals and
//! logins are scripted. The real hubs' tests (tests/*.rs) run the same rules
//! against protocol servers and the real oidc-provider.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Engine, Lifecycle};
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::provider::{LoginKind, Overwrite, Provider, Renewal, Verdict};
use crate::secret::Secret;
use crate::token::{Token, unix_now};

/// Refresh tokens are remembered process-wide: each test uses its own.
fn unique(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[derive(Clone, Default)]
struct Record {
    access: String,
    expires_at: Option<i64>,
    refresh: Option<String>,
}

/// What a renewal request does: its answer, and what another writer (one
/// that takes no lock) stores meanwhile.
struct Step {
    answer: Result<Record>,
    meanwhile: Option<Record>,
}

struct FakeHub {
    dir: PathBuf,
    store: Mutex<Option<Record>>,
    renewals: Mutex<VecDeque<Step>>,
    /// Every refresh token a renewal presented, in order.
    presented: Mutex<Vec<String>>,
    logins: AtomicUsize,
    login_answers: Mutex<VecDeque<Result<Record>>>,
    rejected: Mutex<Vec<String>>,
    /// Its logins need a person.
    needs_person: bool,
}

impl FakeHub {
    fn new(dir: &Path, stored: Option<Record>) -> Self {
        FakeHub {
            dir: dir.join("token"),
            store: Mutex::new(stored),
            renewals: Mutex::new(VecDeque::new()),
            presented: Mutex::new(Vec::new()),
            logins: AtomicUsize::new(0),
            login_answers: Mutex::new(VecDeque::new()),
            rejected: Mutex::new(Vec::new()),
            needs_person: false,
        }
    }

    fn script_renewal(&self, answer: Result<Record>, meanwhile: Option<Record>) {
        self.renewals
            .lock()
            .unwrap()
            .push_back(Step { answer, meanwhile });
    }

    fn presented(&self) -> Vec<String> {
        self.presented.lock().unwrap().clone()
    }
}

impl Provider for FakeHub {
    type Stored = Record;
    type Grant = Record;
    /// The refresh token to present.
    type Plan = String;

    fn server(&self) -> &str {
        "https://hub.example"
    }

    fn lock_paths(&self) -> Vec<&Path> {
        vec![&self.dir]
    }

    fn load(&self, _options: &Options, _skip: &[Secret]) -> Result<Option<Record>> {
        Ok(self.store.lock().unwrap().clone())
    }

    fn token(&self, stored: &Record, _options: &Options) -> Option<Token> {
        Some(Token {
            expires_at: stored.expires_at,
            ..Token::bare(Secret::new(&stored.access).unwrap())
        })
    }

    fn renewal(&self, stored: &Record, _options: &Options) -> Renewal<String> {
        match &stored.refresh {
            Some(refresh) => Renewal::SingleUse(Secret::new(refresh).unwrap(), refresh.clone()),
            None => Renewal::None,
        }
    }

    fn renew(&self, _stored: &Record, refresh: String, _options: &Options) -> Result<Record> {
        self.presented.lock().unwrap().push(refresh);
        let step = self
            .renewals
            .lock()
            .unwrap()
            .pop_front()
            .expect("an unscripted renewal was sent");
        if let Some(record) = step.meanwhile {
            *self.store.lock().unwrap() = Some(record);
        }
        step.answer
    }

    fn login_kind(&self, _options: &Options) -> LoginKind {
        if !self.needs_person {
            return LoginKind::Unattended;
        }
        LoginKind::Interactive {
            interactive_default: false,
            advice: "ask someone".into(),
        }
    }

    fn login(&self, _options: &Options) -> Result<Record> {
        self.logins.fetch_add(1, Ordering::SeqCst);
        self.login_answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(Error::no_credentials("interactive login is disabled")))
    }

    fn save(&self, grant: Record, options: &Options) -> Result<Token> {
        *self.store.lock().unwrap() = Some(grant.clone());
        Ok(self.token(&grant, options).unwrap())
    }

    fn check(&self, token: &Token, _options: &Options) -> Result<Verdict> {
        let rejected = self.rejected.lock().unwrap();
        Ok(
            if rejected
                .iter()
                .any(|r| r == token.credential.secret().expose())
            {
                Verdict::Rejected
            } else {
                Verdict::Valid {
                    username: Some("ada".into()),
                }
            },
        )
    }

    fn discard(&self, _stored: &Record, _options: &Options) -> Result<()> {
        *self.store.lock().unwrap() = None;
        Ok(())
    }

    fn save_token(&self, _token: &str, _options: &Options, _overwrite: &Overwrite) -> Result<()> {
        Ok(())
    }

    fn logout(&self, _options: &Options) -> Result<()> {
        Ok(())
    }
}

fn options() -> Options {
    let mut o = Options::new();
    o.set("validate", "false").unwrap();
    o.set("timeout_ms", "5000").unwrap();
    o
}

fn stale(access: &str, refresh: &str) -> Record {
    Record {
        access: access.into(),
        expires_at: Some(unix_now() + 5),
        refresh: Some(refresh.into()),
    }
}

fn expired(access: &str, refresh: &str) -> Record {
    Record {
        access: access.into(),
        expires_at: Some(unix_now() - 5),
        refresh: Some(refresh.into()),
    }
}

fn fresh(access: &str, refresh: &str) -> Record {
    Record {
        access: access.into(),
        expires_at: Some(unix_now() + 3600),
        refresh: Some(refresh.into()),
    }
}

fn engine(stored: Option<Record>) -> (tempfile::TempDir, Engine<FakeHub>) {
    let dir = tempfile::tempdir().unwrap();
    let hub = FakeHub::new(dir.path(), stored);
    (dir, Engine::new(hub))
}

#[test]
fn a_stale_token_is_renewed_once_and_saved() {
    let r1 = unique("r");
    let (_dir, e) = engine(Some(stale("a1", &r1)));
    e.provider()
        .script_renewal(Ok(fresh("a2", &unique("r"))), None);
    let token = e.authenticate(&options()).unwrap();
    assert_eq!(token.credential.secret().expose(), "a2");
    assert_eq!(e.provider().presented(), vec![r1]);
    assert_eq!(e.provider().logins.load(Ordering::SeqCst), 0);
}

#[test]
fn a_renewal_answered_502_is_never_sent_again() {
    // The server rotated the refresh token, then a proxy answered 502: the
    // old one is spent. No second request, in this call or a later one.
    let r1 = unique("r");
    let (_dir, e) = engine(Some(expired("a1", &r1)));
    e.provider()
        .script_renewal(Err(Error::server("token refresh: HTTP 502")), None);
    let current = e.provider().token(&expired("a1", &r1), &options()).unwrap();
    let err = e.refresh(&current, &options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    let err = e.refresh(&current, &options()).unwrap_err();
    assert!(err.message().contains("already presented"), "{err}");
    let err = e.authenticate(&options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert!(err.message().contains("new login is needed"), "{err}");
    assert_eq!(e.provider().presented(), vec![r1], "presented once");

    // A well-formed OAuth error (temporarily_unavailable) issued nothing:
    // the refresh token may be presented again later.
    let r3 = unique("r");
    let (_dir, e) = engine(Some(expired("c1", &r3)));
    e.provider().script_renewal(
        Err(Error::server("refused: temporarily_unavailable").refused()),
        None,
    );
    e.provider()
        .script_renewal(Ok(fresh("c2", &unique("r"))), None);
    let current = e.provider().token(&expired("c1", &r3), &options()).unwrap();
    assert_eq!(
        e.refresh(&current, &options()).unwrap_err().kind(),
        ErrorKind::Server
    );
    assert_eq!(
        e.refresh(&current, &options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "c2"
    );
    assert_eq!(e.provider().presented(), vec![r3.clone(), r3]);

    // A token that still works is handed out until it expires.
    let r2 = unique("r");
    let (_dir, e) = engine(Some(stale("b1", &r2)));
    e.provider()
        .script_renewal(Err(Error::server("token refresh: HTTP 502")), None);
    assert_eq!(
        e.authenticate(&options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "b1"
    );
    assert_eq!(
        e.authenticate(&options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "b1"
    );
    assert_eq!(e.provider().presented(), vec![r2], "presented once");
}

#[test]
fn a_request_that_never_left_keeps_the_credential_usable() {
    let r1 = unique("r");
    let (_dir, e) = engine(Some(expired("a1", &r1)));
    e.provider()
        .script_renewal(Err(Error::network("connection refused").unsent()), None);
    e.provider()
        .script_renewal(Ok(fresh("a2", &unique("r"))), None);
    let err = e.authenticate(&options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network);
    assert_eq!(
        e.authenticate(&options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "a2"
    );
    assert_eq!(e.provider().presented(), vec![r1.clone(), r1]);

    // A token that still works is handed out when no renewal could start.
    let r2 = unique("r");
    let (_dir, e) = engine(Some(stale("b1", &r2)));
    e.provider()
        .script_renewal(Err(Error::network("connection refused").unsent()), None);
    assert_eq!(
        e.authenticate(&options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "b1"
    );
}

#[test]
fn a_definite_refusal_spends_nothing() {
    // The server answered that it does not take the refresh token: it did
    // not rotate it, so a later call may present it again.
    let r1 = unique("r");
    let (_dir, e) = engine(Some(expired("a1", &r1)));
    e.provider()
        .script_renewal(Err(Error::authentication("invalid_grant")), None);
    e.provider()
        .script_renewal(Ok(fresh("a2", &unique("r"))), None);
    let err = e.authenticate(&options()).unwrap_err();
    assert!(err.message().contains("invalid_grant"), "{err}");
    assert_eq!(
        e.authenticate(&options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "a2"
    );
    assert_eq!(e.provider().presented(), vec![r1.clone(), r1]);
}

#[test]
fn after_a_refused_renewal_the_store_is_read_again() {
    // Another writer (the hub's SDK, which takes no lock) rotated r1 → r2
    // meanwhile: the renewal is sent once more, with r2.
    let r1 = unique("r");
    let r2 = unique("r");
    let (_dir, e) = engine(Some(stale("a1", &r1)));
    e.provider().script_renewal(
        Err(Error::authentication("invalid_grant")),
        Some(stale("a2", &r2)),
    );
    e.provider()
        .script_renewal(Ok(fresh("a3", &unique("r"))), None);
    let token = e.authenticate(&options()).unwrap();
    assert_eq!(token.credential.secret().expose(), "a3");
    assert_eq!(e.provider().presented(), vec![r1, r2]);

    // It stored a fresh token instead: that one is used, with no request.
    let r3 = unique("r");
    let (_dir, e) = engine(Some(stale("b1", &r3)));
    e.provider().script_renewal(
        Err(Error::authentication("invalid_grant")),
        Some(fresh("b2", &unique("r"))),
    );
    assert_eq!(
        e.authenticate(&options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "b2"
    );
    assert_eq!(e.provider().presented(), vec![r3]);
}

#[test]
fn the_second_try_with_a_rotated_token_spends_it_only_when_it_may_be_spent() {
    // r1 refused, the store read again holds r2 (another writer rotated it),
    // and r2 is refused too: the server did not take it, so a later call may
    // present r2 again (it was kept as presented, and a login was forced).
    let (r1, r2) = (unique("r"), unique("r"));
    let (_dir, e) = engine(Some(expired("a1", &r1)));
    e.provider().script_renewal(
        Err(Error::authentication("invalid_grant")),
        Some(expired("a2", &r2)),
    );
    e.provider()
        .script_renewal(Err(Error::authentication("invalid_grant")), None);
    e.provider()
        .script_renewal(Ok(fresh("a3", &unique("r"))), None);
    let err = e.authenticate(&options()).unwrap_err();
    assert!(err.message().contains("invalid_grant"), "{err}");
    assert_eq!(
        e.authenticate(&options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "a3"
    );
    assert_eq!(e.provider().presented(), vec![r1, r2.clone(), r2]);

    // The second try's request never left: an error of its own, and r2
    // stays usable.
    let (r3, r4) = (unique("r"), unique("r"));
    let (_dir, e) = engine(Some(expired("b1", &r3)));
    e.provider().script_renewal(
        Err(Error::authentication("invalid_grant")),
        Some(expired("b2", &r4)),
    );
    e.provider()
        .script_renewal(Err(Error::network("connection refused").unsent()), None);
    e.provider()
        .script_renewal(Ok(fresh("b3", &unique("r"))), None);
    let err = e.authenticate(&options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert_eq!(
        e.authenticate(&options())
            .unwrap()
            .credential
            .secret()
            .expose(),
        "b3"
    );
    assert_eq!(e.provider().presented(), vec![r3, r4.clone(), r4]);

    // A 502 on the second try: r2 may be spent and is never sent again.
    let (r5, r6) = (unique("r"), unique("r"));
    let (_dir, e) = engine(Some(expired("c1", &r5)));
    e.provider().script_renewal(
        Err(Error::authentication("invalid_grant")),
        Some(expired("c2", &r6)),
    );
    e.provider()
        .script_renewal(Err(Error::server("token refresh: HTTP 502")), None);
    assert!(e.authenticate(&options()).is_err());
    assert!(e.authenticate(&options()).is_err());
    assert_eq!(e.provider().presented(), vec![r5, r6]);
}

#[test]
fn only_logins_are_tried_again() {
    let (_dir, e) = engine(None);
    let hub = e.provider();
    {
        let mut answers = hub.login_answers.lock().unwrap();
        answers.push_back(Err(Error::server("HTTP 503")));
        answers.push_back(Err(Error::authentication("denied")));
        answers.push_back(Ok(fresh("a1", &unique("r"))));
    }
    let token = e.authenticate(&options()).unwrap();
    assert_eq!(token.credential.secret().expose(), "a1");
    assert_eq!(hub.logins.load(Ordering::SeqCst), 3);

    let mut once = options();
    once.set("maxcount", "1").unwrap();
    let (_dir, e) = engine(None);
    e.provider()
        .login_answers
        .lock()
        .unwrap()
        .push_back(Err(Error::server("HTTP 503")));
    let err = e.authenticate(&once).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.message().contains("after 1 try"), "{err}");
}

#[test]
fn force_skips_the_store_and_a_rejected_token_is_renewed() {
    let (_dir, e) = engine(Some(fresh("a1", &unique("r"))));
    e.provider()
        .login_answers
        .lock()
        .unwrap()
        .push_back(Ok(fresh("a2", &unique("r"))));
    let mut force = options();
    force.set("force", "true").unwrap();
    assert_eq!(
        e.authenticate(&force).unwrap().credential.secret().expose(),
        "a2"
    );
    assert_eq!(e.provider().logins.load(Ordering::SeqCst), 1);

    // With validate, a fresh token the server rejects is renewed.
    let r1 = unique("r");
    let (_dir, e) = engine(Some(fresh("b1", &r1)));
    e.provider().rejected.lock().unwrap().push("b1".into());
    e.provider()
        .script_renewal(Ok(fresh("b2", &unique("r"))), None);
    let mut validate = options();
    validate.set("validate", "true").unwrap();
    let token = e.authenticate(&validate).unwrap();
    assert_eq!(token.credential.secret().expose(), "b2");
    assert_eq!(token.username.as_deref(), Some("ada"));
    assert_eq!(e.provider().presented(), vec![r1]);
}

#[test]
fn a_given_token_touches_no_store() {
    let (_dir, e) = engine(Some(stale("a1", &unique("r"))));
    let mut given = options();
    given.set("token", "mine").unwrap();
    assert_eq!(
        e.authenticate(&given).unwrap().credential.secret().expose(),
        "mine"
    );
    assert!(e.provider().presented().is_empty());
    given.set("validate", "true").unwrap();
    e.provider().rejected.lock().unwrap().push("mine".into());
    let err = e.authenticate(&given).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(err.message().contains("the given token"), "{err}");
}

#[test]
fn min_valid_s_renews_early_and_says_when_it_cannot_be_met() {
    // 5 s left: fresh for the 600 s margin capped by nothing known, but
    // not for a caller that needs 60 s.
    let r1 = unique("r");
    let (_dir, e) = engine(Some(stale("a1", &r1)));
    e.provider()
        .script_renewal(Ok(fresh("a2", &unique("r"))), None);
    let mut o = options();
    o.set("refresh_margin_s", "0").unwrap();
    o.set("min_valid_s", "60").unwrap();
    assert_eq!(
        e.authenticate(&o).unwrap().credential.secret().expose(),
        "a2"
    );
    assert_eq!(e.provider().presented(), vec![r1]);

    // The server's tokens last an hour: two hours cannot be had.
    o.set("min_valid_s", "7200").unwrap();
    e.provider()
        .script_renewal(Ok(fresh("a3", &unique("r"))), None);
    let err = e.authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("`min_valid_s=7200`"), "{err}");
}

/// `hubauth status`'s verdict ([`crate::provider::Standing`]) and
/// `authenticate` without a login agree: stored tokens that still work, that
/// are stale but renewable, that expired unrenewable, or that last less than
/// `min_valid_s`.
#[test]
fn status_standing_agrees_with_authenticate() {
    use crate::provider::Standing;
    let no_refresh = |expires_at: i64| Record {
        access: unique("a"),
        expires_at: Some(unix_now() + expires_at),
        refresh: None,
    };
    let mut needs_a_minute = options();
    needs_a_minute.set("min_valid_s", "60").unwrap();
    let cases = [
        (fresh("a", &unique("r")), options(), true),
        (expired("a", &unique("r")), options(), true),
        (no_refresh(3600), options(), true),
        (no_refresh(-5), options(), false),
        (no_refresh(30), options(), true),
        (no_refresh(30), needs_a_minute, false),
    ];
    for (i, (record, options, usable)) in cases.into_iter().enumerate() {
        let (_dir, e) = engine(Some(record.clone()));
        let standing = Standing::of(e.provider(), &record, &options);
        assert_eq!(standing.usable, usable, "case {i}");
        assert_eq!(standing.refreshable, record.refresh.is_some(), "case {i}");
        if record.refresh.is_some() {
            e.provider()
                .script_renewal(Ok(fresh("renewed", &unique("r"))), None);
        }
        let authenticated = e.authenticate(&options);
        assert_eq!(authenticated.is_ok(), usable, "case {i}: {authenticated:?}");
        assert_eq!(
            e.provider().logins.load(Ordering::SeqCst),
            usize::from(!usable)
        );
    }
}

/// A login that needs a person starts only when one can be reached: else
/// `NoCredentials` with the provider's advice, and the login never runs.
#[test]
fn a_login_that_needs_a_person_starts_only_when_one_can_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = FakeHub::new(dir.path(), None);
    hub.needs_person = true;
    let e = Engine::new(hub);
    let err = e.authenticate(&options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert!(
        err.message()
            .contains("interactive login is disabled; ask someone"),
        "{err}"
    );
    assert_eq!(e.provider().logins.load(Ordering::SeqCst), 0);

    let mut interactive = options();
    interactive.set("interactive", "true").unwrap();
    e.provider()
        .login_answers
        .lock()
        .unwrap()
        .push_back(Ok(fresh("a", &unique("r"))));
    e.authenticate(&interactive).unwrap();
    assert_eq!(e.provider().logins.load(Ordering::SeqCst), 1);
}
