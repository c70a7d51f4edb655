//! `hubauth status`: the credentials `hubauth::status::discover` finds, as a
//! table or JSON. No network unless `--check`.

use std::io::Write;
use std::process::ExitCode;

use hubauth::log::{escape, escape_in_json};
use hubauth::status::CredentialInfo;
use hubauth::token::unix_now;
use hubauth::{Error, ErrorKind, Options, Result};

use crate::{Global, shown_user};

pub fn run(g: &Global, json: bool, check: bool) -> Result<ExitCode> {
    // --provider / --server narrow the list.
    let mut found = hubauth::status::select(
        hubauth::status::discover(),
        g.provider.as_deref(),
        g.server.as_deref(),
    )?;
    // --check: what each server said (the CHECK column, JSON "check").
    let checks: Option<Vec<&str>> =
        check.then(|| found.iter_mut().map(|c| check_one(g, c)).collect());

    // The accounts (all of them: --provider / --server narrow the credentials only).
    let accounts = crate::accounts_ui::rows(&hubauth::status::discover())?;
    let mut out = std::io::stdout().lock();
    let written = if json {
        // Each credential with the names of the accounts that address it.
        let mut entries = Vec::with_capacity(found.len());
        for (i, credential) in found.iter().enumerate() {
            let mut entry = serde_json::to_value(credential)
                .map_err(|e| Error::internal(format!("cannot write JSON: {e}")))?;
            if let Some(map) = entry.as_object_mut() {
                let names = crate::accounts_ui::names_for(&accounts, credential);
                map.insert("accounts".into(), serde_json::json!(names));
                if let Some(checks) = &checks {
                    map.insert("check".into(), serde_json::json!(checks[i]));
                }
            }
            entries.push(entry);
        }
        let text = serde_json::to_string_pretty(&entries)
            .map_err(|e| Error::internal(format!("cannot write JSON: {e}")))?;
        writeln!(out, "{}", escape_in_json(&text))
    } else {
        let mut written = Ok(());
        if !found.is_empty() {
            written = write_table(&mut out, &found, checks.as_deref());
        }
        if written.is_ok() && !accounts.is_empty() {
            if !found.is_empty() {
                written = writeln!(out);
            }
            written = written.and_then(|()| crate::accounts_ui::write_table(&mut out, &accounts));
        }
        written
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot write to stdout: {e}")))?;

    if found.is_empty() {
        eprintln!(
            "hubauth: no credentials found; log in with `hubauth login --server URL` \
             (or set JULIA_PKG_SERVER)"
        );
        return Ok(ExitCode::FAILURE);
    }
    if found.iter().all(|c| c.usable) {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// `--check`: authenticate with this credential without logging in (a due
/// refresh happens, as it would for `hubauth token`) and ask the server.
/// Returns what came of it: `ok`, `rejected` (the server refused the
/// token), `failed` (it could not be asked or refreshed: the problem says
/// why) or `skipped` (nothing to check with).
fn check_one(g: &Global, credential: &mut CredentialInfo) -> &'static str {
    if credential.options.is_empty() || (credential.problem.is_some() && !credential.usable) {
        return "skipped";
    }
    let checked = (|| {
        let mut o = Options::new();
        crate::output::install(&mut o);
        for (key, value) in &credential.options {
            o.set(key, value)?;
        }
        if let Some(ms) = g.timeout {
            o.set("timeout_ms", &ms.to_string())?;
        }
        o.set("interactive", "false")?;
        o.set("validate", "false")?;
        o.set("maxcount", "1")?;
        let auth = hubauth::authenticate(&o)?;
        let good = auth.check()?;
        Ok::<_, Error>((auth, good))
    })();
    match checked {
        Ok((auth, good)) => {
            credential.expires_at = auth.expires_at();
            if credential.user.is_none() {
                credential.user = auth.username();
            }
            if !good {
                credential.usable = false;
                credential.problem = Some(format!(
                    "{} rejected the token; run `hubauth login --force`",
                    auth.server()
                ));
                return "rejected";
            }
            "ok"
        }
        Err(e) => {
            credential.usable = false;
            credential.problem = Some(crate::flags::in_cli_terms(e.message()));
            "failed"
        }
    }
}

fn write_table(
    out: &mut impl Write,
    found: &[CredentialInfo],
    checks: Option<&[&str]>,
) -> std::io::Result<()> {
    let home = dirs::home_dir().map(|h| h.display().to_string());
    let now = unix_now();
    let mut header = vec![
        "PROVIDER",
        "SERVER",
        "USER",
        "SOURCE",
        "EXPIRES",
        "REFRESHABLE",
    ];
    if checks.is_some() {
        header.push("CHECK");
    }
    let rows: Vec<Vec<String>> = found
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Server strings (the user above all) are shown escaped.
            let mut row = vec![
                escape(&c.provider).into_owned(),
                escape(&c.server).into_owned(),
                c.user.as_deref().map_or_else(|| "-".into(), shown_user),
                escape(&shorten_home(&c.source, home.as_deref())).into_owned(),
                if c.problem.is_some() && c.expires_at.is_none() {
                    "-".into()
                } else {
                    human_expiry_at(c.expires_at, now)
                },
                if c.refreshable { "yes" } else { "no" }.into(),
            ];
            if let Some(checks) = checks {
                row.push(checks[i].to_string());
            }
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &header)?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(out, &cells)?;
    }
    let problems: Vec<_> = found
        .iter()
        .filter_map(|c| c.problem.as_ref().map(|p| (c, p)))
        .collect();
    if !problems.is_empty() {
        writeln!(out)?;
        for (c, problem) in problems {
            writeln!(
                out,
                "! {} {}: {}",
                escape(&c.provider),
                escape(&shorten_home(&c.source, home.as_deref())),
                crate::flags::in_cli_terms(&escape(problem))
            )?;
        }
    }
    Ok(())
}

fn shorten_home(source: &str, home: Option<&str>) -> String {
    match home {
        Some(home) if !home.is_empty() && home != "/" => match source.strip_prefix(home) {
            Some(rest) if rest.starts_with('/') => format!("~{rest}"),
            _ => source.to_string(),
        },
        _ => source.to_string(),
    }
}

/// "in 59m", "expired 3h ago", "never".
pub fn human_expiry(expires_at: Option<i64>) -> String {
    human_expiry_at(expires_at, unix_now())
}

fn human_expiry_at(expires_at: Option<i64>, now: i64) -> String {
    match expires_at {
        None => "never".into(),
        // Saturating: a stored expiry may be anything, e.g. i64::MIN.
        Some(at) if at > now => format!("in {}", span(at.saturating_sub(now))),
        Some(at) => format!("expired {} ago", span(now.saturating_sub(at))),
    }
}

fn span(seconds: i64) -> String {
    match seconds {
        ..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..172_800 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_times() {
        assert_eq!(human_expiry_at(Some(1000 + 3599), 1000), "in 59m");
        assert_eq!(
            human_expiry_at(Some(1000 - 3 * 3600 - 5), 1000),
            "expired 3h ago"
        );
        assert_eq!(human_expiry_at(None, 1000), "never");
        assert_eq!(human_expiry_at(Some(1030), 1000), "in 30s");
        assert_eq!(human_expiry_at(Some(1000 + 3 * 86_400), 1000), "in 3d");
        let far = human_expiry_at(Some(i64::MIN), 1_700_000_000);
        assert!(far.starts_with("expired ") && !far.contains('-'), "{far}");
        let far = human_expiry_at(Some(i64::MAX), -5);
        assert!(far.starts_with("in ") && !far.contains('-'), "{far}");
        assert_eq!(shorten_home("/h/u/.julia/x", Some("/h/u")), "~/.julia/x");
        assert_eq!(shorten_home("/h/uv/x", Some("/h/u")), "/h/uv/x");
    }
}
