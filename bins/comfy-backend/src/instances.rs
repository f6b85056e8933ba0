//! The instance list the API serves: refreshed by a background task (the sdk's listing, then
//! each online local instance's `/system_stats` and `/queue`), kept as a ready JSON document so
//! `GET /api/instances` never waits for a probe.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use comfy_local_config::Config;
use comfy_local_providers::ProviderKind;
use comfy_local_sdk::{InstanceStatus, ListedInstance, instance_status, list_instances};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::store::now_ms;

/// One instance as the toolbar shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceView {
    /// The config id (local) or the numeric id (VastAI).
    pub id: String,
    /// A human name.
    pub name: String,
    /// `local` or `vastai`.
    pub provider: String,
    /// `online`, `offline`, `disabled`, `configured` (not probed yet) for local instances; the
    /// provider's word (`running`, `stopped`, ...) for VastAI ones.
    pub status: String,
    /// Whether the instance is up (local: its ComfyUI answered the last probe).
    pub online: bool,
    /// US dollars per hour; 0 for local instances.
    pub cost_per_hour: f64,
    /// GPU name (local: the first device ComfyUI reports; VastAI: the rented model).
    pub gpu: Option<String>,
    /// Memory of the first device in MiB (VastAI: per GPU, from the provider).
    pub vram_total_mb: Option<u64>,
    /// Free memory of the first device in MiB (local instances that answered).
    pub vram_free_mb: Option<u64>,
    /// Prompts running on its ComfyUI (local instances that answered).
    pub queue_running: Option<usize>,
    /// Prompts waiting in its ComfyUI's queue (local instances that answered).
    pub queue_pending: Option<usize>,
    /// Whether operations accept the instance's id (the sdk's `resolve`): false for a VastAI
    /// instance that is not running, has no SSH endpoint, has a local instance's id, or while
    /// the config lacks `vastai.ssh.key_file` / `known_hosts_dir`. Not whether it answers now
    /// (`online`).
    pub usable: bool,
    /// Why not, when `usable` is false (`null` otherwise).
    pub unusable: Option<UnusableView>,
}

/// Why operations refuse an instance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnusableView {
    /// The error they fail with.
    pub reason: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl From<&comfy_local_sdk::Unusable> for UnusableView {
    fn from(u: &comfy_local_sdk::Unusable) -> Self {
        UnusableView {
            reason: u.reason.clone(),
            hint: u.hint.clone(),
        }
    }
}

/// A provider that could not be asked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderErrorView {
    /// `local` or `vastai`.
    pub provider: String,
    /// Why.
    pub message: String,
}

/// The document of `GET /api/instances`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceList {
    /// Local instances first (config order), then VastAI's.
    pub instances: Vec<InstanceView>,
    /// Providers that failed in the last refresh.
    pub errors: Vec<ProviderErrorView>,
    /// Unix time in milliseconds of the last refresh; `null` before the first one ended.
    pub refreshed_at: Option<i64>,
}

/// The latest instance list, as JSON ready to send.
#[derive(Debug)]
pub struct Instances {
    current: RwLock<(Arc<InstanceList>, Bytes)>,
}

impl Instances {
    /// The configured local instances, not probed yet.
    pub fn new(config: &Config) -> Arc<Instances> {
        let list = InstanceList {
            instances: config
                .local
                .iter()
                .map(|l| {
                    let unusable = comfy_local_sdk::resolve(config, Some(l.id.as_str()), &|_| None)
                        .err()
                        .map(|e| UnusableView {
                            reason: comfy_local_sdk::error_chain(&e),
                            hint: e.hint(),
                        });
                    InstanceView {
                        id: l.id.to_string(),
                        name: l.name.clone(),
                        provider: "local".to_owned(),
                        status: if config.enabled {
                            "configured"
                        } else {
                            "disabled"
                        }
                        .to_owned(),
                        online: false,
                        cost_per_hour: 0.0,
                        gpu: None,
                        vram_total_mb: None,
                        vram_free_mb: None,
                        queue_running: None,
                        queue_pending: None,
                        usable: unusable.is_none(),
                        unusable,
                    }
                })
                .collect(),
            errors: Vec::new(),
            refreshed_at: None,
        };
        let instances = Arc::new(Instances {
            current: RwLock::new((Arc::new(list.clone()), Bytes::new())),
        });
        instances.set(list);
        instances
    }

    fn set(&self, list: InstanceList) {
        let json = Bytes::from(serde_json::to_vec(&list).unwrap_or_default());
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (Arc::new(list), json);
    }

    /// The latest list.
    pub fn list(&self) -> Arc<InstanceList> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0,
        )
    }

    /// The latest list as JSON.
    pub fn json(&self) -> Bytes {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone()
    }

    /// Whether `id` names a listed instance.
    pub fn knows(&self, id: &str) -> bool {
        self.list().instances.iter().any(|i| i.id == id)
    }

    /// Refreshes the list every `every` until `shutdown` turns true. Each refresh runs on a
    /// blocking thread; the list served meanwhile is the previous one.
    pub async fn refresh_loop(
        self: Arc<Self>,
        config: Arc<Config>,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let config = Arc::clone(&config);
            match tokio::task::spawn_blocking(move || build(&config)).await {
                Ok(list) => self.set(list),
                Err(e) => tracing::error!(error = %e, "instance refresh failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// One refresh: the sdk's listing (local instances probed), then the status of each local
/// instance that answered, all in parallel.
fn build(config: &Config) -> InstanceList {
    let listed = list_instances(config);
    let statuses: Vec<Option<InstanceStatus>> = std::thread::scope(|scope| {
        let handles: Vec<_> = listed
            .instances
            .iter()
            .map(|i| {
                let wanted = i.provider == ProviderKind::Local && i.status.is_running();
                let id = i.id.clone();
                scope.spawn(move || {
                    wanted
                        .then(|| instance_status(config, Some(&id)))
                        .and_then(|r| {
                            r.inspect_err(|e| {
                                tracing::debug!(instance = id, error = %comfy_local_sdk::error_chain(e), "status failed");
                            })
                            .ok()
                        })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    InstanceList {
        instances: listed
            .instances
            .iter()
            .zip(statuses)
            .map(|(i, s)| view(i, s.as_ref()))
            .collect(),
        errors: listed
            .errors
            .iter()
            .map(|e| ProviderErrorView {
                provider: e.provider.as_str().to_owned(),
                message: e.message.clone(),
            })
            .collect(),
        refreshed_at: Some(now_ms()),
    }
}

const MIB: u64 = 1024 * 1024;

fn view(instance: &ListedInstance, status: Option<&InstanceStatus>) -> InstanceView {
    let device = status.and_then(|s| s.devices.first());
    let provider_gpu = instance.gpu.as_ref();
    InstanceView {
        id: instance.id.clone(),
        name: instance.display_name.clone(),
        provider: instance.provider.as_str().to_owned(),
        status: instance.status.as_str().to_owned(),
        online: instance.status.is_running(),
        cost_per_hour: if instance.provider == ProviderKind::Local {
            0.0
        } else {
            instance.cost_per_hour
        },
        gpu: device.map(|d| device_name(&d.name)).or_else(|| {
            provider_gpu.map(|g| {
                if g.count > 1 {
                    format!("{}x {}", g.count, g.name)
                } else {
                    g.name.clone()
                }
            })
        }),
        vram_total_mb: device
            .map(|d| d.vram_total / MIB)
            .or_else(|| provider_gpu.and_then(|g| g.vram_mb)),
        vram_free_mb: device.map(|d| d.vram_free / MIB),
        queue_running: status.map(|s| s.queue_running),
        queue_pending: status.map(|s| s.queue_pending),
        usable: instance.usable,
        unusable: instance.unusable.as_ref().map(UnusableView::from),
    }
}

/// `cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync` -> `NVIDIA GeForce RTX 4090`.
fn device_name(name: &str) -> String {
    let name = match name.split_once(' ') {
        Some((first, rest)) if first.contains(':') => rest,
        _ => name,
    };
    let name = name.split_once(" : ").map_or(name, |(head, _)| head);
    name.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::device_name;

    #[test]
    fn device_names_lose_the_index_and_allocator() {
        assert_eq!(
            device_name("cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync"),
            "NVIDIA GeForce RTX 4090"
        );
        assert_eq!(device_name("cpu"), "cpu");
        assert_eq!(device_name("mps"), "mps");
    }
}
