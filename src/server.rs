//! Server URLs: normalisation, the https rule, and per-server directory names.

use reqwest::Url;

use crate::error::{Error, Result};

/// A normalised hub URL: `scheme://host[:port][/path]` without a trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    url: Url,
    text: String,
}

/// Plain-http origins the user configured in this process
/// ([`ServerUrl::parse_configured`]).
static CONFIGURED_HTTP: std::sync::Mutex<Vec<url::Origin>> = std::sync::Mutex::new(Vec::new());

/// `url`'s origin when the user configured it as a plain-http server for a
/// hub that allows that; None otherwise.
pub fn configured_http_origin(url: &Url) -> Option<url::Origin> {
    let origin = url.origin();
    let configured = CONFIGURED_HTTP.lock().unwrap_or_else(|p| p.into_inner());
    (url.scheme() == "http" && configured.contains(&origin)).then_some(origin)
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
        // The host names a directory (`servers/<host>`): `.` and `..` (also
        // written %2e%2e) would put the token file outside it, and no real
        // host is called that.
        if url
            .host_str()
            .is_some_and(|h| h.trim_end_matches('.').is_empty())
        {
            return Err(Error::invalid_argument(format!(
                "the server URL's host {:?} is not a host name",
                url.host_str().unwrap_or_default()
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
    /// own file) for a hub whose SDK accepts plain http (its row's
    /// `configured_http`, through `ProviderKind::configured_server`): like
    /// [`parse`](Self::parse), but `http://` is accepted for any host, with
    /// a warning once per origin per process that tokens sent to it travel
    /// unencrypted. The origin is remembered for the process
    /// ([`configured_http_origin`]): requests to it may use plain http, and
    /// no other origin gains that. Never use it for a URL a server handed
    /// over.
    pub fn parse_configured(input: &str) -> Result<Self> {
        static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let parsed = Self::parse_allowing_http(input)?;
        if parsed.url.scheme() != "http" {
            return Ok(parsed);
        }
        let ServerUrl { url, text } = parsed;
        {
            let mut configured = CONFIGURED_HTTP.lock().unwrap_or_else(|p| p.into_inner());
            if !configured.contains(&url.origin()) {
                configured.push(url.origin());
            }
        }
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

    /// Checks a server the way [`parse_configured`](Self::parse_configured)
    /// does, `http://` accepted for any host, without remembering it or
    /// warning: for comparing or naming (a filter, a file name), never for
    /// where a request goes. Requests to a non-loopback http origin parsed
    /// here are still refused unless the user configured it.
    pub fn parse_allowing_http(input: &str) -> Result<Self> {
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
        same_origin(&self.url, other)
    }
}

/// Plain http is allowed only to loopback hosts (tests and local servers).
/// The same as [`require_secure_with`] with no allowed http origin.
pub fn require_secure(url: &Url, what: &str) -> Result<()> {
    require_secure_with(url, what, None)
}

/// The https rule for every URL a credential or a login may go to: https, or
/// plain http to a loopback host ([`is_loopback`]), or plain http to exactly
/// `allowed_http` (scheme, host and port) when given. `allowed_http` exists
/// for an http endpoint the *user* configured for a hub whose SDK allows it
/// (its row's `configured_http` in the hub table); it is never an origin
/// learned from a server (a discovery document, a reply, a redirect), and it
/// covers that one origin only: every other http URL, on any hop, is still
/// refused. Callers pass [`configured_http_origin`] of the URL (`net::send`,
/// login pages). Any other scheme (file:, javascript:, data:, …) is refused
/// as `Insecure` too.
pub fn require_secure_with(
    url: &Url,
    what: &str,
    allowed_http: Option<&url::Origin>,
) -> Result<()> {
    match url.scheme() {
        "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" if allowed_http.is_some_and(|o| *o == url.origin()) => Ok(()),
        "http" => Err(Error::insecure(format!(
            "the {what} {} uses plain http; use https (http is allowed only for loopback hosts)",
            display_url(url.as_str())
        ))),
        "https" => Err(Error::insecure(format!("the {what} has no host"))),
        other => Err(Error::insecure(format!(
            "the {what} must be an https URL, not a {:?} URL",
            crate::log::escape(other)
        ))),
    }
}

/// True when `a` and `b` have the same scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// True for IP literals in 127.0.0.0/8 or ::1 (and an IPv4-mapped
/// `::ffff:127.x.y.z`), and for the name `localhost` itself.
///
/// Names *below* `localhost` (`app.localhost`) do not count, nor does any
/// other name: they are resolved through the system's resolver, which a
/// hostile network or `/etc/hosts` entry may point anywhere, and the http
/// exception exists only for traffic that cannot leave the machine. We chose
/// this over "resolve, then require every address to be loopback" because the
/// name would be resolved again by the HTTP client when connecting (a second
/// answer may differ), and it would cost a lookup on every check. `localhost`
/// itself is kept because RFC 6761 §6.3 tells resolvers to answer it with
/// loopback without asking DNS, and glibc, macOS and Windows do.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
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
        assert!(ServerUrl::parse("http://127.0.0.2:1234").is_ok());
    }

    #[test]
    fn a_host_of_dots_never_becomes_a_directory() {
        for bad in [
            "https://..",
            "https://.",
            "https://%2e%2e",
            "https://..:443",
            "..",
            "http://..:8080",
        ] {
            let parsed = ServerUrl::parse(bad).map(|s| s.dir_name());
            assert!(parsed.is_err(), "{bad} → {parsed:?}");
            assert!(ServerUrl::parse_allowing_http(bad).is_err(), "{bad}");
        }
        // Dots inside a name are the name's business.
        assert_eq!(
            ServerUrl::parse("https://hub.example.").unwrap().dir_name(),
            "hub.example."
        );
    }

    #[test]
    fn only_loopback_literals_and_localhost_are_loopback() {
        let lo = |u: &str| is_loopback(&Url::parse(u).unwrap());
        assert!(lo("http://127.0.0.1/"));
        assert!(lo("http://127.255.0.9/"));
        assert!(lo("http://[::1]/"));
        assert!(lo("http://[::ffff:127.0.0.1]/"));
        assert!(lo("http://localhost:80/"));
        assert!(lo("http://LOCALHOST/"));
        // Resolved through DNS: may point anywhere.
        assert!(!lo("http://evil.localhost/"));
        assert!(!lo("http://localhost.evil.example/"));
        assert!(!lo("http://128.0.0.1/"));
        assert!(!lo("http://[::2]/"));
        let kind = |u: &str| ServerUrl::parse(u).unwrap_err().kind();
        assert_eq!(kind("http://app.localhost:8080"), ErrorKind::Insecure);
    }

    #[test]
    fn an_allowed_http_origin_covers_that_origin_only() {
        let allowed = Url::parse("http://dhcore.internal:8080").unwrap().origin();
        let check = |u: &str, a: Option<&url::Origin>| {
            require_secure_with(&Url::parse(u).unwrap(), "endpoint", a).map_err(|e| e.kind())
        };
        assert_eq!(
            check("http://dhcore.internal:8080/api", None),
            Err(ErrorKind::Insecure)
        );
        assert_eq!(
            check("http://dhcore.internal:8080/api", Some(&allowed)),
            Ok(())
        );
        assert_eq!(
            check("http://dhcore.internal:8081/", Some(&allowed)),
            Err(ErrorKind::Insecure)
        );
        assert_eq!(
            check("http://other.internal:8080/", Some(&allowed)),
            Err(ErrorKind::Insecure)
        );
        assert_eq!(
            check("file:///etc/passwd", Some(&allowed)),
            Err(ErrorKind::Insecure)
        );
        assert_eq!(check("javascript:alert(1)", None), Err(ErrorKind::Insecure));
        assert_eq!(check("https://ok.example/x", None), Ok(()));
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
        assert_eq!(kind("ftp://core.example"), ErrorKind::Insecure);
        assert_eq!(kind("http://"), ErrorKind::InvalidArgument);
        let url = Url::parse("http://release-core:8080/token").unwrap();
        assert!(configured_http_origin(&url).is_some());
    }

    /// A server only compared or named (a filter, a file name from a reply)
    /// is checked alike but opens nothing to plain-http requests.
    #[test]
    fn checking_a_server_does_not_configure_it() {
        let s = ServerUrl::parse_allowing_http("http://only-checked.example:81").unwrap();
        assert_eq!(s.as_str(), "http://only-checked.example:81");
        let url = Url::parse("http://only-checked.example:81/x").unwrap();
        assert_eq!(configured_http_origin(&url), None);
        assert_eq!(
            ServerUrl::parse_allowing_http("http://u:p@only-checked.example")
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
    }
}
