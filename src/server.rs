//! Server URLs: normalisation, the https rule, and per-server directory names.

use reqwest::Url;

use crate::error::{Error, Result};

/// A normalised hub URL: `scheme://host[:port][/path]` without a trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    url: Url,
    text: String,
}

impl ServerUrl {
    /// Parses a server as users write it: a missing scheme means https, a trailing
    /// `/` is dropped. Userinfo, query and fragment are refused; plain http is
    /// refused (`Insecure`) unless the host is loopback.
    pub fn parse(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid_argument("the server URL is empty"));
        }
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_string()
        } else {
            format!("https://{trimmed}")
        };
        let url = Url::parse(&with_scheme)
            .map_err(|e| Error::invalid_argument(format!("invalid server URL {trimmed:?}: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::invalid_argument(format!(
                "the server URL must not contain a user name or password: {}",
                redact_userinfo(&url)
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::invalid_argument(format!(
                "the server URL has no host: {trimmed:?}"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::invalid_argument(format!(
                "the server URL must not have a query or fragment: {trimmed:?}"
            )));
        }
        require_secure(&url, "server URL")?;
        let text = url.as_str().trim_end_matches('/').to_string();
        Ok(ServerUrl { url, text })
    }

    /// Parses a server the USER configured (an option, the environment, their
    /// own file) for a hub whose SDK accepts plain http (dagshub, dhcore,
    /// cave): like [`parse`](Self::parse), but `http://` is accepted for any
    /// host, with a warning once per origin per process that tokens sent to it
    /// travel unencrypted. Never use it for a URL a server handed over.
    pub fn parse_configured(input: &str) -> Result<Self> {
        static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let trimmed = input.trim();
        let rest = match trimmed.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &trimmed[7..],
            _ => return Self::parse(input),
        };
        // Everything but the scheme is checked as parse checks it.
        Self::parse(&format!("https://{rest}"))?;
        let url = Url::parse(&format!("http://{rest}"))
            .map_err(|e| Error::invalid_argument(format!("invalid server URL {trimmed:?}: {e}")))?;
        let text = url.as_str().trim_end_matches('/').to_string();
        let origin = url.origin().ascii_serialization();
        let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
        if !is_loopback(&url) && !warned.contains(&origin) {
            crate::log::warn(&format!(
                "{origin} uses plain http as configured: tokens sent to it travel unencrypted"
            ));
            warned.push(origin);
        }
        Ok(ServerUrl { url, text })
    }

    /// The URL as text, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `host` or `host:port` (port only when given explicitly).
    pub fn host_port(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// The server's directory name as Pkg writes it: host[:port] with each of
    /// `: / < > " \ | ? *` replaced by `_`.
    pub fn dir_name(&self) -> String {
        self.host_port()
            .chars()
            .map(|c| match c {
                ':' | '/' | '<' | '>' | '"' | '\\' | '|' | '?' | '*' => '_',
                c => c,
            })
            .collect()
    }

    /// A URL below this server (`path` starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.text, path)
    }

    /// True when `other` has the same scheme, host and port.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.url.scheme() == other.scheme()
            && self.url.host_str() == other.host_str()
            && self.url.port_or_known_default() == other.port_or_known_default()
    }
}

/// Plain http is allowed only to loopback hosts (tests and local servers).
pub fn require_secure(url: &Url, what: &str) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Error::insecure(format!(
            "the {what} {} uses plain http; use https (http is allowed only for loopback hosts)",
            redact_userinfo(url)
        ))),
        other => Err(Error::invalid_argument(format!(
            "the {what} must use https, not {other:?}"
        ))),
    }
}

/// True for 127.0.0.0/8, ::1 and localhost.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

fn redact_userinfo(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A URL for messages: scheme, host, port and path, never the query.
pub fn display_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            redact_userinfo(&parsed)
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn normalises_like_pkg() {
        let s = ServerUrl::parse("juliahub.com/").unwrap();
        assert_eq!(s.as_str(), "https://juliahub.com");
        assert_eq!(s.dir_name(), "juliahub.com");
        let s = ServerUrl::parse("https://host.example:8443").unwrap();
        assert_eq!(s.dir_name(), "host.example_8443");
        let s = ServerUrl::parse("http://127.0.0.1:9999/").unwrap();
        assert_eq!(s.as_str(), "http://127.0.0.1:9999");
    }

    #[test]
    fn refuses_what_juliahub_refuses() {
        let kind = |u: &str| ServerUrl::parse(u).unwrap_err().kind();
        assert_eq!(kind("http://example.com"), ErrorKind::Insecure);
        assert_eq!(kind("https://u:p@example.com"), ErrorKind::InvalidArgument);
        assert_eq!(kind("https://example.com/?a=1"), ErrorKind::InvalidArgument);
        assert_eq!(kind("https://example.com/#x"), ErrorKind::InvalidArgument);
        assert_eq!(kind(""), ErrorKind::InvalidArgument);
        assert!(ServerUrl::parse("http://localhost:1234").is_ok());
        assert!(ServerUrl::parse("http://[::1]:1234").is_ok());
    }

    #[test]
    fn configured_servers_may_use_plain_http() {
        let s = ServerUrl::parse_configured("http://release-core:8080/").unwrap();
        assert_eq!(s.as_str(), "http://release-core:8080");
        assert_eq!(s.host_port(), "release-core:8080");
        let s = ServerUrl::parse_configured("HTTP://core.example:80").unwrap();
        assert_eq!(s.as_str(), "http://core.example");
        assert_eq!(
            ServerUrl::parse_configured("core.example")
                .unwrap()
                .as_str(),
            "https://core.example"
        );
        let kind = |u: &str| ServerUrl::parse_configured(u).unwrap_err().kind();
        assert_eq!(kind("http://u:p@core.example"), ErrorKind::InvalidArgument);
        assert_eq!(kind("http://core.example/?a=1"), ErrorKind::InvalidArgument);
        assert_eq!(kind("ftp://core.example"), ErrorKind::InvalidArgument);
        assert_eq!(kind("http://"), ErrorKind::InvalidArgument);
    }
}
