//! The juliahub provider end to end, through the Rust API, against a server
//! that follows the PkgAuthentication.jl and JuliaHub.jl protocols.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hubauth::{ErrorKind, HookAction, authenticate};
use hubauth_testkit::Flow;
use hubauth_testkit::fixture::{BrowserHook, Fixture};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn valid_stored_token_is_used_without_login_or_refresh() {
    let f = Fixture::new();
    let stored = f.store_token(3600);
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), stored.id_token);
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert_eq!(auth.server(), f.server.url());
    assert_eq!(auth.expires_at(), Some(stored.expires_at));
    let stats = f.server.stats();
    assert_eq!(stats.refreshes, 0);
    assert_eq!(stats.challenges + stats.device_code_requests, 0);
}

#[test]
fn expired_token_is_refreshed_and_saved_0600() {
    let f = Fixture::new();
    let stored = f.store_token(-30);
    std::fs::write(
        f.token_path(),
        format!("{}custom_field = \"kept\"\n", stored.to_toml()),
    )
    .unwrap();
    let auth = authenticate(&f.options()).unwrap();
    let token = auth.token().unwrap();
    assert_ne!(token.expose(), stored.id_token);
    assert_eq!(token.expose(), f.stored_id_token());
    assert_eq!(f.server.stats().refreshes, 1);
    assert_eq!(mode(&f.token_path()), 0o600);
    let table = f.stored_table();
    assert_eq!(table["custom_field"].as_str(), Some("kept"));
    assert!(table["expires_at"].as_integer().unwrap() > hubauth::token::unix_now());
}

#[test]
fn failed_refresh_falls_back_to_login_through_the_hook() {
    let f = Fixture::new();
    f.store_token(-30);
    f.server.configure(|c| c.refresh_fails = true);
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    let auth = authenticate(&options).unwrap();
    assert_eq!(hook.calls(), 1);
    let stats = f.server.stats();
    assert_eq!(stats.refresh_rejections, 1);
    assert_eq!(stats.device_tokens_issued, 1);
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
}

#[test]
fn classic_flow_logs_in_through_challenge_and_claim() {
    let f = Fixture::new();
    f.server.configure(|c| c.flow = Flow::Classic);
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    let auth = authenticate(&options).unwrap();
    assert!(
        hook.last_url()
            .starts_with(&format!("{}/auth/response?", f.server.url())),
        "{}",
        hook.last_url()
    );
    let stats = f.server.stats();
    assert_eq!(stats.challenges, 1);
    assert_eq!(stats.tokens_claimed, 1);
    assert!(stats.claim_polls >= 1);
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
    assert_eq!(mode(&f.token_path()), 0o600);
    assert_eq!(mode(f.token_path().parent().unwrap()), 0o700);
}

#[test]
fn device_flow_saves_expiry_and_refresh_url() {
    let f = Fixture::new();
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    let before = hubauth::token::unix_now();
    let auth = authenticate(&options).unwrap();
    assert!(
        hook.last_url().contains("user_code="),
        "{}",
        hook.last_url()
    );
    let stats = f.server.stats();
    assert_eq!(stats.device_code_requests, 1);
    assert_eq!(stats.last_device_client_id.as_deref(), Some("device"));
    assert_eq!(
        stats.last_device_scope.as_deref(),
        Some("openid offline_access")
    );
    assert_eq!(stats.too_fast_polls, 0, "the interval was honoured");
    let table = f.stored_table();
    assert_eq!(
        table["refresh_url"].as_str().unwrap(),
        format!("{}/auth/renew/token.toml/device/", f.server.url())
    );
    let expires_at = table["expires_at"].as_integer().unwrap();
    assert!(expires_at >= before + 3600 - 1 && expires_at <= hubauth::token::unix_now() + 3600);
    assert_eq!(
        table["user_name"].as_str(),
        Some("alice"),
        "the user /api/v1 named is remembered in the file"
    );
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
    // The device token refreshes through the URL the configuration gave.
    drop(auth);
    let mut table = f.stored_table();
    table.insert("expires_at".into(), toml::Value::Integer(1));
    std::fs::write(f.token_path(), toml::to_string(&table).unwrap()).unwrap();
    authenticate(&f.options()).unwrap();
    assert_eq!(f.server.stats().refreshes, 1);
}

#[test]
fn device_flow_honours_slow_down() {
    let f = Fixture::new();
    f.server.configure(|c| c.slow_down_polls = 1);
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    authenticate(&options).unwrap();
    let stats = f.server.stats();
    assert_eq!(stats.slow_downs_sent, 1);
    assert_eq!(stats.too_fast_polls, 0);
    // interval 1 s, then 1 + 5 s after slow_down
    assert!(
        stats.device_poll_intervals_ms.iter().any(|ms| *ms >= 5_900),
        "{:?}",
        stats.device_poll_intervals_ms
    );
}

#[test]
fn device_code_expiry_fails_the_login() {
    let f = Fixture::new();
    f.server.configure(|c| c.device_expires_in_s = 2);
    let mut options = f.options();
    options.set_hook(Some(Arc::new(|_url: &str| HookAction::Continue)));
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.message().contains("expired"), "{err}");
}

#[test]
fn hook_cancel_stops_at_once_and_writes_nothing() {
    let f = Fixture::new();
    let mut options = f.options();
    options.set_hook(Some(Arc::new(|_url: &str| HookAction::Cancel)));
    let started = Instant::now();
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!f.token_path().exists());
    assert_eq!(f.server.stats().device_token_polls, 0);
}

#[test]
fn login_times_out_at_timeout_ms() {
    let f = Fixture::new();
    f.server.configure(|c| c.flow = Flow::Classic);
    let mut options = f.options();
    options.set("timeout_ms", "1500").unwrap();
    options.set_hook(Some(Arc::new(|_url: &str| HookAction::Continue)));
    let started = Instant::now();
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn interactive_false_without_token_is_no_credentials() {
    let f = Fixture::new();
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials);
    assert!(err.message().contains("hubauth login"), "{err}");
    assert_eq!(f.server.stats().device_code_requests, 0);
}

#[test]
fn plain_http_to_a_remote_host_is_insecure() {
    let mut options = hubauth::Options::new();
    options.set("server", "http://example.com").unwrap();
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Insecure, "{err}");
}

/// The refresh token never goes over plain http to another host; the file
/// then needs a login, as for any refresh that cannot be made (issue 21):
/// here none is allowed.
#[test]
fn refresh_url_over_plain_http_to_a_remote_host_is_not_used() {
    let f = Fixture::new();
    let stored = f.store_token(-30);
    let foreign = stored
        .refresh_url
        .replace(&f.server.url(), "http://example.com");
    let text = f.stored_text().replace(&stored.refresh_url, &foreign);
    std::fs::write(f.token_path(), &text).unwrap();
    let err = authenticate(&f.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert_eq!(f.stored_text(), text, "the file is left alone");
    assert_eq!(f.server.stats().refreshes, 0);
}

#[test]
fn malformed_auth_toml_is_a_format_error_and_left_unchanged() {
    let f = Fixture::new();
    let path = f.token_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let garbage = b"id_token = \"abc\nrefresh_token = [1, 2\n\xff\xfe";
    std::fs::write(&path, garbage).unwrap();
    for bytes in [&garbage[..], b"id_token = \"unterminated\n"] {
        std::fs::write(&path, bytes).unwrap();
        let err = authenticate(&f.options()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Format, "{err}");
        assert!(!err.message().contains("unterminated"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn check_is_true_then_false_after_revocation() {
    let f = Fixture::new();
    f.store_token(3600);
    let auth = authenticate(&f.options()).unwrap();
    assert!(auth.check().unwrap());
    f.server.revoke_all();
    assert!(!auth.check().unwrap());
}

#[test]
fn reauthenticate_picks_up_a_file_rewritten_by_someone_else() {
    let f = Fixture::new();
    f.store_token(3600);
    let auth = authenticate(&f.options()).unwrap();
    let other = f.store_token(3600);
    assert_ne!(auth.token().unwrap().expose(), other.id_token);
    let shared = auth.clone();
    auth.reauthenticate(None).unwrap();
    assert_eq!(shared.token().unwrap().expose(), other.id_token);
}

#[test]
fn reauthenticate_refreshes_an_expired_reloaded_token() {
    let f = Fixture::new();
    f.store_token(3600);
    let auth = authenticate(&f.options()).unwrap();
    let expired = f.store_token(-30);
    auth.reauthenticate(None).unwrap();
    let token = auth.token().unwrap();
    assert_ne!(token.expose(), expired.id_token);
    assert_eq!(token.expose(), f.stored_id_token());
    assert_eq!(f.server.stats().refreshes, 1);
}

#[test]
fn reauthenticate_refuses_a_different_user() {
    let f = Fixture::new();
    f.store_token(3600);
    let auth = authenticate(&f.options()).unwrap();
    let bob = f.server.issue_token_for("bob", 3600);
    std::fs::write(f.token_path(), bob.to_toml()).unwrap();
    let err = auth.reauthenticate(None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(auth.username().as_deref(), Some("alice"));
}

#[test]
fn maxcount_exhausted_says_how_many_tries() {
    let f = Fixture::new();
    f.server.configure(|c| {
        c.flow = Flow::Classic;
        c.deny = true;
        c.auto_approve = true;
    });
    let mut options = f.options();
    options.set("maxcount", "2").unwrap();
    options.set_hook(Some(Arc::new(|_url: &str| HookAction::Continue)));
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(err.message().contains("after 2 tries"), "{err}");
    assert_eq!(f.server.stats().challenges, 2);
}

#[test]
fn rejected_stored_token_is_backed_up_and_replaced_once() {
    let f = Fixture::new();
    f.store_token(3600);
    f.server.revoke_all();
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    let auth = authenticate(&options).unwrap();
    assert_eq!(hook.calls(), 1);
    assert!(auth.check().unwrap());
    let backups: Vec<_> = std::fs::read_dir(f.token_path().parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("auth.toml.") && n.ends_with(".backup"))
        .collect();
    // One backup per token file (issue 13): `auth.toml.backup`, 0600,
    // replaced by the next rejected token rather than piling up.
    assert_eq!(backups, ["auth.toml.backup"]);
    let backup = f.token_path().with_file_name("auth.toml.backup");
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let first = std::fs::read(&backup).unwrap();
    drop(auth);
    f.server.revoke_all();
    let auth = authenticate(&options).unwrap();
    assert_eq!(hook.calls(), 2);
    assert!(auth.check().unwrap());
    let again: Vec<_> = std::fs::read_dir(f.token_path().parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".backup"))
        .collect();
    assert_eq!(again, ["auth.toml.backup"]);
    assert_ne!(
        std::fs::read(&backup).unwrap(),
        first,
        "the backup was replaced"
    );
}

/// The server was asked about the stored token without the lock (a round
/// trip); meanwhile Pkg or another job saved a new auth.toml. Discarding the
/// rejected token must not move the new one aside: the file was backed up
/// whatever it held then, so a good token was lost.
#[test]
fn discarding_a_rejected_token_keeps_one_saved_meanwhile() {
    use hubauth::provider::Provider;
    use hubauth::provider::juliahub::JuliaHub;
    let f = Fixture::new();
    f.store_token(3600);
    let options = f.options();
    let hub = JuliaHub::new(&options).unwrap();
    let rejected = hub.load(&options, &[]).unwrap().unwrap();
    let newer = f.store_token(3600);
    hub.discard(&rejected, &options).unwrap();
    let backup = f.token_path().with_file_name("auth.toml.backup");
    assert_eq!(f.stored_id_token(), newer.id_token);
    assert!(!backup.exists(), "the newer token was moved aside");

    // The rejected token itself is still moved aside.
    let current = hub.load(&options, &[]).unwrap().unwrap();
    hub.discard(&current, &options).unwrap();
    assert!(!f.token_path().exists());
    assert!(
        std::fs::read_to_string(&backup)
            .unwrap()
            .contains(&newer.id_token)
    );
}

#[test]
fn force_replaces_a_good_token_with_a_new_login() {
    let f = Fixture::new();
    let old = f.store_token(3600);
    let hook = BrowserHook::default();
    let mut options = f.options();
    options.set("force", "true").unwrap();
    hook.install(&mut options);
    let auth = authenticate(&options).unwrap();
    assert_eq!(hook.calls(), 1);
    assert_ne!(auth.token().unwrap().expose(), old.id_token);
    // `force` was for that call: the options kept neither hold nor list it.
    assert!(!auth.options().force && !auth.options().is_set("force"));
}

#[test]
fn a_given_token_touches_no_file() {
    let f = Fixture::new();
    let issued = f.server.issue_token(3600);
    let mut options = f.options();
    options.set("token", &issued.id_token).unwrap();
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.token().unwrap().expose(), issued.id_token);
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert!(!f.token_path().exists());
    assert!(!f.token_path().parent().unwrap().exists());
    f.server.revoke_all();
    assert_eq!(
        authenticate(&options).unwrap_err().kind(),
        ErrorKind::Authentication
    );
}

#[test]
fn token_refreshes_once_for_many_threads_when_near_expiry() {
    let f = Fixture::new();
    // A 4-second token: the margin is capped at half its lifetime (2 s).
    f.server.configure(|c| c.token_ttl_s = 4);
    let stored = f.store_token(4);
    let mut options = f.options();
    options.set("validate", "false").unwrap();
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.token().unwrap().expose(), stored.id_token);
    assert_eq!(f.server.stats().refreshes, 0, "not refreshed on every call");
    std::thread::sleep(Duration::from_millis(2300));
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| auth.token().unwrap().expose().to_string()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(f.server.stats().refreshes, 1);
    assert!(
        tokens
            .iter()
            .all(|t| *t == tokens[0] && *t != stored.id_token)
    );
    assert_eq!(f.server.stats().refresh_reuse_detected, 0);
}

#[test]
fn current_is_the_last_authentication() {
    let f = Fixture::new();
    f.store_token(3600);
    let auth = authenticate(&f.options()).unwrap();
    let current = hubauth::current().unwrap();
    assert_eq!(current.token().unwrap(), auth.token().unwrap());
}

#[test]
fn save_token_and_logout_round_trip() {
    let f = Fixture::new();
    let issued = f.server.issue_token(3600);
    let mut options = f.options();
    hubauth::save_token(&options, &issued.to_toml()).unwrap();
    options.set("overwrite", "false").unwrap();
    let err = hubauth::save_token(&options, &issued.to_toml()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        hubauth::save_token(&options, "not toml")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    let auth = authenticate(&f.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), issued.id_token);
    hubauth::logout(&f.options()).unwrap();
    assert!(!f.token_path().exists());
}

#[test]
fn forced_reauthenticate_keeps_the_original_hook_and_server() {
    let f = Fixture::new();
    f.store_token(3600);
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    let auth = authenticate(&options).unwrap();
    assert_eq!(hook.calls(), 0, "the stored token was enough");
    let before = auth.token().unwrap();
    let mut force_only = hubauth::Options::new();
    force_only.set("force", "true").unwrap();
    auth.reauthenticate(Some(&force_only)).unwrap();
    assert_eq!(hook.calls(), 1, "the login went through the original hook");
    assert_ne!(auth.token().unwrap(), before);
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
}
