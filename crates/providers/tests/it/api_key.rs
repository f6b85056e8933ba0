//! API key lookup: the named variable, then the vastai CLI's key files; never shown.

use std::collections::HashMap;

use camino::Utf8PathBuf;
use comfy_local_providers::{ApiKey, ProviderError};

use crate::support::{chain, snapshot};

struct Env {
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars = HashMap::new();
        vars.insert("HOME".to_owned(), path(&dir, "home").to_string());
        std::fs::create_dir_all(path(&dir, "home")).expect("home");
        Self { dir, vars }
    }

    fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    fn write(&self, relative: &str, contents: &str) -> Utf8PathBuf {
        let file = path(&self.dir, relative);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, contents).expect("write key file");
        file
    }

    fn lookup(&self, env_var: Option<&str>) -> Result<ApiKey, ProviderError> {
        ApiKey::lookup(env_var, |name| self.vars.get(name).cloned())
    }

    /// The error text with the temp dir replaced, for snapshots.
    fn shown(&self, err: &ProviderError) -> String {
        chain(err).replace(path(&self.dir, "").as_str(), "[TMP]/")
    }
}

fn path(dir: &tempfile::TempDir, relative: &str) -> Utf8PathBuf {
    Utf8PathBuf::from_path_buf(dir.path().join(relative)).expect("UTF-8 temp path")
}

fn same_key(a: &ApiKey, b: &str) -> bool {
    *a == ApiKey::new(b, "expected").expect("valid")
}

#[test]
fn the_named_variable_wins() {
    let mut env = Env::new();
    env.set("VAST_API_KEY", "abc123\n");
    env.write("home/.config/vastai/vast_api_key", "from-file");

    let key = env.lookup(Some("VAST_API_KEY")).expect("found");

    assert!(same_key(&key, "abc123"));
    assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
}

#[test]
fn an_empty_variable_falls_back_to_the_cli_key_file() {
    let mut env = Env::new();
    env.set("VAST_API_KEY", "");
    env.write("home/.config/vastai/vast_api_key", "from-config-file\n");
    env.write("home/.vast_api_key", "from-legacy-file");

    let key = env.lookup(Some("VAST_API_KEY")).expect("found");

    assert!(same_key(&key, "from-config-file"));
}

#[test]
fn xdg_config_home_moves_the_cli_key_file() {
    let mut env = Env::new();
    let xdg = path(&env.dir, "xdg");
    env.set("XDG_CONFIG_HOME", xdg.as_str());
    env.write("xdg/vastai/vast_api_key", "from-xdg");
    env.write("home/.config/vastai/vast_api_key", "not-this-one");

    assert!(same_key(&env.lookup(None).expect("found"), "from-xdg"));
}

#[test]
fn the_legacy_file_is_the_last_resort() {
    let env = Env::new();
    env.write("home/.vast_api_key", "legacy");

    assert!(same_key(
        &env.lookup(Some("VAST_API_KEY")).expect("found"),
        "legacy"
    ));
}

#[test]
fn no_key_anywhere_names_the_variable_and_the_files() {
    let env = Env::new();

    let err = env.lookup(Some("VAST_API_KEY")).expect_err("no key");

    assert!(
        matches!(err, ProviderError::MissingApiKey { .. }),
        "{err:?}"
    );
    snapshot!("missing_api_key", env.shown(&err));
    let without_var = env.lookup(None).expect_err("no key");
    snapshot!("missing_api_key_no_variable", env.shown(&without_var));
}

#[test]
fn a_key_file_that_cannot_be_read_is_an_error_not_a_skip() {
    let env = Env::new();
    // A directory where the file should be: unreadable as a file, for root too.
    std::fs::create_dir_all(path(&env.dir, "home/.config/vastai/vast_api_key")).expect("mkdir");
    env.write("home/.vast_api_key", "legacy");

    let err = env.lookup(None).expect_err("unreadable");

    assert!(matches!(err, ProviderError::ApiKeyFile { .. }), "{err:?}");
    snapshot!("unreadable_key_file", env.shown(&err));
}

#[test]
fn a_key_with_inner_whitespace_is_refused_without_showing_it() {
    let mut env = Env::new();
    env.set("VAST_API_KEY", "secretpart1 secretpart2");

    let err = env.lookup(Some("VAST_API_KEY")).expect_err("two words");

    let shown = env.shown(&err);
    assert!(!shown.contains("secretpart"), "{shown}");
    snapshot!("key_with_whitespace", shown);
    let empty_file = {
        env.write("home/.vast_api_key", "  \n");
        env.lookup(None).expect_err("empty")
    };
    snapshot!("empty_key_file", env.shown(&empty_file));
}
