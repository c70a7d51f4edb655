//! How the HTTP client is built: proxies from the environment, and the CA
//! roots a provider's users expect to be trusted.
//!
//! Proxies (read when a client is built, i.e. once per process and root set):
//! `HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http URLs (the upper-case
//! form is ignored when `REQUEST_METHOD` is set, i.e. under CGI, "httpoxy"),
//! `ALL_PROXY` for both when the scheme's own is unset; each also in lower
//! case (upper case wins). `NO_PROXY` lists hosts that go direct: names
//! (matching the name and its subdomains, a leading dot allowed), IP
//! addresses and CIDR ranges, or `*` for all. Loopback always goes direct
//! (`localhost`, 127.0.0.0/8, ::1), as in Go's net/http: a proxy cannot reach
//! this machine's loopback, and a token meant for a local server must not
//! travel through a remote one.
//!
//! CA roots: the built-in roots (Mozilla's, and the system's) plus, as extra
//! roots, the certificates in:
//! - `SSL_CERT_FILE` (a PEM file) and `SSL_CERT_DIR` (`:`-separated
//!   directories of PEM files), for every provider;
//! - the first set of the variables the hub's SDK reads (a file or
//!   directory), its row's `ca_vars` in the hub table: Julia's NetworkOptions
//!   reads `JULIA_SSL_CA_ROOTS_PATH`, Python's requests `REQUESTS_CA_BUNDLE`,
//!   else `CURL_CA_BUNDLE`;
//! - the option `ca_file` (a PEM file), for every provider.
//!
//! With extra roots, a server certificate that is one of them (a self-signed
//! server certificate given as the CA file) is accepted as curl accepts it;
//! for a hub whose row says `no_verify_hosts`, `JULIA_NO_VERIFY_HOSTS` /
//! `JULIA_SSL_NO_VERIFY_HOSTS` name hosts whose certificates are not
//! verified, as Julia's NetworkOptions says (`net/tls.rs`).
//!
//! A variable naming a file that cannot be read is skipped with a warning; an
//! unreadable `ca_file` is an error (the user asked for it by name). One
//! client is kept per set of root files, usually one per process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::env::{Env, non_empty};
use crate::error::{Error, Result};
use crate::log;
use crate::options::{Options, ProviderKind};

use super::tls::{self, NoVerifyHosts};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("hubauth/", env!("CARGO_PKG_VERSION"));
/// Hosts that never go through a proxy, whatever NO_PROXY says.
const LOOPBACK: &str = "localhost,127.0.0.0/8,::1";
/// The largest CA file read.
const MAX_CA_FILE: u64 = 16 * 1024 * 1024;

/// Where an extra root comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootSource {
    pub path: PathBuf,
    /// The variable or option that named it.
    pub origin: &'static str,
    /// A file (false) or a directory of files (true).
    pub dir: bool,
}

/// The extra roots of one provider with its options, and what to tell a user
/// whose server's certificate is not trusted.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Roots {
    pub sources: Vec<RootSource>,
    /// The variables (and option) that add a root for this provider.
    pub variables: Vec<&'static str>,
    /// Hosts whose certificates are not verified (where the hub's row says
    /// `no_verify_hosts`).
    pub no_verify: Option<NoVerifyHosts>,
}

/// What tells two clients apart: the root files, and the hosts not verified.
pub(crate) type Key = (Vec<PathBuf>, Option<NoVerifyHosts>);

impl Roots {
    /// The roots for `options` (its provider and `ca_file`) and `env`.
    pub fn for_options(options: &Options, env: Env<'_>) -> Roots {
        Roots::for_provider(Some(options.provider), options.ca_file.as_deref(), env)
    }

    /// The roots for `provider` (None: the variables of every provider only).
    pub fn for_provider(
        provider: Option<ProviderKind>,
        ca_file: Option<&Path>,
        env: Env<'_>,
    ) -> Roots {
        let mut roots = Roots::default();
        roots.file_var(env, "SSL_CERT_FILE", false);
        roots.variables.push("SSL_CERT_DIR");
        if let Some(dirs) = non_empty(env, "SSL_CERT_DIR") {
            for dir in dirs.split(':').filter(|d| !d.is_empty()) {
                roots.sources.push(RootSource {
                    path: PathBuf::from(dir),
                    origin: "SSL_CERT_DIR",
                    dir: true,
                });
            }
        }
        if let Some(facts) = provider.map(ProviderKind::facts) {
            // The hub's SDK reads the first of its variables that is set.
            let before = roots.sources.len();
            for &var in facts.ca_vars {
                if roots.sources.len() == before {
                    roots.file_var(env, var, true);
                } else {
                    roots.variables.push(var);
                }
            }
            if facts.no_verify_hosts {
                roots.no_verify = NoVerifyHosts::from_env(env);
            }
        }
        roots.variables.push("the option `ca_file`");
        if let Some(path) = ca_file {
            roots.sources.push(RootSource {
                path: path.to_path_buf(),
                origin: "ca_file",
                dir: false,
            });
        }
        roots
    }

    /// Adds `name`'s path when set; a directory is read as one when `may_be_dir`.
    fn file_var(&mut self, env: Env<'_>, name: &'static str, may_be_dir: bool) {
        self.variables.push(name);
        if let Some(value) = non_empty(env, name) {
            let path = PathBuf::from(value);
            let dir = may_be_dir && path.is_dir();
            self.sources.push(RootSource {
                path,
                origin: name,
                dir,
            });
        }
    }

    /// The cache key: the files and directories, in order, and the hosts
    /// not verified.
    pub(crate) fn key(&self) -> Key {
        (
            self.sources.iter().map(|s| s.path.clone()).collect(),
            self.no_verify.clone(),
        )
    }

    /// For an error about an untrusted certificate: the roots used and how
    /// to add one.
    pub fn hint(&self) -> String {
        let mut used = vec!["the built-in roots".to_string()];
        used.extend(
            self.sources
                .iter()
                .map(|s| format!("{} ({})", s.path.display(), s.origin)),
        );
        let mut variables: Vec<&str> = self.variables.clone();
        let option = variables.pop().unwrap_or("the option `ca_file`");
        format!(
            "trusted roots: {}; to trust another CA, set {} or {option}",
            used.join(", "),
            variables.join(", ")
        )
    }
}

/// A client with the proxies of `env` and the extra `roots`.
pub(crate) fn build(roots: &Roots, env: Env<'_>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(super::redirect_policy())
        // The proxies below replace reqwest's own reading of the
        // environment, to add the loopback rule.
        .no_proxy();
    for proxy in proxies(env)? {
        builder = builder.proxy(proxy);
    }
    let mut seen = std::collections::HashSet::new();
    let mut extra = Vec::new();
    for source in &roots.sources {
        extra.extend(load(source, &mut seen)?);
    }
    // Only the user's own settings take the verifier of `tls`; without any,
    // reqwest's stays.
    if !extra.is_empty() || roots.no_verify.is_some() {
        builder =
            builder.use_preconfigured_tls(tls::client_config(extra, roots.no_verify.clone())?);
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("cannot create the HTTP client: {e}")))
}

/// The proxy variables [`proxies`] reads (and curl, Python, Julia): the
/// proxies first, then the hosts that go direct.
pub const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The proxy variables set in the environment (not NO_PROXY), for messages
/// about a connection that may have gone through one.
pub(crate) fn proxy_variables(env: Env<'_>) -> Vec<&'static str> {
    PROXY_VARS[..6]
        .iter()
        .copied()
        .filter(|name| non_empty(env, name).is_some())
        .collect()
}

/// The proxies the environment names, most specific first.
fn proxies(env: Env<'_>) -> Result<Vec<reqwest::Proxy>> {
    let first = |names: &[&'static str]| -> Option<(&'static str, String)> {
        names
            .iter()
            .find_map(|n| non_empty(env, n).map(|v| (*n, v)))
    };
    let cgi = env("REQUEST_METHOD").is_some();
    let https = first(&["HTTPS_PROXY", "https_proxy"]);
    let http = if cgi {
        first(&["http_proxy"])
    } else {
        first(&["HTTP_PROXY", "http_proxy"])
    };
    let all = first(&["ALL_PROXY", "all_proxy"]);
    let no_proxy = match first(&["NO_PROXY", "no_proxy"]) {
        Some((_, list)) => format!("{list},{LOOPBACK}"),
        None => LOOPBACK.to_string(),
    };
    let mut out = Vec::new();
    let with_scheme = |value: &str| {
        if value.contains("://") {
            value.to_string()
        } else {
            format!("http://{value}")
        }
    };
    let bad = |name: &str| {
        Error::invalid_argument(format!(
            "{name} is not a proxy URL (e.g. http://proxy.example:3128)"
        ))
    };
    let no = || reqwest::NoProxy::from_string(&no_proxy);
    if let Some((name, value)) = https {
        out.push(
            reqwest::Proxy::https(with_scheme(&value))
                .map_err(|_| bad(name))?
                .no_proxy(no()),
        );
    }
    if let Some((name, value)) = http {
        out.push(
            reqwest::Proxy::http(with_scheme(&value))
                .map_err(|_| bad(name))?
                .no_proxy(no()),
        );
    }
    if let Some((name, value)) = all {
        out.push(
            reqwest::Proxy::all(with_scheme(&value))
                .map_err(|_| bad(name))?
                .no_proxy(no()),
        );
    }
    Ok(out)
}

/// The certificates of one source. An unreadable `ca_file` is an error; a
/// variable's file that cannot be read is skipped with a warning.
/// Each file is read once (`seen` holds the canonical paths read so far):
/// a directory's hash links and a bundle named twice add nothing.
fn load(
    source: &RootSource,
    seen: &mut std::collections::HashSet<PathBuf>,
) -> Result<Vec<CertificateDer<'static>>> {
    let mut first_time = |path: &Path| match std::fs::canonicalize(path) {
        Ok(real) => seen.insert(real),
        Err(_) => true,
    };
    if source.dir {
        let mut certs = Vec::new();
        let entries = match std::fs::read_dir(&source.path) {
            Ok(entries) => entries,
            Err(e) => {
                log::warn(&format!(
                    "{} names {}, which cannot be read ({e}); ignored",
                    source.origin,
                    source.path.display()
                ));
                return Ok(certs);
            }
        };
        for entry in entries.flatten() {
            if !first_time(&entry.path()) {
                continue;
            }
            // Files that are not PEM certificates are skipped.
            if let Ok(found) = read_pem(&entry.path()) {
                certs.extend(found);
            }
        }
        return Ok(certs);
    }
    if !first_time(&source.path) {
        return Ok(Vec::new());
    }
    match read_pem(&source.path) {
        Ok(certs) => Ok(certs),
        Err(why) if source.origin == "ca_file" => Err(Error::invalid_argument(format!(
            "option `ca_file`: {}: {why}",
            source.path.display()
        ))),
        Err(why) => {
            log::warn(&format!(
                "{} names {}: {why}; ignored",
                source.origin,
                source.path.display()
            ));
            Ok(Vec::new())
        }
    }
}

fn read_pem(path: &Path) -> std::result::Result<Vec<CertificateDer<'static>>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read ({e})"))?;
    if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
        return Err("is not a file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CA_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read ({e})"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| "is not a PEM certificate file".to_string())?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn each_provider_reads_its_own_variables() {
        let env = env_of(&[
            ("SSL_CERT_FILE", "/a.pem"),
            ("SSL_CERT_DIR", "/d1:/d2"),
            ("JULIA_SSL_CA_ROOTS_PATH", "/julia.pem"),
            ("REQUESTS_CA_BUNDLE", "/requests.pem"),
            ("CURL_CA_BUNDLE", "/curl.pem"),
        ]);
        let paths = |p: Option<ProviderKind>, ca: Option<&Path>| -> Vec<String> {
            Roots::for_provider(p, ca, &env)
                .sources
                .iter()
                .map(|s| format!("{}={}", s.origin, s.path.display()))
                .collect()
        };
        let common = [
            "SSL_CERT_FILE=/a.pem",
            "SSL_CERT_DIR=/d1",
            "SSL_CERT_DIR=/d2",
        ];
        assert_eq!(paths(None, None), common);
        for &p in ProviderKind::ALL {
            // The first of the row's variables that is set, and only it.
            let mut expected = common.map(String::from).to_vec();
            if let Some(var) = p.facts().ca_vars.first() {
                expected.push(format!("{var}={}", env(var).unwrap()));
            }
            assert_eq!(paths(Some(p), None), expected, "{p:?}");
            expected.push("ca_file=/mine.pem".into());
            assert_eq!(paths(Some(p), Some(Path::new("/mine.pem"))), expected);
        }
        // CURL_CA_BUNDLE when REQUESTS_CA_BUNDLE is unset.
        let curl = env_of(&[("CURL_CA_BUNDLE", "/curl.pem")]);
        let requests_like = ProviderKind::ALL
            .iter()
            .find(|p| p.facts().ca_vars == ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]);
        let roots = Roots::for_provider(requests_like.copied(), None, &curl);
        assert_eq!(roots.sources[0].origin, "CURL_CA_BUNDLE");
        let hint = roots.hint();
        assert!(hint.contains("/curl.pem (CURL_CA_BUNDLE)"), "{hint}");
        assert!(hint.contains("REQUESTS_CA_BUNDLE"), "{hint}");
        assert!(hint.ends_with("or the option `ca_file`"), "{hint}");
    }

    #[test]
    fn proxies_come_from_the_environment_and_bad_ones_are_named() {
        assert!(proxies(&env_of(&[])).unwrap().is_empty());
        let set = env_of(&[
            ("https_proxy", "proxy.example:3128"),
            ("HTTP_PROXY", "http://proxy.example:3128"),
            ("ALL_PROXY", "http://other.example:1"),
        ]);
        assert_eq!(proxies(&set).unwrap().len(), 3);
        // Under CGI, HTTP_PROXY may come from a request header: ignored.
        let cgi = env_of(&[("HTTP_PROXY", "http://p:1"), ("REQUEST_METHOD", "GET")]);
        assert!(proxies(&cgi).unwrap().is_empty());
        let bad = env_of(&[("HTTPS_PROXY", "http://[::1")]);
        let err = proxies(&bad).unwrap_err();
        assert!(err.message().contains("HTTPS_PROXY"), "{}", err.message());
    }

    #[test]
    fn an_unreadable_ca_file_is_an_error_a_variable_only_a_warning() {
        let missing = RootSource {
            path: PathBuf::from("/nonexistent/hubauth-ca.pem"),
            origin: "ca_file",
            dir: false,
        };
        let mut seen = Default::default();
        let err = load(&missing, &mut seen).unwrap_err();
        assert!(err.message().contains("ca_file"), "{}", err.message());
        let from_env = RootSource {
            origin: "SSL_CERT_FILE",
            ..missing
        };
        assert!(load(&from_env, &mut seen).unwrap().is_empty());
    }
}
