//! Which hub, and the facts about it that layers below the providers need
//! (the `provider` option, the network's CA roots, `hubauth status` and
//! `hubauth doctor`). Both [`ProviderKind`] and each hub's [`HubFacts`] are
//! generated from the rows of the hub table in `src/hubs.rs`, so a hub's name
//! and facts are written once, there; this module holds no hub of its own.

use crate::error::{Error, Result};
use crate::server::ServerUrl;

/// Everything about a hub that is data, not code: one per row of the hub
/// table.
#[derive(Debug, PartialEq, Eq)]
pub struct HubFacts {
    /// The `provider` option's value.
    pub name: &'static str,
    /// One line for the CLI's help.
    pub about: &'static str,
    /// A server the user configures (an option, the environment, their own
    /// file) may be plain http, as the hub's SDK allows
    /// ([`ServerUrl::parse_configured`]); otherwise https only.
    pub configured_http: bool,
    /// The hub's own SDK asks the server about a stored token before handing
    /// it out, so whoever otherwise hands tokens out unchecked (`hubauth
    /// token`) checks them too, unless told `validate=false`.
    pub checks_before_use: bool,
    /// The path `hubauth doctor` probes on the hub's server: cheap,
    /// unauthenticated, and answered by every server of that kind (any HTTP
    /// status means it answers).
    pub probe_path: &'static str,
    /// The CLI flag that names the hub's server in a login (`--server`, or
    /// `--issuer` where the server is an OpenID issuer).
    pub login_flag: &'static str,
    /// Variables naming a CA-roots file (or directory) the hub's SDK reads,
    /// besides `SSL_CERT_FILE`/`SSL_CERT_DIR`: the first one set is used.
    pub ca_vars: &'static [&'static str],
    /// The SDK honours `JULIA_NO_VERIFY_HOSTS`/`JULIA_SSL_NO_VERIFY_HOSTS`.
    pub no_verify_hosts: bool,
    /// How a stored credential's server matches the server a user names.
    pub server_match: ServerMatch,
}

/// How a stored credential's server matches the one a user names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerMatch {
    /// The normalised URLs are equal.
    Url,
    /// Host and port are equal: the store keeps no scheme (its file names
    /// carry host and port only), so the user's URL tells it.
    HostPort,
}

/// Generates [`ProviderKind`] from the rows of the hub table (`hub_rows!`).
macro_rules! provider_kinds {
    ($( $kind:ident { provider: $p:path, discover: $d:expr, facts: $f:expr $(,)? } )*) => {
        /// Which hub's conventions to follow: one per row of the hub table
        /// (`src/hubs.rs`), in its order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ProviderKind {
            $( $kind, )*
        }

        impl ProviderKind {
            /// Every hub, in the table's order.
            pub const ALL: &'static [ProviderKind] = &[$( ProviderKind::$kind, )*];
            const FACTS: &'static [HubFacts] = &[$( $f, )*];
        }
    };
}

hub_rows!(provider_kinds);

impl ProviderKind {
    /// The `provider` option's default: the table's first row.
    pub const DEFAULT: ProviderKind = ProviderKind::ALL[0];

    /// This hub's row of facts.
    pub fn facts(self) -> &'static HubFacts {
        &Self::FACTS[self as usize]
    }

    /// The `provider` option's value.
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The hub named `name`; any other name is `InvalidArgument`, listing
    /// the names.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "unknown provider {name:?} (expected one of {})",
                    Self::names(", ")
                ))
            })
    }

    /// Every name, in the table's order, joined by `separator`.
    pub fn names(separator: &str) -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
        names.join(separator)
    }

    /// A server the user configured for this hub (an option, the
    /// environment, their own file): plain http only where the row allows it
    /// ([`HubFacts::configured_http`]).
    pub fn configured_server(self, input: &str) -> Result<ServerUrl> {
        if self.facts().configured_http {
            ServerUrl::parse_configured(input)
        } else {
            ServerUrl::parse(input)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        for (i, kind) in ProviderKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
            assert_eq!(ProviderKind::parse(kind.name()).unwrap(), *kind);
            let facts = kind.facts();
            assert!(!facts.about.is_empty() && !facts.about.contains('\n'));
            assert!(facts.probe_path.starts_with('/'));
            assert!(facts.login_flag.starts_with("--"));
        }
        let err = ProviderKind::parse("nohub").unwrap_err();
        assert!(err.to_string().contains(&ProviderKind::names(", ")));
    }

    #[test]
    fn plain_http_only_where_the_row_allows_it() {
        for kind in ProviderKind::ALL {
            let parsed = kind.configured_server("http://hub.configured.example:8080");
            assert_eq!(parsed.is_ok(), kind.facts().configured_http, "{kind:?}");
            assert!(kind.configured_server("https://hub.example").is_ok());
        }
    }
}
