//! What `hubauth status` lists for dagshub: the environment token and each host of the token cache. Files and the
//! environment only: no network, no lock, never a token value.

use crate::credential::{CredentialInfo, blank};
use crate::options::{Options, ProviderKind};
use crate::provider::assess;
use crate::store::dagshub_yaml::{CachedToken, TokenCache};
use crate::token::unix_now;

use super::DagsHub;

/// dagshub: `DAGSHUB_USER_TOKEN` for the default host, and each host of the
/// token cache (its usable tokens taken together).
pub(crate) fn discover() -> Vec<CredentialInfo> {
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
                assess(&mut entry, DagsHub::new);
                // App tokens never expire; else the longest-lived bearer token.
                entry.expires_at = if tokens.iter().any(|t| t.expires_at().is_none()) {
                    None
                } else {
                    tokens.iter().filter_map(CachedToken::expires_at).max()
                };
                if !entry.usable {
                    entry.problem.get_or_insert_with(|| {
                        format!(
                            "no usable token; run `hubauth login --provider {}`",
                            kind.name()
                        )
                    });
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
