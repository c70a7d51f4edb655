//! `hubauth setup-git`: makes hubauth git's credential helper for one hub,
//! as `gh auth setup-git` does: for the hub's URL, an empty helper (so the
//! helpers of other configuration files are not asked for it) and then
//! `hubauth git-credential`, written with `git config --global`.

use std::process::{Command, ExitCode};

use hubauth::log::escape;
use hubauth::{Error, ErrorKind, Result};

use crate::Global;

/// `dry_run`: print the commands only.
pub fn run(g: &Global, dry_run: bool) -> Result<ExitCode> {
    let options = g.options(|_| Ok(()))?;
    let resolved = hubauth::accounts::resolve(&options)?;
    let server = crate::server_of(&resolved)?;
    let exe = std::env::current_exe().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot find the hubauth program: {e}"),
        )
    })?;
    // The helper selects the credential as this command did.
    let mut helper = format!(
        "!{} git-credential",
        shell_quote(&exe.display().to_string())
    );
    if let Some(name) = &g.name {
        helper.push_str(&format!(" --name {}", shell_quote(name)));
    }
    if resolved.provider != hubauth::ProviderKind::JuliaHub {
        helper.push_str(&format!(" --provider {}", resolved.provider.name()));
    }
    helper.push_str(&format!(" --server {}", shell_quote(&server)));
    if let Some(kind) = &g.token_kind {
        helper.push_str(&format!(" --token-kind {}", shell_quote(kind)));
    }
    let key = format!("credential.{server}.helper");
    let commands: [Vec<&str>; 2] = [
        vec!["config", "--global", "--replace-all", &key, ""],
        vec!["config", "--global", "--add", &key, &helper],
    ];
    for args in &commands {
        let shown: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        eprintln!(
            "{} git {}",
            if dry_run { "would run:" } else { "running:" },
            escape(&shown.join(" "))
        );
        if dry_run {
            continue;
        }
        let status = Command::new("git")
            .args(args)
            .status()
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot run git: {e}")))?;
        if !status.success() {
            return Err(Error::new(
                ErrorKind::Io,
                format!("git config failed ({status}); nothing else was changed"),
            ));
        }
    }
    if !dry_run {
        eprintln!(
            "git now asks hubauth for {} (log in first: `hubauth login`)",
            escape(&server)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `text` as one shell word (git runs a `!` helper with the shell).
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("https://a.example/x"), "https://a.example/x");
        assert_eq!(shell_quote("/my dir/hubauth"), "'/my dir/hubauth'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
