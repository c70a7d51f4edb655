//! hubauth's test kit. Loopback test servers that speak the hub protocols
//! hubauth implements, following the specs in `specs/` to the letter, for
//! Rust, C, Python and CLI tests: in-process ([`juliahub::JuliaHubServer`]) or
//! through the `hubauth-test-server` binary (see README.md next to this
//! crate). And what the library's tests (tests/) and the CLI's (cli/tests/)
//! share: [`fixture`] and [`oidc_server`].
//!
//! - [`running`]: what every protocol server shares: the handle
//!   (`Running<State>`: start, url, configure, stats) and the `/_test/stats`,
//!   `/_test/reset_stats` and `/_test/config` endpoints.
//! - [`http`]: the shared plumbing (a `std::net` server, one thread per
//!   connection, and a small blocking client for tests).
//! - [`juliahub`]: PkgAuthentication.jl + JuliaHub.jl.
//! - [`dagshub`]: the dagshub client's `/api/v1/user` and OAuth middleman.
//! - [`cave`]: CAVE's auth API.
//! - [`dhcore`]: DHCore's `GET /api/auth` check.
//! - [`fixture`]: a JuliaHub-protocol server with an isolated depot, the
//!   library's `Options` for it, and a hook that plays the browser.
//! - [`oidc_server`]: the real OpenID provider of tests/oidc-server (node),
//!   one per test.

pub mod cave;
pub mod dagshub;
pub mod dhcore;
pub mod fixture;
pub mod http;
pub mod juliahub;
pub mod oidc_server;
pub mod running;
pub mod tls_front;
mod util;

pub use cave::{CaveConfig, CaveServer, CaveStats};
pub use dagshub::{DagsHubConfig, DagsHubServer, DagsHubStats, DagsHubToken};
pub use dhcore::{DhCoreConfig, DhCoreServer, DhCoreStats};
pub use juliahub::{Flow, JuliaHubConfig, JuliaHubServer, JuliaHubStats, JuliaHubToken};
