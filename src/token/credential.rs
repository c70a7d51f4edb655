//! What a request presents: a bearer token, or HTTP Basic credentials.
//!
//! Typed, so that no caller has to guess from a string's prefix which one it
//! holds: a Basic credential is never handed out where a token is expected
//! (`hubauth_token`, `Authentication::token`), and each is rendered into an
//! `Authorization` header value in one place ([`Credential::authorization`]).

use base64::Engine as _;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The credential of a [`Token`](super::Token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A token sent as `Authorization: Bearer <token>` (for juliahub the id_token).
    Bearer(Secret),
    /// A user and password sent as `Authorization: Basic base64(user:password)`
    /// (RFC 7617, UTF-8): dhcore configured with a user and password.
    Basic { user: String, password: Secret },
}

impl Credential {
    /// The bearer token; None for Basic credentials, which are no token.
    pub fn bearer(&self) -> Option<&Secret> {
        match self {
            Credential::Bearer(token) => Some(token),
            Credential::Basic { .. } => None,
        }
    }

    /// The bearer token, or an error saying to ask for the header value
    /// instead: what every "give me the token" entry point returns.
    pub fn token(&self) -> Result<&Secret> {
        self.bearer().ok_or_else(|| {
            Error::invalid_argument(
                "these are HTTP Basic credentials (a user and password), not a token; \
                 use the Authorization header value instead (hubauth_authorization, \
                 Authentication::authorization, `hubauth token --header`)",
            )
        })
    }

    /// The secret part (the token, or the password): what tells two
    /// credentials apart when one was rejected.
    pub fn secret(&self) -> &Secret {
        match self {
            Credential::Bearer(token) => token,
            Credential::Basic { password, .. } => password,
        }
    }

    /// The whole `Authorization` header value: `Bearer <token>`, or
    /// `Basic base64(user:password)`.
    pub fn authorization(&self) -> Result<Secret> {
        match self {
            Credential::Bearer(token) => Secret::from_string(format!("Bearer {}", token.expose())),
            Credential::Basic { user, password } => {
                let mut pair = format!("{user}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
                pair.zeroize();
                Secret::from_string(format!("Basic {encoded}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_renders_its_own_scheme() {
        let bearer = Credential::Bearer(Secret::new("tok").unwrap());
        assert_eq!(bearer.authorization().unwrap().expose(), "Bearer tok");
        assert_eq!(bearer.token().unwrap().expose(), "tok");
        let basic = Credential::Basic {
            user: "u".into(),
            password: Secret::new("w").unwrap(),
        };
        assert_eq!(basic.authorization().unwrap().expose(), "Basic dTp3");
        assert!(basic.bearer().is_none());
        let e = basic.token().unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument);
        assert!(e.message().contains("authorization"), "{}", e.message());
    }

    #[test]
    fn debug_shows_no_secret() {
        let basic = Credential::Basic {
            user: "u".into(),
            password: Secret::new("pw-not-shown").unwrap(),
        };
        assert!(!format!("{basic:?}").contains("pw-not-shown"));
    }
}
