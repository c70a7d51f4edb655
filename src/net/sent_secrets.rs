//! The secrets a request carried, kept with its reply, so that nothing hubauth
//! quotes from the reply shows them.
//!
//! A web application firewall, a proxy or a debugging server may answer an
//! error with the request it received: the refresh token, the client secret,
//! the device code, the bearer token. hubauth quotes error replies (to say why
//! a server refused), and those quotes reach messages, stderr and the
//! transcript. [`crate::net::send`] therefore takes the secret values out of
//! the request before sending it (`SentSecrets::of`) and hands them over
//! with the [`Response`](crate::net::Response); every quote of a reply goes
//! through [`SentSecrets::redact`] (in `Error::server_reply` and
//! `OAuthError::from_reply`, which take the response, not its bytes).
//!
//! A secret is recognised as sent and in the forms an echo may show it:
//! percent-encoded (as a form encodes it, `+` for a space, upper- or
//! lower-case hex, or with `%20`; or with only the characters outside
//! RFC 3986's unreserved set encoded), as a JSON string, and base64-encoded
//! (standard or URL-safe alphabet, alone or anywhere inside a longer base64
//! text, whatever its alignment there). A very short secret (a one-letter
//! password) is replaced wherever it occurs: the quote gets hard to read,
//! but never shows it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use super::{Body, Request, SECRET_FORM_FIELDS};

/// What a secret is replaced with in a quote.
pub const REDACTED: &str = "***";

/// Shortest base64 text recognised as a secret inside a longer one: below it,
/// the pattern would match ordinary text.
const MIN_BASE64_CORE: usize = 4;

/// The secret values of one request (zeroed when dropped).
#[derive(Default)]
pub struct SentSecrets {
    values: Vec<Zeroizing<String>>,
}

impl SentSecrets {
    /// No secrets: for a reply parsed without a request (tests, fuzzing).
    pub fn none() -> Self {
        SentSecrets::default()
    }

    /// The secrets `request` carries: the values of its `authorization` and
    /// `cookie` headers (whole, the credential after the scheme, a Basic
    /// credential's decoded `user:password` and password, each cookie's
    /// value), its form fields named in [`SECRET_FORM_FIELDS`], and, for a
    /// request marked [`Request::credential`], every value of its body.
    pub(crate) fn of(request: &Request) -> Self {
        let mut secrets = SentSecrets::default();
        for (name, value) in &request.headers {
            match *name {
                "authorization" => secrets.add_authorization(value),
                "cookie" => {
                    secrets.add(value);
                    for pair in value.split(';') {
                        if let Some((_, cookie)) = pair.split_once('=') {
                            secrets.add(cookie.trim());
                        }
                    }
                }
                _ => {}
            }
        }
        match &request.body {
            Body::None => {}
            Body::Form(fields) => {
                for (name, value) in fields {
                    if request.credential || SECRET_FORM_FIELDS.contains(&name.as_str()) {
                        secrets.add(value);
                    }
                }
            }
            Body::Json(value) if request.credential => secrets.add_json_strings(value),
            Body::Json(_) => {}
            Body::Text(text) if request.credential => secrets.add(text.trim()),
            Body::Text(_) => {}
        }
        secrets
    }

    fn add(&mut self, value: &str) {
        if !value.is_empty() && !self.values.iter().any(|v| v.as_str() == value) {
            self.values.push(Zeroizing::new(value.to_string()));
        }
    }

    fn add_authorization(&mut self, value: &str) {
        self.add(value);
        let Some((scheme, credential)) = value.split_once(' ') else {
            return;
        };
        let credential = credential.trim();
        self.add(credential);
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD.decode(credential).ok().map(Zeroizing::new);
            if let Some(pair) = decoded.as_deref().and_then(|b| std::str::from_utf8(b).ok()) {
                self.add(pair);
                if let Some((_, password)) = pair.split_once(':') {
                    self.add(password);
                }
            }
        }
    }

    fn add_json_strings(&mut self, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(text) => self.add(text),
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.add_json_strings(v)),
            serde_json::Value::Object(map) => map.values().for_each(|v| self.add_json_strings(v)),
            _ => {}
        }
    }

    /// Whether the request carried no secret.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every form of every secret replaced by [`REDACTED`].
    /// Longer forms go first, so a form that contains another is replaced whole.
    pub fn redact(&self, text: &str) -> String {
        if self.values.is_empty() {
            return text.to_string();
        }
        let mut forms: Vec<Zeroizing<String>> = Vec::new();
        for value in &self.values {
            for form in encoded_forms(value) {
                if !form.is_empty() && !forms.iter().any(|f| **f == *form) {
                    forms.push(form);
                }
            }
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        // Every copy that may still hold a secret is zeroed when replaced.
        let mut out = Zeroizing::new(text.to_string());
        for form in &forms {
            if out.contains(form.as_str()) {
                out = Zeroizing::new(out.replace(form.as_str(), REDACTED));
            }
        }
        out.to_string()
    }
}

/// Every form in which an echo may show `secret`.
fn encoded_forms(secret: &str) -> Vec<Zeroizing<String>> {
    let mut forms = vec![Zeroizing::new(secret.to_string())];
    // application/x-www-form-urlencoded: `+` for a space, `%XX` (upper case).
    let form = Zeroizing::new(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    // Only what RFC 3986 does not leave unreserved, encoded.
    let minimal = Zeroizing::new(percent_encode_reserved(secret));
    for encoded in [form, minimal] {
        let spaced = Zeroizing::new(encoded.replace('+', "%20"));
        for text in [encoded, spaced] {
            let lower = Zeroizing::new(lower_case_escapes(&text));
            forms.push(text);
            forms.push(lower);
        }
    }
    // A JSON string's contents (quotes, backslashes, controls escaped), also
    // with `/` escaped as some encoders do.
    if let Ok(json) = serde_json::to_string(secret).map(Zeroizing::new) {
        let inner = Zeroizing::new(json[1..json.len() - 1].to_string());
        forms.push(Zeroizing::new(inner.replace('/', "\\/")));
        forms.push(inner);
    }
    forms.extend(base64_forms(secret.as_bytes()));
    forms
}

/// `text` percent-encoded except for RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`), in upper-case hex.
fn percent_encode_reserved(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `text` with the hex digits of its `%XX` escapes in lower case.
fn lower_case_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escape_left = 0;
    for c in text.chars() {
        if escape_left > 0 {
            out.push(c.to_ascii_lowercase());
            escape_left -= 1;
        } else {
            out.push(c);
            if c == '%' {
                escape_left = 2;
            }
        }
    }
    out
}

/// The base64 forms of `secret`: alone (with and without padding), and the
/// characters that encode only the secret's bits when it sits at any of the
/// three alignments inside a longer base64 text; in both alphabets.
fn base64_forms(secret: &[u8]) -> Vec<Zeroizing<String>> {
    let mut forms = vec![
        Zeroizing::new(STANDARD.encode(secret)),
        Zeroizing::new(URL_SAFE.encode(secret)),
        Zeroizing::new(STANDARD_NO_PAD.encode(secret)),
        Zeroizing::new(URL_SAFE_NO_PAD.encode(secret)),
    ];
    for shift in 0..3usize {
        let mut shifted = Zeroizing::new(vec![0u8; shift]);
        shifted.extend_from_slice(secret);
        let encoded = Zeroizing::new(STANDARD_NO_PAD.encode(shifted.as_slice()));
        // Characters are 6 bits: skip those that hold a filler byte's bits,
        // and a last one that holds only part of the secret's.
        let first = (8 * shift).div_ceil(6);
        let end = 8 * shifted.len() / 6;
        if end >= first + MIN_BASE64_CORE {
            let core = Zeroizing::new(encoded[first..end].to_string());
            forms.push(Zeroizing::new(core.replace('+', "-").replace('/', "_")));
            forms.push(core);
        }
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets_of(request: Request) -> SentSecrets {
        SentSecrets::of(&request)
    }

    fn form(pairs: &[(&str, &str)]) -> Body {
        Body::Form(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_form_s_secret_fields_are_secrets_and_nothing_else() {
        let sent = secrets_of(Request::post(
            "https://x/",
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "rt-123/abc+def=="),
                ("client_id", "cli"),
                ("client_secret", "s3cret value"),
            ]),
        ));
        let echo = "grant_type=refresh_token&refresh_token=rt-123%2Fabc%2Bdef%3D%3D\
                    &client_id=cli&client_secret=s3cret+value";
        assert_eq!(
            sent.redact(echo),
            "grant_type=refresh_token&refresh_token=***&client_id=cli&client_secret=***"
        );
        assert_eq!(
            sent.redact("raw rt-123/abc+def== and s3cret value"),
            "raw *** and ***"
        );
        assert_eq!(
            sent.redact("lower rt-123%2fabc%2bdef%3d%3d, spaced s3cret%20value"),
            "lower ***, spaced ***"
        );
    }

    #[test]
    fn headers_are_secrets_whole_and_in_parts() {
        let sent = secrets_of(
            Request::get("https://x/")
                .bearer("tok-0123456789")
                .header("cookie", "middle_auth_token=cookie-9876543210; theme=dark"),
        );
        assert_eq!(
            sent.redact("Auth: Bearer tok-0123456789 / token tok-0123456789"),
            "Auth: *** / token ***"
        );
        assert_eq!(
            sent.redact("Cookie: middle_auth_token=cookie-9876543210; x"),
            "Cookie: middle_auth_token=***; x"
        );
        let basic = STANDARD.encode("alice:pa55word-long");
        let sent = secrets_of(
            Request::get("https://x/").header("authorization", format!("Basic {basic}")),
        );
        for echo in [
            format!("Basic {basic}"),
            "alice:pa55word-long".to_string(),
            "password pa55word-long".to_string(),
        ] {
            let shown = sent.redact(&echo);
            assert!(!shown.contains("pa55word"), "{shown}");
            assert!(!shown.contains(&basic), "{shown}");
        }
    }

    #[test]
    fn base64_forms_are_found_at_any_alignment() {
        let secret = "PAT-SECRET-abc-0123456789";
        let sent = secrets_of(Request::post(
            "https://x/",
            form(&[("subject_token", secret)]),
        ));
        // The secret's bits at each alignment, in each alphabet.
        let cores: Vec<String> = base64_forms(secret.as_bytes())[4..]
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(cores.len(), 6);
        for prefix in ["", "a", "ab", "abc", "{\"subject_token\":\""] {
            let text = format!("{prefix}{secret}\"}}");
            for encoded in [STANDARD.encode(&text), URL_SAFE_NO_PAD.encode(&text)] {
                let echo = format!("echo: {encoded}");
                assert!(
                    cores.iter().any(|c| echo.contains(c.as_str())),
                    "{prefix:?}"
                );
                let shown = sent.redact(&echo);
                assert!(shown.contains(REDACTED), "{prefix:?}: {shown}");
                for core in &cores {
                    assert!(!shown.contains(core.as_str()), "{prefix:?}: {shown}");
                }
            }
        }
    }

    #[test]
    fn json_and_text_bodies_marked_as_credentials_are_secrets() {
        let body =
            serde_json::json!({"challenge": "chal-\"quoted\"/1234", "response": "resp-5678"});
        let sent = secrets_of(Request::post("https://x/", Body::Json(body)).credential());
        assert_eq!(
            sent.redact(r#"{"challenge":"chal-\"quoted\"\/1234","response":"resp-5678"}"#),
            r#"{"challenge":"***","response":"***"}"#
        );
        let sent = secrets_of(
            Request::post("https://x/", Body::Text("challenge-text\n".into())).credential(),
        );
        assert_eq!(sent.redact("got challenge-text"), "got ***");
        // Unmarked bodies hold no secret.
        let sent = secrets_of(Request::post("https://x/", Body::Text("query".into())));
        assert!(sent.is_empty());
        assert_eq!(sent.redact("query"), "query");
    }

    #[test]
    fn a_marked_form_s_every_value_is_secret() {
        let sent = secrets_of(
            Request::post("https://x/", form(&[("request_id", "req-abcdef-123")])).credential(),
        );
        assert_eq!(sent.redact("request_id=req-abcdef-123"), "request_id=***");
    }
}
