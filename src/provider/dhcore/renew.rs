//! Renewing a DHCore access token: the personal access token exchange or the
//! refresh, and writing the reply back to the profile. The engine holds the
//! file's lock meanwhile and handles a refused single-use refresh token (it
//! reads the file again once): see [`crate::lifecycle`].

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::flow::discovery::{self, IssuerCheck};
use crate::flow::exchange::{self, Subject};
use crate::flow::oauth::Client;
use crate::flow::refresh;
use crate::options::{Options, ProviderKind};
use crate::reply::TokenReply;
use crate::scope;
use crate::store::dhcore_ini::{self, CURRENT_ENVIRONMENT, DEFAULT_SECTION, Ini};
use crate::token::{Token, unix_now};

use super::settings::*;
use super::{DhCore, DhCoreGrant};

impl DhCore {
    fn client(&self, settings: &Settings, what: &str) -> Result<Client> {
        let id = settings.get(CLIENT_ID).ok_or_else(|| {
            Error::invalid_argument(format!(
                "{what} needs a client id: set {CLIENT_ID}, or {} in [{}] of {}, or pass `client_id`",
                ini_key(CLIENT_ID),
                self.profile,
                self.path.display()
            ))
        })?;
        Ok(Client::public(id))
    }

    /// `OAUTH2_TOKEN_ENDPOINT`, else `token_endpoint` from the issuer's
    /// discovery document ([`IssuerCheck::Lenient`]).
    fn token_endpoint(&self, settings: &Settings) -> Result<String> {
        if let Some(endpoint) = settings.get(TOKEN_ENDPOINT) {
            let source = settings.source(TOKEN_ENDPOINT);
            // Configured by the user: plain http is accepted, as by the SDK.
            return ProviderKind::DhCore
                .configured_server(endpoint)
                .map(|_| endpoint.trim().to_string())
                .map_err(|e| e.context(source));
        }
        let issuer = settings.get(ISSUER).ok_or_else(|| {
            Error::invalid_argument(format!(
                "no token endpoint: set {ISSUER} (or {TOKEN_ENDPOINT}), or {} in [{}] of {}",
                ini_key(ISSUER),
                self.profile,
                self.path.display()
            ))
        })?;
        let issuer = ProviderKind::DhCore
            .configured_server(issuer.trim_end_matches('/'))
            .map_err(|e| e.context(settings.source(ISSUER)))?;
        // As the SDK reads it (refresh.py:328-354): the document's `issuer`
        // is not compared with DHCORE_ISSUER, which deployments name in
        // another form.
        discovery::discover(&issuer, IssuerCheck::Lenient, scope::deadline())
            .map(|found| found.token_endpoint.clone())
            .map_err(|e| {
                let hint = if e.kind() == ErrorKind::Insecure {
                    format!("set {TOKEN_ENDPOINT}")
                } else {
                    format!("is {ISSUER} right?")
                };
                e.context(format!("the DHCore issuer ({hint})"))
            })
    }

    /// Exchanges the personal access token (RFC 8693).
    pub(super) fn exchange(&self, settings: &Settings) -> Result<DhCoreGrant> {
        let pat = settings.secret(PAT).ok_or_else(|| {
            Error::invalid_argument("the personal access token is not valid text")
        })?;
        let client = self.client(settings, "the personal access token exchange")?;
        let endpoint = self.token_endpoint(settings)?;
        let issued_at = unix_now();
        let reply = exchange::exchange(
            &endpoint,
            &client,
            &Subject {
                token: &pat,
                token_type: PAT_TOKEN_TYPE,
            },
            Some(SCOPE),
            scope::deadline(),
        )?;
        Ok(DhCoreGrant::Reply {
            reply: Box::new(reply),
            used: settings.clone(),
            issued_at,
        })
    }

    /// Refreshes with the stored refresh token (single use: the engine
    /// presents it once, under the lock).
    pub(super) fn refresh(&self, settings: &Settings) -> Result<DhCoreGrant> {
        let refresh_token = settings
            .secret(REFRESH_TOKEN)
            .ok_or_else(|| Error::authentication("there is no refresh token"))?;
        let client = self.client(settings, "the token refresh")?;
        let endpoint = self.token_endpoint(settings)?;
        let issued_at = unix_now();
        let reply = refresh::refresh(
            &endpoint,
            &client,
            &refresh_token,
            Some(SCOPE),
            scope::deadline(),
        )
        .map_err(|e| {
            e.context(format!(
                "the refresh token from {}",
                settings.source(REFRESH_TOKEN)
            ))
        })?;
        Ok(DhCoreGrant::Reply {
            reply: Box::new(reply),
            used: settings.clone(),
            issued_at,
        })
    }

    /// Writes a token reply to the profile, under the lock the caller holds,
    /// re-reading the file first so nothing another writer added is lost.
    pub(super) fn write_back_locked(
        &self,
        reply: &TokenReply,
        used: &Settings,
        issued_at: i64,
    ) -> Result<Token> {
        let mut ini = self.load_ini()?;
        apply_reply(&mut ini, &self.profile, reply, used, issued_at)?;
        dhcore_ini::save(&self.path, &ini)?;
        let settings = self.settings(&ini, &Options::default());
        let mut token = settings
            .access_token()
            .ok_or_else(|| Error::server("the token reply has no access_token"))?;
        // The file may name an older refresh token only if the reply has
        // none; keep the one that was used then (it is still valid).
        if token.refresh.is_none() {
            token.refresh = used.secret(REFRESH_TOKEN);
        }
        Ok(token)
    }
}

/// Lays a token reply over `profile` with the SDK's names, plus the client id
/// and issuer used, `dhcore_expires_at`, and `current_environment`.
///
/// What the reply may change is [`crate::reply::may_change`]'s: the tokens,
/// their expiry and the user. Besides those, the fields hubauth never reads
/// (the store credentials such as `aws_access_key_id` that the SDK writes
/// back) are written as the SDK does; a field naming a setting hubauth reads
/// (the endpoint, issuer, token endpoint, client id, PAT, user, password) is
/// never taken from a reply, since the file outranks the environment and the
/// next exchange would send the PAT where the reply said.
fn apply_reply(
    ini: &mut Ini,
    profile: &str,
    reply: &TokenReply,
    used: &Settings,
    issued_at: i64,
) -> Result<()> {
    // The SDK writes back every field of the reply, so the whole of it.
    let fields = reply.to_map();
    // Token fields of an earlier reply that this one does not renew would
    // describe the wrong token.
    for stale in ["id_token", "expires_in", EXPIRES_AT_KEY] {
        if !fields.contains_key(stale) {
            ini.remove(profile, stale);
        }
    }
    let setting_keys: Vec<String> = SETTINGS.iter().map(|s| ini_key(s)).collect();
    for (field, value) in &fields {
        let key = match field.as_str() {
            "access_token" => "dhcore_access_token".to_string(),
            "refresh_token" => "dhcore_refresh_token".to_string(),
            // A reply never changes where requests (and the PAT) go next,
            // nor the client they are made for.
            "client_id" | "issuer" | "token_endpoint" | "endpoint" | "dhcore_endpoint" => continue,
            other => other.to_ascii_lowercase(),
        };
        let token_field = crate::reply::may_change(field);
        if !token_field && setting_keys.contains(&key) {
            continue;
        }
        let valid_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_key
            || matches!(
                key.as_str(),
                "dhcore_personal_access_token"
                    | EXPIRES_AT_KEY
                    | PAT_FINGERPRINT_KEY
                    | ISSUED_BY_ISSUER_KEY
                    | ISSUED_BY_TOKEN_ENDPOINT_KEY
                    | CURRENT_ENVIRONMENT
            )
        {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            // Python's str(True), as the SDK would write it.
            Value::Bool(true) => "True".to_string(),
            Value::Bool(false) => "False".to_string(),
            Value::Null => continue,
            other => other.to_string(),
        };
        ini.set(profile, &key, &text)?;
    }
    // The client id, issuer and token endpoint are written back only when
    // they came from the file (where they already are). SDK 0.15.11 writes
    // `client_id`/`issuer` only when the reply carries them
    // (refresh.py:262-300, `_export_new_creds`); 0.16 betas let the file win
    // over the environment for these keys (0.16.0b19
    // credential_store.py:31-37, 64-68), so a value copied from the
    // environment into the file would pin it there and a later change of
    // DHCORE_ISSUER or DHCORE_CLIENT_ID would be ignored. Credentials still
    // go only to the issuer that issued them: one that came from the
    // environment (or an option) is recorded under hubauth's own key, which
    // no SDK reads (see keep_credentials_with_their_issuer).
    for name in [ISSUER, TOKEN_ENDPOINT] {
        let key = issued_by_key(name);
        match used
            .get(name)
            .filter(|_| used.origin(name) != Some(Origin::File))
        {
            Some(value) => {
                ini.set(profile, key, value)?;
            }
            None => {
                ini.remove(profile, key);
            }
        }
    }
    // Which personal access token the access token came from (see
    // pat_fingerprint); a refreshed token came from none.
    match used.get(PAT).filter(|_| used.method() == Method::Exchange) {
        Some(pat) => {
            ini.set(profile, PAT_FINGERPRINT_KEY, &pat_fingerprint(pat))?;
        }
        None => {
            ini.remove(profile, PAT_FINGERPRINT_KEY);
        }
    }
    if let Some(expires_in) = reply.expires_in {
        ini.set(
            profile,
            EXPIRES_AT_KEY,
            &dhcore_ini::format_rfc3339(issued_at.saturating_add(expires_in)),
        )?;
    }
    ini.set(DEFAULT_SECTION, CURRENT_ENVIRONMENT, profile)?;
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::provider::dhcore::tests::settings;
    use crate::reply::token_reply;

    #[test]
    fn reply_is_written_with_the_sdk_names() {
        let used = settings(&[
            ("dhcore_personal_access_token", "pat-secret"),
            ("dhcore_client_id", "cli"),
            ("dhcore_issuer", "http://127.0.0.1:9090"),
        ]);
        let mut ini = Ini::default();
        ini.set("p", "id_token", "stale").unwrap();
        let reply = token_reply(
            r#"{"access_token":"a","refresh_token":"r","expires_in":60,"token_type":"Bearer",
                "scope":"credentials","aws_access_key_id":"k","weird key":"x","n":null,
                "flag":true,"token_endpoint":"http://127.0.0.1:9090/t"}"#,
        )
        .unwrap();
        apply_reply(&mut ini, "p", &reply, &used, 1_000_000_000).unwrap();
        let p = ini.section("p");
        let keys: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "aws_access_key_id",
                CURRENT_ENVIRONMENT,
                "dhcore_access_token",
                EXPIRES_AT_KEY,
                "dhcore_refresh_token",
                "expires_in",
                "flag",
                PAT_FINGERPRINT_KEY,
                "scope",
                "token_type",
            ]
        );
        assert_eq!(p[EXPIRES_AT_KEY], "2001-09-09T01:47:40Z");
        assert_eq!(p[PAT_FINGERPRINT_KEY], pat_fingerprint("pat-secret"));
        assert_eq!(p["flag"], "True");
        assert_eq!(ini.current_environment(), Some("p"));
        assert!(!ini.to_text().unwrap().contains("pat-secret"));
    }

    #[test]
    fn a_hostile_reply_moves_no_endpoint() {
        let used = settings(&[
            ("dhcore_personal_access_token", "pat-secret"),
            ("dhcore_client_id", "cli"),
            ("dhcore_issuer", "https://id.example"),
            ("dhcore_endpoint", "https://core.example"),
        ]);
        let mut ini = Ini::default();
        ini.set("p", "dhcore_endpoint", "https://core.example")
            .unwrap();
        ini.set("p", "oauth2_token_endpoint", "https://id.example/t")
            .unwrap();
        let reply = token_reply(
            r#"{"access_token":"a","expires_in":60,"token_endpoint":"https://evil.example/t",
                "dhcore_endpoint":"https://evil.example","DHCORE_ENDPOINT":"https://evil.example",
                "issuer":"https://evil.example","client_id":"evil",
                "oauth2_token_endpoint":"https://evil.example/t2","dhcore_issuer":"https://evil.example",
                "dhcore_client_id":"evil","dhcore_user":"mallory","dhcore_password":"x",
                "refresh_url":"https://evil.example/r","aws_access_key_id":"k",
                "hubauth_issuer":"https://evil.example","hubauth_pat_sha256":"0"}"#,
        )
        .unwrap();
        apply_reply(&mut ini, "p", &reply, &used, 1_000_000_000).unwrap();
        let p = ini.section("p");
        assert_eq!(p["dhcore_endpoint"], "https://core.example");
        assert_eq!(p["oauth2_token_endpoint"], "https://id.example/t");
        // The issuer and client id came from the file (`used`): not copied.
        for key in ["dhcore_issuer", "dhcore_client_id", ISSUED_BY_ISSUER_KEY] {
            assert!(!p.contains_key(key), "{key}");
        }
        assert_eq!(p[PAT_FINGERPRINT_KEY], pat_fingerprint("pat-secret"));
        assert_eq!(p["dhcore_access_token"], "a");
        assert_eq!(p["aws_access_key_id"], "k");
        for key in ["dhcore_user", "dhcore_password"] {
            assert!(!p.contains_key(key), "{key}");
        }
        // Every key hubauth reads keeps its value; only inert keys (read by
        // neither hubauth nor the SDK, or the SDK's store credentials) pass.
        for (key, value) in &p {
            if value.contains("evil") {
                assert!(!SETTINGS.iter().any(|s| ini_key(s) == *key), "{key}");
            }
        }
    }
}
