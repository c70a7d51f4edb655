//! `hubauth completions SHELL` and `hubauth man`: generated from the clap
//! definition, so they always match the commands and flags.

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use hubauth::{Error, ErrorKind, Result};

fn write_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot write to stdout: {e}"))
}

/// The completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> Result<ExitCode> {
    let mut cli = crate::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cli, "hubauth", &mut out);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out).map_err(write_error)?;
    Ok(ExitCode::SUCCESS)
}

/// The man page (roff) on stdout: `hubauth man > hubauth.1`, or
/// `hubauth man | man -l -`.
pub fn man() -> Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(crate::Cli::command())
        .render(&mut out)
        .map_err(write_error)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out).map_err(write_error)?;
    Ok(ExitCode::SUCCESS)
}
