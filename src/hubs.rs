//! The table of hubs. Everything that must know them all (the `provider`
//! option's names, `for_options`, `hubauth status`'s discovery, the CLI's
//! help) reads [`PROVIDERS`]. Adding a hub = one module under `provider/` +
//! one row here + its tests (README.md, "Adding a hub").

use crate::credential::CredentialInfo;
use crate::error::{Error, Result};
use crate::lifecycle::{Engine, Lifecycle};
use crate::options::{Options, ProviderKind};
use crate::provider::{cave, dagshub, dhcore, juliahub, oidc};

/// One hub, as everything outside its module sees it.
pub struct ProviderEntry {
    pub kind: ProviderKind,
    /// The `provider` option's value (the same as [`ProviderKind::name`]).
    pub name: &'static str,
    /// One line for the CLI's help.
    pub about: &'static str,
    /// The provider the options name, resolved (server, paths) but not yet used.
    pub new: fn(&Options) -> Result<Box<dyn Lifecycle>>,
    /// The credentials `hubauth status` lists for this hub (files and the
    /// environment only: no network, no lock, no token values).
    pub discover: fn() -> Vec<CredentialInfo>,
    /// The hub's own SDK asks the server about a stored token before handing
    /// it out, so whoever otherwise hands tokens out unchecked (`hubauth
    /// token`) checks them too, unless told `validate=false`.
    pub checks_before_use: bool,
    /// The path `hubauth doctor` probes on the hub's server: cheap,
    /// unauthenticated, and answered by every server of that kind (any HTTP
    /// status means it answers).
    pub probe_path: &'static str,
}

/// Every hub, in the order of [`ProviderKind::ALL`] (a test checks it).
pub static PROVIDERS: &[ProviderEntry] = &[
    ProviderEntry {
        kind: ProviderKind::JuliaHub,
        name: "juliahub",
        about: "JuliaHub and Julia package servers (Pkg's auth.toml, JULIA_PKG_SERVER)",
        new: |options| Ok(Engine::boxed(juliahub::JuliaHub::new(options)?)),
        discover: juliahub::status::discover,
        checks_before_use: false,
        // PkgAuthentication asks it before any login (501 on classic-only servers).
        probe_path: "/auth/configuration",
    },
    ProviderEntry {
        kind: ProviderKind::DagsHub,
        name: "dagshub",
        about: "DagsHub (the dagshub client's token cache, DAGSHUB_USER_TOKEN)",
        new: |options| Ok(Engine::boxed(dagshub::DagsHub::new(options)?)),
        discover: dagshub::status::discover,
        // get_token() asks /api/v1/user about each cached token and drops
        // the rejected ones (dagshub 0.7.3, auth/tokens.py:136-175); an app
        // token has no expiry to judge it by.
        checks_before_use: true,
        // The dagshub client's token check; 401 without a token.
        probe_path: "/api/v1/user",
    },
    ProviderEntry {
        kind: ProviderKind::DhCore,
        name: "dhcore",
        about: "DigitalHub DHCore (~/.dhcore.ini and the DHCORE_* variables)",
        new: |options| Ok(Engine::boxed(dhcore::DhCore::new(options)?)),
        discover: || dhcore::discover(&crate::env::process_env),
        checks_before_use: false,
        // The DigitalHub SDK's credential check; 401 without credentials.
        probe_path: "/api/auth",
    },
    ProviderEntry {
        kind: ProviderKind::Cave,
        name: "cave",
        about: "CAVE (CAVEclient's tokens in ~/.cloudvolume/secrets)",
        new: |options| Ok(Engine::boxed(cave::Cave::new(options)?)),
        discover: cave::status::discover,
        checks_before_use: false,
        // CAVE's token check (middle_auth); 401 without a token.
        probe_path: "/auth/api/v1/user/cache",
    },
    ProviderEntry {
        kind: ProviderKind::Oidc,
        name: "oidc",
        about: "any OpenID Connect / OAuth 2.0 server (with --issuer and --client-id)",
        new: |options| Ok(Engine::boxed(oidc::Oidc::new(options)?)),
        discover: oidc::status::discover,
        checks_before_use: false,
        // The discovery document every OpenID provider serves.
        probe_path: "/.well-known/openid-configuration",
    },
];

/// Whether the hub's SDK checks a stored token before handing it out
/// ([`ProviderEntry::checks_before_use`]).
pub fn checks_before_use(kind: ProviderKind) -> bool {
    entry(kind).is_ok_and(|e| e.checks_before_use)
}

/// The row of `kind`.
pub fn entry(kind: ProviderKind) -> Result<&'static ProviderEntry> {
    PROVIDERS
        .iter()
        .find(|p| p.kind == kind)
        .ok_or_else(|| Error::internal(format!("no provider {kind:?} in PROVIDERS")))
}

/// The provider the options name, resolved (server, paths) but not yet used.
/// Each of its calls runs in the call scope of that call's options
/// ([`crate::scope`]): their CA roots, cancel and one deadline.
pub fn for_options(options: &Options) -> Result<Box<dyn Lifecycle>> {
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
