//! Which credentials hubauth can see, for `hubauth status` and any UI that
//! wants to list them. Every provider contributes its entries through the one
//! function [`discover`]. It reads files and the environment only: no network,
//! no lock, and never a token value (only names, paths, users and times).
//!
//! To add a provider: write `fn <provider>() -> Vec<CredentialInfo>` below
//! (reusing its store module's rules: parse, usable, expiry, user) and call it
//! from [`discover`].

use std::path::{Path, PathBuf};

pub use crate::credential::CredentialInfo;
use crate::credential::blank;
use crate::error::Error;
use crate::options::{Options, ProviderKind};
use crate::provider::cave::Cave;
use crate::provider::dagshub::DagsHub;
use crate::server::ServerUrl;
use crate::store::cave_json::SecretFile;
use crate::store::dagshub_yaml::{CachedToken, TokenCache};
use crate::store::oidc_toml;
use crate::store::pkg_toml::{self, PkgToken};
use crate::token::unix_now;

/// Every credential hubauth can see, for every provider, at default locations
/// and from environment variables.
pub fn discover() -> Vec<CredentialInfo> {
    let mut found = Vec::new();
    found.extend(juliahub());
    found.extend(dagshub());
    found.extend(dhcore());
    found.extend(cave());
    found.extend(oidc());
    found
}

/// dagshub: `DAGSHUB_USER_TOKEN` for the default host, and each host of the
/// token cache (its usable tokens taken together).
fn dagshub() -> Vec<CredentialInfo> {
    let kind = ProviderKind::DagsHub;
    let mut options = Options::new();
    options.provider = kind;
    let Ok(client) = DagsHub::new(&options) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if client.uses_env_token() {
        let mut entry = blank(kind, client.host(), "DAGSHUB_USER_TOKEN");
        entry.usable = true;
        found.push(entry);
    }
    let path = client.token_path();
    let source = path.display().to_string();
    match TokenCache::load(path, unix_now()) {
        Ok(cache) => {
            for host in cache.hosts() {
                let tokens = cache.tokens(host);
                let mut entry = blank(kind, host, &source);
                entry.options.push(("token_path".into(), source.clone()));
                entry.usable = !tokens.is_empty();
                // App tokens never expire; else the longest-lived bearer token.
                entry.expires_at = if tokens.iter().any(|t| t.expires_at().is_none()) {
                    None
                } else {
                    tokens.iter().filter_map(CachedToken::expires_at).max()
                };
                if !entry.usable {
                    entry.problem =
                        Some("no usable token; run `hubauth login --provider dagshub`".into());
                }
                found.push(entry);
            }
        }
        Err(e) => {
            let mut entry = blank(kind, client.host(), &source);
            entry.problem = Some(e.message().to_string());
            found.push(entry);
        }
    }
    found
}

/// cave: each secret file in `~/.cloudvolume/secrets` (the default one, the
/// per-server ones and the deprecated one), by its default key.
fn cave() -> Vec<CredentialInfo> {
    let kind = ProviderKind::Cave;
    let mut options = Options::new();
    options.provider = kind;
    let Ok(client) = Cave::new(&options) else {
        return Vec::new();
    };
    let Some(dir) = client.default_file().parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("cave-secret.json") || n == "chunkedgraph-secret.json")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let server = match name.strip_suffix("-cave-secret.json") {
                Some(netloc) => format!("https://{netloc}"),
                None => cave_default_server(),
            };
            let source = path.display().to_string();
            let mut entry = blank(kind, &server, &source);
            entry.options.push(("token_path".into(), source));
            match SecretFile::load(&path) {
                Ok(Some(file)) if file.contains("token") => entry.usable = true,
                Ok(_) => entry.problem = Some("no \"token\" key in the file".into()),
                Err(e) => entry.problem = Some(e.message().to_string()),
            }
            if name == "chunkedgraph-secret.json" {
                entry.problem = Some("deprecated file; save the token again with `hubauth save-token --provider cave`".into());
            }
            entry
        })
        .collect()
}

fn cave_default_server() -> String {
    crate::provider::cave::DEFAULT_SERVER.to_string()
}

/// dhcore: each profile of `$DH_CONFIG` or `~/.dhcore.ini` that has
/// credentials (the environment merged in, as `authenticate` would), or the
/// environment's alone.
fn dhcore() -> Vec<CredentialInfo> {
    crate::provider::dhcore::discover(&crate::env::process_env)
}

/// oidc: every `<config>/hubauth/oidc/<issuer>/<client_id>.toml`.
fn oidc() -> Vec<CredentialInfo> {
    let kind = ProviderKind::Oidc;
    let Some(root) = dirs::config_dir().map(|c| c.join("hubauth").join("oidc")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|dir| {
            std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let now = unix_now();
    files
        .into_iter()
        .map(|path| {
            let source = path.display().to_string();
            let mut entry = blank(kind, "", &source);
            match oidc_toml::load(&path) {
                Ok(Some(token)) => {
                    entry.server = token.issuer().unwrap_or_default().to_string();
                    entry.user = token.username().map(str::to_string);
                    entry.expires_at = token.expires_at();
                    entry.refreshable = token.refresh_token().is_some();
                    let fresh =
                        token.access_token().is_some() && entry.expires_at.is_none_or(|t| t > now);
                    entry.usable = fresh || entry.refreshable;
                    entry.options = vec![
                        ("provider".into(), kind.name().into()),
                        ("issuer".into(), entry.server.clone()),
                        (
                            "client_id".into(),
                            token.client_id().unwrap_or_default().into(),
                        ),
                        ("token_path".into(), source.clone()),
                    ];
                    if !entry.usable {
                        entry.problem = Some(
                            "expired and not refreshable; run `hubauth login --provider oidc`"
                                .into(),
                        );
                    }
                }
                Ok(None) => entry.problem = Some("the file is gone".into()),
                Err(e) => entry.problem = Some(e.message().to_string()),
            }
            entry
        })
        .collect()
}

/// juliahub: every `<depot>/servers/*/auth.toml` of the first depot, plus the
/// server `JULIA_PKG_SERVER` names when no token is stored for it.
fn juliahub() -> Vec<CredentialInfo> {
    const ENV: &str = "JULIA_PKG_SERVER";
    let provider = ProviderKind::JuliaHub.name();
    let env_server = std::env::var(ENV).ok().filter(|s| !s.trim().is_empty());
    let env_url = env_server.as_deref().map(ServerUrl::parse);
    let mut found = Vec::new();

    let depot = pkg_toml::depot();
    let mut env_covered = false;
    if let Ok(depot) = &depot {
        for (dir, path) in token_files(&depot.join("servers")) {
            let env_match = match &env_url {
                Some(Ok(url)) if url.dir_name() == dir => Some(url),
                _ => None,
            };
            env_covered |= env_match.is_some();
            found.push(juliahub_file(provider, &dir, &path, env_match));
        }
    }

    if !env_covered && let Some(raw) = env_server {
        let mut entry = CredentialInfo {
            provider: provider.to_string(),
            server: raw.trim().to_string(),
            user: None,
            source: ENV.to_string(),
            expires_at: None,
            refreshable: false,
            usable: false,
            problem: None,
            options: vec![("provider".into(), provider.into())],
        };
        match (env_url, &depot) {
            (Some(Ok(url)), Ok(_)) => {
                let expected = pkg_toml::path_for(&url)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                entry.problem = Some(format!(
                    "no token stored for {} (expected at {expected}); run `hubauth login`",
                    url.as_str()
                ));
                entry.server = url.as_str().to_string();
                entry.options.push(("server".into(), url.as_str().into()));
            }
            (Some(Err(e)), _) => entry.problem = Some(format!("{ENV}: {}", e.message())),
            (_, Err(e)) => entry.problem = Some(e.message().to_string()),
            (None, _) => {}
        }
        found.push(entry);
    }
    found
}

/// `(directory name, <dir>/auth.toml)` for every server directory holding a
/// token file, sorted by name.
fn token_files(servers: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(servers) else {
        return Vec::new();
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path().join("auth.toml");
            path.is_file()
                .then(|| (entry.file_name().to_string_lossy().into_owned(), path))
        })
        .collect();
    files.sort();
    files
}

fn juliahub_file(
    provider: &str,
    dir: &str,
    path: &Path,
    env_match: Option<&ServerUrl>,
) -> CredentialInfo {
    let mut entry = CredentialInfo {
        provider: provider.to_string(),
        server: String::new(),
        user: None,
        source: path.display().to_string(),
        expires_at: None,
        refreshable: false,
        usable: false,
        problem: None,
        options: Vec::new(),
    };
    let loaded = pkg_toml::load(path).and_then(|stored| {
        stored.ok_or_else(|| Error::no_credentials(format!("{} is gone", path.display())))
    });
    let stored = match loaded {
        Ok(stored) => Some(stored),
        Err(e) => {
            entry.problem = Some(e.message().to_string());
            None
        }
    };
    entry.server = juliahub_server(dir, stored.as_ref(), env_match);
    entry.options = vec![
        ("provider".into(), provider.into()),
        ("server".into(), entry.server.clone()),
        ("token_path".into(), entry.source.clone()),
    ];
    if let Some(stored) = stored {
        entry.user = stored.user_name().map(str::to_string);
        entry.expires_at = stored.expires_at();
        entry.refreshable = stored.is_refreshable();
        entry.usable = stored.is_usable();
        if !entry.usable {
            entry.problem = Some(
                "incomplete token (it needs id_token, refresh_token, refresh_url and \
                 expires_at); run `hubauth login --force`"
                    .to_string(),
            );
        }
    }
    entry
}

/// The server a `servers/<dir>` directory belongs to: JULIA_PKG_SERVER when it
/// maps there, else the origin of the token's refresh_url when that maps
/// there, else the directory name read back as `https://host[:port]`.
fn juliahub_server(dir: &str, stored: Option<&PkgToken>, env_match: Option<&ServerUrl>) -> String {
    if let Some(url) = env_match {
        return url.as_str().to_string();
    }
    let from_refresh_url = stored
        .and_then(PkgToken::refresh_url)
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .and_then(|origin| ServerUrl::parse(&origin).ok())
        .filter(|url| url.dir_name() == dir);
    if let Some(url) = from_refresh_url {
        return url.as_str().to_string();
    }
    let host = match dir.rsplit_once('_') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{host}:{port}")
        }
        _ => dir.to_string(),
    };
    format!("https://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_from_directory_name() {
        assert_eq!(
            juliahub_server("juliahub.com", None, None),
            "https://juliahub.com"
        );
        assert_eq!(
            juliahub_server("host_8443", None, None),
            "https://host:8443"
        );
        let stored = PkgToken::parse(
            b"refresh_url = \"http://127.0.0.1:9000/auth/renew/token.toml/v2/\"\n",
            Path::new("auth.toml"),
            None,
        )
        .unwrap();
        assert_eq!(
            juliahub_server("127.0.0.1_9000", Some(&stored), None),
            "http://127.0.0.1:9000"
        );
        // A refresh_url for another host does not name this directory's server.
        assert_eq!(
            juliahub_server("other_9000", Some(&stored), None),
            "https://other:9000"
        );
    }
}
