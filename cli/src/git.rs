//! `hubauth git-credential get|store|erase`: git's credential helper protocol
//! (git-credential(1)). Reads `key=value` lines until a blank line or EOF.
//! `get` answers only for the configured server and never logs in, with
//! `password_expiry_utc` when the token's expiry is known; whatever
//! goes wrong, it prints nothing and exits 0 so git asks its other helpers.
//! `store` and `erase` do nothing: hubauth keeps no git passwords, and a
//! logout is explicit.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use hubauth::server::ServerUrl;
use hubauth::{Credential, Error, ErrorKind, Result};

use crate::Global;

/// Longest request git may send that we read (it is a handful of short lines).
const MAX_INPUT: usize = 64 * 1024;

pub fn run(g: &Global, operation: &str) -> Result<ExitCode> {
    let request = read_request(std::io::stdin().lock());
    if operation == "get" {
        get(g, &request)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn read_request(input: impl BufRead) -> Vec<(String, String)> {
    let mut request = Vec::new();
    let mut size = 0;
    for line in input.lines() {
        let Ok(line) = line else { break };
        size += line.len() + 1;
        if line.is_empty() || size > MAX_INPUT {
            break;
        }
        if let Some((key, value)) = line.split_once('=') {
            request.push((key.to_string(), value.to_string()));
        }
    }
    request
}

/// The value of `key`; of a repeated key the last one, as git itself keeps.
fn field<'a>(request: &'a [(String, String)], key: &str) -> Option<&'a str> {
    request
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `host` as name (an IPv6 literal keeps its brackets) and optional port.
fn split_host_port(host: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (literal, after) = rest.split_once(']')?;
        literal.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        return Some((&host[..literal.len() + 2], port));
    }
    Some(match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    })
}

/// The origin git asks about, when `protocol` is exactly `http` or `https`
/// and `host` is a bare host name or IP literal with an optional port: no
/// userinfo, path, query, fragment, backslash or whitespace (git sends
/// percent-decoded hosts, so `evil@hub` or `hub/x` reach us as such, and a
/// lenient URL parser would take them for the hub).
fn asked_origin(protocol: &str, host: &str) -> Option<url::Url> {
    if protocol != "https" && protocol != "http" {
        return None;
    }
    let (name, port) = split_host_port(host)?;
    let plain_name = name.starts_with('[')
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    let plain_port =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if !plain_name || !plain_port {
        return None;
    }
    url::Url::parse(&format!("{protocol}://{host}/")).ok()
}

fn get(g: &Global, request: &[(String, String)]) -> Result<()> {
    let (Some(protocol), Some(host)) = (field(request, "protocol"), field(request, "host")) else {
        return Ok(());
    };
    let options = match g.options(|o| {
        o.set("interactive", "false")?;
        crate::handing_out(o, false)
    }) {
        Ok(options) => options,
        // A bad flag in git's helper config is worth saying; git goes on.
        Err(e) => {
            eprintln!("hubauth: {}", hubauth::log::escape(e.message()));
            return Ok(());
        }
    };
    // The server the provider would use (--server, or its default such as
    // JULIA_PKG_SERVER); no server configured means nothing to answer for.
    let Ok(provider) = hubauth::hubs::for_options(&options) else {
        return Ok(());
    };
    let Ok(server) = ServerUrl::parse(provider.server()) else {
        return Ok(());
    };
    let Some(asked) = asked_origin(protocol, host) else {
        return Ok(());
    };
    if !server.same_origin(&asked) {
        return Ok(());
    }
    let auth = match hubauth::authenticate(&options) {
        Ok(auth) => auth,
        Err(e) => {
            eprintln!("hubauth: {}", hubauth::log::escape(e.message()));
            return Ok(());
        }
    };
    let credential = match auth.credential() {
        Ok(credential) => credential,
        Err(e) => {
            eprintln!("hubauth: {}", hubauth::log::escape(e.message()));
            return Ok(());
        }
    };
    // git sends the pair as HTTP Basic: a token with the account's name, or
    // Basic credentials as they are.
    let (username, secret) = match &credential {
        Credential::Bearer(token) => (
            auth.username().unwrap_or_else(|| "oauth2".to_string()),
            token,
        ),
        Credential::Basic { user, password } => (user.clone(), password),
    };
    // A user named in the remote URL that is not ours: not our credential.
    if let Some(wanted) = field(request, "username")
        && wanted != username
    {
        return Ok(());
    }
    let value = secret.expose();
    if value.contains(['\n', '\r', '\0']) || username.contains(['\n', '\r', '\0']) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    (|| {
        out.write_all(b"username=")?;
        out.write_all(username.as_bytes())?;
        out.write_all(b"\npassword=")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b"\n")?;
        // git >= 2.40 drops the password once this passes (older ones ignore it).
        if let Some(at) = auth.expires_at() {
            out.write_all(format!("password_expiry_utc={at}\n").as_bytes())?;
        }
        out.flush()
    })()
    .map_err(|e| Error::new(ErrorKind::Io, format!("cannot write to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_until_blank_line() {
        let input = b"protocol=https\nhost=example.com\nwwwauth[]=Basic\n\nignored=1\n";
        let request = read_request(&input[..]);
        assert_eq!(field(&request, "protocol"), Some("https"));
        assert_eq!(field(&request, "host"), Some("example.com"));
        assert_eq!(field(&request, "ignored"), None);
    }

    #[test]
    fn the_last_of_a_repeated_key_wins_as_in_git() {
        let request = read_request(&b"host=good.example\nhost=evil.example\n\n"[..]);
        assert_eq!(field(&request, "host"), Some("evil.example"));
    }

    #[test]
    fn only_a_bare_host_and_port_are_asked_about() {
        let origin =
            |p: &str, h: &str| asked_origin(p, h).map(|u| u.origin().ascii_serialization());
        assert_eq!(
            origin("https", "hub.example").as_deref(),
            Some("https://hub.example")
        );
        assert_eq!(
            origin("http", "127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin("https", "[::1]:8443").as_deref(),
            Some("https://[::1]:8443")
        );
        for (protocol, host) in [
            ("https", "evil.example@hub.example"),
            ("https", "hub.example/evil.example"),
            ("https", "hub.example?x"),
            ("https", "hub.example#x"),
            ("https", "hub.example\\x"),
            ("https", "hub.example\t"),
            ("https", "hub.example\r"),
            ("https", "hub.example:"),
            ("https", "hub.example:99999x"),
            ("https", "[::1]x"),
            ("https", "[not-ip]"),
            ("https", ""),
            ("http://hub.example/x?", "evil.example"),
            ("HTTPS", "hub.example"),
            (" https", "hub.example"),
            ("file", "hub.example"),
        ] {
            assert_eq!(origin(protocol, host), None, "{protocol:?} {host:?}");
        }
    }
}
