//! Which credentials hubauth can see, for `hubauth status` and any UI that
//! wants to list them. Every provider contributes its entries through the
//! `discover` of its row in [`crate::hubs::PROVIDERS`] (each reads files
//! and the environment only: no network, no lock, and never a token value;
//! only names, paths, users and times). Whether an entry is usable and
//! refreshable is decided as `authenticate` decides it, from the provider's
//! own `token` and `renewal` ([`crate::provider::Standing`]). This module
//! holds only what is common.

pub use crate::credential::CredentialInfo;
use crate::error::Result;
use crate::hubs::PROVIDERS;
use crate::options::ProviderKind;
use crate::provider_kind::ServerMatch;
use crate::server::ServerUrl;

/// Every credential hubauth can see, for every provider (in the order of
/// [`PROVIDERS`]), at default locations and from environment variables.
pub fn discover() -> Vec<CredentialInfo> {
    PROVIDERS
        .iter()
        .flat_map(|provider| (provider.discover)())
        .collect()
}

/// The credentials of `found` for `provider` and `server`, when given (the
/// server normalised as everywhere else). Bad names are `InvalidArgument`.
pub fn select(
    mut found: Vec<CredentialInfo>,
    provider: Option<&str>,
    server: Option<&str>,
) -> Result<Vec<CredentialInfo>> {
    if let Some(provider) = provider {
        let kind = ProviderKind::parse(provider)?;
        found.retain(|c| c.provider == kind.name());
    }
    if let Some(server) = server {
        // A filter only; the server the user names may be plain http where
        // its hub allows it.
        let wanted = ServerUrl::parse_allowing_http(server)?;
        found.retain_mut(|c| {
            if c.server == wanted.as_str() {
                return true;
            }
            let host_port = ProviderKind::parse(&c.provider)
                .is_ok_and(|kind| kind.facts().server_match == ServerMatch::HostPort);
            let same_host = host_port
                && ServerUrl::parse_allowing_http(&c.server)
                    .is_ok_and(|s| s.host_port() == wanted.host_port());
            if same_host {
                // The store keeps no scheme: the user's URL tells it.
                c.server = wanted.as_str().to_string();
                for (key, value) in &mut c.options {
                    if key == "server" {
                        *value = wanted.as_str().to_string();
                    }
                }
            }
            same_host
        });
    }
    Ok(found)
}
