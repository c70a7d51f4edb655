//! Helpers only the library's own integration tests use: hand-written
//! servers that misbehave on purpose. Each test binary includes this with
//! `mod support;`. What the CLI's tests share with these (the test servers,
//! the JuliaHub fixture, the OIDC provider) is in the test kit,
//! `hubauth_testkit` (tests/servers).
#![allow(dead_code)]
pub mod raw_server;
pub mod recorder;
