//! The dagshub client's token cache: a YAML file (default
//! `~/.cache/dagshub/tokens`) mapping host URLs to lists of tokens, read and
//! written so that the real client (PyYAML, YAML 1.1) reads back exactly the
//! strings hubauth meant.
//!
//! One concern per file:
//! - [`tree`]: YAML events (saphyr-parser) to a tree that keeps each scalar's
//!   text and style, with PyYAML's handling of anchors and repeated keys;
//! - [`resolve`]: what PyYAML reads a plain scalar as (a plain `2099-01-02` is
//!   a timestamp and `0123` an integer there, so they are not strings);
//! - [`emit`]: the tree back to text with PyYAML's quoting rules (`yaml.dump`
//!   defaults: block style, sorted keys, ASCII only), so a file hubauth writes
//!   is what the real client would have written;
//! - [`entry`]: one token of a host (type, expiry) and how an entry is judged;
//! - [`cache`]: the whole file: load, choose, add, remove, save. Everything
//!   hubauth does not understand (other hosts, unknown token types, extra
//!   fields) is kept as it was read.

mod cache;
mod emit;
mod entry;
mod resolve;
mod tree;

pub use cache::TokenCache;
pub use entry::{CachedToken, TokenType, format_expiry, parse_expiry};
