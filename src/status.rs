//! Which credentials hubauth can see, for `hubauth status` and any UI that
//! wants to list them. Every provider contributes its entries through the
//! `discover` of its row in [`crate::hubs::PROVIDERS`] (each reads files
//! and the environment only: no network, no lock, and never a token value;
//! only names, paths, users and times). This module holds only what is common.

pub use crate::credential::CredentialInfo;
use crate::error::Result;
use crate::hubs::PROVIDERS;
use crate::options::ProviderKind;
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
        let wanted = ServerUrl::parse(server)?;
        found.retain(|c| c.server == wanted.as_str());
    }
    Ok(found)
}
