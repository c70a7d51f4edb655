//! A hostile OpenID Connect issuer on 127.0.0.1, scripted per test: it logs a
//! device-flow user in at the first poll, and can put any string where a
//! server string goes (the username, the user code, the verification URL, an
//! error description) or answer chosen grants with a page that echoes the
//! request back (raw, and base64-encoded), as a WAF or debugging proxy does.
//!
//! [`echo_server`] is the same echo for every request, for the hubs' own
//! checks (CAVE, DagsHub, DHCore's token exchange).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hubauth_testkit::http::{Handler, Request, Response, Server};
use serde_json::{Value, json};

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// What the issuer says and does.
#[derive(Clone, Debug)]
pub struct Script {
    /// `preferred_username` of the id token.
    pub username: String,
    /// The device flow's user code (percent-encoded into
    /// `verification_uri_complete`).
    pub user_code: String,
    /// Replaces the `verification_uri_complete` built from the user code.
    pub verification_uri_complete: Option<String>,
    /// The device authorization endpoint answers this error instead (HTTP 400).
    pub device_error: Option<Value>,
    /// Grant types answered with an echo of the request (HTTP 400, text).
    pub echo_grants: Vec<&'static str>,
    pub echo_style: Echo,
    /// `expires_in` of the tokens issued.
    pub ttl: u64,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            username: "alice".into(),
            user_code: "ABCD-EFGH".into(),
            verification_uri_complete: None,
            device_error: None,
            echo_grants: Vec::new(),
            echo_style: Echo::Plain,
            ttl: 3600,
        }
    }
}

/// A running issuer; `issued` holds every secret it handed out.
pub struct HostileOidc {
    pub server: Server,
    pub issued: Arc<Mutex<Vec<String>>>,
}

impl HostileOidc {
    pub fn start(script: Script) -> HostileOidc {
        let issued = Arc::new(Mutex::new(Vec::new()));
        let handler = Issuer {
            script,
            issued: issued.clone(),
        };
        let server = Server::start(Arc::new(handler)).unwrap();
        HostileOidc { server, issued }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().unwrap().clone()
    }
}

struct Issuer {
    script: Script,
    issued: Arc<Mutex<Vec<String>>>,
}

impl Issuer {
    fn issue(&self, prefix: &str) -> String {
        let mut issued = self.issued.lock().unwrap();
        let value = format!("{prefix}-{:04}-{}", issued.len(), std::process::id());
        issued.push(value.clone());
        value
    }
}

/// An unsigned JWT with `claims` (hubauth reads an id token's claims; it
/// does not verify a signature it has no key for).
fn unsigned_jwt(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!("{}.{}.sig", part(&json!({"alg": "none"})), part(claims))
}

/// How an echoing proxy shows the request it received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// As it was sent (a form percent-encoded).
    Plain,
    /// base64-encoded, as a debugging page may dump it.
    Base64,
}

/// The page an echoing proxy answers: the request's body and credential
/// headers, shown as `style` says.
pub fn echo(request: &Request, style: Echo) -> Response {
    let body = String::from_utf8_lossy(&request.body);
    let authorization = request.header("authorization").unwrap_or("");
    let cookie = request.header("cookie").unwrap_or("");
    let sent = format!("{body} Authorization: {authorization} Cookie: {cookie}");
    let shown = match style {
        Echo::Plain => sent,
        Echo::Base64 => STANDARD.encode(&sent),
    };
    Response::text(400, format!("Bad Request. You sent: {shown}"))
}

impl Handler for Issuer {
    fn handle(&self, request: &Request) -> Response {
        let base = &request.base_url;
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/.well-known/openid-configuration") => Response::json(
                200,
                &json!({
                    "issuer": base,
                    "token_endpoint": format!("{base}/token"),
                    "device_authorization_endpoint": format!("{base}/device_authorization"),
                    "authorization_endpoint": format!("{base}/authorize"),
                    "grant_types_supported": [DEVICE_GRANT, "refresh_token"],
                }),
            ),
            ("POST", "/device_authorization") => {
                if let Some(error) = &self.script.device_error {
                    return Response::json(400, error);
                }
                let code = &self.script.user_code;
                let complete = self
                    .script
                    .verification_uri_complete
                    .clone()
                    .unwrap_or_else(|| {
                        let encoded: String =
                            url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
                        format!("{base}/device?user_code={encoded}")
                    });
                Response::json(
                    200,
                    &json!({
                        "device_code": self.issue("device-code"),
                        "user_code": code,
                        "verification_uri": format!("{base}/device"),
                        "verification_uri_complete": complete,
                        "expires_in": 60,
                    }),
                )
            }
            ("POST", "/token") => {
                let form = match request.form() {
                    Ok(form) => form,
                    Err(refusal) => return refusal,
                };
                let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
                if self.script.echo_grants.contains(&grant) {
                    return echo(request, self.script.echo_style);
                }
                let claims = json!({
                    "iss": base,
                    "sub": "user-1",
                    "preferred_username": self.script.username,
                });
                Response::json(
                    200,
                    &json!({
                        "access_token": self.issue("access-token"),
                        "refresh_token": self.issue("refresh-token"),
                        "id_token": unsigned_jwt(&claims),
                        "token_type": "Bearer",
                        "expires_in": self.script.ttl,
                    }),
                )
            }
            _ => Response::error(404, "not_found", "no such endpoint"),
        }
    }
}

struct EchoEverything(Echo);

impl Handler for EchoEverything {
    fn handle(&self, request: &Request) -> Response {
        // An issuer document, so that a token exchange gets as far as its request.
        if request.path == "/.well-known/openid-configuration" {
            let base = &request.base_url;
            return Response::json(
                200,
                &json!({"issuer": base, "token_endpoint": format!("{base}/token")}),
            );
        }
        echo(request, self.0)
    }
}

/// A server that answers every request (but discovery) with [`echo`].
pub fn echo_server(style: Echo) -> Server {
    Server::start(Arc::new(EchoEverything(style))).unwrap()
}
