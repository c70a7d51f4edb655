//! hubauth: gets, keeps, refreshes, checks and hands out authentication tokens
//! for data and compute hubs, with one implementation behind a stable C ABI.
//!
//! Data flows one way: options (a named account fills what they leave out,
//! [`accounts`]) → provider → store (load) → token fresh? → done;
//! else flow (refresh / exchange / interactive) → store (save, under lock).
//!
//! The public Rust API is what this root re-exports ([`Authentication`],
//! [`Options`], [`Error`], the free functions, …) and the C ABI, [`ffi`]. The
//! other modules are public only so the CLI (`cli/`), the tests and the
//! fuzzers reach them; they are `#[doc(hidden)]`, not part of the API, and
//! may change in any release.

// The module docs are written for maintainers and link to private items; they
// resolve in the maintainers' build (`cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

#[doc(hidden)]
pub mod accounts;
#[doc(hidden)]
pub mod auth;
#[doc(hidden)]
pub mod cancel;
#[doc(hidden)]
pub mod credential;
#[doc(hidden)]
pub mod diagnose;
#[doc(hidden)]
pub mod env;
#[doc(hidden)]
pub mod error;
pub mod ffi;
#[doc(hidden)]
pub mod flow;
#[doc(hidden)]
// First: `hub_rows!`, the hub table, is read by `provider_kind` too.
#[macro_use]
pub mod hubs;
#[doc(hidden)]
pub mod job;
#[doc(hidden)]
pub mod jwt;
#[doc(hidden)]
pub mod lifecycle;
#[doc(hidden)]
pub mod log;
#[doc(hidden)]
pub mod net;
#[doc(hidden)]
pub mod options;
#[doc(hidden)]
pub mod progress;
#[doc(hidden)]
pub mod provider;
#[doc(hidden)]
pub mod provider_kind;
mod random;
#[doc(hidden)]
pub mod reply;
#[doc(hidden)]
pub mod scope;
#[doc(hidden)]
pub mod secret;
#[doc(hidden)]
pub mod server;
#[doc(hidden)]
pub mod status;
#[doc(hidden)]
pub mod store;
#[doc(hidden)]
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
