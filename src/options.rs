//! The string-keyed options every entry point takes (librdkafka style: new keys
//! never change the ABI). Parsing and defaults live here and nowhere else.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::log::Sink;
use crate::secret::Secret;

pub use crate::provider_kind::ProviderKind;

/// Which interactive login the `oidc` provider runs (option `flow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginFlow {
    /// The device flow when the server offers it, else the browser login.
    Auto,
    Device,
    Browser,
}

impl LoginFlow {
    fn parse(key: &str, value: &str) -> Result<Self> {
        match value {
            "auto" => Ok(LoginFlow::Auto),
            "device" => Ok(LoginFlow::Device),
            "browser" => Ok(LoginFlow::Browser),
            _ => Err(Error::invalid_argument(format!(
                "option `{key}` takes auto, device or browser, not {value:?}"
            ))),
        }
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

/// Declares every option once: its key, the `Options` field it fills, the
/// field's type and default, the parser of its string form and a one-line doc.
/// From that one table it generates the struct, `Default`, `Debug`, [`KEYS`],
/// [`KEY_DOCS`], `set`, `clear` and `overlaid_on`, so a new key is one new row.
macro_rules! options_table {
    ($(
        $key:literal => $field:ident: $ty:ty = $default:expr, $parse:expr, $doc:literal;
    )*) => {
        /// All options. Unset optional values mean "the provider's default".
        #[derive(Clone)]
        pub struct Options {
            $(
                #[doc = $doc]
                pub $field: $ty,
            )*
            /// Called with the login URL instead of opening a browser.
            pub hook: Option<Hook>,
            /// Makes the call return `Cancelled` when triggered ([`crate::cancel`]).
            pub cancel: Option<Cancel>,
            /// Takes the call's warnings and notices instead of stderr ([`crate::log::route`]).
            pub log: Option<Sink>,
            /// Keys given through `set` (and "hook", "cancel", "log"), so a later call's options can be
            /// laid over earlier ones without resetting what they did not mention.
            explicit: Vec<&'static str>,
        }

        impl Default for Options {
            fn default() -> Self {
                Options {
                    $($field: $default,)*
                    hook: None,
                    cancel: None,
                    log: None,
                    explicit: Vec::new(),
                }
            }
        }

        /// Shown by key (secrets as Secret shows them: hidden).
        impl fmt::Debug for Options {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Options")
                    $(.field($key, &self.$field))*
                    .field(HOOK_KEY, &self.hook.as_ref().map(|_| "<hook>"))
                    .field(CANCEL_KEY, &self.cancel)
                    .field(LOG_KEY, &self.log.as_ref().map(|_| "<log>"))
                    .finish()
            }
        }

        /// Every key `set` accepts, for error messages and documentation.
        pub const KEYS: &[&str] = &[$($key),*];

        /// Every key `set` accepts with its one-line description, for help texts.
        pub const KEY_DOCS: &[(&str, &str)] = &[$(($key, $doc.trim_ascii())),*];

        impl Options {
            /// Sets one option from its string form. Unknown keys and bad values are
            /// refused with `InvalidArgument` and leave the options unchanged.
            pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
                match key {
                    $($key => {
                        let parse: fn(&str, &str) -> Result<$ty> = $parse;
                        self.$field = parse(key, value)?;
                        self.mark_explicit($key);
                        Ok(())
                    })*
                    _ => Err(unknown_key(key)),
                }
            }

            /// Resets `key` to its default and forgets that it was set, so it no
            /// longer replaces a base's value in [`Options::overlaid_on`].
            /// "hook", "cancel" and "log" are accepted too. Unknown keys are refused.
            pub fn clear(&mut self, key: &str) -> Result<()> {
                match key {
                    $($key => self.$field = $default,)*
                    HOOK_KEY => self.hook = None,
                    CANCEL_KEY => self.cancel = None,
                    LOG_KEY => self.log = None,
                    _ => return Err(unknown_key(key)),
                }
                self.explicit.retain(|k| *k != key);
                Ok(())
            }

            /// These options laid over `base`: only what was set explicitly here
            /// replaces base's values. `reauthenticate` with `force=true` alone keeps
            /// the original hook, server, timeout and the rest.
            pub fn overlaid_on(&self, base: &Options) -> Options {
                let mut merged = base.clone();
                $(
                    if self.is_set($key) {
                        merged.$field.clone_from(&self.$field);
                        merged.mark_explicit($key);
                    }
                )*
                if self.is_set(HOOK_KEY) {
                    merged.hook.clone_from(&self.hook);
                    merged.mark_explicit(HOOK_KEY);
                }
                if self.is_set(CANCEL_KEY) {
                    merged.cancel.clone_from(&self.cancel);
                    merged.mark_explicit(CANCEL_KEY);
                }
                if self.is_set(LOG_KEY) {
                    merged.log.clone_from(&self.log);
                    merged.mark_explicit(LOG_KEY);
                }
                merged
            }
        }
    };
}

/// The name under which `set_hook` records the hook as given (it has no string form).
const HOOK_KEY: &str = "hook";
/// The name under which `set_cancel` records the cancel.
const CANCEL_KEY: &str = "cancel";
/// The name under which `set_log` records the log sink.
const LOG_KEY: &str = "log";

options_table! {
    "provider" => provider: ProviderKind = ProviderKind::DEFAULT, |_, v| ProviderKind::parse(v),
        " Which hub: a name from the hub table (`ProviderKind::names`; default its first row).";
    "server" => server: Option<String> = None, string,
        " The hub's URL (default: the provider's, e.g. JULIA_PKG_SERVER for juliahub).";
    "force" => force: bool = false, boolean,
        " Log in again even when a usable token is stored.";
    "maxcount" => maxcount: u32 = DEFAULT_MAXCOUNT, |k, v| at_most(k, at_least_one(k, v)?, 100, "100"),
        " How many times to try a login, 1 to 100 (default 3).";
    "interactive" => interactive: Option<bool> = None, |k, v| boolean(k, v).map(Some),
        " false: never open a browser or wait for a user (default: as the environment says).";
    "validate" => validate: bool = true, boolean,
        " Ask the server whether a stored token is good (default true).";
    "token_path" => token_path: Option<PathBuf> = None, |_, v| Ok(non_empty(v).map(PathBuf::from)),
        " Use this token file instead of the provider's default one.";
    "profile" => profile: Option<String> = None, string,
        " The profile / section of the token file (dhcore).";
    "token_key" => token_key: Option<String> = None, string,
        " The key the token is stored under (cave).";
    "client_id" => client_id: Option<String> = None, string,
        " The OAuth client id.";
    "client_secret" => client_secret: Option<Secret> = None, secret,
        " The OAuth client secret (never shown).";
    "issuer" => issuer: Option<String> = None, string,
        " The OpenID Connect issuer (oidc, dhcore).";
    "scope" => scope: Option<String> = None, string,
        " The OAuth scope to ask for.";
    "timeout_ms" => timeout: Duration = DEFAULT_TIMEOUT,
        |k, v| at_most(k, positive_millis(k, v)?, Duration::from_secs(86_400), "86400000 (a day)"),
        " How long one call may take in all (its requests, lock waits and logins share it), in milliseconds, at most a day: 86400000 (default 180000).";
    "refresh_margin_s" => refresh_margin_s: i64 = DEFAULT_REFRESH_MARGIN_S,
        |k, v| at_most(k, non_negative_seconds(k, v)?, 31_536_000, "31536000 (a year)"),
        " Refresh a token this many seconds before it expires, at most a year: 31536000 (default 600).";
    "token" => token: Option<Secret> = None, secret,
        " Use this token as given and touch no file (never shown).";
    "overwrite" => overwrite: bool = true, boolean,
        " save_token may replace a stored token (default true).";
    "poll_interval_ms" => poll_interval: Option<Duration> = None,
        |k, v| at_most(k, Duration::from_millis(parse_number(k, v)?), Duration::from_secs(3600), "3600000 (an hour)").map(Some),
        " Poll interval of login flows when the server gives none, in milliseconds, at most an hour: 3600000.";
    "subject_token" => subject_token: Option<Secret> = None, secret,
        " A token to exchange for an access token (RFC 8693), e.g. a personal access token.";
    "subject_token_type" => subject_token_type: Option<String> = None, string,
        " The RFC 8693 type of subject_token (default urn:ietf:params:oauth:token-type:access_token; DHCore PATs: urn:ietf:params:oauth:token-type:pat).";
    "min_valid_s" => min_valid_s: i64 = 0,
        |k, v| at_most(k, non_negative_seconds(k, v)?, 31_536_000, "31536000 (a year)"),
        " A token handed out stays valid at least this many seconds: it is renewed first when it expires sooner, and an error says so when even a new one would not last that long (default 0; at most a year).";
    "flow" => flow: LoginFlow = LoginFlow::Auto, LoginFlow::parse,
        " The interactive login (oidc): auto (default: the device flow when the server offers it, else the browser), device, or browser (authorization code + PKCE).";
    "redirect_port" => redirect_port: Option<u16> = None, port,
        " The browser login's redirect port on 127.0.0.1, 1-65535 (default: a random free port).";
    "ca_file" => ca_file: Option<PathBuf> = None, |_, v| Ok(non_empty(v).map(PathBuf::from)),
        " A PEM file of extra CA certificates to trust, besides the built-in roots and SSL_CERT_FILE / SSL_CERT_DIR.";
    "require_username" => require_username: bool = false, boolean,
        " true: an authentication whose user the server does not name is refused (\"Unable to determine username.\", as JuliaHub.jl does) and never becomes the current one (default false).";
    "open_browser" => open_browser: bool = true, boolean,
        " false: hubauth itself neither prints the login URL nor opens a browser; the host shows it (a hook, or the LOGIN event of a job) (default true).";
    "account" => account: Option<String> = None, string,
        " A named account (`hubauth login --name NAME` records one): every option not given here is taken from it. Unset: HUBAUTH_ACCOUNT, else, when no option selects a hub, the default account; empty: no account at all.";
    "token_kind" => token_kind: &'static str = "id",
        |k, v| ["id", "access"].into_iter().find(|t| *t == v).ok_or_else(|| Error::invalid_argument(format!("option `{k}` takes id or access, not {v:?}"))),
        " juliahub: which token requests carry: id (default; JuliaHub's API, as JuliaHub.jl) or access (the package server, as Pkg).";
}

impl Options {
    pub fn new() -> Self {
        Self::default()
    }

    fn mark_explicit(&mut self, key: &'static str) {
        if !self.explicit.contains(&key) {
            self.explicit.push(key);
        }
    }

    /// Whether `key` was given explicitly (through `set`, or "hook" through
    /// `set_hook`), as opposed to being at its default or assigned directly.
    pub fn is_set(&self, key: &str) -> bool {
        self.explicit.contains(&key)
    }

    /// A copy with `key` back at its default and not marked as set, e.g. the
    /// options to keep after a call whose `force` applied to it alone. An
    /// unknown key leaves the copy unchanged.
    pub fn without(&self, key: &str) -> Options {
        let mut copy = self.clone();
        let known = copy.clear(key).is_ok();
        debug_assert!(known, "Options::without: unknown key {key:?}");
        copy
    }

    /// Sets the hook that receives login URLs.
    pub fn set_hook(&mut self, hook: Option<Hook>) {
        self.hook = hook;
        self.mark_explicit(HOOK_KEY);
    }

    /// Sets the cancel that stops this call's waits (and, kept by an
    /// authentication made with these options, its later refreshes).
    pub fn set_cancel(&mut self, cancel: Option<Cancel>) {
        self.cancel = cancel;
        self.mark_explicit(CANCEL_KEY);
    }

    /// Sets where the warnings and notices of calls made with these options
    /// (and with an authentication made from them) go; None: stderr.
    pub fn set_log(&mut self, log: Option<Sink>) {
        self.log = log;
        self.mark_explicit(LOG_KEY);
    }

    /// Whether a login may wait for a user: `interactive` if given, else `default`.
    pub fn interactive_or(&self, default: bool) -> bool {
        self.interactive.unwrap_or(default)
    }
}

fn unknown_key(key: &str) -> Error {
    Error::invalid_argument(format!(
        "unknown option {key:?}; known options: {}",
        KEYS.join(", ")
    ))
}

// Parsers of the table: (key, value) -> the field's value.

fn string(_key: &str, value: &str) -> Result<Option<String>> {
    Ok(non_empty(value))
}

fn secret(_key: &str, value: &str) -> Result<Option<Secret>> {
    non_empty(value).map(Secret::from_string).transpose()
}

fn boolean(key: &str, value: &str) -> Result<bool> {
    parse_bool(key, value)
}

fn at_least_one(key: &str, value: &str) -> Result<u32> {
    match parse_number(key, value)? {
        0 => Err(Error::invalid_argument(format!(
            "`{key}` must be at least 1"
        ))),
        n => Ok(n),
    }
}

fn port(key: &str, value: &str) -> Result<Option<u16>> {
    match parse_number::<u16>(key, value) {
        Ok(0) | Err(_) => Err(Error::invalid_argument(format!(
            "option `{key}` takes a port number from 1 to 65535, not {value:?}"
        ))),
        Ok(port) => Ok(Some(port)),
    }
}

fn positive_millis(key: &str, value: &str) -> Result<Duration> {
    match parse_number(key, value)? {
        0 => Err(Error::invalid_argument(format!("`{key}` must be positive"))),
        ms => Ok(Duration::from_millis(ms)),
    }
}

fn non_negative_seconds(key: &str, value: &str) -> Result<i64> {
    let s: i64 = parse_number(key, value)?;
    if s < 0 {
        return Err(Error::invalid_argument(format!(
            "`{key}` must not be negative"
        )));
    }
    Ok(s)
}

/// `value`, or INVALID_ARGUMENT when it is beyond `max` (a huge value makes
/// no sense and would overflow clock arithmetic).
fn at_most<T: PartialOrd>(key: &str, value: T, max: T, shown_max: &str) -> Result<T> {
    if value > max {
        return Err(Error::invalid_argument(format!(
            "option `{key}` is too large: at most {shown_max}"
        )));
    }
    Ok(value)
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::invalid_argument(format!(
            "option `{key}` takes true or false, not {value:?}"
        ))),
    }
}

fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| {
        Error::invalid_argument(format!(
            "option `{key}` takes a whole number, not {value:?}"
        ))
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
        // Bounds: a huge value makes no sense and would overflow clock math.
        for (key, max, over) in [
            ("refresh_margin_s", "31536000", "9223372036854775807"),
            ("timeout_ms", "86400000", "86400001"),
            ("poll_interval_ms", "3600000", "3600001"),
            ("maxcount", "100", "101"),
        ] {
            assert!(o.set(key, max).is_ok(), "{key}");
            let e = o.set(key, over).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument, "{key}");
            assert!(e.message().contains(max), "{e}");
        }
        assert!(o.force, "a refused value leaves the option unchanged");
        for bad in ["0", "65536", "-1", "x"] {
            assert!(o.set("redirect_port", bad).is_err(), "{bad}");
        }
        o.set("redirect_port", "65535").unwrap();
        assert_eq!(o.redirect_port, Some(65535));
        assert!(o.set("flow", "web").is_err());
        assert_eq!(o.flow, LoginFlow::Auto);
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
                "force" | "interactive" | "validate" | "overwrite" | "require_username"
                | "open_browser" => "true",
                "maxcount" | "timeout_ms" | "refresh_margin_s" | "poll_interval_ms"
                | "min_valid_s" | "redirect_port" => "7",
                "flow" => "browser",
                "token_kind" => "access",
                _ => "x",
            };
            all.set(key, value).unwrap();
        }
        let merged = all.overlaid_on(&base);
        assert_eq!(merged.provider, ProviderKind::Oidc);
        assert_eq!(merged.server.as_deref(), Some("x"));
    }

    /// A value `set` accepts for `key`, unlike its default where that matters.
    fn sample(key: &str) -> &'static str {
        match key {
            "provider" => "oidc",
            "force" | "interactive" | "require_username" => "true",
            "validate" | "overwrite" | "open_browser" => "false",
            "maxcount" | "timeout_ms" | "refresh_margin_s" | "poll_interval_ms" | "min_valid_s"
            | "redirect_port" => "7",
            "flow" => "browser",
            "token_kind" => "access",
            _ => "x",
        }
    }

    #[test]
    fn every_key_parses_overlays_clears_and_shows() {
        let defaults = format!("{:?}", Options::new());
        for key in KEYS {
            let mut o = Options::new();
            assert!(!o.is_set(key), "{key} is not set by default");
            o.set(key, sample(key))
                .unwrap_or_else(|e| panic!("{key}: {}", e.message()));
            assert!(o.is_set(key), "{key} is recorded as set");
            let shown = format!("{o:?}");
            assert!(shown.contains(&format!("{key}: ")), "{key} in {shown}");
            assert_ne!(shown, defaults, "setting {key} changes the options");

            // Laid over a base, the key (and only it) replaces the base's value.
            let merged = o.overlaid_on(&Options::new());
            assert_eq!(format!("{merged:?}"), shown, "{key} overlays");
            assert!(merged.is_set(key));
            let under = Options::new().overlaid_on(&o);
            assert_eq!(
                format!("{under:?}"),
                shown,
                "an unset {key} keeps the base's"
            );

            // Cleared, it is back at its default and no longer overlays.
            let cleared = o.without(key);
            assert!(!cleared.is_set(key));
            assert_eq!(format!("{cleared:?}"), defaults, "{key} clears");
            let merged = cleared.overlaid_on(&o);
            assert_eq!(
                format!("{merged:?}"),
                shown,
                "a cleared {key} keeps the base's"
            );
        }
        assert!(Options::new().clear("nope").is_err());
    }

    #[test]
    fn every_key_has_a_doc() {
        assert_eq!(KEY_DOCS.len(), KEYS.len());
        for (key, (doc_key, doc)) in KEYS.iter().zip(KEY_DOCS) {
            assert_eq!(key, doc_key);
            assert!(!doc.is_empty() && !doc.contains('\n'), "{key}: {doc:?}");
            assert_eq!(doc.trim(), *doc, "{key}: the doc is trimmed");
        }
    }

    #[test]
    fn docs_state_the_defaults_the_table_uses() {
        let doc = |key: &str| KEY_DOCS.iter().find(|(k, _)| *k == key).unwrap().1;
        let defaults = Options::new();
        assert!(doc("maxcount").contains(&format!("default {})", defaults.maxcount)));
        let ms = defaults.timeout.as_millis();
        assert!(doc("timeout_ms").contains(&format!("default {ms})")));
        let margin = defaults.refresh_margin_s;
        assert!(doc("refresh_margin_s").contains(&format!("default {margin})")));
        assert_eq!(defaults.provider, ProviderKind::ALL[0]);
        // The names live in the hub table only.
        for kind in ProviderKind::ALL {
            assert!(!doc("provider").contains(kind.name()), "{kind:?}");
        }
        assert!(doc("validate").contains(&format!("default {})", defaults.validate)));
        assert!(doc("overwrite").contains(&format!("default {})", defaults.overwrite)));
    }

    #[test]
    fn force_can_be_dropped_after_the_call_that_set_it() {
        let mut stored = Options::new();
        stored.set("server", "https://a.example").unwrap();
        stored.set("force", "true").unwrap();
        stored.set_hook(Some(Arc::new(|_: &str| HookAction::Continue)));
        let kept = stored.without("force");
        assert!(!kept.force && !kept.is_set("force"));
        assert_eq!(kept.server.as_deref(), Some("https://a.example"));
        assert!(kept.hook.is_some() && kept.is_set("hook"));
        let unhooked = kept.without("hook");
        assert!(unhooked.hook.is_none() && !unhooked.is_set("hook"));
    }

    #[test]
    fn the_cancel_is_kept_overlaid_and_cleared_like_the_hook() {
        let first = Cancel::new().unwrap();
        let mut base = Options::new();
        base.set_cancel(Some(first.clone()));
        let copy = base.clone();
        first.trigger();
        assert!(
            copy.cancel.as_ref().unwrap().is_triggered(),
            "clones share it"
        );
        assert!(format!("{copy:?}").contains("cancel: Some(Cancel { triggered: true })"));
        let mut later = Options::new();
        later.set("force", "true").unwrap();
        assert!(
            later.overlaid_on(&base).cancel.is_some(),
            "kept when not set"
        );
        later.set_cancel(Some(Cancel::new().unwrap()));
        let merged = later.overlaid_on(&base);
        assert!(!merged.cancel.unwrap().is_triggered(), "replaced when set");
        let cleared = base.without("cancel");
        assert!(cleared.cancel.is_none() && !cleared.is_set("cancel"));
    }

    #[test]
    fn the_log_sink_is_kept_overlaid_and_cleared_like_the_hook() {
        use crate::log::Level;
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = seen.clone();
        let mut base = Options::new();
        base.set_log(Some(Arc::new(move |_: Level, m: &str| {
            into.lock().unwrap().push(m.to_owned())
        })));
        assert!(format!("{base:?}").contains("log: Some(\"<log>\")"));
        let mut later = Options::new();
        later.set("force", "true").unwrap();
        let merged = later.overlaid_on(&base);
        merged.log.as_ref().expect("kept when not set")(Level::Warn, "one");
        assert_eq!(*seen.lock().unwrap(), ["one"]);
        later.set_log(None);
        assert!(later.overlaid_on(&base).log.is_none(), "replaced when set");
        let cleared = base.without("log");
        assert!(cleared.log.is_none() && !cleared.is_set("log"));
    }

    #[test]
    fn directly_assigned_fields_are_not_set() {
        let mut o = Options::new();
        o.force = true;
        assert!(!o.is_set("force"));
        assert!(!o.overlaid_on(&Options::new()).force);
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
