//! Many processes on one token file. Its own harness: the binary re-executes
//! itself as worker processes (`--worker reader|writer`), so the workers are
//! real processes with their own copy of the library, as parallel jobs are.
//!
//! - single flight: 8 processes x 16 threads call `token()` in a loop across
//!   several expiries of a short-lived token with rotating refresh tokens,
//!   against the JuliaHub-protocol server and against the real oidc-provider
//!   (which revokes the whole grant when a rotated refresh token is reused);
//!   every call succeeds, every token handed out is accepted by the server, a
//!   refresh token is never presented twice, and there is exactly one refresh
//!   per expiry.
//! - durability: writers that save and refresh in a loop are SIGKILLed at
//!   random moments hundreds of times; the file always parses and holds a
//!   usable token, and no temp file older than a minute survives.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hubauth::net::{self, Request};
use hubauth::store::pkg_toml;
use hubauth::{Options, authenticate};
use hubauth_testkit::JuliaHubServer;

use hubauth_testkit::oidc_server::{OidcServer, PUBLIC_CLIENT};

const PROCESSES: usize = 8;
const THREADS: usize = 16;
const TOKEN_TTL_S: i64 = 4;
const READ_SECONDS: u64 = 13;
const KILLS: usize = 300;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--worker") {
        match args.get(i + 1).map(String::as_str) {
            Some("reader") => reader_worker(),
            Some("writer") => writer_worker(),
            other => panic!("unknown worker {other:?}"),
        }
        return;
    }
    let filter: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let tests: [(&str, fn()); 3] = [
        (
            "single_flight_refresh_across_processes",
            single_flight_refresh_across_processes,
        ),
        (
            "single_flight_refresh_across_processes_oidc",
            single_flight_refresh_across_processes_oidc,
        ),
        (
            "sigkilled_writers_never_corrupt_the_file",
            sigkilled_writers_never_corrupt_the_file,
        ),
    ];
    let mut passed = 0;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        test();
        println!("test {name} ... ok");
        passed += 1;
    }
    println!("{passed} passed, 0 failed");
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} not set"))
}

/// Options for the worker's provider: juliahub at MP_SERVER, or oidc with
/// MP_SERVER as the issuer (MP_PROVIDER=oidc).
fn worker_options() -> Options {
    let mut o = Options::new();
    if std::env::var("MP_PROVIDER").as_deref() == Ok("oidc") {
        o.set("provider", "oidc").unwrap();
        o.set("issuer", &env("MP_SERVER")).unwrap();
        o.set("client_id", PUBLIC_CLIENT).unwrap();
    } else {
        o.set("server", &env("MP_SERVER")).unwrap();
    }
    o.set("token_path", &env("MP_TOKEN_PATH")).unwrap();
    o.set("interactive", "false").unwrap();
    o.set("validate", "false").unwrap();
    o.set("timeout_ms", "30000").unwrap();
    o
}

/// Calls token() from many threads until the time is up; every new token is
/// checked against the server at once. Prints `calls errors rejected` and then
/// a hash of each distinct token (never the token itself).
fn reader_worker() {
    let threads: usize = env("MP_THREADS").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(env("MP_SECONDS").parse().unwrap());
    let server = env("MP_SERVER");
    let auth = authenticate(&worker_options()).unwrap();
    let seen = Mutex::new(HashSet::new());
    let (calls, errors, rejected) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let (mut calls, mut errors, mut rejected) = (0u64, 0u64, 0u64);
                    while Instant::now() < deadline {
                        calls += 1;
                        match auth.token() {
                            Ok(token) => {
                                let new = seen.lock().unwrap().insert(token.expose().to_string());
                                if new && !accepted_by_server(&server, token.expose()) {
                                    rejected += 1;
                                }
                            }
                            Err(e) => {
                                eprintln!("token() failed: {e}");
                                errors += 1;
                            }
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    (calls, errors, rejected)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    });
    println!("{calls} {errors} {rejected}");
    for token in seen.lock().unwrap().iter() {
        println!("{:016x}", fingerprint(token));
    }
}

fn fingerprint(token: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

/// Asks the server whether it accepts `token` now: JuliaHub's /api/v1, or
/// the oidc-provider's introspection.
fn accepted_by_server(server: &str, token: &str) -> bool {
    if std::env::var("MP_PROVIDER").as_deref() == Ok("oidc") {
        let form = vec![
            ("token".to_string(), token.to_string()),
            ("client_id".to_string(), PUBLIC_CLIENT.to_string()),
        ];
        net::send(Request::post(
            format!("{server}/token/introspection"),
            net::Body::Form(form),
        ))
        .ok()
        .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .is_some_and(|v| v["active"] == true)
    } else {
        net::send(Request::get(format!("{server}/api/v1")).bearer(token))
            .is_ok_and(|r| r.status == 200)
    }
}

/// Runs the reader workers and returns (calls, errors, rejected, generations).
fn run_readers(provider: &str, server: &str, path: &Path) -> (u64, u64, u64, usize) {
    let workers: Vec<_> = (0..PROCESSES)
        .map(|_| {
            spawn_worker(
                "reader",
                server,
                path,
                &[
                    ("MP_PROVIDER", provider.to_string()),
                    ("MP_THREADS", THREADS.to_string()),
                    ("MP_SECONDS", READ_SECONDS.to_string()),
                ],
            )
        })
        .collect();
    let mut totals = (0u64, 0u64, 0u64);
    let mut generations = HashSet::new();
    for mut worker in workers {
        let mut lines = BufReader::new(worker.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        generations.extend(lines.map(Result::unwrap));
        assert!(worker.wait().unwrap().success(), "a worker failed");
        let n: Vec<u64> = first
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        totals = (totals.0 + n[0], totals.1 + n[1], totals.2 + n[2]);
    }
    (totals.0, totals.1, totals.2, generations.len())
}

/// Saves a fresh expired token family and refreshes it, forever (until killed).
fn writer_worker() {
    let server = env("MP_SERVER");
    loop {
        let issued = net::send(Request::post(
            format!("{server}/_test/issue?ttl_s=-5"),
            net::Body::None,
        ))
        .unwrap();
        hubauth::save_token(
            &worker_options(),
            std::str::from_utf8(&issued.body).unwrap(),
        )
        .unwrap();
        authenticate(&worker_options()).unwrap();
    }
}

fn spawn_worker(
    kind: &str,
    server: &str,
    path: &Path,
    extra: &[(&str, String)],
) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--worker", kind])
        .env("MP_SERVER", server)
        .env("MP_TOKEN_PATH", path)
        .env("HUBAUTH_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn single_flight_refresh_across_processes() {
    let server = JuliaHubServer::start();
    server.configure(|c| c.token_ttl_s = TOKEN_TTL_S);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, server.issue_token_toml(TOKEN_TTL_S)).unwrap();
    let started = Instant::now();
    let (calls, errors, rejected, generations) = run_readers("juliahub", &server.url(), &path);
    let elapsed = started.elapsed().as_secs_f64();
    let stats = server.stats();
    println!(
        "  {PROCESSES} processes x {THREADS} threads, {elapsed:.1} s: {calls} calls, \
         {} token generations, {} refreshes, reuse {}",
        generations, stats.refreshes, stats.refresh_reuse_detected
    );
    assert_eq!(errors, 0, "every call returned a token");
    assert_eq!(
        rejected, 0,
        "every token handed out was accepted by the server"
    );
    assert_eq!(
        stats.refresh_reuse_detected, 0,
        "no refresh token presented twice"
    );
    assert_eq!(stats.refresh_rejections, 0);
    // Each expiry of the handed-out token is one refresh, seen by everyone: the
    // generations handed out are the first token plus one per refresh.
    assert_eq!(
        stats.refreshes as usize,
        generations - 1,
        "one refresh per expiry across all processes"
    );
    // A 4 s token (expires_at rounded down by the server) is refreshed when
    // half its lifetime is left: every 1 to 2 s.
    let refreshes = stats.refreshes as f64;
    assert!(
        refreshes >= READ_SECONDS as f64 / 2.0 - 1.0 && refreshes <= READ_SECONDS as f64 + 1.0,
        "{refreshes} refreshes in {READ_SECONDS} s"
    );
    assert!(calls > 1000);
}

fn single_flight_refresh_across_processes_oidc() {
    let server = OidcServer::with_ttl(TOKEN_TTL_S as u64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.toml");
    // One device login (approved by the hook) stores the first token family.
    let mut options = server.options(PUBLIC_CLIENT, &path);
    let hook_calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    options.set_hook(Some(server.hook(false, hook_calls)));
    drop(authenticate(&options).unwrap());
    let started = Instant::now();
    let (calls, errors, rejected, generations) = run_readers("oidc", &server.issuer, &path);
    let elapsed = started.elapsed().as_secs_f64();
    let refreshes = server.stat(&["token_success", "refresh_token"]);
    println!(
        "  oidc-provider, {PROCESSES} processes x {THREADS} threads, {elapsed:.1} s: {calls} calls, \
         {generations} token generations, {refreshes} refreshes, reuse {}, grants revoked {}",
        server.stat(&["refresh_reuse"]),
        server.stat(&["grants_revoked"])
    );
    assert_eq!(errors, 0, "every call returned a token");
    assert_eq!(
        rejected, 0,
        "every token handed out was active at the server"
    );
    assert_eq!(
        server.stat(&["refresh_reuse"]),
        0,
        "no refresh token presented twice"
    );
    assert_eq!(
        server.stat(&["grants_revoked"]),
        0,
        "the grant was never revoked"
    );
    assert_eq!(server.stat(&["refresh_errors"]), 0);
    assert_eq!(
        refreshes as usize,
        generations - 1,
        "one refresh per expiry"
    );
    assert!(refreshes as f64 >= READ_SECONDS as f64 / TOKEN_TTL_S as f64 - 1.0);
    assert!(calls > 1000);
}

fn sigkilled_writers_never_corrupt_the_file() {
    let server = JuliaHubServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, server.issue_token_toml(3600)).unwrap();
    let mut rng = Lcg::seeded();
    let started = Instant::now();
    for round in 0..KILLS {
        let mut writer = spawn_worker("writer", &server.url(), &path, &[]);
        std::thread::sleep(Duration::from_micros(rng.below(40_000) + 2_000));
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(writer.id() as i32, libc::SIGKILL) };
        writer.wait().unwrap();
        let stored = pkg_toml::load(&path)
            .unwrap_or_else(|e| panic!("round {round}: the file does not parse: {e}"))
            .expect("the file exists");
        assert!(stored.is_usable(), "round {round}: the token is not usable");
    }
    // Temp files of killed writers: age them past a minute, write once more,
    // and none older than a minute may remain.
    let temps = temp_files(dir.path());
    let old = std::time::SystemTime::now() - Duration::from_secs(120);
    for temp in &temps {
        let _ = std::fs::File::options()
            .write(true)
            .open(temp)
            .and_then(|f| f.set_modified(old));
    }
    std::fs::write(&path, server.issue_token_toml(3600)).unwrap();
    let mut o = Options::new();
    o.set("server", &server.url()).unwrap();
    o.set("token_path", path.to_str().unwrap()).unwrap();
    hubauth::save_token(&o, &server.issue_token_toml(3600)).unwrap();
    let left = temp_files(dir.path());
    println!(
        "  {KILLS} writers killed in {:.1} s; {} temp files left by them, {} after the sweep",
        started.elapsed().as_secs_f64(),
        temps.len(),
        left.len()
    );
    assert!(left.is_empty(), "stale temp files remain: {left:?}");
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp."))
        .collect()
}

/// A tiny generator for kill delays (no need for a crate).
struct Lcg(u64);

impl Lcg {
    fn seeded() -> Lcg {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).unwrap();
        Lcg(u64::from_le_bytes(seed) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
