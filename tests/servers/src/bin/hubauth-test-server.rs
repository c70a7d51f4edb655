//! `hubauth-test-server <protocol> [options]`: starts a loopback test server,
//! prints one line `URL=http://127.0.0.1:PORT` on stdout when it is ready,
//! and serves until its stdin reaches EOF (the parent closed it or died) or
//! it gets SIGTERM, SIGINT or SIGHUP.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use hubauth_testkit::{
    CaveConfig, CaveServer, DagsHubConfig, DagsHubServer, DhCoreConfig, DhCoreServer, Flow,
    JuliaHubConfig, JuliaHubServer,
};

const USAGE: &str = "\
usage: hubauth-test-server juliahub|dagshub|cave|dhcore [options]

Serves a hub protocol (juliahub: JuliaHub / PkgAuthentication.jl; dagshub;
cave) on 127.0.0.1, prints `URL=http://127.0.0.1:PORT` on stdout when ready,
and runs until stdin is closed (EOF) or SIGTERM/SIGINT/SIGHUP arrives.

juliahub options:
  --flow classic|device      flow advertised by /auth/configuration (default device)
  --auto-approve             decide each login on its first poll, no browser visit
  --deny                     the user denies every login
  --token-ttl SECS           expires_in of minted tokens (default 3600)
  --device-interval SECS     device flow polling interval (default 1)
  --device-expires-in SECS   lifetime of device codes and challenges (default 300)
  --slow-down-polls N        answer slow_down to the first N polls of each device login
  --refresh-fails            answer 401 to every refresh
  --user NAME                user_name of new logins (default alice)
  --port PORT                listen on this port (default: any free port)
  --ignore-stdin             do not stop at stdin EOF (stop only on a signal)

dagshub options (the dagshub client's /api/v1/user and OAuth middleman):
  --client-id ID             the only OAuth client id accepted (default the dagshub client's)
  --user NAME                login/username of the user (default alice)
  --token-ttl SECS           lifetime of OAuth tokens (default 3600)
  --deny                     the browser visit denies the login
  --user-redirect            GET /api/v1/user answers 302 to /api/v1/user/redirected
  --middleman-hold-ms MS     how long a middleman poll is held before 408 (default 20000)
  --port PORT, --ignore-stdin as above

cave options (CAVE's /auth/api/v1):
  --user NAME                name of the logged-in user (default alice)
  --user-id N                id of that user (default 42)
  --no-bearer                do not accept the token from Authorization: Bearer
  --no-cookie                do not accept the token from the middle_auth_token cookie
  --port PORT, --ignore-stdin as above

dhcore options (DHCore's GET /api/auth):
  --introspection-url URL    accept bearer tokens this RFC 7662 endpoint calls active
  --client-id ID             client_id of the introspection requests (default hubauth-public)
  --basic USER:PASSWORD      accept these HTTP Basic credentials
  --token TOKEN              accept this bearer token (repeatable)
  --port PORT, --ignore-stdin as above
";

/// The server a subcommand asked for, configured.
enum Protocol {
    JuliaHub(JuliaHubConfig),
    DagsHub(DagsHubConfig),
    Cave(CaveConfig),
    DhCore(DhCoreConfig),
}

/// A running server of any protocol (stops when dropped).
enum Running {
    JuliaHub(JuliaHubServer),
    DagsHub(DagsHubServer),
    Cave(CaveServer),
    DhCore(DhCoreServer),
}

impl Running {
    fn start(protocol: Protocol, port: u16) -> io::Result<Running> {
        Ok(match protocol {
            Protocol::JuliaHub(c) => Running::JuliaHub(JuliaHubServer::start_on(port, c)?),
            Protocol::DagsHub(c) => Running::DagsHub(DagsHubServer::start_on(port, c)?),
            Protocol::Cave(c) => Running::Cave(CaveServer::start_on(port, c)?),
            Protocol::DhCore(c) => Running::DhCore(DhCoreServer::start_on(port, c)?),
        })
    }

    fn url(&self) -> String {
        match self {
            Running::JuliaHub(s) => s.url(),
            Running::DagsHub(s) => s.url(),
            Running::Cave(s) => s.url(),
            Running::DhCore(s) => s.url(),
        }
    }
}

/// Parses `--name value` / `--name=value` options; `apply` handles each
/// (getting the value through the closure) and returns false for unknown ones.
fn parse_options(
    args: &[String],
    mut apply: impl FnMut(&str, &mut dyn FnMut(&str) -> Result<String, String>) -> Result<bool, String>,
) -> Result<(u16, bool), String> {
    let mut port = 0u16;
    let mut ignore_stdin = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs {what}")),
            }
        };
        match name {
            "--port" => port = number(name, value("PORT")?)?,
            "--ignore-stdin" => ignore_stdin = true,
            other => {
                if !apply(other, &mut value)? {
                    return Err(format!("unknown option {other:?}"));
                }
            }
        }
    }
    Ok((port, ignore_stdin))
}

fn number<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{name}: not a valid number: {v:?}"))
}

fn parse_dagshub(args: &[String]) -> Result<(Protocol, u16, bool), String> {
    let mut c = DagsHubConfig::default();
    let (port, ignore_stdin) = parse_options(args, |name, value| {
        match name {
            "--client-id" => c.client_id = value("ID")?,
            "--user" => c.user = value("NAME")?,
            "--token-ttl" => c.token_ttl_s = number(name, value("SECS")?)?,
            "--deny" => c.deny = true,
            "--user-redirect" => c.user_redirect = true,
            "--middleman-hold-ms" => c.middleman_hold_ms = number(name, value("MS")?)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok((Protocol::DagsHub(c), port, ignore_stdin))
}

fn parse_cave(args: &[String]) -> Result<(Protocol, u16, bool), String> {
    let mut c = CaveConfig::default();
    let (port, ignore_stdin) = parse_options(args, |name, value| {
        match name {
            "--user" => c.user = value("NAME")?,
            "--user-id" => c.user_id = number(name, value("N")?)?,
            "--no-bearer" => c.accept_bearer = false,
            "--no-cookie" => c.accept_cookie = false,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok((Protocol::Cave(c), port, ignore_stdin))
}

fn parse_dhcore(args: &[String]) -> Result<(Protocol, u16, bool), String> {
    let mut c = DhCoreConfig::default();
    let (port, ignore_stdin) = parse_options(args, |name, value| {
        match name {
            "--introspection-url" => c.introspection_url = Some(value("URL")?),
            "--client-id" => c.client_id = value("ID")?,
            "--basic" => {
                let pair = value("USER:PASSWORD")?;
                let (user, password) = pair
                    .split_once(':')
                    .ok_or("--basic: expected USER:PASSWORD")?;
                c.basic_user = Some(user.to_string());
                c.basic_password = Some(password.to_string());
            }
            "--token" => c.tokens.push(value("TOKEN")?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok((Protocol::DhCore(c), port, ignore_stdin))
}

extern "C" fn on_signal(_signal: libc::c_int) {
    // Async-signal-safe: nothing to clean up, all state is in memory.
    unsafe { libc::_exit(0) }
}

fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int);
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: installs a handler that only calls the async-signal-safe `_exit`.
        unsafe {
            libc::signal(signal, handler as libc::sighandler_t);
        }
    }
}

fn parse_juliahub(args: &[String]) -> Result<(JuliaHubConfig, u16, bool), String> {
    let mut config = JuliaHubConfig::default();
    let mut port = 0u16;
    let mut ignore_stdin = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs {what}")),
            }
        };
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: not a valid number: {v:?}"))
        }
        match name {
            "--flow" => {
                config.flow = match value("classic or device")?.as_str() {
                    "classic" => Flow::Classic,
                    "device" => Flow::Device,
                    other => {
                        return Err(format!("--flow: expected classic or device, got {other:?}"));
                    }
                }
            }
            "--auto-approve" => config.auto_approve = true,
            "--deny" => config.deny = true,
            "--refresh-fails" => config.refresh_fails = true,
            "--ignore-stdin" => ignore_stdin = true,
            "--token-ttl" => config.token_ttl_s = num(name, value("SECS")?)?,
            "--device-interval" => config.device_interval_s = num(name, value("SECS")?)?,
            "--device-expires-in" => config.device_expires_in_s = num(name, value("SECS")?)?,
            "--slow-down-polls" => config.slow_down_polls = num(name, value("N")?)?,
            "--user" => config.user = value("NAME")?,
            "--port" => port = num(name, value("PORT")?)?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok((config, port, ignore_stdin))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.first().map(String::as_str) {
        Some("juliahub") => parse_juliahub(&args[1..])
            .map(|(config, port, ignore)| (Protocol::JuliaHub(config), port, ignore)),
        Some("dagshub") => parse_dagshub(&args[1..]),
        Some("cave") => parse_cave(&args[1..]),
        Some("dhcore") => parse_dhcore(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("hubauth-test-server: unknown protocol {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (protocol, port, ignore_stdin) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("hubauth-test-server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    install_signal_handlers();
    let server = match Running::start(protocol, port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hubauth-test-server: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = io::stdout().lock();
    if writeln!(stdout, "URL={}", server.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);

    if ignore_stdin {
        loop {
            std::thread::park();
        }
    }
    // Serve until the parent closes our stdin (or exits, which closes it).
    let mut sink = [0u8; 4096];
    let mut stdin = io::stdin().lock();
    loop {
        match stdin.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    drop(server);
    ExitCode::SUCCESS
}
