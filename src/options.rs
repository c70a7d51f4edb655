//! The string-keyed options every entry point takes (librdkafka style: new keys
//! never change the ABI). Parsing and defaults live here and nowhere else.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Which hub's conventions to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    JuliaHub,
    DagsHub,
    DhCore,
    Cave,
    Oidc,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 5] = [
        ProviderKind::JuliaHub,
        ProviderKind::DagsHub,
        ProviderKind::DhCore,
        ProviderKind::Cave,
        ProviderKind::Oidc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::JuliaHub => "juliahub",
            ProviderKind::DagsHub => "dagshub",
            ProviderKind::DhCore => "dhcore",
            ProviderKind::Cave => "cave",
            ProviderKind::Oidc => "oidc",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "unknown provider {name:?} (expected one of juliahub, dagshub, dhcore, cave, oidc)"
                ))
            })
    }
}

/// What a hook tells the login flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookAction {
    Continue,
    Cancel,
}

/// Called with the URL a user must open to log in (instead of opening a browser).
pub type Hook = Arc<dyn Fn(&str) -> HookAction + Send + Sync>;

/// Default time an interactive login may take.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);
/// Default refresh margin, as Pkg uses it.
pub(crate) const DEFAULT_REFRESH_MARGIN_S: i64 = 600;
/// Default number of login attempts (JuliaHub.jl's maxcount).
pub(crate) const DEFAULT_MAXCOUNT: u32 = 3;

/// All options. Unset optional values mean "the provider's default".
#[derive(Clone)]
pub struct Options {
    pub provider: ProviderKind,
    pub server: Option<String>,
    pub force: bool,
    pub maxcount: u32,
    /// None: follow the environment (e.g. JULIA_PKGAUTHENTICATION_ALLOW_INTERACTIVE).
    pub interactive: Option<bool>,
    pub validate: bool,
    pub token_path: Option<PathBuf>,
    pub profile: Option<String>,
    pub token_key: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub issuer: Option<String>,
    pub scope: Option<String>,
    pub timeout: Duration,
    pub refresh_margin_s: i64,
    /// Use this token as given and touch no file.
    pub token: Option<Secret>,
    pub overwrite: bool,
    /// Overrides the poll interval of login flows when the server gives none.
    pub poll_interval: Option<Duration>,
    /// A token to exchange for an access token (RFC 8693), e.g. a personal
    /// access token.
    pub subject_token: Option<Secret>,
    /// The RFC 8693 type of `subject_token`; None means
    /// `urn:ietf:params:oauth:token-type:access_token`. DHCore's personal
    /// access tokens use `urn:ietf:params:oauth:token-type:pat`.
    pub subject_token_type: Option<String>,
    pub hook: Option<Hook>,
    /// Keys given through `set` (and "hook"), so a later call's options can be
    /// laid over earlier ones without resetting what they did not mention.
    explicit: Vec<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            provider: ProviderKind::JuliaHub,
            server: None,
            force: false,
            maxcount: DEFAULT_MAXCOUNT,
            interactive: None,
            validate: true,
            token_path: None,
            profile: None,
            token_key: None,
            client_id: None,
            client_secret: None,
            issuer: None,
            scope: None,
            timeout: DEFAULT_TIMEOUT,
            refresh_margin_s: DEFAULT_REFRESH_MARGIN_S,
            token: None,
            overwrite: true,
            poll_interval: None,
            subject_token: None,
            subject_token_type: None,
            hook: None,
            explicit: Vec::new(),
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("provider", &self.provider)
            .field("server", &self.server)
            .field("force", &self.force)
            .field("maxcount", &self.maxcount)
            .field("interactive", &self.interactive)
            .field("validate", &self.validate)
            .field("token_path", &self.token_path)
            .field("profile", &self.profile)
            .field("token_key", &self.token_key)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("issuer", &self.issuer)
            .field("scope", &self.scope)
            .field("timeout", &self.timeout)
            .field("refresh_margin_s", &self.refresh_margin_s)
            .field("token", &self.token)
            .field("overwrite", &self.overwrite)
            .field("poll_interval", &self.poll_interval)
            .field("subject_token", &self.subject_token)
            .field("subject_token_type", &self.subject_token_type)
            .field("hook", &self.hook.as_ref().map(|_| "<hook>"))
            .finish()
    }
}

/// Every key `set` accepts, for error messages and documentation.
pub const KEYS: &[&str] = &[
    "provider",
    "server",
    "force",
    "maxcount",
    "interactive",
    "validate",
    "token_path",
    "profile",
    "token_key",
    "client_id",
    "client_secret",
    "issuer",
    "scope",
    "timeout_ms",
    "refresh_margin_s",
    "token",
    "overwrite",
    "poll_interval_ms",
    "subject_token",
    "subject_token_type",
];

impl Options {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one option from its string form. Unknown keys and bad values are
    /// refused with `InvalidArgument` and leave the options unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "provider" => self.provider = ProviderKind::parse(value)?,
            "server" => self.server = non_empty(value),
            "force" => self.force = parse_bool(key, value)?,
            "maxcount" => {
                let n: u32 = parse_number(key, value)?;
                if n == 0 {
                    return Err(Error::invalid_argument("maxcount must be at least 1"));
                }
                self.maxcount = n;
            }
            "interactive" => self.interactive = Some(parse_bool(key, value)?),
            "validate" => self.validate = parse_bool(key, value)?,
            "token_path" => self.token_path = non_empty(value).map(PathBuf::from),
            "profile" => self.profile = non_empty(value),
            "token_key" => self.token_key = non_empty(value),
            "client_id" => self.client_id = non_empty(value),
            "client_secret" => {
                self.client_secret = non_empty(value).map(Secret::from_string).transpose()?
            }
            "issuer" => self.issuer = non_empty(value),
            "scope" => self.scope = non_empty(value),
            "timeout_ms" => {
                let ms: u64 = parse_number(key, value)?;
                if ms == 0 {
                    return Err(Error::invalid_argument("timeout_ms must be positive"));
                }
                self.timeout = Duration::from_millis(ms);
            }
            "refresh_margin_s" => {
                let s: i64 = parse_number(key, value)?;
                if s < 0 {
                    return Err(Error::invalid_argument(
                        "refresh_margin_s must not be negative",
                    ));
                }
                self.refresh_margin_s = s;
            }
            "token" => self.token = non_empty(value).map(Secret::from_string).transpose()?,
            "overwrite" => self.overwrite = parse_bool(key, value)?,
            "poll_interval_ms" => {
                let ms: u64 = parse_number(key, value)?;
                self.poll_interval = Some(Duration::from_millis(ms));
            }
            "subject_token" => {
                self.subject_token = non_empty(value).map(Secret::from_string).transpose()?
            }
            "subject_token_type" => self.subject_token_type = non_empty(value),
            _ => {
                return Err(Error::invalid_argument(format!(
                    "unknown option {key:?}; known options: {}",
                    KEYS.join(", ")
                )));
            }
        }
        if let Some(known) = KEYS.iter().find(|k| **k == key) {
            self.mark_explicit(known);
        }
        Ok(())
    }

    fn mark_explicit(&mut self, key: &'static str) {
        if !self.explicit.contains(&key) {
            self.explicit.push(key);
        }
    }

    /// These options laid over `base`: only what was set explicitly here
    /// replaces base's values. `reauthenticate` with `force=true` alone keeps
    /// the original hook, server, timeout and the rest.
    pub fn overlaid_on(&self, base: &Options) -> Options {
        let mut merged = base.clone();
        for key in &self.explicit {
            match *key {
                "provider" => merged.provider = self.provider,
                "server" => merged.server.clone_from(&self.server),
                "force" => merged.force = self.force,
                "maxcount" => merged.maxcount = self.maxcount,
                "interactive" => merged.interactive = self.interactive,
                "validate" => merged.validate = self.validate,
                "token_path" => merged.token_path.clone_from(&self.token_path),
                "profile" => merged.profile.clone_from(&self.profile),
                "token_key" => merged.token_key.clone_from(&self.token_key),
                "client_id" => merged.client_id.clone_from(&self.client_id),
                "client_secret" => merged.client_secret.clone_from(&self.client_secret),
                "issuer" => merged.issuer.clone_from(&self.issuer),
                "scope" => merged.scope.clone_from(&self.scope),
                "timeout_ms" => merged.timeout = self.timeout,
                "refresh_margin_s" => merged.refresh_margin_s = self.refresh_margin_s,
                "token" => merged.token.clone_from(&self.token),
                "overwrite" => merged.overwrite = self.overwrite,
                "poll_interval_ms" => merged.poll_interval = self.poll_interval,
                "subject_token" => merged.subject_token.clone_from(&self.subject_token),
                "subject_token_type" => merged
                    .subject_token_type
                    .clone_from(&self.subject_token_type),
                "hook" => merged.hook.clone_from(&self.hook),
                other => unreachable!("option {other} is recorded but not overlaid"),
            }
            merged.mark_explicit(key);
        }
        merged
    }

    /// Sets the hook that receives login URLs.
    pub fn set_hook(&mut self, hook: Option<Hook>) {
        self.hook = hook;
        self.mark_explicit("hook");
    }

    /// The options a later call was given, laid over these (used by reauthenticate).
    pub fn interactive_or(&self, default: bool) -> bool {
        self.interactive.unwrap_or(default)
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::invalid_argument(format!(
            "option {key} takes true or false, not {value:?}"
        ))),
    }
}

fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| {
        Error::invalid_argument(format!("option {key} takes a whole number, not {value:?}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_and_refuses() {
        let mut o = Options::new();
        o.set("provider", "dagshub").unwrap();
        o.set("force", "true").unwrap();
        o.set("timeout_ms", "2500").unwrap();
        assert_eq!(o.provider, ProviderKind::DagsHub);
        assert!(o.force);
        assert_eq!(o.timeout, Duration::from_millis(2500));
        assert!(o.set("force", "yes").is_err());
        assert!(o.set("nope", "1").is_err());
        assert!(o.set("maxcount", "0").is_err());
        assert!(o.force, "a refused value leaves the option unchanged");
    }

    #[test]
    fn overlay_replaces_only_what_was_set() {
        let mut base = Options::new();
        base.set("server", "https://a.example").unwrap();
        base.set("timeout_ms", "5000").unwrap();
        base.set_hook(Some(Arc::new(|_: &str| HookAction::Cancel)));
        let mut later = Options::new();
        later.set("force", "true").unwrap();
        later.set("timeout_ms", "9000").unwrap();
        let merged = later.overlaid_on(&base);
        assert!(merged.force);
        assert_eq!(merged.timeout, Duration::from_millis(9000));
        assert_eq!(merged.server.as_deref(), Some("https://a.example"));
        assert!(merged.hook.is_some(), "the original hook is kept");
        // Every key set() accepts can be overlaid.
        let mut all = Options::new();
        for key in KEYS {
            let value = match *key {
                "provider" => "oidc",
                "force" | "interactive" | "validate" | "overwrite" => "true",
                "maxcount" | "timeout_ms" | "refresh_margin_s" | "poll_interval_ms" => "7",
                _ => "x",
            };
            all.set(key, value).unwrap();
        }
        let merged = all.overlaid_on(&base);
        assert_eq!(merged.provider, ProviderKind::Oidc);
        assert_eq!(merged.server.as_deref(), Some("x"));
    }

    #[test]
    fn debug_hides_secrets() {
        let mut o = Options::new();
        o.set("token", "very-secret-token").unwrap();
        o.set("client_secret", "very-secret-client").unwrap();
        o.set("subject_token", "very-secret-pat").unwrap();
        let shown = format!("{o:?}");
        assert!(!shown.contains("very-secret"));
    }
}
