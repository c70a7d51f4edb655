//! One module per hub: which store, which flows, how to check, who the user is.
//! [`crate::lifecycle`] drives them all through [`Provider`]; the table of
//! hubs is [`crate::hubs::PROVIDERS`].

pub mod cave;
pub mod dagshub;
pub mod dhcore;
pub mod juliahub;
pub mod oidc;

use std::path::Path;

use crate::credential::CredentialInfo;
use crate::error::{Error, Result};
pub use crate::flow::user_check::Verdict;
use crate::options::Options;
use crate::scope;
use crate::secret::Secret;
use crate::token::{Token, unix_now};

/// What differs from hub to hub. The lifecycle every hub shares (the
/// caller-given token, `force`, the lock, reload → fresh? → renew → save, the
/// second read after a failed renewal, the tries loop around logins, keeping
/// the username) lives once, in [`crate::lifecycle`], which drives these
/// methods. Every method gets the options of the call (flags such as
/// interactive, hook, timeout); the provider itself holds only what it
/// resolved at construction (server, file paths).
///
/// The contract the engine relies on:
/// - `load` and `token` read without a lock (files are replaced atomically)
///   and touch no network; `load` may be called several times in one call.
/// - `renew`, `save`, `discard`, `save_token` and `logout` run with the lock
///   of every file in `lock_paths` held. `renew` sends one request, and is
///   never called twice in a process with the same single-use credential
///   (see [`Renewal::SingleUse`]).
/// - `login` runs without the lock (a person may take minutes); the engine
///   saves its grant under the lock.
/// - Only `renew`, `login`, `check` (and `save_token`/`logout` where the hub
///   checks or revokes) use the network.
pub trait Provider: Send + Sync + 'static {
    /// What the store holds for this hub, as read from its file(s).
    type Stored: Send;
    /// A token reply (a login, refresh or exchange) not yet saved.
    type Grant: Send;
    /// How `renew` renews a stored credential: what `renewal` decided, with
    /// what it needs (`std::convert::Infallible` for a hub that renews
    /// nothing).
    type Plan: Send;

    /// The normalised server URL.
    fn server(&self) -> &str;

    /// The files locked while a token is renewed, saved or removed.
    fn lock_paths(&self) -> Vec<&Path>;

    /// A token given by the caller (or the environment) that is used as it is
    /// and never stored, with words that name it in errors.
    fn given(&self, options: &Options) -> Option<(Secret, &'static str)> {
        options.token.clone().map(|t| (t, "the given token"))
    }

    /// Reads the store. `skip` lists tokens the server rejected during this
    /// call (or the one being replaced); a store of several tokens then
    /// offers another.
    fn load(&self, options: &Options, skip: &[Secret]) -> Result<Option<Self::Stored>>;

    /// The token in `stored` that could be handed out as it is (fresh or
    /// not); None when it must be renewed before any use.
    fn token(&self, stored: &Self::Stored, options: &Options) -> Option<Token>;

    /// How `stored` can be renewed without a person: the plan `renew` then
    /// carries out.
    fn renewal(&self, stored: &Self::Stored, options: &Options) -> Renewal<Self::Plan> {
        let _ = (stored, options);
        Renewal::None
    }

    /// Carries out `plan` (from `renewal` of this `stored`) with one refresh
    /// or exchange request. The lock is held.
    fn renew(
        &self,
        stored: &Self::Stored,
        plan: Self::Plan,
        options: &Options,
    ) -> Result<Self::Grant>;

    /// Whether a stored token the server rejected is renewed (true) or
    /// discarded in favour of a login (false).
    fn renews_rejected(&self) -> bool {
        true
    }

    /// Whether `login` with these options needs a person; the engine starts
    /// such a login only when one can be reached (interactive, or a hook),
    /// and otherwise fails with `NoCredentials` and the provider's advice.
    fn login_kind(&self, options: &Options) -> LoginKind {
        let _ = options;
        LoginKind::Unattended
    }

    /// A new grant: a login a person approves, client credentials, or an
    /// exchange that needs nothing stored. No lock is held. Authentication
    /// and Server errors are tried again, up to `maxcount` times.
    fn login(&self, options: &Options) -> Result<Self::Grant>;

    /// Stores `grant` and returns its token. The lock is held. A grant that
    /// was stored but holds no token this call can hand out is
    /// `NoCredentials`: after a renewal the engine then needs a login.
    fn save(&self, grant: Self::Grant, options: &Options) -> Result<Token>;

    /// Asks the server about `token`.
    fn check(&self, token: &Token, options: &Options) -> Result<Verdict>;

    /// The server rejected the token of `stored`, and it is not renewed: make
    /// the store forget it (the engine then reads the store again), or fail
    /// with what the user must do. The lock is held, but `stored` was read
    /// and checked without it: a token saved since then is not the rejected
    /// one and must stay.
    fn discard(&self, stored: &Self::Stored, options: &Options) -> Result<()>;

    /// The error for a token that expires and cannot be renewed.
    fn cannot_renew(&self) -> Error {
        Error::authentication(format!(
            "the token for {} expired and cannot be refreshed; authenticate again",
            self.server()
        ))
    }

    /// Stores a token the user obtained elsewhere. The lock is held. Before
    /// replacing a stored token, ask `overwrite` about where it is.
    fn save_token(&self, token: &str, options: &Options, overwrite: &Overwrite) -> Result<()>;

    /// Forgets the stored token (and revokes it where the hub allows). The
    /// lock is held.
    fn logout(&self, options: &Options) -> Result<()>;
}

/// What a login needs from the caller ([`Provider::login_kind`]).
pub enum LoginKind {
    /// Nobody: client credentials, an exchange, what the user configured.
    Unattended,
    /// A person approves it (a browser, a device code).
    Interactive {
        /// The `interactive` option's default for this hub.
        interactive_default: bool,
        /// What to do instead when no one can be reached.
        advice: String,
    },
}

/// The `overwrite` option's rule for `save_token`, which the engine hands
/// to the provider: the provider says where a token would be replaced, this
/// says whether it may be.
pub struct Overwrite {
    allowed: bool,
}

impl Overwrite {
    pub fn of(options: &Options) -> Overwrite {
        Overwrite {
            allowed: options.overwrite,
        }
    }

    /// Ok when the token stored at `place` may be replaced; else
    /// `InvalidArgument` (call it before writing anything).
    pub fn check(&self, place: impl std::fmt::Display) -> Result<()> {
        if self.allowed {
            return Ok(());
        }
        Err(Error::invalid_argument(format!(
            "{place} already holds a token and `overwrite=false`; nothing was written"
        )))
    }
}

/// How a stored credential is renewed without a person, and the plan that
/// does it (handed to [`Provider::renew`]).
pub enum Renewal<P> {
    /// It cannot be.
    None,
    /// By presenting a credential that stays valid (a personal access token
    /// to exchange, a client secret).
    Reusable(P),
    /// By presenting a single-use credential (a rotating refresh token),
    /// named first. The engine presents it at most once per process, even
    /// when the request fails after it may have reached the server.
    SingleUse(Secret, P),
}

/// What a stored credential is worth without a login, as the engine decides
/// it ([`crate::lifecycle`]) but without the network: from the provider's own
/// `token` and `renewal`, under the call's freshness ([`scope::freshness`]).
/// A token that still works is handed out (fresh, or while its renewal
/// fails or is impossible); any other is renewed where `renewal` allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// `authenticate` would use it, as is or after a renewal, without a login.
    pub usable: bool,
    /// It can be renewed without a person.
    pub refreshable: bool,
}

impl Standing {
    pub fn of<P: Provider>(hub: &P, stored: &P::Stored, options: &Options) -> Standing {
        let refreshable = !matches!(hub.renewal(stored, options), Renewal::None);
        let works = hub
            .token(stored, options)
            .is_some_and(|t| scope::freshness(options).still_works(&t, unix_now()));
        Standing {
            usable: works || refreshable,
            refreshable,
        }
    }
}

/// Sets `usable` and `refreshable` of a `hubauth status` entry from the
/// credential its options address, read by the provider `new` makes of them
/// ([`Standing::of`]); what cannot be read becomes the entry's problem (unless
/// it has one). Files only: no network, no lock.
pub(crate) fn assess<P: Provider>(
    entry: &mut CredentialInfo,
    new: impl FnOnce(&Options) -> Result<P>,
) {
    let standing = entry.addressing_options().and_then(|options| {
        let hub = new(&options)?;
        Ok(hub
            .load(&options, &[])?
            .map(|stored| Standing::of(&hub, &stored, &options)))
    });
    match standing {
        Ok(standing) => {
            let standing = standing.unwrap_or(Standing {
                usable: false,
                refreshable: false,
            });
            entry.usable = standing.usable;
            entry.refreshable = standing.refreshable;
        }
        Err(e) => {
            entry.usable = false;
            entry.refreshable = false;
            entry.problem.get_or_insert_with(|| e.message().to_string());
        }
    }
}
