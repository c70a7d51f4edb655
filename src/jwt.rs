//! What a token says about itself: the claims of a JWT (unverified), the
//! user they name, a numeric claim. Used by stores, flows and providers alike,
//! so a leaf: it imports nothing of the crate.

use base64::Engine as _;
use serde_json::{Map, Value};

/// The user named by a set of claims: `preferred_username`, else RFC 7662's
/// `username`, else `sub`.
pub fn username_from_claims(claims: &Map<String, Value>) -> Option<String> {
    ["preferred_username", "username", "sub"]
        .iter()
        .find_map(|key| claims.get(*key).and_then(Value::as_str))
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// The payload of a JWT (e.g. an id_token), unverified. Use only for tokens
/// that came straight from the issuer's token endpoint over a secure channel.
pub fn claims(jwt: &str) -> Option<Map<String, Value>> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// A number in a JSON object (a claim such as `exp`, or a token reply's
/// `expires_in`), given as a number or as a numeric string.
pub fn number(object: &Map<String, Value>, key: &str) -> Option<i64> {
    match object.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The `exp` claim of a JWT access token (unverified: it only decides when to
/// refresh, never whether to trust).
pub fn expiry(token: &str) -> Option<i64> {
    if token.split('.').count() != 3 {
        return None;
    }
    let claims = claims(token)?;
    number(&claims, "exp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_from_an_id_token() {
        // {"sub":"u-1","preferred_username":"alice"}
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"u-1","preferred_username":"alice"}"#);
        let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        let from_jwt = claims(&jwt).unwrap();
        assert_eq!(username_from_claims(&from_jwt).as_deref(), Some("alice"));
        let only_sub: Map<String, Value> = serde_json::from_str(r#"{"sub":"u-1"}"#).unwrap();
        assert_eq!(username_from_claims(&only_sub).as_deref(), Some("u-1"));
        assert!(claims("not-a-jwt").is_none());
    }
}
