//! The comfy-local YAML configuration: schema, defaults, `${VAR}` expansion and validation.
//!
//! Only this crate touches YAML. Load with [`Config::load`] (path resolution included) or
//! [`Config::from_str_named`]; every error names the key path (`local[0].ssh.port`) and, when
//! known, the line and column. Key-file problems are [`Warning`]s at load time and a hard error
//! from [`ensure_private_key_usable`], which connection code calls before connecting.

mod error;
mod expand;
mod keyfile;
mod keypath;
mod load;
mod schema;
mod source;
mod spans;
mod values;

pub use error::{ConfigError, Problem, ProblemKind, Warning, WarningKind};
pub use expand::{ExpandError, expand};
pub use keyfile::{KeyFileError, ensure_private_key_usable};
pub use keypath::{KeyPath, Location, Segment};
pub use load::{LoadedConfig, schema_key_paths, yaml_key_paths};
pub use schema::{
    ApiKeyError, ComfyUiSettings, Config, DEFAULT_COMFYUI_API_URL, DEFAULT_SSH_PORT,
    DEFAULT_SSH_USER, DEFAULT_VASTAI_API_KEY_ENV, DEFAULT_VASTAI_API_URL,
    DEFAULT_VASTAI_COMFYUI_PATH, DEFAULT_VASTAI_COMFYUI_PORT, DEFAULT_VASTAI_SSH_USER, Features,
    HostKeyCheck, HostKeyPolicy, Limits, LocalInstance, PoolSettings, ResourcesSettings,
    SshSettings, VastAiComfyUi, VastAiSettings, VastAiSsh,
};
pub use source::{
    APP_DIR_CONFIG, CONFIG_ENV_VAR, ConfigSource, WORKING_DIR_CONFIG, resolve_config_path,
    resolve_config_path_with,
};
pub use values::{
    ApiUrl, Fingerprint, GitHost, Host, InstallPath, InstanceId, Port, REDACTED, Secret, UserName,
    ValueError,
};
