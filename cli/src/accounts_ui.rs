//! Named accounts as the CLI shows them: `login --name` records one,
//! `logout --name` forgets it, `switch` sets the default and `status` lists
//! them. The list and the rule that applies an account to a call are the
//! library's (`hubauth::accounts`).

use std::io::Write;
use std::process::ExitCode;

use hubauth::accounts::{self, Account};
use hubauth::log::escape;
use hubauth::status::CredentialInfo;
use hubauth::{Options, Result};

/// Whether `name` is a recorded account (a login under a new name is not
/// given the option `account`: there is nothing to fill in from yet).
pub fn exists(name: &str) -> Result<bool> {
    Ok(accounts::load()?.get(name).is_some())
}

/// After a successful login: records `name` with the options it was made
/// with (as the library resolved them) and the hub it reached.
pub fn remember(name: &str, options: &Options, server: &str, make_default: bool) -> Result<()> {
    let resolved = accounts::resolve(options)?;
    let became_default = accounts::update(|list| {
        list.remember(name, &resolved, Some(server))?;
        if make_default {
            list.set_default(name)?;
        }
        Ok(list.default_account().is_some_and(|a| a.name == name))
    })?;
    let note = if became_default { " (the default)" } else { "" };
    eprintln!("Saved account {}{note}", escape(name));
    Ok(())
}

/// After `logout --name NAME`: forgets the account.
pub fn forget(name: &str) -> Result<()> {
    let forgot = accounts::update(|list| Ok(list.forget(name)))?;
    if forgot {
        eprintln!("Forgot account {}", escape(name));
    }
    Ok(())
}

/// `hubauth switch NAME`.
pub fn switch(name: &str) -> Result<ExitCode> {
    accounts::update(|list| list.set_default(name))?;
    eprintln!("The default account is now {}", escape(name));
    Ok(ExitCode::SUCCESS)
}

/// One account for `status`.
pub struct Row {
    pub account: Account,
    pub default: bool,
    /// A credential it addresses is usable (as `status` tells, without network).
    pub usable: bool,
}

/// Every account, with whether it is the default and usable among `found`.
pub fn rows(found: &[CredentialInfo]) -> Result<Vec<Row>> {
    let list = accounts::load()?;
    let default = list.default_account().map(|a| a.name);
    Ok(list
        .list()
        .into_iter()
        .map(|account| Row {
            usable: account.matching(found).iter().any(|c| c.usable),
            default: default.as_deref() == Some(account.name.as_str()),
            account,
        })
        .collect())
}

/// The names of the accounts that address `credential`.
pub fn names_for<'a>(rows: &'a [Row], credential: &CredentialInfo) -> Vec<&'a str> {
    rows.iter()
        .filter(|r| {
            !r.account
                .matching(std::slice::from_ref(credential))
                .is_empty()
        })
        .map(|r| r.account.name.as_str())
        .collect()
}

/// The accounts table of `status`.
pub fn write_table(out: &mut impl Write, rows: &[Row]) -> std::io::Result<()> {
    let header = ["ACCOUNT", "PROVIDER", "SERVER", "DEFAULT", "USABLE"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let a = &r.account;
            let server = a.get("issuer").or(a.get("server")).unwrap_or("-");
            [
                escape(&a.name).into_owned(),
                escape(
                    a.get("provider")
                        .unwrap_or(hubauth::ProviderKind::DEFAULT.name()),
                )
                .into_owned(),
                escape(server).into_owned(),
                if r.default { "yes" } else { "no" }.into(),
                if r.usable { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, row: &[&str]| {
        let text: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", text.join("  ").trim_end())
    };
    line(out, &header)?;
    for row in &cells {
        line(out, &row.each_ref().map(String::as_str))?;
    }
    Ok(())
}
