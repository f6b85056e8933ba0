//! The staged connection test: config -> key file -> TCP -> SSH handshake and host key ->
//! authentication -> remote identity and ComfyUI install -> write access -> ComfyUI HTTP API ->
//! WebSocket. Every stage is timed; a failure carries a hint; later stages are skipped.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_comfyui::{ClientOptions, ComfyClient, ComfyError};
use comfy_local_config::{Config, KeyFileError, LocalInstance, ensure_private_key_usable};
use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{FsError, OpenOptions, RemoteFs};
use comfy_local_ssh::{self as ssh, SshError};

use crate::connection::{ResolveError, ResolvedInstance, Unreachable, connect_any, resolve_env};
use crate::error_chain;
use crate::report::{ConnectionReport, Stage, StageResult, StageStatus};
use crate::workflow::ssh_dialer;

/// Folders of a ComfyUI install the product writes to (the setup script grants exactly these).
pub const WRITABLE_FOLDERS: [&str; 4] = ["models", "custom_nodes", "input", "output"];

/// What to test.
#[derive(Debug, Clone, Default)]
pub struct TestConnectionOptions {
    /// The instance id; the first local instance when `None`.
    pub instance: Option<String>,
}

/// A stage failure: what happened and what to do.
struct Failure {
    detail: String,
    hint: Option<String>,
}

impl Failure {
    fn new(detail: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure {
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Runs stages in order and skips the rest after the first failure.
struct Runner {
    stages: Vec<StageResult>,
    failed: bool,
}

impl Runner {
    fn new() -> Self {
        Runner {
            stages: Vec::new(),
            failed: false,
        }
    }

    fn run<T>(
        &mut self,
        stage: Stage,
        f: impl FnOnce() -> Result<(T, String), Failure>,
    ) -> Option<T> {
        if self.failed {
            return None;
        }
        let started = Instant::now();
        let result = f();
        let duration = Some(started.elapsed());
        match result {
            Ok((value, detail)) => {
                self.push(stage, StageStatus::Pass, duration, detail, None);
                Some(value)
            }
            Err(failure) => {
                self.failed = true;
                self.push(
                    stage,
                    StageStatus::Fail,
                    duration,
                    failure.detail,
                    failure.hint,
                );
                None
            }
        }
    }

    /// Marks the last stage run (if it passed) as passed with a warning.
    fn warn_last(&mut self, hint: String) {
        if let Some(last) = self.stages.last_mut()
            && last.status == StageStatus::Pass
        {
            last.status = StageStatus::Warn;
            last.hint = Some(hint);
        }
    }

    fn push(
        &mut self,
        stage: Stage,
        status: StageStatus,
        duration: Option<Duration>,
        detail: String,
        hint: Option<String>,
    ) {
        self.stages.push(StageResult {
            stage,
            title: stage.title(),
            status,
            duration,
            detail,
            hint,
        });
    }

    fn finish(mut self, instance: Option<String>, config_path: Option<String>) -> ConnectionReport {
        let failed_at = self
            .stages
            .iter()
            .find(|s| s.status == StageStatus::Fail)
            .map(|s| s.title);
        for stage in Stage::ALL {
            if !self.stages.iter().any(|s| s.stage == stage) {
                let detail = match failed_at {
                    Some(title) => format!("skipped: \"{title}\" failed"),
                    None => "skipped".to_owned(),
                };
                self.push(stage, StageStatus::Skip, None, detail, None);
            }
        }
        let ok = self
            .stages
            .iter()
            .all(|s| matches!(s.status, StageStatus::Pass | StageStatus::Warn));
        ConnectionReport {
            instance,
            config_path,
            stages: self.stages,
            ok,
        }
    }
}

/// Loads the config (`--config`, `$COMFY_LOCAL_CONFIG`, `./local-support-config.yml`,
/// `/app/local-support-config.yml`) and tests the chosen instance.
pub fn test_connection(
    explicit_config: Option<&Utf8Path>,
    opts: &TestConnectionOptions,
) -> ConnectionReport {
    let mut runner = Runner::new();
    let loaded = runner.run(Stage::Config, || {
        let loaded = Config::load(explicit_config).map_err(|e| {
            Failure::new(
                error_chain(&e),
                "fix the config (`comfy-local config check` lists every problem with its key and line); \
                 `local-support-config.yml.example` documents every key",
            )
        })?;
        let detail = format!("{} ({})", loaded.path, loaded.source);
        Ok((loaded, detail))
    });
    let Some(loaded) = loaded else {
        return runner.finish(opts.instance.clone(), None);
    };
    let config_path = Some(loaded.path.to_string());
    run_after_config(runner, &loaded.config, config_path, opts)
}

/// Tests an instance of an already loaded config, local or a running VastAI one (the config
/// stage checks only that the instance exists).
pub fn test_connection_with_config(
    config: &Config,
    config_path: Option<&str>,
    opts: &TestConnectionOptions,
) -> ConnectionReport {
    run_after_config(Runner::new(), config, config_path.map(str::to_owned), opts)
}

fn run_after_config(
    mut runner: Runner,
    config: &Config,
    config_path: Option<String>,
    opts: &TestConnectionOptions,
) -> ConnectionReport {
    // Selecting the instance belongs to the config stage; when the config was loaded here,
    // that stage already passed and an unknown instance fails it retroactively as a new row.
    let already_has_config = runner.stages.iter().any(|s| s.stage == Stage::Config);
    let selected = resolve_env(config, opts.instance.as_deref());
    let instance = match selected {
        Ok(instance) => instance,
        Err(e) if !e.is_usage() => {
            // The id is known (VastAI answered or was asked), but there is nothing to connect
            // to: a connection failure, reported where the connection starts.
            if !already_has_config {
                runner.run(Stage::Config, || {
                    Ok((
                        (),
                        format!(
                            "instance {:?} (VastAI)",
                            opts.instance.as_deref().unwrap_or_default()
                        ),
                    ))
                });
            }
            let detail = error_chain(&e);
            runner.push(
                Stage::KeyFile,
                StageStatus::Skip,
                None,
                "skipped: the instance cannot be reached".to_owned(),
                None,
            );
            runner.run::<()>(Stage::Tcp, || {
                Err(Failure {
                    detail,
                    hint: e.hint(),
                })
            });
            return runner.finish(opts.instance.clone(), config_path);
        }
        Err(e) => {
            let failure = Failure {
                detail: error_chain(&e),
                hint: Some(e.hint().filter(|_| !matches!(e, ResolveError::Unknown(_))).unwrap_or_else(|| {
                    "pass --instance with one of the configured ids, or add the instance under `local:`".to_owned()
                })),
            };
            return config_failure(runner, already_has_config, failure, opts, config_path);
        }
    };
    if let Err(e) = crate::switches::ensure_enabled(&instance, "testing the connection") {
        let failure = Failure::new(
            error_chain(&e),
            "set `enabled: true` in the config to use local instances",
        );
        return config_failure(runner, already_has_config, failure, opts, config_path);
    }
    if !already_has_config {
        runner.run(Stage::Config, || {
            Ok((
                (),
                format!("instance {:?} ({})", instance.id(), instance.instance.name),
            ))
        });
    }
    let id = Some(instance.id().to_owned());
    stages_for_instance(&mut runner, &instance);
    runner.finish(id, config_path)
}

/// The report for an instance that cannot be selected: the config stage fails (replacing a
/// passed one when the config was loaded here).
fn config_failure(
    mut runner: Runner,
    already_has_config: bool,
    failure: Failure,
    opts: &TestConnectionOptions,
    config_path: Option<String>,
) -> ConnectionReport {
    if already_has_config {
        runner.stages.retain(|s| s.stage != Stage::Config);
    }
    runner.run::<()>(Stage::Config, || Err(failure));
    runner.finish(opts.instance.clone(), config_path)
}

fn stages_for_instance(runner: &mut Runner, resolved: &ResolvedInstance) {
    let instance = &resolved.instance;
    let opts = resolved.connect_options();

    runner.run(Stage::KeyFile, || key_file_stage(&opts.key_file, resolved));
    runner.run(Stage::Tcp, || tcp_stage(&opts, resolved));
    let session = ssh_stages(runner, &opts, resolved);
    let Some(session) = session else { return };
    let install = sftp_path(instance.comfyui.path.as_str());
    let Some(fs) = runner.run(Stage::Remote, || remote_stage(session, &install, resolved)) else {
        return;
    };
    let folders = writable_folders(instance);
    runner.run(Stage::WriteAccess, || {
        write_stage(&fs, &install, &folders, resolved)
    });
    let api = runner.run(Stage::ComfyApi, || api_stage(resolved));
    let Some(client) = api else {
        return;
    };
    if let Some(warning) = install_mismatch(&client, resolved) {
        runner.warn_last(warning);
    }
    runner.run(Stage::WebSocket, || ws_stage(&client));
}

fn key_file_stage(
    key_file: &Utf8Path,
    resolved: &ResolvedInstance,
) -> Result<((), String), Failure> {
    let setting = resolved.setting("ssh.key_file");
    match ensure_private_key_usable(key_file) {
        Ok(()) => Ok(((), format!("{key_file} is private"))),
        Err(e) => {
            let hint = match &e {
                KeyFileError::Missing { .. } => resolved.pick(
                    format!("copy the private key the host setup script generated (id_ed25519 in its --output-dir) to {key_file}, or fix {setting}"),
                    format!("put the private key whose public half is in your VastAI account's SSH keys at {key_file}, or fix {setting}"),
                ),
                KeyFileError::TooOpen { .. } => format!("run `chmod 600 {key_file}`"),
                KeyFileError::PublicKey { .. } => {
                    format!("point {setting} at the private key (the file without .pub)")
                }
                _ => format!(
                    "make {key_file} a readable private key owned by the user running comfy-local, mode 600"
                ),
            };
            Err(Failure::new(error_chain(&e), hint))
        }
    }
}

fn tcp_stage(
    opts: &ssh::ConnectOptions,
    resolved: &ResolvedInstance,
) -> Result<((), String), Failure> {
    let target = format!("{}:{}", opts.host, opts.port);
    let (addr, e) = match connect_any(&opts.host, opts.port, opts.connect_timeout) {
        Ok(addr) if addr.to_string() == target => {
            return Ok(((), format!("{target} accepts connections")));
        }
        Ok(addr) => return Ok(((), format!("{target} ({addr}) accepts connections"))),
        Err(Unreachable::Resolve(e)) => {
            return Err(Failure::new(
                format!("cannot resolve {:?}: {e}", opts.host),
                if opts.host == "host.docker.internal" {
                    "inside Docker on Linux, host.docker.internal needs `extra_hosts: [\"host.docker.internal:host-gateway\"]` in docker-compose (or `--add-host`)".to_owned()
                } else {
                    resolved.pick(
                        format!("check ssh.host ({:?}) and the container's DNS", opts.host),
                        "VastAI reported that SSH host: check the container's DNS, or `vastai show instance ID`".to_owned(),
                    )
                },
            ));
        }
        Err(Unreachable::NoAddress) => {
            return Err(Failure::new(
                format!("{:?} resolved to no address", opts.host),
                resolved.pick(
                    "check ssh.host".to_owned(),
                    "check the container's DNS".to_owned(),
                ),
            ));
        }
        Err(Unreachable::Connect(addr, e)) => (addr, e),
    };
    let hint = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => resolved.pick(
            format!("nothing listens on {target}: is the comfy-local sshd running on the host (rerun the setup script, or `systemctl status comfy-local-sshd`)? Is ssh.port right?"),
            format!("nothing listens on {target}: the instance's sshd is not up (yet), or the instance was rented without SSH access; `comfy-local instances` shows its state"),
        ),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => resolved.pick(
            format!(
                "no answer from {target} within {:?}: a firewall may drop the port, or sshd listens only on 127.0.0.1 while the container comes from the Docker bridge (setup script --listen)",
                opts.connect_timeout
            ),
            format!(
                "no answer from {target} within {:?}: the instance may still be starting, or its machine is offline; `comfy-local instances` shows its state",
                opts.connect_timeout
            ),
        ),
        _ => format!("check that {target} is reachable from here"),
    };
    Err(Failure::new(
        format!("cannot connect to {target} ({addr}): {e}"),
        hint,
    ))
}

/// Handshake + host key, then authentication. `Session::connect` does both (after its own TCP
/// connect); the error says which part failed, so the failure lands on the right row, and on
/// success the transport's own timings split the rows.
fn ssh_stages(
    runner: &mut Runner,
    opts: &ssh::ConnectOptions,
    resolved: &ResolvedInstance,
) -> Option<ssh::Session> {
    if runner.failed {
        return None;
    }
    let started = Instant::now();
    let result = ssh::Session::connect(opts);
    let elapsed = started.elapsed();
    match result {
        Ok(session) => {
            let t = session.connect_timings();
            let check = match &opts.host_key {
                ssh::HostKeyCheck::KnownHosts { file, .. } => format!("verified against {file}"),
                ssh::HostKeyCheck::Fingerprint(_) => "matches the pinned fingerprint".to_owned(),
            };
            let cipher = session
                .cipher()
                .map(|c| format!(", cipher {c}"))
                .unwrap_or_default();
            runner.push(
                Stage::Handshake,
                StageStatus::Pass,
                Some(t.tcp + t.handshake),
                format!(
                    "host key {} {check}{cipher}",
                    session.host_key_fingerprint()
                ),
                None,
            );
            runner.push(
                Stage::Auth,
                StageStatus::Pass,
                Some(t.auth),
                format!("user {:?} with key {}", opts.user, opts.key_file),
                None,
            );
            Some(session)
        }
        Err(e) => {
            let auth_failure = is_auth_error(&e);
            if auth_failure {
                runner.push(
                    Stage::Handshake,
                    StageStatus::Pass,
                    None,
                    "host key verified (time included in the authentication row)".to_owned(),
                    None,
                );
            }
            let stage = if auth_failure {
                Stage::Auth
            } else {
                Stage::Handshake
            };
            let hint = ssh_hint(&e, opts, resolved);
            runner.failed = true;
            runner.push(
                stage,
                StageStatus::Fail,
                Some(elapsed),
                error_chain(&e),
                Some(hint),
            );
            None
        }
    }
}

fn is_auth_error(e: &SshError) -> bool {
    matches!(
        e,
        SshError::AuthRefused { .. }
            | SshError::KeyUnreadable { .. }
            | SshError::KeyEncrypted { .. }
            | SshError::KeyLoad { .. }
            | SshError::ConnectTimeout {
                stage: ssh::ConnectStage::Auth,
                ..
            }
    )
}

/// What to do when the SSH forward to ComfyUI failed with `e`: the SSH stage's hint for a
/// failed connection (host key, auth, ...), or how to let the host's sshd forward.
pub(crate) fn forward_hint(e: &SshError, instance: &ResolvedInstance) -> String {
    match e {
        SshError::Forward { .. } => instance.pick(
            format!(
                "start ComfyUI on the host, or let the comfy-local sshd forward to it (`AllowTcpForwarding local` and `PermitOpen 127.0.0.1:{port}`, as the setup script writes)",
                port = instance.forward_port
            ),
            format!(
                "is ComfyUI running on the instance on 127.0.0.1:{port} (vastai.comfyui.port), and does its sshd allow TCP forwarding?",
                port = instance.forward_port
            ),
        ),
        _ => ssh_hint(e, &instance.connect_options(), instance),
    }
}

fn ssh_hint(e: &SshError, opts: &ssh::ConnectOptions, instance: &ResolvedInstance) -> String {
    match e {
        SshError::HostKeyUnknown { known_hosts, .. } => format!(
            "the host's key is not in {known_hosts}: copy the known_hosts file the setup script wrote, or set host_key_policy: accept-new for the first connection"
        ),
        SshError::KnownHostsMissing { known_hosts, .. } => format!(
            "{known_hosts} is missing: copy the known_hosts file the setup script wrote (or pin host_key_fingerprint)"
        ),
        SshError::HostKeyMismatch { known_hosts, .. } => instance.changed_key_hint(known_hosts),
        SshError::HostKeyFingerprintMismatch { .. } => "the host key does not match host_key_fingerprint: update the pin only if you know the host key was regenerated".to_owned(),
        SshError::NoCommonAlgorithm { .. } => instance.pick(
            "the sshd offers no algorithm libssh2 supports: use the sshd config the setup script writes (curve25519-sha256, ssh-ed25519, chacha20-poly1305/aes-gcm)".to_owned(),
            "the instance's sshd offers no algorithm libssh2 supports (it needs e.g. curve25519-sha256, ssh-ed25519, chacha20-poly1305 or aes-gcm)".to_owned(),
        ),
        SshError::AuthRefused { .. } => instance.auth_hint(opts),
        SshError::KeyEncrypted { .. } | SshError::KeyLoad { .. } => instance.pick(
            "use an unencrypted ed25519 key made for the container (the setup script generates one)".to_owned(),
            "use an unencrypted ed25519 key made for the container (`ssh-keygen -t ed25519 -N ''`) and add its .pub to your VastAI account's SSH keys".to_owned(),
        ),
        SshError::ConnectTimeout { .. } => format!(
            "{}:{} accepted TCP but did not speak SSH within {:?}: {}",
            opts.host, opts.port, opts.connect_timeout,
            instance.pick("is that port really the comfy-local sshd?".to_owned(), "the instance may still be starting".to_owned()),
        ),
        SshError::ConnectionRefused { .. } => instance.pick(
            "is the comfy-local sshd running on the host?".to_owned(),
            "is the instance's sshd up? `comfy-local instances` shows its state".to_owned(),
        ),
        _ => "run with -v for details; check the host's sshd log (LogLevel VERBOSE)".to_owned(),
    }
}

/// The SFTP form of an install path: POSIX as is; `C:\x` becomes `/C:/x` (OpenSSH for Windows).
pub fn sftp_path(path: &str) -> Utf8PathBuf {
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        Utf8PathBuf::from(format!("/{}", path.replace('\\', "/")))
    } else {
        Utf8PathBuf::from(path)
    }
}

/// Identity and install checks; hands on the install's folders, opened with remote-fs over
/// the session's SFTP channel, for the write stage.
fn remote_stage(
    session: ssh::Session,
    install: &Utf8Path,
    resolved: &ResolvedInstance,
) -> Result<(RemoteFs<SftpHost>, String), Failure> {
    let whoami = session.exec(&ssh::Command::new("whoami")).map_err(|e| {
        Failure::new(
            error_chain(&e),
            "the host must allow the user to run commands (no ForceCommand, a normal login shell)",
        )
    })?;
    let user = String::from_utf8_lossy(&whoami.stdout).trim().to_owned();
    if whoami.exit_status != 0 || user.is_empty() {
        return Err(Failure::new(
            format!(
                "`whoami` exited with {}: {}",
                whoami.exit_status,
                String::from_utf8_lossy(&whoami.stderr).trim()
            ),
            "the user's login shell must run commands",
        ));
    }
    let os = session
        .exec(&ssh::Command::new("uname").arg("-srm"))
        .ok()
        .filter(|o| o.exit_status == 0)
        .map_or_else(
            || "unknown OS (no uname: Windows?)".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    let host = SftpHost::open(session).map_err(|e| {
        Failure::new(
            error_chain(&e),
            resolved.pick(
                "the host's sshd must enable the sftp subsystem (the setup script configures internal-sftp)".to_owned(),
                "the instance's sshd must enable the sftp subsystem".to_owned(),
            ),
        )
    })?;
    let hint_install = format!(
        "{} must be ComfyUI's install folder on the HOST (the one with main.py); {install} is not",
        resolved.setting("comfyui.path")
    );
    let sftp = host.sftp();
    let main_py = install.join("main.py");
    match sftp.stat(&main_py) {
        Ok(info) if info.kind == ssh::FileKind::File => {}
        Ok(_) => {
            return Err(Failure::new(
                format!("{main_py} is not a file"),
                hint_install,
            ));
        }
        Err(e) => {
            return Err(Failure::new(
                format!("{main_py}: {}", error_chain(&e)),
                hint_install,
            ));
        }
    }
    let mut missing = Vec::new();
    for folder in WRITABLE_FOLDERS {
        match sftp.stat(&install.join(folder)) {
            Ok(info) if info.kind == ssh::FileKind::Dir => {}
            _ => missing.push(folder),
        }
    }
    if !missing.is_empty() {
        return Err(Failure::new(
            format!(
                "ComfyUI at {install} lacks folder(s): {}",
                missing.join(", ")
            ),
            "start ComfyUI once (it creates input/ and output/) or create the folders; models/ and custom_nodes/ come with a ComfyUI checkout",
        ));
    }
    let fs = RemoteFs::open(host, &OpenOptions::new(install)).map_err(|e| {
        let hint = match &e {
            FsError::ExtraPaths(_) => format!(
                "comfy-local reads {install}/extra_model_paths.yaml to find the model folders, as ComfyUI does at startup: fix the file"
            ),
            FsError::RootNotADirectory { path, .. } => {
                format!("{path} must be a folder (ComfyUI keeps models there)")
            }
            _ => hint_install,
        };
        Failure::new(error_chain(&e), hint)
    })?;
    Ok((
        fs,
        format!(
            "user {user} on {os}; ComfyUI at {install} (main.py, {})",
            WRITABLE_FOLDERS.join(", ")
        ),
    ))
}

/// The folders the product writes to on this instance: `custom_nodes/` only when
/// `features.custom_nodes` allows writing nodes there.
fn writable_folders(instance: &LocalInstance) -> Vec<&'static str> {
    WRITABLE_FOLDERS
        .into_iter()
        .filter(|f| *f != "custom_nodes" || instance.features.custom_nodes)
        .collect()
}

/// Creates and removes a probe file in every folder the product writes to, through remote-fs
/// (which keeps the probe inside those folders and never writes through a symlink).
fn write_stage(
    fs: &RemoteFs<SftpHost>,
    install: &Utf8Path,
    folders: &[&str],
    resolved: &ResolvedInstance,
) -> Result<((), String), Failure> {
    for folder in folders {
        fs.probe_write(folder).map_err(|e| {
            let dir = install.join(folder);
            Failure::new(
                error_chain(&e),
                resolved.pick(
                    format!("the SSH user cannot write to {dir}: rerun the setup script (it grants write access to models/, custom_nodes/, input/ and output/ only), or e.g. `setfacl -R -m u:USER:rwX -m d:u:USER:rwX {dir}`"),
                    format!("the SSH user cannot write to {dir}: check vastai.ssh.user and vastai.comfyui.path, or e.g. `setfacl -R -m u:USER:rwX -m d:u:USER:rwX {dir}` on the instance"),
                ),
            )
        })?;
    }
    let skipped = if folders.contains(&"custom_nodes") {
        ""
    } else {
        " (custom_nodes/ not checked: features.custom_nodes is false)"
    };
    Ok((
        (),
        format!(
            "created and removed a probe file in {}/{skipped}",
            folders.join("/, ")
        ),
    ))
}

fn api_stage(resolved: &ResolvedInstance) -> Result<(ComfyClient, String), Failure> {
    let instance = &resolved.instance;
    let url = instance.comfyui.api_url.as_str();
    // What details and hints show: never the password.
    let shown = instance.comfyui.api_url.redacted();
    let timeout = instance.ssh.connect_timeout();
    let options = ClientOptions::default()
        .connect_timeout(timeout)
        .request_timeout(timeout.max(Duration::from_secs(30)));
    let port = resolved.forward_port;
    let direct = if resolved.try_direct {
        let client = ComfyClient::with_options(url, options.clone())
            .map_err(|e| Failure::new(error_chain(&e), "fix comfyui.api_url"))?;
        match client.system_stats() {
            Ok(stats) => Ok((client, stats)),
            Err(e @ (ComfyError::Transport { .. } | ComfyError::Timeout { .. })) => Err(Some(e)),
            Err(e) => return Err(api_failure(&e, &shown)),
        }
    } else {
        Err(None)
    };
    let (client, via_ssh, stats) = match direct {
        Ok((client, stats)) => (client, false, stats),
        Err(direct) => {
            // Not reachable from here (or not published): ComfyUI on the instance's loopback
            // through SSH, as `comfy-local run` does.
            let tunnelled = ssh_dialer(resolved)
                .map_err(|e| (error_chain(&e), forward_hint(&e, resolved)))
                .and_then(|dialer| {
                    let c = ComfyClient::with_options(url, options.dialer(dialer))
                        .map_err(|e| (error_chain(&e), String::new()))?;
                    let stats = c.system_stats().map_err(|e| {
                        let hint = format!("is ComfyUI running on the host, on 127.0.0.1:{port}?");
                        (error_chain(&e), hint)
                    })?;
                    Ok((c, stats))
                });
            match (tunnelled, direct) {
                (Ok((c, stats)), _) => (c, true, stats),
                (Err((tunnel, hint)), None) => {
                    return Err(Failure::new(
                        format!(
                            "ComfyUI's port {port} is not published; through an SSH forward to the instance's 127.0.0.1:{port}: {tunnel}"
                        ),
                        hint,
                    ));
                }
                (Err((tunnel, tunnel_hint)), Some(direct)) => {
                    // Both ways failed: say both, with what to do about each.
                    let mut failure = api_failure(&direct, &shown);
                    failure.detail = format!(
                        "{}; and not through an SSH forward to the host's 127.0.0.1:{port} either: {tunnel}",
                        failure.detail
                    );
                    if let Some(hint) = &mut failure.hint
                        && !tunnel_hint.is_empty()
                    {
                        hint.push_str("; or through SSH: ");
                        hint.push_str(&tunnel_hint);
                    }
                    return Err(failure);
                }
            }
        }
    };
    let info = client.object_info().map_err(|e| api_failure(&e, &shown))?;
    let sys = &stats.system;
    let mut detail = format!(
        "ComfyUI {}, Python {}, PyTorch {}",
        sys.comfyui_version.as_deref().unwrap_or("?"),
        sys.python_version
            .as_deref()
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or("?"),
        sys.pytorch_version.as_deref().unwrap_or("?"),
    );
    for d in &stats.devices {
        let _ = write!(
            detail,
            "; {} ({:.1} GiB VRAM)",
            d.name,
            d.vram_total as f64 / (1024.0 * 1024.0 * 1024.0)
        );
    }
    let _ = write!(detail, "; {} node classes", info.class_names().len());
    if via_ssh && resolved.try_direct {
        let _ = write!(
            detail,
            "; {shown} is not reachable from here, so ComfyUI is reached through an SSH forward to the host's 127.0.0.1:{port}"
        );
    } else if via_ssh {
        let _ = write!(
            detail,
            "; reached through an SSH forward to the instance's 127.0.0.1:{port} (the port is not published)"
        );
    }
    Ok((client, detail))
}

/// Whether the ComfyUI answering at `api_url` runs from another folder than `comfyui.path`
/// (from the folders it reports, `GET /internal/folder_paths`): then what installs and
/// checks put into `comfyui.path` is not what it uses. `None` when they agree or when the
/// server does not say.
fn install_mismatch(client: &ComfyClient, resolved: &ResolvedInstance) -> Option<String> {
    let instance = &resolved.instance;
    let folders = match client.folder_paths() {
        Ok(Some(folders)) => folders,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(error = %error_chain(&e), "cannot read ComfyUI's folder paths");
            return None;
        }
    };
    let configured = instance.comfyui.path.as_str();
    let server_base = folders
        .get("custom_nodes")
        .and_then(|paths| paths.first())
        .and_then(|p| parent_of(p, "custom_nodes"))?;
    if same_path(&server_base, configured) {
        return None;
    }
    let path = resolved.setting("comfyui.path");
    let url = resolved.pick(
        "comfyui.api_url".to_owned(),
        "vastai.comfyui.port".to_owned(),
    );
    Some(format!(
        "the ComfyUI answering at {} runs from {}, not from {path} {configured}: models and inputs put into {path} are not the ones it uses. Point {path} (or {url}) at the same ComfyUI (if {path} is a symlink to that folder, this is fine)",
        instance.comfyui.api_url.redacted(),
        crate::terminal::one_line(&server_base),
    ))
}

/// `path` without its last component when that is `name` (either separator).
fn parent_of(path: &str, name: &str) -> Option<String> {
    let trimmed = path.trim_end_matches(['/', '\\']);
    let parent = trimmed.strip_suffix(name)?;
    parent
        .ends_with(['/', '\\'])
        .then(|| parent.trim_end_matches(['/', '\\']).to_owned())
}

/// Two host paths name the same folder, up to trailing separators, separator style and (for
/// Windows drive paths) case.
fn same_path(a: &str, b: &str) -> bool {
    let norm = |p: &str| {
        let p = p.replace('\\', "/");
        let p = p.trim_end_matches('/').to_owned();
        if p.as_bytes().get(1) == Some(&b':') {
            p.to_lowercase()
        } else {
            p
        }
    };
    norm(a) == norm(b)
}

fn api_failure(e: &ComfyError, url: &str) -> Failure {
    let hint = match e {
        ComfyError::Transport { .. } | ComfyError::Timeout { .. } => format!(
            "is ComfyUI running on the host, and reachable from here at {url}? From a container, ComfyUI must listen on an address the container reaches (e.g. `--listen 0.0.0.0` behind the firewall, or the Docker bridge) and host.docker.internal needs `extra_hosts: host-gateway`"
        ),
        ComfyError::HttpStatus { .. }
        | ComfyError::NotJson { .. }
        | ComfyError::UnexpectedJson { .. } => format!(
            "{url} answers, but not like ComfyUI: check comfyui.api_url (port 8188 by default)"
        ),
        _ => "check comfyui.api_url and ComfyUI's console output".to_owned(),
    };
    Failure::new(error_chain(e), hint)
}

fn ws_stage(client: &ComfyClient) -> Result<((), String), Failure> {
    let hs = client.ws_handshake().map_err(|e| {
        Failure::new(
            error_chain(&e),
            "the HTTP API answers but the WebSocket does not: a proxy in between must pass `Upgrade: websocket` for /ws",
        )
    })?;
    Ok((
        (),
        format!(
            "{} answered in {:.1} ms{}",
            hs.url,
            hs.elapsed.as_secs_f64() * 1000.0,
            hs.queue_remaining
                .map(|q| format!(", queue {q}"))
                .unwrap_or_default()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::{parent_of, same_path};

    #[test]
    fn the_install_folder_is_the_parent_of_custom_nodes_in_either_style() {
        assert_eq!(
            parent_of("/opt/ComfyUI/custom_nodes", "custom_nodes").as_deref(),
            Some("/opt/ComfyUI")
        );
        assert_eq!(
            parent_of(r"C:\ComfyUI\custom_nodes\", "custom_nodes").as_deref(),
            Some(r"C:\ComfyUI")
        );
        assert_eq!(parent_of("/opt/my_custom_nodes", "custom_nodes"), None);
        assert!(same_path("/opt/ComfyUI/", "/opt/ComfyUI"));
        assert!(same_path(r"C:\ComfyUI", "c:/comfyui"));
        assert!(!same_path("/opt/ComfyUI", "/opt/comfyui"));
    }
}
