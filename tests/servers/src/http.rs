//! The tiny HTTP/1.1 plumbing every test server shares: a loopback server
//! (one thread per connection, one request per connection, `Connection: close`)
//! and a matching blocking client for tests.
//!
//! Plain `std::net` on purpose: no async runtime, nothing to compile, and
//! every response closes its connection, so a client never keeps a pooled
//! connection to a server that a test has already dropped.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::Serialize;

/// Largest request head (request line + headers) the server reads.
const MAX_HEAD: u64 = 64 * 1024;
/// Largest request body the server reads.
const MAX_BODY: usize = 1024 * 1024;
/// A client that sends nothing for this long is dropped.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One parsed HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, ... as sent.
    pub method: String,
    /// The path without the query, e.g. `/auth/token`.
    pub path: String,
    /// The raw query (after `?`, not decoded), if the target had one.
    pub query: Option<String>,
    /// Headers in the order sent; names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// `http://127.0.0.1:PORT` of the server that received the request.
    pub base_url: String,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// Whether the `Content-Type` media type (parameters ignored) is `mime`.
    pub fn content_type_is(&self, mime: &str) -> bool {
        self.header("content-type")
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|ct| ct.trim().eq_ignore_ascii_case(mime))
    }

    /// The query decoded as `application/x-www-form-urlencoded` pairs.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        match &self.query {
            Some(q) => form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
            None => Vec::new(),
        }
    }

    /// The body as a form (`application/x-www-form-urlencoded`), as OAuth 2.0
    /// requires: wrong content type, invalid UTF-8 or a repeated parameter →
    /// a 400 `invalid_request` response.
    pub fn form(&self) -> Result<HashMap<String, String>, Response> {
        if !self.content_type_is("application/x-www-form-urlencoded") {
            return Err(Response::error(
                400,
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        if std::str::from_utf8(&self.body).is_err() {
            return Err(Response::error(
                400,
                "invalid_request",
                "the body is not UTF-8",
            ));
        }
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(&self.body) {
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(Response::error(
                    400,
                    "invalid_request",
                    &format!("parameter {k:?} given more than once"),
                ));
            }
        }
        Ok(map)
    }

    /// The body parsed as JSON; a 400 response when it is not.
    pub fn json(&self) -> Result<serde_json::Value, Response> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Response::error(
                400,
                "invalid_request",
                &format!("the body is not JSON: {e}"),
            )
        })
    }

    /// The body as UTF-8 text; a 400 response when it is not.
    pub fn text(&self) -> Result<&str, Response> {
        std::str::from_utf8(&self.body)
            .map_err(|_| Response::error(400, "invalid_request", "the body is not UTF-8"))
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Extra headers (`Content-Length` and `Connection` are added when sent).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body of the given content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &impl Serialize) -> Response {
        let body = serde_json::to_vec(value).expect("serialising a response to JSON");
        Response::new(status, "application/json", body)
    }

    /// An OAuth-style JSON error: `{"error": code, "error_description": description}`.
    pub fn error(status: u16, code: &str, description: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({ "error": code, "error_description": description }),
        )
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.into())
    }

    /// A small HTML page.
    pub fn html(status: u16, title: &str, message: &str) -> Response {
        let body = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>{message}</p></body></html>\n"
        );
        Response::new(status, "text/html; charset=utf-8", body)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        // Origin servers with a clock send one (RFC 9110 §6.6.1).
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("date"))
        {
            let now = crate::util::now_unix() as i64;
            head.push_str(&format!("Date: {}\r\n", crate::util::http_date(now)));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        out.write_all(head.as_bytes())?;
        if !head_only {
            out.write_all(&self.body)?;
        }
        out.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        410 => "Gone",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// What a test server does with each request. Called on the connection's
/// own thread; a panic becomes a 500 response.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: &Request) -> Response;
}

/// A running loopback server; stops (and joins its accept thread) on drop.
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `127.0.0.1:0` and serves `handler` until stopped.
    pub fn start(handler: Arc<dyn Handler>) -> io::Result<Server> {
        Server::start_on(0, handler)
    }

    /// Binds `127.0.0.1:port` (0 = any free port).
    pub fn start_on(port: u16, handler: Arc<dyn Handler>) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let accept_thread = thread::Builder::new()
            .name(format!("test-server-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else {
                        // EMFILE and friends: back off instead of spinning.
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let handler = handler.clone();
                    let base_url = base_url.clone();
                    let spawned = thread::Builder::new()
                        .name("test-server-conn".into())
                        .spawn(move || serve_connection(stream, &*handler, &base_url));
                    if spawned.is_err() {
                        thread::sleep(Duration::from_millis(10));
                    }
                }
            })?;
        Ok(Server {
            addr,
            stopping,
            accept_thread: Some(accept_thread),
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections; requests already being served finish.
    pub fn stop(&mut self) {
        if let Some(handle) = self.accept_thread.take() {
            self.stopping.store(true, Ordering::SeqCst);
            // Wake the blocking accept().
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = handle.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_connection(stream: TcpStream, handler: &dyn Handler, base_url: &str) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let response = match read_request(&mut reader, &mut writer, base_url) {
        Ok(Some(request)) => {
            let head_only = request.method == "HEAD";
            let response = catch_unwind(AssertUnwindSafe(|| handler.handle(&request)))
                .unwrap_or_else(|_| {
                    Response::error(500, "server_error", "the test server's handler panicked")
                });
            log(&request.method, &request.path, response.status);
            let _ = response.write_to(&mut writer, head_only);
            let _ = writer.shutdown(Shutdown::Write);
            return;
        }
        Ok(None) => return, // connection closed before a request arrived
        Err(response) => response,
    };
    log("-", "(malformed request)", response.status);
    let _ = response.write_to(&mut writer, false);
    let _ = writer.shutdown(Shutdown::Write);
}

/// With `HUBAUTH_TEST_SERVER_LOG=1` in the environment, one line per request
/// on stderr: method, path (never the query or any header) and status.
fn log(method: &str, path: &str, status: u16) {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    let enabled = *ENABLED.get_or_init(|| {
        std::env::var_os("HUBAUTH_TEST_SERVER_LOG").is_some_and(|v| !v.is_empty() && v != "0")
    });
    if enabled {
        eprintln!("hubauth-test-server: {method} {path} -> {status}");
    }
}

fn bad(description: &str) -> Response {
    Response::error(400, "invalid_request", description)
}

/// Reads one line (without CRLF) counting against `budget`.
fn read_line(reader: &mut impl BufRead, budget: &mut u64) -> Result<Option<String>, Response> {
    let mut buf = Vec::new();
    let n = reader
        .by_ref()
        .take(*budget)
        .read_until(b'\n', &mut buf)
        .map_err(|_| bad("could not read the request"))?;
    if n == 0 {
        return Ok(None);
    }
    *budget -= n as u64;
    if buf.last() != Some(&b'\n') {
        return Err(if *budget == 0 {
            Response::error(431, "invalid_request", "request head too large")
        } else {
            bad("truncated request")
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| bad("request head is not UTF-8"))
}

fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    base_url: &str,
) -> Result<Option<Request>, Response> {
    let mut budget = MAX_HEAD;
    let Some(line) = read_line(reader, &mut budget)? else {
        return Ok(None);
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(bad("malformed request line"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };

    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader, &mut budget)? else {
            return Err(bad("truncated request head"));
        };
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("malformed header line"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }

    let mut request = Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body: Vec::new(),
        base_url: base_url.to_string(),
    };

    if request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }

    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = request.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("invalid Content-Length"))?;
        if len > MAX_BODY {
            return Err(Response::error(
                413,
                "invalid_request",
                "request body too large",
            ));
        }
        let mut body = vec![0; len];
        reader
            .read_exact(&mut body)
            .map_err(|_| bad("request body shorter than Content-Length"))?;
        request.body = body;
    }
    Ok(Some(request))
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, Response> {
    let mut body = Vec::new();
    loop {
        let mut budget = 1024;
        let line = read_line(reader, &mut budget)?.ok_or_else(|| bad("truncated chunk"))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| bad("invalid chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            let mut budget = MAX_HEAD;
            while let Some(line) = read_line(reader, &mut budget)? {
                if line.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(Response::error(
                413,
                "invalid_request",
                "request body too large",
            ));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|_| bad("truncated chunk"))?;
        let mut budget = 2;
        match read_line(reader, &mut budget)? {
            Some(l) if l.is_empty() => {}
            _ => return Err(bad("chunk not followed by CRLF")),
        }
    }
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// What [`request`] got back.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ClientResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> io::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not JSON ({e}): {}", self.text()),
            )
        })
    }
}

/// A blocking HTTP/1.1 request to an `http://host:port/...` URL, for tests
/// (e.g. a login hook that plays the browser). No TLS, no redirects.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<ClientResponse> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{m}: {url}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs are supported"))?;
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let target = target.split('#').next().unwrap_or("/").to_string();
    let addr_str = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = addr_str
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid("cannot resolve"))?;

    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_body = !body.is_empty() || !matches!(method, "GET" | "HEAD" | "DELETE");
    if has_body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
}

fn parse_response(mut raw: &[u8], head_only: bool) -> io::Result<ClientResponse> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    loop {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("no end of response head"))?;
        let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("response head not UTF-8"))?;
        let rest = &raw[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("malformed status line"))?;
        if (100..200).contains(&status) {
            raw = rest; // interim response (100 Continue)
            continue;
        }
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut response = ClientResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only {
            return Ok(response);
        }
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        response.body = if chunked {
            let mut reader = rest;
            read_chunked(&mut reader).map_err(|_| bad("malformed chunked body"))?
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().map_err(|_| bad("invalid Content-Length"))?;
            rest.get(..len)
                .ok_or_else(|| bad("body shorter than Content-Length"))?
                .to_vec()
        } else {
            rest.to_vec()
        };
        return Ok(response);
    }
}

/// `GET url`.
pub fn get(url: &str) -> io::Result<ClientResponse> {
    request("GET", url, &[], &[])
}

/// `GET url` with `Authorization: Bearer <token>`.
pub fn get_bearer(url: &str, token: &str) -> io::Result<ClientResponse> {
    let auth = format!("Bearer {token}");
    request("GET", url, &[("Authorization", &auth)], &[])
}

/// `POST url` with a body of the given content type.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> io::Result<ClientResponse> {
    request("POST", url, &[("Content-Type", content_type)], body)
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, value: &serde_json::Value) -> io::Result<ClientResponse> {
    post(url, "application/json", value.to_string().as_bytes())
}

/// `POST url` with a properly percent-encoded form body.
pub fn post_form(url: &str, pairs: &[(&str, &str)]) -> io::Result<ClientResponse> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    post(url, "application/x-www-form-urlencoded", body.as_bytes())
}
