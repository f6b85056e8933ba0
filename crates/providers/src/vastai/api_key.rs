//! The Vast.ai API key: where it is found and a type that never prints it.
//!
//! Lookup order: the environment variable the config names (`vastai.api_key_env`), then the vastai
//! CLI's key file `$XDG_CONFIG_HOME/vastai/vast_api_key` (`~/.config/vastai/vast_api_key` when
//! `XDG_CONFIG_HOME` is unset), then the CLI's legacy `~/.vast_api_key`.

use std::fmt;
use std::io::ErrorKind;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::ProviderError;

/// A Vast.ai API key. `Debug` shows `ApiKey(<redacted>)`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    secret: String,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// A key given directly. `origin` names where it came from in errors (e.g. `the config`).
    pub fn new(key: &str, origin: &str) -> Result<Self, ProviderError> {
        let secret = key.trim();
        let invalid = |reason| ProviderError::InvalidApiKey {
            origin: origin.to_owned(),
            reason,
        };
        if secret.is_empty() {
            return Err(invalid("it is empty"));
        }
        if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "it contains whitespace or control characters (is the file or variable holding more than the key?)",
            ));
        }
        if !secret.is_ascii() {
            return Err(invalid("it contains non-ASCII characters"));
        }
        Ok(Self {
            secret: secret.to_owned(),
        })
    }

    /// Looks the key up in this process's environment and the vastai CLI's key files.
    pub fn from_environment(env_var: Option<&str>) -> Result<Self, ProviderError> {
        Self::lookup(env_var, |name| std::env::var(name).ok())
    }

    /// Like [`ApiKey::from_environment`], reading variables (`env_var`, `HOME`,
    /// `XDG_CONFIG_HOME`) through `getenv` so tests need not change the process environment.
    pub fn lookup(
        env_var: Option<&str>,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        if let Some(var) = env_var
            && let Some(value) = getenv(var).filter(|v| !v.trim().is_empty())
        {
            return Self::new(&value, &format!("${var}"));
        }
        let searched = key_files(&getenv);
        for path in &searched {
            match std::fs::read_to_string(path) {
                Ok(contents) => return Self::new(&contents, path.as_str()),
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ProviderError::ApiKeyFile {
                        path: path.clone(),
                        source,
                    });
                }
            }
        }
        Err(ProviderError::MissingApiKey {
            env_var: env_var.map(str::to_owned),
            searched,
        })
    }

    /// The key for the config's `vastai` section: the inline `api_key` if the file has one (the
    /// config crate only accepts it with `allow_inline_api_key`), else [`ApiKey::lookup`] with
    /// the variable named by `api_key_env`.
    pub fn from_config(
        settings: &comfy_local_config::VastAiSettings,
        getenv: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        if let Some(inline) = &settings.api_key {
            return Self::new(inline.expose(), "vastai.api_key in the config");
        }
        let var = settings.api_key_env.trim();
        Self::lookup((!var.is_empty()).then_some(var), getenv)
    }

    /// The key for the `Authorization` header. Crate-private so it cannot leak by accident.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

/// The vastai CLI's key files, as vast-cli computes them (xdg config home, then the legacy file).
fn key_files(getenv: &impl Fn(&str) -> Option<String>) -> Vec<Utf8PathBuf> {
    let home = getenv("HOME")
        .filter(|h| !h.is_empty())
        .map(Utf8PathBuf::from);
    let config_home = getenv("XDG_CONFIG_HOME")
        .map(Utf8PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut files = Vec::new();
    if let Some(config_home) = config_home {
        files.push(config_home.join("vastai").join("vast_api_key"));
    }
    if let Some(home) = home.as_deref() {
        files.push(Utf8Path::join(home, ".vast_api_key"));
    }
    files
}
