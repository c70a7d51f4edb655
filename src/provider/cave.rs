//! `cave`: CAVEclient's AuthClient (caveclient/auth.py). Tokens saved by the user
//! in `~/.cloudvolume/secrets`, checked with the CAVE auth API; there is no
//! programmatic login, so an interactive authenticate opens the page where
//! the user makes a token and says how to save it.
//!
//! Files live in `~/.cloudvolume/secrets`, the secrets directory, as in
//! CAVEclient (auth.py:17-25, 54-61; datastack_lookup.py:9-10). Option
//! `token_path` is CAVEclient's `token_file`: it names the one file the token
//! is read from and saved to, and the secrets directory stays where it is for
//! everything else (the deprecated file, the datastack map, the local
//! server's file), whose paths CAVEclient builds from the default location
//! whatever `token_file` is (auth.py:96-118, 380-384). With `token_path` and no `HOME`, those others
//! are skipped (with a warning where one would have been written).
//! - load: `token` given wins; else `token_path`, else the server file if it
//!   exists, else `cave-secret.json`; the key from that file, else the same
//!   key from the deprecated `chunkedgraph-secret.json` of the secrets
//!   directory (with a warning), also when `token_path` is given. A server
//!   file without the key does not fall back to `cave-secret.json`.
//! - save (auth.py:96-102, 294-315): the server file; `cave-secret.json`
//!   only when the server had no file of its own before, as CAVEclient does,
//!   since that file is the fallback of every other server and what
//!   CloudVolume reads, and, for a server other than the default
//!   `https://global.daf-apis.com`, only when it holds no token under the
//!   key yet: `AuthClient.save_token` defaults to `overwrite=False`
//!   (auth.py:249-258) and `write_token` then refuses to replace the key
//!   (auth.py:27-33), so the shared file keeps the token it had; plus `<local_server>-cave-secret.json` when a
//!   datastack names a local server (auth.py:386-407). With `token_path`,
//!   that file instead of the server file and `cave-secret.json`: CAVEclient
//!   8.2.1 sets `_server_file_path` only when no `token_file` is given
//!   (auth.py:96-99), so its `save_token` with a `token_file` and the default
//!   `write_to_server_file=True` fails on the missing attribute (auth.py:301);
//!   hubauth writes the file the user named and leaves the per-server file of
//!   a user who chose another one alone. The key is merged into each file;
//!   with `overwrite=false` and the key present in any of them, nothing is
//!   written.
//! - logout (CAVEclient has none): removes the key from the file it is read
//!   from: `token_path` when given, else the server file; never from the
//!   shared `cave-secret.json`, which every server without a file of its own
//!   and CloudVolume use (a warning says when it still holds a token that
//!   applies to this server).
//!
//! Datastacks: option `profile` names a CAVE datastack. Without `server`,
//! its server is looked up in `cave_datastack_to_server_map.json` of the
//! secrets directory (CAVEclient's datastack_lookup.py); a datastack missing
//! there is served by `https://global.daf-apis.com`, with a warning, as in
//! CAVEclient (datastack_lookup.py:57-71 gives None, frameworkclient.py:299-300
//! then takes `default_global_server_address`, endpoints.py:1); with `server`,
//! `save_token` records the pair there, as CAVEclient does. Saving a token
//! for a datastack also asks the info service
//! (`GET <server>/info/api/v2/datastack/full/<datastack>`) for its
//! `local_server` and writes `<local_server>-cave-secret.json`, the file
//! CloudVolume reads for that server; the server's answer names a file only,
//! never where a request goes.
//!
//! Server API (middle_auth): the check and the username come from
//! `GET /auth/api/v1/user/cache`, which answers for any valid token with the
//! user's record. `/user/token` is not used: it lists every API key of the
//! user in plaintext. A new key is made by the user in the browser at
//! `<server>/sticky_auth/settings/tokens` (where CAVEclient 8.x sends users);
//! making one does not revoke the older ones.
//!
//! Plain `http://` servers are accepted when the user configured them (the
//! option, the datastack map), as CAVEclient accepts them, with a warning.

pub(crate) mod status;

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::env::{Env, process_env};
use crate::error::{Error, Result};
use crate::flow::user_check::user_check;
use crate::flow::{LoginContext, browser};
use crate::log;
use crate::net::{self, Request};
use crate::options::{Options, ProviderKind};
use crate::provider::{Overwrite, Provider, Verdict};
use crate::scope;
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::cave_json::{self, SecretFile};
use crate::token::Token;

/// CAVEclient's default server.
pub(crate) const DEFAULT_SERVER: &str = "https://global.daf-apis.com";
const API: &str = "/auth/api/v1";

pub struct Cave {
    server: ServerUrl,
    /// `~/.cloudvolume/secrets`; None only with `token_path` and no `HOME`.
    dir: Option<PathBuf>,
    /// `<netloc>-cave-secret.json` in the secrets directory; None with
    /// `token_path`, which replaces it.
    server_file: Option<PathBuf>,
    /// `token_path`, else `cave-secret.json` in the secrets directory.
    default_file: PathBuf,
    key: String,
    /// The datastack (option `profile`), if any.
    datastack: Option<String>,
    /// `cave_datastack_to_server_map.json` in the secrets directory.
    map_file: Option<PathBuf>,
}

/// A CAVE token as the real tools make it: 32 hexadecimal characters
/// (lower-cased here). None for anything else.
pub fn normalize_token(token: &str) -> Option<String> {
    let token = token.trim();
    (token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| token.to_ascii_lowercase())
}

impl Cave {
    /// Resolves server, files and key from the options and the process
    /// environment (`HOME`). Touches neither the network nor a file.
    pub fn new(options: &Options) -> Result<Self> {
        Self::with_env(&process_env, options)
    }

    /// Like [`new`](Self::new), reading `HOME` through `env`. With a
    /// datastack (option `profile`) and no `server`, reads the datastack map.
    pub fn with_env(env: Env<'_>, options: &Options) -> Result<Self> {
        let explicit = options.token_path.clone();
        let home = env("HOME").filter(|h| !h.trim().is_empty());
        let dir = home.map(|home| cave_json::secrets_dir(Path::new(&home)));
        let default_file = match (&explicit, &dir) {
            (Some(path), _) => path.clone(),
            (None, Some(dir)) => dir.join(cave_json::DEFAULT_FILE),
            (None, None) => {
                return Err(Error::invalid_argument(
                    "cannot find the home directory for ~/.cloudvolume/secrets; set HOME or `token_path`",
                ));
            }
        };
        let datastack = options
            .profile
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let map_file = dir.as_ref().map(|d| d.join(cave_json::DATASTACK_MAP_FILE));
        let input = match (&options.server, &datastack) {
            (Some(server), _) => server.clone(),
            (None, Some(name)) => {
                let mapped = match &map_file {
                    Some(map_file) => SecretFile::load(map_file)?
                        .and_then(|map| map.token(name).map(str::to_string)),
                    None => None,
                };
                // CAVEclient: `handle_server_address` gives None for a
                // datastack missing from the map (datastack_lookup.py:57-71),
                // and `CAVEclientFull` then uses the default server
                // (frameworkclient.py:117-126, 299-300).
                mapped.unwrap_or_else(|| {
                    log::warn(&format!(
                        "the datastack {name:?} has no server in ~/.cloudvolume/secrets/{}; \
                         using {DEFAULT_SERVER}, as CAVEclient does (pass the option server \
                         for another; save_token then records it there)",
                        cave_json::DATASTACK_MAP_FILE
                    ));
                    DEFAULT_SERVER.to_string()
                })
            }
            (None, None) => DEFAULT_SERVER.to_string(),
        };
        let server = ProviderKind::Cave.configured_server(&input)?;
        let server_file = match (&explicit, &dir) {
            (None, Some(dir)) => {
                Some(dir.join(cave_json::server_file_name(&cave_json::netloc(&input))))
            }
            _ => None,
        };
        let key = options
            .token_key
            .clone()
            .unwrap_or_else(|| cave_json::DEFAULT_KEY.to_string());
        Ok(Cave {
            server,
            dir,
            server_file,
            default_file,
            key,
            datastack,
            map_file,
        })
    }

    /// The per-server file, `<netloc>-cave-secret.json` in the secrets
    /// directory; None with `token_path`, which takes its place.
    pub fn server_file(&self) -> Option<&Path> {
        self.server_file.as_deref()
    }

    /// `token_path`, else `cave-secret.json`.
    pub fn default_file(&self) -> &Path {
        &self.default_file
    }

    /// The deprecated `chunkedgraph-secret.json` of the secrets directory.
    pub fn deprecated_file(&self) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(cave_json::DEPRECATED_FILE))
    }

    /// `cave_datastack_to_server_map.json` of the secrets directory.
    pub fn datastack_map_file(&self) -> Option<&Path> {
        self.map_file.as_deref()
    }

    /// The file a token is read from: `token_path`, else the server file if it
    /// exists, else `cave-secret.json`.
    pub fn load_file(&self) -> &Path {
        match &self.server_file {
            Some(server_file) if server_file.is_file() => server_file,
            _ => &self.default_file,
        }
    }

    /// The files `save_token` may write and `logout` may change, locked
    /// while they do: the server file, `token_path` or `cave-secret.json`,
    /// and the datastack map.
    fn files(&self) -> Vec<&Path> {
        let mut files: Vec<&Path> = self.server_file().into_iter().collect();
        files.push(&self.default_file);
        if self.datastack.is_some() {
            files.extend(self.datastack_map_file());
        }
        files
    }

    /// Whether `path` is the shared `cave-secret.json` and this server is
    /// not the default one: the file then holds another server's token (the
    /// default server's, which every server without a file of its own and
    /// CloudVolume read), and a save for this server never replaces it.
    /// CAVEclient's `AuthClient.save_token` has `overwrite=False` by default
    /// (auth.py:249-258) and `write_token` raises rather than replace the
    /// key (auth.py:27-33), so its shared file keeps its token.
    fn is_others_shared_file(&self, path: &Path) -> bool {
        self.server_file.is_some()
            && path == self.default_file
            && self.server.as_str() != DEFAULT_SERVER
    }

    /// The files a token is saved in, in order: `token_path`; or the server
    /// file, then `cave-secret.json` only when the server had no file of its
    /// own; then the local server's file.
    fn save_files(&self, local: Option<PathBuf>) -> Vec<PathBuf> {
        let mut files = match &self.server_file {
            Some(server_file) if server_file.exists() => vec![server_file.clone()],
            Some(server_file) => vec![server_file.clone(), self.default_file.clone()],
            None => vec![self.default_file.clone()],
        };
        if let Some(local) = local
            && !files.contains(&local)
        {
            files.push(local);
        }
        files
    }

    /// The datastack's local server's file, from the info service; None
    /// without a datastack, or (with a warning) when the service does not say
    /// or there is no secrets directory to put it in.
    fn local_server_file(&self, token: &str) -> Option<PathBuf> {
        let datastack = self.datastack.as_deref()?;
        let Some(dir) = &self.dir else {
            log::warn(&format!(
                "HOME is not set: saved without the datastack {datastack:?}'s \
                 ~/.cloudvolume/secrets/<local_server>-cave-secret.json"
            ));
            return None;
        };
        let encoded: String = url::form_urlencoded::byte_serialize(datastack.as_bytes()).collect();
        let path = format!("/info/api/v2/datastack/full/{encoded}");
        let local = net::send(
            self.request(&path, token)
                .header("accept", "application/json"),
        )
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .and_then(|v| {
            v.get("local_server")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        // A file name only: checked, never taken as a server the user
        // configured (that would open its plain-http origin to requests).
        .filter(|l| ServerUrl::parse_allowing_http(l).is_ok());
        let Some(local) = local else {
            log::warn(&format!(
                "the info service of {} did not name the local server of the datastack \
                 {datastack:?}; saved without <local_server>-cave-secret.json",
                self.server.as_str()
            ));
            return None;
        };
        let name = cave_json::server_file_name(&cave_json::netloc(&local));
        // A file name from a reply: a bare name in the secrets directory.
        (!name.contains('/') && !name.starts_with('.')).then(|| dir.join(name))
    }

    /// The stored token, as CAVEclient finds it.
    fn stored(&self) -> Result<Option<Secret>> {
        let file = self.load_file();
        if let Some(secrets) = SecretFile::load(file)?
            && let Some(token) = secrets.token(&self.key)
        {
            return Secret::new(token).map(Some);
        }
        let Some(deprecated) = self.deprecated_file() else {
            return Ok(None);
        };
        if let Some(secrets) = SecretFile::load(&deprecated)?
            && let Some(token) = secrets.token(&self.key)
        {
            log::warn(&format!(
                "using the token in the deprecated {}; save it again with \
                 `hubauth save-token --provider cave --server {}` to move it",
                deprecated.display(),
                self.server.as_str()
            ));
            return Secret::new(token).map(Some);
        }
        Ok(None)
    }

    /// `GET /auth/api/v1/user/cache`: 200 valid (the user named from its
    /// record), 401/403 rejected.
    fn ask(&self, token: &str) -> Result<Verdict> {
        let request = self.request(&format!("{API}/user/cache"), token);
        user_check(request, &[401, 403], &["name", "email"])
    }

    /// A GET of `path` on the server with the token, as CAVEclient sends it
    /// (a bearer header and the middle_auth cookie).
    fn request(&self, path: &str, token: &str) -> Request {
        Request::get(self.server.join(path))
            .bearer(token)
            .header("cookie", format!("middle_auth_token={token}"))
            .deadline(scope::deadline())
    }

    /// Where CAVEclient 8.x sends users to make a key.
    fn create_token_url(&self) -> String {
        self.server.join("/sticky_auth/settings/tokens")
    }

    /// There is no programmatic login: send the user to the page that makes
    /// a token (when interactive or hooked) and say how to save it.
    fn token_needed(&self, options: &Options, problem: Error) -> Error {
        let url = self.create_token_url();
        let ctx = LoginContext::from_options(options, true);
        if ctx.can_login()
            && let Err(e) = browser::open(&ctx, &url, None)
        {
            return e;
        }
        with_advice(
            problem,
            format!(
                "create a token at {url} (older tokens keep working), then save it with \
             `hubauth save-token --provider cave --server {server}` (the token on stdin) \
             or hubauth_save_token with `provider=cave` and `server={server}`",
                server = self.server.as_str()
            ),
        )
    }
}

/// `message; advice`, the kind kept.
fn with_advice(error: Error, advice: String) -> Error {
    Error::new(error.kind(), format!("{}; {advice}", error.message()))
}

impl Provider for Cave {
    type Stored = Secret;
    /// CAVE has no programmatic login, so nothing is ever granted.
    type Grant = Token;
    /// Nothing is renewed.
    type Plan = Infallible;

    fn server(&self) -> &str {
        self.server.as_str()
    }

    fn lock_paths(&self) -> Vec<&Path> {
        self.files()
    }

    fn load(&self, _options: &Options, _skip: &[Secret]) -> Result<Option<Secret>> {
        self.stored()
    }

    /// CAVE tokens do not expire.
    fn token(&self, stored: &Secret, _options: &Options) -> Option<Token> {
        Some(Token::bare(stored.clone()))
    }

    fn renew(&self, _stored: &Secret, plan: Infallible, _options: &Options) -> Result<Token> {
        match plan {}
    }

    /// There is no programmatic login: the user is sent to the page that
    /// makes a token and told how to save it.
    fn login(&self, options: &Options) -> Result<Token> {
        let problem = if options.force {
            Error::no_credentials(format!(
                "a new CAVE token for {} was asked for (`force=true`)",
                self.server.as_str()
            ))
        } else {
            let mut files = vec![self.load_file().display().to_string()];
            files.extend(self.deprecated_file().map(|f| f.display().to_string()));
            Error::no_credentials(format!(
                "no usable CAVE token under {:?} for {} (looked in {})",
                self.key,
                self.server.as_str(),
                files.join(" and ")
            ))
        };
        Err(self.token_needed(options, problem))
    }

    fn save(&self, grant: Token, _options: &Options) -> Result<Token> {
        Ok(grant)
    }

    fn check(&self, token: &Token, _options: &Options) -> Result<Verdict> {
        self.ask(token.credential.token()?.expose())
    }

    /// A saved token the server rejects is the user's to replace.
    fn discard(&self, _stored: &Secret, options: &Options) -> Result<()> {
        Err(self.token_needed(
            options,
            Error::authentication(format!(
                "{} rejected the saved CAVE token",
                self.server.as_str()
            )),
        ))
    }

    /// CAVEclient's `save_token`: lower-cased 32-hex (unless `validate=false`),
    /// merged under `token_key` into the server file, then the default file.
    fn save_token(&self, token: &str, options: &Options, overwrite: &Overwrite) -> Result<()> {
        let token = if options.validate {
            normalize_token(token).ok_or_else(|| {
                Error::invalid_argument(
                    "a CAVE token is 32 hexadecimal characters; this is not one \
                     (set `validate=false` to save it anyway)",
                )
            })?
        } else {
            token.trim().to_string()
        };
        let token = zeroize::Zeroizing::new(token);
        if token.is_empty() {
            return Err(Error::invalid_argument("the token is empty"));
        }
        let local = self.local_server_file(&token);
        let files = self.save_files(local);
        let mut contents = Vec::with_capacity(files.len());
        let mut files = files;
        if let Some(shared) = files.iter().position(|f| self.is_others_shared_file(f))
            && SecretFile::load(&files[shared])?.is_some_and(|f| f.contains(&self.key))
        {
            log::warn(&format!(
                "{} keeps its token under {:?}: it is the fallback of every server without a \
                 file of its own (and what CloudVolume reads), so the token for {} goes to \
                 its own file only",
                files[shared].display(),
                self.key,
                self.server.as_str()
            ));
            files.remove(shared);
        }
        for path in &files {
            let secrets = SecretFile::load(path)?.unwrap_or_default();
            if secrets.contains(&self.key) {
                overwrite.check(format_args!("{} (under {:?})", path.display(), self.key))?;
            }
            contents.push(secrets);
        }
        for (path, secrets) in files.iter().zip(contents.iter_mut()) {
            secrets.set(&self.key, &token);
            secrets.save(path)?;
        }
        if let (Some(datastack), Some(_)) = (&self.datastack, &options.server) {
            let Some(map_file) = &self.map_file else {
                log::warn(&format!(
                    "HOME is not set: the datastack {datastack:?} was not recorded in \
                     ~/.cloudvolume/secrets/{}",
                    cave_json::DATASTACK_MAP_FILE
                ));
                return Ok(());
            };
            let mut map = SecretFile::load(map_file)?.unwrap_or_default();
            if map.token(datastack) != Some(self.server.as_str()) {
                map.set(datastack, self.server.as_str());
                map.save(map_file)?;
            }
        }
        Ok(())
    }

    /// Removes `token_key` from the file it is read from (`token_path`, else
    /// the server file); never from the shared `cave-secret.json`.
    fn logout(&self, _options: &Options) -> Result<()> {
        let path = self.server_file().unwrap_or(&self.default_file);
        if let Some(mut secrets) = SecretFile::load(path)?
            && secrets.remove(&self.key)
        {
            secrets.save(path)?;
        }
        if let Some(server_file) = self.server_file()
            && !server_file.exists()
            && SecretFile::load(&self.default_file)?.is_some_and(|f| f.contains(&self.key))
        {
            log::warn(&format!(
                "{} still holds a token under {:?}: it is the fallback of every server without \
                 a file of its own (and what CloudVolume reads), so logout leaves it; remove \
                 it there if {} should not use it",
                self.default_file.display(),
                self.key,
                self.server.as_str()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_follow_caveclient() {
        let env = |name: &str| (name == "HOME").then(|| "/h".to_string());
        let c = Cave::with_env(&env, &Options::new()).unwrap();
        assert_eq!(c.server(), DEFAULT_SERVER);
        assert_eq!(
            c.server_file(),
            Some(Path::new(
                "/h/.cloudvolume/secrets/global.daf-apis.com-cave-secret.json"
            ))
        );
        assert_eq!(
            c.default_file(),
            Path::new("/h/.cloudvolume/secrets/cave-secret.json")
        );
        assert_eq!(
            c.files(),
            [c.server_file().unwrap(), c.default_file()],
            "no datastack, no map"
        );
        assert!(Cave::with_env(&|_: &str| None, &Options::new()).is_err());
    }

    /// `token_path` is CAVEclient's `token_file`: the one file of the token;
    /// the other files stay in `~/.cloudvolume/secrets` (auth.py:96-118).
    #[test]
    fn token_path_replaces_the_token_files_only() {
        let env = |name: &str| (name == "HOME").then(|| "/h".to_string());
        let mut o = Options::new();
        o.set("server", "http://localhost:8080/x/").unwrap();
        o.set("token_path", "/t/mine.json").unwrap();
        o.set("profile", "stack").unwrap();
        let c = Cave::with_env(&env, &o).unwrap();
        assert_eq!(c.server_file(), None);
        assert_eq!(c.default_file(), Path::new("/t/mine.json"));
        assert_eq!(c.load_file(), Path::new("/t/mine.json"));
        assert_eq!(
            c.deprecated_file().as_deref(),
            Some(Path::new(
                "/h/.cloudvolume/secrets/chunkedgraph-secret.json"
            ))
        );
        assert_eq!(
            c.datastack_map_file(),
            Some(Path::new(
                "/h/.cloudvolume/secrets/cave_datastack_to_server_map.json"
            ))
        );
        assert_eq!(
            c.files(),
            [
                Path::new("/t/mine.json"),
                Path::new("/h/.cloudvolume/secrets/cave_datastack_to_server_map.json")
            ]
        );
        let local = PathBuf::from("/h/.cloudvolume/secrets/l:1-cave-secret.json");
        assert_eq!(
            c.save_files(Some(local.clone())),
            [PathBuf::from("/t/mine.json"), local]
        );

        // Without HOME only the named file is known.
        let c = Cave::with_env(&|_: &str| None, &o).unwrap();
        assert_eq!(c.default_file(), Path::new("/t/mine.json"));
        assert_eq!((c.deprecated_file(), c.datastack_map_file()), (None, None));
        // A datastack with no map to find it in: the default server, as
        // CAVEclient (whose map is then empty) does.
        o.clear("server").unwrap();
        let c = Cave::with_env(&|_: &str| None, &o).unwrap();
        assert_eq!(c.server.as_str(), DEFAULT_SERVER);
    }

    #[test]
    fn tokens_are_32_hex_lower_cased() {
        assert_eq!(
            normalize_token(" ABCDEF0123456789abcdef0123456789 ").as_deref(),
            Some("abcdef0123456789abcdef0123456789")
        );
        assert!(normalize_token("abcdef0123456789abcdef012345678").is_none());
        assert!(normalize_token("ghijkl0123456789abcdef0123456789").is_none());
    }
}
