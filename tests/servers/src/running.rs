//! What every protocol server shares: the handle that starts it on
//! 127.0.0.1 and reads or changes its config and counters, and the control
//! endpoints `GET /_test/stats`, `POST /_test/reset_stats` and
//! `GET|POST /_test/config`. A protocol implements [`Protocol`]; its public
//! handle is `Running<ItsState>` (e.g. `JuliaHubServer`).

use std::io;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::http::{Handler, Request, Response, Server};

/// A protocol's shared state, as the handle and control endpoints see it.
pub trait Protocol: Handler + Sized {
    /// For messages, e.g. "JuliaHub".
    const NAME: &'static str;
    type Config: Clone + Serialize + Send + ConfigPatch;
    type Stats: Clone + Default + Serialize + Send;

    /// The state of a fresh server with `config`.
    fn new(config: Self::Config) -> Self;

    /// Runs `f` on the config and counters, under the state's lock.
    fn with_control<R>(&self, f: impl FnOnce(&mut Self::Config, &mut Self::Stats) -> R) -> R;

    /// Called after the config changed (through the handle or the endpoint).
    fn config_changed(_config: &Self::Config) {}
}

/// A config that `POST /_test/config` can change.
pub trait ConfigPatch {
    /// Applies a JSON object holding any subset of the fields; an error leaves
    /// the config unchanged.
    fn apply_json(&mut self, patch: &Value) -> Result<(), String>;
}

/// Calls `f` when the request uses `method`, else answers 405.
pub(crate) fn route<P>(
    state: &P,
    req: &Request,
    method: &str,
    f: fn(&P, &Request) -> Response,
) -> Response {
    if req.method == method {
        f(state, req)
    } else {
        method_not_allowed(method)
    }
}

/// 404 for a path the protocol does not serve.
pub(crate) fn not_found(req: &Request) -> Response {
    Response::error(
        404,
        "not_found",
        &format!("no such endpoint: {} {}", req.method, req.path),
    )
}

/// Answers the control endpoints every protocol shares; None for any other path.
pub fn control_route<P: Protocol>(state: &P, req: &Request) -> Option<Response> {
    let method = req.method.as_str();
    let response = match (req.path.as_str(), method) {
        ("/_test/stats", "GET") => state.with_control(|_, stats| Response::json(200, stats)),
        ("/_test/reset_stats", "POST") => state.with_control(|_, stats| {
            *stats = P::Stats::default();
            Response::json(200, &json!({}))
        }),
        ("/_test/config", "GET") => state.with_control(|config, _| Response::json(200, config)),
        ("/_test/config", "POST") => {
            let patch = match req.json() {
                Ok(v) => v,
                Err(r) => return Some(r),
            };
            state.with_control(|config, _| match config.apply_json(&patch) {
                Ok(()) => {
                    P::config_changed(config);
                    Response::json(200, config)
                }
                Err(e) => Response::error(400, "invalid_request", &e),
            })
        }
        ("/_test/stats", _) => method_not_allowed("GET"),
        ("/_test/config", _) => method_not_allowed("GET, POST"),
        ("/_test/reset_stats", _) => method_not_allowed("POST"),
        _ => return None,
    };
    Some(response)
}

/// 405 with the allowed method(s).
fn method_not_allowed(allowed: &str) -> Response {
    Response::error(
        405,
        "invalid_request",
        &format!("method not allowed; use {allowed}"),
    )
    .with_header("Allow", allowed)
}

/// A running protocol server on `127.0.0.1`; stops when dropped.
pub struct Running<P> {
    pub(crate) state: Arc<P>,
    server: Server,
}

impl<P: Protocol> Running<P> {
    /// Starts on a free port with `config`. Panics if it cannot bind.
    pub fn start_with(config: P::Config) -> Self {
        Self::start_on(0, config)
            .unwrap_or_else(|e| panic!("binding a {} test server on 127.0.0.1: {e}", P::NAME))
    }

    /// Starts on `127.0.0.1:port` (0 = any free port).
    pub fn start_on(port: u16, config: P::Config) -> io::Result<Self> {
        P::config_changed(&config);
        let state = Arc::new(P::new(config));
        let server = Server::start_on(port, state.clone())?;
        Ok(Running { state, server })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    /// Changes the config in place, e.g. `s.configure(|c| c.deny = true)`.
    pub fn configure(&self, f: impl FnOnce(&mut P::Config)) {
        self.state.with_control(|config, _| {
            f(config);
            P::config_changed(config);
        });
    }

    /// A copy of the current config.
    pub fn config(&self) -> P::Config {
        self.state.with_control(|config, _| config.clone())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> P::Stats {
        self.state.with_control(|_, stats| stats.clone())
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.state
            .with_control(|_, stats| *stats = P::Stats::default());
    }
}

impl<P: Protocol> Running<P>
where
    P::Config: Default,
{
    /// Starts on a free port with the default config. Panics if it cannot bind.
    pub fn start() -> Self {
        Self::start_with(P::Config::default())
    }
}
