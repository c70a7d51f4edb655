//! `hubauth doctor`: prints the report `hubauth::diagnose` builds, as text or
//! JSON. Every rule (what is a problem, what to do about it, which URL a
//! probe asks) lives in the library; this only formats.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use hubauth::diagnose::{CredentialReport, Probe, Report};
use hubauth::log::{escape, escape_in_json};
use hubauth::{Error, ErrorKind, Result};

use crate::flags::in_cli_terms;

use crate::status::human_expiry;
use crate::{Global, shown_user};

pub const EXIT_CODES: &str = "\
Exit codes:
  0    all is well
  1    a problem was found (each is printed with what to do)
  2    usage: bad arguments, unknown provider, bad server URL";

pub fn run(g: &Global, json: bool) -> Result<ExitCode> {
    let server = g.server.as_deref().or(g.issuer.as_deref());
    let report = hubauth::diagnose::diagnose(
        g.provider.as_deref(),
        server,
        g.timeout.map(Duration::from_millis),
    )?;
    let mut out = std::io::stdout().lock();
    let written = if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::internal(format!("cannot write JSON: {e}")))?;
        writeln!(out, "{}", escape_in_json(&text))
    } else {
        write_text(&mut out, &report)
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot write to stdout: {e}")))?;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn write_text(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    for c in &report.credentials {
        write_credential(out, c)?;
        writeln!(out)?;
    }
    if let Some(probe) = &report.server {
        writeln!(out, "server  {}", probe_line(probe))?;
        writeln!(out)?;
    }
    if !report.environment.is_empty() {
        writeln!(out, "environment")?;
        for s in &report.environment {
            let missing = if s.exists == Some(false) {
                " (does not exist)"
            } else {
                ""
            };
            writeln!(out, "  {}={}{missing}", escape(&s.name), escape(&s.value))?;
        }
        writeln!(out)?;
    }
    for problem in &report.problems {
        writeln!(out, "! {}", in_cli_terms(&escape(problem)))?;
    }
    let count = report.all_problems().count();
    match count {
        0 => writeln!(out, "All is well."),
        1 => writeln!(out, "1 problem found."),
        n => writeln!(out, "{n} problems found."),
    }
}

fn write_credential(out: &mut impl Write, c: &CredentialReport) -> std::io::Result<()> {
    // Every field may hold a server's string or a path: each is escaped.
    let server = if c.server.is_empty() { "-" } else { &c.server };
    writeln!(out, "{} {}", c.provider, escape(server))?;
    let source = match (&c.env_var, &c.file) {
        (Some(var), _) => format!("environment variable {var}"),
        (None, Some(f)) if !f.exists => format!("file {} (missing)", f.path),
        (None, Some(f)) => format!(
            "file {}{} (mode {}, {})",
            f.path,
            f.target
                .as_deref()
                .map(|t| format!(" -> {t}"))
                .unwrap_or_default(),
            f.mode.as_deref().unwrap_or("?"),
            match f.owned_by_you {
                Some(true) => "yours".to_string(),
                _ => format!("owner uid {}", f.owner_uid.unwrap_or_default()),
            }
        ),
        (None, None) => c.source.clone(),
    };
    writeln!(out, "  source   {}", escape(&source))?;
    if let Some(profile) = &c.profile {
        writeln!(out, "  profile  {}", escape(profile))?;
    }
    writeln!(
        out,
        "  user     {}",
        c.user.as_deref().map_or_else(|| "-".into(), shown_user)
    )?;
    let expiry = match c.expires_at {
        Some(at) => format!("{} (unix {at})", human_expiry(Some(at))),
        None => "never or unknown".to_string(),
    };
    let refresh = if c.refreshable { ", refreshable" } else { "" };
    writeln!(out, "  expires  {expiry}{refresh}")?;
    if let Some(probe) = &c.server_check {
        writeln!(out, "  server   {}", probe_line(probe))?;
    }
    for problem in &c.problems {
        writeln!(out, "  ! {}", in_cli_terms(&escape(problem)))?;
    }
    Ok(())
}

fn probe_line(p: &Probe) -> String {
    let answer = match (p.status, &p.error) {
        (Some(status), _) if p.answered => format!("answers ({status} in {} ms)", p.elapsed_ms),
        (Some(status), _) => format!("a gateway answered {status}"),
        (None, Some(error)) => format!("no answer: {error}"),
        (None, None) => "no answer".to_string(),
    };
    let clock = match p.clock_skew_s {
        Some(skew) => format!(", clock {skew:+} s"),
        None => String::new(),
    };
    escape(&format!("GET {} {answer}{clock}", p.url)).into_owned()
}
