//! Shared fixtures: a scratch ComfyUI install on the sshd's host, a config pointing at the
//! shared sshd and a fake ComfyUI, and snapshot filters for what changes between runs.

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::{Config, UserName};
use comfy_local_test_support::Sshd;

/// A ComfyUI install folder (main.py + the folders) in the sshd's scratch space.
pub fn fake_install(name: &str) -> Utf8PathBuf {
    let dir = Sshd::shared().scratch(name).join("ComfyUI");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.py"), "# ComfyUI\n").unwrap();
    for folder in ["models/checkpoints", "custom_nodes", "input", "output"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    dir
}

/// Everything a config needs, with overrides per test.
pub struct Setup {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key_file: Utf8PathBuf,
    pub known_hosts: Utf8PathBuf,
    pub install: Utf8PathBuf,
    pub api_url: String,
    pub connect_timeout_secs: u64,
}

impl Setup {
    pub fn new(install: &Utf8Path, api_url: &str) -> Self {
        let sshd = Sshd::shared();
        Setup {
            host: sshd.host().to_owned(),
            port: sshd.port(),
            user: sshd.user().to_owned(),
            key_file: sshd.user_key().to_owned(),
            known_hosts: sshd.known_hosts().to_owned(),
            install: install.to_owned(),
            api_url: api_url.to_owned(),
            connect_timeout_secs: 5,
        }
    }

    pub fn yaml(&self) -> String {
        format!(
            "enabled: true
local:
  - id: local
    name: Test host
    ssh:
      host: {host}
      port: {port}
      user: {user}
      key_file: {key}
      known_hosts_file: {kh}
      connect_timeout_secs: {timeout}
      command_timeout_secs: 30
    comfyui:
      path: {install}
      api_url: {url}
",
            host = self.host,
            port = self.port,
            user = self.user,
            key = self.key_file,
            kh = self.known_hosts,
            timeout = self.connect_timeout_secs,
            install = self.install,
            url = self.api_url,
        )
    }

    /// The config for the test sshd. Validation refuses `user: root`, and the sshd logs in as
    /// whoever runs the tests (root in CI containers), so the user is set after validation.
    pub fn config(&self) -> Config {
        let yaml = self
            .yaml()
            .replace(&format!("user: {}\n", self.user), "user: comfyui\n");
        let mut config = Config::from_str_named(&yaml, "test-config.yml").unwrap();
        config.local[0].ssh.user = UserName::try_from(self.user.as_str()).unwrap();
        config
    }
}

/// Insta settings that blank out what changes between runs and machines.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    let sshd = Sshd::shared();
    s.add_filter(&regex_escape(sshd.temp_dir().as_str()), "[SSHD_DIR]");
    s.add_filter(r"/tmp/[A-Za-z0-9._-]+", "[TMP]");
    s.add_filter(r" +\d+\.\d ms", " [T] ms");
    s.add_filter(r"clientId=[0-9a-f-]+", "clientId=[ID]");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s.add_filter(r"\[127\.0\.0\.1\]:\d+", "[127.0.0.1]:[PORT]");
    s.add_filter(r"port \d+", "port [PORT]");
    s.add_filter(r"SHA256:[A-Za-z0-9+/=]+", "SHA256:[FP]");
    s.add_filter(&format!(r"\b{}\b", regex_escape(sshd.user())), "[USER]");
    s.add_filter(r"on Linux [^;]+;", "on [OS];");
    s.add_filter(r"probe-\d+-\d+-\d+", "probe-[N]");
    s
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
