//! The oidc provider end to end, through the Rust API, against the real
//! oidc-provider server of tests/oidc-server (one server per test).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hubauth::{Authentication, ErrorKind, Options, authenticate, logout};
use hubauth_testkit::oidc_server::{
    ALICE_PAT, CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, Config, OidcServer, PAT_TYPE,
    PUBLIC_CLIENT,
};
use serde_json::json;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn stored(path: &Path) -> toml::Table {
    std::fs::read_to_string(path).unwrap().parse().unwrap()
}

fn field(table: &toml::Table, key: &str) -> String {
    table
        .get(key)
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("the token file has no {key}"))
        .to_string()
}

/// Every value in the token file that is a secret.
fn secrets_in(table: &toml::Table) -> Vec<String> {
    ["access_token", "refresh_token", "id_token"]
        .iter()
        .filter_map(|k| table.get(*k).and_then(toml::Value::as_str))
        .map(str::to_string)
        .collect()
}

fn assert_no_secret(message: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !message.contains(secret.as_str()),
            "an error message contains a token: {message}"
        );
    }
}

struct Case {
    server: OidcServer,
    _dir: tempfile::TempDir,
    path: PathBuf,
    hook_calls: Arc<AtomicUsize>,
}

impl Case {
    fn new(server: OidcServer) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oidc").join("token.toml");
        Case {
            server,
            _dir: dir,
            path,
            hook_calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Public client, no way to log in.
    fn options(&self) -> Options {
        self.server.options(PUBLIC_CLIENT, &self.path)
    }

    /// Public client whose device logins a "user" approves (or denies).
    fn login_options(&self, deny: bool) -> Options {
        let mut o = self.options();
        o.set_hook(Some(self.server.hook(deny, self.hook_calls.clone())));
        o
    }

    fn confidential(&self, secret: &str) -> Options {
        let mut o = self.server.options(CONFIDENTIAL_CLIENT, &self.path);
        o.set("client_secret", secret).unwrap();
        o
    }

    fn hook_calls(&self) -> usize {
        self.hook_calls.load(Ordering::SeqCst)
    }
}

/// Sleeps until the stored access token has expired at the server.
fn wait_until_expired(path: &Path) {
    let expires_at = stored(path)["expires_at"].as_integer().unwrap();
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        if now >= expires_at as f64 + 0.05 {
            return;
        }
        std::thread::sleep(Duration::from_secs_f64(expires_at as f64 + 0.05 - now));
    }
}

#[test]
fn device_login_by_the_hook_stores_a_refresh_token_0600() {
    let case = Case::new(OidcServer::start());
    let auth = authenticate(&case.login_options(false)).unwrap();
    assert_eq!(case.hook_calls(), 1);
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert_eq!(auth.server(), case.server.issuer);
    assert!(auth.check().unwrap());

    let file = stored(&case.path);
    assert_eq!(mode(&case.path), 0o600);
    assert_eq!(field(&file, "access_token"), auth.token().unwrap().expose());
    assert!(
        !field(&file, "refresh_token").is_empty(),
        "offline_access gives a refresh token"
    );
    assert!(!field(&file, "id_token").is_empty());
    assert_eq!(field(&file, "issuer"), case.server.issuer);
    assert_eq!(field(&file, "client_id"), PUBLIC_CLIENT);
    assert_eq!(field(&file, "username"), "alice");
    assert_eq!(file["expires_in"].as_integer(), Some(60));
    assert_eq!(auth.expires_at(), file["expires_at"].as_integer());

    // The stored token is used again without a login (and, with validate,
    // checked once by introspection).
    let before = case.server.stat(&["introspection_requests"]);
    let again = authenticate(&case.options()).unwrap();
    assert_eq!(
        again.token().unwrap().expose(),
        field(&file, "access_token")
    );
    assert_eq!(again.username().as_deref(), Some("alice"));
    assert_eq!(case.server.stat(&["device_authorizations"]), 1);
    assert_eq!(case.server.stat(&["introspection_requests"]), before + 1);

    // force: a new login replaces it.
    let mut forced = case.login_options(false);
    forced.set("force", "true").unwrap();
    let relogged = authenticate(&forced).unwrap();
    assert_eq!(case.hook_calls(), 2);
    assert_ne!(
        relogged.token().unwrap().expose(),
        field(&file, "access_token")
    );
}

/// A person who pressed Deny meant it: `access_denied` is a definite
/// refusal, so the login is not tried again whatever `maxcount` says.
#[test]
fn a_denied_login_is_one_prompt_whatever_maxcount() {
    let case = Case::new(OidcServer::start());
    let mut o = case.login_options(true);
    o.set("maxcount", "3").unwrap();
    let err = authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("denied"), "{err}");
    assert_eq!(case.hook_calls(), 1);
    assert_eq!(case.server.stat(&["device_denied"]), 1);
    assert_eq!(case.server.stat(&["device_authorizations"]), 1);
    assert!(!case.path.exists());
}

#[test]
fn options_are_checked_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    let options = |issuer: &str| {
        let mut o = Options::new();
        o.set("provider", "oidc").unwrap();
        o.set("issuer", issuer).unwrap();
        o.set("client_id", PUBLIC_CLIENT).unwrap();
        o.set("token_path", path.to_str().unwrap()).unwrap();
        o.set("interactive", "false").unwrap();
        o
    };
    let err = authenticate(&options("http://idp.example.com")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Insecure, "{err}");

    let mut no_client = options("https://idp.example.com");
    no_client.set("client_id", "").unwrap();
    assert_eq!(
        authenticate(&no_client).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    // Nothing stored, nobody to approve a login: said without a request (no
    // server listens there).
    let err = authenticate(&options("http://127.0.0.1:9")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert!(err.message().contains("subject_token"), "{err}");
}

#[test]
fn an_expired_token_is_refreshed_and_the_refresh_token_rotated() {
    let case = Case::new(OidcServer::with_ttl(3));
    let auth = authenticate(&case.login_options(false)).unwrap();
    let first = stored(&case.path);
    // Fields hubauth does not know survive its rewrites.
    let mut edited = first.clone();
    edited.insert("note".into(), "kept".into());
    std::fs::write(&case.path, toml::to_string(&edited).unwrap()).unwrap();

    wait_until_expired(&case.path);
    assert!(!auth.check().unwrap(), "an expired token is not active");

    let token = auth.token().unwrap();
    let second = stored(&case.path);
    assert_ne!(token.expose(), field(&first, "access_token"));
    assert_eq!(token.expose(), field(&second, "access_token"));
    assert_ne!(
        field(&second, "refresh_token"),
        field(&first, "refresh_token")
    );
    assert_eq!(field(&second, "note"), "kept");
    assert_eq!(field(&second, "username"), "alice");
    assert_eq!(mode(&case.path), 0o600);
    assert_eq!(case.server.stat(&["token_success", "refresh_token"]), 1);
    assert!(auth.check().unwrap(), "the refreshed token works");
    assert_eq!(
        case.server.introspect(token.expose())["active"],
        json!(true)
    );
    assert_eq!(auth.username().as_deref(), Some("alice"));
}

#[test]
fn a_rotated_refresh_token_is_never_presented_twice() {
    let case = Case::new(OidcServer::with_ttl(2));
    let a = authenticate(&case.login_options(false)).unwrap();
    // A second handle on the same file, as another library in the process
    // would have: its own in-process lock, the same file lock.
    let b = authenticate(&case.options()).unwrap();
    assert_eq!(case.server.stat(&["device_authorizations"]), 1);

    let until = Instant::now() + Duration::from_millis(4500);
    let start = Arc::new(Barrier::new(4));
    let workers: Vec<_> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .map(|handle: Authentication| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                while Instant::now() < until {
                    handle.token().unwrap();
                    std::thread::sleep(Duration::from_millis(25));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let refreshes = case.server.stat(&["refresh_success"]);
    assert!(
        refreshes >= 2,
        "expected several refreshes, saw {refreshes}"
    );
    assert_eq!(case.server.stat(&["refresh_reuse"]), 0);
    assert_eq!(case.server.stat(&["refresh_errors"]), 0);
    assert_eq!(case.server.stat(&["grants_revoked"]), 0);
    // Both handles end up with a working token; the grant survived.
    wait_until_expired(&case.path);
    for handle in [&a, &b] {
        let token = handle.token().unwrap();
        assert_eq!(
            case.server.introspect(token.expose())["active"],
            json!(true)
        );
    }
    assert_eq!(case.server.stat(&["refresh_reuse"]), 0);
}

#[test]
fn a_pat_is_exchanged_and_exchanged_again_when_it_expires() {
    let case = Case::new(OidcServer::with_ttl(3));
    let mut o = case.options();
    o.set("subject_token", ALICE_PAT).unwrap();
    o.set("subject_token_type", PAT_TYPE).unwrap();
    let auth = authenticate(&o).unwrap();
    let token = auth.token().unwrap();
    let file = stored(&case.path);
    assert_eq!(field(&file, "access_token"), token.expose());
    assert!(
        file.get("refresh_token").is_none(),
        "an exchange gives no refresh token"
    );
    assert_eq!(
        auth.username().as_deref(),
        Some("alice"),
        "from introspection"
    );
    let exchanges = case.server.stat(&["exchange_success"]);
    assert!(exchanges >= 1);
    assert!(auth.check().unwrap());

    // No refresh token: an expired token is replaced by a new exchange.
    wait_until_expired(&case.path);
    let renewed = auth.token().unwrap();
    assert_ne!(renewed.expose(), token.expose());
    assert!(case.server.stat(&["exchange_success"]) > exchanges);
    assert!(auth.check().unwrap());

    // A PAT the server does not know: its error, never the PAT.
    let mut bad = case.options();
    bad.set("subject_token", "pat-alice-not-a-real-one-42")
        .unwrap();
    bad.set("subject_token_type", PAT_TYPE).unwrap();
    let err = authenticate(&bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("invalid_grant"), "{err}");
    assert!(!err.message().contains("pat-alice-not"), "{err}");

    // The default subject_token_type is RFC 8693's access_token, which this
    // server refuses for PATs.
    let mut untyped = case.options();
    untyped.set("subject_token", ALICE_PAT).unwrap();
    let err = authenticate(&untyped).unwrap_err();
    assert!(err.message().contains("invalid_request"), "{err}");
    assert!(!err.message().contains(ALICE_PAT), "{err}");
}

#[test]
fn a_confidential_client_uses_client_credentials() {
    let case = Case::new(OidcServer::with_ttl(3));
    let auth = authenticate(&case.confidential(CONFIDENTIAL_SECRET)).unwrap();
    let token = auth.token().unwrap();
    let file = stored(&case.path);
    assert_eq!(field(&file, "access_token"), token.expose());
    assert!(file.get("refresh_token").is_none());
    assert_eq!(field(&file, "client_id"), CONFIDENTIAL_CLIENT);
    let grants = case.server.stat(&["token_success", "client_credentials"]);
    assert!(grants >= 1);
    assert_eq!(case.server.stat(&["device_authorizations"]), 0);
    assert!(auth.check().unwrap());

    // No refresh token: an expired token is replaced by a new grant.
    wait_until_expired(&case.path);
    assert_ne!(auth.token().unwrap().expose(), token.expose());
    assert!(case.server.stat(&["token_success", "client_credentials"]) > grants);

    // A wrong secret is refused (invalid_client) and sent once only,
    // whatever maxcount says.
    let mut wrong = case.confidential("wrong-secret-value");
    wrong.set("maxcount", "3").unwrap();
    wrong.set("force", "true").unwrap();
    let refused_before = case.server.stat(&["errors", "invalid_client"]);
    let err = authenticate(&wrong).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("invalid_client"), "{err}");
    assert!(!err.message().contains("wrong-secret-value"), "{err}");
    assert_eq!(
        case.server.stat(&["errors", "invalid_client"]),
        refused_before + 1
    );
}

#[test]
fn logout_revokes_at_the_server_and_removes_the_file() {
    let case = Case::new(OidcServer::start());
    let auth = authenticate(&case.login_options(false)).unwrap();
    let file = stored(&case.path);
    let access = field(&file, "access_token");
    let refresh = field(&file, "refresh_token");
    assert!(auth.check().unwrap());
    assert_eq!(case.server.introspect(&refresh)["active"], json!(true));

    logout(&case.options()).unwrap();
    assert!(!case.path.exists());
    assert!(case.server.stat(&["revocation_requests"]) >= 1);
    assert_eq!(case.server.introspect(&refresh)["active"], json!(false));
    assert_eq!(case.server.introspect(&access)["active"], json!(false));
    assert!(!auth.check().unwrap(), "a revoked token is not active");

    // The revoked token, given as `token`, is refused by validation.
    let mut given = case.options();
    given.set("token", &access).unwrap();
    let err = authenticate(&given).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert_no_secret(err.message(), &[access.clone(), refresh.clone()]);
    // A logout with nothing stored is fine.
    logout(&case.options()).unwrap();
}

/// A server may publish RFC 8414 metadata beside its OpenID document and
/// name `revocation_endpoint` there only: logout finds it and revokes.
#[test]
fn logout_revokes_where_only_the_rfc8414_metadata_offers_it() {
    let case = Case::new(OidcServer::with(Config {
        revocation_in_rfc8414: true,
        ..Config::default()
    }));
    let openid =
        hubauth_testkit::http::get(&case.server.url("/.well-known/openid-configuration")).unwrap();
    assert_eq!(openid.status, 200);
    assert!(
        !openid.text().contains("revocation_endpoint"),
        "{}",
        openid.text()
    );
    authenticate(&case.login_options(false)).unwrap();
    let refresh = field(&stored(&case.path), "refresh_token");
    assert_eq!(case.server.introspect(&refresh)["active"], json!(true));
    logout(&case.options()).unwrap();
    assert!(!case.path.exists());
    assert!(case.server.stat(&["revocation_requests"]) >= 1);
    assert_eq!(case.server.introspect(&refresh)["active"], json!(false));
}

#[test]
fn oauth_errors_are_named_and_a_refused_refresh_falls_back_to_login() {
    let case = Case::new(OidcServer::with_ttl(3));
    let auth = authenticate(&case.login_options(false)).unwrap();
    let mut secrets = secrets_in(&stored(&case.path));

    wait_until_expired(&case.path);
    case.server.inject(json!({
        "endpoint": "token", "grant_type": "refresh_token",
        "error": "temporarily_unavailable", "error_description": "try later", "status": 503,
    }));
    let err = auth.token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(
        err.message()
            .contains("temporarily_unavailable (try later)"),
        "{err}"
    );
    assert_no_secret(err.message(), &secrets);

    // The server refuses the refresh token: the hot path says so...
    case.server.inject(json!({
        "endpoint": "token", "grant_type": "refresh_token", "error": "invalid_grant", "count": 2,
    }));
    let err = auth.token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("invalid_grant"), "{err}");
    assert!(err.message().contains("authenticate again"), "{err}");
    assert_no_secret(err.message(), &secrets);
    // ...and authenticate logs in again instead.
    let relogged = authenticate(&case.login_options(false)).unwrap();
    assert_eq!(case.hook_calls(), 2);
    assert_eq!(case.server.stat(&["device_approved"]), 2);
    assert!(relogged.check().unwrap());
    secrets.extend(secrets_in(&stored(&case.path)));

    // Injected introspection failure: a Server error, no token text.
    case.server
        .inject(json!({"endpoint": "introspection", "status": 500}));
    let err = relogged.check().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(err.message().contains("server_error"), "{err}");
    assert_no_secret(err.message(), &secrets);
}

/// RFC 8628 §3.2: `verification_uri_complete` is optional (GitHub never
/// sends it). Without it the host still gets what a person needs: the job's
/// Login event carries the bare `verification_uri` and the user code, and
/// the hook's URL carries the code as its `user_code` query parameter (the
/// form of RFC 8628 §3.3.1's example), where the CLI and apps read it.
#[test]
fn without_verification_uri_complete_the_host_gets_the_user_code() {
    use hubauth::{Event, HookAction, Job, JobKind, Outcome};
    let case = Case::new(OidcServer::with(Config {
        verification_uri_complete: false,
        ..Config::default()
    }));
    let bare = case.server.url("/device");

    // The job: the bare URI and the code, apart.
    let mut o = case.options();
    o.set("interactive", "true").unwrap();
    o.set("open_browser", "false").unwrap();
    o.set("timeout_ms", "10000").unwrap();
    let job = Job::start(JobKind::Authenticate, None, Some(o), Some(Box::new(|| {}))).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let (url, code) = loop {
        match job.poll() {
            Some(Event::Login { url, user_code }) => break (url, user_code),
            Some(Event::Done(r)) => panic!("done before a login URL: {:?}", r.err()),
            _ => {
                assert!(Instant::now() < until, "no Login event");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    assert_eq!(url, bare);
    let code = code.expect("the user code");
    case.server.decide(&code, false);
    let auth = loop {
        match job.poll() {
            Some(Event::Done(Ok(Outcome::Auth(auth)))) => break auth,
            Some(Event::Done(other)) => panic!("{:?}", other.err()),
            _ => {
                assert!(Instant::now() < until, "the login did not end");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    assert!(auth.check().unwrap());

    // The hook: the code travels in the URL it gets.
    std::fs::remove_file(&case.path).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut o = case.options();
    o.set("timeout_ms", "5000").unwrap();
    {
        let seen = seen.clone();
        let control = case.server.control();
        o.set_hook(Some(Arc::new(move |url: &str| {
            seen.lock().unwrap().push(url.to_string());
            let code = url::Url::parse(url)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "user_code")
                .map(|(_, v)| v.into_owned());
            if let Some(code) = code {
                let control = control.clone();
                std::thread::spawn(move || control.decide(&code, false));
            }
            HookAction::Continue
        })));
    }
    let result = authenticate(&o);
    let urls = seen.lock().unwrap().clone();
    assert_eq!(urls.len(), 1, "{urls:?}");
    let hook_url = url::Url::parse(&urls[0]).unwrap();
    assert_eq!(
        format!(
            "{}{}",
            hook_url.origin().ascii_serialization(),
            hook_url.path()
        ),
        bare
    );
    assert!(
        hook_url.query_pairs().any(|(k, _)| k == "user_code"),
        "{hook_url}"
    );
    assert!(result.unwrap().check().unwrap());
}
