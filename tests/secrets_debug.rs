//! Debug and Display of every type that holds a secret show no secret. The
//! outputs also go to the suite's transcript (when HUBAUTH_TRANSCRIPT is set)
//! so tests/check_transcript.py scans them with everything else.

use std::io::Write;

use hubauth::{Options, Secret, Token};

const SECRET: &str = "debug-secret-value-0123456789";

fn record(outputs: &[String]) {
    if let Some(path) = std::env::var_os("HUBAUTH_TRANSCRIPT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for output in outputs {
            writeln!(file, "debug: {}", output.replace('\n', "\\n")).unwrap();
        }
    }
    if let Some(path) = std::env::var_os("HUBAUTH_TRANSCRIPT_TOKENS") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{SECRET}").unwrap();
    }
}

#[test]
fn no_debug_or_display_output_shows_a_secret() {
    let secret = Secret::new(SECRET).unwrap();
    let token = Token {
        refresh: Some(secret.clone()),
        expires_at: Some(1),
        lifetime: Some(60),
        username: Some("alice".into()),
        ..Token::bare(secret.clone())
    };
    let mut options = Options::new();
    for key in ["token", "client_secret", "subject_token"] {
        options.set(key, SECRET).unwrap();
    }
    options.set("validate", "false").unwrap();
    options.set("server", "https://hub.example").unwrap();
    let auth = hubauth::authenticate(&options).unwrap();
    let error = hubauth::authenticate(&{
        let mut o = options.clone();
        o.set("provider", "oidc").unwrap();
        o
    })
    .unwrap_err();
    let outputs = vec![
        format!("{secret:?}"),
        format!("{secret}"),
        format!("{token:?}"),
        format!("{options:?}"),
        format!("{options:#?}"),
        format!("{auth:?}"),
        format!("{error:?}"),
        format!("{error}"),
    ];
    record(&outputs);
    for output in &outputs {
        assert!(!output.contains(SECRET), "leaked: {output}");
    }
    assert_eq!(auth.token().unwrap().expose(), SECRET);
}
