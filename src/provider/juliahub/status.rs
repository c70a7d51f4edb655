//! What `hubauth status` lists for juliahub: the token files of the first depot and JULIA_PKG_SERVER. Files and the
//! environment only: no network, no lock, never a token value.

use std::path::{Path, PathBuf};

use crate::credential::{CredentialInfo, blank};
use crate::error::Error;
use crate::options::ProviderKind;
use crate::provider::assess;
use crate::server::ServerUrl;
use crate::store::pkg_toml::{self, PkgToken};

use super::JuliaHub;

/// juliahub: every `<depot>/servers/*/auth.toml` of the first depot, plus the
/// server `JULIA_PKG_SERVER` names when no token is stored for it.
pub(crate) fn discover() -> Vec<CredentialInfo> {
    const ENV: &str = "JULIA_PKG_SERVER";
    let kind = ProviderKind::JuliaHub;
    let env_server = std::env::var(ENV).ok().filter(|s| !s.trim().is_empty());
    let env_url = env_server.as_deref().map(ServerUrl::parse);
    let mut found = Vec::new();

    let depot = pkg_toml::depot();
    let mut env_covered = false;
    if let Ok(depot) = &depot {
        for (dir, path) in token_files(&depot.join("servers")) {
            let env_match = match &env_url {
                Some(Ok(url))
                    if env_server
                        .as_deref()
                        .and_then(pkg_toml::dir_name)
                        .as_deref()
                        == Some(dir.as_str()) =>
                {
                    Some(url)
                }
                _ => None,
            };
            env_covered |= env_match.is_some();
            found.push(juliahub_file(kind, &dir, &path, env_match));
        }
    }

    if !env_covered && let Some(raw) = env_server {
        let mut entry = blank(kind, "", ENV);
        entry.server = raw.trim().to_string();
        match (env_url, &depot) {
            (Some(Ok(url)), Ok(_)) => {
                let expected = pkg_toml::path_for(&raw)
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
    kind: ProviderKind,
    dir: &str,
    path: &Path,
    env_match: Option<&ServerUrl>,
) -> CredentialInfo {
    let mut entry = blank(kind, "", &path.display().to_string());
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
        ("provider".into(), kind.name().into()),
        ("server".into(), entry.server.clone()),
        ("token_path".into(), entry.source.clone()),
    ];
    if let Some(stored) = stored {
        entry.user = stored.user_name().map(str::to_string);
        entry.expires_at = stored.expires_at();
        if !(stored.is_usable() || stored.is_usable_for_pkg()) {
            entry.problem = Some(
                "incomplete token (it needs an access_token, or an id_token and expires or \
                 expires_at); run `hubauth login --force`"
                    .to_string(),
            );
        }
        // Usable for JuliaHub's API (the default token_kind, JuliaHub.jl's
        // rule) or else for the package server (Pkg's: an access_token
        // alone); the entry's options then say which.
        assess(&mut entry, JuliaHub::new);
        if !entry.usable && entry.problem.is_none() {
            let mut for_pkg = entry.clone();
            for_pkg.options.push(("token_kind".into(), "access".into()));
            assess(&mut for_pkg, JuliaHub::new);
            if for_pkg.usable {
                entry = for_pkg;
            } else {
                entry.problem = Some(
                    "the token expired and cannot be refreshed; run `hubauth login --force`"
                        .to_string(),
                );
            }
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
        .filter(|origin| pkg_toml::dir_name(origin).as_deref() == Some(dir))
        .and_then(|origin| ServerUrl::parse(&origin).ok());
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
