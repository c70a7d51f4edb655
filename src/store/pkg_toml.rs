//! Pkg's `auth.toml`: `<depot>/servers/<dir>/auth.toml`, read and written the
//! way PkgAuthentication.jl and Pkg do, unknown fields preserved.
//!
//! Facts from the sources (Pkg.jl e52498951, Julia's base/initdefs.jl,
//! JuliaHub.jl 42e8422):
//! - **The directory** (Pkg.jl src/PlatformEngines.jl:74-89 `get_server_dir`,
//!   src/Pkg.jl:39-44 `pkg_server`): the server text as written (a missing
//!   `scheme://` becomes `https://`, trailing `/` stripped), then the regex
//!   `^\w+:///?([^\\/]+)(?:$|/)` takes everything after `://` up to the first
//!   `/` or `\`, case kept, an explicit port kept, no IDNA; each of
//!   `: / < > " \ | ? *` becomes `_`. So `https://JuliaHub.com` →
//!   `JuliaHub.com` and `https://juliahub.com:443` → `juliahub.com_443`. The
//!   host is therefore *not* normalised here: see [`dir_name`].
//! - **The depot** (base/initdefs.jl `init_depot_path`): `JULIA_DEPOT_PATH`
//!   split on `:`, each entry `expanduser`-ed; an empty entry stands for the
//!   default depots (`~/.julia` first) at its position. Julia ≥ 1.10 treats an
//!   entirely empty value as "no depot at all" (Pkg then sends no token); we
//!   use the default depot instead (README, "Differences from the originals").
//! - **A usable file** (JuliaHub.jl src/authentication.jl:427-449
//!   `_authenticate_retry`): `id_token` and `expires` or `expires_at` (a
//!   number) in the future. `refresh_token` and `refresh_url` matter only for
//!   refreshing (PkgAuthentication's stricter rule decides refreshability).
//!   For Pkg (src/PlatformEngines.jl:155-174) an `access_token` alone is
//!   enough, and a file without `expires_at`/`expires_in` never expires:
//!   [`PkgToken::is_usable_for_pkg`], used with `token_kind=access`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::reply::may_change;
use crate::secret::Secret;
use crate::store::{fsutil, toml_file};
use crate::token::{Credential, Token};

/// The first depot, as Julia's `DEPOT_PATH[1]` (see the module doc).
pub fn depot() -> Result<PathBuf> {
    first_depot(
        std::env::var("JULIA_DEPOT_PATH").ok().as_deref(),
        dirs::home_dir(),
    )
}

/// [`depot`] for a given `JULIA_DEPOT_PATH` value and home directory.
pub fn first_depot(value: Option<&str>, home: Option<PathBuf>) -> Result<PathBuf> {
    let no_home = || Error::no_credentials("cannot find the home directory; set JULIA_DEPOT_PATH");
    let default = || home.clone().map(|h| h.join(".julia")).ok_or_else(no_home);
    let depot = match value.and_then(|v| v.split(':').next()) {
        // Unset, entirely empty, or an empty first entry: the default depots
        // come first.
        None | Some("") => default()?,
        Some(first) => expand_user(first, home.as_deref())?.ok_or_else(no_home)?,
    };
    if depot.is_relative() {
        // Julia takes it too, but tokens would land under whatever directory
        // the process runs in (a git work tree, a shared directory).
        warn_relative_once(&depot);
    }
    Ok(depot)
}

/// One warning per process: the depot does not change within one.
fn warn_relative_once(depot: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        crate::log::warn(&format!(
            "the Julia depot {} is a relative path (from JULIA_DEPOT_PATH or HOME): tokens are \
             read and written under the current directory; set an absolute path",
            depot.display()
        ))
    });
}

/// Julia's `expanduser`: a leading `~` (alone or before `/`) is the home
/// directory; `~user` is refused, as Julia refuses it (taken as written, it
/// would be a directory named `~user` under the current one); anything else
/// is kept as written. `Ok(None)`: no home directory.
fn expand_user(path: &str, home: Option<&Path>) -> Result<Option<PathBuf>> {
    Ok(match path.strip_prefix('~') {
        Some("") => home.map(Path::to_path_buf),
        Some(rest) if rest.starts_with('/') => home.map(|h| h.join(rest.trim_start_matches('/'))),
        Some(_) => {
            return Err(Error::invalid_argument(format!(
                "JULIA_DEPOT_PATH starts with {path:?}: ~user is not expanded (Julia refuses it \
                 too); write the depot's path out"
            )));
        }
        None => Some(PathBuf::from(path)),
    })
}

/// The directory under `servers/` Pkg uses for `server`, the server text as
/// the user wrote it (see the module doc). None when Pkg would find no
/// host in it.
pub fn dir_name(server: &str) -> Option<String> {
    let server = server.trim();
    let has_scheme = server
        .find("://")
        .is_some_and(|i| i > 0 && server[..i].chars().all(|c| c.is_alphanumeric() || c == '_'));
    let server = if has_scheme {
        server.to_string()
    } else {
        format!("https://{server}")
    };
    let server = server.trim_end_matches('/');
    let rest = &server[server.find("://")? + 3..];
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let end = rest.find(['/', '\\']).unwrap_or(rest.len());
    let host = &rest[..end];
    if host.is_empty() {
        return None;
    }
    Some(
        host.chars()
            .map(|c| match c {
                ':' | '/' | '<' | '>' | '"' | '\\' | '|' | '?' | '*' => '_',
                c => c,
            })
            .collect(),
    )
}

/// Where Pkg keeps the token for the server written as `server`.
pub fn path_for(server: &str) -> Result<PathBuf> {
    let dir = dir_name(server).ok_or_else(|| {
        Error::invalid_argument(format!("the server URL has no host: {:?}", server.trim()))
    })?;
    Ok(depot()?.join("servers").join(dir).join("auth.toml"))
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

    /// JuliaHub.jl's rule (authentication.jl:427-449): `id_token` is a string
    /// and `expires` or `expires_at` a number. Whether it is still in the
    /// future is the lifecycle's question; refresh fields are not needed.
    pub fn is_usable(&self) -> bool {
        self.string("id_token").is_some()
            && (self.number("expires_at").is_some() || self.number("expires").is_some())
    }

    /// Pkg's rule (Pkg.jl src/PlatformEngines.jl:155-174): `access_token` is
    /// a string; an expiry is optional (none means it never expires).
    pub fn is_usable_for_pkg(&self) -> bool {
        self.string("access_token").is_some()
    }

    /// Usable for the token a request carries, by option `token_kind`:
    /// JuliaHub.jl's rule for `"id"`, Pkg's for `"access"`.
    pub fn is_usable_as(&self, kind: &str) -> bool {
        if kind == "access" {
            self.is_usable_for_pkg()
        } else {
            self.is_usable()
        }
    }

    /// Holds the token of this `token_kind` (whatever its expiry).
    pub fn holds_kind(&self, kind: &str) -> bool {
        self.string(token_field(kind)).is_some()
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
        self.to_token_kind("id")
    }

    /// The token a request carries, by option `token_kind`: `"id"` (the
    /// `id_token`, for JuliaHub's API as JuliaHub.jl sends it) or `"access"`
    /// (the `access_token`, for the package server as Pkg sends it).
    pub fn to_token_kind(&self, kind: &str) -> Result<Token> {
        let field = token_field(kind);
        let bearer = self
            .string(field)
            .ok_or_else(|| Error::format(format!("the token has no {field}")))?;
        Ok(Token {
            credential: Credential::Bearer(Secret::new(bearer)?),
            refresh: self.string("refresh_token").map(Secret::new).transpose()?,
            expires_at: self.expires_at(),
            lifetime: self.number("expires_in").map(|s| s as i64),
            username: self.user_name().map(str::to_string),
        })
    }

    /// Lays a server reply (refresh or login) over this token. On an empty
    /// record (a login) every field of the reply is taken, as
    /// PkgAuthentication stores the token object, `refresh_url` included. On a
    /// record that holds anything (a refresh), only the fields
    /// [`may_change`] allows (tokens, expiry, the user); the provider decides
    /// about the reply's `refresh_url`. Expiry fields and the tokens a
    /// request carries are taken only from the reply (never a stale id_token
    /// beside a new access_token, as Pkg and PkgAuthentication write the
    /// reply as it came); the refresh token is kept unless replaced.
    ///
    /// The expiry is this machine's clock plus `expires_in`, as Pkg computes
    /// it "to avoid clock skew" (Pkg.jl src/PlatformEngines.jl:213-221). The
    /// server's `expires_at`/`expires` only bounds it: taken when it is
    /// earlier but still in the future (the server ends the token sooner),
    /// ignored when it is already past (its clock is behind ours). Both
    /// fields the reply named are written with that value, as integers.
    pub fn apply_reply(&mut self, reply: toml::Table, now: i64) {
        let renewing = !self.table.is_empty();
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
            if !renewing || may_change(&key) {
                self.table.insert(key, value);
            }
        }
        if let Some(expires_in) = self.number("expires_in") {
            let local = now.saturating_add(expires_in.floor() as i64);
            let server = self
                .number("expires_at")
                .or_else(|| self.number("expires"))
                .map(|t| t.floor() as i64);
            let expires_at = match server {
                Some(at) if at > now && at < local => at,
                _ => local,
            };
            if self.table.contains_key("expires") {
                self.table
                    .insert("expires".into(), toml::Value::Integer(expires_at));
            }
            self.table
                .insert("expires_at".into(), toml::Value::Integer(expires_at));
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

/// The field that holds the token of option `token_kind`.
fn token_field(kind: &str) -> &'static str {
    if kind == "access" {
        "access_token"
    } else {
        "id_token"
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
        assert_eq!(token.credential.secret().expose(), "idt");
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
        assert_eq!(t.to_token().unwrap().credential.secret().expose(), "new");
        assert_eq!(
            t.refresh_url(),
            Some("https://juliahub.com/auth/renew/token.toml/v2/")
        );
    }

    #[test]
    fn expiry_is_local_now_plus_expires_in_bounded_by_a_future_server_time() {
        let renewed = |reply: &str| {
            let mut t = PkgToken::parse(REAL.as_bytes(), Path::new("a"), None).unwrap();
            t.apply_reply(reply.parse().unwrap(), 5000);
            t
        };
        // The server's clock is behind: its expires_at is past, ignored.
        let t = renewed("id_token = \"n\"\nexpires_in = 100\nexpires_at = 4000\n");
        assert_eq!(t.expires_at(), Some(5100));
        // Ahead: local time wins.
        let t = renewed("id_token = \"n\"\nexpires_in = 100\nexpires_at = 9000\n");
        assert_eq!(t.expires_at(), Some(5100));
        // Earlier but in the future: the server ends it sooner.
        let t = renewed("id_token = \"n\"\nexpires_in = 100\nexpires = 5050.5\n");
        assert_eq!(t.expires_at(), Some(5050));
        assert_eq!(t.table()["expires"].as_integer(), Some(5050));
        // No expires_in: the server's time is all there is.
        let t = renewed("id_token = \"n\"\nexpires_at = 4000\n");
        assert_eq!(t.expires_at(), Some(4000));
    }

    #[test]
    fn an_access_token_alone_is_what_pkg_needs() {
        let t = PkgToken::parse(b"access_token = \"a\"\n", Path::new("a"), None).unwrap();
        assert!(t.is_usable_as("access"));
        assert!(!t.is_usable_as("id"));
        assert!(t.holds_kind("access") && !t.holds_kind("id"));
        assert_eq!(t.to_token_kind("access").unwrap().expires_at, None);
    }

    #[test]
    fn apply_reply_takes_only_token_fields_on_a_refresh() {
        let mut t = PkgToken::parse(REAL.as_bytes(), Path::new("a"), None).unwrap();
        let reply: toml::Table = r#"id_token = "new"
refresh_token = "r2"
expires_in = 100
refresh_url = "https://evil.example/steal"
token_endpoint = "https://evil.example/t"
server = "https://evil.example"
client_id = "evil"
"#
        .parse()
        .unwrap();
        t.apply_reply(reply, 5000);
        assert_eq!(
            t.refresh_url(),
            Some("https://juliahub.com/auth/renew/token.toml/v2/")
        );
        for key in ["token_endpoint", "server", "client_id"] {
            assert!(t.table().get(key).is_none(), "{key}");
        }
        assert_eq!(t.to_token().unwrap().refresh.unwrap().expose(), "r2");
        // A login's reply (an empty record) is taken whole, as Pkg does.
        let mut fresh = PkgToken::default();
        let login: toml::Table = "id_token = \"i\"\nrefresh_url = \"https://juliahub.com/r\"\n"
            .parse()
            .unwrap();
        fresh.apply_reply(login, 5000);
        assert_eq!(fresh.refresh_url(), Some("https://juliahub.com/r"));
    }

    #[test]
    fn directory_name_is_pkgs() {
        let d = |s: &str| dir_name(s).unwrap();
        assert_eq!(d("https://JuliaHub.com"), "JuliaHub.com");
        assert_eq!(d("https://juliahub.com:443/"), "juliahub.com_443");
        assert_eq!(d("JuliaHub.com"), "JuliaHub.com");
        assert_eq!(d("http://127.0.0.1:8080/path/x"), "127.0.0.1_8080");
        assert_eq!(d("https://bücher.example"), "bücher.example");
        assert_eq!(d("https://[::1]:9"), "[__1]_9");
        assert_eq!(dir_name("https://"), None);
    }

    #[test]
    fn depot_follows_julia_init_depot_path() {
        let home = Some(PathBuf::from("/home/u"));
        let d = |v: Option<&str>| first_depot(v, home.clone()).unwrap();
        assert_eq!(d(None), PathBuf::from("/home/u/.julia"));
        assert_eq!(d(Some("")), PathBuf::from("/home/u/.julia"));
        assert_eq!(d(Some(":/opt/depot")), PathBuf::from("/home/u/.julia"));
        assert_eq!(d(Some("/opt/depot:")), PathBuf::from("/opt/depot"));
        assert_eq!(d(Some("~/depot:/x")), PathBuf::from("/home/u/depot"));
        assert_eq!(d(Some("~")), PathBuf::from("/home/u"));
        assert_eq!(d(Some("rel")), PathBuf::from("rel"));
        // Julia refuses ~user; taken as written it would be ./~other/x.
        let err = first_depot(Some("~other/x:/y"), home.clone()).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidArgument);
        assert!(err.message().contains("~other/x"), "{}", err.message());
    }

    #[test]
    fn a_file_without_refresh_fields_is_usable_but_not_refreshable() {
        let t = PkgToken::parse(
            b"id_token = \"i\"\nexpires = 4000000000\n",
            Path::new("a"),
            None,
        )
        .unwrap();
        assert!(t.is_usable());
        assert!(!t.is_refreshable());
        let t = PkgToken::parse(b"id_token = \"i\"\n", Path::new("a"), None).unwrap();
        assert!(!t.is_usable(), "no expiry: JuliaHub.jl logs in again");
    }

    #[test]
    fn malformed_file_names_the_line_not_the_content() {
        let text = "id_token = \"secret-value\nbroken";
        let err = PkgToken::parse(text.as_bytes(), Path::new("auth.toml"), None).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Format);
        assert!(!err.message().contains("secret-value"), "{}", err.message());
    }
}
