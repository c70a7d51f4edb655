//! Reading the environment, so that providers can be tested with their own.
//! A leaf: it imports nothing of the crate.

/// Reads an environment variable; tests pass their own.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment (`HOME` falls back to the password database).
pub fn process_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) if name == "HOME" => dirs::home_dir().map(|p| p.to_string_lossy().into_owned()),
        Err(_) => None,
    }
}

/// `name`'s value when it is set and not blank (the value itself untrimmed).
pub fn non_empty(env: Env<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}
