//! A real OpenSSH `sshd -D -e` on a free port of 127.0.0.1, hardened like the host setup:
//! key-only auth for the current user, no password, no forwarding unless asked.

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_ssh::ConnectOptions;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::proc::{is_root, kill_tree, spawn_tied};

const SSHD: &str = "/usr/sbin/sshd";
const INSTALL_HINT: &str = "OpenSSH server is required for these tests: install it with `apt-get install openssh-server` (Debian/Ubuntu)";
/// `nss_wrapper`, for [`SshdConfig::root_alias`] (Debian's `libnss-wrapper`).
const NSS_WRAPPER: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
];

/// What a test needs from its sshd beyond the hardened defaults.
#[derive(Debug, Clone, Default)]
pub struct SshdConfig {
    /// `AllowTcpForwarding local` instead of `no` (for direct-tcpip tests).
    pub allow_tcp_forwarding: bool,
    /// Extra `sshd_config` lines, appended last.
    pub extra_config: Vec<String>,
    /// When the tests run as root: the name root logs in under instead of `root`, which
    /// configs refuse (for tests that load a config file). sshd runs with `nss_wrapper` and a
    /// passwd copy that adds this name with uid 0; ignored when not root.
    pub root_alias: Option<String>,
}

/// A running sshd with its keys, `known_hosts` and a scratch directory for the test.
#[derive(Debug)]
pub struct Sshd {
    dir: tempfile::TempDir,
    root: Utf8PathBuf,
    port: u16,
    user: String,
    user_key: Utf8PathBuf,
    known_hosts: Utf8PathBuf,
    host_key_pub: String,
    fingerprint: String,
    config: Utf8PathBuf,
    /// Environment of the sshd process (`nss_wrapper` for [`SshdConfig::root_alias`]).
    env: Vec<(String, String)>,
    child: Mutex<Option<Child>>,
    log: Arc<Mutex<String>>,
}

/// Runs `ssh-keygen` to make an ed25519 key at `path` (and `path.pub`).
pub fn keygen(path: &Utf8Path, passphrase: &str) {
    let out = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "comfy-local-test",
            "-f",
        ])
        .arg(path.as_str())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ssh-keygen ({e}): {INSTALL_HINT}"));
    assert!(
        out.status.success(),
        "ssh-keygen failed for {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails the test (never skips it) when sshd is not installed, saying how to install it.
fn require_sshd(path: &Utf8Path) {
    assert!(path.exists(), "{path} not found. {INSTALL_HINT}");
}

fn current_user() -> String {
    let out = Command::new("id")
        .arg("-un")
        .output()
        .expect("running `id -un`");
    assert!(out.status.success(), "`id -un` failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding a free loopback port");
    l.local_addr().expect("local address").port()
}

fn fingerprint_of(pub_file: &Utf8Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f", pub_file.as_str()])
        .output()
        .expect("running ssh-keygen -l");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in ssh-keygen output {text:?}"))
        .to_owned()
}

/// The environment that makes sshd see `alias` as a user with uid 0: `nss_wrapper` preloaded
/// with a copy of `/etc/passwd` (and `/etc/group`) that adds it.
fn nss_wrapper_env(dir: &Utf8Path, alias: &str) -> Vec<(String, String)> {
    let library = NSS_WRAPPER
        .into_iter()
        .find(|p| Utf8Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("nss_wrapper not found (tried {NSS_WRAPPER:?}): install it with `apt-get install libnss-wrapper`")
        });
    let system = std::fs::read_to_string("/etc/passwd").expect("reading /etc/passwd");
    // A real account of that name would win the lookup: it is left out.
    let mut passwd: String = system
        .lines()
        .filter(|l| l.split(':').next() != Some(alias))
        .flat_map(|l| [l, "\n"])
        .collect();
    passwd.push_str(alias);
    passwd.push_str(":x:0:0:comfy-local tests:/root:/bin/sh\n");
    let passwd_file = dir.join("passwd");
    std::fs::write(&passwd_file, passwd).expect("writing the nss_wrapper passwd");
    let group_file = dir.join("group");
    std::fs::copy("/etc/group", &group_file).expect("copying /etc/group");
    vec![
        ("LD_PRELOAD".to_owned(), library.to_owned()),
        ("NSS_WRAPPER_PASSWD".to_owned(), passwd_file.into_string()),
        ("NSS_WRAPPER_GROUP".to_owned(), group_file.into_string()),
    ]
}

impl Sshd {
    /// The sshd shared by all tests of this test binary (one per process), started on first use
    /// and killed (SIGKILL) when the process exits; its temp dir (keys, config) is removed then.
    pub fn shared() -> &'static Sshd {
        SHARED.get_or_init(|| {
            let sshd = Sshd::start(SshdConfig::default());
            crate::proc::at_exit(remove_shared);
            sshd
        })
    }

    /// Starts a private sshd; it is killed (with its connections) on drop.
    ///
    /// # Panics
    /// If sshd is not installed (with the install command in the message) or does not start.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "`Sshd::start(SshdConfig { .. })` reads best"
    )]
    pub fn start(config: SshdConfig) -> Sshd {
        require_sshd(Utf8Path::new(SSHD));
        let dir = tempfile::Builder::new()
            .prefix("comfy-sshd-")
            .tempdir()
            .expect("creating a temp dir");
        let root = Utf8PathBuf::from_path_buf(dir.path().to_owned()).expect("UTF-8 temp dir");
        let host_key = root.join("ssh_host_ed25519_key");
        let user_key = root.join("id_ed25519");
        keygen(&host_key, "");
        keygen(&user_key, "");
        let user_pub =
            std::fs::read_to_string(format!("{user_key}.pub")).expect("reading user key");
        let authorized = root.join("authorized_keys");
        std::fs::write(&authorized, &user_pub).expect("writing authorized_keys");
        let host_pub_file = Utf8PathBuf::from(format!("{host_key}.pub"));
        let host_pub = std::fs::read_to_string(&host_pub_file).expect("reading host key");
        let mut parts = host_pub.split_whitespace();
        let host_key_pub = format!(
            "{} {}",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        let port = free_port();
        let known_hosts = root.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_key_pub}\n"))
            .expect("writing known_hosts");
        let (user, env) = match config.root_alias.as_deref() {
            Some(alias) if is_root() => (alias.to_owned(), nss_wrapper_env(&root, alias)),
            _ => (current_user(), Vec::new()),
        };
        let sftp_server = ["/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server"]
            .into_iter()
            .find(|p| Utf8Path::new(p).exists())
            .unwrap_or("internal-sftp");
        let root_login = if is_root() { "prohibit-password" } else { "no" };
        let forwarding = if config.allow_tcp_forwarding {
            "local"
        } else {
            "no"
        };
        // `SetEnv SHLVL=1`: Debian's bash sources ~/.bashrc for commands run by sshd when
        // SHLVL < 2; a slow rc file (root's here runs `pyenv init`, ~0.4 s) would otherwise be
        // timed as transport latency. Tests measure the transport, not the account's rc files.
        let mut cfg = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {host_key}\n\
             PidFile none\n\
             AuthorizedKeysFile {authorized}\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             HostbasedAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitRootLogin {root_login}\n\
             AllowUsers {user}\n\
             AllowTcpForwarding {forwarding}\n\
             AllowAgentForwarding no\n\
             AllowStreamLocalForwarding no\n\
             X11Forwarding no\n\
             PermitTunnel no\n\
             PermitUserEnvironment no\n\
             PrintMotd no\n\
             MaxStartups 200\n\
             MaxSessions 200\n\
             LogLevel VERBOSE\n\
             SetEnv SHLVL=1\n\
             Subsystem sftp {sftp_server}\n"
        );
        for line in &config.extra_config {
            cfg.push_str(line);
            cfg.push('\n');
        }
        let config_path = root.join("sshd_config");
        std::fs::write(&config_path, cfg).expect("writing sshd_config");
        if is_root() {
            // sshd running as root needs its privilege separation directory.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let fingerprint = fingerprint_of(&host_pub_file);
        let sshd = Sshd {
            dir,
            root,
            port,
            user,
            user_key,
            known_hosts,
            host_key_pub,
            fingerprint,
            config: config_path,
            env,
            child: Mutex::new(None),
            log: Arc::new(Mutex::new(String::new())),
        };
        sshd.spawn();
        sshd
    }

    fn spawn(&self) {
        let mut cmd = Command::new(SSHD);
        cmd.args(["-D", "-e", "-f", self.config.as_str()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut child =
            spawn_tied(cmd).unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}. {INSTALL_HINT}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::clone(&self.log);
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("Server listening on")
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(());
                }
                let mut log = log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        let started = ready_rx.recv_timeout(Duration::from_secs(15));
        if started.is_err() {
            kill_tree(&mut child);
            panic!(
                "sshd did not start on port {}; its log:\n{}",
                self.port,
                self.log()
            );
        }
        *self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(child);
    }

    /// The process id of the listening sshd (its connections are its children), while it runs:
    /// benchmarks pin it to CPUs with `sched_setaffinity` to model a separate host.
    pub fn pid(&self) -> Option<u32> {
        self.child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(Child::id)
    }

    /// For benchmarks: pins the sshd (with `taskset -apc`, its threads and connections) to the
    /// CPUs `BENCH_HOST_CPUS` names and this process (and the helpers it starts later) to
    /// those of `BENCH_CLIENT_CPUS`, to model a host with cores of its own; returns what was
    /// pinned, for the benchmark to print.
    ///
    /// # Panics
    /// If `taskset` fails (not installed, or a bad CPU list).
    pub fn pin_from_env(&self) -> Vec<String> {
        let taskset = |cpus: &str, pid: u32| {
            let st = std::process::Command::new("taskset")
                .args(["-apc", cpus, &pid.to_string()])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("taskset");
            assert!(st.success(), "taskset -apc {cpus} {pid} failed");
        };
        let mut pinned = Vec::new();
        if let Ok(cpus) = std::env::var("BENCH_HOST_CPUS") {
            taskset(&cpus, self.pid().expect("sshd runs"));
            pinned.push(format!("sshd pinned to CPUs {cpus}"));
        }
        if let Ok(cpus) = std::env::var("BENCH_CLIENT_CPUS") {
            taskset(&cpus, std::process::id());
            pinned.push(format!(
                "this process (and the servers and clients it starts) pinned to CPUs {cpus}"
            ));
        }
        pinned
    }

    /// SIGKILLs sshd and every connection it serves (existing sessions break).
    pub fn kill(&self) {
        if let Some(mut child) = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            kill_tree(&mut child);
        }
    }

    /// Kills sshd (if running) and starts it again on the same port with the same keys.
    pub fn restart(&self) {
        self.kill();
        self.spawn();
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user sshd lets in: the user running the tests (or, as root, the
    /// [`SshdConfig::root_alias`] when one was given).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The authorised private key (ed25519, no passphrase).
    pub fn user_key(&self) -> &Utf8Path {
        &self.user_key
    }

    /// A `known_hosts` file listing this sshd as `[127.0.0.1]:port`.
    pub fn known_hosts(&self) -> &Utf8Path {
        &self.known_hosts
    }

    /// `ssh-ed25519 AAAA...` of the host key.
    pub fn host_key_line(&self) -> &str {
        &self.host_key_pub
    }

    /// `SHA256:...` of the host key, as `ssh-keygen -l` prints it.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A scratch directory (removed with the sshd); the remote user can write in it.
    pub fn temp_dir(&self) -> &Utf8Path {
        &self.root
    }

    /// A fresh subdirectory of [`Sshd::temp_dir`] for one test.
    pub fn scratch(&self, name: &str) -> Utf8PathBuf {
        let d = self.root.join("scratch").join(name);
        std::fs::create_dir_all(&d).expect("creating scratch dir");
        d
    }

    /// Strict `known_hosts` checking against this sshd's `known_hosts`, short timeouts.
    pub fn connect_options(&self) -> ConnectOptions {
        let mut o = ConnectOptions::new(
            self.host(),
            self.port,
            self.user.clone(),
            self.user_key.clone(),
            self.known_hosts.clone(),
        );
        o.connect_timeout = Duration::from_secs(5);
        o.command_timeout = Duration::from_secs(30);
        o
    }

    /// What sshd logged so far (stderr, `LogLevel VERBOSE`).
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The directory holding keys and config (kept alive as long as the sshd).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// The sshd of [`Sshd::shared`]: a static is never dropped, so [`remove_shared`] cleans up.
static SHARED: OnceLock<Sshd> = OnceLock::new();

/// Kills the shared sshd and removes its temp dir (registered with `atexit` on first use).
extern "C" fn remove_shared() {
    if let Some(sshd) = SHARED.get() {
        sshd.kill();
        let _ = std::fs::remove_dir_all(sshd.dir());
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "apt-get install openssh-server")]
    fn missing_sshd_fails_with_the_install_command() {
        super::require_sshd(camino::Utf8Path::new("/nonexistent/sbin/sshd"));
    }
}
