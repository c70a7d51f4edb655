//! What `hubauth status` lists: one [`CredentialInfo`] per credential. A
//! leaf, so that each provider can describe its own credentials (see
//! `discover` in each provider module) without importing `status`.

use serde::Serialize;

use crate::options::ProviderKind;

/// One credential hubauth can see. Serialises to the JSON `hubauth status
/// --json` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialInfo {
    /// The provider's name (`juliahub`, `dagshub`, …).
    pub provider: String,
    /// The server it is for, normalised when it could be worked out.
    pub server: String,
    /// The user it belongs to, when known without asking the server.
    pub user: Option<String>,
    /// Where it is: a file path, or the name of an environment variable.
    pub source: String,
    /// Unix seconds at which the token expires; None = never or unknown.
    pub expires_at: Option<i64>,
    /// It can be refreshed without a login (it has what a refresh needs).
    pub refreshable: bool,
    /// `authenticate` would use it (as is or after a refresh) without a login,
    /// as far as can be told without asking the server.
    pub usable: bool,
    /// What is wrong with it, for a person to act on.
    pub problem: Option<String>,
    /// The option keys and values that address this credential (for
    /// [`crate::Options::set`]), so a caller can authenticate with or check it.
    #[serde(skip)]
    pub options: Vec<(String, String)>,
}

impl CredentialInfo {
    /// The environment variable the credential is read from, when it is one
    /// (a `source` such as `DAGSHUB_USER_TOKEN`).
    pub fn env_var(&self) -> Option<&str> {
        let name = self.source.as_str();
        let is_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        is_name.then_some(name)
    }

    /// The file the credential is in, when it is in one (`token_path` of its
    /// options, else a `source` that is a path, with any ` [profile]` cut off).
    pub fn file(&self) -> Option<std::path::PathBuf> {
        if self.env_var().is_some() || self.source.starts_with("environment") {
            return None;
        }
        if let Some(path) = self.option("token_path") {
            return Some(path.into());
        }
        let path = self.source.split(" [").next().unwrap_or_default();
        path.starts_with('/').then(|| path.into())
    }

    /// The profile (section of the file) it is in, for hubs that have them.
    pub fn profile(&self) -> Option<&str> {
        self.option("profile")
    }

    /// The options that address this credential ([`Self::options`] set on
    /// the defaults), to build the provider that reads it.
    pub fn addressing_options(&self) -> crate::error::Result<crate::options::Options> {
        let mut options = crate::options::Options::new();
        for (key, value) in &self.options {
            options.set(key, value)?;
        }
        Ok(options)
    }

    fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An entry for `provider` at `server` (none when empty) from `source`,
/// nothing known yet: the one way to make a [`CredentialInfo`].
pub(crate) fn blank(provider: ProviderKind, server: &str, source: &str) -> CredentialInfo {
    let mut options = vec![("provider".into(), provider.name().into())];
    if !server.is_empty() {
        options.push(("server".into(), server.into()));
    }
    CredentialInfo {
        provider: provider.name().to_string(),
        server: server.to_string(),
        user: None,
        source: source.to_string(),
        expires_at: None,
        refreshable: false,
        usable: false,
        problem: None,
        options,
    }
}
