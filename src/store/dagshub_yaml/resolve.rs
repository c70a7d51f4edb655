//! PyYAML's implicit resolvers (yaml/resolver.py, YAML 1.1): what PyYAML
//! reads a plain scalar as. Only "is it a string" matters to hubauth.

/// True when PyYAML reads `s`, written as a plain scalar, as a string.
pub(super) fn plain_is_str(s: &str) -> bool {
    !(is_null(s)
        || is_bool(s)
        || is_int(s)
        || is_float(s)
        || is_timestamp(s)
        || matches!(s, "<<" | "=" | "!" | "&" | "*"))
}

pub(super) fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

fn is_bool(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

fn all(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(ok)
}

fn digit_or_underscore(b: u8) -> bool {
    b.is_ascii_digit() || b == b'_'
}

/// `[0-9][0-9_]*` (or `[1-9][0-9_]*` with `nonzero`).
fn is_digits(s: &str, nonzero: bool) -> bool {
    match s.as_bytes().first() {
        Some(b'0') if nonzero => false,
        Some(b) if b.is_ascii_digit() => all(&s[1..], digit_or_underscore),
        _ => false,
    }
}

/// `(?::[0-5]?[0-9])+` given the parts after the first `:`.
fn is_sexagesimal_tail<'a>(mut parts: impl Iterator<Item = &'a str>) -> bool {
    let mut any = false;
    for part in parts.by_ref() {
        let b = part.as_bytes();
        let ok = match b {
            [d] => d.is_ascii_digit(),
            [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        any = true;
    }
    any
}

fn is_int(s: &str) -> bool {
    let b = strip_sign(s);
    if let Some(rest) = b.strip_prefix("0b") {
        return !rest.is_empty() && all(rest, |c| matches!(c, b'0' | b'1' | b'_'));
    }
    if let Some(rest) = b.strip_prefix("0x") {
        return !rest.is_empty() && all(rest, |c| c.is_ascii_hexdigit() || c == b'_');
    }
    if b.len() > 1 && b.starts_with('0') && all(&b[1..], |c| matches!(c, b'0'..=b'7' | b'_')) {
        return true;
    }
    if b == "0" || is_digits(b, true) {
        return true;
    }
    let mut parts = b.split(':');
    let first = parts.next().unwrap_or("");
    b.contains(':') && is_digits(first, true) && is_sexagesimal_tail(parts)
}

/// `(?:[eE][-+][0-9]+)?` followed by the end.
fn is_exponent_or_end(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let Some(rest) = s.strip_prefix(['e', 'E']) else {
        return false;
    };
    let Some(digits) = rest.strip_prefix(['-', '+']) else {
        return false;
    };
    !digits.is_empty() && all(digits, |c| c.is_ascii_digit())
}

fn is_float(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?  (no sign)
    if let Some(rest) = s.strip_prefix('.')
        && rest.as_bytes().first().is_some_and(u8::is_ascii_digit)
    {
        let end = rest
            .bytes()
            .position(|c| !digit_or_underscore(c))
            .unwrap_or(rest.len());
        if is_exponent_or_end(&rest[end..]) {
            return true;
        }
    }
    let b = strip_sign(s);
    if matches!(b, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let Some(dot) = b.find('.') else {
        return false;
    };
    let (whole, after) = (&b[..dot], &b[dot + 1..]);
    // [0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?
    if is_digits(whole, false) {
        let end = after
            .bytes()
            .position(|c| !digit_or_underscore(c))
            .unwrap_or(after.len());
        if is_exponent_or_end(&after[end..]) {
            return true;
        }
    }
    // [0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    let mut parts = whole.split(':');
    let first = parts.next().unwrap_or("");
    whole.contains(':')
        && is_digits(first, false)
        && is_sexagesimal_tail(parts)
        && all(after, digit_or_underscore)
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize, min: usize, max: usize| -> bool {
        let start = *i;
        while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start >= min
    };
    let lit = |i: &mut usize, c: u8| -> bool {
        if b.get(*i) == Some(&c) {
            *i += 1;
            true
        } else {
            false
        }
    };
    // [0-9]{4}-[0-9]{2}-[0-9]{2}
    if b.len() == 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
    {
        return true;
    }
    // [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}
    // (?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?
    if !(digits(&mut i, 4, 4)
        && lit(&mut i, b'-')
        && digits(&mut i, 1, 2)
        && lit(&mut i, b'-')
        && digits(&mut i, 1, 2))
    {
        return false;
    }
    if !(lit(&mut i, b'T') || lit(&mut i, b't')) {
        let start = i;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if !(digits(&mut i, 1, 2)
        && lit(&mut i, b':')
        && digits(&mut i, 2, 2)
        && lit(&mut i, b':')
        && digits(&mut i, 2, 2))
    {
        return false;
    }
    if lit(&mut i, b'.') {
        digits(&mut i, 0, usize::MAX);
    }
    if i == b.len() {
        return true;
    }
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    if lit(&mut i, b'Z') {
        return i == b.len();
    }
    if !(lit(&mut i, b'-') || lit(&mut i, b'+')) || !digits(&mut i, 1, 2) {
        return false;
    }
    if lit(&mut i, b':') && !digits(&mut i, 2, 2) {
        return false;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_match_pyyaml() {
        for s in [
            "",
            "~",
            "null",
            "NULL",
            "yes",
            "No",
            "on",
            "OFF",
            "true",
            "0",
            "-0",
            "+12",
            "012",
            "0b101",
            "0x1F",
            "1_000",
            "190:20:30",
            "1.5",
            "1.",
            ".5",
            "1:30.5",
            ".inf",
            "-.Inf",
            ".nan",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "2001-12-14 21:59:43.10 -5",
            "2001-1-1 1:00:00",
            "2099-01-02T03:04:05.678901Z",
            "<<",
            "=",
        ] {
            assert!(!plain_is_str(s), "{s:?} is not a string to PyYAML");
        }
        for s in [
            "abc",
            "1e5",
            "0o",
            "0o17",
            "-.5e+3",
            "1e+5.",
            "08x",
            "0b",
            "0x",
            "1.5e5",
            ".5.5",
            "y",
            "n",
            "NaN",
            "1:60",
            "2001-12-1",
            "2001-12-14T",
            "2001-12-14 21:59",
            "2001-12-14 21:59:43 X",
            "app-token",
            "-",
            "--",
            "12a",
            "+",
            ".",
            "_1",
        ] {
            assert!(plain_is_str(s), "{s:?} is a string to PyYAML");
        }
    }
}
