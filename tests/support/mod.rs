//! Shared pieces of the integration tests: starting the test servers and
//! preparing isolated home/depot directories. Each test binary includes this
//! with `mod support;` and uses what it needs.
#![allow(dead_code)]
pub mod juliahub;
pub mod oidc_server;
pub mod raw_server;
pub mod recorder;
