//! One module per hub: which store, which flows, how to check, who the user is.
//! [`crate::auth`] drives them all through [`Provider`]; everything else that
//! must know the hubs (option parsing aside) reads the one table,
//! [`PROVIDERS`]. Adding a hub = one module + one row + its tests (README.md,
//! "Adding a hub").

pub mod cave;
pub mod dagshub;
pub mod dhcore;
pub mod juliahub;
pub mod oidc;

use crate::credential::CredentialInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::options::{Options, ProviderKind};
use crate::token::Token;

/// One hub, as everything outside its module sees it.
pub struct ProviderEntry {
    pub kind: ProviderKind,
    /// The `provider` option's value (the same as [`ProviderKind::name`]).
    pub name: &'static str,
    /// One line for the CLI's help.
    pub about: &'static str,
    /// The provider the options name, resolved (server, paths) but not yet used.
    pub new: fn(&Options) -> Result<Box<dyn Provider>>,
    /// The credentials `hubauth status` lists for this hub (files and the
    /// environment only: no network, no lock, no token values).
    pub discover: fn() -> Vec<CredentialInfo>,
}

/// Every hub, in the order of [`ProviderKind::ALL`] (a test checks it).
pub static PROVIDERS: &[ProviderEntry] = &[
    ProviderEntry {
        kind: ProviderKind::JuliaHub,
        name: "juliahub",
        about: "JuliaHub and Julia package servers (Pkg's auth.toml, JULIA_PKG_SERVER)",
        new: |options| Ok(Box::new(juliahub::JuliaHub::new(options)?)),
        discover: juliahub::status::discover,
    },
    ProviderEntry {
        kind: ProviderKind::DagsHub,
        name: "dagshub",
        about: "DagsHub (the dagshub client's token cache, DAGSHUB_USER_TOKEN)",
        new: |options| Ok(Box::new(dagshub::DagsHub::new(options)?)),
        discover: dagshub::status::discover,
    },
    ProviderEntry {
        kind: ProviderKind::DhCore,
        name: "dhcore",
        about: "DigitalHub DHCore (~/.dhcore.ini and the DHCORE_* variables)",
        new: |options| Ok(Box::new(dhcore::DhCore::new(options)?)),
        discover: || dhcore::discover(&crate::env::process_env),
    },
    ProviderEntry {
        kind: ProviderKind::Cave,
        name: "cave",
        about: "CAVE (CAVEclient's tokens in ~/.cloudvolume/secrets)",
        new: |options| Ok(Box::new(cave::Cave::new(options)?)),
        discover: cave::status::discover,
    },
    ProviderEntry {
        kind: ProviderKind::Oidc,
        name: "oidc",
        about: "any OpenID Connect / OAuth 2.0 server (with --issuer and --client-id)",
        new: |options| Ok(Box::new(oidc::Oidc::new(options)?)),
        discover: oidc::status::discover,
    },
];

/// The row of `kind`.
pub fn entry(kind: ProviderKind) -> Result<&'static ProviderEntry> {
    PROVIDERS
        .iter()
        .find(|p| p.kind == kind)
        .ok_or_else(|| Error::internal(format!("no provider {kind:?} in PROVIDERS")))
}

/// What a hub must be able to do. Every method gets the options of the call
/// (flags such as force, interactive, hook, timeout); the provider itself holds
/// only what it resolved at construction (server, file paths).
pub trait Provider: Send + Sync {
    /// The normalised server URL.
    fn server(&self) -> &str;

    /// A usable token: given, stored, refreshed, or from a login.
    fn authenticate(&self, options: &Options) -> Result<Token>;

    /// `current` is no longer fresh: get a fresh one, at most one refresh at a
    /// time across threads and processes, preferring a token someone else
    /// already stored.
    fn refresh(&self, current: &Token, options: &Options) -> Result<Token>;

    /// Reload what is stored (another process may have renewed it), refreshing
    /// if needed; with `options.force`, or when that fails, log in again.
    /// Not called for a token the caller gave (`options.token`): auth.rs
    /// handles that for every provider.
    fn reauthenticate(&self, current: &Token, options: &Options) -> Result<Token>;

    /// Asks the server whether `token` is good.
    fn check(&self, token: &Token, options: &Options) -> Result<bool>;

    /// Stores a token the user obtained elsewhere.
    fn save_token(&self, token: &str, options: &Options) -> Result<()>;

    /// Forgets the stored token (and revokes it where the hub allows).
    fn logout(&self, options: &Options) -> Result<()>;
}

/// Runs `attempt` up to `maxcount` times, as JuliaHub.jl's authenticate does.
/// A refused or failed login (AUTHENTICATION, SERVER) is tried again; any other
/// error ends at once. When every try failed, the error keeps the last
/// failure's kind (a denied login stays AUTHENTICATION, a broken server
/// SERVER) and says how many tries were made.
pub(crate) fn with_tries<T>(
    server: &str,
    options: &Options,
    mut attempt: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut last: Option<Error> = None;
    for _ in 0..options.maxcount {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(e) if matches!(e.kind(), ErrorKind::Authentication | ErrorKind::Server) => {
                last = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    let tries = options.maxcount;
    let (kind, last) = last.map_or((ErrorKind::Authentication, String::new()), |e| {
        (e.kind(), e.message().to_string())
    });
    Err(Error::new(
        kind,
        format!(
            "authentication with {server} failed after {tries} {}: {last}",
            if tries == 1 { "try" } else { "tries" }
        ),
    ))
}

/// The provider the options name, resolved (server, paths) but not yet used.
pub fn for_options(options: &Options) -> Result<Box<dyn Provider>> {
    (entry(options.provider)?.new)(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ProviderKind` lives in options.rs (below the providers); the table
    /// must name every kind once, in its order, under its name.
    #[test]
    fn the_table_matches_provider_kind() {
        let kinds: Vec<ProviderKind> = PROVIDERS.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ProviderKind::ALL);
        for p in PROVIDERS {
            assert_eq!(p.name, p.kind.name());
            assert_eq!(ProviderKind::parse(p.name).unwrap(), p.kind);
            assert!(!p.about.is_empty() && !p.about.contains('\n'));
        }
    }
}
