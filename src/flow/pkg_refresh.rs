//! Pkg's refresh: `GET <refresh_url>` with the refresh token as bearer; the
//! reply is TOML.
//!
//! Where the refresh token may go (Pkg.jl src/PlatformEngines.jl:71-72
//! `is_secure_url`, :183): any `https://` URL, or plain http to loopback.
//! PkgAuthentication's docs say the refresh URL need not be on the package
//! server, and JuliaHub's `device_token_refresh_url` may name another host, so
//! the host is not compared with the server's. hubauth's loopback is a little
//! wider than Pkg's (all of 127.0.0.0/8 and ::1, not only 127.0.0.1 and
//! localhost). Redirects follow hubauth's rules in `net` (the bearer never
//! follows a redirect to another origin).

use std::time::Instant;

use reqwest::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::net::{self, Request};
use crate::secret::Secret;
use crate::server::require_secure;
use crate::store::pkg_toml::PkgToken;

/// Checks that `refresh_url` may receive the refresh token: https, or http to
/// a loopback host (Pkg's `is_secure_url`). Used on a stored file's URL and on
/// the `device_token_refresh_url` a device login is about to store.
pub fn check_refresh_url(refresh_url: &str) -> Result<Url> {
    let url =
        Url::parse(refresh_url).map_err(|_| Error::format("the refresh_url is not a valid URL"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::format("the refresh_url has no host"));
    }
    require_secure(&url, "refresh_url")?;
    Ok(url)
}

/// Asks for a new token. A 4xx means the refresh token is no good
/// (`Authentication`); the caller may then log in again.
pub fn refresh(
    refresh_url: &str,
    refresh_token: &Secret,
    deadline: Option<Instant>,
) -> Result<toml::Table> {
    const WHAT: &str = "token refresh";
    let url = check_refresh_url(refresh_url)?;
    let response = net::send(
        Request::get(url.as_str())
            .bearer(refresh_token.expose())
            .deadline(deadline),
    )?;
    if !response.is_success() {
        let kind = if (400..500).contains(&response.status) {
            ErrorKind::Authentication
        } else {
            ErrorKind::Server
        };
        return Err(Error::new(
            kind,
            format!("{WHAT}: the server answered HTTP {}", response.status),
        ));
    }
    // A captive portal or a web server where the refresh endpoint should be.
    if let Some(page) = response.not_a_hub(WHAT, "server") {
        return Err(page);
    }
    parse_refresh_reply(&response.body)
}

/// Reads the body of a successful refresh reply (TOML holding a token): the
/// parsing half of [`refresh`], without I/O.
pub fn parse_refresh_reply(body: &[u8]) -> Result<toml::Table> {
    const WHAT: &str = "token refresh";
    let text = net::parse_text(body, WHAT)?;
    let reply: toml::Table = text
        .parse()
        .map_err(|_| Error::server(format!("{WHAT}: the reply is not valid TOML")))?;
    if !PkgToken::reply_has_token(&reply) {
        return Err(Error::server(format!("{WHAT}: the reply holds no token")));
    }
    Ok(reply)
}
