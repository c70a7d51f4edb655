//! The whole token cache file: load, choose, add, remove, save.

use std::path::Path;

use zeroize::Zeroizing;

use super::emit::emit_map;
use super::entry::{CachedToken, Entry, TokenType, classify};
use super::tree::{Node, parse_tree};
use crate::error::{Error, Result};
use crate::store::fsutil;

/// The only schema version the real client reads (as a string).
pub(super) const SCHEMA_VERSION: &str = "1";
const VERSION_KEY: &str = "version";

/// The whole token cache file. Token values are zeroed when it is dropped.
pub struct TokenCache {
    /// The top-level mapping, in file order.
    root: Vec<(Node, Node)>,
    /// What was skipped while reading, for a warning (never a token value).
    skipped: Vec<String>,
    dropped_expired: usize,
}

impl Drop for TokenCache {
    fn drop(&mut self) {
        for (k, v) in &mut self.root {
            k.zeroize();
            v.zeroize();
        }
    }
}

impl TokenCache {
    /// An empty cache (what a missing file holds).
    pub fn empty() -> Self {
        TokenCache {
            root: Vec::new(),
            skipped: Vec::new(),
            dropped_expired: 0,
        }
    }

    /// Reads the cache at `path`; a missing file is an empty cache.
    /// `now` (unix seconds) decides which bearer tokens have expired.
    pub fn load(path: &Path, now: i64) -> Result<Self> {
        match fsutil::read_file(path)? {
            None => Ok(TokenCache::empty()),
            Some(bytes) => TokenCache::parse(&bytes, path, now),
        }
    }

    /// Parses the bytes of a cache file (YAML or JSON); `path` is named in
    /// messages. Expired bearer tokens are dropped; entries hubauth cannot use
    /// are kept and listed in [`skipped`](Self::skipped).
    pub fn parse(bytes: &[u8], path: &Path, now: i64) -> Result<Self> {
        let fix = "fix or delete the file";
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::format(format!("{} is not UTF-8 text; {fix}", path.display())))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let root = parse_tree(text).map_err(|e| {
            Error::format(format!(
                "{} is not a valid token cache (line {}, column {}: {}); {fix}",
                path.display(),
                e.line,
                e.col,
                e.what
            ))
        })?;
        let mut cache = TokenCache::empty();
        match root {
            // An empty file makes the real client fail; it holds no token.
            None => cache
                .skipped
                .push(format!("{} is empty; it holds no token", path.display())),
            Some(Node::Map(pairs)) => cache.root = pairs,
            Some(mut other) => {
                other.zeroize();
                return Err(Error::format(format!(
                    "{} is not a token cache (its top level is not a mapping); {fix}",
                    path.display()
                )));
            }
        }
        cache.check_version(path)?;
        cache.clean(path, now);
        Ok(cache)
    }

    fn check_version(&self, path: &Path) -> Result<()> {
        let version = self
            .root
            .iter()
            .find(|(k, _)| k.as_str() == Some(VERSION_KEY))
            .map(|(_, v)| v);
        match version {
            None => Ok(()),
            Some(Node::Str(v)) if v == SCHEMA_VERSION => Ok(()),
            // An integer 1 makes the real client fail; hubauth reads it and
            // writes it back as the string '1'.
            Some(Node::Plain(v)) if v == SCHEMA_VERSION => Ok(()),
            Some(_) => Err(Error::format(format!(
                "{} has a schema version other than '1'; hubauth does not know it \
                 (update hubauth, or delete the file to start over)",
                path.display()
            ))),
        }
    }

    /// Drops expired bearer tokens and notes the entries hubauth cannot use.
    fn clean(&mut self, path: &Path, now: i64) {
        let now_ns = i128::from(now) * 1_000_000_000;
        let mut skipped = Vec::new();
        let mut dropped = 0;
        for (key, value) in &mut self.root {
            let Some(host) = key.as_str() else { continue };
            if host == VERSION_KEY {
                continue;
            }
            let items = match value {
                Node::Seq(items) => items,
                v if v.is_null() => continue,
                _ => {
                    skipped.push(format!(
                        "{}: the value of {host} is not a list of tokens",
                        path.display()
                    ));
                    continue;
                }
            };
            let mut index = 0;
            items.retain_mut(|item| {
                index += 1;
                match classify(item, now_ns) {
                    Entry::Usable(_) => true,
                    Entry::Expired => {
                        dropped += 1;
                        item.zeroize();
                        false
                    }
                    Entry::Skipped(reason) => {
                        skipped.push(format!(
                            "{}: token {index} of {host} cannot be used ({reason}); it is left in the file",
                            path.display()
                        ));
                        true
                    }
                }
            });
        }
        self.skipped.extend(skipped);
        self.dropped_expired = dropped;
    }

    /// Descriptions of what could not be used (file, host, position, reason).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// How many expired bearer tokens were dropped when reading.
    pub fn dropped_expired(&self) -> usize {
        self.dropped_expired
    }

    fn host_items(&self, host: &str) -> Option<&Vec<Node>> {
        self.root
            .iter()
            .find(|(k, _)| k.as_str() == Some(host))
            .and_then(|(_, v)| match v {
                Node::Seq(items) => Some(items),
                _ => None,
            })
    }

    /// The host URLs (top-level keys other than `version`), in file order.
    pub fn hosts(&self) -> Vec<&str> {
        self.root
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .filter(|k| *k != VERSION_KEY)
            .collect()
    }

    /// The usable tokens of `host` in the order the real client tries them:
    /// app tokens first, then bearer tokens, each in file order.
    pub fn tokens(&self, host: &str) -> Vec<CachedToken> {
        let usable: Vec<CachedToken> = self
            .host_items(host)
            .into_iter()
            .flatten()
            .filter_map(|item| match classify(item, i128::MIN) {
                Entry::Usable(t) => Some(t),
                _ => None,
            })
            .collect();
        let (mut app, bearer): (Vec<_>, Vec<_>) = usable
            .into_iter()
            .partition(|t| t.token_type == TokenType::App);
        app.extend(bearer);
        app
    }

    /// True when `host` has an entry with this access token (of any type).
    pub fn contains(&self, host: &str, access_token: &str) -> bool {
        self.host_items(host)
            .into_iter()
            .flatten()
            .any(|item| item.get("access_token").and_then(Node::as_str) == Some(access_token))
    }

    /// Removes `host`'s entries whose access token is `access_token`;
    /// returns how many were removed. Other hosts are never touched.
    pub fn remove_token(&mut self, host: &str, access_token: &str) -> usize {
        let mut removed = 0;
        for (key, value) in &mut self.root {
            if key.as_str() != Some(host) {
                continue;
            }
            if let Node::Seq(items) = value {
                items.retain_mut(|item| {
                    let hit = item.get("access_token").and_then(Node::as_str) == Some(access_token);
                    if hit {
                        removed += 1;
                        item.zeroize();
                    }
                    !hit
                });
            }
        }
        removed
    }

    /// Removes every entry of `host` (the host's key disappears). Returns
    /// whether it had one.
    pub fn remove_host(&mut self, host: &str) -> bool {
        let before = self.root.len();
        self.root.retain_mut(|(k, v)| {
            let hit = k.as_str() == Some(host);
            if hit {
                v.zeroize();
            }
            !hit
        });
        self.root.len() != before
    }

    /// Appends a token to `host`'s list (creating it). Fails when the host's
    /// value is something other than a list, which hubauth will not overwrite.
    pub fn push(&mut self, host: &str, token: &CachedToken) -> Result<()> {
        let entry = token.to_node();
        match self.root.iter_mut().find(|(k, _)| k.as_str() == Some(host)) {
            Some((_, Node::Seq(items))) => items.push(entry),
            Some((_, value)) if value.is_null() => *value = Node::Seq(vec![entry]),
            Some(_) => {
                return Err(Error::format(format!(
                    "the token cache's entry for {host} is not a list; fix or delete it"
                )));
            }
            None => self.root.push((Node::str(host), Node::Seq(vec![entry]))),
        }
        Ok(())
    }

    /// The file's text, as PyYAML's `yaml.dump` would write it: `version: '1'`
    /// added when missing (as a string), keys sorted, strings quoted where
    /// PyYAML would otherwise read another type.
    pub fn to_yaml(&self) -> Zeroizing<String> {
        let mut pairs: Vec<(&Node, &Node)> = self
            .root
            .iter()
            .filter(|(k, _)| k.as_str() != Some(VERSION_KEY))
            .map(|(k, v)| (k, v))
            .collect();
        let version = (Node::str(VERSION_KEY), Node::str(SCHEMA_VERSION));
        pairs.push((&version.0, &version.1));
        let mut out = Zeroizing::new(String::new());
        emit_map(&mut out, pairs, 0, false);
        out
    }

    /// Writes the cache atomically, 0600. The caller holds the file's lock.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = self.to_yaml();
        fsutil::atomic_write(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::store::dagshub_yaml::parse_expiry;

    /// A token cache file exactly as the dagshub client writes it.
    const SPEC_FILE: &str = "https://dagshub.com:
- access_token: app-token-123
  expiry: never
  token_type: app-token
- access_token: oauth-tok-456
  expiry: '2099-01-02T03:04:05.678901Z'
  token_type: bearer
https://my.dagshub.example:
- access_token: other-host-tok
  expiry: never
  token_type: app-token
version: '1'
";

    fn parse(text: &str) -> TokenCache {
        TokenCache::parse(text.as_bytes(), Path::new("tokens"), 1_700_000_000).unwrap()
    }

    #[test]
    fn the_spec_file_parses_and_is_written_back_byte_for_byte() {
        let cache = parse(SPEC_FILE);
        let tokens = cache.tokens("https://dagshub.com");
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].access_token.expose(), "app-token-123");
        assert_eq!(tokens[0].token_type, TokenType::App);
        assert_eq!(tokens[1].access_token.expose(), "oauth-tok-456");
        assert_eq!(tokens[1].expires_at(), Some(4_071_006_245));
        assert_eq!(
            tokens[1].expires_at_ns.unwrap() % 1_000_000_000,
            678_901_000
        );
        assert_eq!(cache.hosts().len(), 2);
        assert!(cache.skipped().is_empty());
        assert_eq!(cache.to_yaml().as_str(), SPEC_FILE);
    }

    #[test]
    fn broken_and_unknown_entries_are_kept_and_reported() {
        let text = "https://dagshub.com:
- access_token: x1
  expiry: never
  token_type: magic
- just a string
- access_token: x2
  expiry: not a time
  token_type: bearer
- access_token: x3
  expiry: 2000-01-01T00:00:00Z
  token_type: bearer
- access_token: x4
  token_type: app-token
  note: kept
";
        let cache = parse(text);
        assert_eq!(cache.skipped().len(), 3, "{:?}", cache.skipped());
        assert_eq!(cache.dropped_expired(), 1);
        for s in cache.skipped() {
            assert!(!s.contains("x1") && !s.contains("x2"), "{s}");
        }
        let tokens = cache.tokens("https://dagshub.com");
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].access_token.expose(), "x4");
        let out = cache.to_yaml();
        assert!(out.contains("token_type: magic"));
        assert!(out.contains("- just a string"));
        assert!(out.contains("expiry: not a time"));
        assert!(!out.contains("x3"));
        assert!(out.contains("  note: kept\n"));
    }

    #[test]
    fn json_and_aliases_are_read() {
        let json = r#"{"https://dagshub.com": [{"access_token": "j1", "expiry": "never", "token_type": "app-token"}], "version": "1"}"#;
        let cache = parse(json);
        assert_eq!(
            cache.tokens("https://dagshub.com")[0].access_token.expose(),
            "j1"
        );
        let aliased =
            "a: &e\n  access_token: t\n  expiry: never\n  token_type: app-token\nh:\n- *e\n";
        assert_eq!(parse(aliased).tokens("h").len(), 1);
    }

    #[test]
    fn bad_files_are_format_errors_without_content() {
        for text in ["- a\n- b\n", "a: [b\n", "a: 1\n---\nb: 2\n", "version: 2\n"] {
            let err = TokenCache::parse(text.as_bytes(), Path::new("tokens"), 0)
                .err()
                .unwrap_or_else(|| panic!("{text:?} should fail"));
            assert_eq!(err.kind(), crate::error::ErrorKind::Format, "{text:?}");
        }
        let err = TokenCache::parse(b"h: [secret-tok\n", Path::new("t"), 0)
            .err()
            .unwrap();
        assert!(!err.message().contains("secret-tok"), "{}", err.message());
        // Integer version 1 is read, and written back as the string '1'.
        let cache = parse("version: 1\n");
        assert_eq!(cache.to_yaml().as_str(), "version: '1'\n");
        let empty = parse("");
        assert_eq!(empty.skipped().len(), 1);
    }

    #[test]
    fn push_remove_and_other_hosts() {
        let mut cache = parse(SPEC_FILE);
        cache
            .push(
                "https://dagshub.com",
                &CachedToken {
                    access_token: Secret::new("0123").unwrap(),
                    token_type: TokenType::Bearer,
                    expires_at_ns: parse_expiry("2099-05-06T07:08:09.123456789Z"),
                },
            )
            .unwrap();
        assert!(cache.contains("https://dagshub.com", "0123"));
        let out = cache.to_yaml();
        assert!(
            out.contains(
                "- access_token: '0123'\n  expiry: '2099-05-06T07:08:09.123456Z'\n  token_type: bearer\n"
            ),
            "{}",
            out.as_str()
        );
        assert_eq!(
            cache.remove_token("https://dagshub.com", "app-token-123"),
            1
        );
        assert!(cache.remove_host("https://dagshub.com"));
        let out = cache.to_yaml();
        assert_eq!(
            out.as_str(),
            "https://my.dagshub.example:\n- access_token: other-host-tok\n  expiry: never\n  token_type: app-token\nversion: '1'\n"
        );
        let mut nothing = TokenCache::empty();
        assert_eq!(nothing.to_yaml().as_str(), "version: '1'\n");
        nothing
            .push("h", &CachedToken::app(Secret::new("yes").unwrap()))
            .unwrap();
        assert_eq!(
            nothing.to_yaml().as_str(),
            "h:\n- access_token: 'yes'\n  expiry: never\n  token_type: app-token\nversion: '1'\n"
        );
    }

    /// Reading and writing a large cache (440 KB; one of 388 KB once took 65 s)
    /// stays linear, within a bound generous enough for a busy debug build.
    #[test]
    fn a_cache_with_many_hosts_is_read_and_written_quickly() {
        let hosts = 5_000;
        let mut text = String::new();
        for i in 0..hosts {
            text.push_str(&format!(
                "https://host-{i}.example:\n- access_token: t{i}\n  expiry: never\n  token_type: app-token\n"
            ));
        }
        let started = std::time::Instant::now();
        let cache = parse(&text);
        let written = cache.to_yaml();
        let took = started.elapsed();
        assert_eq!(cache.hosts().len(), hosts);
        assert_eq!(cache.tokens("https://host-7.example").len(), 1);
        assert!(written.contains("- access_token: t4999\n"));
        assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    }
}
