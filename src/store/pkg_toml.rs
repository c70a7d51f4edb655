//! Pkg's `auth.toml`: `<depot>/servers/<host[_port]>/auth.toml`, read and
//! written the way PkgAuthentication.jl and Pkg do, unknown fields preserved.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::{fsutil, toml_file};
use crate::token::Token;

/// The first depot: first entry of `JULIA_DEPOT_PATH`, else `~/.julia`.
pub fn depot() -> Result<PathBuf> {
    if let Ok(paths) = std::env::var("JULIA_DEPOT_PATH") {
        // Julia treats an empty entry as "the default depot here".
        if let Some(first) = paths.split(':').next().filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(first));
        }
    }
    dirs::home_dir()
        .map(|home| home.join(".julia"))
        .ok_or_else(|| {
            Error::no_credentials("cannot find the home directory; set JULIA_DEPOT_PATH")
        })
}

/// Where Pkg keeps the token for `server`.
pub fn path_for(server: &ServerUrl) -> Result<PathBuf> {
    Ok(depot()?
        .join("servers")
        .join(server.dir_name())
        .join("auth.toml"))
}

/// The contents of one auth.toml. Every field is kept, so a rewrite preserves
/// what other tools put there.
#[derive(Clone, Debug, Default)]
pub struct PkgToken {
    table: toml::Table,
    /// Modification time of the file it was read from (for `expires_in`).
    mtime: Option<i64>,
}

/// The tokens in the table are zeroed when the record is dropped.
impl Drop for PkgToken {
    fn drop(&mut self) {
        crate::secret::scrub_toml_table(&mut self.table);
    }
}

impl PkgToken {
    pub fn from_table(table: toml::Table, mtime: Option<i64>) -> Self {
        PkgToken { table, mtime }
    }

    /// Parses the bytes of an auth.toml; `path` is named in errors.
    pub fn parse(bytes: &[u8], path: &Path, mtime: Option<i64>) -> Result<Self> {
        let table = toml_file::parse_table(bytes, path)?;
        Ok(PkgToken { table, mtime })
    }

    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    fn string(&self, key: &str) -> Option<&str> {
        self.table.get(key).and_then(toml::Value::as_str)
    }

    fn number(&self, key: &str) -> Option<f64> {
        match self.table.get(key)? {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) if f.is_finite() => Some(*f),
            _ => None,
        }
    }

    pub fn refresh_url(&self) -> Option<&str> {
        self.string("refresh_url")
    }

    pub fn user_name(&self) -> Option<&str> {
        self.string("user_name")
    }

    /// PkgAuthentication's rule: `id_token`, `refresh_token` and `refresh_url`
    /// are strings and `expires_at` or `expires` is a number.
    pub fn is_usable(&self) -> bool {
        ["id_token", "refresh_token", "refresh_url"]
            .iter()
            .all(|k| self.string(k).is_some())
            && (self.number("expires_at").is_some() || self.number("expires").is_some())
    }

    /// Can be refreshed: has a refresh token and a refresh URL.
    pub fn is_refreshable(&self) -> bool {
        self.string("refresh_token").is_some() && self.refresh_url().is_some()
    }

    /// `min(expires_at or expires, mtime + expires_in)`, in whole seconds.
    pub fn expires_at(&self) -> Option<i64> {
        let absolute = self
            .number("expires_at")
            .or_else(|| self.number("expires"))
            .map(|t| t.floor() as i64);
        let relative = match (self.mtime, self.number("expires_in")) {
            (Some(mtime), Some(expires_in)) => {
                // Saturating: a huge expires_in must not overflow (or wrap to the past).
                Some(mtime.saturating_add(expires_in.floor() as i64))
            }
            _ => None,
        };
        match (absolute, relative) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }

    /// The token a request carries: the `id_token`, as JuliaHub.jl uses it.
    pub fn to_token(&self) -> Result<Token> {
        let id_token = self
            .string("id_token")
            .ok_or_else(|| Error::format("the token has no id_token"))?;
        Ok(Token {
            bearer: Secret::new(id_token)?,
            refresh: self.string("refresh_token").map(Secret::new).transpose()?,
            expires_at: self.expires_at(),
            lifetime: self.number("expires_in").map(|s| s as i64),
            username: self.user_name().map(str::to_string),
        })
    }

    /// Lays a server reply (refresh or login) over this token: every field of
    /// the reply replaces ours; expiry fields and the tokens a request carries
    /// are taken only from the reply (never a stale id_token beside a new
    /// access_token); the refresh token and URL are kept unless replaced; and
    /// `expires_at = floor(now + expires_in)` when the reply has no absolute time.
    pub fn apply_reply(&mut self, reply: toml::Table, now: i64) {
        for key in [
            "expires_at",
            "expires",
            "expires_in",
            "id_token",
            "access_token",
        ] {
            self.table.remove(key);
        }
        for (key, value) in reply {
            self.table.insert(key, value);
        }
        if self.number("expires_at").is_none()
            && self.number("expires").is_none()
            && let Some(expires_in) = self.number("expires_in")
        {
            self.table.insert(
                "expires_at".into(),
                toml::Value::Integer(now.saturating_add(expires_in.floor() as i64)),
            );
        }
        self.mtime = Some(now);
    }

    /// Sets one field.
    pub fn set(&mut self, key: &str, value: toml::Value) {
        self.table.insert(key.to_string(), value);
    }

    /// True when a reply has what a token needs: an id_token or access_token.
    pub fn reply_has_token(reply: &toml::Table) -> bool {
        ["id_token", "access_token"]
            .iter()
            .any(|k| reply.get(*k).and_then(toml::Value::as_str).is_some())
    }

    /// The file's text; zeroed when dropped.
    pub fn to_toml(&self) -> zeroize::Zeroizing<String> {
        toml_file::to_text(&self.table)
    }
}

/// Reads the token file at `path`; None if there is none.
pub fn load(path: &Path) -> Result<Option<PkgToken>> {
    let Some(bytes) = fsutil::read_file(path)? else {
        return Ok(None);
    };
    PkgToken::parse(&bytes, path, fsutil::mtime(path)).map(Some)
}

/// Writes the token file atomically, 0600. The caller holds the file's lock.
pub fn save(path: &Path, token: &PkgToken) -> Result<()> {
    fsutil::atomic_write(path, token.to_toml().as_bytes())
}

/// Converts a JSON object (a login reply) into a TOML table, dropping nulls.
pub fn table_from_json(object: &serde_json::Map<String, serde_json::Value>) -> toml::Table {
    object
        .iter()
        .filter_map(|(k, v)| json_to_toml(v).map(|v| (k.clone(), v)))
        .collect()
}

fn json_to_toml(value: &serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value as J;
    Some(match value {
        J::Null => return None,
        J::Bool(b) => toml::Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        J::String(s) => toml::Value::String(s.clone()),
        J::Array(items) => toml::Value::Array(items.iter().filter_map(json_to_toml).collect()),
        J::Object(map) => toml::Value::Table(table_from_json(map)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"access_token = "acc"
id_token = "idt"
refresh_token = "ref"
refresh_url = "https://juliahub.com/auth/renew/token.toml/v2/"
expires_at = 1700000000
expires_in = 86400
user_name = "alice"
user_email = "alice@example.com"
custom_field = "kept"
"#;

    #[test]
    fn reads_pkg_fields_and_keeps_unknown_ones() {
        let t =
            PkgToken::parse(REAL.as_bytes(), Path::new("auth.toml"), Some(1_699_990_000)).unwrap();
        assert!(t.is_usable());
        // min(1700000000, mtime + 86400)
        assert_eq!(t.expires_at(), Some(1_700_000_000));
        let token = t.to_token().unwrap();
        assert_eq!(token.bearer.expose(), "idt");
        assert_eq!(token.username.as_deref(), Some("alice"));
        assert!(t.to_toml().contains("custom_field = \"kept\""));
    }

    #[test]
    fn float_expiry_and_mtime_rule() {
        let text = "id_token = \"i\"\nrefresh_token = \"r\"\nrefresh_url = \"u\"\nexpires = 1700000000.7\nexpires_in = 10\n";
        let t = PkgToken::parse(text.as_bytes(), Path::new("a"), Some(1_600_000_000)).unwrap();
        assert!(t.is_usable());
        assert_eq!(t.expires_at(), Some(1_600_000_010));
    }

    #[test]
    fn apply_reply_replaces_expiry_and_computes_expires_at() {
        let mut t = PkgToken::parse(REAL.as_bytes(), Path::new("a"), None).unwrap();
        let reply: toml::Table = "id_token = \"new\"\nexpires_in = 100\n".parse().unwrap();
        t.apply_reply(reply, 5000);
        assert_eq!(t.expires_at(), Some(5100));
        assert_eq!(t.to_token().unwrap().bearer.expose(), "new");
        assert_eq!(
            t.refresh_url(),
            Some("https://juliahub.com/auth/renew/token.toml/v2/")
        );
    }

    #[test]
    fn malformed_file_names_the_line_not_the_content() {
        let text = "id_token = \"secret-value\nbroken";
        let err = PkgToken::parse(text.as_bytes(), Path::new("auth.toml"), None).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Format);
        assert!(!err.message().contains("secret-value"), "{}", err.message());
    }
}
