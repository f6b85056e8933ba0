//! The facade the Media Sync Tool links: operations a user names (test a connection, list
//! instances, run a workflow, list, watch and cancel the prompts of an instance, download a
//! prompt's outputs, upload input files, install and list models and custom nodes, show an
//! instance's status and free its memory), composed from the lower crates. Binaries (`comfy-local`,
//! `comfy-backend`) are thin layers over this crate.

// "ComfyUI", "VastAI" and "OpenSSH" are product names in prose, not code.
#![expect(clippy::doc_markdown, reason = "product names in prose")]

pub mod batch;
pub mod connection;
mod error;
pub mod install;
pub mod instances;
pub mod jobs;
pub mod models;
mod outputs;
pub mod overrides;
pub mod report;
pub mod run;
pub mod save;
pub mod status;
mod switches;
pub mod terminal;
pub mod test_connection;
pub mod transfer;
pub mod workflow;

pub use connection::{
    ResolveError, ResolvedInstance, connect_options, instance_or_default, resolve, resolve_env,
    resolve_listed,
};
pub use error::{SdkError, error_chain};
pub use install::{
    DataPath, InstallError, InstallErrorKind, InstallEvent, InstallModelRequest,
    InstallNodeRequest, InstallOutcome, InstallStatus, InstalledNode, NodeError, NodeEvent,
    NodeList, NodeOutcome, install_model, install_model_via, install_node, list_nodes,
};
pub use instances::{
    InstanceList, ListedInstance, ProviderFailure, Unusable, list_instances, list_instances_with,
};
pub use jobs::{
    CancelAction, CancelOutcome, Job, JobDetail, JobFile, JobList, JobNode, JobState, WatchSummary,
    cancel_job, list_jobs, show_job, watch_job,
};
pub use models::{InstalledModel, ModelList, list_models};
pub use outputs::UnsavedOutput;
pub use overrides::{Override, SeedSpec, SetSpec};
pub use report::{ConnectionReport, FailureKind, Stage, StageResult, StageStatus};
pub use run::{InputSpec, Interrupter, RunRequest, RunStep, RunSummary, SavedOutput, run_workflow};
pub use status::{DeviceStatus, FreeOutcome, InstanceStatus, free_memory, instance_status};
pub use test_connection::{TestConnectionOptions, test_connection, test_connection_with_config};
pub use transfer::{
    DownloadRequest, DownloadSummary, UploadRequest, UploadSummary, UploadedInput,
    download_outputs, upload_inputs,
};

pub use comfy_local_comfyui as comfyui;
pub use comfy_local_config as config;
pub use comfy_local_providers as providers;
pub use comfy_local_ssh as ssh;
