//! OpenID Connect Discovery 1.0 (and its OAuth twin, RFC 8414): where an
//! issuer's endpoints are. Every hub that discovers endpoints asks here. A
//! document is kept per issuer (and [`IssuerCheck`]) for [`CACHE_TTL`], so a
//! long-lived process picks up a moved endpoint; a failed fetch is not
//! cached, so the next call tries again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;
use reqwest::Url;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::net::{self, Request};
use crate::server::{ServerUrl, require_secure_with};

/// The endpoints hubauth uses. Every URL has passed [`require_secure_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub token_endpoint: String,
    /// Where a browser login starts (authorization code + PKCE).
    pub authorization_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
}

/// How the document's `issuer` must match the issuer asked about, and so
/// which plain-http endpoints it may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssuerCheck {
    /// OpenID Connect Discovery §4.3: the document names exactly this issuer
    /// (or another server could be impersonating it); endpoints are https,
    /// or plain http to loopback.
    Exact,
    /// The document's `issuer` is not compared, for SDKs that do not compare
    /// it (deployments name it in another form: internal vs external URL, an
    /// explicit `:443`, http behind a TLS proxy). Endpoints are https, or
    /// plain http to loopback or to the origin of an issuer the user
    /// configured with http: a document never opens a new plain-http origin.
    Lenient,
}

/// How long a discovery document is used before it is fetched again.
pub const CACHE_TTL: Duration = Duration::from_secs(3600);

type Cache = HashMap<(String, IssuerCheck), (Instant, Arc<Discovery>)>;

static CACHE: Lazy<Mutex<Cache>> = Lazy::new(Default::default);

/// The issuer's discovery document, from the cache (younger than
/// [`CACHE_TTL`]) or the network. The lock is not held while fetching: two
/// threads may fetch at once, and the documents are the same.
pub fn discover(
    issuer: &ServerUrl,
    check: IssuerCheck,
    deadline: Option<Instant>,
) -> Result<Arc<Discovery>> {
    let key = (issuer.as_str().to_string(), check);
    if let Some((fetched, found)) = cache().get(&key)
        && fetched.elapsed() < CACHE_TTL
    {
        return Ok(found.clone());
    }
    let found = Arc::new(fetch(issuer, check, deadline)?);
    cache().insert(key, (Instant::now(), found.clone()));
    Ok(found)
}

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fetch(issuer: &ServerUrl, check: IssuerCheck, deadline: Option<Instant>) -> Result<Discovery> {
    let oidc = issuer.join("/.well-known/openid-configuration");
    let response = get(&oidc, deadline)?;
    let response = if response.status == 404 {
        get(&rfc8414_url(issuer), deadline)?
    } else {
        response
    };
    let what = format!("discovery for {}", issuer.as_str());
    if let Some(page) = response.not_a_hub(&what, "issuer") {
        return Err(page);
    }
    if response.status == 404 {
        // Neither well-known document: not an OpenID provider, and asking
        // again gets the same answer.
        return Err(Error::server(format!(
            "{what}: the server at {} answered 404: it is not an OpenID provider \
             (check `issuer`)",
            response.host
        ))
        .definite());
    }
    if !response.is_success() {
        return Err(Error::server_reply(
            crate::error::ErrorKind::Server,
            &format!("{what} (is the issuer right?)"),
            &response,
        ));
    }
    let Value::Object(doc) = response.json(&what)? else {
        return Err(Error::server(format!(
            "{what}: the reply is not a JSON object"
        )));
    };
    parse(issuer, check, &doc)
}

/// RFC 8414 §3: the well-known segment goes between host and path.
fn rfc8414_url(issuer: &ServerUrl) -> String {
    let url = issuer.url();
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    format!("{origin}/.well-known/oauth-authorization-server{path}")
}

/// The issuer's revocation endpoint (RFC 7009), wherever it publishes one:
/// the discovery document, else its RFC 8414 metadata. A server may publish
/// both documents and name `revocation_endpoint` in the OAuth one only (the
/// OpenID one lists what OpenID Connect defines). None when neither names
/// it; a metadata document that cannot be had or read names nothing.
pub fn revocation_endpoint(
    issuer: &ServerUrl,
    deadline: Option<Instant>,
) -> Result<Option<String>> {
    let found = discover(issuer, IssuerCheck::Exact, deadline)?;
    if let Some(endpoint) = &found.revocation_endpoint {
        return Ok(Some(endpoint.clone()));
    }
    let response = get(&rfc8414_url(issuer), deadline)?;
    if !response.is_success() {
        return Ok(None);
    }
    let what = format!("RFC 8414 metadata of {}", issuer.as_str());
    let Ok(Value::Object(doc)) = response.json(&what) else {
        return Ok(None);
    };
    // The same checks as discovery: the document is for this issuer, and
    // the endpoint is https (or loopback).
    Ok(parse(issuer, IssuerCheck::Exact, &doc)
        .ok()
        .and_then(|d| d.revocation_endpoint))
}

fn get(url: &str, deadline: Option<Instant>) -> Result<net::Response> {
    net::send(
        // The document decides where secrets go: only from the issuer's origin.
        Request::get(url)
            .header("accept", "application/json")
            .same_origin_only()
            .deadline(deadline),
    )
}

fn parse(issuer: &ServerUrl, check: IssuerCheck, doc: &Map<String, Value>) -> Result<Discovery> {
    let what = format!("discovery for {}", issuer.as_str());
    let named = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if check == IssuerCheck::Exact && named.trim_end_matches('/') != issuer.as_str() {
        return Err(Error::server(format!(
            "{what}: the document is for the issuer {named:?}; set `issuer` to exactly that"
        )));
    }
    let allowed_http = match check {
        IssuerCheck::Lenient if issuer.url().scheme() == "http" => Some(issuer.url().origin()),
        _ => None,
    };
    let endpoint = |key: &str| -> Result<Option<String>> {
        let Some(text) = doc.get(key).and_then(Value::as_str) else {
            return Ok(None);
        };
        let url = Url::parse(text)
            .map_err(|_| Error::server(format!("{what}: {key} is not a valid URL")))?;
        require_secure_with(&url, key, allowed_http.as_ref())?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::insecure(format!(
                "{what}: the {key} carries a user name or password"
            )));
        }
        Ok(Some(text.to_string()))
    };
    Ok(Discovery {
        issuer: issuer.as_str().to_string(),
        token_endpoint: endpoint("token_endpoint")?
            .ok_or_else(|| Error::server(format!("{what}: the document has no token_endpoint")))?,
        authorization_endpoint: endpoint("authorization_endpoint")?,
        device_authorization_endpoint: endpoint("device_authorization_endpoint")?,
        userinfo_endpoint: endpoint("userinfo_endpoint")?,
        introspection_endpoint: endpoint("introspection_endpoint")?,
        revocation_endpoint: endpoint("revocation_endpoint")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn doc(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn parses_endpoints_and_checks_the_issuer() {
        let issuer = ServerUrl::parse("https://id.example/realms/a").unwrap();
        let d = parse(
            &issuer,
            IssuerCheck::Exact,
            &doc(
                r#"{"issuer":"https://id.example/realms/a/","token_endpoint":"https://id.example/t",
                 "revocation_endpoint":"https://id.example/r"}"#,
            ),
        )
        .unwrap();
        assert_eq!(d.token_endpoint, "https://id.example/t");
        assert_eq!(
            d.revocation_endpoint.as_deref(),
            Some("https://id.example/r")
        );
        assert_eq!(d.introspection_endpoint, None);
        assert_eq!(d.authorization_endpoint, None);

        let wrong = parse(
            &issuer,
            IssuerCheck::Exact,
            &doc(r#"{"issuer":"https://evil.example","token_endpoint":"https://id.example/t"}"#),
        );
        assert_eq!(wrong.unwrap_err().kind(), ErrorKind::Server);

        let plain = parse(
            &issuer,
            IssuerCheck::Exact,
            &doc(
                r#"{"issuer":"https://id.example/realms/a","token_endpoint":"http://id.example/t"}"#,
            ),
        );
        assert_eq!(plain.unwrap_err().kind(), ErrorKind::Insecure);

        let browser = parse(
            &issuer,
            IssuerCheck::Exact,
            &doc(
                r#"{"issuer":"https://id.example/realms/a","token_endpoint":"https://id.example/t",
                 "authorization_endpoint":"https://id.example/auth"}"#,
            ),
        )
        .unwrap();
        assert_eq!(
            browser.authorization_endpoint.as_deref(),
            Some("https://id.example/auth")
        );
        let plain = parse(
            &issuer,
            IssuerCheck::Exact,
            &doc(
                r#"{"issuer":"https://id.example/realms/a","token_endpoint":"https://id.example/t",
                 "authorization_endpoint":"http://id.example/auth"}"#,
            ),
        );
        assert_eq!(plain.unwrap_err().kind(), ErrorKind::Insecure);
    }

    #[test]
    fn lenient_ignores_the_named_issuer_but_opens_no_new_http_origin() {
        let issuer = ServerUrl::parse_allowing_http("http://localhost:8080").unwrap();
        let other_form =
            doc(r#"{"issuer":"http://core.internal","token_endpoint":"http://localhost:8080/t"}"#);
        assert!(parse(&issuer, IssuerCheck::Exact, &other_form).is_err());
        let d = parse(&issuer, IssuerCheck::Lenient, &other_form).unwrap();
        assert_eq!(d.token_endpoint, "http://localhost:8080/t");

        let configured = ServerUrl::parse_allowing_http("http://core.example:8080").unwrap();
        let own = doc(r#"{"token_endpoint":"http://core.example:8080/t"}"#);
        assert!(parse(&configured, IssuerCheck::Lenient, &own).is_ok());
        for endpoint in [
            "http://elsewhere.example/t",
            "http://core.example:8081/t",
            "https://user:pw@core.example/t",
        ] {
            let d = doc(&format!(r#"{{"token_endpoint":"{endpoint}"}}"#));
            let err = parse(&configured, IssuerCheck::Lenient, &d).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Insecure, "{endpoint}");
        }
    }
}
