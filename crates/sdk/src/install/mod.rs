//! `install model`: a file from an http(s) URL put into a ComfyUI model folder on the host,
//! resumable, verified and put in place atomically, by one of two data paths ([`DataPath`]):
//! fetched by the host itself (module `host`), or streamed through this process and SSH.
//!
//! Streamed, the bytes flow source -> ureq -> remote-fs `put` (SFTP) into `<name>.part`. An interrupted
//! install resumes: the `.part`'s size on the host is the `Range` asked of the source, and the
//! sha256 covers the whole file because remote-fs re-reads (re-hashes) the kept prefix from the
//! host before appending (no sidecar state). A source that ignores `Range` restarts the
//! `.part` from scratch. Only a file whose hash matches `--sha256` (when given) is renamed into
//! place; a mismatch removes the `.part`, so a later resume cannot build on bad bytes.

mod error;
mod host;
pub mod missing;
pub mod node;
mod pace;
pub mod source;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use camino::Utf8PathBuf;
use comfy_local_config::Config;
use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{
    FolderName, FsError, Host, HostOs, OpenOptions, RelPath, RemoteFs, RootId,
};
use serde::Serialize;
use url::Url;

pub use error::{InstallError, InstallErrorKind};
pub use node::list::{InstalledNode, NodeList, list_nodes};
pub use node::{
    InstallNodeRequest, NodeError, NodeEvent, NodeOutcome, check_node_request, install_node,
    install_node_resolved,
};
pub use pace::ProgressPacer;
pub use source::{Credential, Credentials, Placement, Source, SourceError};

use crate::connection::{ResolvedInstance, resolve, resolve_env};
use crate::error::error_chain;
use crate::test_connection::sftp_path;

/// What to install, as the user gave it.
#[derive(Debug, Clone)]
pub struct InstallModelRequest {
    pub url: String,
    /// A model folder ComfyUI knows (`checkpoints`, `loras`, or one from
    /// `extra_model_paths.yaml`).
    pub folder: String,
    /// File name below the folder (may hold subfolders); default from the response.
    pub name: Option<String>,
    /// Expected sha256 (hex).
    pub sha256: Option<String>,
    /// Replace an existing file with other content.
    pub force: bool,
    /// Instance id; `None`: the default instance.
    pub instance: Option<String>,
    /// Further attempts after the source breaks off (each resumes from the `.part`).
    pub retries: u32,
}

/// How the bytes of a model reach the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataPath {
    /// The host downloads them itself (`python3` with the standard library, over its own
    /// link); when it cannot reach the source before any byte arrived, they are streamed.
    #[default]
    Auto,
    /// The host downloads them; fail if it cannot.
    Host,
    /// Through this process and SSH (every host, also one without internet access).
    Stream,
}

/// Progress of an install, for bars and JSON lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum InstallEvent {
    /// Bytes start to flow into `<name>.part`.
    Started {
        folder: String,
        name: String,
        /// The URL that answered (tokens redacted).
        url: String,
        total: Option<u64>,
        resumed_from: u64,
    },
    /// Bytes of the final file in place so far (including a resumed prefix).
    Progress { position: u64, total: Option<u64> },
    /// The source ignored the range request: the `.part` starts over.
    Restarted { discarded: u64 },
    /// The source broke off; another attempt resumes.
    Retrying {
        attempt: u32,
        written: u64,
        error: String,
    },
}

/// How an install ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallStatus {
    /// The file was downloaded, verified and put in place.
    Installed,
    /// A file with the expected sha256 was already there; nothing was done.
    AlreadyPresent,
}

/// The result of an install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallOutcome {
    pub status: InstallStatus,
    pub folder: String,
    /// Relative to the folder.
    pub name: String,
    /// Canonical path on the host.
    pub path: Utf8PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Bytes kept from an earlier, interrupted install.
    pub resumed_from: u64,
    /// Whether the sha256 was compared with `--sha256`.
    pub verified: bool,
    /// The data path the bytes took (`host` or `stream`); `None` when none moved.
    pub via: Option<DataPath>,
    /// Why the host did not fetch them itself, when `auto` fell back to streaming.
    pub fallback: Option<String>,
}

/// A request checked without the host: URL, hash and folder name parsed.
#[derive(Debug, Clone)]
pub struct InstallSpec {
    pub url: Url,
    pub folder: FolderName,
    pub name: Option<String>,
    pub sha256: Option<[u8; 32]>,
    pub force: bool,
    pub retries: u32,
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Whether the host may be given the tokens a download needs (false on a rented instance
    /// unless `vastai.send_download_tokens`): when not, a download that needs one is streamed
    /// through this process instead of fetched by the host.
    pub tokens_to_host: bool,
}

impl InstallSpec {
    /// Parses the parts of `req` that need no host.
    pub fn parse(req: &InstallModelRequest, max_bytes: u64) -> Result<Self, InstallError> {
        let url = Url::parse(&req.url).map_err(|e| InstallError::BadUrl {
            input: Credentials::none().display_url_str(&req.url),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InstallError::BadUrl {
                input: Credentials::none().display_url(&url),
                reason: format!("the scheme is {}", url.scheme()),
            });
        }
        let sha256 = req.sha256.as_deref().map(parse_sha256).transpose()?;
        let folder = FolderName::parse(&req.folder).map_err(|e| InstallError::BadDestination {
            folder: req.folder.clone(),
            name: req.name.clone().unwrap_or_default(),
            source: Box::new(FsError::FolderName(e)),
        })?;
        Ok(InstallSpec {
            url,
            folder,
            name: req.name.clone(),
            sha256,
            force: req.force,
            retries: req.retries,
            max_bytes,
            tokens_to_host: true,
        })
    }

    /// [`InstallSpec::parse`], and the file name (when given) by the path rules of `os`.
    pub fn parse_on(
        req: &InstallModelRequest,
        max_bytes: u64,
        os: HostOs,
    ) -> Result<Self, InstallError> {
        let spec = Self::parse(req, max_bytes)?;
        if let Some(name) = &spec.name {
            RelPath::parse(name, os).map_err(|e| InstallError::BadDestination {
                folder: req.folder.clone(),
                name: name.clone(),
                source: Box::new(FsError::Path(e)),
            })?;
        }
        Ok(spec)
    }
}

/// Checks a model install request against `config` without the host: [`InstallSpec::parse_on`]
/// by the rules of the instance's OS (a local instance with a Windows install path: Windows;
/// any other instance: POSIX). What needs the host (whether the folder is one ComfyUI knows
/// there, the download itself) is left to the install.
pub fn check_model_request(
    config: &Config,
    req: &InstallModelRequest,
) -> Result<InstallSpec, InstallError> {
    let local = match req.instance.as_deref() {
        Some(id) => config.instance(id),
        None => config.default_instance(),
    };
    let os = local.map_or(HostOs::Posix, |i| install_os(i.comfyui.path.as_str()));
    InstallSpec::parse_on(req, u64::MAX, os)
}

/// The OS whose path rules apply to an install path (`C:...`: Windows).
fn install_os(path: &str) -> HostOs {
    if path.as_bytes().get(1) == Some(&b':') {
        HostOs::Windows
    } else {
        HostOs::Posix
    }
}

fn parse_sha256(text: &str) -> Result<[u8; 32], InstallError> {
    let bad = || InstallError::BadSha256 {
        input: text.to_owned(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// Installs a model on a configured instance: checks the feature switch, connects over SSH,
/// opens the install's folders with remote-fs and streams the file there. Tokens come from
/// the variables the config's `resources:` names, looked up with `env`.
pub fn install_model(
    config: &Config,
    req: &InstallModelRequest,
    env: &dyn Fn(&str) -> Option<String>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<InstallOutcome, InstallError> {
    install_model_via(config, req, DataPath::Auto, env, cancel, on_event)
}

/// [`install_model`] by the data path `via`.
pub fn install_model_via(
    config: &Config,
    req: &InstallModelRequest,
    via: DataPath,
    env: &dyn Fn(&str) -> Option<String>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<InstallOutcome, InstallError> {
    let resolved = resolve(config, req.instance.as_deref(), env)?;
    install_model_resolved(config, &resolved, req, via, env, cancel, on_event)
}

/// [`install_model_via`] on an already resolved instance (`req.instance` is not looked at).
pub fn install_model_resolved(
    config: &Config,
    resolved: &ResolvedInstance,
    req: &InstallModelRequest,
    via: DataPath,
    env: &dyn Fn(&str) -> Option<String>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<InstallOutcome, InstallError> {
    let instance = &resolved.instance;
    if !instance.features.resource_installation {
        return Err(InstallError::FeatureDisabled {
            instance: instance.id.to_string(),
        });
    }
    let os = install_os(instance.comfyui.path.as_str());
    let mut spec = InstallSpec::parse_on(req, instance.limits.max_upload_bytes(), os)?;
    spec.tokens_to_host = resolved.tokens_to_host;
    let source = Source::new(
        Credentials::from_config(&config.resources, env),
        Duration::from_secs(60),
    );
    let mut fs = open_fs_resolved(resolved)?;
    install_via(&mut fs, &source, &spec, via, HOST_PYTHON, cancel, on_event)
}

/// The Python the host runs its download program with (standard library only, so any
/// `python3` does; ComfyUI's own environment is not needed).
pub const HOST_PYTHON: &str = "python3";

/// The install on an opened host, by the data path asked for ([`DataPath::Auto`]: the host
/// fetches with `python`, and the bytes are streamed when it cannot reach the source).
pub fn install_via(
    fs: &mut RemoteFs<SftpHost>,
    source: &Source,
    spec: &InstallSpec,
    via: DataPath,
    python: &str,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<InstallOutcome, InstallError> {
    if via == DataPath::Stream || fs.os() != HostOs::Posix {
        return install_streamed(fs, source, spec, Some(python), cancel, on_event);
    }
    match host::install_on_host(fs, source, spec, python, cancel, on_event)? {
        host::HostEnd::Done(outcome) => Ok(outcome),
        host::HostEnd::Unreachable(e) if via == DataPath::Auto => {
            let mut outcome = install_streamed(fs, source, spec, Some(python), cancel, on_event)?;
            outcome.fallback = Some(error_chain(&e));
            Ok(outcome)
        }
        host::HostEnd::Unreachable(e) => Err(e),
    }
}

/// Connects to the instance (local, or a running VastAI one by its numeric id) and opens its
/// ComfyUI folders with remote-fs.
pub fn open_fs(
    config: &Config,
    instance: Option<&str>,
) -> Result<RemoteFs<SftpHost>, InstallError> {
    open_fs_resolved(&resolve_env(config, instance)?)
}

/// [`open_fs`] on an already resolved instance.
pub fn open_fs_resolved(resolved: &ResolvedInstance) -> Result<RemoteFs<SftpHost>, InstallError> {
    let instance = &resolved.instance;
    let connect_err = |source| InstallError::Connect {
        instance: instance.id.to_string(),
        source: Box::new(source),
    };
    let session =
        comfy_local_ssh::Session::connect(&resolved.connect_options()).map_err(connect_err)?;
    let host = SftpHost::open(session).map_err(connect_err)?;
    let path = instance.comfyui.path.as_str();
    let mut opts = OpenOptions::new(sftp_path(path));
    opts.os = install_os(path);
    RemoteFs::open(host, &opts).map_err(InstallError::remote)
}

/// The install itself, streamed through this process, on any remote-fs host.
pub fn install_into<H: Host>(
    fs: &mut RemoteFs<H>,
    source: &Source,
    spec: &InstallSpec,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<InstallOutcome, InstallError> {
    install_streamed(fs, source, spec, None, cancel, on_event)
}

/// [`install_into`]; with the host's `python`, a POSIX host flushes the `.part` to disk as it
/// is written ([`comfy_local_remote_fs::PutOptions::host_python`]).
fn install_streamed<H: Host>(
    fs: &mut RemoteFs<H>,
    source: &Source,
    spec: &InstallSpec,
    python: Option<&str>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<InstallOutcome, InstallError> {
    let creds = source.credentials();
    let folder = spec.folder.as_str().to_owned();
    // A named destination is checked (and an existing file compared) before any request.
    let mut dest = match &spec.name {
        Some(name) => {
            let d = destination(fs, &spec.folder, name)?;
            if let Some(done) = preflight(fs, &d, spec, name)? {
                return Ok(done);
            }
            Some((d, name.clone()))
        }
        None => None,
    };
    let mut attempt = 0u32;
    loop {
        let offset = match &dest {
            Some((d, _)) => fs.partial(d).map_err(InstallError::remote)?.unwrap_or(0),
            None => 0,
        };
        let opened = match source.open(&spec.url, offset) {
            Ok(o) => o,
            Err(SourceError::Status { status: 416, .. }) if offset > 0 => {
                // The .part is as long as the file or longer: start over.
                restart(fs, dest.as_ref(), offset, on_event)?;
                continue;
            }
            Err(e) if e.is_transient() && attempt < spec.retries => {
                attempt += 1;
                on_event(&InstallEvent::Retrying {
                    attempt,
                    written: offset,
                    error: e.to_string(),
                });
                std::thread::sleep(backoff(attempt));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let (d, name) = if let Some(found) = &dest {
            found.clone()
        } else {
            let name = opened.file_name().ok_or_else(|| InstallError::NoFileName {
                url: creds.display_url(&opened.final_url),
            })?;
            let d = destination(fs, &spec.folder, &name)?;
            if let Some(done) = preflight(fs, &d, spec, &name)? {
                return Ok(done);
            }
            dest = Some((d.clone(), name.clone()));
            if fs.partial(&d).map_err(InstallError::remote)?.unwrap_or(0) > 0 {
                // A .part from an earlier run: ask again, from where it ends.
                continue;
            }
            (d, name)
        };
        let url_shown = creds.display_url(&opened.final_url);
        let start = match (opened.status, opened.content_range) {
            (206, Some((start, _))) if start == offset => offset,
            (206, _) => {
                // Some other range than asked for: unusable; start over without one.
                restart(fs, Some(&(d, name)), offset, on_event)?;
                continue;
            }
            _ => {
                if offset > 0 {
                    on_event(&InstallEvent::Restarted { discarded: offset });
                }
                0
            }
        };
        let total = match opened.content_range {
            Some((_, Some(total))) if opened.status == 206 => Some(total),
            _ => opened.content_length.map(|n| n + start),
        };
        let put = Put {
            dest: &d,
            name: &name,
            folder: &folder,
            url_shown: &url_shown,
            start,
            total,
            python,
        };
        match put.run(fs, opened.body, spec, creds, cancel, on_event)? {
            PutEnd::Done(outcome) => return Ok(outcome),
            PutEnd::SourceBroke { written, message } if attempt < spec.retries => {
                attempt += 1;
                on_event(&InstallEvent::Retrying {
                    attempt,
                    written,
                    error: message,
                });
                std::thread::sleep(backoff(attempt));
            }
            PutEnd::SourceBroke { written, message } => {
                return Err(InstallError::SourceBroke {
                    url: url_shown,
                    written,
                    part: format!("{name}.part"),
                    message,
                });
            }
        }
    }
}

/// One transfer of an opened source body into the destination's `.part`.
struct Put<'a> {
    dest: &'a comfy_local_remote_fs::RemotePath,
    name: &'a str,
    folder: &'a str,
    url_shown: &'a str,
    start: u64,
    total: Option<u64>,
    /// The host's Python, to flush the `.part` as it is written.
    python: Option<&'a str>,
}

/// How a [`Put`] ended, when not with an error that ends the install.
enum PutEnd {
    Done(InstallOutcome),
    /// The source broke off mid-file; the `.part` keeps what arrived (a retry resumes it).
    SourceBroke {
        written: u64,
        message: String,
    },
}

impl Put<'_> {
    fn run<H: Host>(
        &self,
        fs: &mut RemoteFs<H>,
        body: Box<dyn std::io::Read + Send>,
        spec: &InstallSpec,
        creds: &Credentials,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(&InstallEvent),
    ) -> Result<PutEnd, InstallError> {
        let d = self.dest;
        let url_shown = self.url_shown.to_owned();
        if let Some(size) = self.total.filter(|t| *t > spec.max_bytes) {
            return Err(InstallError::TooLarge {
                url: url_shown,
                size,
                max: spec.max_bytes,
            });
        }
        on_event(&InstallEvent::Started {
            folder: self.folder.to_owned(),
            name: self.name.to_owned(),
            url: url_shown.clone(),
            total: self.total,
            resumed_from: self.start,
        });
        let opts = comfy_local_remote_fs::PutOptions {
            resume: true,
            overwrite: spec.force,
            create_parents: true,
            expected_sha256: spec.sha256,
            total: self.total,
            source_offset: Some(self.start),
            host_python: self.python.map(str::to_owned),
        };
        let mut body = Limited {
            inner: body,
            left: spec.max_bytes.saturating_sub(self.start),
        };
        let result = fs.put(d, &mut body, &opts, &mut |p| progress(p, cancel, on_event));
        match result {
            Ok(report) => Ok(PutEnd::Done(InstallOutcome {
                status: InstallStatus::Installed,
                folder: self.folder.to_owned(),
                name: self.name.to_owned(),
                path: report.path,
                size: report.size,
                sha256: hex::encode(report.sha256),
                resumed_from: report.resumed_from,
                verified: spec.sha256.is_some(),
                via: Some(DataPath::Stream),
                fallback: None,
            })),
            Err(FsError::Source { source: e, .. }) => {
                if e.kind() == std::io::ErrorKind::FileTooLarge {
                    let _ = fs.discard_partial(d);
                    return Err(InstallError::TooLarge {
                        url: url_shown,
                        size: spec.max_bytes + 1,
                        max: spec.max_bytes,
                    });
                }
                let written = fs.partial(d).map_err(InstallError::remote)?.unwrap_or(0);
                Ok(PutEnd::SourceBroke {
                    written,
                    message: creds.redact(&e.to_string()),
                })
            }
            Err(FsError::ChecksumMismatch {
                expected, actual, ..
            }) => Err(InstallError::ChecksumMismatch {
                url: url_shown,
                expected,
                actual,
            }),
            Err(FsError::Cancelled { written, part, .. }) => {
                Err(InstallError::Interrupted { written, part })
            }
            Err(FsError::AlreadyExists { path, .. }) => Err(InstallError::Exists {
                path,
                detail: " (it appeared during the download)".to_owned(),
            }),
            Err(e) => Err(InstallError::remote(e)),
        }
    }
}

/// Discards the `.part` so that the next request asks for the whole file.
fn restart<H: Host>(
    fs: &RemoteFs<H>,
    dest: Option<&(comfy_local_remote_fs::RemotePath, String)>,
    offset: u64,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> Result<(), InstallError> {
    if let Some((d, _)) = dest {
        fs.discard_partial(d).map_err(InstallError::remote)?;
    }
    on_event(&InstallEvent::Restarted { discarded: offset });
    Ok(())
}

/// A remote-fs write's progress as an install event; `Break` once `cancel` (Ctrl-C) is set.
fn progress(
    p: comfy_local_remote_fs::Progress,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&InstallEvent),
) -> ControlFlow<()> {
    on_event(&InstallEvent::Progress {
        position: p.position,
        total: p.total,
    });
    if cancel.load(Ordering::Relaxed) {
        ControlFlow::Break(())
    } else {
        ControlFlow::Continue(())
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * u64::from(attempt.min(10)))
}

/// The validated destination; a missing first root of the folder inside the install (say
/// `models/loras` on a fresh checkout) is created.
fn destination<H: Host>(
    fs: &mut RemoteFs<H>,
    folder: &FolderName,
    name: &str,
) -> Result<comfy_local_remote_fs::RemotePath, InstallError> {
    let bad = |source| InstallError::BadDestination {
        folder: folder.as_str().to_owned(),
        name: name.to_owned(),
        source: Box::new(source),
    };
    let d = fs.model_path(folder.as_str(), name).map_err(bad)?;
    let root: RootId = d.root().clone();
    if fs.root_dir(&root).is_err() {
        fs.create_root(&root).map_err(bad)?;
    }
    // Resolve the folder chain now (symlink escapes are refused before any byte moves).
    fs.partial(&d).map_err(bad)?;
    Ok(d)
}

/// An existing file: the same sha256 is a no-op; anything else is refused unless `force`.
fn preflight<H: Host>(
    fs: &RemoteFs<H>,
    dest: &comfy_local_remote_fs::RemotePath,
    spec: &InstallSpec,
    name: &str,
) -> Result<Option<InstallOutcome>, InstallError> {
    let meta = match fs.metadata(dest) {
        Ok(m) => m,
        Err(FsError::NotFound { .. }) => return Ok(None),
        Err(e) => {
            return Err(InstallError::BadDestination {
                folder: spec.folder.as_str().to_owned(),
                name: name.to_owned(),
                source: Box::new(e),
            });
        }
    };
    let path = fs
        .root_dir(dest.root())
        .map(|r| r.join(dest.relative().as_str()))
        .map_err(InstallError::remote)?;
    let Some(expected) = spec.sha256 else {
        if spec.force {
            return Ok(None);
        }
        return Err(InstallError::Exists {
            path,
            detail: " (give --sha256 to check whether it is the same file)".to_owned(),
        });
    };
    let actual = fs.sha256(dest).map_err(InstallError::remote)?;
    if actual == expected {
        return Ok(Some(InstallOutcome {
            status: InstallStatus::AlreadyPresent,
            folder: spec.folder.as_str().to_owned(),
            name: name.to_owned(),
            path,
            size: meta.size,
            sha256: hex::encode(actual),
            resumed_from: 0,
            verified: true,
            via: None,
            fallback: None,
        }));
    }
    if spec.force {
        return Ok(None);
    }
    Err(InstallError::Exists {
        path,
        detail: format!(
            " with sha256 {}, not {}",
            hex::encode(actual),
            hex::encode(expected)
        ),
    })
}

/// Fails with `FileTooLarge` once more than `left` bytes arrive.
struct Limited {
    inner: Box<dyn std::io::Read + Send>,
    left: u64,
}

impl std::io::Read for Limited {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "the download is larger than limits.max_upload_mb allows",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "local:
  - id: posix
    ssh: { host: 127.0.0.1, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /opt/ComfyUI, api_url: 'http://127.0.0.1:8188' }
  - id: win
    ssh: { host: 127.0.0.1, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: 'C:/ComfyUI', api_url: 'http://127.0.0.1:8188' }
";

    fn request(instance: Option<&str>, name: &str) -> InstallModelRequest {
        InstallModelRequest {
            url: "https://example.com/m.safetensors".to_owned(),
            folder: "checkpoints".to_owned(),
            name: Some(name.to_owned()),
            sha256: None,
            force: false,
            instance: instance.map(str::to_owned),
            retries: 0,
        }
    }

    #[test]
    fn file_names_are_checked_by_the_rules_of_the_instance_os() {
        let config = Config::from_str_named(CONFIG, "test.yml").unwrap();
        let check = |instance, name| check_model_request(&config, &request(instance, name));
        // Windows refuses device names; a POSIX host (the default instance, a local POSIX one,
        // a rented one the config does not list) takes them.
        for instance in [None, Some("posix"), Some("12345")] {
            assert!(check(instance, "nul.safetensors").is_ok(), "{instance:?}");
        }
        assert!(matches!(
            check(Some("win"), "nul.safetensors"),
            Err(InstallError::BadDestination { .. })
        ));
        for instance in [None, Some("posix"), Some("win"), Some("12345")] {
            for name in ["../m.safetensors", "/m.safetensors", "a//m.safetensors"] {
                assert!(
                    matches!(
                        check(instance, name),
                        Err(InstallError::BadDestination { .. })
                    ),
                    "{instance:?} {name}"
                );
            }
            assert!(check(instance, "sd/m.safetensors").is_ok(), "{instance:?}");
        }
    }
}
