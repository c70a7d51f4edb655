//! hubauth: gets, keeps, refreshes, checks and hands out authentication tokens
//! for data and compute hubs, with one implementation behind a stable C ABI.
//!
//! Data flows one way: options → provider → store (load) → token fresh? → done;
//! else flow (refresh / exchange / interactive) → store (save, under lock).

pub mod auth;
pub mod cancel;
pub mod credential;
pub mod diagnose;
pub mod env;
pub mod error;
pub mod ffi;
pub mod flow;
// First: `hub_rows!`, the hub table, is read by `provider_kind` too.
#[macro_use]
pub mod hubs;
pub mod job;
pub mod jwt;
pub mod lifecycle;
pub mod log;
pub mod net;
pub mod options;
pub mod progress;
pub mod provider;
pub mod provider_kind;
mod random;
pub mod reply;
pub mod scope;
pub mod secret;
pub mod server;
pub mod status;
pub mod store;
pub mod token;

pub use auth::{Authentication, authenticate, current, logout, save_token};
pub use cancel::Cancel;
pub use error::{Error, ErrorKind, Result};
pub use job::{Event, Job, JobKind, Outcome};
pub use options::{Hook, HookAction, Options};
pub use provider_kind::ProviderKind;
pub use secret::Secret;
pub use token::{Credential, Token};

/// The library's version, as the C ABI reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
