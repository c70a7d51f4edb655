//! What the CLI tells people on stderr: the library's warnings and notices
//! (through a log sink, so they are in the CLI's terms and `-v` shows more)
//! and the final error, each with option names shown as the CLI's flags.

use std::sync::{Arc, OnceLock};

use hubauth::log::{Level, Sink, escape};
use hubauth::{Error, Options};

use crate::flags::in_cli_terms;

static VERBOSITY: OnceLock<u8> = OnceLock::new();

/// Records `-v`'s count: 0 warnings and notices, 1 also what the library
/// reports as information (the account used), 2 and more also its debug lines.
pub fn set_verbosity(count: u8) {
    let _ = VERBOSITY.set(count);
}

fn most_detailed() -> Level {
    match VERBOSITY.get().copied().unwrap_or(0) {
        0 => Level::Notice,
        1 => Level::Info,
        _ => Level::Debug,
    }
}

/// The sink every call of the CLI gets.
fn sink() -> Sink {
    let most = most_detailed();
    // HUBAUTH_LOG=off silences warnings and notices, as without a sink; -v
    // still shows what it asked for.
    let quiet = !hubauth::log::stderr_enabled();
    Arc::new(move |level: Level, message: &str| {
        if level > most || (quiet && level <= Level::Notice) {
            return;
        }
        let message = in_cli_terms(message);
        match level {
            Level::Error => eprintln!("hubauth: error: {message}"),
            Level::Warn => eprintln!("hubauth: warning: {message}"),
            Level::Notice | Level::Info => eprintln!("hubauth: {message}"),
            Level::Debug => eprintln!("hubauth: debug: {message}"),
        }
    })
}

/// Gives `options` the CLI's sink.
pub fn install(options: &mut Options) {
    options.set_log(Some(sink()));
}

/// Prints the error a command ended with.
pub fn error(e: &Error) {
    eprintln!("hubauth: {}", in_cli_terms(&escape(e.message())));
}
