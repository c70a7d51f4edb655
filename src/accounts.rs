//! Named accounts: a short name for the options a login was made with, so
//! `hubauth token --name work` (or option `account`, or `HUBAUTH_ACCOUNT`)
//! needs no other flag, as oidc-agent's short names and `gh auth switch`.
//!
//! The list lives in `<config dir>/hubauth/accounts.toml`, beside the `oidc`
//! provider's token files, and holds only what selects a hub and a credential
//! (never a secret); the tokens stay in each hub's own files:
//!
//! ```toml
//! default = "work"
//! [accounts.work]
//! provider = "oidc"
//! issuer = "https://id.example.org"
//! client_id = "cli"
//! ```
//!
//! [`resolve`] is the one rule that applies an account to a call's options:
//! the named account (option `account`, else `HUBAUTH_ACCOUNT`) fills every
//! option the caller did not set; with neither, and no option that selects a
//! hub, the default account does (`default`, or the only account).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::credential::CredentialInfo;
use crate::env::{self, Env};
use crate::error::{Error, Result};
use crate::options::{LoginFlow, Options};
use crate::server::ServerUrl;
use crate::store::{fsutil, oidc_toml};

/// The options an account records, when they were set for its login: those
/// that select the hub, the token file and how to log in. Secrets never.
pub const ACCOUNT_KEYS: &[&str] = &[
    "provider",
    "server",
    "issuer",
    "client_id",
    "profile",
    "token_path",
    "token_key",
    "scope",
    "flow",
    "token_kind",
    "ca_file",
];

/// The options that select a hub or a credential: with any of them set (and
/// no account named), the default account does not apply.
pub const SELECTING_KEYS: &[&str] = &[
    "provider",
    "server",
    "issuer",
    "client_id",
    "profile",
    "token_path",
    "token_key",
];

/// The environment variable naming the account when option `account` is not set.
pub const ACCOUNT_ENV: &str = "HUBAUTH_ACCOUNT";

/// How long a change waits for another process's change of the file.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest account name; a name is a word, not a document.
const MAX_NAME: usize = 64;

/// One account: its name and the option values it fills in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// Option keys (of [`ACCOUNT_KEYS`]) and values, as `Options::set` takes them.
    pub options: BTreeMap<String, String>,
}

impl Account {
    /// The account's value of option `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// The account's options, laid under `options`: what the caller set wins.
    pub fn fill(&self, options: &Options) -> Result<Options> {
        let mut base = Options::new();
        for (key, value) in &self.options {
            base.set(key, value)
                .map_err(|e| e.context(format!("account {:?} in {}", self.name, shown_path())))?;
        }
        Ok(options.overlaid_on(&base))
    }

    /// The credentials of `found` ([`crate::status::discover`]) this account
    /// addresses: every option both name agrees (servers compared normalised).
    pub fn matching<'a>(&self, found: &'a [CredentialInfo]) -> Vec<&'a CredentialInfo> {
        let provider = self.get("provider").unwrap_or("juliahub");
        found
            .iter()
            .filter(|c| c.provider == provider)
            .filter(|c| {
                c.options.iter().all(|(key, value)| match self.get(key) {
                    None => true,
                    Some(mine) if key == "server" || key == "issuer" => same_url(mine, value),
                    Some(mine) => mine == value,
                })
            })
            .collect()
    }
}

fn same_url(a: &str, b: &str) -> bool {
    match (
        ServerUrl::parse_allowing_http(a),
        ServerUrl::parse_allowing_http(b),
    ) {
        (Ok(a), Ok(b)) => a.as_str() == b.as_str(),
        _ => a == b,
    }
}

/// The account list as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accounts {
    default: Option<String>,
    accounts: BTreeMap<String, BTreeMap<String, String>>,
}

impl Accounts {
    /// Every account, by name.
    pub fn list(&self) -> Vec<Account> {
        self.accounts
            .iter()
            .map(|(name, options)| Account {
                name: name.clone(),
                options: options.clone(),
            })
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<Account> {
        self.accounts.get(name).map(|options| Account {
            name: name.to_string(),
            options: options.clone(),
        })
    }

    /// The account used when none is named: the one `default` names (when it
    /// exists), else the only one.
    pub fn default_account(&self) -> Option<Account> {
        match &self.default {
            Some(name) if self.accounts.contains_key(name) => self.get(name),
            _ if self.accounts.len() == 1 => self.list().pop(),
            _ => None,
        }
    }

    /// Records `name` with the account options `options` set, and `server`
    /// (the hub the login reached) when they name neither a server nor an
    /// issuer, so the account still names its hub when the environment that
    /// chose it changes. Replaces an account of that name.
    pub fn remember(&mut self, name: &str, options: &Options, server: Option<&str>) -> Result<()> {
        check_name(name)?;
        let mut recorded = BTreeMap::new();
        recorded.insert("provider".to_string(), options.provider.name().to_string());
        for key in ACCOUNT_KEYS {
            if options.is_set(key)
                && let Some(value) = value_of(options, key)
            {
                recorded.insert(key.to_string(), value);
            }
        }
        if !recorded.contains_key("server")
            && !recorded.contains_key("issuer")
            && let Some(server) = server
        {
            recorded.insert("server".to_string(), server.to_string());
        }
        self.accounts.insert(name.to_string(), recorded);
        Ok(())
    }

    /// Forgets `name`; false when there was no such account. A default that
    /// named it is dropped too.
    pub fn forget(&mut self, name: &str) -> bool {
        if self.default.as_deref() == Some(name) {
            self.default = None;
        }
        self.accounts.remove(name).is_some()
    }

    /// Makes `name` the default account; it must exist.
    pub fn set_default(&mut self, name: &str) -> Result<()> {
        if !self.accounts.contains_key(name) {
            return Err(unknown_account(name, self));
        }
        self.default = Some(name.to_string());
        Ok(())
    }

    /// The name `default` names (which may be gone), as stored.
    pub fn default_name(&self) -> Option<&str> {
        self.default.as_deref()
    }

    fn parse(bytes: &[u8], path: &Path) -> Result<Accounts> {
        let bad = |what: &str| {
            Error::format(format!(
                "{}: {what}; fix or delete the file (it only names accounts; no token is in it)",
                path.display()
            ))
        };
        // The file holds no secret, so the parser's own words may be shown
        // (not the token files' `force=true` hint: a login does not rewrite it).
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            bad(&format!("not valid TOML ({})", e.message().trim()))
        })?;
        let default = match table.get("default") {
            None => None,
            Some(toml::Value::String(name)) => Some(name.clone()),
            Some(_) => return Err(bad("\"default\" is not a string")),
        };
        let mut accounts = BTreeMap::new();
        if let Some(list) = table.get("accounts") {
            let list = list
                .as_table()
                .ok_or_else(|| bad("\"accounts\" is not a table"))?;
            for (name, options) in list {
                let options = options
                    .as_table()
                    .ok_or_else(|| bad(&format!("account {name:?} is not a table")))?;
                let mut recorded = BTreeMap::new();
                for (key, value) in options {
                    // Keys of a later version are kept out of the call, not refused.
                    if !ACCOUNT_KEYS.contains(&key.as_str()) {
                        continue;
                    }
                    let value = value
                        .as_str()
                        .ok_or_else(|| bad(&format!("account {name:?}: {key} is not a string")))?;
                    recorded.insert(key.clone(), value.to_string());
                }
                accounts.insert(name.clone(), recorded);
            }
        }
        Ok(Accounts { default, accounts })
    }

    fn to_text(&self) -> String {
        let mut table = toml::Table::new();
        if let Some(name) = &self.default {
            table.insert("default".into(), toml::Value::String(name.clone()));
        }
        let mut list = toml::Table::new();
        for (name, options) in &self.accounts {
            let options: toml::Table = options
                .iter()
                .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                .collect();
            list.insert(name.clone(), toml::Value::Table(options));
        }
        table.insert("accounts".into(), toml::Value::Table(list));
        toml::to_string(&table).unwrap_or_default()
    }
}

/// The string form of option `key` (one of [`ACCOUNT_KEYS`]) as set in `options`.
fn value_of(options: &Options, key: &str) -> Option<String> {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    match key {
        "provider" => Some(options.provider.name().to_string()),
        "server" => options.server.clone(),
        "issuer" => options.issuer.clone(),
        "client_id" => options.client_id.clone(),
        "profile" => options.profile.clone(),
        "token_path" => path(&options.token_path),
        "token_key" => options.token_key.clone(),
        "scope" => options.scope.clone(),
        "flow" => Some(
            match options.flow {
                LoginFlow::Auto => "auto",
                LoginFlow::Device => "device",
                LoginFlow::Browser => "browser",
            }
            .to_string(),
        ),
        "token_kind" => Some(options.token_kind.to_string()),
        "ca_file" => path(&options.ca_file),
        _ => None,
    }
}

/// A name is a short word: letters, digits, `-`, `_`, `.` and `@`.
fn check_name(name: &str) -> Result<()> {
    let word = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if name.is_empty() || name.chars().count() > MAX_NAME || !word {
        return Err(Error::invalid_argument(format!(
            "an account name is 1 to {MAX_NAME} letters, digits, '-', '_', '.' or '@', not {:?}",
            crate::log::quote(name, MAX_NAME)
        )));
    }
    Ok(())
}

fn unknown_account(name: &str, accounts: &Accounts) -> Error {
    let names: Vec<&str> = accounts.accounts.keys().map(String::as_str).collect();
    let known = if names.is_empty() {
        "there are none yet (`hubauth login --name NAME` makes one)".to_string()
    } else {
        format!("known: {}", names.join(", "))
    };
    Error::invalid_argument(format!(
        "no account {:?} in {}; {known}",
        crate::log::quote(name, MAX_NAME),
        shown_path()
    ))
}

/// Where the account list is: `<config dir>/hubauth/accounts.toml`.
pub fn path() -> Result<PathBuf> {
    Ok(oidc_toml::config_root()?.join("accounts.toml"))
}

fn shown_path() -> String {
    path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "accounts.toml".into())
}

/// The account list; empty when there is no file.
pub fn load() -> Result<Accounts> {
    load_from(&path()?)
}

fn load_from(path: &Path) -> Result<Accounts> {
    match fsutil::read_file(path)? {
        Some(bytes) => Accounts::parse(&bytes, path),
        None => Ok(Accounts::default()),
    }
}

/// Changes the account list under its lock (read, `change`, atomic 0600
/// write), so two processes never lose each other's change.
pub fn update<T>(change: impl FnOnce(&mut Accounts) -> Result<T>) -> Result<T> {
    let path = path()?;
    let _lock = fsutil::FileLock::acquire(&path, LOCK_TIMEOUT)?;
    let mut accounts = load_from(&path)?;
    let result = change(&mut accounts)?;
    fsutil::atomic_write(&path, accounts.to_text().as_bytes())?;
    Ok(result)
}

/// The account that applies to a call with `options`: the one option
/// `account` (else `env`'s `HUBAUTH_ACCOUNT`) names, which must exist; else,
/// when no option selects a hub, the default account; else none.
pub fn applying(options: &Options, accounts: &Accounts, env: Env<'_>) -> Result<Option<Account>> {
    if refused(options) {
        return Ok(None);
    }
    let named = options
        .account
        .clone()
        .or_else(|| env::non_empty(env, ACCOUNT_ENV));
    if let Some(name) = named {
        return accounts
            .get(&name)
            .map(Some)
            .ok_or_else(|| unknown_account(&name, accounts));
    }
    if SELECTING_KEYS.iter().any(|key| options.is_set(key)) {
        return Ok(None);
    }
    Ok(accounts.default_account())
}

/// A call's options with its account applied ([`applying`]); the options as
/// they are when none applies. The file is read only when an account may apply.
pub fn resolve(options: &Options) -> Result<Options> {
    resolve_with(options, &env::process_env)
}

/// `account` set to the empty string: no account applies, neither
/// `HUBAUTH_ACCOUNT` nor the default (a login that makes a new one).
fn refused(options: &Options) -> bool {
    options.is_set("account") && options.account.is_none()
}

/// [`resolve`] with the environment `env`.
pub fn resolve_with(options: &Options, env: Env<'_>) -> Result<Options> {
    if refused(options) {
        return Ok(options.clone());
    }
    let named = options.account.is_some() || env::non_empty(env, ACCOUNT_ENV).is_some();
    if !named && SELECTING_KEYS.iter().any(|key| options.is_set(key)) {
        return Ok(options.clone());
    }
    let path = match path() {
        Ok(path) => path,
        Err(e) if named => return Err(e),
        // No config directory (no HOME): there is no list, so no default.
        Err(_) => return Ok(options.clone()),
    };
    let accounts = match load_from(&path) {
        Ok(accounts) => accounts,
        Err(e) if named => return Err(e),
        // Only a default could apply: a call that names no account is not
        // failed by a list it did not ask for; it is told why none applied.
        Err(e) => {
            crate::log::warn(&format!("{}; no default account applies", e.message()));
            return Ok(options.clone());
        }
    };
    match applying(options, &accounts, env)? {
        Some(account) => {
            crate::log::info(&format!(
                "using account {} ({})",
                account.name,
                shown_path()
            ));
            crate::log::debug(&format!(
                "account {} fills in: {}",
                account.name,
                account
                    .options
                    .iter()
                    .filter(|(key, _)| !options.is_set(key))
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            account.fill(options)
        }
        None => Ok(options.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(text: &str) -> Accounts {
        Accounts::parse(text.as_bytes(), Path::new("accounts.toml")).unwrap()
    }

    const TWO: &str = r#"
default = "work"
[accounts.work]
provider = "oidc"
issuer = "https://id.example.org"
client_id = "cli"
scope = "openid offline_access"
[accounts.jh]
provider = "juliahub"
server = "https://juliahub.example.org"
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_named_account_fills_only_what_the_caller_did_not_set() {
        let list = accounts(TWO);
        let mut o = Options::new();
        o.set("account", "work").unwrap();
        o.set("client_id", "mine").unwrap();
        o.set("timeout_ms", "5000").unwrap();
        let account = applying(&o, &list, &no_env).unwrap().unwrap();
        let filled = account.fill(&o).unwrap();
        assert_eq!(filled.provider, crate::ProviderKind::Oidc);
        assert_eq!(filled.issuer.as_deref(), Some("https://id.example.org"));
        assert_eq!(
            filled.client_id.as_deref(),
            Some("mine"),
            "the caller's wins"
        );
        assert_eq!(filled.scope.as_deref(), Some("openid offline_access"));
        assert_eq!(filled.timeout, Duration::from_millis(5000));
        assert!(filled.is_set("issuer"), "filled options count as set");
    }

    #[test]
    fn the_environment_names_an_account_when_the_option_does_not() {
        let list = accounts(TWO);
        let env = |name: &str| (name == ACCOUNT_ENV).then(|| "jh".to_string());
        let o = Options::new();
        assert_eq!(applying(&o, &list, &env).unwrap().unwrap().name, "jh");
        let mut o = Options::new();
        o.set("account", "work").unwrap();
        assert_eq!(applying(&o, &list, &env).unwrap().unwrap().name, "work");
        // Even with a hub selected: a named account fills the rest.
        let mut o = Options::new();
        o.set("server", "https://other.example.org").unwrap();
        let filled = applying(&o, &list, &env)
            .unwrap()
            .unwrap()
            .fill(&o)
            .unwrap();
        assert_eq!(filled.server.as_deref(), Some("https://other.example.org"));
    }

    #[test]
    fn the_default_applies_only_when_nothing_selects_a_hub() {
        let list = accounts(TWO);
        assert_eq!(
            applying(&Options::new(), &list, &no_env)
                .unwrap()
                .unwrap()
                .name,
            "work"
        );
        for key in SELECTING_KEYS {
            let mut o = Options::new();
            o.set(key, if *key == "provider" { "dagshub" } else { "x" })
                .unwrap();
            assert_eq!(applying(&o, &list, &no_env).unwrap(), None, "{key}");
        }
        // An empty `account`: none at all, not even the environment's.
        let mut o = Options::new();
        o.set("account", "").unwrap();
        let env = |name: &str| (name == ACCOUNT_ENV).then(|| "jh".to_string());
        assert_eq!(applying(&o, &list, &env).unwrap(), None);
        // Options that do not select a hub leave the default in force.
        let mut o = Options::new();
        o.set("force", "true").unwrap();
        assert!(applying(&o, &list, &no_env).unwrap().is_some());
    }

    #[test]
    fn the_only_account_is_the_default_and_a_missing_one_is_an_error() {
        let mut list = accounts(TWO);
        assert!(list.forget("work"));
        assert_eq!(list.default_name(), None, "the default went with it");
        assert_eq!(list.default_account().unwrap().name, "jh");
        list.remember("two", &Options::new(), Some("https://b.example.org"))
            .unwrap();
        assert_eq!(list.default_account(), None, "two accounts, no default");
        let mut o = Options::new();
        o.set("account", "nope").unwrap();
        let e = applying(&o, &list, &no_env).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert!(e.message().contains("known: jh, two"), "{e}");
        assert!(list.set_default("nope").is_err());
        list.set_default("two").unwrap();
        assert_eq!(list.default_account().unwrap().name, "two");
    }

    #[test]
    fn remember_keeps_what_was_set_and_never_a_secret() {
        let mut o = Options::new();
        o.set("provider", "oidc").unwrap();
        o.set("issuer", "https://id.example.org").unwrap();
        o.set("client_id", "cli").unwrap();
        o.set("client_secret", "very-secret").unwrap();
        o.set("flow", "device").unwrap();
        o.set("force", "true").unwrap();
        let mut list = Accounts::default();
        list.remember("work", &o, Some("https://ignored.example.org"))
            .unwrap();
        let text = list.to_text();
        assert!(!text.contains("very-secret"), "{text}");
        let back = accounts(&text);
        assert_eq!(back, list, "round trip");
        let work = back.get("work").unwrap();
        let keys: Vec<&str> = work.options.keys().map(String::as_str).collect();
        assert_eq!(keys, ["client_id", "flow", "issuer", "provider"]);
        // A juliahub login chosen by the environment records the server it reached.
        list.remember("jh", &Options::new(), Some("https://jh.example.org"))
            .unwrap();
        assert_eq!(
            list.get("jh").unwrap().get("server"),
            Some("https://jh.example.org")
        );
        assert!(list.remember("a b", &o, None).is_err());
        assert!(list.remember("", &o, None).is_err());
    }

    #[test]
    fn account_keys_are_known_options_and_not_secrets() {
        for key in ACCOUNT_KEYS.iter().chain(SELECTING_KEYS) {
            assert!(crate::options::KEYS.contains(key), "{key}");
            let mut o = Options::new();
            let probe = if *key == "provider" {
                "oidc"
            } else {
                "probe-314"
            };
            let value = if *key == "flow" {
                "device"
            } else if *key == "token_kind" {
                "access"
            } else {
                probe
            };
            o.set(key, value).unwrap();
            assert_eq!(value_of(&o, key).as_deref(), Some(value), "{key}");
        }
    }

    #[test]
    fn a_malformed_file_is_refused_naming_it() {
        let e = Accounts::parse(b"default = 3\n", Path::new("/x/accounts.toml")).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Format);
        assert!(e.message().contains("/x/accounts.toml"), "{e}");
    }
}
