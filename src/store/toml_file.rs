//! Parsing a TOML token file without ever quoting it: the toml crate's
//! messages show the offending line, which may hold a token, so errors name
//! only the file and the line number.

use std::path::Path;

use crate::error::{Error, Result};

const FIX_HINT: &str = "fix or delete the file, or authenticate with force=true";

/// The top-level table of a TOML token file; `path` is named in errors.
pub fn parse_table(bytes: &[u8], path: &Path) -> Result<toml::Table> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::format(format!("{} is not UTF-8 text; {FIX_HINT}", path.display())))?;
    text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        Error::format(format!(
            "{} is not valid TOML{at}; {FIX_HINT}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line_not_the_content() {
        let err = parse_table(
            b"a = 1\nid_token = \"secret-value\nb",
            Path::new("auth.toml"),
        )
        .unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Format);
        assert!(
            err.message().contains("auth.toml is not valid TOML (line "),
            "{err}"
        );
        assert!(!err.message().contains("secret-value"));
        let err = parse_table(b"\xff", Path::new("auth.toml")).unwrap_err();
        assert!(err.message().contains("not UTF-8"));
    }
}
