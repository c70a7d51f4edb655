//! The loopback redirect listener of a browser login (RFC 8252 §7.3): an HTTP
//! server on 127.0.0.1 (never another interface) that waits for the one
//! request carrying the authorization response.
//!
//! It accepts one connection at a time and reads at most one request from it.
//! The request that ends the wait is a GET of the expected path whose `state`
//! matches; it gets a small "you can close this page" HTML page. Anything
//! else (another path, a wrong or missing `state`, another method, a broken
//! request, a browser's favicon request) gets a 400 and the listener keeps
//! waiting until the login's deadline.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::flow::LoginContext;

/// How long one accept waits before the loop checks the deadline again.
const ACCEPT_POLL: Duration = Duration::from_millis(100);
/// How long one connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read (the query of an authorization response is small).
const MAX_REQUEST: usize = 16 * 1024;

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
                        "browser login: cannot listen on 127.0.0.1:{p} (redirect_port): {e}"
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
        Ok(Listener { socket, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }

    /// Waits for `GET <path>?…&state=<state>…` until the login's deadline.
    pub fn wait(&self, path: &str, state: &str, ctx: &LoginContext) -> Result<Callback> {
        const WHAT: &str = "browser login";
        loop {
            // Every pass of this loop comes here at least every ACCEPT_POLL,
            // so a cancel is seen within that.
            crate::cancel::check(WHAT)?;
            if Instant::now() >= ctx.deadline {
                return Err(ctx.timed_out(WHAT));
            }
            if !readable(&self.socket, ACCEPT_POLL) {
                continue;
            }
            let stream = match self.socket.accept() {
                Ok((stream, _)) => stream,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                            | std::io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    return Err(Error::internal(format!(
                        "{WHAT}: the redirect listener failed: {e}"
                    )));
                }
            };
            if let Some(callback) = serve(stream, path, state, ctx.deadline) {
                return Ok(callback);
            }
        }
    }
}

/// Whether `socket` has a connection to accept within `wait`.
fn readable(socket: &TcpListener, wait: Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = wait.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut fd, 1, ms) };
    ready > 0 && fd.revents & libc::POLLIN != 0
}

/// Answers one connection; Some when it carried the awaited response.
fn serve(mut stream: TcpStream, path: &str, state: &str, deadline: Instant) -> Option<Callback> {
    let left = deadline.saturating_duration_since(Instant::now());
    let timeout = READ_TIMEOUT.min(left).max(Duration::from_millis(10));
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let Some(target) = read_target(&mut stream) else {
        respond(&mut stream, 400, "Bad request.");
        return None;
    };
    match parse_target(&target, path, state) {
        Some(callback) => {
            let text = match &callback {
                Callback::Code(_) => "Login complete. You can close this page.",
                Callback::Refused { .. } => "The login was not completed. You can close this page.",
            };
            respond(&mut stream, 200, text);
            Some(callback)
        }
        None => {
            respond(&mut stream, 400, "Not the expected login response.");
            None
        }
    }
}

/// The request target of a GET, once the whole head has arrived.
fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line_end = head.iter().position(|&b| b == b'\r')?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if method != "GET" || !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return None;
    }
    Some(target.to_string())
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

fn respond(stream: &mut TcpStream, status: u16, text: &str) {
    let reason = if status == 200 { "OK" } else { "Bad Request" };
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
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
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

    #[test]
    fn binds_loopback_only() {
        let listener = Listener::bind(None).unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        assert_eq!(addr.port(), listener.port());
        assert_ne!(listener.port(), 0);
    }
}
