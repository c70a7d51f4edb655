//! Pkg's refresh: `GET <refresh_url>` with the refresh token as bearer; the
//! reply is TOML.

use std::time::Instant;

use reqwest::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::net::{self, Request};
use crate::secret::Secret;
use crate::server::{ServerUrl, require_secure};
use crate::store::pkg_toml::PkgToken;

/// Checks that `refresh_url` may receive the refresh token: https (or loopback
/// http) and on the server's own host, so a tampered file cannot send it away.
pub fn check_refresh_url(server: &ServerUrl, refresh_url: &str) -> Result<Url> {
    let url = Url::parse(refresh_url)
        .map_err(|_| Error::format("the stored refresh_url is not a valid URL"))?;
    require_secure(&url, "refresh_url")?;
    if !server.same_origin(&url) {
        return Err(Error::insecure(format!(
            "the stored refresh_url points to {}, not to the server {}; refusing to send the refresh token there",
            url.host_str().unwrap_or("?"),
            server.as_str()
        )));
    }
    Ok(url)
}

/// Asks for a new token. A 4xx means the refresh token is no good
/// (`Authentication`); the caller may then log in again.
pub fn refresh(
    server: &ServerUrl,
    refresh_url: &str,
    refresh_token: &Secret,
    deadline: Option<Instant>,
) -> Result<toml::Table> {
    const WHAT: &str = "token refresh";
    let url = check_refresh_url(server, refresh_url)?;
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
