//! Where tokens live: one module per on-disk format, all written through
//! [`fsutil`].

pub mod fsutil;
pub mod pkg_toml;
