//! `hubauth-test-server <protocol> [options]`: starts a loopback test server,
//! prints one line `URL=http://127.0.0.1:PORT` on stdout when it is ready,
//! and serves until its stdin reaches EOF (the parent closed it or died) or
//! it gets SIGTERM, SIGINT or SIGHUP.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use hubauth_test_servers::{Flow, JuliaHubConfig, JuliaHubServer};

const USAGE: &str = "\
usage: hubauth-test-server juliahub [options]

Serves the JuliaHub / PkgAuthentication.jl protocol on 127.0.0.1, prints
`URL=http://127.0.0.1:PORT` on stdout when ready, and runs until stdin is
closed (EOF) or SIGTERM/SIGINT/SIGHUP arrives.

options:
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
";

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
    let (config, port, ignore_stdin) = match args.first().map(String::as_str) {
        Some("juliahub") => match parse_juliahub(&args[1..]) {
            Ok(parsed) => parsed,
            Err(e) => {
                eprintln!("hubauth-test-server: {e}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        },
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

    install_signal_handlers();
    let server = match JuliaHubServer::start_on(port, config) {
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
