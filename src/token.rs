//! A token as hubauth hands it out, whatever store it came from.

mod credential;

pub use self::credential::Credential;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::secret::Secret;

/// The credential a request should carry, and what is needed to keep it fresh.
#[derive(Clone, Debug)]
pub struct Token {
    /// What a request presents: a bearer token, or (dhcore) a user and password.
    pub credential: Credential,
    /// A refresh token, when the token can be refreshed.
    pub refresh: Option<Secret>,
    /// Unix seconds at which the token stops working; None = never or unknown.
    pub expires_at: Option<i64>,
    /// The token's whole lifetime in seconds, when known; bounds the refresh margin.
    pub lifetime: Option<i64>,
    /// The user the token belongs to, when known without asking the server.
    pub username: Option<String>,
}

impl Token {
    /// A token that never expires and cannot be refreshed (a bare token, an app token).
    pub fn bare(bearer: Secret) -> Self {
        Token {
            credential: Credential::Bearer(bearer),
            refresh: None,
            expires_at: None,
            lifetime: None,
            username: None,
        }
    }

    /// The margin actually used: `margin`, but never more than half the lifetime,
    /// so a 60-second token is not refreshed on every call.
    pub fn effective_margin(&self, margin: i64) -> i64 {
        match self.lifetime {
            Some(lifetime) if lifetime > 0 => margin.min(lifetime / 2),
            _ => margin,
        }
    }

    /// True when the token is still good for more than the (effective) margin.
    /// Saturating: a margin near `i64::MAX` means "always refresh", never a
    /// wrapped sum in the past that would hand out an expired token.
    pub fn is_fresh_at(&self, now: i64, margin: i64) -> bool {
        match self.expires_at {
            None => true,
            Some(expires_at) => now.saturating_add(self.effective_margin(margin)) < expires_at,
        }
    }

    /// True when the token has not expired yet (no margin).
    pub fn is_unexpired_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }

    pub fn is_fresh(&self, margin: i64) -> bool {
        self.is_fresh_at(unix_now(), margin)
    }
}

/// When a token is fresh enough for a call: the refresh margin
/// (`refresh_margin_s`) and the validity the caller needs (`min_valid_s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    pub margin_s: i64,
    pub min_valid_s: i64,
}

impl Freshness {
    pub fn of(options: &crate::options::Options) -> Freshness {
        Freshness {
            margin_s: options.refresh_margin_s,
            min_valid_s: options.min_valid_s,
        }
    }

    /// Fresh at `now`: good for more than the (effective) margin, and for
    /// at least `min_valid_s` (a bound not capped by the lifetime, as the
    /// margin is).
    pub fn is_fresh(&self, token: &Token, now: i64) -> bool {
        token.is_fresh_at(now, self.margin_s) && self.still_works(token, now)
    }

    /// Good enough to hand out at `now` although maybe not fresh: not
    /// expired, and lasting the `min_valid_s` the caller asked for.
    pub fn still_works(&self, token: &Token, now: i64) -> bool {
        token.is_unexpired_at(now.saturating_add(self.min_valid_s))
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at: Option<i64>, lifetime: Option<i64>) -> Token {
        Token {
            expires_at,
            lifetime,
            ..Token::bare(Secret::new("t").unwrap())
        }
    }

    #[test]
    fn margin_is_capped_at_half_the_lifetime() {
        let t = token(Some(1060), Some(60));
        assert_eq!(t.effective_margin(600), 30);
        assert!(t.is_fresh_at(1000, 600)); // 60 s left, margin 30
        assert!(!t.is_fresh_at(1031, 600));
        let long = token(Some(10_000), Some(3600));
        assert!(!long.is_fresh_at(9_500, 600));
        assert!(long.is_fresh_at(9_300, 600));
    }

    #[test]
    fn a_huge_margin_never_wraps_into_freshness() {
        let expired = token(Some(1000), None);
        assert!(!expired.is_fresh_at(2000, i64::MAX));
        let live = token(Some(i64::MAX), None);
        assert!(!live.is_fresh_at(2000, i64::MAX));
        assert!(live.is_fresh_at(2000, 600));
        let far_past = token(Some(i64::MIN), Some(i64::MAX));
        assert!(!far_past.is_fresh_at(i64::MAX, i64::MAX));
        assert!(!far_past.is_unexpired_at(0));
    }

    #[test]
    fn no_expiry_is_always_fresh() {
        assert!(token(None, None).is_fresh_at(i64::MAX - 1, 600));
    }
}
