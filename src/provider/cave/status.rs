//! What `hubauth status` lists for cave: each secret file in the secrets directory. Files and the
//! environment only: no network, no lock, never a token value.

use std::path::PathBuf;

use crate::credential::{CredentialInfo, blank};
use crate::options::{Options, ProviderKind};
use crate::provider::assess;
use crate::store::cave_json::{self, SecretFile};

use super::Cave;

/// cave: each secret file in `~/.cloudvolume/secrets` (the default one, the
/// per-server ones and the deprecated one), by its default key.
pub(crate) fn discover() -> Vec<CredentialInfo> {
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
    let known: Vec<String> = SecretFile::load(&dir.join(cave_json::DATASTACK_MAP_FILE))
        .ok()
        .flatten()
        .map(|map| {
            map.keys()
                .filter_map(|k| map.token(k).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.ends_with(cave_json::DEFAULT_FILE) || n == cave_json::DEPRECATED_FILE
            })
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let per_server = cave_json::server_file_name("");
            let server = match name.strip_suffix(per_server.as_str()) {
                // The scheme from the datastack map when it names this host
                // (an http server), else https.
                Some(netloc) => known
                    .iter()
                    .find(|s| cave_json::netloc(s) == netloc)
                    .cloned()
                    .unwrap_or_else(|| format!("https://{netloc}")),
                None => cave_default_server(),
            };
            let source = path.display().to_string();
            let mut entry = blank(kind, &server, &source);
            entry.options.push(("token_path".into(), source));
            if name == cave_json::DEPRECATED_FILE {
                entry.problem = Some(format!(
                    "deprecated file; save the token again with `hubauth save-token --provider {}`",
                    kind.name()
                ));
            }
            assess(&mut entry, Cave::new);
            if !entry.usable && entry.problem.is_none() {
                entry.problem = Some(format!("no {:?} key in the file", cave_json::DEFAULT_KEY));
            }
            entry
        })
        .collect()
}

fn cave_default_server() -> String {
    crate::provider::cave::DEFAULT_SERVER.to_string()
}
