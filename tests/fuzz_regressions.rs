//! The fuzz targets' checks, run on stable without a fuzzer: over every seed
//! in fuzz/corpus/<target>/ and every input that once failed, kept in
//! fuzz/regressions/<target>/ (copy a crash from fuzz/artifacts/<target>/
//! there and it becomes a test). See fuzz/README.md.

mod fuzz_checks;

use std::path::{Path, PathBuf};

/// Runs `check` on every file of fuzz/corpus/<target> and
/// fuzz/regressions/<target>; returns how many there were.
fn run(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir).join(target)).ok())
        .flatten()
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    for path in &files {
        let bytes = std::fs::read(path).expect("readable");
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        if let Err(panic) = outcome {
            eprintln!("{target}: {} fails", path.display());
            std::panic::resume_unwind(panic);
        }
    }
    files.len()
}

#[test]
fn auth_toml() {
    assert!(run("auth_toml", fuzz_checks::auth_toml) > 0);
}

#[test]
fn oidc_toml() {
    assert!(run("oidc_toml", fuzz_checks::oidc_toml) > 0);
}

#[test]
fn dagshub_yaml() {
    assert!(run("dagshub_yaml", fuzz_checks::dagshub_yaml) > 0);
}

#[test]
fn cave_json() {
    assert!(run("cave_json", fuzz_checks::cave_json) > 0);
}

#[test]
fn token_reply() {
    assert!(run("token_reply", fuzz_checks::token_reply) > 0);
}

#[test]
fn device_reply() {
    assert!(run("device_reply", fuzz_checks::device_reply) > 0);
}

#[test]
fn pkg_replies() {
    assert!(run("pkg_replies", fuzz_checks::pkg_replies) > 0);
}

#[test]
fn dhcore_ini() {
    assert!(run("dhcore_ini", fuzz_checks::dhcore_ini) > 0);
}
