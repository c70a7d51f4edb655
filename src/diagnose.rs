//! What `hubauth doctor` finds out: for each credential [`crate::status`]
//! lists, where it comes from, whether its file is safe, when it expires,
//! whether its server answers and how far that server's clock is from ours;
//! plus the proxy and CA settings of the environment. Every problem comes
//! with one line saying what to do.
//!
//! Never a token value: the report is built from [`CredentialInfo`] (names,
//! paths, users and times only) and from unauthenticated probes that carry
//! no credential. Proxy URLs are shown without their password.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::credential::CredentialInfo;
use crate::env::{Env, non_empty, process_env};
use crate::error::Result;
use crate::net::{self, MAX_CLOCK_SKEW_S, Request};
use crate::options::ProviderKind;
use crate::server::{ServerUrl, display_url};
use crate::status;
use crate::store::fsutil;
use crate::token::unix_now;

/// How long a probe may take when the caller sets no timeout.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The proxy variables the library reads (one list, in net/client.rs).
pub use crate::net::client::PROXY_VARS;

/// The variables that name CA certificates: OpenSSL's, then each hub's
/// SDK's (its row's `ca_vars`), each once. `SSL_CERT_DIR` names a
/// directory, `SSL_CERT_FILE` a file, the others either.
pub fn ca_vars() -> Vec<&'static str> {
    let mut vars = vec!["SSL_CERT_FILE", "SSL_CERT_DIR"];
    for kind in ProviderKind::ALL {
        for var in kind.facts().ca_vars {
            if !vars.contains(var) {
                vars.push(var);
            }
        }
    }
    vars
}

/// The one URL a probe of a hub's server asks: its row's `probe_path`
/// ([`crate::provider_kind::HubFacts::probe_path`]).
pub fn probe_url(kind: ProviderKind, server: &str) -> String {
    let path = kind.facts().probe_path;
    format!("{}{path}", server.trim_end_matches('/'))
}

/// Everything `hubauth doctor` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// No problem anywhere.
    pub ok: bool,
    pub credentials: Vec<CredentialReport>,
    /// A server probed although no credential for it was found (the one
    /// selected with `--server`).
    pub server: Option<Probe>,
    /// Proxy and CA variables that are set.
    pub environment: Vec<Setting>,
    /// Problems not tied to one credential.
    pub problems: Vec<String>,
}

impl Report {
    /// Every problem line, the credentials' first.
    pub fn all_problems(&self) -> impl Iterator<Item = &String> {
        self.credentials
            .iter()
            .flat_map(|c| &c.problems)
            .chain(&self.problems)
    }
}

/// One credential.
#[derive(Clone, Debug, Serialize)]
pub struct CredentialReport {
    pub provider: String,
    pub server: String,
    /// As `hubauth status` shows it: a path, or a variable name.
    pub source: String,
    /// The environment variable it comes from, if so.
    pub env_var: Option<String>,
    /// The profile (file section) it is in, for hubs that have them.
    pub profile: Option<String>,
    pub file: Option<FileReport>,
    pub user: Option<String>,
    /// Unix seconds; None = never or unknown.
    pub expires_at: Option<i64>,
    /// Seconds until `expires_at` (negative: expired that long ago).
    pub seconds_left: Option<i64>,
    pub refreshable: bool,
    pub usable: bool,
    /// The probe of its server; None when the server is not known.
    pub server_check: Option<Probe>,
    /// One line each: what is wrong and what to do.
    pub problems: Vec<String>,
}

/// The token file's safety.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    pub path: String,
    /// The file `path` leads to when it is the user's own link (the store
    /// reads and writes that file, so its mode and owner are reported).
    pub target: Option<String>,
    pub exists: bool,
    /// Permission bits in octal, e.g. "600".
    pub mode: Option<String>,
    pub owner_uid: Option<u32>,
    /// Owned by the user running hubauth.
    pub owned_by_you: Option<bool>,
    /// Group or others may read or write it.
    pub others_can_access: Option<bool>,
}

/// One unauthenticated GET of a server.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub url: String,
    /// An HTTP reply came (502, 503 and 504 are a gateway's, not the server's).
    pub answered: bool,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// The server's `Date` minus the local clock when the reply came, in seconds.
    pub clock_skew_s: Option<i64>,
}

/// A proxy or CA variable that is set.
#[derive(Clone, Debug, Serialize)]
pub struct Setting {
    pub name: String,
    /// The value; for proxies without a password in it.
    pub value: String,
    /// For CA variables: whether the file or directory exists.
    pub exists: Option<bool>,
}

/// Diagnoses every credential `hubauth status` lists for `provider` and
/// `server` (all of them when neither is given). Probes take at most
/// `timeout` each; one probe per server.
pub fn diagnose(
    provider: Option<&str>,
    server: Option<&str>,
    timeout: Option<Duration>,
) -> Result<Report> {
    let found = status::select(status::discover(), provider, server)?;
    let timeout = timeout.unwrap_or(DEFAULT_PROBE_TIMEOUT);
    let mut probes = HashMap::new();
    let credentials: Vec<CredentialReport> = found
        .iter()
        .map(|c| credential_report(c, timeout, &mut probes))
        .collect();
    let mut problems = Vec::new();
    let mut server_probe = None;
    if credentials.is_empty() {
        let kind = match provider {
            Some(name) => ProviderKind::parse(name)?,
            None => ProviderKind::DEFAULT,
        };
        let target = server.map(ServerUrl::parse).transpose()?;
        let login = match &target {
            Some(s) => format!(
                "hubauth login --provider {} {} {}",
                kind.name(),
                kind.facts().login_flag,
                s.as_str()
            ),
            None => "hubauth login --server URL".to_string(),
        };
        problems.push(format!("no credentials found; log in with `{login}`"));
        if let Some(target) = target {
            let probe = probe(&probe_url(kind, target.as_str()), timeout);
            problems.extend(probe_problems(target.as_str(), &probe));
            server_probe = Some(probe);
        }
    }
    let environment = environment(&process_env, &mut problems);
    let mut report = Report {
        ok: false,
        credentials,
        server: server_probe,
        environment,
        problems,
    };
    let ok = report.all_problems().next().is_none();
    report.ok = ok;
    Ok(report)
}

fn credential_report(
    c: &CredentialInfo,
    timeout: Duration,
    probes: &mut HashMap<String, Probe>,
) -> CredentialReport {
    let now = unix_now();
    let mut problems = Vec::new();
    if let Some(problem) = &c.problem {
        problems.push(problem.clone());
    }
    let file = c.file().map(|path| file_report(&path));
    if let Some(f) = &file {
        problems.extend(file_problems(f));
    }
    let seconds_left = c.expires_at.map(|at| at - now);
    let expired = seconds_left.is_some_and(|left| left <= 0);
    if c.problem.is_none() && (!c.usable || (expired && !c.refreshable)) {
        let what = match seconds_left {
            Some(left) if expired => {
                format!("the token expired {} s ago and cannot be refreshed", -left)
            }
            _ => "the token cannot be used without a login".to_string(),
        };
        problems.push(format!("{what}; run `{}`", login_command(c)));
    }
    let kind = ProviderKind::parse(&c.provider).ok();
    let server_check = match kind {
        Some(kind) if !c.server.is_empty() => {
            let url = probe_url(kind, &c.server);
            let probe = probes
                .entry(url.clone())
                .or_insert_with(|| probe(&url, timeout))
                .clone();
            problems.extend(probe_problems(&c.server, &probe));
            Some(probe)
        }
        _ => None,
    };
    CredentialReport {
        provider: c.provider.clone(),
        server: c.server.clone(),
        source: c.source.clone(),
        env_var: c.env_var().map(str::to_string),
        profile: c.profile().map(str::to_string),
        file,
        user: c.user.clone(),
        expires_at: c.expires_at,
        seconds_left,
        refreshable: c.refreshable,
        usable: c.usable,
        server_check,
        problems,
    }
}

fn login_command(c: &CredentialInfo) -> String {
    let mut command = format!("hubauth login --provider {}", c.provider);
    if !c.server.is_empty() {
        let flag = ProviderKind::parse(&c.provider).map_or("--server", |k| k.facts().login_flag);
        command.push_str(&format!(" {flag} {}", c.server));
    }
    if let Some(profile) = c.profile() {
        command.push_str(&format!(" --profile {profile}"));
    }
    command.push_str(" --force");
    command
}

fn file_report(path: &Path) -> FileReport {
    // The file the store uses: the user's own links followed (a link someone
    // else owns is reported as it is, and is refused by the store).
    let file = fsutil::resolve(path).unwrap_or_else(|_| path.to_path_buf());
    let meta = std::fs::symlink_metadata(&file).ok();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    FileReport {
        path: path.display().to_string(),
        target: (file != path).then(|| file.display().to_string()),
        exists: meta.is_some(),
        mode: meta.as_ref().map(|m| format!("{:o}", m.mode() & 0o777)),
        owner_uid: meta.as_ref().map(MetadataExt::uid),
        owned_by_you: meta.as_ref().map(|m| m.uid() == me),
        others_can_access: meta.as_ref().map(|m| m.mode() & 0o077 != 0),
    }
}

fn file_problems(f: &FileReport) -> Vec<String> {
    let mut problems = Vec::new();
    let file = f.target.as_deref().unwrap_or(&f.path);
    if f.others_can_access == Some(true) {
        problems.push(format!(
            "{file} can be read by other users (mode {}); run `chmod 600 {file}`",
            f.mode.as_deref().unwrap_or("?"),
        ));
    }
    // root's files are trusted as the store trusts them.
    if let Some(uid) = f.owner_uid.filter(|uid| !fsutil::trusted_owner(*uid)) {
        problems.push(format!(
            "{file} belongs to another user (uid {uid}); remove it and log in again, \
             or have its owner fix it"
        ));
    }
    problems
}

/// One GET of `url` with no credential, at most `timeout`.
fn probe(url: &str, timeout: Duration) -> Probe {
    let started = Instant::now();
    let reply = net::send(
        Request::get(url)
            .header("accept", "application/json")
            .deadline(Some(started + timeout)),
    );
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let url = display_url(url);
    match reply {
        Ok(reply) => Probe {
            url,
            answered: !matches!(reply.status, 502..=504),
            status: Some(reply.status),
            error: None,
            elapsed_ms,
            clock_skew_s: net::clock_skew(reply.date),
        },
        Err(e) => Probe {
            url,
            answered: false,
            status: None,
            error: Some(e.message().to_string()),
            elapsed_ms,
            clock_skew_s: None,
        },
    }
}

fn probe_problems(server: &str, probe: &Probe) -> Vec<String> {
    let mut problems = Vec::new();
    if !probe.answered {
        let why = match (&probe.error, probe.status) {
            (Some(error), _) => error.clone(),
            (None, Some(status)) => format!("a gateway answered {status}"),
            (None, None) => "no reply".into(),
        };
        problems.push(format!(
            "{server} does not answer ({why}); check the URL, the network and the proxy settings"
        ));
    }
    if let Some(skew) = probe.clock_skew_s.filter(|s| s.abs() > MAX_CLOCK_SKEW_S) {
        let direction = if skew > 0 { "ahead of" } else { "behind" };
        problems.push(format!(
            "the clock of {server} is {} s {direction} this computer's; set the clock \
             right (e.g. enable NTP), else tokens seem to expire early or late",
            skew.abs()
        ));
    }
    problems
}

/// The proxy and CA variables that are set; problems for CA paths that do not exist.
fn environment(env: Env<'_>, problems: &mut Vec<String>) -> Vec<Setting> {
    let mut settings = Vec::new();
    for name in PROXY_VARS {
        if let Some(value) = non_empty(env, name) {
            settings.push(Setting {
                name: name.into(),
                value: without_password(&value),
                exists: None,
            });
        }
    }
    for name in ca_vars() {
        if let Some(value) = non_empty(env, name) {
            let path = Path::new(&value);
            let exists = if name == "SSL_CERT_DIR" {
                // A list, like PATH; each directory must exist.
                std::env::split_paths(&value).all(|p| p.is_dir())
            } else {
                path.exists()
            };
            if !exists {
                problems.push(format!(
                    "{name} names {value}, which does not exist; fix the path or unset {name}"
                ));
            }
            settings.push(Setting {
                name: name.into(),
                value,
                exists: Some(exists),
            });
        }
    }
    settings
}

/// A proxy URL with any user information replaced by `***`.
fn without_password(value: &str) -> String {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), value),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = match authority.rfind('@') {
        Some(at) => Some(at),
        // A password holding '/', '?' or '#' ends the authority early: what
        // stands before it is then no host[:port], and the user information
        // runs to the last '@'.
        None if !is_host_port(authority) => rest.rfind('@'),
        None => None,
    };
    match at {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => value.to_string(),
    }
}

/// `host` or `host:port` with a numeric port.
fn is_host_port(authority: &str) -> bool {
    match authority.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_url_per_provider() {
        for &kind in ProviderKind::ALL {
            let path = kind.facts().probe_path;
            assert_eq!(
                probe_url(kind, "https://h/x/"),
                format!("https://h/x{path}")
            );
        }
    }

    #[test]
    fn proxy_passwords_are_hidden() {
        assert_eq!(
            without_password("http://user:secret@proxy:3128"),
            "http://***@proxy:3128"
        );
        assert_eq!(without_password("user:pw@proxy:3128"), "***@proxy:3128");
        assert_eq!(
            without_password("http://proxy:3128/a@b"),
            "http://proxy:3128/a@b"
        );
        assert_eq!(without_password("localhost,.corp"), "localhost,.corp");
        // Passwords with the characters that end an authority.
        for value in [
            "http://user:pa/ss@proxy:3128",
            "http://user:pa?ss@proxy:3128",
            "http://user:pa#ss@proxy:3128",
            "http://:pa/ss@proxy:3128",
        ] {
            assert_eq!(without_password(value), "http://***@proxy:3128", "{value}");
        }
        assert_eq!(
            without_password("http://[::1]:3128/a@b"),
            "http://[::1]:3128/a@b"
        );
    }

    #[test]
    fn missing_ca_files_are_problems() {
        let env = |name: &str| match name {
            "SSL_CERT_FILE" => Some("/nonexistent/ca.pem".to_string()),
            "REQUESTS_CA_BUNDLE" => Some("/".to_string()),
            "HTTPS_PROXY" => Some("http://u:p@proxy:8080".to_string()),
            _ => None,
        };
        let mut problems = Vec::new();
        let settings = environment(&env, &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("SSL_CERT_FILE names /nonexistent/ca.pem"));
        let proxy = settings.iter().find(|s| s.name == "HTTPS_PROXY").unwrap();
        assert_eq!(proxy.value, "http://***@proxy:8080");
        assert_eq!(settings.len(), 3);
    }
}
