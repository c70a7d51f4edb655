//! Where tokens live: one module per on-disk format, all written through
//! [`fsutil`].

pub mod cave_json;
pub mod dagshub_yaml;
pub mod dhcore_ini;
pub mod fsutil;
pub mod oidc_toml;
pub mod pkg_toml;
pub mod toml_file;
