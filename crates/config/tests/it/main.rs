//! Integration tests of comfy-local-config: one binary, one module per concern.

mod bad_config;
mod example;
mod key_file;
mod load;
mod robustness;

use comfy_local_config::{Config, ConfigError};

/// The fixed environment the tests expand `${VAR}` against.
pub fn test_env(name: &str) -> Option<String> {
    match name {
        "COMFY_HOME" => Some("/home/comfy".into()),
        "VAST_KEY_FROM_ENV" => Some("vast-secret-123".into()),
        "EMPTY_DIR" => Some(String::new()),
        _ => None,
    }
}

/// Parse `yaml` and return the error message; a config that parses is a test failure.
pub fn rejected(yaml: &str) -> String {
    match Config::from_str_with_env(yaml, "test.yml", &test_env) {
        Ok(config) => panic!("config was accepted: {config:#?}"),
        Err(error) => error.to_string(),
    }
}

/// Parse `yaml`, failing the test with the message if it is rejected.
pub fn accepted(yaml: &str) -> Config {
    Config::from_str_with_env(yaml, "test.yml", &test_env)
        .unwrap_or_else(|e: ConfigError| panic!("config was rejected: {e}"))
}
