//! DHCore's settings: where each comes from (option, then the environment
//! and the profile's section of `.dhcore.ini` in SDK 0.15.11's order),
//! the file's key for each, and the method they select. See the module docs
//! of `provider::dhcore` for the rules.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::env::Env;
use crate::error::{Error, Result};
use crate::jwt;
use crate::options::{Options, ProviderKind};
use crate::secret::Secret;
use crate::server::ServerUrl;
use crate::store::dhcore_ini::{self, DEFAULT_SECTION, Ini};
use crate::token::{Credential, Token};

use super::DhCore;

/// The profile when nothing names one.
pub(crate) const DEFAULT_PROFILE: &str = "__default";
/// `subject_token_type` of DHCore's personal access tokens.
pub(crate) const PAT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:pat";
/// The scope of every DHCore token request.
pub(crate) const SCOPE: &str = "credentials";
/// The file's name in the home directory.
pub(super) const FILE_NAME: &str = ".dhcore.ini";

pub(super) const ENDPOINT: &str = "DHCORE_ENDPOINT";
pub(super) const ISSUER: &str = "DHCORE_ISSUER";
pub(super) const CLIENT_ID: &str = "DHCORE_CLIENT_ID";
pub(super) const TOKEN_ENDPOINT: &str = "OAUTH2_TOKEN_ENDPOINT";
pub(super) const PAT: &str = "DHCORE_PERSONAL_ACCESS_TOKEN";
pub(super) const ACCESS_TOKEN: &str = "DHCORE_ACCESS_TOKEN";
pub(super) const REFRESH_TOKEN: &str = "DHCORE_REFRESH_TOKEN";
pub(super) const USER: &str = "DHCORE_USER";
pub(super) const PASSWORD: &str = "DHCORE_PASSWORD";
pub(super) const EXPIRES_IN: &str = "DHCORE_EXPIRES_IN";
pub(super) const ID_TOKEN: &str = "DHCORE_ID_TOKEN";

/// Every setting read from both the file and the environment.
pub(super) const SETTINGS: [&str; 11] = [
    ENDPOINT,
    ISSUER,
    CLIENT_ID,
    TOKEN_ENDPOINT,
    PAT,
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    USER,
    PASSWORD,
    EXPIRES_IN,
    ID_TOKEN,
];

/// The configuration settings, which SDK 0.15.11 takes from the environment
/// before the file (config_manager.py:101-113); the others are credentials,
/// taken from the file first (139-156).
pub(super) const CONFIGURATION: [&str; 4] = [ENDPOINT, ISSUER, CLIENT_ID, TOKEN_ENDPOINT];

/// hubauth's own key: when the stored access token expires.
pub(super) const EXPIRES_AT_KEY: &str = "dhcore_expires_at";
/// hubauth's own key: the fingerprint of the personal access token the
/// stored access token was exchanged for (see [`pat_fingerprint`]).
pub(super) const PAT_FINGERPRINT_KEY: &str = "hubauth_pat_sha256";
/// hubauth's own keys: the issuer and token endpoint the stored credentials
/// were issued through, when they came from the environment or an option
/// (see `apply_reply`). The SDK reads neither.
pub(super) const ISSUED_BY_ISSUER_KEY: &str = "hubauth_issuer";
pub(super) const ISSUED_BY_TOKEN_ENDPOINT_KEY: &str = "hubauth_token_endpoint";

/// The key recording where credentials were issued, for `ISSUER` or
/// `TOKEN_ENDPOINT`.
pub(super) fn issued_by_key(name: &str) -> &'static str {
    if name == TOKEN_ENDPOINT {
        ISSUED_BY_TOKEN_ENDPOINT_KEY
    } else {
        ISSUED_BY_ISSUER_KEY
    }
}

/// Keys of a stored token, removed by `logout` and replaced by `save_token`.
pub(super) const TOKEN_KEYS: [&str; 13] = [
    "dhcore_access_token",
    "dhcore_refresh_token",
    EXPIRES_AT_KEY,
    PAT_FINGERPRINT_KEY,
    ISSUED_BY_ISSUER_KEY,
    ISSUED_BY_TOKEN_ENDPOINT_KEY,
    "expires_in",
    "dhcore_expires_in",
    "id_token",
    "dhcore_id_token",
    "token_type",
    "issued_token_type",
    "scope",
];

pub(super) fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// What identifies a personal access token without revealing it: the hex
/// SHA-256 of the token. The SDK exchanges the current token at every start
/// (0.15.11 client_configurator.py:65-80, `set_auth_type`); hubauth keeps
/// the exchanged access token while it is fresh, so it records which token
/// it came from and exchanges again when the token changed.
pub(super) fn pat_fingerprint(pat: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, pat.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the credentials of a [`Settings`] come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Credentials {
    /// The file before the environment, as SDK 0.15.11 reads them first.
    FileFirst,
    /// The environment alone: the SDK's fallback once the file's
    /// credentials failed (0.15.11 config_manager.py:164-174,
    /// `reload_credentials_from_env`).
    EnvOnly,
}

/// The file's name for a setting.
pub(super) fn ini_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Where a setting came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    Option,
    File,
    Env,
}

/// How the credentials authenticate, in the SDK's priority order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// A personal access token, exchanged for an access token.
    Exchange,
    /// An access token with a refresh token.
    OAuth2,
    /// An access token alone.
    Bearer,
    /// User and password.
    Basic,
    None,
}

impl Method {
    /// Whether a new access token can be had without the user.
    pub fn renews(self) -> bool {
        matches!(self, Method::Exchange | Method::OAuth2)
    }
}

/// The settings of one profile, each from where it was found first.
#[derive(Clone)]
pub struct Settings {
    values: BTreeMap<&'static str, (String, Origin)>,
    /// The file's `expires_in`, `dhcore_expires_at` (only with a file access token).
    file_expires_in: Option<String>,
    file_expires_at: Option<String>,
    /// The file's `id_token` (the SDK writes the reply's `id_token` as is).
    file_id_token: Option<String>,
    /// The file's [`PAT_FINGERPRINT_KEY`] (only with a file access token).
    file_pat_fingerprint: Option<String>,
    profile: String,
    path: PathBuf,
}

impl Settings {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    pub(super) fn origin(&self, name: &str) -> Option<Origin> {
        self.values.get(name).map(|(_, f)| *f)
    }

    pub(super) fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).and_then(|v| Secret::new(v).ok())
    }

    /// Whether the stored access token was exchanged for the personal access
    /// token these settings hold (a token from the environment, or one the
    /// SDK wrote, has no record of it).
    pub(super) fn access_token_is_from_this_pat(&self) -> bool {
        match (&self.file_pat_fingerprint, self.get(PAT)) {
            (Some(recorded), Some(pat)) => {
                self.origin(ACCESS_TOKEN) == Some(Origin::File) && *recorded == pat_fingerprint(pat)
            }
            _ => false,
        }
    }

    /// Whether any credential comes from the file.
    pub(super) fn has_file_credentials(&self) -> bool {
        self.values
            .iter()
            .any(|(name, (_, origin))| !CONFIGURATION.contains(name) && *origin == Origin::File)
    }

    pub(super) fn method(&self) -> Method {
        if self.get(PAT).is_some() {
            Method::Exchange
        } else if self.get(ACCESS_TOKEN).is_some() && self.get(REFRESH_TOKEN).is_some() {
            Method::OAuth2
        } else if self.get(ACCESS_TOKEN).is_some() {
            Method::Bearer
        } else if self.get(USER).is_some() && self.get(PASSWORD).is_some() {
            Method::Basic
        } else {
            Method::None
        }
    }

    /// The SDK takes an empty value as set (an empty personal access token
    /// selects the exchange); hubauth does too, and says so rather than
    /// sending an empty credential.
    pub(super) fn check_not_empty(&self) -> Result<()> {
        let needed: &[&str] = match self.method() {
            Method::Exchange => &[PAT],
            Method::OAuth2 => &[ACCESS_TOKEN, REFRESH_TOKEN],
            Method::Bearer => &[ACCESS_TOKEN],
            Method::Basic => &[USER],
            Method::None => &[],
        };
        match needed.iter().find(|name| self.get(name) == Some("")) {
            Some(name) => Err(Error::invalid_argument(format!(
                "{} is empty: an empty value counts as set (as for the DigitalHub SDK) and \
                 selects this method; remove it or give it a value",
                self.source(name)
            ))),
            None => Ok(()),
        }
    }

    /// Where a setting is, for messages: `DHCORE_X` or `dhcore_x in [p] of <path>`.
    pub(super) fn source(&self, name: &str) -> String {
        match self.origin(name) {
            Some(Origin::File) => format!(
                "{} in [{}] of {}",
                ini_key(name),
                self.profile,
                self.path.display()
            ),
            Some(Origin::Option) => format!("the option for {name}"),
            _ => format!("the environment variable {name}"),
        }
    }

    /// The stored access token as a [`Token`], with its expiry and lifetime.
    pub(super) fn access_token(&self) -> Option<Token> {
        let access = self.secret(ACCESS_TOKEN)?;
        let from_file = self.origin(ACCESS_TOKEN) == Some(Origin::File);
        let (expires_at, lifetime) = if from_file {
            (
                self.file_expires_at
                    .as_deref()
                    .and_then(dhcore_ini::parse_rfc3339),
                self.file_expires_in
                    .as_deref()
                    .or_else(|| self.get_from(EXPIRES_IN, Origin::File))
                    .and_then(parse_seconds),
            )
        } else {
            (
                None,
                self.get_from(EXPIRES_IN, Origin::Env)
                    .and_then(parse_seconds),
            )
        };
        // The JWT's own `exp` first: after the SDK refreshed (it never
        // updates `dhcore_expires_at`), hubauth's key describes an older token.
        let expires_at = jwt::expiry(access.expose()).or(expires_at);
        Some(Token {
            refresh: self.secret(REFRESH_TOKEN),
            expires_at,
            lifetime: lifetime.filter(|s| *s > 0),
            username: self.username_from_id_token(),
            credential: Credential::Bearer(access),
        })
    }

    fn get_from(&self, name: &str, from: Origin) -> Option<&str> {
        self.values
            .get(name)
            .filter(|(_, f)| *f == from)
            .map(|(v, _)| v.as_str())
    }

    fn username_from_id_token(&self) -> Option<String> {
        let id_token = self
            .file_id_token
            .as_deref()
            .or_else(|| self.get(ID_TOKEN))?;
        jwt::claims(id_token).and_then(|c| jwt::username_from_claims(&c))
    }

    /// The user and password, as HTTP Basic credentials.
    pub(super) fn basic(&self) -> Option<Token> {
        let user = self.get(USER)?;
        let password = Secret::new(self.get(PASSWORD)?).ok()?;
        Some(Token {
            credential: Credential::Basic {
                user: user.to_string(),
                password,
            },
            refresh: None,
            expires_at: None,
            lifetime: None,
            username: Some(user.to_string()),
        })
    }
}

pub(super) fn parse_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    text.parse::<i64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
    })
}

/// `DHCORE_ENDPOINT`: http(s) only, trailing `/` dropped; plain http is
/// accepted (the user configured it; see the module docs).
pub(super) fn parse_endpoint(raw: &str, source: &str) -> Result<ServerUrl> {
    let trimmed = raw.trim();
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(Error::invalid_argument(format!(
            "{source} must start with http:// or https://"
        )));
    }
    ProviderKind::DhCore
        .configured_server(trimmed.trim_end_matches('/'))
        .map_err(|e| e.context(source))
}

pub(super) fn check_profile(profile: &str) -> Result<()> {
    if profile == DEFAULT_SECTION {
        return Err(Error::invalid_argument(
            "DEFAULT cannot be a DHCore profile (it holds the values every profile inherits)",
        ));
    }
    if profile.trim().is_empty() || profile.chars().any(char::is_control) {
        return Err(Error::invalid_argument(format!(
            "{profile:?} cannot be a DHCore profile"
        )));
    }
    Ok(())
}

pub(super) fn default_path(env: Env<'_>) -> Result<PathBuf> {
    if let Some(path) = non_empty(env("DH_CONFIG").as_deref()) {
        return Ok(PathBuf::from(path));
    }
    let home = non_empty(env("HOME").as_deref()).ok_or_else(|| {
        Error::invalid_argument(
            "cannot find the home directory for ~/.dhcore.ini; set DH_CONFIG or `token_path`",
        )
    })?;
    Ok(PathBuf::from(home).join(FILE_NAME))
}

/// The credentials a profile's issuer issued (or exchanges): they go to that
/// issuer only.
const ISSUED_CREDENTIALS: [&str; 5] = [PAT, ACCESS_TOKEN, REFRESH_TOKEN, ID_TOKEN, EXPIRES_IN];

/// The section's values by the file's keys (trimmed).
fn section_values(section: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    section
        .iter()
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect()
}

/// Whether two issuer (or token endpoint) URLs name the same place: the same
/// URL, but for a trailing `/` and the case of scheme and host.
fn same_place(a: &str, b: &str) -> bool {
    let normal = |u: &str| {
        url::Url::parse(u.trim())
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|_| u.trim().trim_end_matches('/').to_string())
    };
    normal(a) == normal(b)
}

impl DhCore {
    /// Issue 22 (security review §6): credentials stored in a profile with
    /// the issuer (or token endpoint) that issued them never go to another
    /// one. SDK 0.15.11 lets `DHCORE_ISSUER` / `OAUTH2_TOKEN_ENDPOINT` win
    /// over the file and sends the file's refresh token or PAT there; a
    /// shell with another environment's variables would hand one issuer's
    /// credentials to another. Here the file's credentials are set aside
    /// (the environment's own, if any, are used instead) and a login with
    /// the effective issuer follows, whose result records that issuer.
    fn keep_credentials_with_their_issuer(
        &self,
        section: &BTreeMap<String, String>,
        values: &mut BTreeMap<&'static str, (String, Origin)>,
    ) {
        // Recorded as the SDK's key (which the file also takes as the
        // setting), or as hubauth's record of a value that came from the
        // environment (which is not written as the setting, see apply_reply).
        let moved = [ISSUER, TOKEN_ENDPOINT].into_iter().find_map(|name| {
            let (effective, origin) = values.get(name)?;
            let sdk_key = section
                .get(&ini_key(name))
                .filter(|v| !v.is_empty() && *origin != Origin::File);
            let hubauth_key = section.get(issued_by_key(name)).filter(|v| !v.is_empty());
            [sdk_key, hubauth_key]
                .into_iter()
                .flatten()
                .find(|recorded| !same_place(recorded, effective))
                .map(|recorded| (name, recorded.clone(), effective.clone()))
        });
        let Some((name, recorded, effective)) = moved else {
            return;
        };
        let mut set_aside = false;
        for credential in ISSUED_CREDENTIALS {
            if values
                .get(credential)
                .is_some_and(|(_, origin)| *origin == Origin::File)
            {
                set_aside = true;
                match self.env.get(credential) {
                    Some(v) => values.insert(credential, (v.clone(), Origin::Env)),
                    None => values.remove(credential),
                };
            }
        }
        if set_aside {
            crate::log::warn(&format!(
                "the credentials of profile {} were issued through {recorded}, but {name} \
                 is now {effective}: they are not sent there, and a new login is needed",
                self.profile
            ));
        }
    }

    /// Every setting: option, else the profile's section, else the environment.
    pub(super) fn settings(&self, ini: &Ini, options: &Options) -> Settings {
        self.settings_with(ini, options, Credentials::FileFirst)
    }

    /// The settings with the credentials from `credentials`.
    pub(super) fn settings_with(
        &self,
        ini: &Ini,
        options: &Options,
        credentials: Credentials,
    ) -> Settings {
        let section = ini.section(&self.profile);
        let mut values = BTreeMap::new();
        for name in SETTINGS {
            // An empty value is set, as for the SDK (`""` is not None there).
            let file = section
                .get(&ini_key(name))
                .map(|v| (v.trim().to_string(), Origin::File));
            let env = self.env.get(name).map(|v| (v.clone(), Origin::Env));
            // SDK 0.15.11: configuration from the environment first,
            // credentials from the file first.
            let found = if CONFIGURATION.contains(&name) {
                env.or(file)
            } else if credentials == Credentials::EnvOnly {
                env
            } else {
                file.or(env)
            };
            if let Some(found) = found {
                values.insert(name, found);
            }
        }
        let option = |value: Option<&str>| non_empty(value).map(|v| (v, Origin::Option));
        if let Some(v) = option(options.client_id.as_deref()) {
            values.insert(CLIENT_ID, v);
        }
        if let Some(v) = option(options.issuer.as_deref()) {
            values.insert(ISSUER, v);
        }
        if let Some(pat) = &options.subject_token {
            values.insert(PAT, (pat.expose().to_string(), Origin::Option));
        }
        self.keep_credentials_with_their_issuer(&section_values(&section), &mut values);
        let file_access = values
            .get(ACCESS_TOKEN)
            .is_some_and(|(_, f)| *f == Origin::File);
        let file_value = |key: &str| {
            file_access
                .then(|| non_empty(section.get(key).map(String::as_str)))
                .flatten()
        };
        Settings {
            file_expires_in: file_value("expires_in"),
            file_expires_at: file_value(EXPIRES_AT_KEY),
            file_id_token: file_value("id_token"),
            file_pat_fingerprint: file_value(PAT_FINGERPRINT_KEY),
            values,
            profile: self.profile.clone(),
            path: self.path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::dhcore::tests::settings;
    use base64::Engine as _;

    #[test]
    fn method_priority() {
        let all = [
            ("dhcore_personal_access_token", "p"),
            ("dhcore_access_token", "a"),
            ("dhcore_refresh_token", "r"),
            ("dhcore_user", "u"),
            ("dhcore_password", "w"),
        ];
        assert_eq!(settings(&all).method(), Method::Exchange);
        assert_eq!(settings(&all[1..]).method(), Method::OAuth2);
        assert_eq!(settings(&[all[1], all[3], all[4]]).method(), Method::Bearer);
        assert_eq!(settings(&all[3..]).method(), Method::Basic);
        assert_eq!(settings(&all[3..4]).method(), Method::None);
        assert_eq!(settings(&[all[2]]).method(), Method::None);
        let basic = settings(&all[3..]).basic().unwrap();
        assert_eq!(
            basic.credential,
            Credential::Basic {
                user: "u".into(),
                password: Secret::new("w").unwrap()
            }
        );
        assert_eq!(
            basic.credential.authorization().unwrap().expose(),
            "Basic dTp3"
        );
    }

    #[test]
    fn expiry_comes_from_the_file_or_the_jwt() {
        let s = settings(&[
            ("dhcore_access_token", "a"),
            ("dhcore_expires_at", "2030-01-01T00:00:00Z"),
            ("expires_in", "3600"),
        ]);
        let t = s.access_token().unwrap();
        assert_eq!(t.expires_at, Some(1_893_456_000));
        assert_eq!(t.lifetime, Some(3600));
        // {"exp": 2000000000}
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":2000000000}"#);
        let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        let t = settings(&[("dhcore_access_token", &jwt)])
            .access_token()
            .unwrap();
        assert_eq!(t.expires_at, Some(2_000_000_000));
        assert_eq!(
            settings(&[("dhcore_access_token", "opaque")])
                .access_token()
                .unwrap()
                .expires_at,
            None
        );
    }
}
