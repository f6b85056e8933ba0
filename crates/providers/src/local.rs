//! The local provider: the hosts listed in the config, free of charge, never started or stopped.

use crate::error::{Action, ProviderError};
use crate::instance::{Instance, InstanceStatus, ProviderKind, SshEndpoint};
use crate::provider::InstanceProvider;

/// One configured local host, already validated by the config crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalInstanceSpec {
    /// What `--instance` takes.
    pub id: String,
    /// Human name.
    pub display_name: String,
    /// The host's dedicated sshd.
    pub ssh: SshEndpoint,
    /// The host's `ComfyUI` API, e.g. `http://host.docker.internal:8188` (from a config: with
    /// any password redacted).
    pub comfyui_url: String,
}

/// Lists configured local hosts in config order.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    specs: Vec<LocalInstanceSpec>,
}

impl LocalProvider {
    /// A provider over these hosts; ids must be unique.
    pub fn new(specs: Vec<LocalInstanceSpec>) -> Result<Self, ProviderError> {
        for (index, spec) in specs.iter().enumerate() {
            if specs[..index].iter().any(|earlier| earlier.id == spec.id) {
                return Err(ProviderError::DuplicateId {
                    id: spec.id.clone(),
                });
            }
        }
        Ok(Self { specs })
    }

    /// The hosts of the config's `local` list, in order.
    ///
    /// This does not look at the master switch `enabled`: the caller decides whether local
    /// support is on (an empty list is fine either way).
    pub fn from_config(config: &comfy_local_config::Config) -> Result<Self, ProviderError> {
        Self::new(
            config
                .local
                .iter()
                .map(|local| LocalInstanceSpec {
                    id: local.id.as_str().to_owned(),
                    display_name: local.name.clone(),
                    ssh: SshEndpoint {
                        host: local.ssh.host.as_str().to_owned(),
                        port: local.ssh.port.get(),
                        user: local.ssh.user.as_str().to_owned(),
                    },
                    // For showing: a password in the URL never leaves the config.
                    comfyui_url: local.comfyui.api_url.redacted(),
                })
                .collect(),
        )
    }

    fn instance(spec: &LocalInstanceSpec) -> Instance {
        Instance {
            id: spec.id.clone(),
            display_name: spec.display_name.clone(),
            provider: ProviderKind::Local,
            status: InstanceStatus::Configured,
            gpu: None,
            cost_per_hour: 0.0,
            ssh: Some(spec.ssh.clone()),
            comfyui_url: Some(spec.comfyui_url.clone()),
        }
    }

    fn find(&self, id: &str) -> Result<&LocalInstanceSpec, ProviderError> {
        self.specs
            .iter()
            .find(|spec| spec.id == id)
            .ok_or_else(|| ProviderError::NotFound {
                provider: ProviderKind::Local,
                id: id.to_owned(),
            })
    }

    fn refuse(&self, id: &str, action: Action) -> Result<(), ProviderError> {
        // An unknown id is a NotFound, not a NotSupported: the user mistyped it.
        self.find(id)?;
        Err(ProviderError::NotSupported {
            id: id.to_owned(),
            action,
        })
    }
}

impl InstanceProvider for LocalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    fn list(&self) -> Result<Vec<Instance>, ProviderError> {
        Ok(self.specs.iter().map(Self::instance).collect())
    }

    fn get(&self, id: &str) -> Result<Instance, ProviderError> {
        self.find(id).map(Self::instance)
    }

    fn start(&self, id: &str) -> Result<(), ProviderError> {
        self.refuse(id, Action::Start)
    }

    fn stop(&self, id: &str) -> Result<(), ProviderError> {
        self.refuse(id, Action::Stop)
    }
}
