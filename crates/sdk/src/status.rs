//! `status` and `free`: what an instance's ComfyUI reports about itself (versions, devices and
//! their memory, RAM, queue depth), and asking it to free memory.

use std::time::Duration;

use comfy_local_comfyui::{ComfyClient, Device, SystemStats};
use comfy_local_config::Config;
use serde::Serialize;

use crate::SdkError;
use crate::workflow::client_for;

/// One compute device, as `/system_stats` lists it (bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceStatus {
    /// As PyTorch names it (`cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync`, `cpu`).
    pub name: String,
    /// `cuda`, `cpu`, `mps`, ... when ComfyUI says.
    pub kind: Option<String>,
    /// Device index, when ComfyUI says.
    pub index: Option<i64>,
    pub vram_total: u64,
    pub vram_free: u64,
    /// What PyTorch's allocator holds, when ComfyUI says.
    pub torch_vram_total: Option<u64>,
    /// What of that is free, when ComfyUI says.
    pub torch_vram_free: Option<u64>,
}

impl From<&Device> for DeviceStatus {
    fn from(d: &Device) -> Self {
        Self {
            name: d.name.clone(),
            kind: d.kind.clone(),
            index: d.index,
            vram_total: d.vram_total,
            vram_free: d.vram_free,
            torch_vram_total: d.torch_vram_total,
            torch_vram_free: d.torch_vram_free,
        }
    }
}

/// An instance's state as its ComfyUI reports it (`GET /system_stats` and `GET /queue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    /// Instance id.
    pub instance: String,
    /// ComfyUI was reached through an SSH forward (its `api_url` was not reachable directly).
    pub via_ssh: bool,
    pub comfyui_version: Option<String>,
    pub python_version: Option<String>,
    pub pytorch_version: Option<String>,
    /// `posix`, `nt`, ... (Python's `os.name`).
    pub os: Option<String>,
    /// The host's RAM in bytes.
    pub ram_total: Option<u64>,
    pub ram_free: Option<u64>,
    pub devices: Vec<DeviceStatus>,
    /// Prompts running now (0 or 1).
    pub queue_running: usize,
    /// Prompts waiting in the queue (every client's).
    pub queue_pending: usize,
}

/// The status of an instance: a local one by config id (the first one by default), or a
/// running VastAI one by its numeric id (see [`client_for`]).
pub fn instance_status(
    config: &Config,
    instance: Option<&str>,
) -> Result<InstanceStatus, SdkError> {
    let target = client_for(config, instance)?;
    let stats = target.client.system_stats()?;
    let queue = target.client.queue()?;
    let system = stats.system;
    Ok(InstanceStatus {
        instance: target.instance,
        via_ssh: target.via_ssh,
        comfyui_version: system.comfyui_version,
        python_version: system.python_version,
        pytorch_version: system.pytorch_version,
        os: system.os,
        ram_total: system.ram_total,
        ram_free: system.ram_free,
        devices: stats.devices.iter().map(DeviceStatus::from).collect(),
        queue_running: queue.running.len(),
        queue_pending: queue.pending.len(),
    })
}

/// What `free` asked for and the memory readings around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FreeOutcome {
    /// Instance id.
    pub instance: String,
    /// Models were asked to be unloaded too (not only the cached node outputs).
    pub unload_models: bool,
    /// Devices before the request.
    pub before: Vec<DeviceStatus>,
    /// Devices `settle` after ComfyUI answered.
    pub after: Vec<DeviceStatus>,
}

/// Asks an instance's ComfyUI to free memory (`POST /free` with `free_memory: true`, and
/// `unload_models` as given), reading its devices before and `settle` after. ComfyUI answers
/// at once and frees in its prompt worker, which wakes up for it when idle (a running prompt
/// delays it until that prompt ends): `settle` gives it that time.
pub fn free_memory(
    config: &Config,
    instance: Option<&str>,
    unload_models: bool,
    settle: Duration,
) -> Result<FreeOutcome, SdkError> {
    let target = client_for(config, instance)?;
    let before = devices(&target.client)?;
    target.client.free(unload_models, true)?;
    std::thread::sleep(settle);
    let after = devices(&target.client)?;
    Ok(FreeOutcome {
        instance: target.instance,
        unload_models,
        before,
        after,
    })
}

fn devices(client: &ComfyClient) -> Result<Vec<DeviceStatus>, SdkError> {
    let stats: SystemStats = client.system_stats()?;
    Ok(stats.devices.iter().map(DeviceStatus::from).collect())
}
