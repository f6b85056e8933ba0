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

/// An error and each of its sources joined by `: `, as anyhow's `{:#}` shows them to a user.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
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
