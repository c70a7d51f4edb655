//! Asking a hub's user endpoint about a token: the request carries the
//! credential, a 200 means valid (its JSON body may name the user), the
//! hub's rejecting statuses mean rejected, and anything else says nothing
//! about the token. Every hub that has such an endpoint asks it here.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::net::{self, Request, Response};

/// What the server said about a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid {
        username: Option<String>,
    },
    Rejected,
    /// The server offers no way to ask.
    Unknown,
}

/// A user endpoint's answer.
pub enum Answer {
    /// 200: the token is valid; the reply may name the user ([`username`]).
    Valid(Response),
    /// A rejecting status.
    Rejected,
    /// Any other reply: it says nothing about the token.
    Other(Response),
}

/// Sends `request` (a GET of the hub's user endpoint, with the credential)
/// and reads its answer: 200 is valid, the user named by the first of
/// `name_fields` the JSON body has (a body that is not JSON names none);
/// a status in `rejects` is rejected; any other is a `Server` error.
pub fn user_check(request: Request, rejects: &[u16], name_fields: &[&str]) -> Result<Verdict> {
    let what = format!("{} {}", request.method, request.url);
    match ask(request, rejects)? {
        Answer::Valid(response) => Ok(Verdict::Valid {
            username: username(&response.body, name_fields),
        }),
        Answer::Rejected => Ok(Verdict::Rejected),
        Answer::Other(response) => Err(Error::server_reply(ErrorKind::Server, &what, &response)),
    }
}

/// The request of [`user_check`], its reply sorted but not read, for a hub
/// that reads a valid reply its own way or falls back on another endpoint.
pub fn ask(request: Request, rejects: &[u16]) -> Result<Answer> {
    let request = request.header("accept", "application/json");
    let response = net::send(request)?;
    Ok(match response.status {
        200 => Answer::Valid(response),
        status if rejects.contains(&status) => Answer::Rejected,
        _ => Answer::Other(response),
    })
}

/// The first non-empty string among `fields` of a JSON object.
pub fn username(body: &[u8], fields: &[&str]) -> Option<String> {
    let record: Value = serde_json::from_slice(body).ok()?;
    fields
        .iter()
        .find_map(|k| record.get(*k).and_then(Value::as_str))
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_named_field_names_the_user() {
        let body = br#"{"login": 7, "username": "ada", "name": "Ada L.", "email": ""}"#;
        let name = |fields: &[&str]| username(body, fields);
        assert_eq!(name(&["login", "username"]).as_deref(), Some("ada"));
        assert_eq!(name(&["name", "username"]).as_deref(), Some("Ada L."));
        // The first string field decides; an empty name is none.
        assert_eq!(name(&["email", "username"]), None);
        assert_eq!(name(&["id"]), None);
        assert_eq!(username(b"not json", &["username"]), None);
    }
}
