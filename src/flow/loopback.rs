//! The loopback redirect listener of a browser login (RFC 8252 §7.3): an HTTP
//! server on 127.0.0.1 (never another interface) that waits for the one
//! request carrying the authorization response.
//!
//! Any local user can connect to that port (`/proc/net/tcp` shows it), so no
//! client may hold the wait up: every socket is non-blocking and one `poll(2)`
//! watches the listener and all open connections together. A connection has
//! [`HEAD_BUDGET`] in total to send its request head (not per read, so a
//! client trickling a byte at a time is closed when the budget is spent) and
//! at most [`MAX_HEAD`] bytes; at most [`MAX_CONNECTIONS`] are open, and a new
//! one beyond that closes the one that has been quiet longest. The poll
//! wakes at least every [`TICK`], so the login's deadline (`timeout_ms`) and
//! its cancel are honoured within that, whatever the clients do.
//!
//! The request that ends the wait is a GET of the expected path whose `state`
//! matches; it gets a small "you can close this page" HTML page. Another path
//! (a browser's favicon request) gets a 404; the right path with a wrong or
//! missing `state`, another method or a broken request gets a 400; either way
//! the connection is closed and the listener keeps waiting until the login's
//! deadline.

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::flow::LoginContext;

/// The longest one `poll(2)` sleeps: how late a cancel or the deadline may
/// be seen.
const TICK: Duration = Duration::from_millis(100);
/// How long a connection may take, from its accept, to send its whole
/// request head. A browser sends the redirect's GET at once.
pub(crate) const HEAD_BUDGET: Duration = Duration::from_secs(2);
/// The largest request head read (the query of an authorization response is small).
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// The most connections open at once; a new one beyond closes the quietest.
pub(crate) const MAX_CONNECTIONS: usize = 32;
/// The most connections accepted in one pass, so reading is never starved.
const ACCEPTS_PER_PASS: usize = 64;

/// The authorization response the browser delivered (state already checked).
pub enum Callback {
    /// `code`: the authorization code.
    Code(String),
    /// `error` (and `error_description`) instead of a code, e.g. the user refused.
    Refused {
        error: String,
        description: Option<String>,
    },
}

impl Drop for Callback {
    fn drop(&mut self) {
        if let Callback::Code(code) = self {
            zeroize::Zeroize::zeroize(code);
        }
    }
}

/// A listening socket on 127.0.0.1.
pub struct Listener {
    socket: TcpListener,
    port: u16,
}

impl Listener {
    /// Binds 127.0.0.1:`port`, or a port the system picks when None.
    pub fn bind(port: Option<u16>) -> Result<Listener> {
        let wanted = port.unwrap_or(0);
        let socket =
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, wanted))).map_err(|e| {
                match port {
                    Some(p) => Error::invalid_argument(format!(
                        "browser login: cannot listen on 127.0.0.1:{p} (`redirect_port`): {e}"
                    )),
                    None => {
                        Error::internal(format!("browser login: cannot listen on 127.0.0.1: {e}"))
                    }
                }
            })?;
        let port = socket
            .local_addr()
            .map_err(|e| Error::internal(format!("browser login: no local address: {e}")))?
            .port();
        // Accepting never blocks: the wait polls it with the connections.
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::internal(format!("browser login: listener setup: {e}")))?;
        Ok(Listener { socket, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }

    /// Waits for `GET <path>?…&state=<state>…` until the login's deadline or
    /// its cancel, serving every connection that comes meanwhile.
    pub fn wait(&self, path: &str, state: &str, ctx: &LoginContext) -> Result<Callback> {
        const WHAT: &str = "browser login";
        let mut open: Vec<Connection> = Vec::new();
        loop {
            // Every pass comes here at least every TICK: nothing below blocks.
            crate::cancel::check(WHAT)?;
            let now = Instant::now();
            if now >= ctx.deadline {
                return Err(ctx.timed_out(WHAT));
            }
            open.retain_mut(|c| {
                let in_time = now < c.expires;
                if !in_time {
                    respond(&mut c.stream, 408, "The request took too long.");
                }
                in_time
            });
            let wake = open
                .iter()
                .map(|c| c.expires)
                .fold(ctx.deadline, Instant::min);
            let pause = wake.saturating_duration_since(now).min(TICK);
            let (incoming, readable) = poll(&self.socket, &open, pause);
            // Backwards, so swap_remove only moves a connection already seen.
            for i in (0..open.len()).rev() {
                if !readable[i] {
                    continue;
                }
                match open[i].read_available() {
                    Progress::Waiting => {}
                    Progress::Head => {
                        let mut done = open.swap_remove(i);
                        if let Some(callback) = done.answer(path, state) {
                            return Ok(callback);
                        }
                    }
                    Progress::Ended => {
                        open.swap_remove(i);
                    }
                }
            }
            if incoming && let Some(callback) = self.accept(&mut open, path, state)? {
                return Ok(callback);
            }
        }
    }

    /// Accepts what is pending. A browser's GET usually arrives with the
    /// connection, so each is read once at once (and may end the wait).
    fn accept(
        &self,
        open: &mut Vec<Connection>,
        path: &str,
        state: &str,
    ) -> Result<Option<Callback>> {
        for _ in 0..ACCEPTS_PER_PASS {
            let stream = match self.socket.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == IoErrorKind::WouldBlock => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        IoErrorKind::Interrupted | IoErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                // Out of descriptors or memory: the next pass tries again,
                // after a pause (the connection stays pending, so the
                // listener stays readable and the poll would not wait).
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    ) =>
                {
                    // A cancel cuts the pause short; the loop's top sees it.
                    let _ = crate::cancel::sleep(TICK, "browser login");
                    break;
                }
                Err(e) => {
                    return Err(Error::internal(format!(
                        "browser login: the redirect listener failed: {e}"
                    )));
                }
            };
            // An accepted socket does not inherit O_NONBLOCK on every system.
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let mut connection = Connection::new(stream);
            match connection.read_available() {
                Progress::Waiting => {
                    if open.len() >= MAX_CONNECTIONS
                        && let Some(quietest) = (0..open.len()).min_by_key(|&i| open[i].last_heard)
                    {
                        open.swap_remove(quietest);
                    }
                    open.push(connection);
                }
                Progress::Head => {
                    if let Some(callback) = connection.answer(path, state) {
                        return Ok(Some(callback));
                    }
                }
                Progress::Ended => {}
            }
        }
        Ok(None)
    }
}

/// One client connection, non-blocking, until its request head is complete.
struct Connection {
    stream: TcpStream,
    head: Vec<u8>,
    /// When its [`HEAD_BUDGET`] is spent.
    expires: Instant,
    /// When it was accepted or last sent a byte (the quietest is closed first).
    last_heard: Instant,
}

/// What reading a connection gave.
enum Progress {
    /// The head is not complete yet; nothing more to read for now.
    Waiting,
    /// The head (up to its blank line) is in `head`.
    Head,
    /// Closed by the client, failed, or over [`MAX_HEAD`] (then answered 400).
    Ended,
}

impl Connection {
    fn new(stream: TcpStream) -> Connection {
        let now = Instant::now();
        Connection {
            stream,
            head: Vec::with_capacity(1024),
            expires: now + HEAD_BUDGET,
            last_heard: now,
        }
    }

    /// Reads what has arrived, without blocking.
    fn read_available(&mut self) -> Progress {
        let mut buf = [0u8; 2048];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Progress::Ended,
                Ok(n) => {
                    if self.head.len() + n > MAX_HEAD {
                        // What has already arrived is read away, so closing
                        // sends the answer rather than a reset that drops it.
                        let mut rest = MAX_HEAD;
                        while let Ok(n @ 1..) = self.stream.read(&mut buf) {
                            rest = rest.saturating_sub(n);
                            if rest == 0 {
                                break;
                            }
                        }
                        respond(&mut self.stream, 400, "Bad request.");
                        return Progress::Ended;
                    }
                    // The blank line may straddle two reads.
                    let from = self.head.len().saturating_sub(3);
                    self.head.extend_from_slice(&buf[..n]);
                    self.last_heard = Instant::now();
                    if self.head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
                        return Progress::Head;
                    }
                }
                Err(e) if e.kind() == IoErrorKind::WouldBlock => return Progress::Waiting,
                Err(e) if e.kind() == IoErrorKind::Interrupted => {}
                Err(_) => return Progress::Ended,
            }
        }
    }

    /// Answers the complete request: Some when it carried the awaited
    /// response. The connection is closed when `self` is dropped.
    fn answer(&mut self, path: &str, state: &str) -> Option<Callback> {
        let Some(target) = request_target(&self.head) else {
            respond(&mut self.stream, 400, "Bad request.");
            return None;
        };
        let target_path = target.split_once('?').map_or(target, |(p, _)| p);
        if target_path != path {
            respond(&mut self.stream, 404, "Not found.");
            return None;
        }
        match parse_target(target, path, state) {
            Some(callback) => {
                let text = match &callback {
                    Callback::Code(_) => "Login complete. You can close this page.",
                    Callback::Refused { .. } => {
                        "The login was not completed. You can close this page."
                    }
                };
                respond(&mut self.stream, 200, text);
                Some(callback)
            }
            None => {
                respond(&mut self.stream, 400, "Not the expected login response.");
                None
            }
        }
    }
}

/// Waits up to `pause` for a connection to accept or data on one of `open`:
/// (the listener has one, which of `open` are readable or closed).
fn poll(listener: &TcpListener, open: &[Connection], pause: Duration) -> (bool, Vec<bool>) {
    let watch = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut fds: Vec<libc::pollfd> = std::iter::once(watch(listener.as_raw_fd()))
        .chain(open.iter().map(|c| watch(c.stream.as_raw_fd())))
        .collect();
    // Rounded up, so a sub-millisecond pause still sleeps.
    let ms = pause.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `fds` holds fds.len() valid pollfds for the duration of the call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if ready <= 0 {
        // Timeout, or EINTR: the caller's loop checks the time and polls again.
        return (false, vec![false; open.len()]);
    }
    let woken =
        |fd: &libc::pollfd| fd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
    (woken(&fds[0]), fds[1..].iter().map(woken).collect())
}

/// The request target of a GET whose head is complete.
fn request_target(head: &[u8]) -> Option<&str> {
    let line_end = head.iter().position(|&b| b == b'\r')?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method != "GET" || !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    Some(target)
}

/// The callback in `target` when its path is `path` and its state is `state`.
fn parse_target(target: &str, path: &str, state: &str) -> Option<Callback> {
    let (got_path, query) = target.split_once('?').unwrap_or((target, ""));
    if got_path != path {
        return None;
    }
    let mut got_state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match &*key {
            "state" => &mut got_state,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        if slot.is_some() {
            return None; // a repeated parameter is ambiguous: refused
        }
        *slot = Some(value.into_owned());
    }
    if !same(got_state?.as_bytes(), state.as_bytes()) {
        return None;
    }
    let clean = |s: String| -> String { s.chars().filter(|c| !c.is_control()).take(300).collect() };
    match (code, error) {
        (Some(code), None) if !code.is_empty() => Some(Callback::Code(code)),
        (None, Some(error)) => Some(Callback::Refused {
            error: clean(error),
            description: description.map(clean),
        }),
        _ => None,
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes a small page and gives up at once if the client does not take it
/// (the socket is non-blocking; a fresh socket's buffer holds it whole).
fn respond(stream: &mut TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        408 => "Request Timeout",
        _ => "Bad Request",
    };
    let body = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hubauth</title></head>\
         <body><p>{text}</p></body></html>\n"
    );
    let reply = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\n\
         content-length: {}\r\ncache-control: no-store\r\nreferrer-policy: no-referrer\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write(reply.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_path_and_state_end_the_wait() {
        let code = |t: &str| match &parse_target(t, "/callback", "s1") {
            Some(Callback::Code(c)) => Some(c.clone()),
            _ => None,
        };
        assert_eq!(code("/callback?code=abc&state=s1").as_deref(), Some("abc"));
        assert_eq!(
            code("/callback?state=s1&code=a%2Bb").as_deref(),
            Some("a+b")
        );
        assert!(parse_target("/callback?code=abc&state=s2", "/callback", "s1").is_none());
        assert!(parse_target("/callback?code=abc", "/callback", "s1").is_none());
        assert!(parse_target("/other?code=abc&state=s1", "/callback", "s1").is_none());
        assert!(parse_target("/callback?code=a&code=b&state=s1", "/callback", "s1").is_none());
        assert!(parse_target("/callback?code=&state=s1", "/callback", "s1").is_none());
        match &parse_target(
            "/callback?error=access_denied&error_description=no%0Athanks&state=s1",
            "/callback",
            "s1",
        ) {
            Some(Callback::Refused { error, description }) => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("nothanks"));
            }
            _ => panic!("an error response with the right state ends the wait"),
        }
    }

    /// A wait on a new listener for `/callback` with state `s1`, run on a
    /// thread; `client` plays the other side with the port.
    fn wait_with<T: Send + 'static>(
        client: impl FnOnce(u16) -> T + Send + 'static,
    ) -> (Result<Callback>, Duration, T) {
        let listener = Listener::bind(None).unwrap();
        let port = listener.port();
        let client = std::thread::spawn(move || client(port));
        let mut options = crate::options::Options::new();
        options.set("timeout_ms", "20000").unwrap();
        let ctx = LoginContext::from_options(&options, true);
        let started = Instant::now();
        let result = listener.wait("/callback", "s1", &ctx);
        (result, started.elapsed(), client.join().unwrap())
    }

    fn send(port: u16, request: &[u8]) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    const CALLBACK: &[u8] = b"GET /callback?code=c1&state=s1 HTTP/1.1\r\nHost: a\r\n\r\n";

    #[test]
    fn more_connections_than_the_cap_close_the_quietest() {
        let (result, _, (closed, answer)) = wait_with(|port| {
            let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + 8)
                .map(|_| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap())
                .collect();
            std::thread::sleep(Duration::from_millis(500));
            let closed: Vec<usize> = (0..idle.len())
                .filter(|&i| {
                    idle[i].set_nonblocking(true).unwrap();
                    matches!((&idle[i]).read(&mut [0u8; 1]), Ok(0))
                })
                .collect();
            (closed, send(port, CALLBACK))
        });
        assert!(matches!(result, Ok(Callback::Code(ref c)) if c == "c1"));
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        // The eight opened first (the quietest) made room for the rest.
        assert_eq!(closed, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn a_head_too_large_or_too_slow_is_closed_and_the_wait_goes_on() {
        let (result, _, (large, slow, slow_took)) = wait_with(|port| {
            let mut large = vec![b'A'; MAX_HEAD + 1024];
            large.splice(0..4, *b"GET ");
            let large = send(port, &large);
            let started = Instant::now();
            let slow = send(port, b"GET /callback?code=c0&state=s1 HTTP/1.1\r\n");
            let slow_took = started.elapsed();
            send(port, CALLBACK);
            (large, slow, slow_took)
        });
        assert!(matches!(result, Ok(Callback::Code(ref c)) if c == "c1"));
        assert!(large.starts_with("HTTP/1.1 400 "), "{large}");
        assert!(slow.starts_with("HTTP/1.1 408 "), "{slow}");
        // Closed once its whole budget was spent (generous bounds).
        assert!(
            slow_took >= HEAD_BUDGET - Duration::from_millis(200)
                && slow_took < HEAD_BUDGET + Duration::from_secs(3),
            "{slow_took:?}"
        );
    }

    #[test]
    fn binds_loopback_only() {
        let listener = Listener::bind(None).unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), listener.port());
        assert_ne!(listener.port(), 0);
    }
}
