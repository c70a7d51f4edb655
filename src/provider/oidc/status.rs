//! What `hubauth status` lists for oidc: every token file under the config directory. Files and the
//! environment only: no network, no lock, never a token value.

use std::path::PathBuf;

use crate::credential::{CredentialInfo, blank};
use crate::options::ProviderKind;
use crate::provider::assess;
use crate::store::oidc_toml;

use super::Oidc;

/// oidc: every `<config>/hubauth/oidc/<issuer>/<client_id>.toml`.
pub(crate) fn discover() -> Vec<CredentialInfo> {
    let kind = ProviderKind::Oidc;
    let Some(root) = dirs::config_dir().map(|c| c.join("hubauth").join("oidc")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|dir| {
            std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let source = path.display().to_string();
            let mut entry = blank(kind, "", &source);
            match oidc_toml::load(&path) {
                Ok(Some(token)) => {
                    entry.server = token.issuer().unwrap_or_default().to_string();
                    entry.user = token.username().map(str::to_string);
                    entry.expires_at = token.expires_at();
                    entry.options = vec![
                        ("provider".into(), kind.name().into()),
                        ("issuer".into(), entry.server.clone()),
                        (
                            "client_id".into(),
                            token.client_id().unwrap_or_default().into(),
                        ),
                        ("token_path".into(), source.clone()),
                    ];
                    assess(&mut entry, Oidc::new);
                    if !entry.usable && entry.problem.is_none() {
                        entry.problem = Some(format!(
                            "expired and not refreshable; run `hubauth login --provider {}`",
                            kind.name()
                        ));
                    }
                }
                Ok(None) => entry.problem = Some("the file is gone".into()),
                Err(e) => entry.problem = Some(e.message().to_string()),
            }
            entry
        })
        .collect()
}
