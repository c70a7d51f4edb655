//! Provider `dhcore` end to end: `.dhcore.ini` read and written with the SDK's
//! rules, the method priority, the PAT exchange and the rotating refresh
//! against the real oidc-provider of tests/oidc-server, and the checks
//! against the DHCore `/api/auth` test server (which introspects at the
//! oidc-provider, or takes HTTP Basic).
//!
//! No test reads the real `~/.dhcore.ini` or changes the process environment:
//! tests that need environment variables pass an explicit map to
//! `DhCore::with_env`; the ones that go through `hubauth::authenticate` give
//! `token_path` and first check that no DHCore variable is set.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hubauth::lifecycle::{Engine, Lifecycle};
use hubauth::provider::dhcore::{DhCore, Method};
use hubauth::store::dhcore_ini::{self, Ini};
use hubauth::{Authentication, Credential, ErrorKind, Options, Secret, Token};
use hubauth_testkit::oidc_server::{ALICE_PAT, OidcServer, PUBLIC_CLIENT};
use hubauth_testkit::{DhCoreConfig, DhCoreServer, http};
use serde_json::json;

const FIXTURE: &str = include_str!("fixtures/dhcore/dhcore.ini");

/// Every variable the provider reads from the process environment.
const PROCESS_VARS: [&str; 13] = [
    "DH_NAME",
    "DH_CONFIG",
    "DHCORE_ENDPOINT",
    "DHCORE_ISSUER",
    "DHCORE_CLIENT_ID",
    "OAUTH2_TOKEN_ENDPOINT",
    "DHCORE_PERSONAL_ACCESS_TOKEN",
    "DHCORE_ACCESS_TOKEN",
    "DHCORE_REFRESH_TOKEN",
    "DHCORE_USER",
    "DHCORE_PASSWORD",
    "DHCORE_EXPIRES_IN",
    "DHCORE_ID_TOKEN",
];

/// `hubauth::authenticate`, which reads the process environment: refuse to
/// run when it holds DHCore settings that would change the outcome.
fn authenticate(options: &Options) -> hubauth::Result<Authentication> {
    for name in PROCESS_VARS {
        assert!(
            std::env::var_os(name).is_none(),
            "unset {name} to run the dhcore tests (they must not see your DHCore settings)"
        );
    }
    hubauth::authenticate(options)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn sleep_until(unix: f64) {
    let left = unix - now();
    if left > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(left));
    }
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// An environment for `DhCore::with_env`.
type EnvMap = BTreeMap<String, String>;

fn lookup(map: &EnvMap) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| map.get(name).cloned()
}

struct Fx {
    oidc: OidcServer,
    api: DhCoreServer,
    dir: tempfile::TempDir,
}

impl Fx {
    /// The OAuth server with access tokens of `ttl` seconds, and the DHCore
    /// API introspecting its tokens.
    fn new(ttl: u64) -> Fx {
        let oidc = OidcServer::with_ttl(ttl);
        let api = DhCoreServer::start_with(DhCoreConfig::introspecting(
            &oidc.url("/token/introspection"),
        ));
        Fx {
            oidc,
            api,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(".dhcore.ini")
    }

    fn options(&self) -> Options {
        let mut o = Options::new();
        o.set("provider", "dhcore").unwrap();
        o.set("token_path", self.path().to_str().unwrap()).unwrap();
        o.set("timeout_ms", "20000").unwrap();
        o
    }

    /// HOME is the test's directory, so `~/.dhcore.ini` is never the real one.
    fn env(&self, pairs: &[(&str, &str)]) -> EnvMap {
        let mut map = EnvMap::new();
        map.insert("HOME".into(), self.dir.path().display().to_string());
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        map
    }

    /// The settings a PAT exchange needs, in the environment.
    fn pat_env(&self) -> EnvMap {
        self.env(&[
            ("DHCORE_ENDPOINT", &self.api.url()),
            ("DHCORE_ISSUER", &self.oidc.issuer),
            ("DHCORE_CLIENT_ID", PUBLIC_CLIENT),
            ("DHCORE_PERSONAL_ACCESS_TOKEN", ALICE_PAT),
        ])
    }

    fn provider(&self, env: &EnvMap, options: &Options) -> Engine<DhCore> {
        Engine::new(DhCore::with_env(&lookup(env), options).unwrap())
    }

    fn write(&self, text: &str) {
        fs::write(self.path(), text).unwrap();
        fs::set_permissions(self.path(), fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn read(&self) -> String {
        fs::read_to_string(self.path()).unwrap()
    }

    fn ini(&self) -> Ini {
        Ini::parse(&self.read(), &self.path()).unwrap()
    }

    /// A device login at the OAuth server with a refresh token, as the
    /// `oidc` provider does it; returns its token file.
    fn device_login(&self) -> toml::Table {
        let path = self.dir.path().join("login.toml");
        let mut o = self.oidc.options(PUBLIC_CLIENT, &path);
        o.set("scope", "openid offline_access credentials").unwrap();
        o.set_hook(Some(self.oidc.hook(false, Arc::new(AtomicUsize::new(0)))));
        hubauth::authenticate(&o).unwrap();
        fs::read_to_string(&path).unwrap().parse().unwrap()
    }

    /// `[__default]` with the endpoint, issuer, client and the tokens of a
    /// device login (access + refresh, expiry as hubauth writes it).
    fn write_oauth2_profile(&self, login: &toml::Table) {
        let s = |k: &str| login[k].as_str().unwrap().to_string();
        let expires_at = login["expires_at"].as_integer().unwrap();
        self.write(&format!(
            "[DEFAULT]\ndhcore_endpoint = {}\n\n[__default]\ndhcore_issuer = {}\n\
             dhcore_client_id = {PUBLIC_CLIENT}\ndhcore_access_token = {}\n\
             dhcore_refresh_token = {}\nexpires_in = {}\ndhcore_expires_at = {}\n",
            self.api.url(),
            self.oidc.issuer,
            s("access_token"),
            s("refresh_token"),
            login["expires_in"].as_integer().unwrap(),
            dhcore_ini::format_rfc3339(expires_at),
        ));
    }
}

fn own_keys(ini: &Ini, section: &str) -> Vec<String> {
    let mut keys: Vec<String> = ini
        .section(section)
        .into_keys()
        .filter(|k| ini.get_own(section, k).is_some())
        .collect();
    keys.sort();
    keys
}

fn assert_no_secret(message: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !message.contains(secret),
            "a message contains a secret: {message}"
        );
    }
}

#[test]
fn the_spec_file_reads_with_default_inheritance_and_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.ini");
    fs::write(&path, FIXTURE).unwrap();
    let ini = dhcore_ini::load(&path).unwrap().unwrap();
    assert_eq!(ini.sections(), vec!["__default"]);
    assert_eq!(ini.get("__default", "DHCORE_ACCESS_TOKEN"), Some("eyJ..."));
    assert_eq!(ini.get("__default", "Expires_In"), Some("60"));
    assert_eq!(
        ini.get("__default", "current_environment"),
        Some("__default"),
        "inherited from [DEFAULT]"
    );
    assert_eq!(ini.current_environment(), Some("__default"));

    // The provider reads it: profile from current_environment, an access
    // token alone (bearer), no refresh, expiry unknown (expires_in without
    // dhcore_expires_at, and not a JWT).
    let env: EnvMap = [
        ("HOME".to_string(), dir.path().display().to_string()),
        (
            "DHCORE_ENDPOINT".to_string(),
            "http://127.0.0.1:9".to_string(),
        ),
    ]
    .into();
    let mut o = Options::new();
    o.set("provider", "dhcore").unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o.set("validate", "false").unwrap();
    let p = Engine::new(DhCore::with_env(&lookup(&env), &o).unwrap());
    assert_eq!(p.profile(), "__default");
    assert_eq!(p.method(&o).unwrap(), Method::Bearer);
    let token = p.authenticate(&o).unwrap();
    assert_eq!(token.credential.secret().expose(), "eyJ...");
    assert!(token.refresh.is_none());
    assert_eq!(token.expires_at, None);
    assert_eq!(token.lifetime, Some(60));

    // Keys in any case, `:` as delimiter, [DEFAULT] values inherited,
    // continuation lines and comments.
    fs::write(
        &path,
        "; settings\n[DEFAULT]\nDHCORE_ENDPOINT: http://127.0.0.1:8/\n\n[dev]\n\
         # the token\nDhCore_Access_Token = tok-dev\nnote = a\n  b\n",
    )
    .unwrap();
    o.set("profile", "dev").unwrap();
    let p = Engine::new(DhCore::with_env(&lookup(&env), &o).unwrap());
    assert_eq!(
        p.server(),
        "http://127.0.0.1:9",
        "SDK 0.15.11: the environment wins for the endpoint"
    );
    assert_eq!(
        p.authenticate(&o).unwrap().credential.secret().expose(),
        "tok-dev"
    );
    let file_only: EnvMap = [("HOME".to_string(), dir.path().display().to_string())].into();
    let p = Engine::new(DhCore::with_env(&lookup(&file_only), &o).unwrap());
    assert_eq!(p.server(), "http://127.0.0.1:8", "the file's, / stripped");
}

#[test]
fn a_pat_exchange_writes_back_the_sdk_keys_and_keeps_everything_else() {
    let fx = Fx::new(60);
    let original = format!(
        "# DigitalHub SDK configuration\n; keep this comment too\n[DEFAULT]\n\
         current_environment = __default\ndhcore_endpoint = {api}\n\n\
         [__default]\ndhcore_access_token = default-profile-token\n\
         aws_access_key_id = AKIA-default\n\n\
         # the dev environment\n[dev]\nDHCORE_ISSUER: {issuer}\n\
         dhcore_client_id = {PUBLIC_CLIENT}\ndhcore_personal_access_token = {ALICE_PAT}\n\
         aws_access_key_id = AKIA-dev\nnote = first line\n\tsecond line\n\n[zzz]\nk = v\n",
        api = fx.api.url(),
        issuer = fx.oidc.issuer,
    );
    fx.write(&original);
    let env = fx.env(&[]);
    let mut o = fx.options();
    o.set("profile", "dev").unwrap();
    let p = fx.provider(&env, &o);
    assert_eq!(p.method(&o).unwrap(), Method::Exchange);
    let before = now();
    let token = p.authenticate(&o).unwrap();
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 1);

    let ini = fx.ini();
    assert_eq!(ini.current_environment(), Some("dev"));
    assert_eq!(
        own_keys(&ini, "dev"),
        [
            "aws_access_key_id",
            "dhcore_access_token",
            "dhcore_client_id",
            "dhcore_expires_at",
            "dhcore_issuer",
            "dhcore_personal_access_token",
            "expires_in",
            "hubauth_pat_sha256",
            "issued_token_type",
            "note",
            "scope",
            "token_type",
        ]
    );
    assert_eq!(
        ini.get("dev", "dhcore_access_token"),
        Some(token.credential.secret().expose())
    );
    assert_eq!(ini.get("dev", "token_type"), Some("Bearer"));
    assert_eq!(ini.get("dev", "expires_in"), Some("60"));
    assert_eq!(ini.get("dev", "scope"), Some("credentials"));
    assert_eq!(
        ini.get("dev", "issued_token_type"),
        Some("urn:ietf:params:oauth:token-type:access_token")
    );
    let expires_at = dhcore_ini::parse_rfc3339(ini.get("dev", "dhcore_expires_at").unwrap());
    assert_eq!(token.expires_at, expires_at);
    let expires_at = expires_at.unwrap() as f64;
    assert!(expires_at >= before.floor() + 60.0 - 1.0 && expires_at <= now() + 60.0);
    assert_eq!(token.lifetime, Some(60));

    // Every line that was there is still there, in order, except the
    // current_environment line; the new lines are exactly the new keys.
    let text = fx.read();
    assert_eq!(
        text.matches(ALICE_PAT).count(),
        1,
        "the PAT is never written"
    );
    let new: Vec<&str> = text.lines().collect();
    let mut kept = new.iter();
    for line in original.lines() {
        if line == "current_environment = __default" {
            continue;
        }
        assert!(kept.any(|l| l == &line), "line lost or moved: {line:?}");
    }
    // (The reply is a JSON object: its keys come in no fixed order.)
    let mut added: Vec<&str> = new
        .iter()
        .filter(|l| !original.lines().any(|o| o == **l))
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    added.sort();
    assert_eq!(
        added,
        [
            "current_environment",
            "dhcore_access_token",
            "dhcore_expires_at",
            "expires_in",
            "hubauth_pat_sha256",
            "issued_token_type",
            "scope",
            "token_type",
        ]
    );
    assert_eq!(mode(&fx.path()), 0o600);

    // The token works at DHCore, and is reused while fresh (no exchange).
    assert!(p.check(&token, &o).unwrap());
    let again = p.authenticate(&o).unwrap();
    assert_eq!(again.credential, token.credential);
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 1);
    assert_eq!(again.username.as_deref(), Some("alice"), "from /api/auth");
    // force: exchanged again.
    o.set("force", "true").unwrap();
    let forced = p.authenticate(&o).unwrap();
    assert_ne!(forced.credential, token.credential);
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 2);
}

#[test]
fn an_environment_pat_creates_the_file_the_sdk_writes() {
    let fx = Fx::new(60);
    let env = fx.pat_env();
    let o = fx.options();
    // No token_path: the path is $HOME/.dhcore.ini of the given environment.
    let mut no_path = o.clone();
    no_path.token_path = None;
    let p = fx.provider(&env, &no_path);
    assert_eq!(p.token_path(), fx.path());
    let token = p.authenticate(&no_path).unwrap();

    // The spec's keys but the client id and issuer, which came from the
    // environment and are not written (0.16 betas would take them from the
    // file over the environment ever after); hubauth's records instead.
    let ini = fx.ini();
    let spec = Ini::parse(FIXTURE, Path::new("spec")).unwrap();
    let mut wanted: Vec<String> = own_keys(&spec, "__default")
        .into_iter()
        .filter(|k| k != "dhcore_client_id" && k != "dhcore_issuer")
        .collect();
    wanted.extend(["dhcore_expires_at", "hubauth_issuer", "hubauth_pat_sha256"].map(String::from));
    wanted.sort();
    assert_eq!(
        own_keys(&ini, "__default"),
        wanted,
        "the spec's keys + expiry"
    );
    assert_eq!(own_keys(&ini, "DEFAULT"), ["current_environment"]);
    assert_eq!(ini.current_environment(), Some("__default"));
    assert_eq!(ini.get("__default", "dhcore_client_id"), None);
    assert_eq!(ini.get("__default", "dhcore_issuer"), None);
    assert_eq!(
        ini.get("__default", "hubauth_issuer"),
        Some(fx.oidc.issuer.as_str())
    );
    assert_eq!(
        ini.get("__default", "dhcore_access_token"),
        Some(token.credential.secret().expose())
    );
    assert!(!fx.read().contains(ALICE_PAT));
    assert_eq!(mode(&fx.path()), 0o600);

    // DH_CONFIG names another file.
    let mut env = fx.pat_env();
    let custom = fx.dir.path().join("conf").join("custom.ini");
    env.insert("DH_CONFIG".into(), custom.display().to_string());
    let p = fx.provider(&env, &no_path);
    assert_eq!(p.token_path(), custom);
    p.authenticate(&no_path).unwrap();
    assert!(
        Ini::parse(&fs::read_to_string(&custom).unwrap(), &custom)
            .unwrap()
            .get("__default", "dhcore_access_token")
            .is_some()
    );
}

/// SDK 0.15.11 (config_manager.py:101-113 and 139-156): the environment wins
/// for the configuration keys, the file for the credentials.
#[test]
fn configuration_from_the_environment_credentials_from_the_file() {
    let fx = Fx::new(60);
    let file_token = fx.api.issue_token();
    let env_token = fx.api.issue_token();
    let env = fx.env(&[
        ("DHCORE_ENDPOINT", &fx.api.url()),
        ("DHCORE_ACCESS_TOKEN", &env_token),
    ]);
    let o = fx.options();

    // Only the environment: its token and its endpoint.
    let p = fx.provider(&env, &o);
    let token = p.authenticate(&o).unwrap();
    assert_eq!(token.credential.secret().expose(), env_token);
    assert!(p.check(&token, &o).unwrap());
    assert!(
        !fx.path().exists(),
        "a bearer token from the environment is not written"
    );

    // The file has both: its token wins, the environment's endpoint wins.
    fx.write(&format!(
        "[__default]\ndhcore_endpoint = http://127.0.0.1:9\ndhcore_access_token = {file_token}\n"
    ));
    let p = fx.provider(&env, &o);
    assert_eq!(p.server(), fx.api.url());
    let token = p.authenticate(&o).unwrap();
    assert_eq!(token.credential.secret().expose(), file_token);
    assert!(p.check(&token, &o).unwrap());
    // Without the variable, the file's endpoint.
    let p = fx.provider(&fx.env(&[]), &o);
    assert_eq!(p.server(), "http://127.0.0.1:9");

    // Issuer and client id as well: the environment's are the ones the
    // exchange uses, though the file names others: the file's client id is
    // replaced, and a PAT the file keeps with another issuer is not sent to
    // this one (issue 22: credentials go to the issuer recorded with them).
    fx.write("[__default]\ndhcore_client_id = wrong\n");
    let env = fx.env(&[
        ("DHCORE_ENDPOINT", &fx.api.url()),
        ("DHCORE_ISSUER", &fx.oidc.issuer),
        ("DHCORE_CLIENT_ID", PUBLIC_CLIENT),
        ("DHCORE_PERSONAL_ACCESS_TOKEN", ALICE_PAT),
    ]);
    let p = fx.provider(&env, &o);
    let token = p.authenticate(&o).unwrap();
    assert!(p.check(&token, &o).unwrap());
}

/// The security review's §6 (a12): a profile keeps a refresh token with the
/// issuer A that issued it, and `DHCORE_ISSUER` names another issuer B. The
/// token never goes to B, the file's record of A is kept, and what is needed
/// is a new login (here: none can run, so it says so).
#[test]
fn credentials_stay_with_the_issuer_recorded_with_them() {
    let fx = Fx::new(60);
    let other = OidcServer::with_ttl(60);
    fx.write(&format!(
        "[__default]\ndhcore_issuer = {}\ndhcore_client_id = {PUBLIC_CLIENT}\n\
         dhcore_personal_access_token = {ALICE_PAT}\ndhcore_refresh_token = rt-of-issuer-a\n",
        fx.oidc.issuer
    ));
    let env = fx.env(&[
        ("DHCORE_ENDPOINT", &fx.api.url()),
        ("DHCORE_ISSUER", &other.issuer),
    ]);
    let mut o = fx.options();
    o.set("interactive", "false").unwrap();
    let p = fx.provider(&env, &o);
    let err = p.authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), hubauth::ErrorKind::NoCredentials, "{err}");
    assert_no_secret(err.message(), &[ALICE_PAT, "rt-of-issuer-a"]);
    let text = std::fs::read_to_string(fx.path()).unwrap();
    assert!(
        text.contains(&format!("dhcore_issuer = {}", fx.oidc.issuer)),
        "{text}"
    );
    assert!(
        text.contains("rt-of-issuer-a") && text.contains(ALICE_PAT),
        "nothing lost"
    );
    // The same issuer written another way (a trailing /) is the same issuer.
    let env = fx.env(&[
        ("DHCORE_ENDPOINT", &fx.api.url()),
        ("DHCORE_ISSUER", &format!("{}/", fx.oidc.issuer)),
    ]);
    fx.write(&format!(
        "[__default]\ndhcore_issuer = {}\ndhcore_client_id = {PUBLIC_CLIENT}\n\
         dhcore_personal_access_token = {ALICE_PAT}\n",
        fx.oidc.issuer
    ));
    let p = fx.provider(&env, &fx.options());
    let token = p.authenticate(&fx.options()).unwrap();
    assert!(p.check(&token, &fx.options()).unwrap());
}

/// An unsigned JWT with this `exp`.
fn jwt_expiring_at(exp: i64) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.sig",
        b64(r#"{"alg":"none"}"#),
        b64(&format!(r#"{{"exp":{exp}}}"#))
    )
}

/// Item 1 of the SDK review: DigitalHub workspaces inject fresh `DHCORE_*`
/// tokens while an old `~/.dhcore.ini` persists. Both SDK versions fall back
/// to the environment's credentials once the file's fail (0.15.11
/// refresh.py:80-147, config_manager.py:164-202); so does hubauth.
#[test]
fn the_environment_credentials_are_used_when_the_files_fail() {
    let fx = Fx::new(60);
    let env_token = fx.api.issue_token();
    let env = fx.env(&[
        ("DHCORE_ACCESS_TOKEN", &env_token),
        ("DHCORE_REFRESH_TOKEN", "env-rt-unused"),
    ]);
    let o = fx.options();

    // The file's access token is rejected and its refresh token refused.
    let file = format!(
        "[__default]\ndhcore_endpoint = {}\ndhcore_issuer = {}\n\
         dhcore_client_id = {PUBLIC_CLIENT}\ndhcore_access_token = file-at-dead\n\
         dhcore_refresh_token = file-rt-dead\n",
        fx.api.url(),
        fx.oidc.issuer
    );
    fx.write(&file);
    let token = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_eq!(token.credential.secret().expose(), env_token);
    assert_eq!(
        fx.read(),
        file,
        "a token from the environment is not written"
    );
    assert_eq!(fx.oidc.stat(&["refresh_success"]), 0);

    // The file holds an expired access token alone: no request with it
    // (review reproducer A2: the environment has an access token alone).
    let env = fx.env(&[("DHCORE_ACCESS_TOKEN", &env_token)]);
    let rejected_before = fx.api.stats().rejected;
    let file = format!(
        "[__default]\ndhcore_endpoint = {}\ndhcore_access_token = {}\n",
        fx.api.url(),
        jwt_expiring_at(1_000_000_000)
    );
    fx.write(&file);
    let token = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_eq!(token.credential.secret().expose(), env_token);
    assert_eq!(fx.api.stats().rejected, rejected_before);

    // The file's opaque access token alone, rejected by the server.
    let file = format!(
        "[__default]\ndhcore_endpoint = {}\ndhcore_access_token = file-at-opaque\n",
        fx.api.url()
    );
    fx.write(&file);
    let token = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_eq!(token.credential.secret().expose(), env_token);
    assert_eq!(fx.read(), file);

    // The environment's personal access token is exchanged, and the new
    // token written back, as the SDK writes renewed credentials.
    let env = fx.env(&[
        ("DHCORE_ISSUER", &fx.oidc.issuer),
        ("DHCORE_CLIENT_ID", PUBLIC_CLIENT),
        ("DHCORE_PERSONAL_ACCESS_TOKEN", ALICE_PAT),
    ]);
    let file = format!(
        "[__default]\ndhcore_endpoint = {}\ndhcore_access_token = file-at-dead\n\
         dhcore_refresh_token = file-rt-dead\n",
        fx.api.url()
    );
    fx.write(&file);
    let token = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_eq!(token.username.as_deref(), Some("alice"));
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 1);
    assert_eq!(
        fx.ini().get("__default", "dhcore_access_token"),
        Some(token.credential.secret().expose())
    );

    // Nothing in the environment either: the error says both failed.
    let file = format!(
        "[__default]\ndhcore_endpoint = {}\ndhcore_access_token = file-at-dead\n",
        fx.api.url()
    );
    fx.write(&file);
    let env = fx.env(&[("DHCORE_ACCESS_TOKEN", "env-at-dead")]);
    let err = fx.provider(&env, &o).authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert_no_secret(err.message(), &["file-at-dead", "env-at-dead"]);
}

/// SDK 0.15.11 exchanges the current personal access token at every start
/// (client_configurator.py:65-80); hubauth reuses the exchanged token only
/// while the personal access token is the one it came from.
#[test]
fn a_changed_personal_access_token_is_exchanged_again() {
    let fx = Fx::new(60);
    let o = fx.options();
    let alice = fx.provider(&fx.pat_env(), &o).authenticate(&o).unwrap();
    assert_eq!(alice.username.as_deref(), Some("alice"));
    let again = fx.provider(&fx.pat_env(), &o).authenticate(&o).unwrap();
    assert_eq!(again.credential, alice.credential, "the same PAT: reused");
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 1);

    let bob_pat = fx.oidc.create_pat("bob");
    let mut env = fx.pat_env();
    env.insert("DHCORE_PERSONAL_ACCESS_TOKEN".into(), bob_pat.clone());
    let bob = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_ne!(bob.credential, alice.credential);
    assert_eq!(bob.username.as_deref(), Some("bob"));
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 2);
    assert!(!fx.read().contains(&bob_pat), "the PAT is never written");
    // A token the SDK wrote (no record of its PAT) is exchanged again too.
    let mut ini = fx.ini();
    ini.remove("__default", "hubauth_pat_sha256");
    fx.write(&ini.to_text().unwrap());
    let fresh = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_ne!(fresh.credential, bob.credential);
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 3);
}

/// digitalhub 0.16 betas take `DHCORE_ISSUER`, `DHCORE_CLIENT_ID`,
/// `DHCORE_ENDPOINT` and `OAUTH2_TOKEN_ENDPOINT` from the file before the
/// environment (0.16.0b19 credential_store.py:31-37, 64-68). hubauth keeps
/// 0.15.11's order and writes none that came from the environment, so a
/// later change there is seen by both; the issuer is recorded in hubauth's
/// own key, and the credentials still go to no other issuer.
#[test]
fn configuration_from_the_environment_is_not_written_back() {
    let fx = Fx::new(60);
    let o = fx.options();
    fx.write(&format!(
        "[__default]\ndhcore_endpoint = {}\n",
        fx.api.url()
    ));
    let first = fx.provider(&fx.pat_env(), &o).authenticate(&o).unwrap();
    let ini = fx.ini();
    for key in ["dhcore_issuer", "dhcore_client_id", "oauth2_token_endpoint"] {
        assert_eq!(ini.get("__default", key), None, "{key}");
    }
    assert_eq!(
        ini.get("__default", "hubauth_issuer"),
        Some(fx.oidc.issuer.as_str())
    );

    // Another issuer in the environment: the stored token is not used with
    // it; its own exchange follows.
    let other = OidcServer::with_ttl(60);
    let mut env = fx.pat_env();
    env.insert("DHCORE_ISSUER".into(), other.issuer.clone());
    let api = DhCoreServer::start_with(DhCoreConfig::introspecting(
        &other.url("/token/introspection"),
    ));
    env.insert("DHCORE_ENDPOINT".into(), api.url());
    let second = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_ne!(second.credential, first.credential);
    assert_eq!(other.stat(&["exchange_success"]), 1);
    assert_eq!(
        fx.ini().get("__default", "hubauth_issuer"),
        Some(other.issuer.as_str())
    );
}

#[test]
fn methods_are_tried_in_the_sdks_order() {
    let fx = Fx::new(60);
    let api = fx.api.url();
    let all = [
        ("DHCORE_ENDPOINT", api.as_str()),
        ("DHCORE_ISSUER", fx.oidc.issuer.as_str()),
        ("DHCORE_CLIENT_ID", PUBLIC_CLIENT),
        ("DHCORE_PERSONAL_ACCESS_TOKEN", ALICE_PAT),
        ("DHCORE_ACCESS_TOKEN", "env-access"),
        ("DHCORE_REFRESH_TOKEN", "env-refresh"),
        ("DHCORE_USER", "ann"),
        ("DHCORE_PASSWORD", "ann-password"),
    ];
    let mut o = fx.options();
    o.set("validate", "false").unwrap();
    let run = |pairs: &[(&str, &str)]| {
        let env = fx.env(pairs);
        let p = fx.provider(&env, &o);
        (p.method(&o).unwrap(), p.authenticate(&o))
    };

    let (method, token) = run(&all);
    assert_eq!(method, Method::Exchange);
    let token = token.unwrap();
    assert_ne!(token.credential.secret().expose(), "env-access");
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 1);
    fs::remove_file(fx.path()).unwrap();

    let without_pat: Vec<_> = all
        .iter()
        .copied()
        .filter(|(k, _)| !k.contains("PERSONAL"))
        .collect();
    let (method, token) = run(&without_pat);
    assert_eq!(method, Method::OAuth2);
    let token = token.unwrap();
    assert_eq!(token.credential.secret().expose(), "env-access");
    assert_eq!(token.refresh.unwrap().expose(), "env-refresh");

    let bearer: Vec<_> = without_pat
        .iter()
        .copied()
        .filter(|(k, _)| !k.contains("REFRESH"))
        .collect();
    let (method, token) = run(&bearer);
    assert_eq!(method, Method::Bearer);
    let token = token.unwrap();
    assert_eq!(token.credential.secret().expose(), "env-access");
    assert!(token.refresh.is_none());

    let basic: Vec<_> = bearer
        .iter()
        .copied()
        .filter(|(k, _)| !k.contains("ACCESS"))
        .collect();
    let (method, token) = run(&basic);
    assert_eq!(method, Method::Basic);
    let expected = base64::engine::general_purpose::STANDARD.encode("ann:ann-password");
    let credential = token.unwrap().credential;
    assert_eq!(
        credential,
        Credential::Basic {
            user: "ann".into(),
            password: Secret::new("ann-password").unwrap()
        }
    );
    assert_eq!(
        credential.authorization().unwrap().expose(),
        format!("Basic {expected}")
    );

    let nothing: Vec<_> = basic
        .iter()
        .copied()
        .filter(|(k, _)| !k.contains("PASSWORD"))
        .collect();
    let (method, err) = run(&nothing);
    assert_eq!(method, Method::None);
    let err = err.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials);
    for hint in [
        "DHCORE_PERSONAL_ACCESS_TOKEN",
        "DHCORE_ACCESS_TOKEN",
        "DHCORE_USER",
        "lower case",
        // A deployment without authentication is not an error of the user's.
        "without authentication needs no hubauth",
        ".dhcore.ini",
    ] {
        assert!(err.message().contains(hint), "{hint} missing: {err}");
    }
    // Nothing of this was written: only the exchange writes.
    assert!(!fx.path().exists());
}

#[test]
fn access_and_refresh_are_refreshed_before_expiry_with_rotation() {
    let fx = Fx::new(4);
    let login = fx.device_login();
    fx.write_oauth2_profile(&login);
    let first_access = login["access_token"].as_str().unwrap().to_string();
    let first_refresh = login["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        login["scope"].as_str(),
        Some("openid offline_access credentials")
    );

    let auth = authenticate(&fx.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), first_access);
    assert!(auth.check().unwrap());
    assert_eq!(auth.username().as_deref(), Some("alice"));
    assert_eq!(fx.api.stats().accepted, 2, "validated once, checked once");

    // Lifetime 4 s: refreshed once less than 2 s are left, not before.
    let expires_at = login["expires_at"].as_integer().unwrap() as f64;
    sleep_until(expires_at - 2.0 - 0.5);
    assert_eq!(auth.token().unwrap().expose(), first_access);
    sleep_until(expires_at - 2.0 + 0.2);
    let second = auth.token().unwrap();
    assert!(now() < expires_at, "refreshed before the token expired");
    assert_ne!(second.expose(), first_access);
    assert_eq!(fx.oidc.stat(&["refresh_success"]), 1);

    let ini = fx.ini();
    assert_eq!(
        ini.get("__default", "dhcore_access_token"),
        Some(second.expose())
    );
    let second_refresh = ini
        .get("__default", "dhcore_refresh_token")
        .unwrap()
        .to_string();
    assert_ne!(
        second_refresh, first_refresh,
        "the rotated refresh token is stored"
    );
    // The request asked for scope=credentials: the reply's scope is narrowed to it.
    assert_eq!(ini.get("__default", "scope"), Some("credentials"));
    assert_eq!(ini.get("__default", "expires_in"), Some("4"));
    assert_eq!(ini.current_environment(), Some("__default"));
    assert_eq!(
        ini.get("__default", "dhcore_endpoint"),
        Some(fx.api.url().as_str()),
        "kept"
    );
    assert_eq!(mode(&fx.path()), 0o600);
    assert_eq!(fx.oidc.introspect(&first_refresh)["active"], json!(false));
    assert!(auth.check().unwrap());

    // And again, with the rotated refresh token from the file.
    let expires_at = dhcore_ini::parse_rfc3339(ini.get("__default", "dhcore_expires_at").unwrap())
        .unwrap() as f64;
    sleep_until(expires_at - 2.0 + 0.2);
    let third = auth.token().unwrap();
    assert_ne!(third.expose(), second.expose());
    assert_eq!(fx.oidc.stat(&["refresh_success"]), 2);
    assert_eq!(fx.oidc.stat(&["refresh_reuse"]), 0);
    assert_ne!(
        fx.ini().get("__default", "dhcore_refresh_token"),
        Some(second_refresh.as_str())
    );
}

#[test]
fn concurrent_handles_never_present_a_rotated_refresh_token_twice() {
    let fx = Fx::new(2);
    fx.write_oauth2_profile(&fx.device_login());
    let a = authenticate(&fx.options()).unwrap();
    let b = authenticate(&fx.options()).unwrap();
    let until = Instant::now() + Duration::from_millis(4500);
    let start = Arc::new(Barrier::new(4));
    let workers: Vec<_> = [a.clone(), b.clone(), a, b]
        .into_iter()
        .map(|handle| {
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
    assert!(fx.oidc.stat(&["refresh_success"]) >= 2);
    assert_eq!(fx.oidc.stat(&["refresh_reuse"]), 0);
    assert_eq!(fx.oidc.stat(&["refresh_errors"]), 0);
    assert_eq!(fx.oidc.stat(&["grants_revoked"]), 0);
}

#[test]
fn a_refused_refresh_rereads_the_file_and_loses_nothing() {
    let fx = Fx::new(60);
    let login = fx.device_login();
    fx.write_oauth2_profile(&login);
    // The stored token is due: dhcore_expires_at in the past.
    let text = fx.read();
    let due = text
        .lines()
        .map(|l| {
            if l.starts_with("dhcore_expires_at") {
                "dhcore_expires_at = 2001-01-01T00:00:00Z".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    fx.write(&(due.clone() + "\n"));
    fx.oidc
        .inject(json!({"grant_type": "refresh_token", "error": "invalid_grant"}));

    let mut o = fx.options();
    o.set("validate", "false").unwrap();
    let p = fx.provider(&fx.env(&[]), &o);
    let err = p.authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(
        err.message()
            .contains("dhcore_refresh_token in [__default]"),
        "{err}"
    );
    assert!(err.message().contains("invalid_grant"), "{err}");
    let refresh = login["refresh_token"].as_str().unwrap();
    assert_no_secret(
        err.message(),
        &[refresh, login["access_token"].as_str().unwrap()],
    );
    assert_eq!(fx.read(), due + "\n", "the file is unchanged");

    // The refresh token was not lost: the next refresh works.
    let token = p.authenticate(&o).unwrap();
    assert_ne!(
        token.credential.secret().expose(),
        login["access_token"].as_str().unwrap()
    );
    assert_eq!(fx.oidc.stat(&["refresh_success"]), 1);
}

#[test]
fn an_access_token_alone_expires_and_says_what_to_do() {
    let fx = Fx::new(2);
    // A token from a PAT exchange, then the PAT is gone: an access token alone.
    let p = fx.provider(&fx.pat_env(), &fx.options());
    p.authenticate(&fx.options()).unwrap();
    let mut ini = fx.ini();
    ini.set("DEFAULT", "dhcore_endpoint", &fx.api.url())
        .unwrap();
    fx.write(&ini.to_text().unwrap());
    let stored = ini
        .get("__default", "dhcore_access_token")
        .unwrap()
        .to_string();
    let expires_at =
        dhcore_ini::parse_rfc3339(ini.get("__default", "dhcore_expires_at").unwrap()).unwrap();

    let auth = authenticate(&fx.options()).unwrap();
    assert_eq!(auth.token().unwrap().expose(), stored);
    assert!(auth.check().unwrap());
    assert_eq!(auth.expires_at(), Some(expires_at));

    sleep_until(expires_at as f64 + 0.2);
    let err = auth.token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    for hint in [
        "cannot be refreshed",
        "DHCORE_PERSONAL_ACCESS_TOKEN",
        ".dhcore.ini",
    ] {
        assert!(err.message().contains(hint), "{hint} missing: {err}");
    }
    assert_no_secret(err.message(), &[&stored, ALICE_PAT]);
    // The server's clock counts from the whole second it issued the token in.
    sleep_until(expires_at as f64 + 1.1);
    assert!(!auth.check().unwrap(), "DHCore refuses the expired token");
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 1, "never renewed");
    let err = authenticate(&fx.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
}

#[test]
fn a_rejected_token_is_exchanged_again_on_reauthenticate() {
    let fx = Fx::new(60);
    fx.write(&format!(
        "[DEFAULT]\ndhcore_endpoint = {}\n[__default]\ndhcore_issuer = {}\n\
         dhcore_client_id = {PUBLIC_CLIENT}\ndhcore_personal_access_token = {ALICE_PAT}\n",
        fx.api.url(),
        fx.oidc.issuer
    ));
    let auth = authenticate(&fx.options()).unwrap();
    let first = auth.token().unwrap();
    // Revoked at the server, as an admin would.
    let revoked = http::post_form(
        &fx.oidc.url("/token/revocation"),
        &[("token", first.expose()), ("client_id", PUBLIC_CLIENT)],
    )
    .unwrap();
    assert_eq!(revoked.status, 200);
    assert!(!auth.check().unwrap());
    auth.reauthenticate(None).unwrap();
    let second = auth.token().unwrap();
    assert_ne!(second.expose(), first.expose());
    assert!(auth.check().unwrap());
    assert_eq!(fx.oidc.stat(&["exchange_success"]), 2);
}

#[test]
fn basic_credentials_are_handed_out_as_a_header_value_never_as_a_token() {
    let fx = Fx::new(60);
    fx.api.configure(|c| {
        c.basic_user = Some("ann".into());
        c.basic_password = Some("ann-s3cret".into());
    });
    fx.write(&format!(
        "[__default]\ndhcore_endpoint = {}\ndhcore_user = ann\ndhcore_password = ann-s3cret\n",
        fx.api.url()
    ));
    let auth = authenticate(&fx.options()).unwrap();
    let value = auth.authorization().unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode("ann:ann-s3cret");
    assert_eq!(value.expose(), format!("Basic {encoded}"));
    // A user and password are no token: neither they nor the header value
    // come out where a token is expected.
    let err = auth.token().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("hubauth_authorization"), "{err}");
    assert_no_secret(err.message(), &["ann-s3cret", &encoded]);
    assert!(auth.with_token(|_| ()).is_err());
    assert_eq!(
        auth.credential().unwrap(),
        Credential::Basic {
            user: "ann".into(),
            password: Secret::new("ann-s3cret").unwrap()
        }
    );
    assert_eq!(auth.username().as_deref(), Some("ann"));
    assert_eq!(auth.expires_at(), None);
    assert!(auth.check().unwrap());
    // A caller puts it into the Authorization header as it is.
    let reply = http::request(
        "GET",
        &format!("{}/api/auth", fx.api.url()),
        &[("Authorization", value.expose())],
        &[],
    )
    .unwrap();
    assert_eq!(reply.status, 200);
    assert!(fx.api.stats().basic_requests >= 3);

    // A wrong password: rejected, and the message names where it came from.
    fx.api
        .configure(|c| c.basic_password = Some("changed-pw".into()));
    assert!(!auth.check().unwrap());
    let err = authenticate(&fx.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(
        err.message().contains("dhcore_password in [__default]"),
        "{err}"
    );
    assert_no_secret(err.message(), &["ann-s3cret", &encoded]);
}

#[test]
fn check_is_true_or_false_and_needs_a_valid_endpoint() {
    let fx = Fx::new(60);
    let env = fx.env(&[("DHCORE_ENDPOINT", &fx.api.url())]);
    let o = fx.options();
    let p = fx.provider(&env, &o);
    let token = |t: &str| Token::bare(hubauth::Secret::new(t).unwrap());
    assert!(p.check(&token(&fx.api.issue_token()), &o).unwrap());
    assert!(!p.check(&token("unknown-token"), &o).unwrap());
    fx.api.configure(|c| c.api_status = Some(403));
    assert!(!p.check(&token(&fx.api.issue_token()), &o).unwrap());
    fx.api.configure(|c| c.api_status = Some(500));
    assert_eq!(
        p.check(&token("t"), &o).unwrap_err().kind(),
        ErrorKind::Server
    );

    let mut with_token = o.clone();
    with_token.set("token", "unknown").unwrap();
    for (endpoint, kind, hint) in [
        ("ftp://127.0.0.1:1", ErrorKind::InvalidArgument, "http://"),
        ("127.0.0.1:1", ErrorKind::InvalidArgument, "http://"),
    ] {
        let env = fx.env(&[("DHCORE_ENDPOINT", endpoint)]);
        let err = fx.provider(&env, &o).authenticate(&with_token).unwrap_err();
        assert_eq!(err.kind(), kind, "{endpoint}: {err}");
        assert!(err.message().contains(hint), "{err}");
        assert!(err.message().contains("DHCORE_ENDPOINT"), "{err}");
    }
    let err = fx
        .provider(&fx.env(&[]), &o)
        .authenticate(&with_token)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("DHCORE_ENDPOINT"), "{err}");
}

#[test]
fn the_profile_comes_from_the_option_dh_name_or_the_file() {
    let fx = Fx::new(60);
    let tokens: BTreeMap<&str, String> = ["prod", "dev", "__default"]
        .into_iter()
        .map(|p| (p, fx.api.issue_token()))
        .collect();
    let original = format!(
        "[DEFAULT]\ncurrent_environment = prod\ndhcore_endpoint = {}\n\n\
         [prod]\ndhcore_access_token = {}\ndhcore_refresh_token = prod-refresh\n\
         dhcore_expires_at = 2999-01-01T00:00:00Z\naws_access_key_id = AKIA-prod\n\n\
         [dev]\ndhcore_access_token = {}\n\n[__default]\ndhcore_access_token = {}\n",
        fx.api.url(),
        tokens["prod"],
        tokens["dev"],
        tokens["__default"]
    );
    fx.write(&original);
    let mut o = fx.options();
    o.set("validate", "false").unwrap();
    let pick = |env: &EnvMap, o: &Options| {
        let p = fx.provider(env, o);
        (
            p.profile().to_string(),
            p.authenticate(o).unwrap().credential,
        )
    };
    let (profile, token) = pick(&fx.env(&[]), &o);
    assert_eq!(
        (profile.as_str(), token.secret().expose()),
        ("prod", tokens["prod"].as_str())
    );
    let dh_dev = fx.env(&[("DH_NAME", "dev")]);
    let (profile, token) = pick(&dh_dev, &o);
    assert_eq!(
        (profile.as_str(), token.secret().expose()),
        ("dev", tokens["dev"].as_str())
    );
    let mut explicit = o.clone();
    explicit.set("profile", "__default").unwrap();
    let (profile, _) = pick(&dh_dev, &explicit);
    assert_eq!(profile, "__default", "the option wins over DH_NAME");
    assert_eq!(fx.read(), original, "reading writes nothing");

    // save_token writes to the chosen profile and makes it current.
    let p = fx.provider(&dh_dev, &o);
    p.save_token("saved-dev-token", &o).unwrap();
    let ini = fx.ini();
    assert_eq!(
        ini.get("dev", "dhcore_access_token"),
        Some("saved-dev-token")
    );
    assert_eq!(ini.current_environment(), Some("dev"));
    assert_eq!(
        ini.get("prod", "dhcore_access_token"),
        Some(tokens["prod"].as_str())
    );
    let mut keep = o.clone();
    keep.set("overwrite", "false").unwrap();
    assert_eq!(
        p.save_token("another", &keep).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        p.save_token("Bearer x", &o).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    // logout of prod removes its token keys only.
    let mut prod = o.clone();
    prod.set("profile", "prod").unwrap();
    fx.provider(&fx.env(&[]), &prod).logout(&prod).unwrap();
    let ini = fx.ini();
    assert_eq!(own_keys(&ini, "prod"), ["aws_access_key_id"]);
    assert!(ini.has_section("prod"));
    assert_eq!(
        ini.get("dev", "dhcore_access_token"),
        Some("saved-dev-token")
    );
    assert_eq!(ini.current_environment(), Some("dev"));
    let err = fx
        .provider(&fx.env(&[]), &prod)
        .authenticate(&prod)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials);

    // No current_environment and no DH_NAME: __default.
    fs::remove_file(fx.path()).unwrap();
    assert_eq!(fx.provider(&fx.env(&[]), &o).profile(), "__default");
    // logout without a file does nothing.
    fx.provider(&fx.env(&[]), &o).logout(&o).unwrap();
    assert!(!fx.path().exists());
}

#[test]
fn a_malformed_file_is_a_format_error_and_stays_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".dhcore.ini");
    let mut o = Options::new();
    o.set("provider", "dhcore").unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    for text in [
        "dhcore_access_token = secret-before-any-section\n[__default]\n",
        "[__default]\ndhcore_access_token = a\nDHCORE_ACCESS_TOKEN = b\n",
        "[__default]\nsecret-line-without-delimiter\n",
        "[a]\n[a]\n",
    ] {
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = authenticate(&o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Format, "{text:?}: {err}");
        assert!(err.message().contains("line"), "{err}");
        assert!(!err.message().contains("secret"), "{err}");
        assert_eq!(
            hubauth::save_token(&o, "new-token").unwrap_err().kind(),
            ErrorKind::Format
        );
        assert_eq!(hubauth::logout(&o).unwrap_err().kind(), ErrorKind::Format);
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "unchanged");
    }
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [".dhcore.ini"], "no temp file left behind");
}

/// refresh.py:328-354: the SDK takes `token_endpoint` from the discovery
/// document and never compares its `issuer` with `DHCORE_ISSUER`. Here the
/// user names the issuer `http://localhost:PORT/` while the server calls
/// itself `http://127.0.0.1:PORT` (an internal vs external name). The `oidc`
/// provider keeps RFC 8414's exact match.
#[test]
fn discovery_accepts_an_issuer_named_in_another_form() {
    let fx = Fx::new(60);
    let port = fx.oidc.issuer.rsplit(':').next().unwrap().to_string();
    let other_form = format!("http://localhost:{port}/");
    let mut env = fx.pat_env();
    env.insert("DHCORE_ISSUER".into(), other_form.clone());
    let o = fx.options();
    let p = fx.provider(&env, &o);
    let token = p.authenticate(&o).unwrap();
    assert!(p.check(&token, &o).unwrap());
    assert_eq!(
        fx.ini().get("__default", "hubauth_issuer"),
        Some(other_form.as_str()),
        "the issuer the user named, not the document's"
    );

    let path = fx.dir.path().join("oidc.toml");
    let mut oidc = fx.oidc.options(PUBLIC_CLIENT, &path);
    oidc.set("issuer", &other_form).unwrap();
    oidc.set("interactive", "false").unwrap();
    oidc.set("subject_token", ALICE_PAT).unwrap();
    let err = hubauth::authenticate(&oidc).unwrap_err();
    assert!(err.message().contains("is for the issuer"), "{err}");
}

/// DHCore defaults to `http://localhost:8080` and in-cluster workspaces get
/// `dhcore_endpoint=http://<release>-core:<port>`: a plain-http endpoint,
/// issuer or token endpoint the user configured is accepted (the SDK accepts
/// it); requests then go over http (here to 127.0.0.1).
#[test]
fn a_configured_plain_http_endpoint_is_accepted() {
    let fx = Fx::new(60);
    let o = fx.options();
    for (name, value) in [
        ("DHCORE_ENDPOINT", "http://digitalhub-core:8080"),
        ("DHCORE_ENDPOINT", "http://core.example.org/"),
    ] {
        let p = fx.provider(&fx.env(&[(name, value)]), &o);
        assert_eq!(p.server(), value.trim_end_matches('/'));
    }
    fx.write(
        "[__default]\ndhcore_endpoint = http://digitalhub-core:8080\n\
         oauth2_token_endpoint = http://digitalhub-core:8080/auth/token\n",
    );
    let p = fx.provider(&fx.env(&[]), &o);
    assert_eq!(p.server(), "http://digitalhub-core:8080");
    // An http token endpoint from the user's file passes the URL checks (the
    // request then fails to resolve the name, not as insecure).
    let mut pat = fx.options();
    pat.set("subject_token", "pat-x").unwrap();
    pat.set("client_id", PUBLIC_CLIENT).unwrap();
    pat.set("timeout_ms", "3000").unwrap();
    let err = p.authenticate(&pat).unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Insecure, "{err}");

    // Requests over http (to 127.0.0.1) work end to end.
    fs::remove_file(fx.path()).unwrap();
    let p = fx.provider(&fx.pat_env(), &o);
    assert!(fx.api.url().starts_with("http://"));
    let token = p.authenticate(&o).unwrap();
    assert!(p.check(&token, &o).unwrap());
}

/// The SDK never writes `oauth2_token_endpoint` from the environment, and a
/// copy in the file would pin it; a reply never changes where the PAT goes.
#[test]
fn the_environment_token_endpoint_is_not_written_back() {
    let fx = Fx::new(60);
    let mut env = fx.pat_env();
    env.remove("DHCORE_ISSUER");
    env.insert("OAUTH2_TOKEN_ENDPOINT".into(), fx.oidc.url("/token"));
    let o = fx.options();
    fx.provider(&env, &o).authenticate(&o).unwrap();
    let ini = fx.ini();
    assert!(ini.get("__default", "dhcore_access_token").is_some());
    assert_eq!(
        ini.get("__default", "oauth2_token_endpoint"),
        None,
        "{}",
        fx.read()
    );
}

/// After the SDK refreshed (it rewrites the token, never `dhcore_expires_at`),
/// hubauth's key is stale: the access token's JWT `exp` wins, so hubauth
/// does not refresh a token that is still good.
#[test]
fn a_jwt_exp_wins_over_a_stale_dhcore_expires_at() {
    let fx = Fx::new(60);
    let exp = now() as i64 + 3600;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!(r#"{{"exp":{exp},"sub":"alice"}}"#));
    let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.c2ln");
    fx.write(&format!(
        "[__default]\ndhcore_endpoint = http://127.0.0.1:1\ndhcore_issuer = http://127.0.0.1:1\n\
         dhcore_client_id = c\ndhcore_access_token = {jwt}\ndhcore_refresh_token = r-new\n\
         expires_in = 3600\ndhcore_expires_at = 2001-01-01T00:00:00Z\n"
    ));
    let mut o = fx.options();
    o.set("validate", "false").unwrap();
    let token = fx.provider(&fx.env(&[]), &o).authenticate(&o).unwrap();
    assert_eq!(
        token.credential.secret().expose(),
        jwt,
        "no refresh was attempted"
    );
    assert_eq!(token.expires_at, Some(exp));
}

/// A dotfiles-managed `~/.dhcore.ini` (a symlink to the user's own file)
/// stays a symlink after a write; the target is updated. Fails until
/// src/store/fsutil.rs writes through the user's own link.
#[test]
fn a_symlinked_dhcore_ini_stays_a_symlink() {
    let fx = Fx::new(60);
    let dotfiles = fx.dir.path().join("dotfiles");
    fs::create_dir_all(&dotfiles).unwrap();
    let target = dotfiles.join("dhcore.ini");
    fs::write(&target, "[dev]\nnote = kept\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&target, fx.path()).unwrap();
    let mut env = fx.pat_env();
    env.insert("DH_NAME".into(), "dev".into());
    let o = fx.options();
    fx.provider(&env, &o).authenticate(&o).unwrap();
    assert!(
        fs::symlink_metadata(fx.path())
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a regular file"
    );
    let text = fs::read_to_string(&target).unwrap();
    assert!(text.contains("dhcore_access_token"), "{text}");
    assert!(text.contains("note = kept"), "{text}");
    assert_eq!(mode(&target), 0o600);
}

/// The SDK takes `""` as set: an empty personal access token selects the
/// exchange (over an access token below it), and an empty file value shadows
/// the environment's. hubauth does the same, and says what is empty instead
/// of sending an empty credential.
#[test]
fn an_empty_value_is_set_as_for_the_sdk() {
    let fx = Fx::new(60);
    let good = fx.api.issue_token();
    let o = fx.options();
    let env = fx.env(&[
        ("DHCORE_ENDPOINT", &fx.api.url()),
        ("DHCORE_PERSONAL_ACCESS_TOKEN", ""),
        ("DHCORE_ACCESS_TOKEN", &good),
    ]);
    let p = fx.provider(&env, &o);
    assert_eq!(p.method(&o).unwrap(), Method::Exchange);
    let err = p.authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(
        err.message()
            .contains("DHCORE_PERSONAL_ACCESS_TOKEN is empty"),
        "{err}"
    );

    // An empty access token in the file shadows the environment's.
    fx.write("[__default]\ndhcore_access_token =\n");
    let env = fx.env(&[
        ("DHCORE_ENDPOINT", &fx.api.url()),
        ("DHCORE_ACCESS_TOKEN", &good),
    ]);
    let err = fx.provider(&env, &o).authenticate(&o).unwrap_err();
    assert!(
        err.message().contains("dhcore_access_token in [__default]"),
        "{err}"
    );
    assert!(err.message().contains("is empty"), "{err}");
}

/// SDK 0.15.11 reads `file[profile][key]` and takes the KeyError of a
/// missing profile as unset (file_module.py:139-142): the file gives nothing,
/// not even `[DEFAULT]`'s values, which hubauth used to inherit.
#[test]
fn a_missing_profile_takes_nothing_from_the_file() {
    let fx = Fx::new(60);
    let token = fx.api.issue_token();
    let env_token = fx.api.issue_token();
    fx.write(&format!(
        "[DEFAULT]\ndhcore_endpoint = http://127.0.0.1:9\ndhcore_access_token = {token}\n\n\
         [prod]\nx = 1\n"
    ));
    let mut o = fx.options();
    o.set("profile", "staging").unwrap();
    let p = fx.provider(&fx.env(&[("DHCORE_ENDPOINT", &fx.api.url())]), &o);
    let err = p.authenticate(&o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoCredentials, "{err}");
    // Not even the endpoint of [DEFAULT].
    let p = fx.provider(&fx.env(&[]), &o);
    assert_eq!(p.server(), "");
    // The environment's credentials are used.
    let env = fx.env(&[
        ("DHCORE_ENDPOINT", &fx.api.url()),
        ("DHCORE_ACCESS_TOKEN", &env_token),
    ]);
    let got = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_eq!(got.credential.secret().expose(), env_token);
    // An existing profile inherits [DEFAULT] as ConfigParser does.
    o.set("profile", "prod").unwrap();
    let env = fx.env(&[("DHCORE_ENDPOINT", &fx.api.url())]);
    let got = fx.provider(&env, &o).authenticate(&o).unwrap();
    assert_eq!(got.credential.secret().expose(), token);
    // save_token creates a new profile.
    o.set("profile", "staging").unwrap();
    fx.provider(&env, &o).save_token("tok-staging", &o).unwrap();
    assert_eq!(
        fx.ini().get("staging", "dhcore_access_token"),
        Some("tok-staging")
    );
}
