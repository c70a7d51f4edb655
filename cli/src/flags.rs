//! Library messages in the CLI's terms. The library names an option as
//! `` `key` `` or `` `key=value` `` (a key of `hubauth::options::KEYS`); the
//! CLI shows each such span as its own flag (`force=true` → `--force`,
//! `timeout_ms` → `--timeout`), or as `-o key=value` where it has none. The
//! table comes from the clap definition, so a new flag is found by itself.

use std::sync::OnceLock;

use clap::{ArgAction, CommandFactory};
use hubauth::options::KEYS;

/// Flags whose option key is not their long name with `-` made `_`, and
/// whether the flag takes the option's value as it is (`--timeout` takes
/// seconds, `timeout_ms` milliseconds).
const RENAMED: &[(&str, &str, bool)] = &[
    ("timeout_ms", "timeout", false),
    ("account", "name", true),
    ("min_valid_s", "min-valid", true),
];

/// One flag that sets an option.
struct Flag {
    key: &'static str,
    long: String,
    /// Takes a value (else a switch that sets the option to true).
    takes_value: bool,
    /// The flag takes the option's value unchanged.
    same_value: bool,
    value_name: String,
    /// The subcommand it belongs to; None: a global flag.
    command: Option<String>,
}

static TABLE: OnceLock<Vec<Flag>> = OnceLock::new();
static RUNNING: OnceLock<String> = OnceLock::new();

/// Records the subcommand being run: its own flags are named bare, another
/// command's with that command (`hubauth login --force`).
pub fn set_running(command: &str) {
    let _ = RUNNING.set(command.to_string());
}

fn table() -> &'static [Flag] {
    TABLE.get_or_init(|| {
        let cli = crate::Cli::command();
        let mut flags = Vec::new();
        let mut add = |arg: &clap::Arg, command: Option<&str>| {
            let Some(long) = arg.get_long() else { return };
            let renamed = RENAMED.iter().find(|(_, flag, _)| *flag == long);
            let (key, same_value) = match renamed {
                Some((key, _, same)) => (key.to_string(), *same),
                None => (long.replace('-', "_"), true),
            };
            let Some(key) = KEYS.iter().find(|k| **k == key) else {
                return;
            };
            let takes_value = !matches!(
                arg.get_action(),
                ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
            );
            let value_name = arg
                .get_value_names()
                .and_then(|names| names.first())
                .map(|n| n.to_string())
                .unwrap_or_else(|| "VALUE".into());
            flags.push(Flag {
                key,
                long: long.to_string(),
                takes_value,
                same_value,
                value_name,
                command: command.map(str::to_string),
            });
        };
        for arg in cli.get_arguments() {
            add(arg, None);
        }
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                add(arg, Some(sub.get_name()));
            }
        }
        flags
    })
}

/// `message` with every backquoted option span shown as the CLI's flag.
pub fn in_cli_terms(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('`') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('`') else { break };
        let span = &after[..end];
        out.push_str(&rest[..start]);
        out.push('`');
        out.push_str(&as_flag(span).unwrap_or_else(|| span.to_string()));
        out.push('`');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The CLI's form of one span, when it names an option.
fn as_flag(span: &str) -> Option<String> {
    let (key, value) = match span.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (span, None),
    };
    if !KEYS.contains(&key) {
        return None;
    }
    let running = RUNNING.get().map(String::as_str);
    let candidates = table().iter().filter(|f| f.key == key);
    // Global or the running command's flag first, then another command's.
    let flag = candidates
        .clone()
        .find(|f| f.command.is_none() || f.command.as_deref() == running)
        .or_else(|| candidates.clone().next());
    let Some(flag) = flag else {
        return Some(match value {
            Some(value) => format!("-o {key}={value}"),
            None => format!("-o {key}=…"),
        });
    };
    let prefix = match &flag.command {
        Some(command) if Some(command.as_str()) != running => format!("hubauth {command} "),
        _ => String::new(),
    };
    let shown = match (flag.takes_value, value) {
        (false, None | Some("true")) => format!("--{}", flag.long),
        (false, Some(value)) => return Some(format!("-o {key}={value}")),
        (true, None) => format!("--{}", flag.long),
        (true, Some(value)) if flag.same_value => format!("--{} {value}", flag.long),
        (true, Some(_)) => format!("--{} {}", flag.long, flag.value_name),
    };
    Some(format!("{prefix}{shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_the_flags_of_the_running_command() {
        set_running("login");
        assert_eq!(
            in_cli_terms("fix or delete the file, or authenticate with `force=true`"),
            "fix or delete the file, or authenticate with `--force`"
        );
        assert_eq!(
            in_cli_terms("raise `timeout_ms` to wait longer"),
            "raise `--timeout` to wait longer"
        );
        assert_eq!(
            in_cli_terms("`timeout_ms=5000` is too short"),
            "`--timeout SECS` is too short"
        );
        assert_eq!(in_cli_terms("needs `issuer`"), "needs `--issuer`");
        assert_eq!(in_cli_terms("`server=https://a`"), "`--server https://a`");
        assert_eq!(in_cli_terms("`maxcount=5`"), "`-o maxcount=5`");
        assert_eq!(in_cli_terms("`maxcount`"), "`-o maxcount=…`");
        assert_eq!(in_cli_terms("`force=false`"), "`-o force=false`");
        // Another command's flag is named with its command.
        assert_eq!(
            in_cli_terms("`interactive=true`"),
            "`hubauth token --interactive`"
        );
        // Not an option: left alone, as is an unpaired quote.
        assert_eq!(in_cli_terms("run `chmod 600 x`"), "run `chmod 600 x`");
        assert_eq!(in_cli_terms("a ` b `force"), "a ` b `force");
    }
}
