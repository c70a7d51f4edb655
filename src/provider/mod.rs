//! One module per hub: which store, which flows, how to check, who the user is.
//! [`crate::auth`] drives them all through [`Provider`].

pub mod cave;
pub mod dagshub;
pub mod dhcore;
pub mod juliahub;
pub mod oidc;

use crate::error::{Error, ErrorKind, Result};
use crate::options::{Options, ProviderKind};
use crate::token::Token;

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
    match options.provider {
        ProviderKind::JuliaHub => Ok(Box::new(juliahub::JuliaHub::new(options)?)),
        ProviderKind::Oidc => Ok(Box::new(oidc::Oidc::new(options)?)),
        ProviderKind::DagsHub => Ok(Box::new(dagshub::DagsHub::new(options)?)),
        ProviderKind::Cave => Ok(Box::new(cave::Cave::new(options)?)),
        ProviderKind::DhCore => Ok(Box::new(dhcore::DhCore::new(options)?)),
    }
}
