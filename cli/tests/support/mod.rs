//! Helpers of the CLI's integration tests: running the `hubauth` binary in
//! an isolated home, and a hostile OpenID provider. Each test binary
//! includes this with `mod support;`. The test servers and fixtures shared
//! with the library's tests are in the test kit, `hubauth_testkit`.
#![allow(dead_code)]
pub mod cli;
pub mod hostile_oidc;
