//! CAVEclient's secret files in `~/.cloudvolume/secrets`: each a JSON object
//! mapping a key (default `"token"`, others per dataset) to a token. Read and
//! written with every key kept, in order, in the exact text Python's
//! `json.dump` writes (`{"token": "…", "other": "…"}`, no final newline).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::scrub_json;
use crate::store::fsutil;

/// The default file, in the secrets directory.
pub(crate) const DEFAULT_FILE: &str = "cave-secret.json";
/// The deprecated file, read as the last resort.
pub(crate) const DEPRECATED_FILE: &str = "chunkedgraph-secret.json";
/// CAVEclient's map of datastack names to their servers (datastack_lookup.py).
pub(crate) const DATASTACK_MAP_FILE: &str = "cave_datastack_to_server_map.json";
/// The key a token is saved under unless `token_key` says otherwise.
pub(crate) const DEFAULT_KEY: &str = "token";

/// `<home>/.cloudvolume/secrets`.
pub fn secrets_dir(home: &Path) -> PathBuf {
    home.join(".cloudvolume").join("secrets")
}

/// The server's `netloc` as Python's `urlparse` gives it (after `https://`
/// is put in front of a URL without a scheme): host and port as written,
/// path, query and fragment ignored.
pub fn netloc(server: &str) -> String {
    let server = server.trim();
    let rest = match server.find("://") {
        Some(i) => &server[i + 3..],
        None => server,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// `<netloc>-cave-secret.json`, e.g. `localhost:8080-cave-secret.json`.
pub fn server_file_name(netloc: &str) -> String {
    format!("{netloc}-cave-secret.json")
}

/// The contents of one secret file, key order kept. Token values are zeroed
/// when it is dropped.
#[derive(Default)]
pub struct SecretFile {
    entries: Vec<(String, Value)>,
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        for (_, value) in &mut self.entries {
            scrub_json(value);
        }
    }
}

/// A JSON object read in order; a repeated key keeps its first place and its
/// last value, as Python's `json.load` does.
struct Ordered(Vec<(String, Value)>);

impl Ordered {
    /// Reads the pairs of an object. Repeated keys are found through a hash
    /// of each key (keyed SipHash; a collision falls back to a scan) rather
    /// than by comparing with every earlier key, which was quadratic (an
    /// 830 KB file took 27 s).
    fn read<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let hasher = RandomState::new();
        let mut first_of: HashMap<u64, usize> = HashMap::new();
        let mut entries: Vec<(String, Value)> = Vec::new();
        while let Some((key, mut value)) = map.next_entry::<String, Value>()? {
            let hash = hasher.hash_one(&key);
            let earlier = match first_of.get(&hash) {
                None => None,
                Some(&i) if entries[i].0 == key => Some(i),
                Some(_) => entries.iter().position(|(k, _)| *k == key),
            };
            match earlier {
                Some(i) => {
                    std::mem::swap(&mut entries[i].1, &mut value);
                    scrub_json(&mut value);
                }
                None => {
                    first_of.entry(hash).or_insert(entries.len());
                    entries.push((key, value));
                }
            }
        }
        Ok(Ordered(entries))
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Ordered, A::Error> {
                Ordered::read(map)
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl SecretFile {
    /// Parses a secret file; it must hold a JSON object. `path` is named in
    /// errors, which never quote the content.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        match serde_json::from_slice::<Ordered>(bytes) {
            Ok(Ordered(entries)) => Ok(SecretFile { entries }),
            Err(e) => Err(Error::format(format!(
                "{} is not a JSON object of tokens (line {}, column {}); fix or delete it",
                path.display(),
                e.line(),
                e.column()
            ))),
        }
    }

    /// Reads the file at `path`; None when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match fsutil::read_file(path)? {
            None => Ok(None),
            Some(bytes) => SecretFile::parse(&bytes, path).map(Some),
        }
    }

    /// True when `key` is present (whatever its value).
    pub fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// The token under `key`, if it is a non-empty string.
    pub fn token(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_str())
            .filter(|t| !t.is_empty())
    }

    /// The keys, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Sets `key` to `token`, keeping its place if it exists.
    pub fn set(&mut self, key: &str, token: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => {
                scrub_json(&mut entry.1);
                entry.1 = Value::String(token.to_string());
            }
            None => self
                .entries
                .push((key.to_string(), Value::String(token.to_string()))),
        }
    }

    /// Removes `key`; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain_mut(|(k, v)| {
            let hit = k == key;
            if hit {
                scrub_json(v);
            }
            !hit
        });
        self.entries.len() != before
    }

    /// The text Python's `json.dump(secrets, f)` writes.
    pub fn to_json(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        out.push('{');
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_py_string(&mut out, key);
            out.push_str(": ");
            write_py_json(&mut out, value);
        }
        out.push('}');
        out
    }

    /// Writes the file atomically, 0600. The caller holds the file's lock.
    pub fn save(&self, path: &Path) -> Result<()> {
        fsutil::atomic_write(path, self.to_json().as_bytes())
    }
}

/// A JSON value in Python's default `json.dumps` style: `", "` and `": "`
/// separators, non-ASCII escaped.
fn write_py_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_py_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_string(out, k);
                out.push_str(": ");
                write_py_json(out, v);
            }
            out.push('}');
        }
    }
}

/// A string as Python's `json.dumps(..., ensure_ascii=True)` writes it.
fn write_py_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secret files exactly as CAVEclient writes them.
    const DEFAULT: &str = r#"{"token": "ffff456789abcdef0123456789abcdef", "fanc_production_mar2021": "tok-for-fanc"}"#;

    #[test]
    fn spec_file_round_trips_byte_for_byte() {
        let f = SecretFile::parse(DEFAULT.as_bytes(), Path::new("cave-secret.json")).unwrap();
        assert_eq!(f.token("token"), Some("ffff456789abcdef0123456789abcdef"));
        assert_eq!(f.token("fanc_production_mar2021"), Some("tok-for-fanc"));
        assert_eq!(f.to_json().as_str(), DEFAULT);
    }

    #[test]
    fn set_keeps_order_and_other_keys() {
        let mut f = SecretFile::parse(DEFAULT.as_bytes(), Path::new("f")).unwrap();
        f.set("token", "0123456789abcdef0123456789abcdef");
        f.set("new", "é\n\"");
        assert_eq!(
            f.to_json().as_str(),
            r#"{"token": "0123456789abcdef0123456789abcdef", "fanc_production_mar2021": "tok-for-fanc", "new": "\u00e9\n\""}"#
        );
        assert!(f.remove("fanc_production_mar2021"));
        assert!(!f.contains("fanc_production_mar2021"));
        let nested =
            SecretFile::parse(br#"{"a": [1, {"b": null}], "a": true}"#, Path::new("f")).unwrap();
        assert_eq!(nested.to_json().as_str(), r#"{"a": true}"#);
    }

    #[test]
    fn not_an_object_is_a_format_error_without_content() {
        for text in [
            "",
            "[\"secret-tok\"]",
            "{\"token\": \"secret-tok\"",
            "\"secret-tok\"",
        ] {
            let e = SecretFile::parse(text.as_bytes(), Path::new("f"))
                .err()
                .unwrap();
            assert_eq!(e.kind(), crate::error::ErrorKind::Format);
            assert!(!e.message().contains("secret-tok"), "{}", e.message());
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value() {
        let file = SecretFile::parse(br#"{"a": "1", "b": "2", "a": "3"}"#, Path::new("s")).unwrap();
        assert_eq!(file.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(file.token("a"), Some("3"));
    }

    /// An 830 KB file once took 27 s: finding repeated keys must not be
    /// quadratic. The bound is generous (a debug build on a busy machine).
    #[test]
    fn an_object_with_many_keys_parses_in_linear_time() {
        let keys = 20_000;
        let mut text = String::from("{");
        for i in 0..keys {
            text.push_str(&format!("\"key-{i}\": \"tok-{i}\", "));
        }
        text.push_str("\"key-7\": \"last\"}");
        let started = std::time::Instant::now();
        let file = SecretFile::parse(text.as_bytes(), Path::new("s")).unwrap();
        let took = started.elapsed();
        assert_eq!(file.keys().count(), keys);
        assert_eq!(file.token("key-7"), Some("last"));
        assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    }

    #[test]
    fn netloc_like_urlparse() {
        assert_eq!(netloc("https://global.daf-apis.com"), "global.daf-apis.com");
        assert_eq!(netloc("localhost:8080/x"), "localhost:8080");
        assert_eq!(netloc("http://127.0.0.1:9/auth?x#y"), "127.0.0.1:9");
        assert_eq!(
            server_file_name(&netloc("https://global.daf-apis.com/")),
            "global.daf-apis.com-cave-secret.json"
        );
    }
}
