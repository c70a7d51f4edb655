//! Issue 22, item 1 (security review round 3, findings 1 and 16): the
//! desktop's opener never sees a login URL on its command line, where every
//! local user could read it (`/proc/<pid>/cmdline`), nor the caller's
//! secrets in its environment. It gets `file:///…/login-<random>.html`, a
//! 0600 page in a 0700 directory of ours that sends the browser on.
//!
//! A fake `xdg-open`, first on PATH, records what it was given and what the
//! page was when it ran, as a browser would find it; the test then plays the
//! browser with the URL read from the page, so the login only succeeds if
//! the page leads to the real URL.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hubauth_testkit::oidc_server::{NATIVE_CLIENT, OidcServer};
use hubauth_testkit::{DagsHubServer, http};
use support::cli::Home;

/// Secrets in the caller's environment that must not reach the opener.
const SECRETS: &[(&str, &str)] = &[
    ("DAGSHUB_USER_TOKEN", "dagshub-env-secret-1"),
    ("DHCORE_PERSONAL_ACCESS_TOKEN", "dhcore-env-secret-2"),
    ("DHCORE_PASSWORD", "dhcore-env-secret-3"),
    ("HUBAUTH_TEST_SECRET", "hubauth-env-secret-4"),
];

/// A fake `xdg-open` in a new bin directory; what it records goes to
/// `<dir>/seen/`: `argv` (one argument a line, written last), `env`, the
/// page's and its directory's `stat` (mode, owner, type), and the page.
/// It then stays alive `secs` seconds with its command line, as a browser does.
fn fake_opener(secs: u32) -> (tempfile::TempDir, PathBuf) {
    let bin = tempfile::tempdir().unwrap();
    let seen = bin.path().join("seen");
    std::fs::create_dir(&seen).unwrap();
    let script = format!(
        r#"#!/bin/sh
seen='{seen}'
env > "$seen/env"
page="${{1#file://}}"
stat -c '%a %u %F' "$page" > "$seen/page_stat"
stat -c '%a %u %F' "$(dirname "$page")" > "$seen/dir_stat"
cat "$page" > "$seen/page"
for a in "$@"; do printf '%s\n' "$a"; done > "$seen/argv.part"
mv "$seen/argv.part" "$seen/argv"
sleep {secs}
"#,
        seen = seen.display()
    );
    let path = bin.path().join("xdg-open");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, seen)
}

fn wait_for(path: &Path) -> String {
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the opener was not run ({} never came)", path.display());
}

/// The URL a page sends the browser to (its meta refresh), unescaped.
fn page_target(page: &str) -> String {
    let start = page.find("content=\"0;url=").expect("a meta refresh") + 15;
    let end = start + page[start..].find('"').unwrap();
    let target = page[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    // The link says the same.
    assert!(
        page.contains(&format!("href=\"{}\"", &page[start..end])),
        "{page}"
    );
    target
}

fn query(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

/// A `hubauth login` running with the fake opener first on PATH, a runtime
/// directory of ours, a display and [`SECRETS`] in its environment.
struct CliLogin {
    home: Home,
    _bin: tempfile::TempDir,
    seen: PathBuf,
    runtime: PathBuf,
    path: String,
    child: std::process::Child,
}

impl CliLogin {
    fn start(args: &[&str]) -> CliLogin {
        CliLogin::start_lingering(args, 0)
    }

    /// [`CliLogin::start`] with an opener that stays alive `secs` seconds.
    fn start_lingering(args: &[&str], secs: u32) -> CliLogin {
        let home = Home::new();
        let (bin, seen) = fake_opener(secs);
        // A runtime directory of ours, as a desktop session has.
        let runtime = home.dir.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let child = home
            .command(args)
            .env("PATH", &path)
            .env("DISPLAY", ":99")
            .env("XDG_RUNTIME_DIR", &runtime)
            .envs(SECRETS.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        CliLogin {
            home,
            _bin: bin,
            seen,
            runtime,
            path,
            child,
        }
    }

    /// What the opener was given (its arguments) and the page it found.
    fn opened(&self) -> (Vec<String>, String) {
        let argv = wait_for(&self.seen.join("argv"));
        let page = std::fs::read_to_string(self.seen.join("page")).unwrap();
        (argv.lines().map(String::from).collect(), page)
    }

    /// Waits for the login to end; its stderr.
    fn finish(self) -> (std::process::ExitStatus, String, FinishedLogin) {
        let output = self.child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (
            output.status,
            stderr,
            FinishedLogin {
                _home: self.home,
                _bin: self._bin,
                seen: self.seen,
                runtime: self.runtime,
                path: self.path,
            },
        )
    }
}

/// A finished [`CliLogin`]: what is left to check.
struct FinishedLogin {
    _home: Home,
    _bin: tempfile::TempDir,
    seen: PathBuf,
    runtime: PathBuf,
    path: String,
}

impl FinishedLogin {
    /// The opener's command line was the page's file:// URL alone, in the
    /// runtime directory; the page, as the opener found it, ours, 0600 in a
    /// 0700 directory of ours; its environment the desktop's variables and
    /// none of the secrets; and the page is gone now the login is over.
    fn check_opener(&self, argv: &[String]) {
        assert_eq!(argv.len(), 1, "{argv:?}");
        let file_url = &argv[0];
        assert!(
            file_url.starts_with(&format!("file://{}/", self.runtime.display())),
            "{file_url}"
        );
        assert!(
            file_url.ends_with(".html") && !file_url.contains(['?', '&', '=']),
            "{file_url}"
        );
        let uid = my_uid();
        let stat = |name: &str| {
            std::fs::read_to_string(self.seen.join(name))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(stat("page_stat"), format!("600 {uid} regular file"));
        assert_eq!(stat("dir_stat"), format!("700 {uid} directory"));

        let env = std::fs::read_to_string(self.seen.join("env")).unwrap();
        for (name, value) in SECRETS {
            assert!(!env.contains(value), "{name}'s value reached the opener");
        }
        for line in env.lines() {
            let name = line.split('=').next().unwrap();
            assert!(
                !["DAGSHUB_", "DHCORE_", "HUBAUTH_", "JULIA_"]
                    .iter()
                    .any(|p| name.starts_with(p)),
                "{name} reached the opener"
            );
        }
        assert!(env.lines().any(|l| l == "DISPLAY=:99"), "{env}");
        assert!(
            env.lines().any(|l| l == format!("PATH={}", self.path)),
            "{env}"
        );

        let page = Path::new(file_url.strip_prefix("file://").unwrap());
        assert!(!page.exists(), "{}", page.display());
        assert!(!page.parent().unwrap().exists());
        assert_eq!(std::fs::read_dir(&self.runtime).unwrap().count(), 0);
    }
}

/// `hubauth login` with the test OIDC server's native client, `flow`
/// (`flow=browser` or `flow=device`) and 25 s.
fn oidc_login<'a>(issuer: &'a str, flow: &'static str) -> [&'a str; 11] {
    [
        "login",
        "--provider",
        "oidc",
        "--issuer",
        issuer,
        "--client-id",
        NATIVE_CLIENT,
        "-o",
        flow,
        "--timeout",
        "25",
    ]
}

/// `hubauth login` (the CLI's own hook launches the opener) for a browser
/// login: the opener gets only the page; the page leads to the real URL, and
/// the login completes through it.
#[test]
fn a_browser_login_shows_the_opener_a_private_page_only() {
    let server = OidcServer::start();
    let login = CliLogin::start(&oidc_login(&server.issuer, "flow=browser"));
    let (argv, page) = login.opened();
    let url = page_target(&page);
    // Play the browser: follow the page to the login, and back to hubauth.
    let reply = server.browse(&url, true);
    assert_eq!(reply["status"], 200, "{reply}");
    let (status, stderr, done) = login.finish();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("as alice"), "{stderr}");

    // The real URL, as the user was shown it, is what the page leads to;
    // none of its parameters is on the command line.
    assert!(
        url.starts_with(&format!("{}/auth?", server.issuer)),
        "{url}"
    );
    assert!(stderr.contains(&url), "{stderr}");
    let state = query(&url, "state").unwrap();
    let challenge = query(&url, "code_challenge").unwrap();
    let redirect = query(&url, "redirect_uri").unwrap();
    for secret in [&state, &challenge, &redirect] {
        assert!(!argv[0].contains(secret.as_str()), "{secret} in {argv:?}");
    }
    assert!(page.contains(&state) && page.contains(&challenge), "{page}");
    done.check_opener(&argv);
}

/// The same for DagsHub's OAuth login, whose URL carries the middleman
/// request id: whoever polls with it receives the authorization code.
#[test]
fn a_dagshub_login_keeps_the_middleman_request_id_off_the_command_line() {
    const CLIENT_ID: &str = "hubauth-test-client";
    let server = DagsHubServer::start();
    server.configure(|c| c.client_id = CLIENT_ID.into());
    let login = CliLogin::start(&[
        "login",
        "--provider",
        "dagshub",
        "--server",
        &server.url(),
        "-o",
        &format!("client_id={CLIENT_ID}"),
        "--timeout",
        "25",
    ]);
    let (argv, page) = login.opened();
    let url = page_target(&page);
    // The browser opens the authorize page, where the user approves.
    let reply = http::get(&url).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (status, stderr, done) = login.finish();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("as alice"), "{stderr}");

    assert!(url.contains("/login/oauth/authorize?"), "{url}");
    let request_id = query(&url, "middleman_request_id").unwrap();
    let state = query(&url, "state").unwrap();
    assert_eq!(request_id.len(), 64);
    for secret in [&request_id, &state] {
        assert!(!argv[0].contains(secret.as_str()), "{secret} in {argv:?}");
    }
    assert!(page.contains(&request_id), "{page}");
    assert_eq!(server.stats().authorize_visits, 1);
    done.check_opener(&argv);
}

/// The same for a device login: `verification_uri_complete` carries the
/// user code, with which another user could approve the login with their own
/// account first.
#[test]
fn a_device_login_keeps_the_user_code_off_the_command_line() {
    let server = OidcServer::start();
    let login = CliLogin::start(&oidc_login(&server.issuer, "flow=device"));
    let (argv, page) = login.opened();
    let url = page_target(&page);
    let code = query(&url, "user_code").expect("verification_uri_complete");
    server.approve(&url);
    let (status, stderr, done) = login.finish();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("as alice"), "{stderr}");
    assert!(!argv[0].contains(code.as_str()), "{code} in {argv:?}");
    assert!(page.contains(&code), "{page}");
    done.check_opener(&argv);
}

/// Issue 22 item 1 across users: another user (uid 65534 through setpriv)
/// reading every command line in `/proc` while the opener is alive finds
/// the private page's path but no login parameter, and cannot read the page.
#[test]
fn another_user_reading_command_lines_finds_no_login_parameter() {
    let is_root = my_uid() == 0;
    let setpriv = Path::new("/usr/bin/setpriv");
    if !is_root || !setpriv.exists() {
        eprintln!("SKIPPED: needs root and /usr/bin/setpriv to run the attacker as another user");
        return;
    }
    let nobody = |script: &str, dir: &Path| {
        let mut command = std::process::Command::new(setpriv);
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(["/bin/sh", "-c", script])
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        command
    };
    // The attacker's own directory, where it writes what it saw.
    let spy_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(spy_dir.path(), Some(65534), Some(65534)).unwrap();
    // Every command line it can read, over and over until told to stop
    // (at most 30 s); only the interesting ones are kept.
    let mut spy = nobody(
        r#"end=$(( $(date +%s) + 30 ))
while [ ! -e stop ] && [ "$(date +%s)" -lt "$end" ]; do
  for f in /proc/[0-9]*/cmdline; do
    # A process may exit between the glob and the read; the shell's own
    # redirection error is silenced too, not only tr's.
    l=$( { tr '\0' ' ' < "$f"; } 2>/dev/null )
    case "$l" in *file://*|*state=*|*code_challenge*|*redirect_uri*) echo "$l";; esac
  done
done | sort -u > seen.part
mv seen.part seen"#,
        spy_dir.path(),
    )
    .spawn()
    .unwrap();

    let server = OidcServer::start();
    let login = CliLogin::start_lingering(&oidc_login(&server.issuer, "flow=browser"), 3);
    let (argv, page) = login.opened();
    // While the opener is alive: the attacker knows the page's path (it is
    // on the command line) but can neither read it nor list its directory.
    let page_path = argv[0].strip_prefix("file://").unwrap().to_string();
    let read = nobody(&format!("cat '{page_path}'"), spy_dir.path())
        .output()
        .unwrap();
    assert!(!read.status.success(), "another user read the page");
    assert!(read.stdout.is_empty());
    let dir = Path::new(&page_path)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let list = nobody(&format!("ls '{dir}'"), spy_dir.path())
        .output()
        .unwrap();
    assert!(
        !list.status.success(),
        "another user listed the page's directory"
    );

    std::thread::sleep(Duration::from_secs(2));
    let url = page_target(&page);
    let reply = server.browse(&url, true);
    assert_eq!(reply["status"], 200, "{reply}");
    let (status, stderr, done) = login.finish();
    assert!(status.success(), "{stderr}");
    std::fs::write(spy_dir.path().join("stop"), "").unwrap();
    assert!(spy.wait().unwrap().success());
    let seen = std::fs::read_to_string(spy_dir.path().join("seen")).unwrap();

    // The scan did see the opener's command line, so it could have seen
    // the parameters had they been there.
    assert!(seen.contains(argv[0].as_str()), "{seen}");
    for key in ["state", "code_challenge", "redirect_uri"] {
        let value = query(&url, key).unwrap();
        assert!(
            !seen.contains(value.as_str()),
            "{key} seen by another user: {seen}"
        );
    }
    done.check_opener(&argv);
}
