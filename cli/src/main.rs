//! `hubauth`: the command-line tool, in the conventions of `gh auth`.
//!
//! It parses arguments, builds `hubauth::Options`, calls the Rust API and
//! formats the result; every rule (where tokens live, when they are fresh, how
//! to log in) lives in the library. Data goes to stdout (`token`, `status`,
//! `git-credential get`), everything for people goes to stderr, and no message
//! ever holds a token value.

mod accounts_ui;
mod completions;
mod doctor;
mod flags;
mod git;
mod output;
mod qr;
mod session;
mod setup_git;
mod status;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hubauth::log::escape;
use hubauth::options::{KEY_DOCS, KEYS};
use hubauth::{Error, ErrorKind, Options, Result};
use serde_json::json;
use zeroize::Zeroizing;

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    other failure (I/O, unreadable token file, internal error);
       `status`: a credential is not usable, or none was found
  2    usage: bad arguments, unknown -o option or bad value, bad server URL
  3    no credentials: nothing usable is stored and a login is not allowed
  4    authentication failed: the server refused the login or the token
  5    network or server error, or timed out
  130  cancelled (Ctrl-C)";

const GIT_HELP: &str = "\
Use it as git's credential helper for a hub's git server
(`hubauth setup-git --server URL` writes this line):

  git config --global credential.https://juliahub.com.helper '!hubauth git-credential --server https://juliahub.com'

`get` answers only for the server of --server (juliahub: else JULIA_PKG_SERVER),
with username=<user, or oauth2>, password=<token> and, when the token's expiry is
known, password_expiry_utc=<unix seconds> (git 2.40 and later), never logging in (run
`hubauth login` first). For any other host, or when no token is available, it
prints nothing and git asks its other helpers. `store` and `erase` do nothing:
hubauth never keeps git's passwords, and logging out is explicit
(`hubauth logout`); a rejected token is refreshed on the next `get`.";

#[derive(Parser)]
#[command(
    name = "hubauth",
    version,
    about = "Get, keep, refresh and hand out tokens for data and compute hubs",
    long_about = "Get, keep, refresh and hand out tokens for data and compute hubs \
                  (JuliaHub, DagsHub, DHCore, CAVE, any OpenID Connect server).\n\n\
                  Tokens are stored where each hub's own client keeps them, so \
                  `hubauth` and those clients share logins.",
    after_help = EXIT_CODES,
    arg_required_else_help = true,
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags every command takes; they select the provider, server and token.
#[derive(Args)]
#[command(next_help_heading = "Global options")]
struct Global {
    /// The account to use (`login --name` records one; default: HUBAUTH_ACCOUNT,
    /// else the default account when no flag selects a hub)
    #[arg(long, global = true, value_name = "NAME")]
    name: Option<String>,
    /// Say more on stderr: -v what the library reports, -vv its debug lines
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[arg(long, global = true, value_name = "NAME",
          help = provider_help(), long_help = provider_long_help())]
    provider: Option<String>,
    /// The hub's URL (juliahub: else JULIA_PKG_SERVER)
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    /// The OpenID Connect issuer (oidc)
    #[arg(long, global = true, value_name = "URL")]
    issuer: Option<String>,
    /// The OAuth client id
    #[arg(long, global = true, value_name = "ID")]
    client_id: Option<String>,
    /// The OAuth scope to ask for at login
    #[arg(long, global = true, value_name = "SCOPE")]
    scope: Option<String>,
    /// The interactive login (oidc): auto, device (a code to enter on any
    /// device) or browser (a redirect to 127.0.0.1 on this machine)
    #[arg(long, global = true, value_name = "FLOW")]
    flow: Option<String>,
    /// The profile / section of the token file (dhcore)
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// Use this token file instead of the provider's default one
    #[arg(long, global = true, value_name = "FILE")]
    token_path: Option<PathBuf>,
    /// How long a login may wait, and any lock or request may take
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_timeout)]
    timeout: Option<u64>,
    /// juliahub: which token to hand out (and to git): id (JuliaHub's API,
    /// the default) or access (the package server, as Pkg sends it)
    #[arg(long, global = true, value_name = "KIND")]
    token_kind: Option<String>,
    /// Read the OAuth client secret from FILE (- = stdin); or set HUBAUTH_CLIENT_SECRET
    #[arg(long, global = true, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// Read a token to use as given (touching no file) from FILE (- = stdin); or set HUBAUTH_TOKEN
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Read the token to exchange (e.g. a personal access token) from FILE (- = stdin);
    /// or set HUBAUTH_SUBJECT_TOKEN
    #[arg(long, global = true, value_name = "FILE")]
    subject_token_file: Option<PathBuf>,
    /// Any library option, as KEY=VALUE (repeatable; e.g. -o poll_interval_ms=500).
    /// Not for secrets: arguments are visible to other users (`ps`)
    #[arg(short = 'o', long = "option", global = true, value_name = "KEY=VALUE",
          value_parser = parse_key_value, long_help = option_help())]
    options: Vec<(String, String)>,
}

/// The options that hold secrets, and the only ways the CLI takes them: a
/// file (or stdin) and an environment variable, never the command line,
/// which every user on the machine can read in `ps` or /proc/PID/cmdline.
/// cli/tests/cli.rs checks this list against the library's options table.
const SECRET_OPTIONS: &[SecretOption] = &[
    SecretOption {
        key: "client_secret",
        flag: "--client-secret-file",
        env: "HUBAUTH_CLIENT_SECRET",
    },
    SecretOption {
        key: "token",
        flag: "--token-file",
        env: "HUBAUTH_TOKEN",
    },
    SecretOption {
        key: "subject_token",
        flag: "--subject-token-file",
        env: "HUBAUTH_SUBJECT_TOKEN",
    },
];

struct SecretOption {
    key: &'static str,
    flag: &'static str,
    env: &'static str,
}

/// Largest secret read from a file or stdin (a token, or juliahub's whole
/// auth.toml, is a few KiB).
const MAX_SECRET: u64 = 64 * 1024;

/// All of `input` as text, refusing more than [`MAX_SECRET`] bytes: reads at
/// most one byte past the limit, so a huge or endless input costs nothing.
/// `what` names the input in the error.
fn read_capped(input: impl Read, what: &str) -> Result<Zeroizing<String>> {
    // Sized once, so no reallocation leaves a copy of the secret behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_SECRET as usize + 1));
    input
        .take(MAX_SECRET + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {what}: {e}")))?;
    if bytes.len() as u64 > MAX_SECRET {
        return Err(Error::invalid_argument(format!(
            "{what} is larger than {} KiB; refusing it (a token, or juliahub's whole \
             auth.toml, is a few KiB)",
            MAX_SECRET / 1024
        )));
    }
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            zeroize::Zeroize::zeroize(&mut e.into_bytes());
            Err(Error::invalid_argument(format!("{what} is not UTF-8 text")))
        }
    }
}

/// A secret from `path` (- = stdin): its text less one trailing newline.
fn read_secret(path: &std::path::Path, flag: &str) -> Result<Zeroizing<String>> {
    let what = format!("{flag} {}", path.display());
    let mut text = if path.as_os_str() == "-" {
        read_capped(std::io::stdin().lock(), &what)?
    } else {
        let file = std::fs::File::open(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("{flag}: cannot read {}: {e}", path.display()),
            )
        })?;
        read_capped(file, &what)?
    };
    let len = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .map(str::len)
        .unwrap_or(text.len());
    text.truncate(len);
    if text.is_empty() {
        return Err(Error::invalid_argument(format!(
            "{flag}: {} is empty",
            path.display()
        )));
    }
    Ok(text)
}

/// `--provider`'s help, from the provider table: `juliahub (default), dagshub, … or oidc`.
fn provider_help() -> String {
    let default = Options::new().provider;
    let names: Vec<String> = hubauth::hubs::PROVIDERS
        .iter()
        .map(|p| {
            if p.kind == default {
                format!("{} (default)", p.name())
            } else {
                p.name().to_string()
            }
        })
        .collect();
    match names.split_last() {
        Some((last, [])) => format!("Which hub: {last}"),
        Some((last, rest)) => format!("Which hub: {} or {last}", rest.join(", ")),
        None => "Which hub".to_string(),
    }
}

/// `--provider`'s long help (`--help`): one line per hub from the provider table.
fn provider_long_help() -> String {
    let default = Options::new().provider;
    let mut help = String::from("Which hub:");
    for p in hubauth::hubs::PROVIDERS {
        let note = if p.kind == default { " [default]" } else { "" };
        help.push_str(&format!("\n  {:<9} {}{note}", p.name(), p.about()));
    }
    help
}

#[derive(Subcommand)]
enum Command {
    /// Log in (interactively) and store the token
    #[command(after_help = EXIT_CODES)]
    Login(LoginArgs),
    /// Show every credential hubauth can see (never the tokens), and the accounts
    #[command(after_help = EXIT_CODES)]
    Status(StatusArgs),
    /// Print a valid token on stdout, and nothing else
    #[command(after_help = EXIT_CODES)]
    Token(TokenArgs),
    /// Forget (and where the hub offers it, revoke) the stored token;
    /// with --name, forget the account too
    #[command(after_help = EXIT_CODES)]
    Logout(LogoutArgs),
    /// Reload the stored token and refresh it if it is due; log in again if needed
    #[command(after_help = EXIT_CODES)]
    Refresh(RefreshArgs),
    /// Store a token read from stdin (juliahub: the whole auth.toml)
    #[command(after_help = EXIT_CODES)]
    SaveToken,
    /// git's credential helper protocol (get | store | erase)
    #[command(after_help = GIT_HELP)]
    GitCredential(GitArgs),
    /// Check the stored credentials, their files, servers, clocks, proxies
    /// and CA settings, and say what to do about each problem (never a token)
    #[command(after_help = doctor::EXIT_CODES)]
    Doctor(DoctorArgs),
    /// Make an account the default (like `gh auth switch`)
    #[command(after_help = EXIT_CODES)]
    Switch(SwitchArgs),
    /// Make hubauth git's credential helper for the hub (`git config --global`)
    #[command(after_help = EXIT_CODES)]
    SetupGit(SetupGitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Print the man page (roff): `hubauth man | man -l -`
    Man,
}

#[derive(Args)]
struct LogoutArgs {
    /// Print what was done as JSON on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SwitchArgs {
    /// The account to make the default
    #[arg(value_name = "ACCOUNT")]
    account: String,
}

#[derive(Args)]
struct SetupGitArgs {
    /// Print the git commands without running them
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

#[derive(Args)]
struct DoctorArgs {
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct LoginArgs {
    /// Print the login URL, do not open a browser
    #[arg(long)]
    no_browser: bool,
    /// Log in again even when a usable token is stored
    #[arg(long)]
    force: bool,
    /// With --name: make the account the default one
    #[arg(long)]
    default: bool,
}

#[derive(Args)]
struct StatusArgs {
    /// Print a JSON array instead of a table
    #[arg(long)]
    json: bool,
    /// Also ask each server whether the token works (may refresh it; never logs in)
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct TokenArgs {
    /// Log in when no usable token is stored (default: fail with exit code 3)
    #[arg(long)]
    interactive: bool,
    /// Ask the server whether the token is good before printing it (always
    /// for dagshub, as its SDK does; `-o validate=false` skips it)
    #[arg(long)]
    validate: bool,
    /// With --interactive: print the login URL, do not open a browser
    #[arg(long)]
    no_browser: bool,
    /// Hand out a token that stays valid at least this long (renewing first
    /// when needed); fail when the server's tokens do not last that long
    #[arg(long, value_name = "SECS")]
    min_valid: Option<String>,
    /// Print {"token", "expires_at", "server", "username"} as JSON
    /// (expires_at: unix seconds, or null when unknown or never)
    #[arg(long)]
    json: bool,
    // clap prints this doc comment as --help text, angle brackets and all.
    #[allow(rustdoc::invalid_html_tags)]
    /// Print the whole Authorization header value ("Bearer <token>", or
    /// "Basic <credentials>" where the hub takes them) instead of the token
    #[arg(long)]
    header: bool,
}

#[derive(Args)]
struct RefreshArgs {
    /// Log in again instead of refreshing
    #[arg(long)]
    force: bool,
    /// Print the login URL, do not open a browser
    #[arg(long)]
    no_browser: bool,
}

#[derive(Args)]
struct GitArgs {
    /// The operation git asks for; unknown ones are ignored, as git expects
    #[arg(value_name = "get|store|erase")]
    operation: String,
}

/// `--help` of `-o`: every key the library takes, from its options table.
fn option_help() -> String {
    let width = KEYS.iter().map(|k| k.len()).max().unwrap_or(0);
    let mut help = String::from(
        "Any library option, as KEY=VALUE (repeatable; e.g. -o poll_interval_ms=500).\n\n\
         Arguments are visible to other users (`ps`), so secrets are refused here; \
         pass them from a file, stdin or the environment:",
    );
    for s in SECRET_OPTIONS {
        help.push_str(&format!(
            "\n  {:width$}  {} FILE (- = stdin), or {}",
            s.key, s.flag, s.env
        ));
    }
    help.push_str("\n\nKeys:");
    for (key, doc) in KEY_DOCS {
        help.push_str(&format!("\n  {key:width$}  {doc}"));
    }
    help
}

fn parse_timeout(value: &str) -> std::result::Result<u64, String> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a number of seconds"))?;
    let ms = (secs * 1000.0).round();
    if !(ms >= 1.0 && ms < u64::MAX as f64) {
        return Err("the timeout must be positive".into());
    }
    Ok(ms as u64)
}

fn parse_key_value(value: &str) -> std::result::Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected KEY=VALUE, not {value:?}")),
    }
}

impl Global {
    /// The options of a command: the global flags, then what the command sets,
    /// then `-o` (the raw options have the last word). Only what the user or
    /// the command gives is set, through `Options::set`, so the library's
    /// defaults apply to the rest and a later call's options overlay these.
    fn options(&self, command: impl FnOnce(&mut Options) -> Result<()>) -> Result<Options> {
        let mut o = Options::new();
        output::install(&mut o);
        let flags = [
            ("account", self.name.clone()),
            ("provider", self.provider.clone()),
            ("server", self.server.clone()),
            ("issuer", self.issuer.clone()),
            ("client_id", self.client_id.clone()),
            ("profile", self.profile.clone()),
            (
                "token_path",
                self.token_path.as_ref().map(|p| p.display().to_string()),
            ),
            ("timeout_ms", self.timeout.map(|ms| ms.to_string())),
            ("token_kind", self.token_kind.clone()),
            ("scope", self.scope.clone()),
            ("flow", self.flow.clone()),
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                o.set(key, &value)?;
            }
        }
        command(&mut o)?;
        let from_stdin = SECRET_OPTIONS
            .iter()
            .filter_map(|s| self.secret_file(s.key))
            .filter(|p| p.as_os_str() == "-")
            .count();
        if from_stdin > 1 {
            return Err(Error::invalid_argument(
                "only one secret can come from stdin (-); give the others in files",
            ));
        }
        for secret in SECRET_OPTIONS {
            let value = match self.secret_file(secret.key) {
                Some(path) => Some(read_secret(path, secret.flag)?),
                None => std::env::var(secret.env)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(Zeroizing::new),
            };
            if let Some(value) = value {
                o.set(secret.key, &value)?;
            }
        }
        for (key, value) in &self.options {
            if let Some(secret) = SECRET_OPTIONS.iter().find(|s| s.key == key) {
                return Err(Error::invalid_argument(format!(
                    "-o {key}=… puts a secret on the command line, where other users can read \
                     it (`ps`); pass it with {} FILE (- = stdin) or the {} environment variable",
                    secret.flag, secret.env
                )));
            }
            o.set(key, value)
                .map_err(|e| e.context(format!("-o {key}")))?;
        }
        Ok(o)
    }

    /// The file flag given for the secret option `key`.
    fn secret_file(&self, key: &str) -> Option<&PathBuf> {
        match key {
            "client_secret" => self.client_secret_file.as_ref(),
            "token" => self.token_file.as_ref(),
            "subject_token" => self.subject_token_file.as_ref(),
            _ => None,
        }
    }

    /// Whether a secret is to be read from stdin.
    fn reads_stdin(&self) -> bool {
        SECRET_OPTIONS
            .iter()
            .filter_map(|s| self.secret_file(s.key))
            .any(|p| p.as_os_str() == "-")
    }
}

/// The exit code of an error kind (documented in EXIT_CODES).
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidArgument | ErrorKind::NullArgument | ErrorKind::Insecure => 2,
        ErrorKind::NoCredentials => 3,
        ErrorKind::Authentication => 4,
        ErrorKind::Network | ErrorKind::Server | ErrorKind::Timeout => 5,
        ErrorKind::Cancelled => 130,
        ErrorKind::Io
        | ErrorKind::Format
        | ErrorKind::BufferTooSmall
        | ErrorKind::Panic
        | ErrorKind::Internal => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::set_verbosity(cli.global.verbose);
    if let Some(name) = cli.command_name() {
        flags::set_running(name);
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            output::error(&e);
            ExitCode::from(exit_code(e.kind()))
        }
    }
}

impl Cli {
    /// The name of the subcommand given, as clap knows it.
    fn command_name(&self) -> Option<&'static str> {
        use clap::CommandFactory;
        let index = match &self.command {
            Command::Login(_) => "login",
            Command::Status(_) => "status",
            Command::Token(_) => "token",
            Command::Logout(_) => "logout",
            Command::Refresh(_) => "refresh",
            Command::SaveToken => "save-token",
            Command::GitCredential(_) => "git-credential",
            Command::Doctor(_) => "doctor",
            Command::Switch(_) => "switch",
            Command::SetupGit(_) => "setup-git",
            Command::Completions(_) => "completions",
            Command::Man => "man",
        };
        debug_assert!(Cli::command().find_subcommand(index).is_some());
        Some(index)
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Login(args) => login(g, args),
        Command::Status(args) => status::run(g, args.json, args.check),
        Command::Token(args) => token(g, args),
        Command::Logout(args) => logout(g, args.json),
        Command::Switch(args) => accounts_ui::switch(&args.account),
        Command::SetupGit(args) => setup_git::run(g, args.dry_run),
        Command::Completions(args) => completions::completions(args.shell),
        Command::Man => completions::man(),
        Command::Refresh(args) => refresh(g, args),
        Command::SaveToken => save_token(g),
        Command::GitCredential(args) => git::run(g, &args.operation),
        Command::Doctor(args) => doctor::run(g, args.json),
    }
}

/// The normalised server the options resolve to (no I/O).
fn server_of(options: &Options) -> Result<String> {
    Ok(hubauth::hubs::for_options(options)?.server().to_string())
}

fn as_user(auth: &hubauth::Authentication) -> String {
    auth.username()
        .map(|user| format!(" as {}", shown_user(&user)))
        .unwrap_or_default()
}

/// Longest username shown; a longer one is cut (a server may send anything).
pub(crate) const USERNAME_SHOWN: usize = 256;

/// A username as the CLI shows it: at most [`USERNAME_SHOWN`] characters,
/// escaped. Usernames are kept as the server or file has them (other SDKs
/// read those files, and real names use format characters, e.g. the
/// zero-width non-joiner of Persian); only their display is made inert.
pub(crate) fn shown_user(user: &str) -> String {
    hubauth::log::quote(user, USERNAME_SHOWN)
}

/// "true" or "false", as `Options::set` takes booleans.
/// Options for a command that hands a token to another program (`token`,
/// `git-credential get`): the server is asked about it only when told
/// (`asked`), or when the hub's own SDK asks before handing a token out (the
/// hub table says which); then once per run, one process. `-o
/// validate=false` is applied after this and skips it.
pub(crate) fn handing_out(o: &mut Options, asked: bool) -> Result<()> {
    let checks = hubauth::hubs::checks_before_use(o.provider);
    o.set("validate", flag(asked || checks))
}

fn flag(on: bool) -> &'static str {
    if on { "true" } else { "false" }
}

fn login(g: &Global, args: LoginArgs) -> Result<ExitCode> {
    if args.default && g.name.is_none() {
        return Err(Error::invalid_argument(
            "--default makes the account of --name the default; give --name NAME",
        ));
    }
    let new_account = match &g.name {
        Some(name) => !accounts_ui::exists(name)?,
        None => false,
    };
    let mut options = g.options(|o| {
        o.set("interactive", "true")?;
        if args.force {
            o.set("force", "true")?;
        }
        // A new name has nothing to fill in yet (nor does another account,
        // HUBAUTH_ACCOUNT's or the default): it is recorded below.
        if new_account {
            o.set("account", "")?;
        }
        Ok(())
    })?;
    let session = session::Session::start(&mut options, args.no_browser);
    let result = hubauth::authenticate(&options);
    let logged_in = session.finish();
    let auth = result?;
    if logged_in {
        eprintln!("Logged in to {}{}", escape(auth.server()), as_user(&auth));
    } else {
        eprintln!(
            "Logged in to {}{} (the stored token is still good; `hubauth login --force` logs in again)",
            escape(auth.server()),
            as_user(&auth)
        );
    }
    if let Some(name) = &g.name {
        accounts_ui::remember(name, &options.without("hook"), auth.server(), args.default)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn token(g: &Global, args: TokenArgs) -> Result<ExitCode> {
    // `token` is for scripts: it logs in only when told to.
    let mut options = g.options(|o| {
        o.set("interactive", flag(args.interactive))?;
        if let Some(secs) = &args.min_valid {
            o.set("min_valid_s", secs)?;
        }
        handing_out(o, args.validate)
    })?;
    let session = args
        .interactive
        .then(|| session::Session::start(&mut options, args.no_browser));
    let result = hubauth::authenticate(&options).and_then(|auth| {
        let value = if args.header {
            auth.authorization()?
        } else {
            auth.token()?
        };
        Ok((value, auth))
    });
    if let Some(session) = session {
        session.finish();
    }
    let (token, auth) = result?;
    let text = if args.json {
        // Borrowed, serialised into one buffer that is zeroed when dropped.
        #[derive(serde::Serialize)]
        struct TokenJson<'a> {
            token: &'a str,
            expires_at: Option<i64>,
            server: &'a str,
            username: Option<String>,
        }
        let json = TokenJson {
            token: token.expose(),
            expires_at: auth.expires_at(),
            server: auth.server(),
            username: auth.username(),
        };
        let json = Zeroizing::new(
            serde_json::to_string(&json)
                .map_err(|e| Error::internal(format!("cannot write JSON: {e}")))?,
        );
        Zeroizing::new(hubauth::log::escape_in_json(&json).into_owned())
    } else {
        Zeroizing::new(token.expose().to_string())
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot write to stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

fn logout(g: &Global, json: bool) -> Result<ExitCode> {
    let mut options = g.options(|_| Ok(()))?;
    let resolved = hubauth::accounts::resolve(&options)?;
    let server = server_of(&resolved)?;
    // What the library said (the revocation: done, failed or not offered)
    // is shown as always, and kept for the JSON.
    let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    if json {
        let shown = options.log.clone();
        let kept = said.clone();
        options.set_log(Some(std::sync::Arc::new(move |level, message: &str| {
            use hubauth::log::Level;
            let name = match level {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Notice | Level::Info => "info",
                Level::Debug => return,
            };
            let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.push(json!({"level": name, "message": flags::in_cli_terms(message)}));
            drop(kept);
            if let Some(shown) = &shown {
                shown(level, message);
            }
        })));
    }
    hubauth::logout(&options)?;
    eprintln!("Logged out of {}", escape(&server));
    if let Some(name) = &g.name {
        accounts_ui::forget(name)?;
    }
    if json {
        let said = said.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let text = json!({
            "provider": resolved.provider.name(),
            "server": server,
            "logged_out": true,
            "account_forgotten": g.name,
            "messages": said,
        });
        println!("{}", hubauth::log::escape_in_json(&text.to_string()));
    }
    Ok(ExitCode::SUCCESS)
}

fn refresh(g: &Global, args: RefreshArgs) -> Result<ExitCode> {
    let mut options = g.options(|o| {
        o.set("interactive", "true")?;
        if args.force {
            o.set("force", "true")?;
        }
        Ok(())
    })?;
    let session = session::Session::start(&mut options, args.no_browser);
    let result = (|| {
        if options.force {
            return hubauth::authenticate(&options);
        }
        // What is stored, refreshed when due (never a login yet) …
        // (set, not assigned: `options`, given to reauthenticate below, must
        // replace these, and only what was set is laid over the stored ones.)
        let mut stored = options.without("hook");
        stored.set("interactive", "false")?;
        stored.set("validate", "false")?;
        match hubauth::authenticate(&stored) {
            Ok(auth) => {
                // … then reload, refresh or log in again as the core decides.
                auth.reauthenticate(Some(&options))?;
                Ok(auth)
            }
            Err(e) if e.kind() == ErrorKind::NoCredentials => hubauth::authenticate(&options),
            Err(e) => Err(e),
        }
    })();
    session.finish();
    let auth = result?;
    let until = match auth.expires_at() {
        Some(at) => format!("expires {}", status::human_expiry(Some(at))),
        None => "does not expire".to_string(),
    };
    eprintln!(
        "Token for {}{}: {until}",
        escape(auth.server()),
        as_user(&auth)
    );
    Ok(ExitCode::SUCCESS)
}

fn save_token(g: &Global) -> Result<ExitCode> {
    if g.reads_stdin() {
        return Err(Error::invalid_argument(
            "save-token reads the token from stdin; give the other secret from a file",
        ));
    }
    let options = g.options(|_| Ok(()))?;
    let server = server_of(&options)?;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("hubauth: paste the token, then press Ctrl-D on an empty line");
    }
    let text = read_capped(stdin.lock(), "the token on stdin")?;
    let token = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if token.trim().is_empty() {
        return Err(Error::invalid_argument(
            "no token on stdin; pipe it in, e.g. `hubauth save-token < token.txt`",
        ));
    }
    hubauth::save_token(&options, token)?;
    eprintln!("Saved the token for {}", escape(&server));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_takes_64_kib_and_refuses_one_byte_more() {
        let limit = MAX_SECRET as usize;
        let text = read_capped(&vec![b'a'; limit][..], "stdin").unwrap();
        assert_eq!(text.len(), limit);
        let e = read_capped(&vec![b'a'; limit + 1][..], "stdin").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("larger than 64 KiB"), "{e}");
        let e = read_capped(&[0xff, 0xfe][..], "stdin").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
}
