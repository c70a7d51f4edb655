//! Shared pieces of the CLI's integration tests: running the `hubauth`
//! binary in an isolated home, and the test servers. Each test binary
//! includes this with `mod support;` and uses what it needs.
#![allow(dead_code)]
pub mod cli;
pub mod hostile_oidc;
#[path = "../../../tests/support/juliahub.rs"]
pub mod juliahub;
#[path = "../../../tests/support/oidc_server.rs"]
pub mod oidc_server;
