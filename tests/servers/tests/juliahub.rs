//! End-to-end tests of the JuliaHub test server over real HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hubauth_testkit::http::{self, ClientResponse};
use hubauth_testkit::juliahub::{DEVICE_GRANT_TYPE, DEVICE_REFRESH_PATH};
use hubauth_testkit::{Flow, JuliaHubConfig, JuliaHubServer, JuliaHubToken};
use serde_json::{Value, json};

const CHALLENGE: &str = "abcdefghijklmnopqrstuvwxyz012345";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn json_of(r: &ClientResponse) -> Value {
    r.json().unwrap()
}

fn error_of(r: &ClientResponse) -> String {
    json_of(r)["error"].as_str().unwrap().to_string()
}

fn api_v1(s: &JuliaHubServer, id_token: &str) -> ClientResponse {
    http::get_bearer(&format!("{}/api/v1", s.url()), id_token).unwrap()
}

fn refresh(url: &str, refresh_token: &str) -> ClientResponse {
    http::get_bearer(url, refresh_token).unwrap()
}

fn device_code(s: &JuliaHubServer) -> Value {
    let r = http::post_form(
        &format!("{}/auth/device/code", s.url()),
        &[("client_id", "device"), ("scope", "openid offline_access")],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    json_of(&r)
}

fn poll(s: &JuliaHubServer, device_code: &str) -> ClientResponse {
    http::post_form(
        &format!("{}/auth/token", s.url()),
        &[
            ("client_id", "device"),
            ("device_code", device_code),
            ("grant_type", DEVICE_GRANT_TYPE),
        ],
    )
    .unwrap()
}

fn claim(s: &JuliaHubServer, challenge: &str, response: &str) -> ClientResponse {
    http::post_json(
        &format!("{}/auth/claimtoken", s.url()),
        &json!({ "challenge": challenge, "response": response }),
    )
    .unwrap()
}

fn start_challenge(s: &JuliaHubServer) -> String {
    let r = http::post(
        &format!("{}/auth/challenge", s.url()),
        "text/plain",
        CHALLENGE.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn configuration_follows_the_flow() {
    let s = JuliaHubServer::start();
    let url = format!("{}/auth/configuration", s.url());
    let r = http::request("GET", &url, &[("Accept", "application/json")], &[]).unwrap();
    assert_eq!(r.status, 200);
    let base = s.url();
    assert_eq!(
        json_of(&r),
        json!({
            "auth_flows": ["classic", "device"],
            "device_authorization_endpoint": format!("{base}/auth/device/code"),
            "device_token_endpoint": format!("{base}/auth/token"),
            "device_token_refresh_url": format!("{base}/auth/renew/token.toml/device/"),
            "device_token_scope": "openid offline_access",
        })
    );
    assert_eq!(http::get(&url).unwrap().status, 406, "Accept is required");

    s.configure(|c| c.flow = Flow::Classic);
    let r = http::request("GET", &url, &[("Accept", "application/json")], &[]).unwrap();
    assert_eq!(r.status, 501);
    assert_eq!(s.stats().configuration_requests, 3);
}

#[test]
fn classic_flow_with_browser_visit() {
    let s = JuliaHubServer::start_with(JuliaHubConfig {
        flow: Flow::Classic,
        ..Default::default()
    });
    // The challenge must be 32 letters/digits.
    let bad = http::post(
        &format!("{}/auth/challenge", s.url()),
        "text/plain",
        b"short",
    )
    .unwrap();
    assert_eq!(bad.status, 400);

    let response = start_challenge(&s);
    assert!(!response.is_empty());

    let pending = claim(&s, CHALLENGE, &response);
    assert_eq!(pending.status, 200);
    let expiry = json_of(&pending)["expiry"].as_i64().unwrap();
    assert!((now() + 295..=now() + 301).contains(&expiry), "{expiry}");

    assert_eq!(claim(&s, CHALLENGE, "wrong").status, 404);
    assert_eq!(claim(&s, "x", &response).status, 404);
    let not_json = http::post(
        &format!("{}/auth/claimtoken", s.url()),
        "application/json",
        b"{",
    )
    .unwrap();
    assert_eq!(not_json.status, 400);

    let visit = http::get(&format!("{}/auth/response?{response}", s.url())).unwrap();
    assert_eq!(visit.status, 200);
    assert!(
        visit
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    let done = claim(&s, CHALLENGE, &response);
    assert_eq!(done.status, 200);
    let token = &json_of(&done)["token"];
    for key in [
        "access_token",
        "id_token",
        "refresh_token",
        "refresh_url",
        "user_name",
        "user_email",
        "token_type",
    ] {
        assert!(token[key].is_string(), "{key} in {token}");
    }
    assert_eq!(token["expires_in"], 3600);
    let expires_at = token["expires_at"].as_i64().unwrap();
    assert!((now() + 3599..=now() + 3600).contains(&expires_at));
    assert_eq!(token["user_name"], "alice");
    assert_eq!(token["user_email"], "alice@example.com");
    assert_eq!(
        token["refresh_url"],
        format!("{}/auth/renew/token.toml/v2/", s.url())
    );

    // Claimed once only.
    assert_eq!(claim(&s, CHALLENGE, &response).status, 404);

    // The id_token is the API bearer; the access_token is not.
    let me = api_v1(&s, token["id_token"].as_str().unwrap());
    assert_eq!(me.status, 200);
    assert_eq!(
        json_of(&me),
        json!({"api_version": "0.0.1", "username": "alice"})
    );
    assert_eq!(
        api_v1(&s, token["access_token"].as_str().unwrap()).status,
        401
    );

    let st = s.stats();
    assert_eq!(
        (st.challenges, st.claim_polls, st.tokens_claimed),
        (1, 5, 1)
    );
    assert_eq!(st.browser_visits, 1);
    assert_eq!(st.claim_poll_intervals_ms.len(), 1);
}

#[test]
fn classic_auto_approve_and_deny() {
    let s = JuliaHubServer::start_with(JuliaHubConfig {
        flow: Flow::Classic,
        auto_approve: true,
        user: "bob".into(),
        ..Default::default()
    });
    let response = start_challenge(&s);
    let r = claim(&s, CHALLENGE, &response);
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["token"]["user_name"], "bob");
    assert_eq!(json_of(&r)["token"]["user_email"], "bob@example.com");
    assert_eq!(s.stats().browser_visits, 0);

    s.configure(|c| {
        c.auto_approve = false;
        c.deny = true;
    });
    let response = start_challenge(&s);
    let visit = http::get(&format!("{}/auth/response?{response}", s.url())).unwrap();
    assert_eq!(visit.status, 403);
    let r = claim(&s, CHALLENGE, &response);
    assert_eq!(r.status, 403);
    assert_eq!(error_of(&r), "access_denied");

    // Unknown response visited.
    let visit = http::get(&format!("{}/auth/response?nope", s.url())).unwrap();
    assert_eq!(visit.status, 404);
}

#[test]
fn device_flow_happy_path() {
    let s = JuliaHubServer::start_with(JuliaHubConfig {
        device_interval_s: 0,
        ..Default::default()
    });
    let code = device_code(&s);
    let base = s.url();
    let user_code = code["user_code"].as_str().unwrap();
    assert_eq!(code["verification_uri"], format!("{base}/auth/device"));
    assert_eq!(
        code["verification_uri_complete"],
        format!("{base}/auth/device?user_code={user_code}")
    );
    assert_eq!(code["expires_in"], 300);
    assert_eq!(code["interval"], 0);
    let dc = code["device_code"].as_str().unwrap();

    let r = poll(&s, dc);
    assert_eq!(r.status, 400);
    assert_eq!(error_of(&r), "authorization_pending");

    let visit = http::get(code["verification_uri_complete"].as_str().unwrap()).unwrap();
    assert_eq!(visit.status, 200);

    let r = poll(&s, dc);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = json_of(&r);
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "id_token",
            "refresh_token",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(api_v1(&s, body["id_token"].as_str().unwrap()).status, 200);

    // The device code is single-use.
    let again = poll(&s, dc);
    assert_eq!(error_of(&again), "invalid_grant");

    // Refresh at the advertised device_token_refresh_url.
    let r = refresh(
        &format!("{base}{DEVICE_REFRESH_PATH}"),
        body["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let st = s.stats();
    assert_eq!(st.device_code_requests, 1);
    assert_eq!(st.device_token_polls, 3);
    assert_eq!(st.device_tokens_issued, 1);
    assert_eq!(st.last_device_client_id.as_deref(), Some("device"));
    assert_eq!(
        st.last_device_scope.as_deref(),
        Some("openid offline_access")
    );
    assert_eq!(st.device_poll_instants_ms.len(), 3);
    assert_eq!(st.device_first_poll_delays_ms.len(), 1);
    assert_eq!(
        st.device_poll_intervals_ms.len(),
        1,
        "the 3rd poll had no login"
    );
    assert_eq!(st.browser_visits, 1);
}

#[test]
fn device_flow_interval_and_slow_down() {
    let s = JuliaHubServer::start(); // interval 1 s
    let code = device_code(&s);
    let dc = code["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(&s, dc)), "authorization_pending");
    // Too fast: slow_down, and the interval grows to 6 s.
    assert_eq!(error_of(&poll(&s, dc)), "slow_down");
    sleep(Duration::from_millis(1100));
    assert_eq!(error_of(&poll(&s, dc)), "slow_down", "1.1 s < 6 s");
    let st = s.stats();
    assert_eq!((st.slow_downs_sent, st.too_fast_polls), (2, 2));
    assert_eq!(st.device_poll_intervals_ms.len(), 2);
    assert!(st.device_poll_intervals_ms[1] >= 1100);

    // An honest client at the interval is not slowed down.
    let code = device_code(&s);
    let dc = code["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(&s, dc)), "authorization_pending");
    sleep(Duration::from_millis(1000));
    assert_eq!(error_of(&poll(&s, dc)), "authorization_pending");

    // Forced slow_down for the first N polls.
    s.configure(|c| {
        c.slow_down_polls = 1;
        c.device_interval_s = 0;
        c.auto_approve = true;
    });
    s.reset_stats();
    let code = device_code(&s);
    let dc = code["device_code"].as_str().unwrap();
    assert_eq!(error_of(&poll(&s, dc)), "slow_down");
    assert_eq!(
        error_of(&poll(&s, dc)),
        "slow_down",
        "now polled faster than 0 + 5 s"
    );
    let st = s.stats();
    assert_eq!((st.slow_downs_sent, st.too_fast_polls), (2, 1));
}

#[test]
fn device_flow_denied_expired_and_bad_requests() {
    let s = JuliaHubServer::start_with(JuliaHubConfig {
        device_interval_s: 0,
        deny: true,
        ..Default::default()
    });
    let code = device_code(&s);
    let dc = code["device_code"].as_str().unwrap();
    let visit = http::get(code["verification_uri_complete"].as_str().unwrap()).unwrap();
    assert_eq!(visit.status, 403);
    assert_eq!(error_of(&poll(&s, dc)), "access_denied");

    // auto_approve + deny: denied on the first poll.
    s.configure(|c| c.auto_approve = true);
    let dc = device_code(&s)["device_code"].as_str().unwrap().to_string();
    assert_eq!(error_of(&poll(&s, &dc)), "access_denied");

    s.configure(|c| {
        c.deny = false;
        c.auto_approve = false;
        c.device_expires_in_s = 0;
    });
    let dc = device_code(&s)["device_code"].as_str().unwrap().to_string();
    assert_eq!(error_of(&poll(&s, &dc)), "expired_token");

    s.configure(|c| c.device_expires_in_s = 300);
    let dc = device_code(&s)["device_code"].as_str().unwrap().to_string();
    let token_url = format!("{}/auth/token", s.url());
    // JSON instead of a form.
    let r = http::post_json(
        &token_url,
        &json!({"client_id": "device", "device_code": dc, "grant_type": DEVICE_GRANT_TYPE}),
    )
    .unwrap();
    assert_eq!((r.status, error_of(&r)), (400, "invalid_request".into()));
    let r = http::post_form(
        &token_url,
        &[
            ("client_id", "device"),
            ("device_code", &dc),
            ("grant_type", "password"),
        ],
    )
    .unwrap();
    assert_eq!(error_of(&r), "unsupported_grant_type");
    let r = http::post_form(
        &token_url,
        &[
            ("client_id", "other"),
            ("device_code", &dc),
            ("grant_type", DEVICE_GRANT_TYPE),
        ],
    )
    .unwrap();
    assert_eq!((r.status, error_of(&r)), (401, "invalid_client".into()));
    assert_eq!(error_of(&poll(&s, "nope")), "invalid_grant");
    let r = http::post_form(&format!("{}/auth/device/code", s.url()), &[("scope", "x")]).unwrap();
    assert_eq!((r.status, error_of(&r)), (400, "invalid_request".into()));
    let r = http::post_json(
        &format!("{}/auth/device/code", s.url()),
        &json!({"client_id": "device"}),
    )
    .unwrap();
    assert_eq!(r.status, 400);
    // Unknown user code.
    let r = http::get(&format!("{}/auth/device?user_code=BBBB-BBBB", s.url())).unwrap();
    assert_eq!(r.status, 404);
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let s = JuliaHubServer::start();
    let t0 = s.issue_token(3600);
    assert_eq!(t0.refresh_url, format!("{}{DEVICE_REFRESH_PATH}", s.url()));

    let r = refresh(&t0.refresh_url, &t0.refresh_token);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/toml"));
    let t1: JuliaHubToken = toml::from_str(&r.text()).unwrap();
    assert_ne!(t1.refresh_token, t0.refresh_token);
    assert_ne!(t1.id_token, t0.id_token);
    assert_eq!(t1.refresh_url, t0.refresh_url);
    assert_eq!((t1.user_name.as_str(), t1.expires_in), ("alice", 3600));
    assert_eq!(api_v1(&s, &t1.id_token).status, 200);
    assert_eq!(
        api_v1(&s, &t0.id_token).status,
        200,
        "old id_token lives until expiry"
    );

    let r = refresh(&t1.refresh_url, &t1.refresh_token);
    let t2: JuliaHubToken = toml::from_str(&r.text()).unwrap();

    // Reusing t0's refresh token: 401, and the whole family is revoked.
    assert_eq!(refresh(&t0.refresh_url, &t0.refresh_token).status, 401);
    assert_eq!(refresh(&t2.refresh_url, &t2.refresh_token).status, 401);
    for t in [&t0, &t1, &t2] {
        assert_eq!(api_v1(&s, &t.id_token).status, 401);
    }
    let st = s.stats();
    assert_eq!(
        (
            st.refreshes,
            st.refresh_rejections,
            st.refresh_reuse_detected
        ),
        (2, 2, 1)
    );

    // Other logins are untouched.
    let other = s.issue_token(3600);
    assert_eq!(api_v1(&s, &other.id_token).status, 200);
    assert_eq!(refresh(&other.refresh_url, "unknown").status, 401);
    assert_eq!(
        http::get(&other.refresh_url).unwrap().status,
        401,
        "no bearer"
    );
    // The refresh token must go to its own refresh_url.
    let wrong = format!("{}/auth/renew/token.toml/v2/", s.url());
    assert_eq!(refresh(&wrong, &other.refresh_token).status, 400);
    s.configure(|c| c.refresh_fails = true);
    assert_eq!(
        refresh(&other.refresh_url, &other.refresh_token).status,
        401
    );
    s.configure(|c| c.refresh_fails = false);
    assert_eq!(
        refresh(&other.refresh_url, &other.refresh_token).status,
        200
    );
}

#[test]
fn expired_tokens_and_refresh() {
    let s = JuliaHubServer::start_with(JuliaHubConfig {
        flow: Flow::Classic,
        token_ttl_s: 1,
        ..Default::default()
    });
    let old = s.issue_token(-10);
    assert!(old.expires_at < now());
    assert_eq!(old.expires_in, -10);
    assert_eq!(
        old.refresh_url,
        format!("{}/auth/renew/token.toml/v2/", s.url())
    );
    assert_eq!(api_v1(&s, &old.id_token).status, 401);
    let r = refresh(&old.refresh_url, &old.refresh_token);
    assert_eq!(r.status, 200);
    let new: JuliaHubToken = toml::from_str(&r.text()).unwrap();
    assert_eq!(new.expires_in, 1);
    assert_eq!(api_v1(&s, &new.id_token).status, 200);
    sleep(Duration::from_millis(1100));
    assert_eq!(
        api_v1(&s, &new.id_token).status,
        401,
        "expired after its ttl"
    );
}

#[test]
fn api_v1_status_override_and_revoke() {
    let s = JuliaHubServer::start();
    let t = s.issue_token(3600);
    s.configure(|c| c.api_status = Some(500));
    assert_eq!(api_v1(&s, &t.id_token).status, 500);
    s.configure(|c| c.api_status = None);
    assert_eq!(api_v1(&s, &t.id_token).status, 200);
    assert_eq!(
        http::get(&format!("{}/api/v1", s.url())).unwrap().status,
        401
    );
    assert_eq!(s.revoke_all(), 1);
    assert_eq!(api_v1(&s, &t.id_token).status, 401);
    assert_eq!(refresh(&t.refresh_url, &t.refresh_token).status, 401);
    assert_eq!(s.stats().api_v1_calls, 4);
}

#[test]
fn control_endpoints_over_http() {
    let s = JuliaHubServer::start();
    let base = s.url();
    let r = http::post_json(
        &format!("{base}/_test/config"),
        &json!({"flow": "classic", "token_ttl_s": 2, "api_status": 503, "user": "carol"}),
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let cfg = json_of(&r);
    assert_eq!(
        (cfg["flow"].clone(), cfg["token_ttl_s"].clone()),
        (json!("classic"), json!(2))
    );
    assert_eq!(s.config().user, "carol");
    assert_eq!(s.config().api_status, Some(503));
    let r = http::post_json(
        &format!("{base}/_test/config"),
        &json!({"api_status": null}),
    )
    .unwrap();
    assert_eq!(json_of(&r)["api_status"], Value::Null);
    // Unknown keys and bad types are rejected, all or nothing.
    let r = http::post_json(
        &format!("{base}/_test/config"),
        &json!({"deny": true, "nope": 1}),
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(!s.config().deny);
    let r = http::post_json(&format!("{base}/_test/config"), &json!({"deny": "yes"})).unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        json_of(&http::get(&format!("{base}/_test/config")).unwrap())["user"],
        "carol"
    );

    let r = http::post(&format!("{base}/_test/issue?ttl_s=-5"), "text/plain", b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/toml"));
    let text = r.text();
    let t: JuliaHubToken = toml::from_str(&text).unwrap();
    assert_eq!((t.user_name.as_str(), t.expires_in), ("carol", -5));
    assert_eq!(t.refresh_url, format!("{base}/auth/renew/token.toml/v2/"));
    let keys: Vec<&str> = text
        .lines()
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "id_token",
            "refresh_token",
            "refresh_url",
            "expires_at",
            "expires_in",
            "user_name",
            "user_email"
        ]
    );
    let r = http::post(&format!("{base}/_test/issue?user=dave"), "text/plain", b"").unwrap();
    let t: JuliaHubToken = toml::from_str(&r.text()).unwrap();
    assert_eq!((t.user_name.as_str(), t.expires_in), ("dave", 2));
    let r = http::post(&format!("{base}/_test/issue?ttl_s=x"), "text/plain", b"").unwrap();
    assert_eq!(r.status, 400);

    http::post_json(
        &format!("{base}/_test/config"),
        &json!({"api_status": null}),
    )
    .unwrap();
    assert_eq!(api_v1(&s, &t.id_token).status, 200);
    let r = http::post(&format!("{base}/_test/revoke"), "text/plain", b"").unwrap();
    assert_eq!(json_of(&r)["revoked_logins"], 2);
    assert_eq!(api_v1(&s, &t.id_token).status, 401);

    let stats = json_of(&http::get(&format!("{base}/_test/stats")).unwrap());
    assert_eq!(stats["test_issued"], 2);
    assert_eq!(stats["api_v1_calls"], 2);
    http::post(&format!("{base}/_test/reset_stats"), "text/plain", b"").unwrap();
    assert_eq!(s.stats().api_v1_calls, 0);

    assert!(s.issue_token_toml(60).contains("refresh_url = "));
    assert_eq!(
        s.server_dir_name(),
        format!("127.0.0.1_{}", base.rsplit(':').next().unwrap())
    );
}

#[test]
fn unknown_paths_methods_and_malformed_requests() {
    let s = JuliaHubServer::start();
    let base = s.url();
    assert_eq!(http::get(&format!("{base}/nope")).unwrap().status, 404);
    let r = http::get(&format!("{base}/auth/token")).unwrap();
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert_eq!(
        http::post(&format!("{base}/api/v1"), "text/plain", b"")
            .unwrap()
            .status,
        405
    );

    let addr = base.strip_prefix("http://").unwrap();
    let raw = |bytes: &[u8]| {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(bytes).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    };
    assert!(raw(b"garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(raw(b"GET /api/v1 HTTP/1.1\r\nno colon\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(
        raw(b"POST /auth/token HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
            .starts_with("HTTP/1.1 400")
    );
    // A chunked form body is understood.
    let out = raw(
        b"POST /auth/device/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Transfer-Encoding: chunked\r\n\r\n9\r\nclient_id\r\n7\r\n=device\r\n0\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("device_code"));
    // Expect: 100-continue gets its interim response.
    let out = raw(
        b"POST /auth/challenge HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 32\r\n\r\nabcdefghijklmnopqrstuvwxyz012345",
    );
    assert!(
        out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"),
        "{out}"
    );
    // The server still works.
    assert_eq!(api_v1(&s, "x").status, 401);
}

#[test]
fn server_stops_on_drop() {
    let s = JuliaHubServer::start();
    let url = format!("{}/api/v1", s.url());
    drop(s);
    assert!(http::get(&url).is_err());
}

#[test]
fn plain_text_pending_and_refresh_on_another_host() {
    let s = JuliaHubServer::start_with(JuliaHubConfig {
        plain_pending: Some(401),
        device_interval_s: 0,
        ..JuliaHubConfig::default()
    });
    let code = device_code(&s);
    let r = poll(&s, code["device_code"].as_str().unwrap());
    assert_eq!(r.status, 401);
    assert!(r.json().is_err(), "plain text, not JSON: {}", r.text());

    let base = s.serve_refresh_on("127.0.0.2").unwrap();
    assert!(base.starts_with("http://127.0.0.2:"), "{base}");
    let t = s.issue_token(60);
    assert!(t.refresh_url.starts_with(&base), "{}", t.refresh_url);
    let r = refresh(&t.refresh_url, &t.refresh_token);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http::request(
        "GET",
        &format!("{}/auth/configuration", s.url()),
        &[("accept", "application/json")],
        b"",
    )
    .unwrap();
    assert!(
        json_of(&r)["device_token_refresh_url"]
            .as_str()
            .unwrap()
            .starts_with(&base)
    );
}

#[test]
fn legacy_api_serves_graphql_and_nodespecs() {
    let s = JuliaHubServer::start_with(JuliaHubConfig {
        legacy_api: true,
        ..JuliaHubConfig::default()
    });
    let t = s.issue_token(60);
    assert_eq!(api_v1(&s, &t.id_token).status, 404);
    let gql = |role: Option<&str>| {
        let mut headers = vec![
            ("authorization", format!("Bearer {}", t.id_token)),
            ("content-type", "application/json".to_string()),
        ];
        if let Some(role) = role {
            headers.push(("x-hasura-role", role.to_string()));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        http::request(
            "POST",
            &format!("{}/v1/graphql", s.url()),
            &headers,
            br#"{"query":"query UserInfo { users { username } }"}"#,
        )
        .unwrap()
    };
    let r = gql(Some("jhuser"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(json_of(&r)["data"]["users"][0]["username"], "alice");
    assert_eq!(gql(None).status, 400);
    let nodespecs = format!("{}/app/config/nodespecs/info", s.url());
    assert_eq!(
        http::get_bearer(&nodespecs, &t.id_token).unwrap().status,
        200
    );
    assert_eq!(http::get_bearer(&nodespecs, "nope").unwrap().status, 401);
    s.configure(|c| c.no_graphql = true);
    assert_eq!(gql(Some("jhuser")).status, 404);
    s.configure(|c| {
        c.legacy_api = false;
        c.api_version = false;
    });
    let r = api_v1(&s, &t.id_token);
    assert_eq!(r.status, 200);
    assert!(json_of(&r).get("api_version").is_none());
    let bare: toml::Table = s.issue_token_toml_without_refresh(60).parse().unwrap();
    assert!(bare.get("refresh_token").is_none() && bare.get("refresh_url").is_none());
    assert!(bare["expires"].is_integer());
}

#[test]
fn refresh_replies_as_older_or_misconfigured_servers_send_them() {
    let s = JuliaHubServer::start();
    let base = s.url();
    let r = http::post_json(
        &format!("{base}/_test/config"),
        &json!({
            "refresh_omits": ["id_token"],
            "refresh_moves_to": "/auth/renew/token.toml/v3/",
            "device_refresh_url": "",
            "expires_at_skew_s": -7200,
        }),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http::get(&format!("{base}/auth/configuration")).unwrap();
    assert_eq!(r.status, 406, "Accept: application/json is still needed");
    let t0 = s.issue_token(3600);
    assert!(
        t0.expires_at <= now() + 3600 - 7200 + 1,
        "{}",
        t0.expires_at
    );
    let r = refresh(&t0.refresh_url, &t0.refresh_token);
    assert_eq!(r.status, 200, "{}", r.text());
    let reply: toml::Table = r.text().parse().unwrap();
    assert!(reply.get("id_token").is_none(), "{reply:?}");
    assert!(reply["access_token"].is_str());
    let moved = format!("{base}/auth/renew/token.toml/v3/");
    assert_eq!(reply["refresh_url"].as_str(), Some(moved.as_str()));
    let next = reply["refresh_token"].as_str().unwrap();
    // The old endpoint is retired for this login; the new one answers.
    assert_eq!(refresh(&t0.refresh_url, next).status, 400);
    assert_eq!(refresh(&moved, next).status, 200);
    // Wrong types change nothing.
    for bad in [
        json!({"refresh_omits": "id_token"}),
        json!({"refresh_moves_to": "/elsewhere/"}),
        json!({"expires_at_skew_s": "1h"}),
    ] {
        let r = http::post_json(&format!("{base}/_test/config"), &bad).unwrap();
        assert_eq!(r.status, 400, "{bad}");
    }
}
