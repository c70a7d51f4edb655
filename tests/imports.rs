//! Imports run one way (issue 11). Every file under `src/` (but `lib.rs`, which
//! only declares modules; the CLI is its own crate in `cli/`, on the public API) may
//! name, through `use crate::…` or any `crate::…` / `super::…` path, only
//! modules of its own layer or a lower one. The layers, low to high:
//!
//! 0. leaves: `error`, `secret`, `token`, `server`, `env`, `jwt`, `log`,
//!    `net`, `options`, `credential`, `random`, `reply`, `cancel`, `progress`,
//!    `scope`, `provider_kind` (the hubs' names and facts, generated from the
//!    rows of the hub table) (they may use each other);
//! 1. `store/`: where tokens live;
//! 2. `flow/`: how new tokens are obtained;
//! 3. `provider/`: one module per hub, plus `provider/mod.rs` (the `Provider`
//!    trait: what differs per hub);
//! 4. `lifecycle` (the engine), `hubs` (the `PROVIDERS` table), `auth`,
//!    `status`, `diagnose` (`hubauth doctor`), `job` (calls on the library's
//!    thread): what drives the providers;
//! 5. `ffi/`: the C ABI.
//!
//! Besides, a provider never names another provider (`provider/<a>…` naming
//! `crate::provider::<b>`); only what `provider/mod.rs` itself defines is
//! shared. So nothing in `store/` names `flow`, `provider` or `status`,
//! nothing in `flow/` names `provider` or `status`, and no provider names
//! `status`. A new top-level module must be given a layer in [`layer`].
//!
//! Shared pieces go down, not sideways: the environment reader in `env.rs`,
//! JWT claims in `jwt.rs`, `CredentialInfo` in `credential.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer of a top-level module of the crate; None = not classified.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "error" | "secret" | "token" | "server" | "env" | "jwt" | "log" | "net" | "options"
        | "credential" | "random" | "reply" | "cancel" | "progress" | "scope" | "provider_kind" => {
            0
        }
        "store" => 1,
        "flow" => 2,
        "provider" => 3,
        "auth" | "status" | "lifecycle" | "hubs" | "diagnose" | "job" | "accounts" => 4,
        "ffi" => 5,
        _ => return None,
    })
}

/// Source text with comments, string literals and char literals blanked out
/// (so a `crate::` in a doc link or a message is not taken for a path).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && (i == 0 || !is_ident(b[i - 1]))
            && raw_string_len(rest).is_some()
        {
            i += raw_string_len(rest).unwrap();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '"'), else a lifetime.
            if rest.len() >= 3 && rest[1] == b'\\' {
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else if let Some(len) = char_literal_len(rest) {
                i += len;
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Length of a raw string literal (`r"…"`, `r#"…"#`, `br#"…"#`) at the start.
fn raw_string_len(s: &[u8]) -> Option<usize> {
    let mut i = if s.starts_with(b"br") { 2 } else { 1 };
    let hashes = s[i..].iter().take_while(|&&c| c == b'#').count();
    i += hashes;
    if s.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    let mut end = vec![b'"'];
    end.extend(std::iter::repeat_n(b'#', hashes));
    let close = s[i..]
        .windows(end.len())
        .position(|w| w == end.as_slice())?;
    Some(i + close + end.len())
}

/// Length of a one-character literal (`'x'`, `'é'`) at the start.
fn char_literal_len(s: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(&s[1..s.len().min(6)])
        .ok()
        .or_else(|| {
            // Cut inside a multi-byte character: try shorter.
            (2..6)
                .rev()
                .find_map(|n| std::str::from_utf8(&s[1..s.len().min(n)]).ok())
        })?;
    let c = text.chars().next()?;
    let after = 1 + c.len_utf8();
    (s.get(after) == Some(&b'\'')).then_some(after + 1)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Parses a use tree (`a::b`, `a::{b, c::d}`, `a::*`) at `s[*i..]` into the
/// paths it names, each as its segments.
fn parse_tree(s: &[u8], i: &mut usize) -> Vec<Vec<String>> {
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let mut prefix = Vec::new();
    loop {
        skip_ws(i);
        if *i < s.len() && s[*i] == b'{' {
            *i += 1;
            let mut paths = Vec::new();
            loop {
                skip_ws(i);
                if *i >= s.len() || s[*i] == b'}' {
                    *i += 1;
                    break;
                }
                for sub in parse_tree(s, i) {
                    let mut path = prefix.clone();
                    path.extend(sub);
                    paths.push(path);
                }
                skip_ws(i);
                if *i < s.len() && s[*i] == b',' {
                    *i += 1;
                }
            }
            return paths;
        }
        let start = *i;
        while *i < s.len() && (is_ident(s[*i]) || s[*i] == b'*') {
            *i += 1;
        }
        if start == *i {
            return vec![prefix];
        }
        prefix.push(String::from_utf8_lossy(&s[start..*i]).into_owned());
        if s[*i..].starts_with(b"::") {
            *i += 2;
        } else {
            return vec![prefix];
        }
    }
}

/// Every module path a source file names, made absolute (`crate::a::b` →
/// `[a, b]`, `super::x` in `provider/cave.rs` → `[provider, x]`).
fn named_paths(module: &[String], text: &str) -> Vec<Vec<String>> {
    let code = code_only(text);
    let s = code.as_bytes();
    let mut found = Vec::new();
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(pos) = code[from..].find(anchor) {
            let at = from + pos;
            from = at + anchor.len();
            if at > 0 && (is_ident(s[at - 1]) || s[at - 1] == b'$' || s[at - 1] == b':') {
                continue;
            }
            let mut i = at;
            for path in parse_tree(s, &mut i) {
                let mut segments = path.into_iter().peekable();
                let mut absolute: Vec<String> = match segments.next().as_deref() {
                    Some("crate") => Vec::new(),
                    Some("super") => {
                        let mut base = module.to_vec();
                        base.pop();
                        while segments.peek().map(String::as_str) == Some("super") {
                            segments.next();
                            base.pop();
                        }
                        base
                    }
                    _ => continue,
                };
                absolute.extend(segments.filter(|s| s != "self"));
                if !absolute.is_empty() {
                    found.push(absolute);
                }
            }
        }
    }
    found
}

/// The names `lib.rs` re-exports at the crate root, with their module
/// (`Options` → `options`), so `crate::Options` is classified too.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let code = code_only(lib);
    let s = code.as_bytes();
    let mut map = BTreeMap::new();
    let mut from = 0;
    while let Some(pos) = code[from..].find("pub use ") {
        let mut i = from + pos + "pub use ".len();
        from = i;
        for path in parse_tree(s, &mut i) {
            if let (Some(first), Some(last)) = (path.first(), path.last()) {
                map.insert(last.clone(), first.clone());
            }
        }
    }
    map
}

/// The module path of a file under `src/`: `provider/dhcore/mod.rs` →
/// `[provider, dhcore]`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The rule each path a file names breaks, if any.
fn violations(
    relative: &Path,
    text: &str,
    providers: &[String],
    root: &BTreeMap<String, String>,
) -> Vec<String> {
    let module = module_of(relative);
    let Some(own) = module.first().and_then(|m| layer(m)) else {
        return vec![format!(
            "{}: module {:?} has no layer; give it one in tests/imports.rs",
            relative.display(),
            module.first()
        )];
    };
    let own_provider = (module.first().map(String::as_str) == Some("provider"))
        .then(|| module.get(1).filter(|p| providers.contains(p)))
        .flatten();
    let mut found = Vec::new();
    for path in named_paths(&module, text) {
        let first = &path[0];
        let target = if layer(first).is_some() {
            first.clone()
        } else if let Some(module) = root.get(first) {
            module.clone()
        } else if first.starts_with(|c: char| c.is_ascii_uppercase()) || first == "*" {
            continue; // an item of lib.rs itself
        } else {
            found.push(format!(
                "{}: names crate::{} (an unknown module; give it a layer in tests/imports.rs)",
                relative.display(),
                path.join("::")
            ));
            continue;
        };
        let to = layer(&target).unwrap_or(u8::MAX);
        if to > own {
            found.push(format!(
                "{}: names crate::{} ({} is above {})",
                relative.display(),
                path.join("::"),
                target,
                module[0]
            ));
        }
        if let Some(own_provider) = own_provider
            && target == "provider"
            && let Some(other) = path.get(1).filter(|p| providers.contains(p))
            && other != own_provider
        {
            found.push(format!(
                "{}: provider {own_provider} names crate::{} (another provider; move the \
                 shared piece to a leaf module)",
                relative.display(),
                path.join("::")
            ));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn provider_names(src: &Path) -> Vec<String> {
    std::fs::read_dir(src.join("provider"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_string_lossy().into_owned();
            (name != "mod").then_some(name)
        })
        .collect()
}

#[test]
fn imports_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let providers = provider_names(&src);
    let root = root_reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    let mut checked = 0;
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        if relative == Path::new("lib.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        found.extend(violations(relative, &text, &providers, &root));
        checked += 1;
    }
    assert!(checked > 20, "only {checked} files checked");
    assert!(
        found.is_empty(),
        "backward imports (see the rule in tests/imports.rs):\n{}",
        found.join("\n")
    );
}

/// The checker itself: it sees what it must and nothing else.
#[test]
fn the_checker_catches_backward_imports() {
    let providers: Vec<String> = ["cave", "dagshub", "dhcore"].map(String::from).to_vec();
    let root: BTreeMap<String, String> = [("Options".to_string(), "options".to_string())].into();
    let check = |file: &str, text: &str| violations(Path::new(file), text, &providers, &root);

    assert_eq!(check("store/x.rs", "use crate::flow::oauth;").len(), 1);
    assert_eq!(
        check(
            "store/x.rs",
            "use crate::{error::Error, status::{self, CredentialInfo}};"
        )
        .len(),
        2,
        "a grouped import names status twice: the module and an item"
    );
    assert_eq!(
        check("flow/x.rs", "fn f() { crate::provider::for_options(o) }").len(),
        1
    );
    assert_eq!(
        check("provider/cave.rs", "use crate::provider::dagshub::Env;").len(),
        1
    );
    assert_eq!(check("provider/cave.rs", "use super::dagshub;").len(), 1);
    assert_eq!(
        check("provider/dhcore/renew.rs", "use super::super::cave::X;").len(),
        1
    );
    assert_eq!(
        check("provider/cave.rs", "use crate::status::CredentialInfo;").len(),
        1
    );
    assert_eq!(check("net.rs", "use crate::Options;").len(), 0);
    assert_eq!(check("newthing.rs", "").len(), 1, "an unclassified module");

    // Allowed: down, sideways within a layer, a provider's own submodules,
    // provider/mod.rs's shared items.
    let fine = "use crate::store::pkg_toml;\nuse crate::jwt;\nuse super::Provider;\n\
                use crate::provider::{self, Provider, with_tries};\n\
                use crate::provider::dhcore::settings::*;\nuse super::settings::Method;";
    assert_eq!(
        check("provider/dhcore/status.rs", fine),
        Vec::<String>::new()
    );
    // Comments, strings and char literals are not code.
    let quiet = "//! See [`crate::status`].\n/* crate::ffi */ const S: &str = \"crate::auth\";\n\
                 const R: &str = r#\"crate::auth \"quoted\"\"#; const C: char = '\"';\n\
                 fn f<'a>(x: &'a str) {}";
    assert_eq!(check("store/x.rs", quiet), Vec::<String>::new());
}
