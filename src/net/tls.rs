//! How a server's certificate is verified when the user configured more than
//! the built-in roots: certificates named as roots (which may be the
//! server's own self-signed certificate), and, where the hub's row says
//! `no_verify_hosts`, the hosts Julia is told not to verify.
//!
//! Facts from the sources, where they decide what this file does:
//! - Pkg and PkgAuthentication download through Downloads.jl, which sets
//!   `set_ssl_verify(easy, verify_host(url, "ssl"))` for every request
//!   (Downloads.jl src/Curl/Easy.jl:109), turning off both peer and host
//!   verification for hosts `verify_host` says not to verify.
//! - NetworkOptions.jl `verify_host` (src/verify_host.jl:55-70, commit
//!   532992f): `JULIA_ALWAYS_VERIFY_HOSTS` wins; then a host in
//!   `JULIA_NO_VERIFY_HOSTS` or, for TLS, `JULIA_SSL_NO_VERIFY_HOSTS` is not
//!   verified. The host is taken from the URL (l.72-78: `[-\w.]+` after the
//!   scheme and any userinfo, so an IPv6 literal has none).
//! - Patterns (l.23-53, 103-135): comma-separated (blanks around commas
//!   ignored, empty ones dropped), each split on `.`; a part is a literal
//!   (ASCII letters, digits, `-`, `_`), `*` (one component) or `**` (any
//!   number of components; as the last part at least one). Matching is ASCII
//!   case-insensitive and whole-name. A pattern of exactly `**` matches every
//!   host, an IPv6 one included. A malformed pattern is warned about and
//!   skipped (l.108-115).
//! - libcurl/OpenSSL trust a self-signed certificate given as the CA file,
//!   `CA:TRUE` or not (`curl --cacert cert.pem`); rustls/webpki refuses a
//!   CA certificate as the server's own (`CaUsedAsEndEntity`). So a
//!   self-signed (issuer = subject) server certificate that is byte for
//!   byte one the user named as a root is accepted here when it is valid for
//!   the host name, as curl accepts it. Its validity period is not checked:
//!   the user pinned that certificate. A certificate some CA issued still
//!   needs that CA among the roots.
//!
//! A skipped verification is warned about once per host and process.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use once_cell::sync::Lazy;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::env::{Env, non_empty};
use crate::error::{Error, Result};
use crate::log;

/// One host pattern: its parts, each a literal, `*` or `**`.
type Pattern = Vec<String>;

/// The hosts whose certificates are not verified, as NetworkOptions decides.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NoVerifyHosts {
    /// From `JULIA_NO_VERIFY_HOSTS` and `JULIA_SSL_NO_VERIFY_HOSTS`.
    skip: Vec<Pattern>,
    /// From `JULIA_ALWAYS_VERIFY_HOSTS`: verified whatever `skip` says.
    always: Vec<Pattern>,
}

impl NoVerifyHosts {
    /// The variables' patterns; None when no host would be skipped.
    pub fn from_env(env: Env<'_>) -> Option<NoVerifyHosts> {
        let read = |name: &str| non_empty(env, name).map_or_else(Vec::new, |v| patterns(&v, name));
        let mut skip = read("JULIA_NO_VERIFY_HOSTS");
        skip.extend(read("JULIA_SSL_NO_VERIFY_HOSTS"));
        if skip.is_empty() {
            return None;
        }
        Some(NoVerifyHosts {
            skip,
            always: read("JULIA_ALWAYS_VERIFY_HOSTS"),
        })
    }

    /// Whether the certificate of `host` (a DNS name or an IP address, as
    /// the TLS connection names it) is left unverified.
    pub fn skips(&self, host: &str) -> bool {
        !matches_any(&self.always, host) && matches_any(&self.skip, host)
    }
}

/// Parses a pattern list; `name` is the variable, for the warning.
fn patterns(value: &str, name: &str) -> Vec<Pattern> {
    let is_word = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter_map(|pattern| {
            let parts: Pattern = pattern.split('.').map(str::to_string).collect();
            if parts.iter().all(|p| p == "*" || p == "**" || is_word(p)) {
                Some(parts)
            } else {
                log::warn(&format!("bad host pattern in {name}: {pattern:?}; ignored"));
                None
            }
        })
        .collect()
}

fn matches_any(patterns: &[Pattern], host: &str) -> bool {
    if patterns.iter().any(|p| p.len() == 1 && p[0] == "**") {
        return true;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let is_label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !labels.iter().all(|l| is_label(l)) {
        return false;
    }
    patterns.iter().any(|p| matches(p, &labels))
}

/// Whole-name match of `labels` against the parts of one pattern.
fn matches(parts: &[String], labels: &[&str]) -> bool {
    match parts.split_first() {
        None => labels.is_empty(),
        Some((part, [])) if part == "**" => !labels.is_empty(),
        Some((part, rest)) if part == "**" => {
            (0..=labels.len()).any(|n| matches(rest, &labels[n..]))
        }
        Some((part, rest)) => match labels.split_first() {
            Some((label, more)) => {
                (part == "*" || part.eq_ignore_ascii_case(label)) && matches(rest, more)
            }
            None => false,
        },
    }
}

/// Verifies as webpki does with the built-in and extra roots; then accepts
/// a certificate that is one of the extra roots itself (valid for the
/// name), and skips hosts the user said not to verify.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    no_verify: Option<NoVerifyHosts>,
}

/// Hosts already warned about.
static WARNED: Lazy<Mutex<HashSet<String>>> = Lazy::new(|| Mutex::new(HashSet::new()));

fn host_of(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_string(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => String::new(),
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let host = host_of(server_name);
        if self.no_verify.as_ref().is_some_and(|n| n.skips(&host)) {
            let first = WARNED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(host.clone());
            if first {
                log::warn(&format!(
                    "not verifying the TLS certificate of {host}: JULIA_NO_VERIFY_HOSTS or \
                     JULIA_SSL_NO_VERIFY_HOSTS names it"
                ));
            }
            return Ok(ServerCertVerified::assertion());
        }
        let refused = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(e) => e,
        };
        if is_self_issued(end_entity)
            && self
                .pinned
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref())
        {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        Err(refused)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// One DER element at the start of `der`: (the whole element, its
/// contents, what follows). None when it is not well formed.
fn der_element(der: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (_tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = der.len() - rest.len();
    Some((&der[..header + len], &rest[..len], &rest[len..]))
}

/// Whether a certificate names itself as its issuer (RFC 5280 §4.1:
/// tbsCertificate's issuer and subject Names are equal).
fn is_self_issued(cert: &[u8]) -> bool {
    /// `[0] EXPLICIT Version`, present in v2 and v3 certificates.
    const VERSION: u8 = 0xa0;
    let names = || {
        let certificate = der_element(cert)?.1;
        let tbs = der_element(certificate)?.1;
        let mut rest = tbs;
        if tbs.first() == Some(&VERSION) {
            rest = der_element(rest)?.2;
        }
        let after_serial = der_element(rest)?.2;
        let after_signature = der_element(after_serial)?.2;
        let (issuer, _, after_issuer) = der_element(after_signature)?;
        let after_validity = der_element(after_issuer)?.2;
        let (subject, _, _) = der_element(after_validity)?;
        Some(issuer == subject)
    };
    names().unwrap_or(false)
}

/// The TLS configuration for a client that trusts the built-in roots (as
/// reqwest's own: Mozilla's and the system's) plus `extra`, accepts a
/// server certificate that is one of `extra`, and skips `no_verify`.
pub(crate) fn client_config(
    extra: Vec<CertificateDer<'static>>,
    no_verify: Option<NoVerifyHosts>,
) -> Result<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Native stores often hold certificates webpki cannot read: skipped.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = store.add(cert);
    }
    for cert in &extra {
        let _ = store.add(cert.clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| Error::internal(format!("cannot set up TLS verification: {e}")))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            webpki,
            pinned: extra,
            no_verify,
        }))
        .with_no_client_auth();
    // reqwest is built without HTTP/2 (Cargo.toml).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(skip: &str, always: &str) -> NoVerifyHosts {
        NoVerifyHosts {
            skip: patterns(skip, "test"),
            always: patterns(always, "test"),
        }
    }

    #[test]
    fn patterns_match_as_network_options_documents() {
        let h = hosts("*.example.com, **.org , 127.0.0.1", "");
        assert!(h.skips("api.example.com"));
        assert!(h.skips("API.Example.COM"));
        assert!(!h.skips("example.com"));
        assert!(!h.skips("v1.api.example.com"));
        assert!(h.skips("julialang.org") && h.skips("a.b.julialang.org"));
        assert!(h.skips("org"), "a leading ** takes zero components or more");
        let trailing = hosts("internal.**", "");
        assert!(trailing.skips("internal.a.b"));
        assert!(!trailing.skips("internal"), "a last ** takes one or more");
        assert!(h.skips("127.0.0.1"));
        assert!(!h.skips("127.0.0.2"));
        assert!(!h.skips("::1"));
        let h = hosts("**.example.com", "");
        assert!(h.skips("example.com") && h.skips("v1.api.example.com"));
        assert!(!h.skips("badexample.com"));
        let h = hosts("**", "");
        assert!(h.skips("anything.at.all") && h.skips("::1"));
    }

    #[test]
    fn always_verify_wins_and_bad_patterns_are_dropped() {
        let h = hosts("**.example.com", "secure.example.com");
        assert!(h.skips("other.example.com"));
        assert!(!h.skips("secure.example.com"));
        let h = hosts("bad/pattern, *x.example.com, ok.example.com", "");
        assert_eq!(h.skip, vec![vec!["ok", "example", "com"]]);
    }

    /// A DER element of `tag` around `contents` (short lengths only).
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag, u8::try_from(contents.len()).unwrap()];
        out.extend_from_slice(contents);
        out
    }

    /// The outline of a certificate: version, serial, algorithm, issuer,
    /// validity, subject, key; the signature fields around it.
    fn certificate(issuer: &[u8], subject: &[u8]) -> Vec<u8> {
        let name = |cn: &[u8]| tlv(0x30, &tlv(0x31, &tlv(0x30, &tlv(0x0c, cn))));
        let tbs = [
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &[1]),
            tlv(0x30, &[]),
            name(issuer),
            tlv(0x30, &[]),
            name(subject),
            tlv(0x30, &[]),
        ]
        .concat();
        tlv(
            0x30,
            &[tlv(0x30, &tbs), tlv(0x30, &[]), tlv(0x03, &[0])].concat(),
        )
    }

    #[test]
    fn self_issued_means_issuer_equals_subject() {
        assert!(is_self_issued(&certificate(b"127.0.0.1", b"127.0.0.1")));
        assert!(!is_self_issued(&certificate(b"test CA", b"127.0.0.1")));
        let truncated = certificate(b"a", b"a");
        assert!(!is_self_issued(&truncated[..truncated.len() - 12]));
        assert!(!is_self_issued(b""));
    }

    #[test]
    fn nothing_to_skip_is_none() {
        let env = |name: &str| (name == "JULIA_SSL_NO_VERIFY_HOSTS").then(|| " , ".to_string());
        assert_eq!(NoVerifyHosts::from_env(&env), None);
        let env = |name: &str| (name == "JULIA_NO_VERIFY_HOSTS").then(|| "h".to_string());
        assert!(NoVerifyHosts::from_env(&env).unwrap().skips("h"));
    }
}
