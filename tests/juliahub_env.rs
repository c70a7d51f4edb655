//! The environment variables of Pkg and PkgAuthentication. One test in its own
//! binary, because it sets process environment variables.

use std::sync::Arc;

use hubauth::{ErrorKind, HookAction, Options, authenticate};
use hubauth_testkit::JuliaHubServer;
use hubauth_testkit::fixture::BrowserHook;

#[test]
fn pkg_environment_is_honoured() {
    let server = JuliaHubServer::start();
    let depot = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    // SAFETY: the only test in this binary; no other thread reads the environment yet.
    unsafe {
        std::env::set_var("JULIA_PKG_SERVER", format!("{}/", server.url()));
        std::env::set_var(
            "JULIA_DEPOT_PATH",
            format!("{}:{}", depot.path().display(), second.path().display()),
        );
        std::env::set_var("JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE", "false");
        std::env::set_var(
            "JULIA_PKG_AUTHENTICATION_DEVICE_CLIENT_ID",
            "my-device-client",
        );
    }
    let mut options = Options::new();
    options.set("poll_interval_ms", "100").unwrap();

    // Interactive login is forbidden by the environment...
    let err = authenticate(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");

    // ...but an explicit hook is the caller's choice and may still run.
    let hook = BrowserHook::default();
    hook.install(&mut options);
    let auth = authenticate(&options).unwrap();
    assert_eq!(auth.server(), server.url(), "trailing / stripped");
    let expected = depot
        .path()
        .join("servers")
        .join(server.server_dir_name())
        .join("auth.toml");
    assert!(expected.exists(), "token saved in the first depot");
    assert_eq!(
        server.stats().last_device_client_id.as_deref(),
        Some("my-device-client")
    );

    // An explicit option wins over the environment.
    let mut explicit = Options::new();
    explicit.set("interactive", "true").unwrap();
    explicit.set("force", "true").unwrap();
    explicit.set("poll_interval_ms", "100").unwrap();
    explicit.set_hook(Some(Arc::new(|_: &str| HookAction::Cancel)));
    assert_eq!(
        authenticate(&explicit).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    assert!(expected.exists(), "a cancelled forced login loses nothing");

    // No server anywhere: a clear error.
    // SAFETY: the only test in this binary, between hubauth calls: the test
    // server's threads and hubauth's idle network thread do not read the
    // environment.
    unsafe { std::env::remove_var("JULIA_PKG_SERVER") };
    let err = authenticate(&Options::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("JULIA_PKG_SERVER"), "{err}");
}
