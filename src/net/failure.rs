//! A failed exchange in one line: the cause, in words, and what to do.
//!
//! reqwest's errors are chains ("error sending request: client error
//! (Connect): tcp connect error: Connection refused (os error 111)"); a
//! user needs the cause and the next step. [`describe`] finds the cause in
//! the chain (typed where the type is reachable, by its fixed text where it
//! is private to hyper), and [`not_a_hub`] speaks for a reply that is an
//! HTML page: a web server or a proxy, not a hub's API.

use std::error::Error as StdError;

use crate::error::{Error, ErrorKind};
use crate::net::client::Roots;

/// What went wrong with a request, as far as the chain tells.
#[derive(Debug, PartialEq, Eq)]
enum Cause {
    Refused,
    Dns,
    Timeout,
    /// The certificate was not accepted; the rustls reason.
    Certificate(String),
    /// The proxy would not open the tunnel; its reason.
    Proxy(&'static str),
    /// The connection was cut or reset.
    Cut,
    Other(String),
}

fn cause_of(err: &reqwest::Error) -> Cause {
    if err.is_timeout() {
        return Cause::Timeout;
    }
    let mut innermost = err.to_string();
    let mut source: Option<&(dyn StdError + 'static)> = StdError::source(err);
    while let Some(inner) = source {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return certificate(tls).unwrap_or_else(|| Cause::Other(tls.to_string()));
        }
        if let Some(mut io) = inner.downcast_ref::<std::io::Error>() {
            // hyper wraps io errors in io errors (Other around InvalidData).
            while let Some(wrapped) = io
                .get_ref()
                .and_then(|e| e.downcast_ref::<std::io::Error>())
            {
                io = wrapped;
            }
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return certificate(tls).unwrap_or_else(|| Cause::Other(tls.to_string()));
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return Cause::Refused,
                std::io::ErrorKind::TimedOut => return Cause::Timeout,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof => return Cause::Cut,
                _ => {}
            }
        }
        // hyper-util's ConnectError and TunnelError are private types with
        // fixed texts.
        let text = inner.to_string();
        if text == "dns error" {
            return Cause::Dns;
        }
        if let Some(why) = text.strip_prefix("tunnel error: ") {
            return Cause::Proxy(match why {
                "proxy authorization required" => "it asks for a login (HTTP 407)",
                "failed to create underlying connection" => "it cannot be reached",
                _ => "it refused to open a connection to the server",
            });
        }
        innermost = text;
        source = inner.source();
    }
    Cause::Other(innermost)
}

fn certificate(tls: &rustls::Error) -> Option<Cause> {
    match tls {
        rustls::Error::InvalidCertificate(why) => Some(Cause::Certificate(match why {
            rustls::CertificateError::UnknownIssuer => "it is signed by an unknown CA".into(),
            rustls::CertificateError::Expired => "it has expired".into(),
            rustls::CertificateError::NotValidForName => {
                "it is not valid for this host name".into()
            }
            rustls::CertificateError::BadSignature => "its signature is invalid".into(),
            other => format!("it is not accepted ({other:?})"),
        })),
        _ => None,
    }
}

/// The host (and port, when given) of `url`, for messages.
pub(crate) fn host_of(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => url.as_str().to_string(),
    }
}

/// One line for a request to `url` that failed with `err`: `what` (the
/// method and the URL without its query) names the request. An error of the
/// redirect policy is returned as it is.
pub(crate) fn describe(
    what: &str,
    url: &reqwest::Url,
    err: reqwest::Error,
    roots: &Roots,
) -> Error {
    // A redirect the policy refused: its own error says it all.
    if err.is_redirect() {
        let mut source = StdError::source(&err);
        while let Some(inner) = source {
            if let Some(ours) = inner.downcast_ref::<Error>() {
                return ours.clone();
            }
            source = inner.source();
        }
    }
    let unsent = err.is_connect();
    let host = host_of(url);
    let proxies = crate::net::client::proxy_variables(&crate::env::process_env);
    let or_proxy = if proxies.is_empty() {
        String::new()
    } else {
        format!(", and the proxy of {}", proxies.join("/"))
    };
    let sentence = match cause_of(&err) {
        Cause::Refused => format!(
            "cannot connect to {host} (connection refused): is the server running? \
             (check `server`{or_proxy})"
        ),
        Cause::Dns => format!(
            "cannot find the host {host} (DNS lookup failed): check `server` and the network{or_proxy}"
        ),
        // reqwest's own timeouts: the connect timeout is fixed (net::client),
        // and the call's deadline is reported by net::send itself.
        Cause::Timeout if unsent => format!(
            "cannot connect to {host}: no answer in time (is it up and reachable? check \
             `server`{or_proxy})"
        ),
        Cause::Timeout => {
            format!("no answer from {host} in time: the server or the network is slow or down")
        }
        Cause::Certificate(why) => format!(
            "the TLS certificate of {host} is not trusted: {why} ({})",
            roots.hint()
        ),
        Cause::Proxy(why) => format!(
            "the proxy for {host} failed: {why} (check {})",
            if proxies.is_empty() {
                "HTTPS_PROXY".to_string()
            } else {
                proxies.join("/")
            }
        ),
        Cause::Cut if unsent => {
            format!(
                "cannot connect to {host}: the connection was closed (check `server`{or_proxy})"
            )
        }
        Cause::Cut => format!("{host} closed the connection before answering in full"),
        Cause::Other(why) => format!("cannot reach {host}: {why}"),
    };
    let error = Error::new(ErrorKind::Network, format!("{what}: {sentence}"));
    if unsent { error.unsent() } else { error }
}

/// Whether `reply` is an HTML page (by its type, or by how its body starts).
pub(crate) fn is_html(content_type: Option<&str>, body: &[u8]) -> bool {
    if content_type.is_some_and(|t| {
        let t = t.trim_start().to_ascii_lowercase();
        t.starts_with("text/html") || t.starts_with("application/xhtml")
    }) {
        return true;
    }
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head =
        String::from_utf8_lossy(&body[start..body.len().min(start + 512)]).to_ascii_lowercase();
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.starts_with("<head")
        || head.starts_with("<body")
        || (head.starts_with("<!--") && head.contains("<html"))
}

/// The error for an HTML page where a hub's API was asked: not retried
/// (asking again gets the same page). `key` is the option that names the
/// server (`server`, or `issuer` for OpenID Connect).
pub(crate) fn not_a_hub(what: &str, host: &str, status: u16, key: &str) -> Error {
    Error::server(format!(
        "{what}: the server at {host} answered {status} with an HTML page: \
         it is not a hub's API (check `{key}`)"
    ))
    .definite()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_recognised_by_type_or_start() {
        assert!(is_html(Some("text/html; charset=utf-8"), b"{}"));
        assert!(is_html(
            None,
            b"\n  <!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\">"
        ));
        assert!(is_html(
            Some("application/octet-stream"),
            b"<html><body>404</body></html>"
        ));
        assert!(!is_html(
            Some("application/json"),
            b"{\"error\":\"invalid_grant\"}"
        ));
        assert!(!is_html(None, b"Not Found"));
        assert!(!is_html(None, b""));
    }

    #[test]
    fn not_a_hub_is_one_line_and_final() {
        let e = not_a_hub("login challenge", "127.0.0.1:9", 501, "server");
        assert_eq!(
            e.message(),
            "login challenge: the server at 127.0.0.1:9 answered 501 with an HTML page: \
             it is not a hub's API (check `server`)"
        );
        assert!(e.is_definite_refusal());
        assert_eq!(e.kind(), ErrorKind::Server);
    }
}
