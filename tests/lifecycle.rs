//! The lifecycle rules every hub shares (src/lifecycle), end to end against
//! servers that answer the way real ones do when things go wrong: the JuliaHub
//! protocol server and the real oidc-provider, each made to rotate a refresh
//! token and then lose the reply (a gateway answers 502).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hubauth::{ErrorKind, authenticate};
use hubauth_testkit::fixture::{BrowserHook, Fixture};
use hubauth_testkit::oidc_server::{OidcServer, PUBLIC_CLIENT};
use serde_json::json;

#[test]
fn force_applies_to_the_call_that_set_it_only() {
    let f = Fixture::new();
    let hook = BrowserHook::default();
    let mut forced = f.options();
    forced.set("force", "true").unwrap();
    hook.install(&mut forced);
    let auth = authenticate(&forced).unwrap();
    assert_eq!(f.server.stats().device_tokens_issued, 1);
    // A bare reauthenticate reloads; it does not log in again.
    auth.reauthenticate(None).unwrap();
    assert_eq!(f.server.stats().device_tokens_issued, 1);
    assert_eq!(hook.calls(), 1);
    // And the options the authentication keeps no longer say force.
    assert!(!auth.options().force);
}

/// A given token has nothing stored behind it: a plain reauthenticate keeps
/// it, a forced one says why it cannot log in instead of using it again (the
/// engine's rule, the same for every hub and every binding).
#[test]
fn a_given_token_is_kept_by_reauthenticate_and_refused_by_force() {
    let f = Fixture::new();
    let hook = BrowserHook::default();
    let mut given = f.options();
    given.set("token", "a-token-from-elsewhere").unwrap();
    given.set("validate", "false").unwrap();
    hook.install(&mut given);
    let auth = authenticate(&given).unwrap();
    auth.reauthenticate(None).unwrap();
    assert_eq!(auth.token().unwrap().expose(), "a-token-from-elsewhere");
    let mut force = hubauth::Options::default();
    force.set("force", "true").unwrap();
    let e = auth.reauthenticate(Some(&force)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("the given token"), "{}", e.message());
    assert!(!e.message().contains("a-token-from-elsewhere"));
    // Nothing logged in, and the token is still the given one.
    assert_eq!(hook.calls(), 0);
    assert_eq!(f.server.stats().device_tokens_issued, 0);
    assert_eq!(auth.token().unwrap().expose(), "a-token-from-elsewhere");
}

#[test]
fn a_juliahub_refresh_whose_reply_was_lost_is_never_presented_again() {
    let f = Fixture::new();
    f.store_token(-30);
    f.server.configure(|c| c.lost_refreshes = 1);
    let err = authenticate(&f.options()).unwrap_err();
    // The server rotated the refresh token; the client saw a 502.
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(err.message().contains("new login is needed"), "{err}");
    assert!(err.message().contains("HTTP 502"), "{err}");
    // Asking again in this process does not present the spent token.
    let again = authenticate(&f.options()).unwrap_err();
    assert!(again.message().contains("already presented"), "{again}");
    let stats = f.server.stats();
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.refresh_replies_lost, 1);
    assert_eq!(stats.refresh_reuse_detected, 0, "never presented twice");
    assert_eq!(stats.refresh_rejections, 0);

    // With someone to approve it, the next call logs in instead.
    let hook = BrowserHook::default();
    let mut options = f.options();
    hook.install(&mut options);
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.token().unwrap().expose(), f.stored_id_token());
    let stats = f.server.stats();
    assert_eq!(stats.device_tokens_issued, 1);
    assert_eq!(stats.refresh_reuse_detected, 0);
}

#[test]
fn a_juliahub_refresh_answered_by_a_definite_refusal_is_not_retried_in_the_call() {
    // Only logins are tried maxcount times: a refused refresh is sent once,
    // then a login follows.
    let f = Fixture::new();
    f.store_token(-30);
    f.server.configure(|c| c.refresh_fails = true);
    let mut options = f.options();
    options.set("maxcount", "3").unwrap();
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    assert_eq!(f.server.stats().refresh_rejections, 1);
}

fn expires_at(path: &Path) -> i64 {
    let table: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    table["expires_at"].as_integer().unwrap()
}

fn wait_until_expired(path: &Path) {
    let until = expires_at(path);
    while hubauth::token::unix_now() <= until {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_oidc_refresh_whose_reply_was_lost_is_never_presented_again() {
    let server = OidcServer::with_ttl(2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.toml");
    let calls = Arc::new(AtomicUsize::new(0));
    let mut options = server.options(PUBLIC_CLIENT, &path);
    options.set_hook(Some(server.hook(false, calls.clone())));
    let auth = authenticate(&options).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    wait_until_expired(&path);

    // The refresh reaches oidc-provider, which rotates the refresh token;
    // a gateway answers 502 instead of the reply.
    server.inject(json!({
        "endpoint": "token", "grant_type": "refresh_token", "status": 502, "after": true,
    }));
    let err = auth.token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert_eq!(server.stat(&["lost_replies"]), 1);
    assert_eq!(server.stat(&["refresh_success"]), 1);
    // Every later call in this process refuses to present it again...
    let err = auth.token().unwrap_err();
    assert!(err.message().contains("already presented"), "{err}");
    // ...and authenticate logs in again instead.
    let again = authenticate(&options).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(again.check().unwrap());
    assert_eq!(server.stat(&["refresh_success"]), 1);
    assert_eq!(server.stat(&["refresh_reuse"]), 0, "never presented twice");
    assert_eq!(server.stat(&["grants_revoked"]), 0);
}
