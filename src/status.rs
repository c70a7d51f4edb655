//! Which credentials hubauth can see, for `hubauth status` and any UI that
//! wants to list them. Every provider contributes its entries through the
//! `discover` of its row in [`crate::hubs::PROVIDERS`] (each reads files
//! and the environment only: no network, no lock, and never a token value;
//! only names, paths, users and times). This module holds only what is common.

pub use crate::credential::CredentialInfo;
use crate::hubs::PROVIDERS;

/// Every credential hubauth can see, for every provider (in the order of
/// [`PROVIDERS`]), at default locations and from environment variables.
pub fn discover() -> Vec<CredentialInfo> {
    PROVIDERS
        .iter()
        .flat_map(|provider| (provider.discover)())
        .collect()
}
