//! What `hubauth status` lists for dhcore: each profile with credentials.

use crate::credential::{CredentialInfo, blank};
use crate::env::Env;
use crate::options::{Options, ProviderKind};
use crate::provider::{Provider, assess};
use crate::store::dhcore_ini::{self, Ini};

use super::DhCore;
use super::settings::*;

/// The DHCore credentials `hubauth status` lists: each profile of the file
/// (`$DH_CONFIG` or `~/.dhcore.ini`) that has credentials, with the
/// environment merged in as `authenticate` would, plus the current profile
/// when only the environment has them. No network, no lock, no token values.
pub(crate) fn discover(env: Env<'_>) -> Vec<CredentialInfo> {
    let kind = ProviderKind::DhCore;
    let Ok(path) = default_path(env) else {
        return Vec::new();
    };
    let has_env = SETTINGS
        .iter()
        .any(|name| non_empty(env(name).as_deref()).is_some());
    let entry = |profile: &str, server: String| {
        let mut entry = blank(kind, "", &format!("{} [{profile}]", path.display()));
        entry.server = server;
        entry
            .options
            .push(("token_path".into(), path.display().to_string()));
        entry.options.push(("profile".into(), profile.into()));
        entry
    };
    let ini = match dhcore_ini::load(&path) {
        Ok(Some(ini)) => ini,
        Ok(None) if !has_env => return Vec::new(),
        Ok(None) => Ini::default(),
        Err(e) => {
            let mut broken = entry(DEFAULT_PROFILE, String::new());
            broken.problem = Some(e.message().to_string());
            return vec![broken];
        }
    };
    let current = non_empty(env("DH_NAME").as_deref())
        .or_else(|| ini.current_environment().map(str::to_string))
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let mut profiles: Vec<String> = ini.sections().iter().map(|s| s.to_string()).collect();
    if !profiles.contains(&current) {
        profiles.push(current.clone());
    }
    let mut found = Vec::new();
    for profile in profiles {
        let mut options = Options::new();
        options.profile = Some(profile.clone());
        options.token_path = Some(path.clone());
        let Ok(dh) = DhCore::with_env(env, &options) else {
            continue;
        };
        let settings = dh.settings(&ini, &options);
        let method = settings.method();
        if method == Method::None {
            continue;
        }
        let mut info = entry(&profile, dh.server().to_string());
        let from_file = [PAT, ACCESS_TOKEN, USER]
            .iter()
            .any(|n| settings.origin(n) == Some(Origin::File));
        if !from_file {
            info.source = format!("environment (profile {profile})");
        }
        let token = match method {
            Method::Basic => settings.basic(),
            _ => settings.access_token(),
        };
        if let Some(token) = &token {
            info.user = token.username.clone();
            info.expires_at = token.expires_at;
        }
        assess(&mut info, |options| DhCore::with_env(env, options));
        match dh.endpoint() {
            Err(e) => {
                info.usable = false;
                info.problem = Some(e.message().to_string());
            }
            Ok(_) if !info.usable => {
                info.problem.get_or_insert_with(|| {
                    "the access token has expired and cannot be refreshed; set a new one"
                        .to_string()
                });
            }
            Ok(_) => {}
        }
        found.push(info);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::dhcore::tests::env;

    #[test]
    fn status_lists_profiles_with_credentials_and_no_token_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".dhcore.ini");
        std::fs::write(
            &path,
            "[DEFAULT]\ncurrent_environment = dev\n[dev]\ndhcore_access_token = tok-dev\n\
             dhcore_refresh_token = ref-dev\ndhcore_expires_at = 2001-01-01T00:00:00Z\n\
             [old]\ndhcore_access_token = tok-old\ndhcore_expires_at = 2001-01-01T00:00:00Z\n\
             [empty]\nnote = x\n",
        )
        .unwrap();
        let home = dir.path().display().to_string();
        let e = env(&[("HOME", &home), ("DHCORE_ENDPOINT", "http://127.0.0.1:5")]);
        let found = discover(&e);
        let profiles: Vec<&str> = found.iter().map(|i| i.options[2].1.as_str()).collect();
        assert_eq!(profiles, ["dev", "old"]);
        assert!(found[0].usable && found[0].refreshable);
        assert_eq!(found[0].server, "http://127.0.0.1:5");
        assert_eq!(found[0].expires_at, Some(978_307_200));
        assert!(!found[1].usable && !found[1].refreshable);
        assert!(found[1].problem.as_deref().unwrap().contains("expired"));
        let shown = serde_json::to_string(&found).unwrap();
        assert!(!shown.contains("tok-") && !shown.contains("ref-dev"));
        // Only the environment: one entry for the current profile.
        let e = env(&[
            ("HOME", "/nonexistent"),
            ("DHCORE_USER", "u"),
            ("DHCORE_PASSWORD", "p"),
        ]);
        let found = discover(&e);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].user.as_deref(), Some("u"));
        assert!(found[0].source.starts_with("environment"));
        assert!(!found[0].usable, "no DHCORE_ENDPOINT");
        assert!(discover(&env(&[("HOME", "/nonexistent")])).is_empty());
    }
}
