//! The table of hubs: one row per hub (`hub_rows!`), the only place a hub's
//! name and facts are written. [`ProviderKind`] and its [`HubFacts`] (the
//! `provider` option, CA roots, `hubauth status` and `hubauth doctor`) are
//! generated from these rows in `src/provider_kind.rs`, and [`PROVIDERS`]
//! (construction and discovery) here. Adding a hub = one module under
//! `provider/` + one row here + its test server (README.md, "Adding a hub").

use crate::credential::CredentialInfo;
use crate::error::Result;
use crate::lifecycle::{Engine, Lifecycle};
use crate::options::Options;
pub use crate::provider_kind::{HubFacts, ProviderKind, ServerMatch};

/// The rows of the hub table, handed to the macro `$then`, which makes of
/// them what it needs (the kinds and facts in `provider_kind.rs`, the
/// constructors and discoveries here). The first row is the `provider`
/// option's default.
macro_rules! hub_rows {
    ($then:ident) => {
        $then! {
            JuliaHub {
                provider: juliahub::JuliaHub,
                discover: juliahub::status::discover,
                facts: HubFacts {
                    name: "juliahub",
                    about: "JuliaHub and Julia package servers (Pkg's auth.toml, JULIA_PKG_SERVER)",
                    // Pkg and JuliaHub.jl refuse plain http.
                    configured_http: false,
                    checks_before_use: false,
                    // PkgAuthentication asks it before any login (501 on classic-only servers).
                    probe_path: "/auth/configuration",
                    login_flag: "--server",
                    // Julia's NetworkOptions.
                    ca_vars: &["JULIA_SSL_CA_ROOTS_PATH"],
                    no_verify_hosts: true,
                    server_match: ServerMatch::Url,
                },
            }
            DagsHub {
                provider: dagshub::DagsHub,
                discover: dagshub::status::discover,
                facts: HubFacts {
                    name: "dagshub",
                    about: "DagsHub (the dagshub client's token cache, DAGSHUB_USER_TOKEN)",
                    configured_http: true,
                    // get_token() asks /api/v1/user about each cached token and drops
                    // the rejected ones (dagshub 0.7.3, auth/tokens.py:136-175); an app
                    // token has no expiry to judge it by.
                    checks_before_use: true,
                    // The dagshub client's token check; 401 without a token.
                    probe_path: "/api/v1/user",
                    login_flag: "--server",
                    // requests: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE.
                    ca_vars: &["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"],
                    no_verify_hosts: false,
                    server_match: ServerMatch::Url,
                },
            }
            DhCore {
                provider: dhcore::DhCore,
                discover: || dhcore::discover(&$crate::env::process_env),
                facts: HubFacts {
                    name: "dhcore",
                    about: "DigitalHub DHCore (~/.dhcore.ini and the DHCORE_* variables)",
                    configured_http: true,
                    checks_before_use: false,
                    // The DigitalHub SDK's credential check; 401 without credentials.
                    probe_path: "/api/auth",
                    login_flag: "--server",
                    ca_vars: &["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"],
                    no_verify_hosts: false,
                    server_match: ServerMatch::Url,
                },
            }
            Cave {
                provider: cave::Cave,
                discover: cave::status::discover,
                facts: HubFacts {
                    name: "cave",
                    about: "CAVE (CAVEclient's tokens in ~/.cloudvolume/secrets)",
                    configured_http: true,
                    checks_before_use: false,
                    // CAVE's token check (middle_auth); 401 without a token.
                    probe_path: "/auth/api/v1/user/cache",
                    login_flag: "--server",
                    ca_vars: &["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"],
                    no_verify_hosts: false,
                    // CAVEclient's file names carry host and port, not the scheme.
                    server_match: ServerMatch::HostPort,
                },
            }
            Oidc {
                provider: oidc::Oidc,
                discover: oidc::status::discover,
                facts: HubFacts {
                    name: "oidc",
                    about: "any OpenID Connect / OAuth 2.0 server (with --issuer and --client-id)",
                    configured_http: false,
                    checks_before_use: false,
                    // The discovery document every OpenID provider serves.
                    probe_path: "/.well-known/openid-configuration",
                    login_flag: "--issuer",
                    ca_vars: &[],
                    no_verify_hosts: false,
                    server_match: ServerMatch::Url,
                },
            }
        }
    };
}

/// One hub's code, as everything outside its module reaches it.
pub struct ProviderEntry {
    pub kind: ProviderKind,
    /// The provider the options name, resolved (server, paths) but not yet used.
    pub new: fn(&Options) -> Result<Box<dyn Lifecycle>>,
    /// The credentials `hubauth status` lists for this hub (files and the
    /// environment only: no network, no lock, no token values).
    pub discover: fn() -> Vec<CredentialInfo>,
}

impl ProviderEntry {
    /// The `provider` option's value.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// One line for the CLI's help.
    pub fn about(&self) -> &'static str {
        self.kind.facts().about
    }
}

/// Generates [`PROVIDERS`] from the rows of the hub table.
macro_rules! provider_entries {
    ($( $kind:ident { provider: $p:path, discover: $d:expr, facts: $f:expr $(,)? } )*) => {
        /// Every hub, in the order of [`ProviderKind::ALL`].
        pub static PROVIDERS: &[ProviderEntry] = &[$(
            ProviderEntry {
                kind: ProviderKind::$kind,
                new: |options| Ok(Engine::boxed(<$p>::new(options)?)),
                discover: $d,
            },
        )*];
    };
}

mod rows {
    use super::*;
    use crate::provider::{cave, dagshub, dhcore, juliahub, oidc};
    hub_rows!(provider_entries);
}
pub use rows::PROVIDERS;

/// Whether the hub's SDK checks a stored token before handing it out
/// ([`HubFacts::checks_before_use`]).
pub fn checks_before_use(kind: ProviderKind) -> bool {
    kind.facts().checks_before_use
}

/// The row of `kind`.
pub fn entry(kind: ProviderKind) -> &'static ProviderEntry {
    &PROVIDERS[kind as usize]
}

/// The provider the options name, resolved (server, paths) but not yet used.
/// Each of its calls runs in the call scope of that call's options
/// ([`crate::scope`]): their CA roots, cancel and one deadline.
pub fn for_options(options: &Options) -> Result<Box<dyn Lifecycle>> {
    (entry(options.provider).new)(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`entry`] indexes the table by kind.
    #[test]
    fn the_table_is_in_the_order_of_provider_kind() {
        let kinds: Vec<ProviderKind> = PROVIDERS.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ProviderKind::ALL);
        for kind in ProviderKind::ALL {
            assert_eq!(entry(*kind).kind, *kind);
        }
    }
}
