//! Helpers for tests against the in-process JuliaHub-protocol server.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::JuliaHubServer;
use hubauth::{HookAction, Options};

/// A server plus an isolated depot; the token file lives where Pkg puts it.
pub struct Fixture {
    pub server: JuliaHubServer,
    pub dir: tempfile::TempDir,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with(JuliaHubServer::start())
    }

    pub fn with(server: JuliaHubServer) -> Fixture {
        Fixture {
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `<depot>/servers/127.0.0.1_PORT/auth.toml`
    pub fn token_path(&self) -> PathBuf {
        self.dir
            .path()
            .join("servers")
            .join(self.server.server_dir_name())
            .join("auth.toml")
    }

    /// Options for this server and file, fast polling, no browser.
    pub fn options(&self) -> Options {
        let mut o = Options::new();
        o.set("server", &self.server.url()).unwrap();
        o.set("token_path", self.token_path().to_str().unwrap())
            .unwrap();
        o.set("poll_interval_ms", "100").unwrap();
        o.set("interactive", "false").unwrap();
        o.set("timeout_ms", "20000").unwrap();
        o
    }

    /// Writes a token the server issued, valid for `ttl_s` (negative: expired).
    pub fn store_token(&self, ttl_s: i64) -> crate::JuliaHubToken {
        let token = self.server.issue_token(ttl_s);
        let path = self.token_path();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, token.to_toml()).unwrap();
        token
    }

    pub fn stored_text(&self) -> String {
        std::fs::read_to_string(self.token_path()).unwrap()
    }

    pub fn stored_table(&self) -> toml::Table {
        self.stored_text().parse().unwrap()
    }

    pub fn stored_id_token(&self) -> String {
        self.stored_table()["id_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A hook that plays the browser: it records the URL and visits it from a
/// background thread (the login polls only after the hook returns).
#[derive(Clone, Default)]
pub struct BrowserHook {
    pub urls: Arc<Mutex<Vec<String>>>,
    pub calls: Arc<AtomicUsize>,
}

impl BrowserHook {
    pub fn install(&self, options: &mut Options) {
        let me = self.clone();
        options.set_hook(Some(Arc::new(move |url: &str| {
            me.calls.fetch_add(1, Ordering::SeqCst);
            me.urls.lock().unwrap().push(url.to_string());
            let url = url.to_string();
            std::thread::spawn(move || {
                let _ = crate::http::get(&url);
            });
            HookAction::Continue
        })));
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn last_url(&self) -> String {
        self.urls
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}
