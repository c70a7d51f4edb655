//! One HTTP client (reqwest with rustls) on one lazily started tokio runtime.
//!
//! Both are rebuilt in a child process after fork(): the parent's runtime
//! threads do not exist there and its pooled connections are shared sockets.
//! Bodies are capped and every request is bounded in time, so a hostile or
//! stalled server yields an error, never a hang or an unbounded allocation.
//!
//! # Redirects
//!
//! One policy, in [`check_redirect`], decides every redirect of every request
//! (the client's `redirect::Policy` calls it with the URLs so far and the
//! next one; the request's marks reach it through a task-local):
//!
//! - every hop, like the first URL, passes the https rule
//!   ([`require_secure_with`]: https, or http only to loopback or to the
//!   request's allowed http origin);
//! - a request that carries a credential (an `authorization` or `cookie`
//!   header, a form field in [`SECRET_FORM_FIELDS`], or marked with
//!   [`Request::credential`]) follows a redirect only to its own origin
//!   (scheme, host and port: never to another host, and never from https to
//!   http), and never a 307/308 that would send its body again;
//! - a document that decides where later secrets go (OIDC discovery,
//!   JuliaHub's `/auth/configuration`; [`Request::same_origin_only`]) is
//!   taken only from the origin asked;
//! - at most [`MAX_REDIRECTS`] hops.
//!
//! A refused redirect is an `Insecure` error naming both URLs without their
//! query strings (where secrets may be).
//!
//! # Secrets in replies
//!
//! A reply carries the secrets its request carried ([`SentSecrets`], taken
//! from the request in [`send`]): a proxy may echo the request in an error
//! page, and whatever hubauth quotes from a reply is redacted with them (see
//! [`sent_secrets`]).
//!
//! How a client is built (proxies, CA roots) is in [`client`]; one client is
//! kept per set of extra root files.

pub mod client;
pub(crate) mod failure;
pub mod sent_secrets;
mod tls;

pub use sent_secrets::SentSecrets;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::{Zeroize, Zeroizing};

use arc_swap::ArcSwapOption;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use reqwest::Url;

use crate::cancel::{self, Cancel};
use crate::error::{Error, Result};
use crate::server::{display_url, require_secure_with, same_origin};

/// Largest response body read; beyond it the request fails.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// Longest a single request may take when the caller's deadline is further away.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most redirects one request follows.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// Form fields whose value is a secret: a form with one of them makes the
/// request a credential-carrying one (see the module doc on redirects).
pub(crate) const SECRET_FORM_FIELDS: [&str; 10] = [
    "refresh_token",
    "client_secret",
    "device_code",
    "subject_token",
    "actor_token",
    "password",
    "code_verifier",
    "code",
    "token",
    "assertion",
];

/// What the redirect policy must know about the request being sent.
#[derive(Clone, Debug, Default)]
struct RedirectRule {
    credential: bool,
    same_origin: bool,
    has_body: bool,
    allowed_http: Option<url::Origin>,
}

tokio::task_local! {
    static RULE: RedirectRule;
}

/// Decides one redirect: `Ok` to follow it, else the error to fail with.
/// `previous` holds the URLs requested so far (the first one first).
fn check_redirect(rule: &RedirectRule, status: u16, next: &Url, previous: &[Url]) -> Result<()> {
    let (Some(first), Some(from)) = (previous.first(), previous.last()) else {
        return Err(Error::internal("a redirect without a request"));
    };
    let refuse = |why: &str| {
        Error::insecure(format!(
            "refused the redirect (HTTP {status}) from {} to {}: {why}",
            display_url(from.as_str()),
            display_url(next.as_str())
        ))
    };
    if require_secure_with(next, "redirect target", rule.allowed_http.as_ref()).is_err() {
        return Err(refuse(
            "the target is not https (plain http is allowed only for loopback hosts)",
        ));
    }
    if rule.credential && !same_origin(first, next) {
        return Err(refuse(
            "the request carries a credential, which goes only to the origin it was sent to",
        ));
    }
    if rule.same_origin && !same_origin(first, next) {
        return Err(refuse(
            "this document decides where credentials go, so it is taken only from the server asked",
        ));
    }
    if rule.credential && rule.has_body && matches!(status, 307 | 308) {
        return Err(refuse(
            "following it would send the request's secret body again",
        ));
    }
    if previous.len() > MAX_REDIRECTS {
        return Err(Error::network(format!(
            "more than {MAX_REDIRECTS} redirects from {}",
            display_url(first.as_str())
        )));
    }
    Ok(())
}

/// The client's redirect policy: [`check_redirect`] with the rule of the
/// request being sent (the strictest rule when there is none).
pub(crate) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let strict = RedirectRule {
            credential: true,
            same_origin: true,
            has_body: true,
            allowed_http: None,
        };
        let rule = RULE.try_with(Clone::clone).unwrap_or(strict);
        match check_redirect(
            &rule,
            attempt.status().as_u16(),
            attempt.url(),
            attempt.previous(),
        ) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

struct Net {
    pid: u32,
    runtime: tokio::runtime::Runtime,
    /// The clients built so far, by their extra root files (usually one).
    clients: Mutex<Vec<(client::Key, reqwest::Client)>>,
}

impl Net {
    /// The client for requests under `roots`, built on first use.
    fn client(&self, roots: &client::Roots) -> Result<reqwest::Client> {
        let key = roots.key();
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, found)) = clients.iter().find(|(k, _)| *k == key) {
            return Ok(found.clone());
        }
        let built = client::build(roots, &crate::env::process_env)?;
        clients.push((key, built.clone()));
        Ok(built)
    }
}

static NET: ArcSwapOption<Net> = ArcSwapOption::const_empty();

fn net() -> Result<Arc<Net>> {
    let pid = std::process::id();
    if let Some(current) = NET.load_full() {
        if current.pid == pid {
            return Ok(current);
        }
        // Inherited through fork(): its threads are gone, so dropping it could
        // block forever. Leak it deliberately; it is at most one per fork.
        std::mem::forget(current);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("hubauth-net")
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the network runtime: {e}")))?;
    let fresh = Arc::new(Net {
        pid,
        runtime,
        clients: Mutex::new(Vec::new()),
    });
    // Two threads may race here; the loser's instance is simply dropped.
    let previous = NET.compare_and_swap(&None::<Arc<Net>>, Some(fresh.clone()));
    match &*previous {
        Some(winner) if winner.pid == pid => Ok(winner.clone()),
        _ => {
            NET.store(Some(fresh.clone()));
            Ok(fresh)
        }
    }
}

/// A request body.
pub enum Body {
    None,
    /// application/x-www-form-urlencoded, properly percent-encoded.
    Form(Vec<(String, String)>),
    Json(serde_json::Value),
    Text(String),
}

/// One HTTP request. Header values may be secrets: they are never logged.
pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
    /// The caller's overall deadline (e.g. of a login); the request never runs past it.
    pub deadline: Option<Instant>,
    /// Carries a credential besides its headers and form fields (a JSON or
    /// text body that is secret): see [`Request::credential`].
    credential: bool,
    /// Redirects only within the origin asked: see [`Request::same_origin_only`].
    same_origin: bool,
    /// The one plain-http origin, besides loopback, this request may reach.
    allowed_http: Option<url::Origin>,
}

impl Request {
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            method: reqwest::Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: Body::None,
            deadline: None,
            credential: false,
            same_origin: false,
            allowed_http: None,
        }
    }

    pub fn post(url: impl Into<String>, body: Body) -> Self {
        Request {
            method: reqwest::Method::POST,
            url: url.into(),
            headers: Vec::new(),
            body,
            deadline: None,
            credential: false,
            same_origin: false,
            allowed_http: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    pub fn deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Marks the request as carrying a credential that the automatic rules
    /// cannot see (a secret in a JSON or text body, say). `authorization` and
    /// `cookie` headers and the form fields in [`SECRET_FORM_FIELDS`] mark it
    /// by themselves. Such a request is never redirected to another origin or
    /// to http, and never by a 307/308 that would replay its body; and every
    /// value of its body counts as a secret to redact from its reply.
    pub fn credential(mut self) -> Self {
        self.credential = true;
        self
    }

    /// Follows redirects only within the origin of the URL asked: for
    /// documents that decide where later credentials go (discovery,
    /// `/auth/configuration`), which must come from the server the user named.
    pub fn same_origin_only(mut self) -> Self {
        self.same_origin = true;
        self
    }

    /// Allows plain http to `origin` (and only it) besides loopback, on every
    /// hop. Only for an http endpoint the *user* configured for a hub whose
    /// SDK allows it; never for an origin a server named.
    pub fn allow_http_origin(mut self, origin: Option<url::Origin>) -> Self {
        self.allowed_http = origin;
        self
    }

    /// Whether the request carries a credential (see [`Request::credential`]).
    pub fn carries_credential(&self) -> bool {
        self.credential
            || self
                .headers
                .iter()
                .any(|(name, _)| matches!(*name, "authorization" | "cookie"))
            || match &self.body {
                Body::Form(fields) => fields
                    .iter()
                    .any(|(name, _)| SECRET_FORM_FIELDS.contains(&name.as_str())),
                _ => false,
            }
    }

    fn redirect_rule(&self) -> RedirectRule {
        RedirectRule {
            credential: self.carries_credential(),
            same_origin: self.same_origin,
            has_body: !matches!(self.body, Body::None),
            allowed_http: self.allowed_http.clone(),
        }
    }
}

/// Header values and bodies may hold secrets (a bearer or Basic value, a
/// refresh token, a client secret, a device code): zeroed when the request
/// is freed, as a response's body is. reqwest keeps copies of its own; this
/// leaves none of ours.
impl Drop for Request {
    fn drop(&mut self) {
        for (_, value) in &mut self.headers {
            value.zeroize();
        }
        match &mut self.body {
            Body::None => {}
            Body::Form(fields) => fields.iter_mut().for_each(|(_, v)| v.zeroize()),
            Body::Json(value) => crate::secret::scrub_json(value),
            Body::Text(text) => text.zeroize(),
        }
    }
}

/// A response whose body has been read (at most [`MAX_BODY`] bytes). The
/// body may hold tokens: it is zeroed when dropped.
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Zeroizing<Vec<u8>>,
    /// The server's clock: its `Date` header in unix seconds, if it sent a valid one.
    pub date: Option<i64>,
    /// The secrets the request carried: whatever is quoted from this reply
    /// is redacted with them (see [`sent_secrets`]).
    pub sent_secrets: SentSecrets,
    /// Host and port of the URL asked, for messages ("" when not sent).
    pub host: String,
}

impl Response {
    /// A reply read without sending a request (tests, fuzzing): no content
    /// type, no date, no secrets sent.
    pub fn from_parts(status: u16, body: &[u8]) -> Self {
        Response {
            status,
            content_type: None,
            body: Zeroizing::new(body.to_vec()),
            date: None,
            sent_secrets: SentSecrets::none(),
            host: String::new(),
        }
    }

    /// Whether the reply is an HTML page: a web server's or a proxy's, not
    /// a hub's API.
    pub fn is_html(&self) -> bool {
        failure::is_html(self.content_type.as_deref(), &self.body)
    }

    /// The error for this reply when it is an HTML page where a hub's API
    /// was asked (not retried: see [`failure::not_a_hub`]); `key` names
    /// the option that names the server.
    pub fn not_a_hub(&self, what: &str, key: &str) -> Option<Error> {
        self.is_html()
            .then(|| failure::not_a_hub(what, &self.host, self.status, key))
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, or a `Server` error naming `what` (an HTML page
    /// says it is not a hub's API).
    pub fn json(&self, what: &str) -> Result<serde_json::Value> {
        parse_json(&self.body, what).map_err(|e| self.not_a_hub(what, "server").unwrap_or(e))
    }

    /// The body as UTF-8 text, or a `Server` error naming `what`.
    pub fn text(&self, what: &str) -> Result<&str> {
        parse_text(&self.body, what)
    }
}

/// A reply body as JSON, or a `Server` error naming `what`.
pub fn parse_json(body: &[u8], what: &str) -> Result<serde_json::Value> {
    serde_json::from_slice(body).map_err(|e| {
        Error::server(format!(
            "{what}: the server's reply is not valid JSON ({e})"
        ))
    })
}

/// A reply body as UTF-8 text, or a `Server` error naming `what`.
pub fn parse_text<'a>(body: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(body)
        .map_err(|_| Error::server(format!("{what}: the server's reply is not UTF-8 text")))
}

/// Sends `request` and reads the whole body. Connection failures before the
/// request was sent are retried once; nothing that may have reached the server
/// is ever retried (a refresh token must not be presented twice).
///
/// The call's cancel ([`crate::cancel::current`]) stops it: before sending
/// (an unsent `Cancelled`), or while waiting for the answer.
pub fn send(request: Request) -> Result<Response> {
    let net = net()?;
    let roots = crate::scope::roots();
    let http = net.client(&roots)?;
    let shown = display_url(&request.url);
    let what = format!("{} {shown}", request.method);
    let url = Url::parse(&request.url)
        .map_err(|_| Error::invalid_argument(format!("{what}: not a valid URL")))?;
    // A plain-http origin the user configured for a hub that allows it
    // (ServerUrl::parse_configured) is the one exception, for that origin.
    let request = match &request.allowed_http {
        Some(_) => request,
        None => {
            let configured = crate::server::configured_http_origin(&url);
            request.allow_http_origin(configured)
        }
    };
    require_secure_with(&url, "URL", request.allowed_http.as_ref())
        .map_err(|e| e.context(&what))?;
    let rule = request.redirect_rule();
    let cancel = cancel::current();
    if cancel.as_ref().is_some_and(Cancel::is_triggered) {
        return Err(cancel::cancelled(&what).unsent());
    }
    // The request's own deadline, never past the call's (crate::scope).
    let deadline = match (request.deadline, crate::scope::deadline()) {
        (Some(own), Some(call)) => Some(own.min(call)),
        (own, call) => own.or(call),
    };
    let timeout = match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::timeout(format!(
                    "{what}: no time left (`timeout_ms` ran out)"
                )));
            }
            left.min(REQUEST_TIMEOUT)
        }
        None => REQUEST_TIMEOUT,
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| Error::invalid_argument(format!("{what}: a header value is not valid")))?;
        if *name == "authorization" || *name == "cookie" {
            value.set_sensitive(true);
        }
        headers.append(HeaderName::from_static(name), value);
    }
    let build = || {
        let mut builder = http
            .request(request.method.clone(), &request.url)
            .headers(headers.clone());
        builder = match &request.body {
            Body::None => builder,
            Body::Form(fields) => builder.form(fields),
            Body::Json(value) => builder
                .header("content-type", "application/json")
                .body(value.to_string()),
            Body::Text(text) => builder
                .header("content-type", "text/plain")
                .body(text.clone()),
        };
        builder
    };
    let sent_secrets = SentSecrets::of(&request);
    let started = Instant::now();
    let received = net.runtime.block_on(RULE.scope(rule, async {
        let exchange = async {
            let mut attempt = 0;
            let mut response = loop {
                match build().send().await {
                    Ok(response) => break response,
                    Err(e) if e.is_connect() && attempt == 0 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(failure::describe(&what, &url, e, &roots)),
                }
            };
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let date = response
                .headers()
                .get("date")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_http_date);
            if response
                .content_length()
                .is_some_and(|n| n > MAX_BODY as u64)
            {
                return Err(too_large(&what));
            }
            // Sized from Content-Length; growing moves to a new buffer and
            // zeroes the old one, so no reallocation leaves a copy behind.
            let mut body = Zeroizing::new(Vec::with_capacity(
                response.content_length().unwrap_or(0) as usize,
            ));
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| failure::describe(&what, &url, e, &roots))?
            {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(too_large(&what));
                }
                if body.len() + chunk.len() > body.capacity() {
                    let wanted = (body.len() + chunk.len()).max(body.capacity() * 2);
                    let mut larger = Zeroizing::new(Vec::with_capacity(wanted.min(MAX_BODY)));
                    larger.extend_from_slice(&body);
                    body = larger;
                }
                body.extend_from_slice(&chunk);
            }
            warn_of_skew(&request.url, date);
            Ok(Response {
                status,
                content_type,
                body,
                date,
                sent_secrets: SentSecrets::none(),
                host: failure::host_of(&url),
            })
        };
        let bounded = async {
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(_) => Err(Error::network(format!(
                    "{what}: no complete answer from {} within {:.1} s: the server or the \
                     network is slow or down{}",
                    failure::host_of(&url),
                    started.elapsed().as_secs_f64(),
                    // Only the call's own deadline can be raised.
                    if timeout < REQUEST_TIMEOUT {
                        " (raise `timeout_ms` to wait longer)"
                    } else {
                        ""
                    }
                ))),
            }
        };
        match &cancel {
            None => bounded.await,
            Some(cancel) => tokio::select! {
                biased;
                () = cancel::triggered(cancel) => Err(cancel::cancelled(&what)),
                result = bounded => result,
            },
        }
    }));
    received.map(|response| Response {
        sent_secrets,
        ..response
    })
}

/// An HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, `Sun, 06 Nov 1994 08:49:37
/// GMT`, which is an RFC 2822 date) in unix seconds; None for anything else
/// (the obsolete RFC 850 and asctime forms too).
pub fn parse_http_date(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc2822)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Beyond this difference between a server's clock and ours, expiry times
/// computed by one side are wrong on the other.
pub(crate) const MAX_CLOCK_SKEW_S: i64 = 60;

/// How far the server's clock (its `Date`, read when the reply arrived) is
/// ahead of ours, in seconds; negative when it is behind.
pub fn clock_skew(date: Option<i64>) -> Option<i64> {
    date.map(|server| server - crate::token::unix_now())
}

/// Warns, once per process and server origin, when the server's clock is more
/// than [`MAX_CLOCK_SKEW_S`] away from ours.
fn warn_of_skew(url: &str, date: Option<i64>) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Some(skew) = clock_skew(date).filter(|s| s.abs() > MAX_CLOCK_SKEW_S) else {
        return;
    };
    let origin = url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned.contains(&origin) {
        return;
    }
    warned.push(origin.clone());
    drop(warned);
    let direction = if skew > 0 { "ahead of" } else { "behind" };
    crate::log::warn(&format!(
        "the clock of {origin} is {} s {direction} this computer's; token expiry \
         times may be wrong (set the clock right, e.g. enable NTP)",
        skew.abs()
    ));
}

fn too_large(what: &str) -> Error {
    Error::server(format!(
        "{what}: the reply is larger than {} KiB; refusing it",
        MAX_BODY / 1024
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn urls(list: &[&str]) -> Vec<Url> {
        list.iter().map(|u| Url::parse(u).unwrap()).collect()
    }

    fn rule(credential: bool, same_origin: bool, has_body: bool) -> RedirectRule {
        RedirectRule {
            credential,
            same_origin,
            has_body,
            allowed_http: None,
        }
    }

    #[test]
    fn credentials_stay_on_their_origin_and_on_https() {
        let check = |r: &RedirectRule, status: u16, from: &str, to: &str| {
            check_redirect(r, status, &Url::parse(to).unwrap(), &urls(&[from]))
        };
        let bearer = rule(true, false, false);
        let from = "https://hub.example/auth/renew?x=secret-query";
        // Same origin: fine.
        assert!(check(&bearer, 302, from, "https://hub.example/other").is_ok());
        // https → http on the same host: the bearer would travel in clear.
        let e = check(&bearer, 302, from, "http://hub.example/auth/renew?y=1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Insecure);
        assert!(
            e.message().contains("https://hub.example/auth/renew"),
            "{e}"
        );
        assert!(e.message().contains("http://hub.example/auth/renew"), "{e}");
        assert!(!e.message().contains("secret-query") && !e.message().contains("y=1"));
        // https → https elsewhere, or another port.
        assert!(check(&bearer, 302, from, "https://evil.example/").is_err());
        assert!(check(&bearer, 302, from, "https://hub.example:8443/").is_err());
        // A body with a secret is never replayed, even to the same origin.
        let form = rule(true, false, true);
        assert!(check(&form, 307, from, "https://hub.example/t").is_err());
        assert!(check(&form, 308, from, "https://hub.example/t").is_err());
        assert!(check(&form, 303, from, "https://hub.example/t").is_ok());
        // Loopback http counts as secure, but a change of origin still does not pass.
        assert!(check(&bearer, 302, "https://127.0.0.1/", "http://127.0.0.1/").is_err());
        // Documents: same origin only, even without a credential.
        let doc = rule(false, true, false);
        assert!(check(&doc, 301, "https://id.example/a", "https://id.example/b").is_ok());
        assert!(check(&doc, 301, "https://id.example/a", "https://evil.example/b").is_err());
        // Anything else may move, but only to https (or loopback).
        let plain = rule(false, false, false);
        assert!(check(&plain, 302, "https://a.example/", "https://b.example/").is_ok());
        assert!(check(&plain, 302, "https://a.example/", "http://b.example/").is_err());
        assert!(check(&plain, 302, "https://a.example/", "file:///etc/passwd").is_err());
        assert!(check(&plain, 302, "http://127.0.0.1:1/", "http://127.0.0.2:2/").is_ok());
    }

    #[test]
    fn the_same_origin_is_the_first_urls() {
        let bearer = rule(true, false, false);
        let hops = urls(&["https://hub.example/a", "https://hub.example/b"]);
        let next = Url::parse("https://evil.example/c").unwrap();
        assert!(check_redirect(&bearer, 302, &next, &hops).is_err());
        let many = urls(&["https://a.example/"; MAX_REDIRECTS + 1]);
        let next = Url::parse("https://a.example/x").unwrap();
        let e = check_redirect(&rule(false, false, false), 302, &next, &many).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Network);
    }

    #[test]
    fn requests_mark_themselves() {
        assert!(!Request::get("https://x/").carries_credential());
        assert!(Request::get("https://x/").bearer("t").carries_credential());
        assert!(
            Request::get("https://x/")
                .header("cookie", "a=b")
                .carries_credential()
        );
        let form = |k: &str| Body::Form(vec![(k.to_string(), "v".to_string())]);
        assert!(Request::post("https://x/", form("refresh_token")).carries_credential());
        assert!(Request::post("https://x/", form("device_code")).carries_credential());
        assert!(!Request::post("https://x/", form("client_id")).carries_credential());
        assert!(
            Request::post("https://x/", Body::Text("c".into()))
                .credential()
                .carries_credential()
        );
    }

    #[test]
    fn reads_http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Tue, 01 Dec 2026 21:22:14 GMT"),
            Some(1_796_160_134)
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date(""), None);
    }

    #[test]
    fn skew_is_server_minus_local() {
        let now = crate::token::unix_now();
        assert!(clock_skew(Some(now + 300)).unwrap() >= 299);
        assert!(clock_skew(Some(now - 300)).unwrap() <= -299);
        assert_eq!(clock_skew(None), None);
    }
}
