//! Provider `cave` end to end, against the CAVE test server: CAVEclient's
//! secret files (load order, per-server files, the deprecated fallback),
//! save_token's merge and overwrite rules, token checks with Bearer + cookie,
//! and the interactive "make a token in the browser" path through a hook.
//!
//! Files live in per-test temporary directories: a fake `HOME` handed to
//! `Cave::with_env`, or, for the tests that go through the public API (and so
//! the process's `HOME`), a `token_path` that already holds the token, so
//! that nothing else is read or written; the real `~/.cloudvolume` is never
//! touched.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hubauth::lifecycle::{Engine, Lifecycle};
use hubauth::provider::cave::Cave;
use hubauth::{ErrorKind, HookAction, Options};
use hubauth_testkit::{CaveServer, http};
use serde_json::Value;

const FIXTURE_DEFAULT: &str = include_str!("fixtures/cave/cave-secret.json");
const FIXTURE_SERVER: &str = include_str!("fixtures/cave/global.daf-apis.com-cave-secret.json");

struct Fx {
    server: CaveServer,
    /// The user's home: `~/.cloudvolume/secrets` is in it.
    home: tempfile::TempDir,
}

impl Fx {
    fn new() -> Fx {
        Fx {
            server: CaveServer::start(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn secrets(&self) -> PathBuf {
        self.home.path().join(".cloudvolume").join("secrets")
    }

    fn default_file(&self) -> PathBuf {
        self.secrets().join("cave-secret.json")
    }

    fn server_file(&self) -> PathBuf {
        self.secrets().join(self.server.server_file_name())
    }

    fn deprecated_file(&self) -> PathBuf {
        self.secrets().join("chunkedgraph-secret.json")
    }

    /// A file of the user's choosing, outside the secrets directory.
    fn token_file(&self) -> PathBuf {
        self.home.path().join("elsewhere").join("mine.json")
    }

    fn options(&self) -> Options {
        let mut o = Options::new();
        o.set("provider", "cave").unwrap();
        o.set("server", &self.server.url()).unwrap();
        o.set("interactive", "false").unwrap();
        o.set("timeout_ms", "20000").unwrap();
        o
    }

    /// [`options`](Self::options) with `token_path` = [`token_file`](Self::token_file).
    fn with_token_path(&self) -> Options {
        let mut o = self.options();
        o.set("token_path", self.token_file().to_str().unwrap())
            .unwrap();
        o
    }

    /// The hub as `hubauth` drives it, with `HOME` = the fake home.
    fn cave(&self, o: &Options) -> Engine<Cave> {
        let home = self.home.path().to_string_lossy().into_owned();
        let env = move |name: &str| (name == "HOME").then(|| home.clone());
        Engine::new(Cave::with_env(&env, o).unwrap())
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A fake home with the spec's two literal files in `~/.cloudvolume/secrets`.
fn home_with_fixtures() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let secrets = home.path().join(".cloudvolume").join("secrets");
    write(&secrets.join("cave-secret.json"), FIXTURE_DEFAULT);
    write(
        &secrets.join("global.daf-apis.com-cave-secret.json"),
        FIXTURE_SERVER,
    );
    (home, secrets)
}

fn no_validate() -> Options {
    let mut o = Options::new();
    o.set("provider", "cave").unwrap();
    o.set("validate", "false").unwrap();
    o.set("interactive", "false").unwrap();
    o
}

#[test]
fn the_spec_files_and_caveclients_load_order() {
    let (home, secrets) = home_with_fixtures();
    let home_str = home.path().to_string_lossy().into_owned();
    let env = |name: &str| (name == "HOME").then(|| home_str.clone());
    let o = no_validate();

    // The server file exists: it is used.
    let cave = Engine::new(Cave::with_env(&env, &o).unwrap());
    assert_eq!(cave.server(), "https://global.daf-apis.com");
    assert_eq!(
        cave.load_file(),
        secrets.join("global.daf-apis.com-cave-secret.json")
    );
    let token = cave.authenticate(&o).unwrap();
    assert_eq!(
        token.credential.secret().expose(),
        "aaaa456789abcdef0123456789abcdef"
    );
    let mut keyed = o.clone();
    keyed.set("token_key", "fanc_production_mar2021").unwrap();
    let cave_keyed = Engine::new(Cave::with_env(&env, &keyed).unwrap());
    assert_eq!(
        cave_keyed
            .authenticate(&keyed)
            .unwrap()
            .credential
            .secret()
            .expose(),
        "tok-for-fanc"
    );

    // A server file without the key does not fall back to cave-secret.json…
    write(
        &secrets.join("global.daf-apis.com-cave-secret.json"),
        r#"{"other": "x"}"#,
    );
    let err = cave.authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials);
    assert!(
        err.message()
            .contains("hubauth save-token --provider cave --server https://global.daf-apis.com"),
        "{err}"
    );
    // …but to the deprecated chunkedgraph-secret.json.
    write(
        &secrets.join("chunkedgraph-secret.json"),
        r#"{"token": "cccc456789abcdef0123456789abcdef"}"#,
    );
    assert_eq!(
        cave.authenticate(&o).unwrap().credential.secret().expose(),
        "cccc456789abcdef0123456789abcdef"
    );

    // No server file: cave-secret.json.
    fs::remove_file(secrets.join("global.daf-apis.com-cave-secret.json")).unwrap();
    assert_eq!(cave.load_file(), secrets.join("cave-secret.json"));
    assert_eq!(
        cave.authenticate(&o).unwrap().credential.secret().expose(),
        "ffff456789abcdef0123456789abcdef"
    );

    // Another server (port kept in the file name).
    let mut local = o.clone();
    local
        .set("server", "http://localhost:8080/some/path")
        .unwrap();
    let cave = Engine::new(Cave::with_env(&env, &local).unwrap());
    assert_eq!(
        cave.server_file(),
        Some(secrets.join("localhost:8080-cave-secret.json").as_path())
    );

    // A given token wins; no file is read (even a broken one).
    write(&secrets.join("cave-secret.json"), "not json");
    let mut given = o.clone();
    given
        .set("token", "dddd456789abcdef0123456789abcdef")
        .unwrap();
    let cave = Engine::new(Cave::with_env(&env, &given).unwrap());
    assert_eq!(
        cave.authenticate(&given)
            .unwrap()
            .credential
            .secret()
            .expose(),
        "dddd456789abcdef0123456789abcdef"
    );
    assert_eq!(
        Engine::new(Cave::with_env(&env, &o).unwrap())
            .authenticate(&o)
            .unwrap_err()
            .kind(),
        ErrorKind::Format
    );
}

/// auth.py:96-102, 294-315: CAVEclient writes the server file, and
/// `cave-secret.json` only when that server had no file of its own before
/// (that file is every other server's fallback and what CloudVolume reads).
#[test]
fn save_token_writes_the_default_file_only_for_a_server_without_its_own() {
    let (home, secrets) = home_with_fixtures();
    let home_str = home.path().to_string_lossy().into_owned();
    let env = |name: &str| (name == "HOME").then(|| home_str.clone());
    let o = no_validate();
    let mut validating = o.clone();
    validating.set("validate", "true").unwrap();
    let cave = Engine::new(Cave::with_env(&env, &validating).unwrap());
    cave.save_token("0123456789ABCDEF0123456789ABCDEF", &validating)
        .unwrap();
    let lower = "0123456789abcdef0123456789abcdef";
    let expected = format!(r#"{{"token": "{lower}", "fanc_production_mar2021": "tok-for-fanc"}}"#);
    let server_file = secrets.join("global.daf-apis.com-cave-secret.json");
    assert_eq!(read(&server_file), expected);
    assert_eq!(
        read(&secrets.join("cave-secret.json")),
        FIXTURE_DEFAULT.trim_end(),
        "the server had its own file: cave-secret.json is left alone"
    );
    assert_eq!(
        cave.authenticate(&o).unwrap().credential.secret().expose(),
        lower
    );

    // A server without a file: its own file; cave-secret.json already has
    // a token under the key (the default server's), which it keeps.
    let mut other = o.clone();
    other.set("server", "https://minnie.example").unwrap();
    let minnie = Engine::new(Cave::with_env(&env, &other).unwrap());
    let first = "1111456789abcdef0123456789abcdef";
    minnie.save_token(first, &other).unwrap();
    let default_text = FIXTURE_DEFAULT.trim_end().to_string();
    assert_eq!(read(&secrets.join("cave-secret.json")), default_text);
    assert_eq!(
        read(&secrets.join("minnie.example-cave-secret.json")),
        format!(r#"{{"token": "{first}"}}"#)
    );
    // A second save: only the server file changes now.
    let second = "2222456789abcdef0123456789abcdef";
    minnie.save_token(second, &other).unwrap();
    assert_eq!(read(&secrets.join("cave-secret.json")), default_text);
    assert_eq!(
        read(&secrets.join("minnie.example-cave-secret.json")),
        format!(r#"{{"token": "{second}"}}"#)
    );
    // A key cave-secret.json does not have yet is merged into it.
    let mut third = other.clone();
    third.set("server", "https://third.example").unwrap();
    third.set("token_key", "third_dataset").unwrap();
    Engine::new(Cave::with_env(&env, &third).unwrap())
        .save_token(first, &third)
        .unwrap();
    assert_eq!(
        read(&secrets.join("cave-secret.json")),
        format!(
            r#"{{"token": "ffff456789abcdef0123456789abcdef", "fanc_production_mar2021": "tok-for-fanc", "third_dataset": "{first}"}}"#
        )
    );
}

#[test]
fn overwrite_false_writes_nothing_when_either_file_has_the_key() {
    let fx = Fx::new();
    let mut o = fx.options();
    o.set("overwrite", "false").unwrap();
    let cave = fx.cave(&o);
    let token = "abcdef0123456789abcdef0123456789";

    // The key only in the shared default file, which holds the default
    // server's token: it is not this server's to replace, so the token goes
    // to the server file alone (CAVEclient writes that file, then refuses
    // the shared one, auth.py:301-315).
    let shared = r#"{"token": "1111456789abcdef0123456789abcdef"}"#;
    write(&fx.default_file(), shared);
    cave.save_token(token, &o).unwrap();
    assert_eq!(read(&fx.default_file()), shared);
    assert_eq!(
        read(&fx.server_file()),
        format!(r#"{{"token": "{token}"}}"#)
    );
    // Now the server file has the key: nothing is written.
    let err = cave
        .save_token("abcdef0123456789abcdef0123456780", &o)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("nothing was written"), "{err}");
    assert!(!err.message().contains(token));
    assert!(read(&fx.server_file()).contains(token));

    // The key only in the server file: the default file is unchanged.
    fs::remove_file(fx.default_file()).unwrap();
    write(
        &fx.server_file(),
        r#"{"token": "2222456789abcdef0123456789abcdef"}"#,
    );
    assert_eq!(
        cave.save_token(token, &o).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(!fx.default_file().exists());

    // Another key is fine, and merges.
    o.set("token_key", "my_dataset").unwrap();
    fx.cave(&o).save_token(token, &o).unwrap();
    assert_eq!(
        read(&fx.server_file()),
        format!(r#"{{"token": "2222456789abcdef0123456789abcdef", "my_dataset": "{token}"}}"#)
    );
    // The server has a file of its own: the default file is not written.
    assert!(!fx.default_file().exists());
}

#[test]
fn tokens_must_be_32_hex_unless_validate_is_false() {
    let fx = Fx::new();
    let o = fx.options();
    for bad in ["short", "abcdef0123456789abcdef012345678g", ""] {
        let err = fx.cave(&o).save_token(bad, &o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
    assert!(!fx.default_file().exists() && !fx.server_file().exists());
    let mut lax = o.clone();
    lax.set("validate", "false").unwrap();
    fx.cave(&lax).save_token("Not-A-Cave-Token", &lax).unwrap();
    assert_eq!(read(&fx.default_file()), r#"{"token": "Not-A-Cave-Token"}"#);
    assert_eq!(read(&fx.server_file()), r#"{"token": "Not-A-Cave-Token"}"#);
}

#[test]
fn check_uses_bearer_and_cookie_and_finds_the_user() {
    let fx = Fx::new();
    let token = fx.server.issue_token();
    hubauth::save_token(&fx.with_token_path(), &token).unwrap();
    let auth = hubauth::authenticate(&fx.with_token_path()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), token);
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert_eq!(auth.expires_at(), None);
    assert!(auth.check().unwrap());
    let stats = fx.server.stats();
    assert!(
        stats.bearer_seen >= 2 && stats.cookie_seen == stats.bearer_seen,
        "{stats:?}"
    );
    assert_eq!(stats.bearer_cookie_mismatches, 0);
    // middle_auth: /user/cache answers any valid token with the user's
    // record; /user/token would list every key in plaintext, and /user?id=
    // needs an admin.
    assert!(stats.cache_checks >= 2, "{stats:?}");
    assert_eq!(
        (stats.token_checks, stats.user_info_calls),
        (0, 0),
        "{stats:?}"
    );

    // The cookie alone is enough for the server, and hubauth sends it.
    fx.server.configure(|c| c.accept_bearer = false);
    assert!(auth.check().unwrap());
    fx.server.configure(|c| {
        c.accept_bearer = true;
        c.accept_cookie = false;
    });
    assert!(auth.check().unwrap());

    fx.server.revoke(&token);
    assert!(!auth.check().unwrap());
    fx.server.configure(|c| c.api_status = Some(502));
    assert_eq!(auth.check().unwrap_err().kind(), ErrorKind::Server);
}

#[test]
fn a_rejected_saved_token_says_how_to_replace_it() {
    let fx = Fx::new();
    let token = fx.server.issue_token();
    hubauth::save_token(&fx.with_token_path(), &token).unwrap();
    fx.server.revoke(&token);
    let err = hubauth::authenticate(&fx.with_token_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(
        err.message().contains("/sticky_auth/settings/tokens"),
        "{err}"
    );
    assert!(err.message().contains("older tokens keep working"), "{err}");
    assert!(!err.message().contains("revokes"), "{err}");
    assert!(!err.message().contains(&token));
    assert_eq!(fx.server.stats().create_token_visits, 0, "not interactive");
}

#[test]
fn interactive_opens_create_token_and_fails_with_how_to_save() {
    let fx = Fx::new();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let made = Arc::new(Mutex::new(None::<String>));
    let mut o = fx.options();
    o.set("interactive", "true").unwrap();
    {
        let (seen, made) = (seen.clone(), made.clone());
        o.set_hook(Some(Arc::new(move |url: &str| {
            seen.lock().unwrap().push(url.to_string());
            // The "browser": the page shows the new token.
            let r = http::get(url).unwrap();
            assert_eq!(r.status, 200);
            let token: Value = r.json().unwrap();
            *made.lock().unwrap() = token.as_str().map(str::to_string);
            HookAction::Continue
        })));
    }
    let cave = fx.cave(&o);
    let err = cave.authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    let expected_url = format!("{}/sticky_auth/settings/tokens", fx.server.url());
    assert_eq!(*seen.lock().unwrap(), vec![expected_url.clone()]);
    assert!(err.message().contains(&expected_url), "{err}");
    assert!(
        err.message().contains(&format!(
            "hubauth save-token --provider cave --server {}",
            fx.server.url()
        )),
        "{err}"
    );
    assert!(err.message().contains("hubauth_save_token"), "{err}");
    assert_eq!(fx.server.stats().create_token_visits, 1);

    // The user saves the token the page showed; now it works.
    let token = made.lock().unwrap().clone().unwrap();
    cave.save_token(&token, &o).unwrap();
    assert_eq!(
        cave.authenticate(&o).unwrap().credential.secret().expose(),
        token
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "no page when a token works");

    // A hook that cancels stops it with Cancelled.
    let mut cancel = fx.options();
    cancel.set("force", "true").unwrap();
    cancel.set_hook(Some(Arc::new(|_: &str| HookAction::Cancel)));
    assert_eq!(
        cave.authenticate(&cancel).unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

/// With `token_path`, logout removes the key from that file, the one the
/// token is read from, and keeps its other keys; the secrets directory's
/// files belong to whoever uses them without `token_path`.
#[test]
fn logout_removes_the_key_from_token_path_and_keeps_the_others() {
    let fx = Fx::new();
    write(&fx.token_file(), FIXTURE_DEFAULT);
    write(&fx.default_file(), FIXTURE_DEFAULT);
    write(&fx.server_file(), FIXTURE_SERVER);
    let o = fx.with_token_path();
    fx.cave(&o).logout(&o).unwrap();
    assert_eq!(
        read(&fx.token_file()),
        r#"{"fanc_production_mar2021": "tok-for-fanc"}"#
    );
    assert_eq!(read(&fx.default_file()), FIXTURE_DEFAULT);
    assert_eq!(read(&fx.server_file()), FIXTURE_SERVER);
    assert!(!fx.deprecated_file().exists());
}

#[test]
fn save_token_through_the_c_abi() {
    use hubauth::ffi::*;
    use std::ffi::{CStr, CString};
    let fx = Fx::new();
    let set = |o: *mut hubauth_options, k: &str, v: &str| {
        let (k, v) = (CString::new(k).unwrap(), CString::new(v).unwrap());
        assert_eq!(
            hubauth_options_set(o, k.as_ptr(), v.as_ptr(), std::ptr::null_mut()),
            HUBAUTH_OK
        );
    };
    let o = hubauth_options_new();
    set(o, "provider", "cave");
    set(o, "server", &fx.server.url());
    set(o, "token_path", fx.token_file().to_str().unwrap());
    set(o, "interactive", "false");
    let token = fx.server.issue_token();
    let c_token = CString::new(token.clone()).unwrap();
    assert_eq!(
        hubauth_save_token(o, c_token.as_ptr(), std::ptr::null_mut()),
        HUBAUTH_OK
    );
    set(o, "overwrite", "false");
    let mut err = std::ptr::null_mut();
    assert_eq!(
        hubauth_save_token(o, c_token.as_ptr(), &mut err),
        HUBAUTH_ERR_INVALID_ARGUMENT
    );
    // SAFETY: the error's NUL-terminated message, valid until the error is freed.
    let message = unsafe { CStr::from_ptr(hubauth_error_message(err)) }
        .to_str()
        .unwrap()
        .to_string();
    assert!(message.contains("overwrite=false"), "{message}");
    assert!(!message.contains(&token));
    hubauth_error_free(err);

    let mut auth = std::ptr::null_mut();
    assert_eq!(
        hubauth_authenticate(o, &mut auth, std::ptr::null_mut()),
        HUBAUTH_OK
    );
    let mut valid = false;
    assert_eq!(
        hubauth_check(auth, &mut valid, std::ptr::null_mut()),
        HUBAUTH_OK
    );
    assert!(valid);
    hubauth_auth_free(auth);
    hubauth_options_free(o);
}

/// CAVEclient has no logout; `cave-secret.json` is the fallback of every
/// server without a file of its own and what CloudVolume reads, so logging
/// out of one server removes the key from that server's file only.
#[test]
fn logout_of_one_server_keeps_the_shared_default_file() {
    let (home, secrets) = home_with_fixtures();
    let home_str = home.path().to_string_lossy().into_owned();
    let env = |name: &str| (name == "HOME").then(|| home_str.clone());
    let o = no_validate();
    let cave = Engine::new(Cave::with_env(&env, &o).unwrap());
    cave.logout(&o).unwrap();
    assert_eq!(
        read(&secrets.join("global.daf-apis.com-cave-secret.json")),
        r#"{"fanc_production_mar2021": "tok-for-fanc"}"#
    );
    assert_eq!(
        read(&secrets.join("cave-secret.json")),
        FIXTURE_DEFAULT.trim_end()
    );
    // The server file exists without the key: no fallback, so logged out.
    assert_eq!(
        cave.authenticate(&o).unwrap_err().kind(),
        ErrorKind::NoCredentials
    );
    // Another server, without a file: the shared file stays too.
    let mut other = o.clone();
    other.set("server", "https://minnie.example").unwrap();
    Engine::new(Cave::with_env(&env, &other).unwrap())
        .logout(&other)
        .unwrap();
    assert_eq!(
        read(&secrets.join("cave-secret.json")),
        FIXTURE_DEFAULT.trim_end()
    );
}

/// Option `profile` names a datastack: `save_token` with a server records
/// it in `cave_datastack_to_server_map.json` (datastack_lookup.py) and, when
/// the info service names the datastack's local server, writes
/// `<local_server>-cave-secret.json` (auth.py:386-407), which CloudVolume
/// reads. Without a server the datastack's is read from the map.
#[test]
fn a_datastack_finds_its_server_in_the_map_and_saves_for_its_local_server() {
    let fx = Fx::new();
    fx.server
        .configure(|c| c.local_server = Some("https://minnie.local.example:4443".into()));
    let token = fx.server.issue_token();
    let mut o = fx.options();
    o.set("profile", "minnie65_public").unwrap();
    fx.cave(&o).save_token(&token, &o).unwrap();
    let map: Value = serde_json::from_str(&read(
        &fx.secrets().join("cave_datastack_to_server_map.json"),
    ))
    .unwrap();
    assert_eq!(map["minnie65_public"], fx.server.url().as_str());
    let local = fx
        .secrets()
        .join("minnie.local.example:4443-cave-secret.json");
    assert_eq!(read(&local), format!(r#"{{"token": "{token}"}}"#));
    assert_eq!(
        read(&fx.server_file()),
        format!(r#"{{"token": "{token}"}}"#)
    );
    assert_eq!(fx.server.stats().info_calls, 1);

    // The datastack alone: its server from the map.
    let mut by_name = Options::new();
    by_name.set("provider", "cave").unwrap();
    by_name.set("profile", "minnie65_public").unwrap();
    by_name.set("interactive", "false").unwrap();
    let cave = fx.cave(&by_name);
    assert_eq!(cave.server(), fx.server.url());
    assert_eq!(
        cave.authenticate(&by_name)
            .unwrap()
            .credential
            .secret()
            .expose(),
        token
    );
    // A datastack missing from the map is served by CAVEclient's default
    // server (datastack_lookup.py:57-71, frameworkclient.py:299-300).
    by_name.set("profile", "unknown_stack").unwrap();
    assert_eq!(fx.cave(&by_name).server(), "https://global.daf-apis.com");
    fs::remove_file(fx.secrets().join("cave_datastack_to_server_map.json")).unwrap();
    by_name.set("profile", "minnie65_public").unwrap();
    assert_eq!(fx.cave(&by_name).server(), "https://global.daf-apis.com");
}

/// The security of every other server: the first save for a server with no
/// file of its own never replaces the token the shared `cave-secret.json`
/// holds for the default server (and CloudVolume), which CAVEclient's
/// `save_token` (overwrite=False by default, auth.py:249-258) refuses too.
#[test]
fn a_save_for_another_server_keeps_the_shared_token() {
    let fx = Fx::new();
    let global = "aaaa456789abcdef0123456789abcdef";
    let shared = format!(r#"{{"token": "{global}"}}"#);
    write(&fx.default_file(), &shared);
    let token = fx.server.issue_token();
    let o = fx.options();
    fx.cave(&o).save_token(&token, &o).unwrap();
    assert_eq!(read(&fx.default_file()), shared);
    assert_eq!(
        read(&fx.server_file()),
        format!(r#"{{"token": "{token}"}}"#)
    );
    assert_eq!(
        fx.cave(&o)
            .authenticate(&o)
            .unwrap()
            .credential
            .secret()
            .expose(),
        token
    );
    // The default server (no file of its own) still reads its token.
    let home = fx.home.path().to_string_lossy().into_owned();
    let env = move |name: &str| (name == "HOME").then(|| home.clone());
    let mut g = Options::new();
    g.set("provider", "cave").unwrap();
    let global_cave = Cave::with_env(&env, &g).unwrap();
    assert_eq!(global_cave.load_file(), fx.default_file());
}

/// The info service's `local_server` only names a file, so a broken or
/// hostile answer (not a string, a path, another scheme, plain http to any
/// host) writes no file outside the secrets directory, never a dot file, and
/// never opens an http origin to requests; the token is saved all the same.
#[test]
fn a_hostile_local_server_names_no_other_file_and_opens_no_origin() {
    let cases: [(Value, Option<&str>); 6] = [
        (Value::from(12), None),
        (Value::from("../x"), None),
        (Value::from("file:///etc/passwd"), None),
        (Value::from(""), None),
        (Value::from("https://.hidden.example"), None),
        (
            Value::from("http://evil.example:8081/path"),
            Some("evil.example:8081-cave-secret.json"),
        ),
    ];
    for (local, expected) in cases {
        let fx = Fx::new();
        let answer = local.clone();
        fx.server.configure(move |c| c.local_server = Some(answer));
        let token = fx.server.issue_token();
        let mut o = fx.options();
        o.set("profile", "minnie65_public").unwrap();
        fx.cave(&o).save_token(&token, &o).unwrap();
        assert_eq!(
            read(&fx.server_file()),
            format!(r#"{{"token": "{token}"}}"#),
            "{local}"
        );
        let mut names: Vec<String> = fs::read_dir(fx.secrets())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        names.sort();
        let mut wanted = vec![
            "cave-secret.json".to_string(),
            "cave_datastack_to_server_map.json".to_string(),
            fx.server.server_file_name(),
        ];
        wanted.extend(expected.map(str::to_string));
        wanted.sort();
        assert_eq!(names, wanted, "{local}");
        let home_entries: Vec<_> = fs::read_dir(fx.home.path()).unwrap().flatten().collect();
        assert_eq!(home_entries.len(), 1, "only .cloudvolume in HOME: {local}");
    }
    let evil = url::Url::parse("http://evil.example:8081/auth/api/v1/user/cache").unwrap();
    assert_eq!(hubauth::server::configured_http_origin(&evil), None);
}

/// `token_path` is CAVEclient's `token_file` (auth.py:96-118): the one file
/// the token is read from and saved to. The deprecated file, the datastack
/// map and the local server's file stay in `~/.cloudvolume/secrets`, where
/// CAVEclient and CloudVolume look for them whatever `token_file` is; nothing
/// is put beside `token_path`, and the per-server file is left alone.
#[test]
fn token_path_names_the_token_file_and_the_others_stay_in_home() {
    let fx = Fx::new();
    fx.server
        .configure(|c| c.local_server = Some("https://minnie.local.example:4443".into()));
    let old = fx.server.issue_token();
    write(&fx.deprecated_file(), &format!(r#"{{"token": "{old}"}}"#));
    let o = fx.with_token_path();
    // Nothing in token_path yet: the deprecated file of the secrets directory.
    assert_eq!(
        fx.cave(&o)
            .authenticate(&o)
            .unwrap()
            .credential
            .secret()
            .expose(),
        old
    );

    let token = fx.server.issue_token();
    let mut o = fx.with_token_path();
    o.set("profile", "minnie65_public").unwrap();
    fx.cave(&o).save_token(&token, &o).unwrap();
    let saved = format!(r#"{{"token": "{token}"}}"#);
    assert_eq!(read(&fx.token_file()), saved);
    let local = fx
        .secrets()
        .join("minnie.local.example:4443-cave-secret.json");
    assert_eq!(read(&local), saved, "what CloudVolume reads");
    let map: Value = serde_json::from_str(&read(
        &fx.secrets().join("cave_datastack_to_server_map.json"),
    ))
    .unwrap();
    assert_eq!(map["minnie65_public"], fx.server.url().as_str());
    assert!(!fx.server_file().exists() && !fx.default_file().exists());
    let beside: Vec<_> = fs::read_dir(fx.token_file().parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert_eq!(beside, ["mine.json"], "nothing else beside token_path");

    // The datastack alone finds its server in the map of the secrets directory.
    let mut by_name = Options::new();
    by_name.set("provider", "cave").unwrap();
    by_name.set("profile", "minnie65_public").unwrap();
    by_name
        .set("token_path", fx.token_file().to_str().unwrap())
        .unwrap();
    by_name.set("interactive", "false").unwrap();
    let cave = fx.cave(&by_name);
    assert_eq!(cave.server(), fx.server.url());
    assert_eq!(
        cave.authenticate(&by_name)
            .unwrap()
            .credential
            .secret()
            .expose(),
        token
    );

    // Logout: out of token_path; the files others read stay.
    cave.logout(&by_name).unwrap();
    assert_eq!(read(&fx.token_file()), "{}");
    assert_eq!(read(&local), saved);
}

/// CAVEclient accepts plain http servers; so does hubauth when the user
/// names one (with a warning), and its requests then go over http.
#[test]
fn a_configured_http_server_is_accepted() {
    let mut o = no_validate();
    o.set("server", "http://cave.internal.example:8080")
        .unwrap();
    let env = |name: &str| (name == "HOME").then(|| "/h".to_string());
    let cave = Cave::with_env(&env, &o).unwrap();
    assert_eq!(
        hubauth::provider::Provider::server(&cave),
        "http://cave.internal.example:8080"
    );
    assert_eq!(
        cave.server_file(),
        Some(Path::new(
            "/h/.cloudvolume/secrets/cave.internal.example:8080-cave-secret.json"
        ))
    );
    let fx = Fx::new();
    assert!(fx.server.url().starts_with("http://"));
    let token = fx.server.issue_token();
    hubauth::save_token(&fx.with_token_path(), &token).unwrap();
    assert!(
        hubauth::authenticate(&fx.with_token_path())
            .unwrap()
            .check()
            .unwrap()
    );
}

/// A dotfiles-managed secret file (a symlink to the user's own file)
/// stays a symlink after a write; the target is updated. Fails until
/// src/store/fsutil.rs writes through the user's own link.
#[test]
fn a_symlinked_secret_file_stays_a_symlink() {
    let fx = Fx::new();
    let dotfiles = fx.home.path().join("dotfiles");
    fs::create_dir_all(&dotfiles).unwrap();
    let target = dotfiles.join("cave-secret.json");
    write(&target, r#"{"other": "x"}"#);
    fs::create_dir_all(fx.token_file().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, fx.token_file()).unwrap();
    let token = fx.server.issue_token();
    hubauth::save_token(&fx.with_token_path(), &token).unwrap();
    assert!(
        fs::symlink_metadata(fx.token_file())
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a regular file"
    );
    assert_eq!(
        read(&target),
        format!(r#"{{"other": "x", "token": "{token}"}}"#)
    );
    assert_eq!(mode(&target), 0o600);
}
