//! The properties the fuzz targets check, one function per target. Shared by
//! the cargo-fuzz targets (fuzz/fuzz_targets/*.rs, through `#[path]`) and by
//! tests/fuzz_regressions.rs, which runs them on stable over the seed corpora
//! and every crash input kept in fuzz/regressions/<target>/.
//!
//! Every function takes arbitrary bytes and panics when a property fails:
//! - the parser never panics;
//! - what hubauth writes, it reads back identically (parse → write → parse
//!   gives the same data, and writing again gives the same text);
//! - error messages never quote the input: [`MARKER`], which the seeds put in
//!   every token value, never appears in one (where the code promises it);
//! - error messages never carry control characters (a hostile server must not
//!   be able to write escape sequences or fake lines into a log).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use hubauth::flow::device;
use hubauth::flow::oauth::{self, TokenOutcome};
use hubauth::flow::pkg_classic::{self, ClaimReply};
use hubauth::flow::pkg_refresh;
use hubauth::net::Response;
use hubauth::provider::juliahub;
use hubauth::server::require_secure;
use hubauth::store::cave_json::SecretFile;
use hubauth::store::dagshub_yaml::{self, CachedToken, TokenCache, TokenType};
use hubauth::store::dhcore_ini::Ini;
use hubauth::store::oidc_toml::OidcToken;
use hubauth::store::pkg_toml::{self, PkgToken};
use hubauth::{Error, ErrorKind, Secret};

/// A distinctive substring the seeds put in every token value. No message may
/// contain it.
const MARKER: &str = "s3cr3t";

/// A fixed "now" (unix seconds, 2023-11-14), so runs are reproducible.
const NOW: i64 = 1_700_000_000;
/// The mtime given to parsed auth.toml files.
const MTIME: i64 = NOW - 3_600;

/// The HTTP statuses the reply targets choose from (the input's first byte).
const STATUSES: [u16; 8] = [200, 201, 400, 401, 403, 429, 500, 503];

fn status_and_body(data: &[u8]) -> Option<(u16, &[u8])> {
    let (&first, body) = data.split_first()?;
    Some((STATUSES[usize::from(first) % STATUSES.len()], body))
}

/// The input as a string a token could be: lossy UTF-8, without NULs (which no
/// token has and [`Secret`] refuses), at most 200 characters.
fn token_text(data: &[u8]) -> String {
    String::from_utf8_lossy(data)
        .chars()
        .filter(|&c| c != '\0')
        .take(200)
        .collect()
}

fn assert_clean_message(message: &str, quotes_input: bool) {
    if !quotes_input {
        assert!(
            !message.contains(MARKER),
            "an error message quotes the input: {message:?}"
        );
    }
    assert!(
        !message.chars().any(hubauth::log::is_unprintable),
        "an error message carries control or format characters: {message:?}"
    );
}

fn assert_format_error(e: &Error) {
    assert_eq!(e.kind(), ErrorKind::Format, "{}", e.message());
    assert_clean_message(e.message(), false);
}

/// TOML values compared as data (a NaN equals a NaN: the file says `nan`).
fn toml_eq(a: &toml::Value, b: &toml::Value) -> bool {
    use toml::Value as V;
    match (a, b) {
        (V::Float(x), V::Float(y)) => (x.is_nan() && y.is_nan()) || x == y,
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| toml_eq(a, b))
        }
        (V::Table(x), V::Table(y)) => tables_eq(x, y),
        _ => a == b,
    }
}

fn tables_eq(a: &toml::Table, b: &toml::Table) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| toml_eq(v, w)))
}

fn assert_same_table(before: &toml::Table, after: &toml::Table, text: &str) {
    assert!(
        tables_eq(before, after),
        "the TOML written does not read back as the same table:\n{text}"
    );
}

// ---------------------------------------------------------------------------
// auth.toml
// ---------------------------------------------------------------------------

/// Everything hubauth reads from a PkgToken, none of which may panic.
fn use_pkg_token(t: &PkgToken) {
    let _ = (t.is_usable(), t.is_refreshable(), t.refresh_url());
    let _ = (t.user_name(), t.expires_at());
    match t.to_token() {
        Ok(token) => {
            let _ = token.is_fresh_at(NOW, 600);
        }
        Err(e) => assert_clean_message(e.message(), false),
    }
}

/// Writes `t`, reads it back: same table, same meaning, same text.
fn pkg_round_trip(t: &PkgToken) {
    let text = t.to_toml();
    assert!(
        t.table().is_empty() || !text.is_empty(),
        "a non-empty auth.toml is written as nothing"
    );
    let back = PkgToken::parse(text.as_bytes(), Path::new("auth.toml"), Some(MTIME))
        .unwrap_or_else(|e| panic!("hubauth cannot read what it wrote ({e}):\n{}", *text));
    assert_same_table(t.table(), back.table(), &text);
    assert_eq!(back.to_toml(), text, "writing twice gives another text");
    assert_eq!(t.is_usable(), back.is_usable());
}

/// auth.toml: `PkgToken::parse`, the accessors, the round trip, and a reply
/// laid over it.
pub fn auth_toml(data: &[u8]) {
    let t = match PkgToken::parse(data, Path::new("auth.toml"), Some(MTIME)) {
        Ok(t) => t,
        Err(e) => return assert_format_error(&e),
    };
    use_pkg_token(&t);
    pkg_round_trip(&t);
    // The file laid over itself as a refresh reply (keeps every field).
    let mut refreshed = t.clone();
    refreshed.apply_reply(t.table().clone(), NOW);
    use_pkg_token(&refreshed);
    pkg_round_trip(&refreshed);
    // Any string survives as a token value.
    let mut with_value = t;
    with_value.set("id_token", toml::Value::String(token_text(data)));
    pkg_round_trip(&with_value);
}

// ---------------------------------------------------------------------------
// hubauth's oidc token file
// ---------------------------------------------------------------------------

fn oidc_round_trip(t: &OidcToken) {
    let text = t.to_toml();
    assert!(
        t.table().is_empty() || !text.is_empty(),
        "a non-empty token file is written as nothing"
    );
    let back = OidcToken::parse(text.as_bytes(), Path::new("t.toml"))
        .unwrap_or_else(|e| panic!("hubauth cannot read what it wrote ({e}):\n{}", *text));
    assert_same_table(t.table(), back.table(), &text);
    assert_eq!(back.to_toml(), text, "writing twice gives another text");
}

fn use_oidc_token(t: &OidcToken) {
    let _ = (t.access_token(), t.issuer(), t.client_id(), t.username());
    let _ = (t.expires_at(), t.refresh_token());
    match t.to_token() {
        Ok(token) => {
            let _ = token.is_fresh_at(NOW, 600);
        }
        Err(e) => assert_clean_message(e.message(), false),
    }
}

/// The oidc provider's TOML file: `OidcToken::parse` and the round trip.
pub fn oidc_toml(data: &[u8]) {
    let t = match OidcToken::parse(data, Path::new("t.toml")) {
        Ok(t) => t,
        Err(e) => return assert_format_error(&e),
    };
    use_oidc_token(&t);
    let _ = t.check_owner(Path::new("t.toml"), "https://id.example", "cli");
    oidc_round_trip(&t);
}

// ---------------------------------------------------------------------------
// the DagsHub token cache
// ---------------------------------------------------------------------------

/// A usable token as compared: value, type, expiry (ns).
type Usable = (String, TokenType, Option<i128>);

/// Each host (sorted: the file is written with sorted keys, as PyYAML does)
/// with its usable tokens, in the order they are tried.
fn hosts_and_tokens(cache: &TokenCache) -> Vec<(String, Vec<Usable>)> {
    let mut hosts: Vec<_> = cache
        .hosts()
        .into_iter()
        .map(|host| {
            let tokens = cache
                .tokens(host)
                .into_iter()
                .map(|t| {
                    (
                        t.access_token.expose().to_string(),
                        t.token_type,
                        t.expires_at_ns,
                    )
                })
                .collect();
            (host.to_string(), tokens)
        })
        .collect();
    hosts.sort_by(|a, b| a.0.cmp(&b.0));
    hosts
}

/// Writes `cache`, reads it back: same hosts and tokens, same text.
fn dagshub_round_trip(cache: &TokenCache) -> TokenCache {
    let text = cache.to_yaml();
    let back = TokenCache::parse(text.as_bytes(), Path::new("tokens"), NOW).unwrap_or_else(|e| {
        panic!(
            "hubauth cannot read what it wrote ({e}):\n{}",
            text.as_str()
        )
    });
    assert_eq!(
        hosts_and_tokens(cache),
        hosts_and_tokens(&back),
        "the cache written does not read back the same:\n{}",
        text.as_str()
    );
    assert_eq!(
        back.to_yaml().as_str(),
        text.as_str(),
        "writing twice gives another text"
    );
    back
}

/// The DagsHub token cache: `TokenCache::parse`, the round trip, and a token
/// made of the input pushed and read back.
pub fn dagshub_yaml(data: &[u8]) {
    let path = Path::new("tokens");
    let mut cache = match TokenCache::parse(data, path, NOW) {
        Ok(cache) => cache,
        Err(e) => return assert_format_error(&e),
    };
    // Skipped entries are described by host and reason, never by token.
    let hosts: Vec<String> = cache.hosts().into_iter().map(str::to_string).collect();
    let mut longest_first = hosts.clone();
    longest_first.sort_by_key(|h| std::cmp::Reverse(h.len()));
    for note in cache.skipped() {
        let mut note = note.clone();
        for host in longest_first.iter().filter(|h| !h.is_empty()) {
            note = note.replace(host.as_str(), "\0");
        }
        assert!(!note.contains(MARKER), "a note quotes a token: {note:?}");
    }
    dagshub_round_trip(&cache);

    // A token whose value is the input, pushed under the first host (or a
    // new one), is written so that it reads back exactly.
    let value = token_text(data);
    if value.is_empty() {
        return;
    }
    let host = hosts
        .first()
        .cloned()
        .unwrap_or_else(|| "https://dagshub.com".to_string());
    let expires_at_ns =
        4_071_006_245_678_901_000i128 + i128::from(data.len() as u32) * 1_000_000_007;
    let pushed = CachedToken {
        access_token: Secret::new(&value).expect("no NUL"),
        token_type: TokenType::Bearer,
        expires_at_ns: Some(expires_at_ns),
    };
    if cache.push(&host, &pushed).is_err() {
        return; // the host's value is not a list: hubauth leaves it alone
    }
    let back = dagshub_round_trip(&cache);
    assert!(back.contains(&host, &value), "a pushed token is lost");
    let found = back
        .tokens(&host)
        .into_iter()
        .find(|t| t.access_token.expose() == value)
        .expect("a pushed token reads back usable");
    // Written with microseconds, as the real client writes it.
    assert_eq!(
        found.expires_at_ns,
        Some(expires_at_ns - expires_at_ns.rem_euclid(1_000))
    );
    expiry_round_trip(expires_at_ns);
    let mut back = back;
    assert!(back.remove_token(&host, &value) >= 1);
    assert!(
        !back.contains(&host, &value),
        "a removed token is still there"
    );
}

/// An expiry is written with microseconds and read back as written.
fn expiry_round_trip(ns: i128) {
    if let Some(text) = dagshub_yaml::format_expiry(ns) {
        assert_eq!(
            dagshub_yaml::parse_expiry(&text),
            Some(ns - ns.rem_euclid(1_000)),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------
// CAVE secret files
// ---------------------------------------------------------------------------

/// CAVEclient's secret file: `SecretFile::parse`, the round trip, and a key
/// and token made of the input set and read back.
pub fn cave_json(data: &[u8]) {
    let path = Path::new("cave-secret.json");
    let mut file = match SecretFile::parse(data, path) {
        Ok(file) => file,
        Err(e) => return assert_format_error(&e),
    };
    let round_trip = |file: &SecretFile| {
        let text = file.to_json();
        let back = SecretFile::parse(text.as_bytes(), path).unwrap_or_else(|e| {
            panic!(
                "hubauth cannot read what it wrote ({e}):\n{}",
                text.as_str()
            )
        });
        let keys: Vec<&str> = file.keys().collect();
        assert_eq!(keys, back.keys().collect::<Vec<_>>(), "{}", text.as_str());
        for key in keys {
            assert_eq!(file.token(key), back.token(key), "{}", text.as_str());
        }
        assert_eq!(back.to_json().as_str(), text.as_str());
        assert!(text.is_ascii(), "json.dump writes ASCII only");
        back
    };
    round_trip(&file);
    let value = token_text(data);
    let key = value.chars().rev().take(20).collect::<String>();
    file.set(&key, &value);
    file.set("token", &value);
    let back = round_trip(&file);
    assert_eq!(
        back.token("token"),
        Some(value.as_str()).filter(|v| !v.is_empty())
    );
    assert!(back.contains(&key));
}

// ---------------------------------------------------------------------------
// token-endpoint replies
// ---------------------------------------------------------------------------

/// A token reply laid over the stores that take one.
fn apply_token_reply(reply: &oauth::TokenReply) {
    let mut oidc = OidcToken::new("https://id.example", "cli");
    oidc.apply_grant(reply, NOW);
    use_oidc_token(&oidc);
    oidc_round_trip(&oidc);
    oidc.apply_refresh(reply, NOW);
    use_oidc_token(&oidc);
    oidc_round_trip(&oidc);
    // juliahub's device flow saves the reply in auth.toml.
    let mut pkg = PkgToken::default();
    pkg.apply_reply(pkg_toml::table_from_json(&reply.to_map()), NOW);
    use_pkg_token(&pkg);
    pkg_round_trip(&pkg);
}

/// The token endpoint: `oauth::parse_token_reply` (success and OAuth error
/// replies) and `OAuthError::from_reply`. The first byte picks the status.
pub fn token_reply(data: &[u8]) {
    let Some((status, body)) = status_and_body(data) else {
        return;
    };
    let success = (200..300).contains(&status);
    let reply = Response::from_parts(status, body);
    match oauth::parse_token_reply(&reply, "refresh") {
        Ok(TokenOutcome::Token(reply)) => {
            assert!(success);
            assert!(reply.text("access_token").is_some());
            apply_token_reply(&reply);
        }
        Ok(TokenOutcome::Refused(refusal)) => {
            assert!(!success);
            assert_eq!(refusal.status, status);
            if let Some(d) = &refusal.description {
                // 300 characters, each at most `\u{e007f}` once escaped.
                assert!(d.chars().count() <= 300 * 9);
                assert!(!d.chars().any(hubauth::log::is_unprintable));
            }
            let e = refusal.into_error("refresh");
            assert!(matches!(
                e.kind(),
                ErrorKind::Authentication | ErrorKind::Server
            ));
            // The server's error and description are quoted, by design.
            assert_clean_message(e.message(), true);
        }
        Err(e) => {
            assert!(matches!(
                e.kind(),
                ErrorKind::Authentication | ErrorKind::Server
            ));
            // A failed success reply may hold a token: never quoted. An error
            // reply's body is quoted (shortened), by design.
            assert_clean_message(e.message(), !success);
            if !success {
                // 200 characters quoted, each at most `\u{e007f}` once escaped.
                assert!(
                    e.message().chars().count() < 200 * 9 + 200,
                    "{}",
                    e.message()
                );
            }
        }
    }
    if let Some(refusal) = oauth::OAuthError::from_reply(&reply) {
        assert_clean_message(refusal.into_error("x").message(), true);
    }
}

// ---------------------------------------------------------------------------
// device authorization replies
// ---------------------------------------------------------------------------

/// The device authorization endpoint: `device::parse_authorization_reply`.
/// The first byte picks the status.
pub fn device_reply(data: &[u8]) {
    let Some((status, body)) = status_and_body(data) else {
        return;
    };
    let success = (200..300).contains(&status);
    match device::parse_authorization_reply(&Response::from_parts(status, body)) {
        Ok(a) => {
            assert!(success);
            assert!(a.expires_in.as_secs() <= 86_400);
            // The polling loop adds the interval (and `slow_down` steps) to now.
            let interval = a.interval.unwrap_or(device::DEFAULT_INTERVAL);
            let later = interval + device::SLOW_DOWN_STEP * 1_000;
            assert!(
                Instant::now().checked_add(later).is_some(),
                "the poll interval {interval:?} overflows the clock"
            );
            let _ = (a.url.len(), a.user_code.as_deref());
        }
        Err(e) => {
            // Insecure: a verification URI that is not https (or loopback http).
            assert!(matches!(
                e.kind(),
                ErrorKind::Authentication | ErrorKind::Server | ErrorKind::Insecure
            ));
            // The device code is a secret; a refusal's text is quoted by design.
            assert_clean_message(e.message(), !success);
        }
    }
}

// ---------------------------------------------------------------------------
// PkgAuthentication replies
// ---------------------------------------------------------------------------

/// A stored auth.toml the replies are laid over.
const STORED: &str = r#"access_token = "acc-s3cr3t"
id_token = "idt-s3cr3t"
refresh_token = "ref-s3cr3t"
refresh_url = "https://juliahub.example/auth/renew/token.toml/v2/"
expires_at = 1700000000
expires_in = 86400
user_name = "alice"
"#;

fn stored() -> PkgToken {
    PkgToken::parse(STORED.as_bytes(), Path::new("auth.toml"), Some(MTIME)).expect("valid")
}

/// PkgAuthentication's replies, the first byte picking which: 0 the TOML body
/// of a refresh (`pkg_refresh::parse_refresh_reply`, then laid over a stored
/// token), 1 the claimtoken JSON (`pkg_classic::parse_claim_reply`), 2 the
/// `/auth/configuration` JSON (`juliahub::parse_configuration`).
pub fn pkg_replies(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => match pkg_refresh::parse_refresh_reply(body) {
            Ok(reply) => {
                assert!(PkgToken::reply_has_token(&reply));
                // A reply never moves the refresh URL by itself (reply.rs);
                // the provider checks a moved one first (juliahub.rs).
                let mut t = stored();
                t.apply_reply(reply, NOW);
                assert_eq!(t.refresh_url(), stored().refresh_url());
                use_pkg_token(&t);
                pkg_round_trip(&t);
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Server);
                assert_clean_message(e.message(), false);
            }
        },
        1 => match pkg_classic::parse_claim_reply(body) {
            ClaimReply::Token(token) => {
                let mut t = PkgToken::default();
                t.apply_reply(pkg_toml::table_from_json(&token), NOW);
                use_pkg_token(&t);
                pkg_round_trip(&t);
            }
            ClaimReply::Expiry(expiry) => assert!(!expiry.is_nan()),
            ClaimReply::Unusable => {}
        },
        _ => match juliahub::parse_configuration(200, body) {
            Ok(Some(config)) => {
                for url in [&config.authorization, &config.token] {
                    let parsed = url::Url::parse(url).expect("a URL");
                    require_secure(&parsed, "endpoint").expect("secure");
                }
                // A refresh URL no refresh token may go to is left out.
                if let Some(url) = &config.refresh_url {
                    pkg_refresh::check_refresh_url(url).expect("a usable refresh URL");
                }
            }
            Ok(None) => {}
            Err(e) => {
                assert!(matches!(
                    e.kind(),
                    ErrorKind::Server | ErrorKind::Insecure | ErrorKind::InvalidArgument
                ));
                assert_clean_message(e.message(), true);
            }
        },
    }
}

// ---------------------------------------------------------------------------
// .dhcore.ini
// ---------------------------------------------------------------------------

/// `dhcore_ini`'s section names (crate-private there).
const DEFAULT_SECTION: &str = "DEFAULT";
const CURRENT_ENVIRONMENT: &str = "current_environment";

/// Everything an ini file means: each section (DEFAULT first) with its values,
/// inherited ones included.
fn ini_contents(ini: &Ini) -> Vec<(String, BTreeMap<String, String>)> {
    std::iter::once(DEFAULT_SECTION)
        .chain(ini.sections())
        .map(|name| (name.to_string(), ini.section(name)))
        .collect()
}

/// Writes `ini`, reads it back: same sections, keys and values, same text.
fn ini_round_trip(ini: &Ini) -> Ini {
    let text = ini
        .to_text()
        .unwrap_or_else(|e| panic!("hubauth cannot write what it read: {e}"));
    let back = Ini::parse(&text, Path::new(".dhcore.ini"))
        .unwrap_or_else(|e| panic!("hubauth cannot read what it wrote ({e}):\n{}", &*text));
    assert_eq!(
        ini_contents(ini),
        ini_contents(&back),
        "the file written does not read back the same:\n{text}"
    );
    assert_eq!(
        back.to_text().expect("writable"),
        text,
        "writing twice gives another text"
    );
    back
}

/// The DigitalHub SDK's `.dhcore.ini`: `Ini::parse`, the round trip, and a
/// token made of the input written to a profile and read back.
pub fn dhcore_ini(data: &[u8]) {
    // `load` refuses what is not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut ini = match Ini::parse(text, Path::new(".dhcore.ini")) {
        Ok(ini) => ini,
        Err(e) => return assert_format_error(&e),
    };
    let _ = (
        ini.current_environment(),
        ini.get("__default", "dhcore_endpoint"),
    );
    ini_round_trip(&ini);

    // What a token write does: the token into the profile, the profile made
    // current. Any value reads back as it is stored.
    let profile = ini
        .sections()
        .first()
        .map_or("__default".to_string(), |s| s.to_string());
    let value = token_text(data);
    for (section, key, value) in [
        (profile.as_str(), "dhcore_access_token", value.as_str()),
        (profile.as_str(), "DHCORE_Refresh_Token", "rt"),
        (DEFAULT_SECTION, CURRENT_ENVIRONMENT, profile.as_str()),
    ] {
        if let Err(e) = ini.set(section, key, value) {
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{}", e.message());
            return;
        }
    }
    let stored = ini
        .get_own(&profile, "dhcore_access_token")
        .expect("just set")
        .to_string();
    if let Err(e) = ini.to_text() {
        // ConfigParser skips comment lines inside a value, so a value with a
        // line starting with `#` or `;` cannot be stored; hubauth refuses to
        // write it rather than write something else.
        assert!(
            stored.lines().skip(1).any(|l| l.starts_with(['#', ';'])),
            "hubauth cannot write a value it accepted: {e}"
        );
        assert_eq!(e.kind(), ErrorKind::Internal);
        return;
    }
    let back = ini_round_trip(&ini);
    assert_eq!(
        back.get_own(&profile, "dhcore_access_token"),
        Some(stored.as_str())
    );
    assert_eq!(back.current_environment(), ini.current_environment());
    let mut back = back;
    assert!(back.remove(&profile, "dhcore_access_token"));
    ini_round_trip(&back);
}
