//! Secrets never leave their origin (issue 13, the network half). Each test
//! plays a hostile or broken server on 127.0.0.1 and "another host" on
//! 127.0.0.2 that records everything it receives: the secret must never
//! arrive there, and the error must be clear (its kind, both URLs without
//! their queries, no secret).

mod support;

use std::sync::{Arc, Mutex};

use hubauth::{ErrorKind, HookAction, Options, authenticate};
use support::recorder::{Recorded, Recorder, json, redirect, response};

const REFRESH_TOKEN: &str = "stored-refresh-secret-0001";
const CLIENT_SECRET: &str = "client-secret-value-0002";
const PAT: &str = "dhcore-pat-secret-0003";
const SECRETS: [&str; 3] = [REFRESH_TOKEN, CLIENT_SECRET, PAT];

/// The `http://host:port` this request was sent to.
fn own_url(request: &Recorded) -> String {
    let host = request
        .headers
        .iter()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    format!("http://{host}")
}

fn discovery_doc(issuer: &str, token_endpoint: &str) -> String {
    format!(
        r#"{{"issuer":"{issuer}","token_endpoint":"{token_endpoint}","device_authorization_endpoint":"{issuer}/device"}}"#
    )
}

/// An oidc token file that is expired and holds a refresh token.
fn expired_oidc_file(dir: &tempfile::TempDir, issuer: &str) -> std::path::PathBuf {
    let path = dir.path().join("t.toml");
    std::fs::write(
        &path,
        format!(
            "access_token = \"old-access\"\nrefresh_token = \"{REFRESH_TOKEN}\"\nexpires_at = 1\n\
             issuer = \"{issuer}\"\nclient_id = \"cli\"\n"
        ),
    )
    .unwrap();
    path
}

fn oidc_options(issuer: &str, path: &std::path::Path) -> Options {
    let mut o = Options::new();
    o.set("provider", "oidc").unwrap();
    o.set("issuer", issuer).unwrap();
    o.set("client_id", "cli").unwrap();
    o.set("client_secret", CLIENT_SECRET).unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o.set("interactive", "false").unwrap();
    o.set("validate", "false").unwrap();
    o.set("timeout_ms", "10000").unwrap();
    o
}

/// Nothing secret reached `other`, and `message` names no secret.
fn assert_nothing_secret(other: &Recorder, message: &str) {
    let received = other.everything();
    for secret in SECRETS {
        assert!(
            !received.contains(secret),
            "{secret} reached the other host:\n{received}"
        );
        assert!(!message.contains(secret), "{message}");
    }
}

/// The error of a refused redirect: Insecure, naming both URLs without query.
fn assert_refused_redirect(err: &hubauth::Error, from: &str, to: &str) {
    assert_eq!(err.kind(), ErrorKind::Insecure, "{err}");
    let message = err.message();
    assert!(message.contains(from), "{from} not in: {message}");
    assert!(message.contains(to), "{to} not in: {message}");
    assert!(!message.contains("q=secret-query"), "{message}");
}

#[test]
fn a_token_endpoint_307_to_another_host_gets_no_refresh_token_or_client_secret() {
    let other = Recorder::start("127.0.0.2", |_| json(r#"{"access_token":"stolen"}"#));
    let target = format!("{}/steal?q=secret-query", other.url);
    let hub = Recorder::start("127.0.0.1", move |r| match r.path() {
        "/.well-known/openid-configuration" => {
            let me = own_url(r);
            json(&discovery_doc(&me, &format!("{me}/token")))
        }
        _ => redirect("307 Temporary Redirect", &target),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = expired_oidc_file(&dir, &hub.url);
    let err = authenticate(&oidc_options(&hub.url, &path)).unwrap_err();
    assert_nothing_secret(&other, err.message());
    assert!(other.requests().is_empty(), "{}", other.everything());
    assert_refused_redirect(
        &err,
        &format!("{}/token", hub.url),
        &format!("{}/steal", other.url),
    );
}

#[test]
fn a_discovery_document_from_another_host_is_refused() {
    // The other host serves a document that claims the issuer's name and
    // sends the token requests to itself.
    let issuer_shared: Arc<Mutex<String>> = Arc::default();
    let issuer = issuer_shared.clone();
    let other = Recorder::start("127.0.0.2", move |r| {
        let me = own_url(r);
        match r.path() {
            "/.well-known/openid-configuration" => json(&discovery_doc(
                &issuer.lock().unwrap(),
                &format!("{me}/token"),
            )),
            _ => json(r#"{"access_token":"stolen"}"#),
        }
    });
    let other_url = other.url.clone();
    let hub = Recorder::start("127.0.0.1", move |_| {
        redirect(
            "302 Found",
            &format!("{other_url}/.well-known/openid-configuration?q=secret-query"),
        )
    });
    *issuer_shared.lock().unwrap() = hub.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = expired_oidc_file(&dir, &hub.url);
    let err = authenticate(&oidc_options(&hub.url, &path)).unwrap_err();
    assert_nothing_secret(&other, err.message());
    assert!(
        other.requests().iter().all(|r| r.path() != "/token"),
        "{}",
        other.everything()
    );
    assert_refused_redirect(
        &err,
        &format!("{}/.well-known/openid-configuration", hub.url),
        &format!("{}/.well-known/openid-configuration", other.url),
    );
}

#[test]
fn a_same_origin_redirect_of_a_plain_get_still_works() {
    // Some issuers move their discovery document within their own origin.
    let hub = Recorder::start("127.0.0.1", |r| match r.path() {
        "/.well-known/openid-configuration" => {
            redirect("301 Moved Permanently", "/moved/openid-configuration")
        }
        "/moved/openid-configuration" => {
            let me = own_url(r);
            json(&discovery_doc(&me, &format!("{me}/token")))
        }
        "/token" => json(
            r#"{"access_token":"new-access","refresh_token":"r2","expires_in":3600,"token_type":"Bearer"}"#,
        ),
        _ => response("404 Not Found", &[], ""),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = expired_oidc_file(&dir, &hub.url);
    let auth = authenticate(&oidc_options(&hub.url, &path)).unwrap();
    assert_eq!(auth.token().unwrap().expose(), "new-access");
    let paths: Vec<String> = hub
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert!(
        paths.contains(&"/moved/openid-configuration".to_string()),
        "{paths:?}"
    );
}

#[test]
fn a_hostile_refresh_reply_changes_neither_issuer_nor_client() {
    let hub = Recorder::start("127.0.0.1", |r| match r.path() {
        "/.well-known/openid-configuration" => {
            let me = own_url(r);
            json(&discovery_doc(&me, &format!("{me}/token")))
        }
        _ => json(
            r#"{"access_token":"new-access","refresh_token":"r2","expires_in":3600,
                "issuer":"https://evil.example","client_id":"evil",
                "token_endpoint":"https://evil.example/t","refresh_url":"https://evil.example/r"}"#,
        ),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = expired_oidc_file(&dir, &hub.url);
    authenticate(&oidc_options(&hub.url, &path)).unwrap();
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(!file.contains("evil"), "{file}");
    assert!(
        file.contains(&format!("issuer = \"{}\"", hub.url)),
        "{file}"
    );
    assert!(file.contains("client_id = \"cli\""), "{file}");
}

/// An expired auth.toml for `server` whose refresh goes to `refresh_url`.
fn expired_pkg_file(dir: &tempfile::TempDir, refresh_url: &str) -> std::path::PathBuf {
    let path = dir.path().join("auth.toml");
    std::fs::write(
        &path,
        format!(
            "access_token = \"a\"\nid_token = \"old-id\"\nrefresh_token = \"{REFRESH_TOKEN}\"\n\
             refresh_url = \"{refresh_url}\"\nexpires_at = 1\nexpires_in = 3600\n"
        ),
    )
    .unwrap();
    path
}

fn juliahub_options(server: &str, path: &std::path::Path) -> Options {
    let mut o = Options::new();
    o.set("server", server).unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o.set("interactive", "false").unwrap();
    o.set("validate", "false").unwrap();
    o.set("timeout_ms", "10000").unwrap();
    o
}

#[test]
fn a_refresh_redirected_to_another_host_is_refused() {
    let other = Recorder::start("127.0.0.2", |_| {
        response(
            "200 OK",
            &[("content-type", "application/toml")],
            "id_token = \"stolen\"\nexpires_in = 3600\n",
        )
    });
    let target = format!("{}/renew?q=secret-query", other.url);
    let hub = Recorder::start("127.0.0.1", move |_| redirect("302 Found", &target));
    let dir = tempfile::tempdir().unwrap();
    let refresh_url = format!("{}/auth/renew/token.toml/v2/", hub.url);
    let path = expired_pkg_file(&dir, &refresh_url);
    let err = authenticate(&juliahub_options(&hub.url, &path)).unwrap_err();
    assert_nothing_secret(&other, err.message());
    assert!(other.requests().is_empty(), "{}", other.everything());
    assert_refused_redirect(&err, &refresh_url, &format!("{}/renew", other.url));
}

#[test]
fn a_refresh_reply_cannot_move_the_refresh_url() {
    let hub = Recorder::start("127.0.0.1", |_| {
        response(
            "200 OK",
            &[("content-type", "application/toml")],
            "id_token = \"new-id\"\naccess_token = \"new-access\"\nrefresh_token = \"r2\"\n\
             expires_in = 3600\nrefresh_url = \"https://evil.example/steal\"\n",
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let refresh_url = format!("{}/auth/renew/token.toml/v2/", hub.url);
    let path = expired_pkg_file(&dir, &refresh_url);
    let auth = authenticate(&juliahub_options(&hub.url, &path)).unwrap();
    assert_eq!(auth.token().unwrap().expose(), "new-id");
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(!file.contains("evil"), "{file}");
    assert!(file.contains(&refresh_url), "{file}");
}

#[test]
fn auth_configuration_from_another_host_is_refused() {
    let other = Recorder::start("127.0.0.2", |r| {
        let me = own_url(r);
        match r.path() {
            "/auth/configuration" => json(&format!(
                r#"{{"auth_flows":["classic","device"],"device_authorization_endpoint":"{me}/device/auth",
                    "device_token_endpoint":"{me}/device/token","device_token_refresh_url":"{me}/renew"}}"#
            )),
            "/device/auth" => json(&format!(
                r#"{{"device_code":"dc","user_code":"UC","verification_uri":"{me}/verify","expires_in":600,"interval":1}}"#
            )),
            _ => json(r#"{"access_token":"x","id_token":"y","refresh_token":"z","expires_in":60}"#),
        }
    });
    let target = format!("{}/auth/configuration?q=secret-query", other.url);
    let hub = Recorder::start("127.0.0.1", move |r| match r.path() {
        "/auth/configuration" => redirect("302 Found", &target),
        _ => response("404 Not Found", &[], ""),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    let opened: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = opened.clone();
    let mut o = juliahub_options(&hub.url, &path);
    o.set("interactive", "true").unwrap();
    o.set("maxcount", "1").unwrap();
    o.set_hook(Some(Arc::new(move |url: &str| {
        seen.lock().unwrap().push(url.to_string());
        HookAction::Continue
    })));
    let err = authenticate(&o).unwrap_err();
    assert!(
        opened.lock().unwrap().is_empty(),
        "{:?}",
        opened.lock().unwrap()
    );
    assert!(
        other
            .requests()
            .iter()
            .all(|r| r.path() == "/auth/configuration"),
        "{}",
        other.everything()
    );
    assert_refused_redirect(
        &err,
        &format!("{}/auth/configuration", hub.url),
        &format!("{}/auth/configuration", other.url),
    );
    assert!(!path.exists());
}

#[test]
fn a_pat_exchange_redirected_to_another_host_keeps_the_pat() {
    let other = Recorder::start("127.0.0.2", |_| json(r#"{"access_token":"stolen"}"#));
    let target = format!("{}/token?q=secret-query", other.url);
    let hub = Recorder::start("127.0.0.1", move |_| {
        redirect("308 Permanent Redirect", &target)
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dhcore.ini");
    std::fs::write(
        &path,
        format!(
            "[DEFAULT]\ncurrent_environment = p\n\n[p]\ndhcore_endpoint = {hub}\n\
             dhcore_personal_access_token = {PAT}\ndhcore_client_id = cli\n\
             oauth2_token_endpoint = {hub}/token\n",
            hub = hub.url
        ),
    )
    .unwrap();
    let mut o = Options::new();
    o.set("provider", "dhcore").unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    o.set("validate", "false").unwrap();
    o.set("interactive", "false").unwrap();
    o.set("timeout_ms", "10000").unwrap();
    let err = authenticate(&o).unwrap_err();
    assert_nothing_secret(&other, err.message());
    assert!(other.requests().is_empty(), "{}", other.everything());
    assert_refused_redirect(
        &err,
        &format!("{}/token", hub.url),
        &format!("{}/token", other.url),
    );
}

#[test]
fn a_file_url_from_the_device_authorization_is_never_opened() {
    for hostile in [
        "file:///etc/passwd",
        "-oProxyCommand=touch /tmp/x",
        "https://hub.example/\u{1b}]0;owned\u{7}",
    ] {
        let verification = serde_json::to_string(hostile).unwrap();
        let hub = Recorder::start("127.0.0.1", move |r| match r.path() {
            "/.well-known/openid-configuration" => {
                let me = own_url(r);
                json(&discovery_doc(&me, &format!("{me}/token")))
            }
            "/device" => json(&format!(
                r#"{{"device_code":"dc","user_code":"U\u001b[2JC","verification_uri":{verification},"expires_in":600}}"#
            )),
            _ => response(
                "400 Bad Request",
                &[],
                r#"{"error":"authorization_pending"}"#,
            ),
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        let opened: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = opened.clone();
        let mut o = oidc_options(&hub.url, &path);
        o.set("client_secret", "").unwrap();
        o.set("interactive", "true").unwrap();
        o.set("maxcount", "1").unwrap();
        o.set_hook(Some(Arc::new(move |url: &str| {
            seen.lock().unwrap().push(url.to_string());
            HookAction::Continue
        })));
        let err = authenticate(&o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Insecure, "{hostile:?}: {err}");
        assert!(opened.lock().unwrap().is_empty(), "{hostile:?}");
        assert!(!err.message().contains('\u{1b}'), "{err}");
    }
}
