//! Secrets do not stay in freed memory (issue 13).
//!
//! A helper process (this test binary re-executed with MEMORY_CHILD set)
//! refreshes a confidential client's token against the real oidc-provider
//! (tests/oidc-server): it reads the stored old tokens, sends the old refresh
//! token and the client secret, gets and saves a new access and refresh token,
//! hands out the access token, then frees every handle (and makes another
//! authentication the current one, so the library holds none of them). Then
//! it scans its own memory (/proc/self/maps + /proc/self/mem, every readable
//! region) for each of those secrets and reports where it found them.
//!
//! The secrets to look for reach the child only XOR-masked, after it freed
//! everything, and are compared masked, so the scan never plants a plain copy.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hubauth::{Options, authenticate};

use hubauth_testkit::oidc_server::{CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, OidcServer};

const MASK: u8 = 0xA5;
const CHILD_ENV: &str = "MEMORY_CHILD";
const CHILD_TEST: &str = "secrets_do_not_stay_in_freed_memory";

fn masked(s: &str) -> String {
    s.bytes().map(|b| format!("{:02x}", b ^ MASK)).collect()
}

fn unmask_hex(hex: &str) -> Vec<u8> {
    // Still masked: only ever compared with masked memory.
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn stored(path: &Path, key: &str) -> String {
    let table: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    table[key].as_str().unwrap().to_string()
}

fn wait_until_expired(path: &Path) {
    let table: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let expires_at = table["expires_at"].as_integer().unwrap() as f64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    if expires_at + 0.2 > now {
        std::thread::sleep(Duration::from_secs_f64(expires_at + 0.2 - now));
    }
}

#[test]
fn secrets_do_not_stay_in_freed_memory() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
        return;
    }
    let server = OidcServer::with_ttl(2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.toml");
    // A device login of the confidential client, in this process (hubauth
    // itself logs a confidential client in with client credentials, which
    // give no refresh token).
    device_login(&server, &path);
    let old_access = stored(&path, "access_token");
    let old_refresh = stored(&path, "refresh_token");
    wait_until_expired(&path);
    let refreshes = server.stat(&["token_success", "refresh_token"]);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("MEMORY_ISSUER", &server.issuer)
        .env("MEMORY_TOKEN_PATH", &path)
        .env("HUBAUTH_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = child.stdin.take().unwrap();
    let mut from_child = BufReader::new(child.stdout.take().unwrap());
    let probe = format!("memory-probe-{}", std::process::id() as u64 * 7919 + 104729);
    writeln!(to_child, "{}", masked(&probe)).unwrap();
    // The client secret goes in masked: not in the child's argv or environ.
    writeln!(to_child, "{}", masked(CONFIDENTIAL_SECRET)).unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            from_child.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
        // libtest may print "test NAME ... " before the child's own output.
        if line.trim_end().ends_with("FREED") {
            break;
        }
        assert!(!line.contains("ERROR "), "{line}");
    }
    assert_eq!(
        server.stat(&["token_success", "refresh_token"]),
        refreshes + 1,
        "the child refreshed"
    );
    let new_access = stored(&path, "access_token");
    let new_refresh = stored(&path, "refresh_token");
    assert_ne!(new_access, old_access);
    assert_ne!(
        new_refresh, old_refresh,
        "the server rotates refresh tokens"
    );
    let secrets = [
        ("live probe", probe.as_str()),
        ("old refresh token", old_refresh.as_str()),
        ("new refresh token", new_refresh.as_str()),
        ("new access token", new_access.as_str()),
        ("client secret", CONFIDENTIAL_SECRET),
        ("old access token", old_access.as_str()),
    ];
    for (name, value) in secrets {
        writeln!(to_child, "{name}\t{}", masked(value)).unwrap();
    }
    drop(to_child);
    let mut report = String::new();
    from_child.read_to_string(&mut report).unwrap();
    let status = child.wait().unwrap();
    println!("{report}");
    assert!(status.success(), "{report}");
    assert!(
        report.contains("SCANNED"),
        "the child did not scan: {report}"
    );
    let found: Vec<&str> = report.lines().filter(|l| l.starts_with("FOUND")).collect();
    // The scan finds what is there: the child's live probe.
    assert!(
        found.iter().any(|l| l.starts_with("FOUND live probe")),
        "the scan missed a live value: {report}"
    );
    // Copies in HTTP wire buffers: hyper's read buffer (the raw token reply)
    // and reqwest's encoded form body (refresh token, client secret). hubauth
    // hands those to the HTTP stack and cannot zero them.
    let wire = |l: &str| {
        ["_token\\\":\\\"", "client_secret=", "refresh_token="]
            .iter()
            .any(|m| l.contains(m))
    };
    let leftovers = |name: &str| -> Vec<&str> {
        found
            .iter()
            .copied()
            .filter(|l| l.starts_with(&format!("FOUND {name} at")) && !wire(l))
            .collect()
    };
    // What hubauth owns is zeroed: the stored files' bytes and tables, the
    // TOML written, the response body, the typed token reply (its tokens are
    // Secrets, its other fields scrubbed on drop). Only wire buffers remain.
    for name in ["old refresh token", "client secret", "old access token"] {
        let left = leftovers(name);
        assert!(
            left.is_empty(),
            "{name} left outside wire buffers: {left:#?}"
        );
    }
    for name in ["new access token", "new refresh token"] {
        let left = leftovers(name);
        assert!(
            left.is_empty(),
            "{name} left {} times outside wire buffers: {left:#?}",
            left.len()
        );
    }
}

/// A device login of the confidential client (offline_access: with a refresh
/// token), stored where the child will find it.
fn device_login(server: &OidcServer, path: &Path) {
    use hubauth::net::{self, Body, Request};
    let control = server.control();
    let discovery: serde_json::Value = serde_json::from_slice(
        &net::send(Request::get(
            control.url("/.well-known/openid-configuration"),
        ))
        .unwrap()
        .body,
    )
    .unwrap();
    let client = |mut form: Vec<(String, String)>| {
        form.push(("client_id".into(), CONFIDENTIAL_CLIENT.into()));
        form.push(("client_secret".into(), CONFIDENTIAL_SECRET.into()));
        Body::Form(form)
    };
    let endpoint = discovery["device_authorization_endpoint"].as_str().unwrap();
    let reply = net::send(Request::post(
        endpoint,
        client(vec![("scope".into(), "openid offline_access".into())]),
    ))
    .unwrap();
    let device: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    control.approve(device["user_code"].as_str().unwrap());
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap();
    let reply = net::send(Request::post(
        token_endpoint,
        client(vec![
            (
                "grant_type".into(),
                "urn:ietf:params:oauth:grant-type:device_code".into(),
            ),
            (
                "device_code".into(),
                device["device_code"].as_str().unwrap().into(),
            ),
        ]),
    ))
    .unwrap();
    assert_eq!(reply.status, 200);
    let grant = hubauth::reply::TokenReply::from_json(
        serde_json::from_slice(&reply.body).unwrap(),
        "device token",
    )
    .unwrap();
    assert!(grant.refresh_token.is_some());
    let mut token = hubauth::store::oidc_toml::OidcToken::new(&control.issuer, CONFIDENTIAL_CLIENT);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    token.apply_grant(&grant, now);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    hubauth::store::oidc_toml::save(path, &token).unwrap();
}

/// The helper process: refresh, free everything, scan.
fn child() {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    // A positive control: a live copy of a value the scan must find.
    input.read_line(&mut line).unwrap();
    let probe: String = unmask_hex(line.trim())
        .into_iter()
        .map(|b| (b ^ MASK) as char)
        .collect();
    line.clear();
    input.read_line(&mut line).unwrap();
    {
        let secret = zeroize::Zeroizing::new(
            unmask_hex(line.trim())
                .into_iter()
                .map(|b| (b ^ MASK) as char)
                .collect::<String>(),
        );
        let path = PathBuf::from(std::env::var_os("MEMORY_TOKEN_PATH").unwrap());
        let mut o = Options::new();
        o.set("provider", "oidc").unwrap();
        o.set("issuer", &std::env::var("MEMORY_ISSUER").unwrap())
            .unwrap();
        o.set("client_id", CONFIDENTIAL_CLIENT).unwrap();
        o.set("client_secret", &secret).unwrap();
        o.set("token_path", path.to_str().unwrap()).unwrap();
        o.set("interactive", "false").unwrap();
        o.set("validate", "false").unwrap();
        drop(secret);
        match authenticate(&o).and_then(|auth| auth.token().map(|t| (auth, t))) {
            Ok((auth, token)) => {
                drop(token);
                drop(auth);
            }
            Err(e) => {
                println!("ERROR {e}");
                return;
            }
        }
        drop(o);
        // The library keeps the most recent authentication as the current
        // one; make another (with no secret of the server's) current.
        let mut other = Options::new();
        other.set("server", "http://127.0.0.1:9").unwrap();
        other.set("token", "not-a-secret-of-the-server").unwrap();
        other.set("validate", "false").unwrap();
        drop(authenticate(&other).unwrap());
    }
    line.clear();
    println!("FREED");
    std::io::stdout().flush().unwrap();
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        line.clear();
        if input.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let (name, hex) = line.trim_end().split_once('\t').unwrap();
        // The allocator writes its own pointers over the first bytes of a
        // freed block: look for the last 20 bytes, which survive.
        let masked = unmask_hex(hex);
        let tail = masked[masked.len().saturating_sub(20)..].to_vec();
        needles.push((name.to_string(), tail));
    }
    for hit in scan(&needles) {
        println!("FOUND {hit}");
    }
    println!("SCANNED {} secrets", needles.len());
    std::hint::black_box(&probe);
}

/// Every place in this process's readable memory where a (masked) needle
/// occurs, as "name at 0x… in <region>".
fn scan(needles: &[(String, Vec<u8>)]) -> Vec<String> {
    const CHUNK: usize = 1 << 20;
    let longest = needles.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
    // The scan's own buffer (masked copies of memory) is skipped.
    let mut buffer = vec![0u8; CHUNK + longest];
    let own = (
        buffer.as_ptr() as usize,
        buffer.as_ptr() as usize + buffer.len(),
    );
    let mut first = [false; 256];
    for (_, n) in needles {
        first[n[0] as usize] = true;
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut mem = File::open("/proc/self/mem").unwrap();
    let mut hits = Vec::new();
    for region in maps.lines() {
        let mut fields = region.split_whitespace();
        let range = fields.next().unwrap();
        let perms = fields.next().unwrap();
        let name = region.split_whitespace().nth(5).unwrap_or("[anon]");
        // Read-only file mappings hold the program's constants (this test's
        // CONFIDENTIAL_SECRET literal), not memory anything freed.
        let writable = perms.as_bytes().get(1) == Some(&b'w');
        if !perms.starts_with('r') || !writable || name == "[vvar]" || name == "[vsyscall]" {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        let mut at = start;
        while at < end {
            let len = (end - at).min(CHUNK + longest);
            if mem.seek(SeekFrom::Start(at as u64)).is_err() {
                break;
            }
            let Ok(n) = mem.read(&mut buffer[..len]) else {
                break;
            };
            if n == 0 {
                break;
            }
            let overlaps_own = at < own.1 && own.0 < at + n;
            for b in &mut buffer[..n] {
                *b ^= MASK;
            }
            for i in 0..n {
                if !first[buffer[i] as usize] {
                    continue;
                }
                let addr = at + i;
                if overlaps_own && addr >= own.0 && addr < own.1 {
                    continue;
                }
                for (needle_name, needle) in needles {
                    if buffer[i..n].starts_with(needle) {
                        // What precedes it (the field name, a header) tells
                        // whose buffer it was; needles in it are not shown.
                        let from = i.saturating_sub(80);
                        let before: String = buffer[from..i]
                            .iter()
                            .map(|b| b ^ MASK)
                            .map(|b| {
                                if b.is_ascii_graphic() || b == b' ' {
                                    b as char
                                } else {
                                    '.'
                                }
                            })
                            .collect();
                        hits.push(format!(
                            "{needle_name} at {addr:#x} in {name} ({perms}) after {before:?}"
                        ));
                    }
                }
            }
            if at + n >= end {
                break;
            }
            at += n.saturating_sub(longest).max(1);
        }
    }
    hits.sort();
    hits.dedup();
    hits
}
