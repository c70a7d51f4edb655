//! hubauth's own token file for the `oidc` provider:
//! `<config dir>/hubauth/oidc/<issuer host[_port][_path]>/<client_id>.toml`
//! (config dir = `$XDG_CONFIG_HOME` or `~/.config` on Linux). One TOML table:
//! `access_token`, `refresh_token`, `id_token`, `token_type`, `scope`,
//! `expires_at` (unix s), `expires_in`, `issuer`, `client_id`, `username`.
//! Fields hubauth does not know are kept on every rewrite.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::jwt;
use crate::reply::{TokenReply, may_change};
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::{fsutil, toml_file};
use crate::token::{Credential, Token};

/// The fields a token reply sets (each one that [`may_change`] allows);
/// everything else in the file, `issuer` and `client_id` above all, is kept.
const TOKEN_FIELDS: [&str; 7] = [
    "access_token",
    "refresh_token",
    "id_token",
    "token_type",
    "scope",
    "expires_at",
    "expires_in",
];

/// The directory of one issuer: `host[_port]`, and for an issuer with a path
/// (Keycloak realms, Okta authorization servers) `_` and the path with each
/// `/` made `_`, so two realms on one host never share a file.
pub fn dir_name(issuer: &ServerUrl) -> String {
    let mut name = issuer.dir_name();
    let path = issuer.url().path().trim_matches('/');
    if !path.is_empty() {
        name.push('_');
        name.push_str(&safe_name(path));
    }
    name
}

/// hubauth's own configuration directory, `<config dir>/hubauth`: the
/// `oidc` token files and the account list (src/accounts.rs) live in it.
pub fn config_root() -> Result<PathBuf> {
    let config = dirs::config_dir().ok_or_else(|| {
        Error::no_credentials(
            "cannot find the configuration directory; set XDG_CONFIG_HOME or `token_path`",
        )
    })?;
    Ok(config.join("hubauth"))
}

/// Where the token of `client_id` at `issuer` lives.
pub fn path_for(issuer: &ServerUrl, client_id: &str) -> Result<PathBuf> {
    Ok(config_root()?
        .join("oidc")
        .join(dir_name(issuer))
        .join(format!("{}.toml", safe_name(client_id))))
}

/// A file-name-safe form of `text`: ASCII letters, digits, `-`, `_` and `.`
/// kept, anything else `_`, never starting with `.`.
fn safe_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    match name.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None if name.is_empty() => "_".to_string(),
        None => name,
    }
}

/// The contents of one token file.
#[derive(Clone, Debug, Default)]
pub struct OidcToken {
    table: toml::Table,
}

impl OidcToken {
    /// An empty record for `client_id` at `issuer`.
    pub fn new(issuer: &str, client_id: &str) -> Self {
        let mut token = OidcToken::default();
        token.set_owner(issuer, client_id);
        token
    }

    /// Parses a token file; `path` is named in errors, its content never.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let table = toml_file::parse_table(bytes, path)?;
        Ok(OidcToken { table })
    }

    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.table
            .get(key)
            .and_then(toml::Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn number(&self, key: &str) -> Option<i64> {
        match self.table.get(key)? {
            toml::Value::Integer(i) => Some(*i),
            toml::Value::Float(f) if f.is_finite() => Some(f.floor() as i64),
            _ => None,
        }
    }

    fn set_str(&mut self, key: &str, value: &str) {
        self.table
            .insert(key.to_string(), toml::Value::String(value.to_string()));
    }

    pub fn access_token(&self) -> Option<&str> {
        self.string("access_token")
    }

    pub fn refresh_token(&self) -> Option<Secret> {
        self.string("refresh_token")
            .and_then(|t| Secret::new(t).ok())
    }

    pub fn issuer(&self) -> Option<&str> {
        self.string("issuer")
    }

    pub fn client_id(&self) -> Option<&str> {
        self.string("client_id")
    }

    pub fn username(&self) -> Option<&str> {
        self.string("username")
    }

    /// Names the issuer and client the record belongs to.
    pub fn set_owner(&mut self, issuer: &str, client_id: &str) {
        self.set_str("issuer", issuer);
        self.set_str("client_id", client_id);
    }

    pub fn set_username(&mut self, username: &str) {
        self.set_str("username", username);
    }

    pub fn expires_at(&self) -> Option<i64> {
        self.number("expires_at")
    }

    /// Refuses a file written for another issuer or client (a `token_path`
    /// shared by mistake): its refresh token must not be sent elsewhere.
    pub fn check_owner(&self, path: &Path, issuer: &str, client_id: &str) -> Result<()> {
        let mismatch = |what: &str, found: &str, wanted: &str| {
            Error::invalid_argument(format!(
                "the token file {} belongs to {what} {found:?}, not {wanted:?}; \
                 use another `token_path` or delete the file",
                path.display()
            ))
        };
        if let Some(found) = self.issuer()
            && found.trim_end_matches('/') != issuer
        {
            return Err(mismatch("the issuer", found, issuer));
        }
        if let Some(found) = self.client_id()
            && found != client_id
        {
            return Err(mismatch("the client", found, client_id));
        }
        Ok(())
    }

    /// The token a request carries: the access token.
    pub fn to_token(&self) -> Result<Token> {
        let access = self
            .access_token()
            .ok_or_else(|| Error::format("the stored token has no access_token"))?;
        Ok(Token {
            credential: Credential::Bearer(Secret::new(access)?),
            refresh: self.refresh_token(),
            expires_at: self.expires_at(),
            lifetime: self.number("expires_in").filter(|s| *s > 0),
            username: self.username().map(str::to_string),
        })
    }

    /// Lays the reply of a new grant (login, exchange, client credentials)
    /// over this record: every token field, and the username, comes from the
    /// reply or is removed. `issued_at` is when the request was sent, so
    /// `expires_at` errs on the early side.
    pub fn apply_grant(&mut self, reply: &TokenReply, issued_at: i64) {
        self.table.remove("username");
        self.apply(reply, issued_at, false);
    }

    /// Lays a refresh reply over this record. The refresh token, scope and
    /// username are kept unless the reply replaces them (RFC 6749 §6: a reply
    /// without a refresh token leaves the old one valid); a stale id_token is
    /// never kept beside a new access token.
    pub fn apply_refresh(&mut self, reply: &TokenReply, issued_at: i64) {
        self.apply(reply, issued_at, true);
    }

    fn apply(&mut self, reply: &TokenReply, issued_at: i64, keep: bool) {
        debug_assert!(TOKEN_FIELDS.iter().all(|k| may_change(k)));
        for key in TOKEN_FIELDS {
            let kept = keep && matches!(key, "refresh_token" | "scope");
            if !kept || reply.text(key).is_some() {
                self.table.remove(key);
            }
        }
        for key in [
            "access_token",
            "refresh_token",
            "id_token",
            "token_type",
            "scope",
        ] {
            if let Some(value) = reply.text(key)
                && may_change(key)
            {
                self.set_str(key, value);
            }
        }
        if let Some(expires_in) = reply.expires_in {
            self.table
                .insert("expires_in".into(), toml::Value::Integer(expires_in));
            self.table.insert(
                "expires_at".into(),
                toml::Value::Integer(issued_at.saturating_add(expires_in)),
            );
        }
        if let Some(name) = self
            .string("id_token")
            .and_then(jwt::claims)
            .and_then(|claims| jwt::username_from_claims(&claims))
        {
            self.set_username(&name);
        }
    }

    /// The file's text; zeroed when dropped.
    pub fn to_toml(&self) -> zeroize::Zeroizing<String> {
        toml_file::to_text(&self.table)
    }
}

/// The tokens in the table are zeroed when the record is dropped.
impl Drop for OidcToken {
    fn drop(&mut self) {
        crate::secret::scrub_toml_table(&mut self.table);
    }
}

/// Reads the token file at `path`; None if there is none.
pub fn load(path: &Path) -> Result<Option<OidcToken>> {
    let Some(bytes) = fsutil::read_file(path)? else {
        return Ok(None);
    };
    OidcToken::parse(&bytes, path).map(Some)
}

/// Writes the token file atomically, 0600. The caller holds the file's lock.
pub fn save(path: &Path, token: &OidcToken) -> Result<()> {
    fsutil::atomic_write(path, token.to_toml().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> TokenReply {
        crate::reply::token_reply(text).unwrap()
    }

    #[test]
    fn paths_are_per_issuer_and_client() {
        let plain = ServerUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(dir_name(&plain), "127.0.0.1_8080");
        let realm = ServerUrl::parse("https://kc.example/realms/dev/").unwrap();
        assert_eq!(dir_name(&realm), "kc.example_realms_dev");
        assert_eq!(safe_name("../etc/passwd"), "_._etc_passwd");
        assert_eq!(safe_name("hubauth-public"), "hubauth-public");
    }

    #[test]
    fn grant_then_refresh_keeps_what_it_must() {
        let mut t = OidcToken::new("https://id.example", "cli");
        t.set_str("custom", "kept");
        t.apply_grant(
            &reply(r#"{"access_token":"a1","refresh_token":"r1","expires_in":60,"scope":"openid","token_type":"Bearer","id_token":"x"}"#),
            1000,
        );
        assert_eq!(t.expires_at(), Some(1060));
        t.apply_refresh(&reply(r#"{"access_token":"a2","expires_in":60}"#), 2000);
        let token = t.to_token().unwrap();
        assert_eq!(token.credential.secret().expose(), "a2");
        assert_eq!(token.refresh.unwrap().expose(), "r1");
        assert_eq!(token.expires_at, Some(2060));
        assert_eq!(token.lifetime, Some(60));
        assert!(
            t.string("id_token").is_none(),
            "a stale id_token is dropped"
        );
        assert_eq!(t.string("scope"), Some("openid"));
        let text = t.to_toml();
        assert!(text.contains("custom = \"kept\""));
        // A new grant replaces the refresh token too.
        t.apply_grant(&reply(r#"{"access_token":"a3"}"#), 3000);
        assert!(t.refresh_token().is_none());
        assert_eq!(t.expires_at(), None);
    }

    #[test]
    fn a_hostile_reply_changes_tokens_and_expiry_only() {
        let hostile = reply(
            r#"{"access_token":"a2","expires_in":60,"issuer":"https://evil.example",
                "client_id":"evil","token_endpoint":"https://evil.example/t",
                "refresh_url":"https://evil.example/r","dhcore_endpoint":"https://evil.example",
                "username":"mallory"}"#,
        );
        for apply in [OidcToken::apply_grant, OidcToken::apply_refresh] {
            let mut t = OidcToken::new("https://id.example", "cli");
            apply(&mut t, &hostile, 1000);
            assert_eq!(t.issuer(), Some("https://id.example"));
            assert_eq!(t.client_id(), Some("cli"));
            assert_eq!(t.access_token(), Some("a2"));
            for key in ["token_endpoint", "refresh_url", "dhcore_endpoint"] {
                assert!(t.table().get(key).is_none(), "{key}");
            }
            // The username comes from the id_token, not from a reply field.
            assert_eq!(t.username(), None);
        }
    }

    #[test]
    fn a_file_of_another_issuer_is_refused() {
        let t = OidcToken::new("https://a.example", "cli");
        let p = Path::new("t.toml");
        assert!(t.check_owner(p, "https://a.example", "cli").is_ok());
        assert!(t.check_owner(p, "https://b.example", "cli").is_err());
        assert!(t.check_owner(p, "https://a.example", "other").is_err());
    }

    #[test]
    fn malformed_file_names_the_line_not_the_content() {
        let err =
            OidcToken::parse(b"access_token = \"secret-value\nx", Path::new("t.toml")).unwrap_err();
        assert!(!err.message().contains("secret-value"));
    }
}
