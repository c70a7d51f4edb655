//! One HTTP client (reqwest with rustls) on one lazily started tokio runtime.
//!
//! Both are rebuilt in a child process after fork(): the parent's runtime
//! threads do not exist there and its pooled connections are shared sockets.
//! Bodies are capped and every request is bounded in time, so a hostile or
//! stalled server yields an error, never a hang or an unbounded allocation.

use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

use arc_swap::ArcSwapOption;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{Error, ErrorKind, Result};
use crate::server::display_url;

/// Largest response body read; beyond it the request fails.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// Longest a single request may take when the caller's deadline is further away.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("hubauth/", env!("CARGO_PKG_VERSION"));

struct Net {
    pid: u32,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
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
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| Error::internal(format!("cannot create the HTTP client: {e}")))?;
    let fresh = Arc::new(Net {
        pid,
        runtime,
        client,
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
}

impl Request {
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            method: reqwest::Method::GET,
            url: url.into(),
            headers: Vec::new(),
            body: Body::None,
            deadline: None,
        }
    }

    pub fn post(url: impl Into<String>, body: Body) -> Self {
        Request {
            method: reqwest::Method::POST,
            url: url.into(),
            headers: Vec::new(),
            body,
            deadline: None,
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
}

/// A response whose body has been read (at most [`MAX_BODY`] bytes). The
/// body may hold tokens: it is zeroed when dropped.
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Zeroizing<Vec<u8>>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, or a `Server` error naming `what`.
    pub fn json(&self, what: &str) -> Result<serde_json::Value> {
        parse_json(&self.body, what)
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
pub fn send(request: Request) -> Result<Response> {
    let net = net()?;
    let shown = display_url(&request.url);
    let what = format!("{} {shown}", request.method);
    let timeout = match request.deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::timeout(format!("{what}: no time left")));
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
        let mut builder = net
            .client
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
    let started = Instant::now();
    net.runtime.block_on(async {
        let exchange = async {
            let mut attempt = 0;
            let mut response = loop {
                match build().send().await {
                    Ok(response) => break response,
                    Err(e) if e.is_connect() && attempt == 0 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(describe(&what, e)),
                }
            };
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
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
            while let Some(chunk) = response.chunk().await.map_err(|e| describe(&what, e))? {
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
            Ok(Response {
                status,
                content_type,
                body,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Error::network(format!(
                "{what}: no complete answer within {:.1} s",
                started.elapsed().as_secs_f64()
            ))),
        }
    })
}

fn too_large(what: &str) -> Error {
    Error::server(format!(
        "{what}: the reply is larger than {} KiB; refusing it",
        MAX_BODY / 1024
    ))
}

fn describe(what: &str, err: reqwest::Error) -> Error {
    // The URL is already in `what` without its query; drop reqwest's copy.
    let err = err.without_url();
    let unsent = err.is_connect();
    let mut cause = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        cause = format!("{cause}: {inner}");
        source = inner.source();
    }
    let error = Error::new(ErrorKind::Network, format!("{what}: {cause}"));
    if unsent { error.unsent() } else { error }
}
