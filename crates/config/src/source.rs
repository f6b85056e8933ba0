//! Which config file to use: `--config`, else `$COMFY_LOCAL_CONFIG`, else
//! `./local-support-config.yml`, else `/app/local-support-config.yml`.

use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};

use crate::error::ConfigError;

/// Environment variable naming the config file.
pub const CONFIG_ENV_VAR: &str = "COMFY_LOCAL_CONFIG";
/// Config file looked for in the working directory.
pub const WORKING_DIR_CONFIG: &str = "local-support-config.yml";
/// Config file looked for in the container's app directory.
pub const APP_DIR_CONFIG: &str = "/app/local-support-config.yml";

/// Where the config path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigSource {
    /// `--config PATH` (or a path given to `config check`).
    CommandLine,
    /// `$COMFY_LOCAL_CONFIG`.
    Environment,
    /// `./local-support-config.yml`.
    WorkingDirectory,
    /// `/app/local-support-config.yml`.
    AppDirectory,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CommandLine => "the command line",
            Self::Environment => "$COMFY_LOCAL_CONFIG",
            Self::WorkingDirectory => "the working directory",
            Self::AppDirectory => "the app directory",
        })
    }
}

/// Resolve the config path from the real environment and file system.
pub fn resolve_config_path(
    explicit: Option<&Utf8Path>,
) -> Result<(Utf8PathBuf, ConfigSource), ConfigError> {
    let env = std::env::var(CONFIG_ENV_VAR).ok();
    resolve_config_path_with(explicit, env.as_deref(), &|p| p.is_file())
}

/// Resolve the config path: `explicit`, else `env_value` (if not empty), else the working
/// directory's file if `exists`, else the app directory's if `exists`. An explicit or
/// environment path is returned even if missing, so loading reports it by name.
pub fn resolve_config_path_with(
    explicit: Option<&Utf8Path>,
    env_value: Option<&str>,
    exists: &dyn Fn(&Utf8Path) -> bool,
) -> Result<(Utf8PathBuf, ConfigSource), ConfigError> {
    if let Some(path) = explicit {
        return Ok((path.to_owned(), ConfigSource::CommandLine));
    }
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        return Ok((Utf8PathBuf::from(value), ConfigSource::Environment));
    }
    let candidates = [
        (
            Utf8PathBuf::from(WORKING_DIR_CONFIG),
            ConfigSource::WorkingDirectory,
        ),
        (
            Utf8PathBuf::from(APP_DIR_CONFIG),
            ConfigSource::AppDirectory,
        ),
    ];
    for (path, source) in &candidates {
        if exists(path) {
            return Ok((path.clone(), *source));
        }
    }
    Err(ConfigError::NotFound {
        searched: candidates.into_iter().map(|(p, _)| p).collect(),
    })
}
