//! `comfy_local._native.Client`: a loaded config and the facade operations on it. Each method
//! releases the interpreter while it blocks; those that report progress run on a worker thread
//! and call their callback on the calling thread (see `pump`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use camino::Utf8PathBuf;
use comfy_local_sdk::config::Config;
use comfy_local_sdk::connection::resolve_env;
use comfy_local_sdk::install::missing::{check_missing_resolved, execute_resolved};
use comfy_local_sdk::workflow::{
    ObjectInfo, check, client_for, inventory, load_workflow, object_info_from,
    object_info_from_file, to_api,
};
use comfy_local_sdk::{
    ConnectionReport, InputSpec, InstallModelRequest, InstallNodeRequest, Interrupter, RunRequest,
    SdkError, SeedSpec, SetSpec, TestConnectionOptions, error_chain, install_model, install_node,
    list_instances, run_workflow, test_connection_with_config,
};
use pyo3::prelude::*;
use serde_json::{Value, json};

use crate::errors::{Kind, config_error, install_error, new_error, node_error, sdk_error};
use crate::events::{missing_event, pacer};
use crate::json::to_py;
use crate::pump::{Stopped, pump};

/// The name errors give a workflow or object_info passed as JSON text rather than a file.
const IN_MEMORY: &str = "<in-memory JSON>";

/// A loaded config (found as the CLI finds it) and the operations on its instances.
#[pyclass(module = "comfy_local._native", frozen)]
#[derive(Debug)]
pub(crate) struct Client {
    config: Arc<Config>,
    path: String,
    warnings: Vec<String>,
}

/// A path argument as UTF-8 (the facade's paths are UTF-8).
fn utf8(py: Python<'_>, path: PathBuf) -> PyResult<Utf8PathBuf> {
    Utf8PathBuf::from_path_buf(path).map_err(|p| {
        new_error(
            py,
            Kind::InvalidArgument,
            format!("{} is not a UTF-8 path", p.display()),
            None,
        )
    })
}

/// Blocking facade work with the interpreter released; its error as an exception.
fn blocking<T: Send>(
    py: Python<'_>,
    work: impl FnOnce() -> Result<T, SdkError> + Send,
) -> PyResult<T> {
    py.detach(work).map_err(|e| sdk_error(py, &e))
}

/// The outcome of pumped work: its error when it failed, or the exception that stopped it.
/// A KeyboardInterrupt that stopped the work surfaces as the work's `Interrupted` (with the
/// KeyboardInterrupt as its cause) when the work says so, else as itself.
fn settle<T>(
    py: Python<'_>,
    result: Result<T, (PyErr, bool)>,
    stopped: Option<Stopped>,
) -> PyResult<T> {
    match (result, stopped) {
        (result, None) => result.map_err(|(e, _)| e),
        (Err((e, true)), Some(Stopped::Signal(signal))) => {
            e.set_cause(py, Some(signal));
            Err(e)
        }
        (_, Some(stopped)) => Err(stopped.into_err()),
    }
}

/// The report, as the CLI prints it (table and JSON) and the kind of its first failure, for
/// the Python layer.
fn report_value(report: &ConnectionReport) -> Value {
    json!({
        "report": report,
        "table": report.to_table(),
        "json": serde_json::to_string(report).unwrap_or_default(),
        "failure": report.first_failure().map(|f| f.stage.failure_kind()),
    })
}

/// `test_connection(config_path=None, instance=None)`: the CLI's `test-connection`, config
/// stage included: loads the config (as the CLI finds it) and tests the instance.
#[pyfunction]
#[pyo3(signature = (config_path=None, instance=None))]
pub(crate) fn test_connection(
    py: Python<'_>,
    config_path: Option<PathBuf>,
    instance: Option<String>,
) -> PyResult<Bound<'_, PyAny>> {
    let explicit = config_path.map(|p| utf8(py, p)).transpose()?;
    let report = py.detach(|| {
        comfy_local_sdk::test_connection(explicit.as_deref(), &TestConnectionOptions { instance })
    });
    to_py(py, &report_value(&report))
}

#[pymethods]
impl Client {
    /// Loads the config: `config_path`, else `$COMFY_LOCAL_CONFIG`, else
    /// `./local-support-config.yml`, else `/app/local-support-config.yml`.
    #[new]
    #[pyo3(signature = (config_path=None))]
    fn new(py: Python<'_>, config_path: Option<PathBuf>) -> PyResult<Self> {
        let explicit = config_path.map(|p| utf8(py, p)).transpose()?;
        let loaded = py
            .detach(|| Config::load(explicit.as_deref()))
            .map_err(|e| config_error(py, &e))?;
        Ok(Client {
            config: Arc::new(loaded.config),
            path: loaded.path.to_string(),
            warnings: loaded.warnings.iter().map(|w| error_chain(w)).collect(),
        })
    }

    /// The config file loaded.
    #[getter]
    fn config_path(&self) -> &str {
        &self.path
    }

    /// Problems that did not stop loading, one line each.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// Every instance (local ones probed, VastAI's when enabled), and providers that failed.
    fn instances<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = py.detach(|| list_instances(&self.config));
        to_py(py, &list)
    }

    /// The staged connection test of an instance (the default one when `None`).
    #[pyo3(signature = (instance=None))]
    fn test_connection<'py>(
        &self,
        py: Python<'py>,
        instance: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let report = py.detach(|| {
            test_connection_with_config(
                &self.config,
                Some(&self.path),
                &TestConnectionOptions { instance },
            )
        });
        to_py(py, &report_value(&report))
    }

    /// Runs a workflow file; `on_event` gets each step as a dict on this thread. A
    /// KeyboardInterrupt stops the prompt on the server and raises `Interrupted`.
    /// `sets` are `NODE_ID.input=VALUE` texts and `seed` is `random` or a whole number, as the
    /// CLI's `run --set` and `--seed` take them.
    #[pyo3(signature = (workflow, inputs, out_dir, instance, timeout, previews, wait, sets, seed, on_event))]
    #[expect(clippy::too_many_arguments, reason = "the Python keyword arguments")]
    fn run<'py>(
        &self,
        py: Python<'py>,
        workflow: PathBuf,
        inputs: Vec<(String, PathBuf)>,
        out_dir: PathBuf,
        instance: Option<String>,
        timeout: Option<f64>,
        previews: bool,
        wait: bool,
        sets: Vec<String>,
        seed: Option<String>,
        on_event: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sets = sets
            .into_iter()
            .map(|spec| SetSpec::parse(&spec).map_err(|e| sdk_error(py, &e)))
            .collect::<PyResult<Vec<_>>>()?;
        let seed = seed
            .map(|text| SeedSpec::parse(&text).map_err(|e| sdk_error(py, &e)))
            .transpose()?;
        let timeout = timeout
            .map(|secs| {
                Duration::try_from_secs_f64(secs).map_err(|e| {
                    new_error(
                        py,
                        Kind::InvalidArgument,
                        format!("timeout {secs}: {e}"),
                        None,
                    )
                })
            })
            .transpose()?;
        let inputs = inputs
            .into_iter()
            .map(|(name, file)| {
                Ok(InputSpec {
                    name,
                    file: utf8(py, file)?,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let req = RunRequest {
            workflow: utf8(py, workflow)?,
            instance,
            inputs,
            out_dir: utf8(py, out_dir)?,
            previews,
            timeout,
            wait,
            sets,
            seed,
        };
        let config = Arc::clone(&self.config);
        let interrupter = Interrupter::new();
        let worker = interrupter.clone();
        let stop = || {
            interrupter.interrupt();
        };
        let (result, stopped) = pump(py, on_event, &stop, move |emit| {
            run_workflow(&config, &req, &worker, &mut |step| {
                if let Some(value) = step.to_json() {
                    emit(value);
                }
            })
        })?;
        let result = result.map_err(|e| {
            let is_interruption = matches!(e, SdkError::Interrupted { .. });
            (sdk_error(py, &e), is_interruption)
        });
        let summary = settle(py, result, stopped)?;
        to_py(py, &summary)
    }

    /// The API form of a workflow (a file, or JSON text), converted with `object_info` (a
    /// file, JSON text, or, when neither is given, the instance's).
    #[pyo3(signature = (workflow_path, workflow_json, object_info_path, object_info_json, instance))]
    fn convert<'py>(
        &self,
        py: Python<'py>,
        workflow_path: Option<PathBuf>,
        workflow_json: Option<&str>,
        object_info_path: Option<PathBuf>,
        object_info_json: Option<&str>,
        instance: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let workflow_path = workflow_path.map(|p| utf8(py, p)).transpose()?;
        let object_info_path = object_info_path.map(|p| utf8(py, p)).transpose()?;
        let prompt = blocking(py, || {
            let (label, wf) = match (&workflow_path, workflow_json) {
                (Some(path), _) => (path.clone(), load_workflow(path)?),
                (None, text) => {
                    let text = text.unwrap_or_default();
                    let wf = comfy_local_workflow::load(text.as_bytes()).map_err(|source| {
                        SdkError::Workflow {
                            path: IN_MEMORY.to_owned(),
                            source,
                        }
                    })?;
                    (Utf8PathBuf::from(IN_MEMORY), wf)
                }
            };
            let object_info = match (&object_info_path, object_info_json) {
                (Some(path), _) => object_info_from_file(path)?,
                (None, Some(text)) => {
                    ObjectInfo::parse(text.as_bytes()).map_err(|source| SdkError::ObjectInfo {
                        path: IN_MEMORY.to_owned(),
                        source,
                    })?
                }
                (None, None) => {
                    let target = client_for(&self.config, instance)?;
                    object_info_from(&target.client)?
                }
            };
            to_api(&label, &wf, &object_info)
        })?;
        to_py(py, &prompt)
    }

    /// What the instance lacks to run the workflow file: `(instance id, report)`.
    #[pyo3(signature = (workflow, instance))]
    fn check_dependencies<'py>(
        &self,
        py: Python<'py>,
        workflow: PathBuf,
        instance: Option<&str>,
    ) -> PyResult<(String, Bound<'py, PyAny>)> {
        let workflow = utf8(py, workflow)?;
        let (id, report) = blocking(py, || {
            let wf = load_workflow(&workflow)?;
            let target = client_for(&self.config, instance)?;
            let object_info = object_info_from(&target.client)?;
            let inventory = inventory(&target.client, object_info)?;
            Ok((target.instance, check(&wf, &inventory)))
        })?;
        Ok((id, to_py(py, &report)?))
    }

    /// Installs a model file from a URL into a model folder on the host.
    #[pyo3(signature = (url, folder, name, sha256, force, instance, retries, on_progress))]
    #[expect(clippy::too_many_arguments, reason = "the Python keyword arguments")]
    fn install_model<'py>(
        &self,
        py: Python<'py>,
        url: String,
        folder: String,
        name: Option<String>,
        sha256: Option<String>,
        force: bool,
        instance: Option<String>,
        retries: u32,
        on_progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = InstallModelRequest {
            url,
            folder,
            name,
            sha256,
            force,
            instance,
            retries,
        };
        let config = Arc::clone(&self.config);
        let cancel = Arc::new(AtomicBool::new(false));
        let worker = Arc::clone(&cancel);
        let stop = || cancel.store(true, Ordering::SeqCst);
        let (result, stopped) = pump(py, on_progress, &stop, move |emit| {
            let mut pacer = pacer();
            install_model(
                &config,
                &req,
                &|name| std::env::var(name).ok(),
                &worker,
                &mut |event| {
                    if pacer.lets_through(event) {
                        emit(json!(event));
                    }
                },
            )
        })?;
        let result = result.map_err(|e| {
            let is_interruption = e.kind() == comfy_local_sdk::InstallErrorKind::Interrupted;
            (install_error(py, &e), is_interruption)
        });
        let outcome = settle(py, result, stopped)?;
        to_py(py, &outcome)
    }

    /// Installs a custom node from a git repository on the host. The install has no cancel
    /// point: a KeyboardInterrupt is raised when it has ended (a second one stops waiting).
    #[pyo3(signature = (url, git_ref, force, instance, on_progress))]
    fn install_node<'py>(
        &self,
        py: Python<'py>,
        url: String,
        git_ref: Option<String>,
        force: bool,
        instance: Option<String>,
        on_progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = InstallNodeRequest {
            url,
            git_ref,
            force,
            instance,
        };
        let config = Arc::clone(&self.config);
        let (result, stopped) = pump(py, on_progress, &|| {}, move |emit| {
            install_node(&config, &req, &mut |event| emit(json!(event)))
        })?;
        let outcome = settle(py, result.map_err(|e| (node_error(py, &e), false)), stopped)?;
        to_py(py, &outcome)
    }

    /// Plans the installs of everything the workflow file lacks on the instance and, unless
    /// `dry_run`, runs them and checks again.
    #[pyo3(signature = (workflow, instance, node_map, dry_run, on_progress))]
    fn install_missing<'py>(
        &self,
        py: Python<'py>,
        workflow: PathBuf,
        instance: Option<String>,
        node_map: Option<BTreeMap<String, String>>,
        dry_run: bool,
        on_progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let workflow = utf8(py, workflow)?;
        let node_map = node_map.unwrap_or_default();
        let config = Arc::clone(&self.config);
        let cancel = Arc::new(AtomicBool::new(false));
        let worker = Arc::clone(&cancel);
        let stop = || cancel.store(true, Ordering::SeqCst);
        let (result, stopped) = pump(py, on_progress, &stop, move |emit| {
            // Resolved once for the check, the installs and the re-check.
            let resolved = resolve_env(&config, instance.as_deref()).map_err(SdkError::from)?;
            let checked = check_missing_resolved(&config, &resolved, &workflow, &node_map)?;
            if dry_run {
                return Ok(crate::missing::planned(&checked));
            }
            let mut pacer = pacer();
            let executed = execute_resolved(
                &config,
                &resolved,
                &checked.plan,
                &|name| std::env::var(name).ok(),
                &worker,
                &mut |event| {
                    if let Some(value) = missing_event(event, &mut pacer) {
                        emit(value);
                    }
                },
            );
            let again = check_missing_resolved(&config, &resolved, &workflow, &node_map)?;
            Ok(crate::missing::installed(
                &checked,
                &executed,
                &again,
                worker.load(Ordering::SeqCst),
            ))
        })?;
        let value = settle(py, result.map_err(|e| (sdk_error(py, &e), false)), stopped)?;
        to_py(py, &value)
    }
}
