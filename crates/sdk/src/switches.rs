//! The config's switches and limits, enforced before anything is sent: the master switch
//! `enabled` (local instances), `<instance>.features.workflow_execution` and
//! `<instance>.limits.max_upload_mb` (runs and uploads); and the budget of
//! `<instance>.limits.max_output_mb` a run's saving draws on. `<instance>` is `local[N]` or
//! `vastai`; each refusal names the key that caused it.

use camino::Utf8PathBuf;
use comfy_local_config::{Config, LocalInstance};

use crate::SdkError;
use crate::connection::ResolvedInstance;
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

/// Refuses every use of an instance the config turns off (a local instance while the master
/// switch `enabled` is false).
pub(crate) fn ensure_enabled(instance: &ResolvedInstance, action: &str) -> Result<(), SdkError> {
    match &instance.turned_off_by {
        None => Ok(()),
        Some(key) => Err(SdkError::TurnedOff {
            what: format!(
                "{action} on {} instance {:?}",
                instance.provider,
                instance.id()
            ),
            key: key.clone(),
        }),
    }
}

/// Refuses a run the instance's features or limits do not allow: the instance disabled,
/// `features.workflow_execution: false`, or an input file larger than `limits.max_upload_mb`
/// (checked from the file's size, before anything is uploaded).
pub(crate) fn ensure_run_allowed<'a>(
    instance: &ResolvedInstance,
    inputs: impl IntoIterator<Item = &'a Utf8PathBuf>,
) -> Result<(), SdkError> {
    ensure_enabled(instance, "running a workflow")?;
    if !instance.instance.features.workflow_execution {
        return Err(SdkError::TurnedOff {
            what: format!("running a workflow on {:?}", instance.id()),
            key: format!("{}.features.workflow_execution", instance.key),
        });
    }
    ensure_upload_fits(instance, inputs)
}

/// Refuses a file larger than the instance's `limits.max_upload_mb` (checked from its size,
/// before anything is uploaded).
pub(crate) fn ensure_upload_fits<'a>(
    instance: &ResolvedInstance,
    files: impl IntoIterator<Item = &'a Utf8PathBuf>,
) -> Result<(), SdkError> {
    let limits = &instance.instance.limits;
    let limit = limits.max_upload_bytes();
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
                key: format!("{}.limits.max_upload_mb", instance.key),
                limit_mb: limits.max_upload_mb.get(),
            });
        }
    }
    Ok(())
}

/// What a run on `instance` may save: its `limits.max_output_mb`.
pub(crate) fn output_budget(instance: &ResolvedInstance) -> OutputBudget {
    OutputBudget::new(
        format!("{}.limits.max_output_mb", instance.key),
        instance.instance.limits.max_output_mb.get(),
    )
}
