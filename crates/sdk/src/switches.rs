//! The config's switches and limits, enforced before anything is sent: the master switch
//! `enabled`, `local[N].features.workflow_execution` and `local[N].limits.max_upload_mb` (runs
//! and uploads); and
//! the budget of `local[N].limits.max_output_mb` a run's saving draws on. Each refusal names
//! the key that caused it.

use camino::Utf8PathBuf;
use comfy_local_config::{Config, Limits, LocalInstance};

use crate::SdkError;
use crate::outputs::OutputBudget;

/// The key path of `instance` in `config` (`local[0]`).
pub(crate) fn instance_key(config: &Config, instance: &LocalInstance) -> String {
    let index = config
        .local
        .iter()
        .position(|i| i.id == instance.id)
        .unwrap_or_default();
    format!("local[{index}]")
}

/// Refuses every use of a local instance while the master switch `enabled` is false.
pub(crate) fn ensure_enabled(
    config: &Config,
    instance: &LocalInstance,
    action: &str,
) -> Result<(), SdkError> {
    if config.enabled {
        return Ok(());
    }
    Err(SdkError::TurnedOff {
        what: format!("{action} on local instance {:?}", instance.id.as_str()),
        key: "enabled".to_owned(),
    })
}

/// Refuses a run the instance's features or limits do not allow: the instance disabled,
/// `features.workflow_execution: false`, or an input file larger than `limits.max_upload_mb`
/// (checked from the file's size, before anything is uploaded).
pub(crate) fn ensure_run_allowed<'a>(
    config: &Config,
    instance: &LocalInstance,
    inputs: impl IntoIterator<Item = &'a Utf8PathBuf>,
) -> Result<(), SdkError> {
    ensure_enabled(config, instance, "running a workflow")?;
    let key = instance_key(config, instance);
    if !instance.features.workflow_execution {
        return Err(SdkError::TurnedOff {
            what: format!("running a workflow on {:?}", instance.id.as_str()),
            key: format!("{key}.features.workflow_execution"),
        });
    }
    ensure_upload_fits(config, instance, inputs)
}

/// Refuses a file larger than the instance's `limits.max_upload_mb` (checked from its size,
/// before anything is uploaded).
pub(crate) fn ensure_upload_fits<'a>(
    config: &Config,
    instance: &LocalInstance,
    files: impl IntoIterator<Item = &'a Utf8PathBuf>,
) -> Result<(), SdkError> {
    let key = instance_key(config, instance);
    let limit = instance.limits.max_upload_bytes();
    for file in files {
        let bytes = std::fs::metadata(file)
            .map_err(|source| SdkError::Io {
                op: "reading",
                path: file.clone(),
                source,
            })?
            .len();
        if bytes > limit {
            return Err(SdkError::InputTooLarge {
                file: file.clone(),
                bytes,
                key: format!("{key}.limits.max_upload_mb"),
                limit_mb: instance.limits.max_upload_mb.get(),
            });
        }
    }
    Ok(())
}

/// What a run on `instance` may save: its `limits.max_output_mb`; a VastAI instance (which
/// has no limits in the config) gets the default.
pub(crate) fn output_budget(config: &Config, instance: Option<&str>) -> OutputBudget {
    match crate::connection::instance_or_default(config, instance) {
        Ok(local) => OutputBudget::new(
            format!("{}.limits.max_output_mb", instance_key(config, local)),
            local.limits.max_output_mb.get(),
        ),
        Err(_) => OutputBudget::new(
            "limits.max_output_mb".to_owned(),
            Limits::default().max_output_mb.get(),
        ),
    }
}
