//! Workflow operations a user names: convert a UI workflow to API format (offline with a saved
//! object_info, or with an instance's), and check what an instance lacks to run a workflow.

use std::collections::BTreeMap;
use std::time::Duration;

use camino::Utf8Path;
use comfy_local_comfyui::{ClientOptions, ComfyClient, Connection, Dialer};
use comfy_local_config::Config;
use comfy_local_ssh::{SshError, Tunnel};

/// The workflow model these operations take and return (from `comfy-local-workflow`).
pub use comfy_local_workflow::{ApiPrompt, DependencyReport, Inventory, ObjectInfo, Workflow};
use comfy_local_workflow::{Titles, check_dependencies, load};

use crate::SdkError;
use crate::connection::{ResolvedInstance, Unreachable, connect_any, resolve_env};

/// A ComfyUI client for an instance.
#[derive(Debug)]
pub struct ComfyTarget {
    /// Instance id.
    pub instance: String,
    /// The client (it keeps its SSH tunnel, if any, open).
    pub client: ComfyClient,
    /// ComfyUI's port was not reachable directly: the client goes through an SSH tunnel.
    pub via_ssh: bool,
}

/// A ComfyUI client for an instance: a local instance by config id (the first one by default),
/// or a running VastAI instance by its numeric id when `vastai.enabled` (see
/// [`crate::connection::resolve`]). When `comfyui.api_url` does not accept connections from here
/// (or, on a VastAI instance, ComfyUI's port is not published), ComfyUI is reached on the
/// instance's loopback through SSH `direct-tcpip` channels (as `ssh -L` would, but without a
/// local port); when the sshd refuses that too (or the SSH connection fails, a changed host
/// key included), the error says both ([`SdkError::ComfyUnreachable`]).
pub fn client_for(config: &Config, instance: Option<&str>) -> Result<ComfyTarget, SdkError> {
    client_for_resolved(&resolve_env(config, instance)?)
}

/// [`client_for`] on an already resolved instance.
pub fn client_for_resolved(resolved: &ResolvedInstance) -> Result<ComfyTarget, SdkError> {
    crate::switches::ensure_enabled(resolved, "talking to ComfyUI")?;
    let api = &resolved.instance.comfyui.api_url;
    let timeout = resolved.instance.ssh.connect_timeout();
    let direct = if resolved.try_direct {
        https_or_reachable(api.host(), api.port(), api.is_https(), timeout)
    } else {
        Err(format!(
            "the instance does not publish ComfyUI's port {}",
            resolved.forward_port
        ))
    };
    let dialer = match direct {
        Ok(()) => None,
        Err(direct) => match ssh_dialer(resolved) {
            Ok(dialer) => Some(dialer),
            Err(tunnel) => {
                let hint = crate::test_connection::forward_hint(&tunnel, resolved);
                return Err(SdkError::ComfyUnreachable {
                    url: api.redacted(),
                    direct,
                    port: resolved.forward_port,
                    tunnel: Box::new(tunnel),
                    hint,
                });
            }
        },
    };
    // Our prompts carry this client id: `jobs` tells them from other clients'.
    let client_id = format!(
        "{}{}",
        crate::jobs::CLIENT_ID_PREFIX,
        uuid::Uuid::new_v4().simple()
    );
    let mut options = ClientOptions::default()
        .client_id(client_id)
        .connect_timeout(timeout)
        .request_timeout(Duration::from_secs(60));
    let via_ssh = dialer.is_some();
    if let Some(dialer) = dialer {
        options = options.dialer(dialer);
    }
    Ok(ComfyTarget {
        instance: resolved.id().to_owned(),
        client: ComfyClient::with_options(api.as_str(), options)?,
        via_ssh,
    })
}

/// Connections to ComfyUI on the instance's 127.0.0.1 (at its forward port), each a channel
/// of one SSH tunnel; fails now when the sshd refuses to forward. The dialer keeps the tunnel
/// open while any client holds it.
pub(crate) fn ssh_dialer(instance: &ResolvedInstance) -> Result<Dialer, SshError> {
    ssh_dialer_with(&instance.connect_options(), instance.forward_port)
}

/// [`ssh_dialer`] with explicit SSH options, to the host's 127.0.0.1:`port`.
pub(crate) fn ssh_dialer_with(
    options: &comfy_local_ssh::ConnectOptions,
    port: u16,
) -> Result<Dialer, SshError> {
    let tunnel = Tunnel::open(options, "127.0.0.1", port)?;
    Ok(Dialer::new(move || {
        let stream = tunnel.connect()?;
        Ok(Box::new(std::os::unix::net::UnixStream::from(stream)) as Box<dyn Connection>)
    }))
}

/// Whether ComfyUI's port accepts a TCP connection from here (https is never forwarded: the
/// forward would break its certificate's host name); if not, why.
pub(crate) fn https_or_reachable(
    host: &str,
    port: u16,
    https: bool,
    timeout: Duration,
) -> Result<(), String> {
    if https {
        return Ok(());
    }
    match connect_any(host, port, timeout.min(Duration::from_secs(3))) {
        Ok(_) => Ok(()),
        Err(Unreachable::Resolve(e)) => Err(format!("cannot resolve {host:?}: {e}")),
        Err(Unreachable::NoAddress) => Err(format!("{host:?} has no address")),
        Err(Unreachable::Connect(addr, e)) => Err(format!("connecting to {addr}: {e}")),
    }
}

/// Reads a saved `GET /object_info` answer.
pub fn object_info_from_file(path: &Utf8Path) -> Result<ObjectInfo, SdkError> {
    let bytes = std::fs::read(path).map_err(|source| SdkError::Io {
        op: "reading",
        path: path.to_owned(),
        source,
    })?;
    ObjectInfo::parse(&bytes).map_err(|source| SdkError::ObjectInfo {
        path: path.to_string(),
        source,
    })
}

/// Fetches an instance's object_info.
pub fn object_info_from(client: &ComfyClient) -> Result<ObjectInfo, SdkError> {
    Ok(client.object_info()?)
}

/// Loads a workflow file (UI or API format); the path `-` reads it from standard input.
pub fn load_workflow(path: &Utf8Path) -> Result<Workflow, SdkError> {
    let bytes = if path.as_str() == "-" {
        read_stdin()
    } else {
        std::fs::read(path)
    }
    .map_err(|source| SdkError::Io {
        op: "reading",
        path: path.to_owned(),
        source,
    })?;
    load(&bytes).map_err(|source| SdkError::Workflow {
        path: path.to_string(),
        source,
    })
}

/// The most a workflow read from standard input may hold (a workflow file is a few MiB at most).
const MAX_STDIN_WORKFLOW: u64 = 256 * 1024 * 1024;

/// Standard input, for the command-line convention that the path `-` means it.
fn read_stdin() -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_STDIN_WORKFLOW + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_STDIN_WORKFLOW {
        return Err(std::io::Error::other(format!(
            "standard input holds more than {} MiB: not a workflow",
            MAX_STDIN_WORKFLOW / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// The API form of a workflow (UI workflows are converted with `object_info`).
pub fn to_api(
    path: &Utf8Path,
    wf: &Workflow,
    object_info: &ObjectInfo,
) -> Result<ApiPrompt, SdkError> {
    wf.to_api(object_info, &Titles::embedded())
        .map_err(|source| SdkError::Convert {
            path: path.to_string(),
            source,
        })
}

/// What the instance has: node classes, model files per folder (as ComfyUI's `/models` lists
/// them), and the files in `input/` (as LoadImage's list in object_info shows them).
pub fn inventory(client: &ComfyClient, object_info: ObjectInfo) -> Result<Inventory, SdkError> {
    let mut models = BTreeMap::new();
    for folder in client.model_folders()? {
        if let Some(files) = client.models(&folder)? {
            models.insert(folder, files);
        }
    }
    let input_files = input_files(&object_info);
    Ok(Inventory {
        object_info,
        models,
        input_files,
    })
}

/// Files ComfyUI offers from `input/`: the options of the upload-capable loaders' combos.
fn input_files(object_info: &ObjectInfo) -> Vec<String> {
    let mut files = Vec::new();
    for class in ["LoadImage", "LoadImageMask", "LoadAudio", "LoadVideo"] {
        let Some(node) = object_info.class(class) else {
            continue;
        };
        // Only the file combo (LoadImageMask's `channel` combo is not a file list).
        for input in node
            .inputs()
            .filter(|i| matches!(i.name.as_str(), "image" | "audio" | "video" | "file"))
        {
            if let Some(options) = input.combo_options() {
                files.extend(options.iter().filter_map(|v| v.as_str().map(str::to_owned)));
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

/// Checks a workflow against an instance's inventory.
pub fn check(wf: &Workflow, inventory: &Inventory) -> DependencyReport {
    check_dependencies(wf, inventory)
}
