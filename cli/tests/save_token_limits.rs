//! How much `save-token` takes: the CLI reads at most 64 KiB from stdin and
//! refuses more without reading on (an endless input ends at once); the
//! library (`save_token`, `hubauth_save_token`) refuses a token larger than a
//! token file may be (1 MiB) with INVALID_ARGUMENT, writing nothing.

mod support;

use std::ffi::CString;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hubauth::{ErrorKind, Options};
use support::cli::BIN;

const MAX_FILE: usize = 1024 * 1024;

const HEAD: &str = "access_token = \"a\"\nexpires_at = 9999999999\nid_token = \"";
const TAIL: &str = "\"\n";

/// An auth.toml (what juliahub's save-token takes) of `size` bytes, its
/// id token all `x`.
fn auth_toml_of_size(size: usize) -> String {
    let filler = size - (HEAD.len() + TAIL.len());
    format!("{HEAD}{}{TAIL}", "x".repeat(filler))
}

#[test]
fn the_cli_refuses_an_endless_stdin_at_once() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["save-token", "--server", "http://127.0.0.1:9"])
        .env_clear()
        .env("HOME", home.path())
        .env("JULIA_DEPOT_PATH", home.path().join("depot"))
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("save-token kept reading an endless stdin");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("larger than 64 KiB"), "{stderr}");
    assert!(!home.path().join("depot").exists(), "nothing written");
}

#[test]
fn the_cli_refuses_a_secret_file_over_64_kib_instead_of_cutting_it() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("token.txt");
    std::fs::write(&file, "t".repeat(64 * 1024 + 1)).unwrap();
    let output = Command::new(BIN)
        .args(["token", "--server", "http://127.0.0.1:9", "--token-file"])
        .arg(&file)
        .env_clear()
        .env("HOME", home.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("larger than 64 KiB"), "{stderr}");
}

fn juliahub_options(dir: &std::path::Path) -> Options {
    let mut o = Options::new();
    o.set("server", "http://127.0.0.1:9").unwrap();
    o.set("interactive", "false").unwrap();
    o.set("validate", "false").unwrap();
    o.set("token_path", dir.join("auth.toml").to_str().unwrap())
        .unwrap();
    o
}

#[test]
fn the_library_refuses_a_token_larger_than_a_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let options = juliahub_options(dir.path());
    let too_large = auth_toml_of_size(MAX_FILE + 1);
    let err = hubauth::save_token(&options, &too_large).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("1024 KiB"), "{err}");
    assert!(!dir.path().join("auth.toml").exists());
    // At the limit it is taken (and read back).
    let largest = auth_toml_of_size(MAX_FILE);
    assert_eq!(largest.len(), MAX_FILE);
    hubauth::save_token(&options, &largest).unwrap();
    let auth = hubauth::authenticate(&options).unwrap();
    let id_token = auth.token().unwrap();
    assert_eq!(id_token.expose().len(), MAX_FILE - HEAD.len() - TAIL.len());
}

#[test]
fn hubauth_save_token_refuses_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let options = hubauth::ffi::hubauth_options_new();
    for (key, value) in [
        ("server", "http://127.0.0.1:9".to_string()),
        (
            "token_path",
            dir.path().join("auth.toml").to_str().unwrap().to_string(),
        ),
    ] {
        let (key, value) = (CString::new(key).unwrap(), CString::new(value).unwrap());
        let status = hubauth::ffi::hubauth_options_set(
            options,
            key.as_ptr(),
            value.as_ptr(),
            std::ptr::null_mut(),
        );
        assert_eq!(status, 0);
    }
    let token = CString::new(auth_toml_of_size(MAX_FILE + 1)).unwrap();
    let status = hubauth::ffi::hubauth_save_token(options, token.as_ptr(), std::ptr::null_mut());
    assert_eq!(status, ErrorKind::InvalidArgument.code());
    assert!(!dir.path().join("auth.toml").exists());
    hubauth::ffi::hubauth_options_free(options);
}
