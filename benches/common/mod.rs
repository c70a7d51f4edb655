//! Shared set-up for the benchmarks: an isolated token file (never the real
//! `~/.julia`) holding a token the JuliaHub-protocol test server issued, and
//! helpers to drive the C ABI from Rust.
#![allow(dead_code)] // each bench uses a different part

use std::ffi::CString;
use std::path::PathBuf;
use std::ptr;

use hubauth::ffi::{
    HUBAUTH_OK, hubauth_auth, hubauth_authenticate, hubauth_options, hubauth_options_free,
    hubauth_options_new, hubauth_options_set,
};
use hubauth_testkit::JuliaHubServer;

/// A temp directory with `auth.toml` in it; removed on drop.
pub struct StoredToken {
    pub dir: tempfile::TempDir,
    pub server_url: String,
    /// The token file's contents (auth.toml, as PkgAuthentication writes it).
    pub toml: String,
    pub id_token: String,
}

impl StoredToken {
    /// A token valid for `ttl_s` seconds, issued by a loopback server that is
    /// stopped again: with validate=false nothing talks to it afterwards.
    pub fn fresh(ttl_s: i64) -> StoredToken {
        StoredToken::fresh_padded(ttl_s, 0)
    }

    /// Like [`fresh`](Self::fresh), with the id_token lengthened to at least
    /// `min_len` bytes (real JuliaHub id_tokens are JWTs of about 1 KiB; the
    /// test server's are about 230 bytes). Nothing checks it: validate=false.
    pub fn fresh_padded(ttl_s: i64, min_len: usize) -> StoredToken {
        let server = JuliaHubServer::start();
        let mut token = server.issue_token(ttl_s);
        while token.id_token.len() < min_len {
            token
                .id_token
                .push_str("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let toml = token.to_toml();
        write_0600(&dir.path().join("auth.toml"), &toml);
        StoredToken {
            dir,
            server_url: server.url(),
            toml,
            id_token: token.id_token,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("auth.toml")
    }
}

/// Writes a token file as hubauth and Pkg do: mode 0600.
pub fn write_0600(path: &std::path::Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("open token file");
    file.write_all(text.as_bytes()).expect("write token file");
}

/// The options every benchmark uses: this server and file, no validation
/// (no network), no interactive login.
pub fn option_pairs(server_url: &str, token_path: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("provider".into(), "juliahub".into()),
        ("server".into(), server_url.into()),
        ("token_path".into(), token_path.to_str().unwrap().into()),
        ("validate".into(), "false".into()),
        ("interactive".into(), "false".into()),
    ]
}

/// `hubauth_options` built through the C ABI.
pub struct COptions(pub *mut hubauth_options);

impl COptions {
    pub fn new(pairs: &[(String, String)]) -> COptions {
        let o = hubauth_options_new();
        assert!(!o.is_null());
        for (key, value) in pairs {
            let key = CString::new(key.as_str()).unwrap();
            let value = CString::new(value.as_str()).unwrap();
            let status = hubauth_options_set(o, key.as_ptr(), value.as_ptr(), ptr::null_mut());
            assert_eq!(status, HUBAUTH_OK, "hubauth_options_set({key:?})");
        }
        COptions(o)
    }

    /// `hubauth_authenticate`; panics on failure.
    pub fn authenticate(&self) -> *mut hubauth_auth {
        let mut auth = ptr::null_mut();
        let status = hubauth_authenticate(self.0, &mut auth, ptr::null_mut());
        assert_eq!(status, HUBAUTH_OK, "hubauth_authenticate");
        auth
    }
}

impl Drop for COptions {
    fn drop(&mut self) {
        hubauth_options_free(self.0);
    }
}

/// Options through the Rust API.
pub fn rust_options(pairs: &[(String, String)]) -> hubauth::Options {
    let mut o = hubauth::Options::new();
    for (key, value) in pairs {
        o.set(key, value).unwrap();
    }
    o
}
