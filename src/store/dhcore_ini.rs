//! The DigitalHub SDK's `.dhcore.ini`: Python `configparser.ConfigParser`
//! format, read with the same rules and edited in place.
//!
//! Reading follows CPython's `RawConfigParser._read` with the SDK's settings
//! (the defaults, and no interpolation):
//! - `[section]` headers (case-sensitive names; everything between the first
//!   `[` and the last `]`); `[DEFAULT]` may appear more than once and its
//!   values are inherited by every section;
//! - `key = value` and `key: value` (the first `=` or `:` splits), key and
//!   value stripped, keys case-insensitive (stored lower case);
//! - full-line comments starting with `#` or `;` (no inline comments: in
//!   `key = a ; b` the value is `a ; b`);
//! - continuation lines: a line indented deeper than its key line continues
//!   the value (joined with `\n`); blank lines inside a value are kept,
//!   trailing ones dropped; comment lines inside a value are skipped;
//! - strict: a section or a key given twice, a key before any section, or a
//!   line that is none of the above makes the file unreadable (`Format`).
//!
//! Writing never rewrites what it does not change: every other line
//! (comments, blank lines, other sections and keys, their order and spelling)
//! is kept byte for byte. A changed key is written `key = value` in place, a
//! new key after the last key of its section, a new section at the end
//! (`[DEFAULT]` at the start). The result is parsed again before it is
//! written; if it would not read back as exactly the intended contents (an
//! exotic indentation layout), the whole file is written the way
//! `ConfigParser.write` writes it instead, comments lost but every value kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Result};
use crate::store::fsutil;

/// The section whose values every other section inherits.
pub(crate) const DEFAULT_SECTION: &str = "DEFAULT";
/// The key in `[DEFAULT]` naming the profile last written.
pub(crate) const CURRENT_ENVIRONMENT: &str = "current_environment";

/// One piece of the file, in order.
#[derive(Clone, Debug)]
enum Item {
    /// A line that is neither a header nor part of a value: blank lines and
    /// comments between keys.
    Other(String),
    Header {
        name: String,
        text: String,
    },
    Entry(Entry),
}

#[derive(Clone, Debug)]
struct Entry {
    section: String,
    /// Lower case.
    key: String,
    value: String,
    /// The key line, then its continuation lines and any comment or blank
    /// lines between them.
    text: Vec<String>,
}

/// A parsed `.dhcore.ini`, editable without losing anything else in it.
#[derive(Clone, Debug)]
pub struct Ini {
    items: Vec<Item>,
    /// `\r\n` when the file's first line ends so, else `\n`.
    eol: &'static str,
    /// Whether the file ended with a line break (an empty file counts as yes).
    final_eol: bool,
}

impl Default for Ini {
    fn default() -> Self {
        Ini {
            items: Vec::new(),
            eol: "\n",
            final_eol: true,
        }
    }
}

/// The meaning of a file: sections (DEFAULT always present) → key → value.
type Contents = BTreeMap<String, BTreeMap<String, String>>;

/// Index of the first non-whitespace character (CPython's `\S` search), in characters.
fn indent_of(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).count()
}

fn leading_whitespace(line: &str) -> &str {
    let end = line.len() - line.trim_start().len();
    &line[..end]
}

/// The header name if `stripped` is a section header (CPython's
/// `\[(?P<header>.+)\]` matched at the start: up to the last `]`).
fn header_name(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    (close > 0).then(|| &rest[..close])
}

impl Ini {
    /// Parses the text of a file; `path` is named in errors (with a line
    /// number), the content of a line never, as it may hold a token.
    pub fn parse(text: &str, path: &Path) -> Result<Ini> {
        let fail = |line: usize, what: &str| {
            Error::format(format!(
                "{} line {line}: {what}; fix the file (it is Python ConfigParser format) or remove it",
                path.display()
            ))
        };
        let mut ini = Ini::default();
        if text.is_empty() {
            return Ok(ini);
        }
        let mut lines: Vec<&str> = text.split('\n').collect();
        ini.final_eol = text.ends_with('\n');
        if ini.final_eol {
            lines.pop();
        }
        if lines.first().is_some_and(|l| l.ends_with('\r')) {
            ini.eol = "\r\n";
        }

        let mut section: Option<String> = None;
        let mut sections_seen: BTreeSet<String> = BTreeSet::new();
        let mut keys_seen: BTreeSet<(String, String)> = BTreeSet::new();
        // The entry being read (an index into items) and its value's lines.
        let mut current: Option<(usize, Vec<String>)> = None;
        // Blank and comment lines after the current entry's last line: part
        // of the entry if a continuation line follows, else lines of their own.
        let mut pending: Vec<String> = Vec::new();
        let mut indent_level = 0usize;

        fn finish(items: &mut [Item], current: &mut Option<(usize, Vec<String>)>) {
            if let Some((index, parts)) = current.take()
                && let Item::Entry(entry) = &mut items[index]
            {
                entry.value = parts.join("\n").trim_end().to_string();
            }
        }

        for (number, raw) in lines.iter().enumerate() {
            let number = number + 1;
            // The line as kept for writing back: less the `\r` that `render`
            // puts back with the line break in a CRLF file, so a lone `\r\n`
            // line in a LF file, or a last line ending in `\r` with no line
            // break, keeps its `\r` (and `\r\r\n` is not shortened on every
            // write).
            let ended = number < lines.len() || ini.final_eol;
            let line = match ini.eol {
                "\r\n" if ended => raw.strip_suffix('\r').unwrap_or(raw),
                _ => raw,
            };
            let stripped = line.trim();
            let comment = stripped.starts_with('#') || stripped.starts_with(';');
            if comment || stripped.is_empty() {
                if let Some((_, parts)) = &mut current {
                    if !comment {
                        parts.push(String::new());
                    }
                    pending.push(line.to_string());
                } else {
                    ini.items.push(Item::Other(line.to_string()));
                }
                continue;
            }
            let indent = indent_of(line);
            if let Some((index, parts)) = &mut current
                && indent > indent_level
            {
                parts.push(stripped.to_string());
                if let Item::Entry(entry) = &mut ini.items[*index] {
                    entry.text.append(&mut pending);
                    entry.text.push(line.to_string());
                }
                continue;
            }
            finish(&mut ini.items, &mut current);
            ini.items.extend(pending.drain(..).map(Item::Other));
            indent_level = indent;
            if let Some(name) = header_name(stripped) {
                if name != DEFAULT_SECTION && !sections_seen.insert(name.to_string()) {
                    return Err(fail(number, "a section is given twice"));
                }
                section = Some(name.to_string());
                ini.items.push(Item::Header {
                    name: name.to_string(),
                    text: line.to_string(),
                });
                continue;
            }
            let Some(section) = &section else {
                return Err(fail(number, "a line before the first [section] header"));
            };
            let Some(split) = stripped.find(['=', ':']) else {
                return Err(fail(
                    number,
                    "not a `key = value` line, a [section] header or a comment",
                ));
            };
            let key = stripped[..split].trim_end().to_lowercase();
            if key.is_empty() {
                return Err(fail(number, "a value without a key"));
            }
            if !keys_seen.insert((section.clone(), key.clone())) {
                return Err(fail(number, "a key is given twice in one section"));
            }
            let value = stripped[split + 1..].trim().to_string();
            ini.items.push(Item::Entry(Entry {
                section: section.clone(),
                key,
                value: String::new(),
                text: vec![line.to_string()],
            }));
            current = Some((ini.items.len() - 1, vec![value]));
        }
        finish(&mut ini.items, &mut current);
        ini.items.extend(pending.drain(..).map(Item::Other));
        Ok(ini)
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.items.iter().filter_map(|item| match item {
            Item::Entry(entry) => Some(entry),
            _ => None,
        })
    }

    fn position(&self, section: &str, key: &str) -> Option<usize> {
        self.items
            .iter()
            .position(|item| matches!(item, Item::Entry(e) if e.section == section && e.key == key))
    }

    /// The value of `key` in `section` itself (not inherited).
    pub fn get_own(&self, section: &str, key: &str) -> Option<&str> {
        let key = key.to_lowercase();
        self.entries()
            .find(|e| e.section == section && e.key == key)
            .map(|e| e.value.as_str())
    }

    /// The value of `key` (any case) in `section`, else in `[DEFAULT]`, as
    /// ConfigParser's `cfg[section][key]` gives it. A section that does not
    /// exist still sees the defaults.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.get_own(section, key)
            .or_else(|| self.get_own(DEFAULT_SECTION, key))
    }

    /// Whether `[name]` exists (`DEFAULT` counts when it has a header).
    pub fn has_section(&self, name: &str) -> bool {
        self.items
            .iter()
            .any(|item| matches!(item, Item::Header { name: n, .. } if n == name))
    }

    /// The sections other than DEFAULT, in file order.
    pub fn sections(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for item in &self.items {
            if let Item::Header { name, .. } = item
                && name != DEFAULT_SECTION
                && !names.contains(&name.as_str())
            {
                names.push(name);
            }
        }
        names
    }

    /// Every key of `section` with its value, inherited ones included (own
    /// values win), sorted by key.
    pub fn section(&self, section: &str) -> BTreeMap<String, String> {
        let mut map: BTreeMap<String, String> = self
            .entries()
            .filter(|e| e.section == DEFAULT_SECTION)
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        for entry in self.entries().filter(|e| e.section == section) {
            map.insert(entry.key.clone(), entry.value.clone());
        }
        map
    }

    /// `[DEFAULT] current_environment`, when set and not empty.
    pub fn current_environment(&self) -> Option<&str> {
        self.get_own(DEFAULT_SECTION, CURRENT_ENVIRONMENT)
            .filter(|v| !v.is_empty())
    }

    /// Sets `key` (stored lower case) in `section` itself, creating the
    /// section when needed. A value is stored as ConfigParser reads it back:
    /// each line stripped. Returns whether anything changed.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> Result<bool> {
        check_section_name(section)?;
        let key = key.to_lowercase();
        check_key(&key)?;
        let value = normalise_value(value);
        if let Some(index) = self.position(section, &key) {
            let Item::Entry(entry) = &mut self.items[index] else {
                unreachable!("position() finds entries only");
            };
            if entry.value == value {
                return Ok(false);
            }
            let indent = leading_whitespace(&entry.text[0]).to_string();
            entry.text = entry_lines(&indent, &key, &value);
            entry.value = value;
            return Ok(true);
        }
        // After the section's last entry, with its indentation; else right
        // after its (last) header.
        let last_entry = self
            .items
            .iter()
            .rposition(|item| matches!(item, Item::Entry(e) if e.section == section));
        let last_header = self
            .items
            .iter()
            .rposition(|item| matches!(item, Item::Header { name, .. } if name == section));
        let entry = |indent: &str| {
            Item::Entry(Entry {
                section: section.to_string(),
                key: key.clone(),
                text: entry_lines(indent, &key, &value),
                value: value.clone(),
            })
        };
        match (last_entry, last_header) {
            (Some(index), _) => {
                let Item::Entry(previous) = &self.items[index] else {
                    unreachable!("rposition() found an entry");
                };
                let indent = leading_whitespace(&previous.text[0]).to_string();
                self.items.insert(index + 1, entry(&indent));
            }
            (None, Some(index)) => self.items.insert(index + 1, entry("")),
            (None, None) if section == DEFAULT_SECTION => {
                let header = Item::Header {
                    name: section.to_string(),
                    text: format!("[{section}]"),
                };
                let mut front = vec![header, entry("")];
                if !self.items.is_empty() {
                    front.push(Item::Other(String::new()));
                }
                self.items.splice(0..0, front);
            }
            (None, None) => {
                if !self.final_eol {
                    // The last line had no line break: render() adds one.
                    self.final_eol = true;
                }
                let ends_blank =
                    matches!(self.items.last(), Some(Item::Other(l)) if l.trim().is_empty());
                if !self.items.is_empty() && !ends_blank {
                    self.items.push(Item::Other(String::new()));
                }
                self.items.push(Item::Header {
                    name: section.to_string(),
                    text: format!("[{section}]"),
                });
                self.items.push(entry(""));
            }
        }
        Ok(true)
    }

    /// Removes `key` from `section` itself (inherited values stay). Returns
    /// whether it was there.
    pub fn remove(&mut self, section: &str, key: &str) -> bool {
        let key = key.to_lowercase();
        match self.position(section, &key) {
            Some(index) => {
                self.items.remove(index);
                true
            }
            None => false,
        }
    }

    fn contents(&self) -> Contents {
        let mut contents = Contents::new();
        contents.insert(DEFAULT_SECTION.to_string(), BTreeMap::new());
        for item in &self.items {
            if let Item::Header { name, .. } = item {
                contents.entry(name.clone()).or_default();
            }
        }
        for entry in self.entries() {
            contents
                .entry(entry.section.clone())
                .or_default()
                .insert(entry.key.clone(), entry.value.clone());
        }
        contents
    }

    /// The file as it stands, every untouched line as it was.
    fn render(&self) -> String {
        let mut lines: Vec<&str> = Vec::new();
        for item in &self.items {
            match item {
                Item::Other(line) => lines.push(line),
                Item::Header { text, .. } => lines.push(text),
                Item::Entry(entry) => lines.extend(entry.text.iter().map(String::as_str)),
            }
        }
        let mut text = lines.join(self.eol);
        if self.final_eol && !lines.is_empty() {
            text.push_str(self.eol);
        }
        text
    }

    /// The file as `ConfigParser.write` writes it: `[DEFAULT]` first when it
    /// has values, then each section, `key = value`, a blank line after each.
    fn canonical(&self) -> String {
        let contents = self.contents();
        let mut out = String::new();
        let mut write_section = |name: &str, values: &BTreeMap<String, String>| {
            out.push_str(&format!("[{name}]\n"));
            // Keys in file order, as ConfigParser keeps them.
            let mut keys: Vec<&str> = Vec::new();
            for entry in self.entries().filter(|e| e.section == name) {
                keys.push(&entry.key);
            }
            for key in keys {
                for line in entry_lines("", key, &values[key]) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            out.push('\n');
        };
        let defaults = &contents[DEFAULT_SECTION];
        if !defaults.is_empty() {
            write_section(DEFAULT_SECTION, defaults);
        }
        for name in self.sections() {
            write_section(name, &contents[name]);
        }
        out
    }

    /// The text to write. It is parsed back and must mean exactly what this
    /// holds; otherwise the canonical layout is used (and checked as well).
    pub fn to_text(&self) -> Result<String> {
        let wanted = self.contents();
        let reads_back = |text: &str| {
            Ini::parse(text, Path::new("-"))
                .map(|ini| ini.contents() == wanted)
                .unwrap_or(false)
        };
        let text = self.render();
        if reads_back(&text) {
            return Ok(text);
        }
        let text = self.canonical();
        if reads_back(&text) {
            return Ok(text);
        }
        Err(Error::internal(
            "the .dhcore.ini contents cannot be written so that they read back unchanged",
        ))
    }
}

/// `key = value`, continuation lines indented one tab deeper than the key.
fn entry_lines(indent: &str, key: &str, value: &str) -> Vec<String> {
    let mut parts = value.split('\n');
    let first = parts.next().unwrap_or("");
    let mut lines = vec![format!("{indent}{key} = {first}")];
    lines.extend(parts.map(|part| format!("{indent}\t{part}")));
    lines
}

/// A value as ConfigParser would read it back: line breaks `\n`, each line
/// stripped, no leading or trailing blank lines.
fn normalise_value(value: &str) -> String {
    let unified = value.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = unified.split('\n').map(str::trim).collect();
    lines.join("\n").trim().to_string()
}

fn check_key(key: &str) -> Result<()> {
    let bad = key.is_empty()
        || key.starts_with(['[', '#', ';'])
        || key.contains(['=', ':'])
        || key.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        return Err(Error::invalid_argument(format!(
            "{key:?} cannot be a key of a .dhcore.ini file"
        )));
    }
    Ok(())
}

fn check_section_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(Error::invalid_argument(format!(
            "{name:?} cannot be a section (profile) of a .dhcore.ini file"
        )));
    }
    Ok(())
}

/// Reads the file at `path`: None when there is none.
pub fn load(path: &Path) -> Result<Option<Ini>> {
    let Some(bytes) = fsutil::read_file(path)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::format(format!(
            "{} is not UTF-8 text; fix or remove it",
            path.display()
        ))
    })?;
    Ini::parse(text, path).map(Some)
}

/// Writes the file atomically, 0600. The caller holds the file's lock.
pub fn save(path: &Path, ini: &Ini) -> Result<()> {
    fsutil::atomic_write(path, ini.to_text()?.as_bytes())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for unix seconds (RFC 3339, UTC). RFC 3339 has
/// four-digit years only, so a time outside years 0000-9999 (say, a server's
/// absurd `expires_in`) is clamped to that range rather than written as
/// something no reader accepts.
pub fn format_rfc3339(unix: i64) -> String {
    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    const FIRST: i64 = -62_167_219_200;
    const LAST: i64 = 253_402_300_799;
    time::OffsetDateTime::from_unix_timestamp(unix.clamp(FIRST, LAST))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        // Neither step can fail for a UTC time within years 0000-9999.
        .unwrap_or_default()
}

/// Unix seconds of an RFC 3339 date-time (any offset); None if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Ini {
        Ini::parse(text, Path::new("t.ini")).unwrap()
    }

    fn parse_err(text: &str) -> String {
        Ini::parse(text, Path::new("t.ini"))
            .unwrap_err()
            .message()
            .to_string()
    }

    #[test]
    fn configparser_rules() {
        let ini = parse(
            "# comment\n; other comment\n[DEFAULT]\nShared = d\nover = default\n\n\
             [a]\nKEY_One = 1\nkey2: two words ; not a comment\nover = mine\n\
             multi = first\n  second\n\n  third\n# skipped comment\n    fourth\n\n\n\
             empty =\n[b]\n  indented = yes\n[DEFAULT]\nlate = l\n",
        );
        assert_eq!(ini.get("a", "key_one"), Some("1"));
        assert_eq!(ini.get("a", "KEY_ONE"), Some("1"));
        assert_eq!(ini.get("a", "key2"), Some("two words ; not a comment"));
        assert_eq!(ini.get("a", "over"), Some("mine"));
        assert_eq!(ini.get("b", "over"), Some("default"));
        assert_eq!(ini.get("b", "shared"), Some("d"));
        assert_eq!(ini.get("b", "late"), Some("l"), "DEFAULT may come back");
        assert_eq!(
            ini.get("a", "multi"),
            Some("first\nsecond\n\nthird\nfourth")
        );
        assert_eq!(ini.get("a", "empty"), Some(""));
        assert_eq!(ini.get("b", "indented"), Some("yes"));
        assert_eq!(ini.get("missing", "shared"), Some("d"));
        assert_eq!(ini.get_own("b", "shared"), None);
        assert_eq!(ini.sections(), vec!["a", "b"]);
        assert!(ini.has_section("DEFAULT"));
        // `=` before `:` or the other way round: the first one splits.
        let ini = parse("[s]\nurl: http://h:1/x=y\nk = a:b\n");
        assert_eq!(ini.get("s", "url"), Some("http://h:1/x=y"));
        assert_eq!(ini.get("s", "k"), Some("a:b"));
        // Section names are case-sensitive and kept as written.
        let ini = parse("[Dev]\nk = 1\n[dev]\nk = 2\n[a]b]\nk = 3\n");
        assert_eq!(ini.get("Dev", "k"), Some("1"));
        assert_eq!(ini.get("dev", "k"), Some("2"));
        assert_eq!(ini.get("a]b", "k"), Some("3"));
        // CRLF files read the same.
        let ini = parse("[s]\r\nk = v\r\n");
        assert_eq!(ini.get("s", "k"), Some("v"));
    }

    #[test]
    fn strict_errors_name_the_line_not_the_content() {
        let e = parse_err("token = secret-value\n[s]\n");
        assert!(e.contains("t.ini line 1"), "{e}");
        assert!(!e.contains("secret-value"));
        assert!(parse_err("[s]\nk = 1\nK = 2\n").contains("line 3"));
        assert!(parse_err("[s]\n[s]\n").contains("twice"));
        assert!(parse_err("[s]\njust-a-secret-token\n").contains("line 2"));
        assert!(parse_err("[s]\n = v\n").contains("without a key"));
        assert!(parse_err("[]\n").contains("line 1"));
        // DEFAULT twice is fine, a key twice in it is not.
        assert!(Ini::parse("[DEFAULT]\na=1\n[DEFAULT]\na=2\n", Path::new("t")).is_err());
    }

    #[test]
    fn edits_keep_everything_else() {
        let original = "# my settings\n[DEFAULT]\ncurrent_environment = a\n\n\
                        [a]\n; keep me\nDHCORE_ENDPOINT: http://x\nnote = line1\n\tline2\n\n\
                        # trailing comment of a\n[b]\nk = v\n";
        let mut ini = parse(original);
        assert!(!ini.set("a", "dhcore_endpoint", "http://x").unwrap());
        assert_eq!(ini.to_text().unwrap(), original, "no change, same bytes");
        ini.set("a", "dhcore_access_token", "tok").unwrap();
        ini.set("DEFAULT", "current_environment", "b").unwrap();
        ini.set("b", "k", "new").unwrap();
        ini.set("c", "x", "1").unwrap();
        let text = ini.to_text().unwrap();
        assert_eq!(
            text,
            "# my settings\n[DEFAULT]\ncurrent_environment = b\n\n\
             [a]\n; keep me\nDHCORE_ENDPOINT: http://x\nnote = line1\n\tline2\n\
             dhcore_access_token = tok\n\n\
             # trailing comment of a\n[b]\nk = new\n\n[c]\nx = 1\n"
        );
        let mut again = parse(&text);
        assert!(again.remove("a", "DHCORE_ACCESS_TOKEN"));
        assert!(!again.remove("a", "dhcore_access_token"));
        assert!(
            !again.remove("a", "current_environment"),
            "inherited, not own"
        );
        again.set("DEFAULT", "current_environment", "a").unwrap();
        again.set("b", "k", "v").unwrap();
        again.remove("c", "x");
        assert_eq!(
            again.to_text().unwrap(),
            original.replace("[b]\nk = v\n", "[b]\nk = v\n\n[c]\n")
        );
    }

    #[test]
    fn new_sections_and_defaults() {
        let mut ini = Ini::default();
        ini.set("__default", "dhcore_access_token", "t").unwrap();
        ini.set("DEFAULT", "current_environment", "__default")
            .unwrap();
        assert_eq!(
            ini.to_text().unwrap(),
            "[DEFAULT]\ncurrent_environment = __default\n\n[__default]\ndhcore_access_token = t\n"
        );
        // No final line break: one is added before a new section.
        let mut ini = parse("[a]\nk = v");
        ini.set("b", "k", "w").unwrap();
        assert_eq!(ini.to_text().unwrap(), "[a]\nk = v\n\n[b]\nk = w\n");
        // Multi-line values and stripping, as ConfigParser reads them back.
        let mut ini = Ini::default();
        ini.set("s", "m", " a \r\n\n b ").unwrap();
        let text = ini.to_text().unwrap();
        assert_eq!(parse(&text).get("s", "m"), Some("a\n\nb"));
        assert!(ini.set("s", "bad key", "v").is_err());
        assert!(ini.set("s", "a=b", "v").is_err());
        assert!(ini.set("", "k", "v").is_err());
    }

    #[test]
    fn an_unsafe_layout_falls_back_to_the_canonical_form() {
        // A new key after `[s]` would swallow the indented header that follows.
        let mut ini = parse("[s]\n  [t]\n  k = v\n");
        assert_eq!(ini.sections(), vec!["s", "t"]);
        ini.set("s", "new", "1").unwrap();
        let text = ini.to_text().unwrap();
        let back = parse(&text);
        assert_eq!(back.get("s", "new"), Some("1"));
        assert_eq!(back.get("t", "k"), Some("v"));
        assert_eq!(text, "[s]\nnew = 1\n\n[t]\nk = v\n\n");
        // Indented keys: a new one gets the same indentation.
        let mut ini = parse("[s]\n  a = 1\n  b = 2\n");
        ini.set("s", "c", "3").unwrap();
        assert_eq!(ini.to_text().unwrap(), "[s]\n  a = 1\n  b = 2\n  c = 3\n");
    }

    #[test]
    fn rfc3339_round_trip() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(i64::MIN), "0000-01-01T00:00:00Z");
        for t in [0, 951_782_400, 1_767_225_599, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2025-01-01T01:00:00+01:00"),
            Some(1_735_689_600)
        );
        assert_eq!(parse_rfc3339("soon"), None);
    }
}
