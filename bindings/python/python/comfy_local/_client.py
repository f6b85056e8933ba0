"""``Client``: a loaded config and the operations on its instances, typed over the native module."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

from comfy_local import _native
from comfy_local._types import (
    ConnectionReport,
    DependencyReport,
    InstanceList,
    MissingInstall,
    ModelInstall,
    NodeInstall,
    RunSummary,
)

__all__ = ["Client", "test_connection", "Event", "EventCallback", "PathLike"]

#: A file path argument.
PathLike = str | os.PathLike[str]
#: One progress event: a dict with an ``"event"`` key (the objects ``--json`` prints).
Event = dict[str, Any]
#: A callback for events; it is called on the thread that called the method.
EventCallback = Callable[[Event], object]


def _override_text(value: str | int | float | bool) -> str:
    """A ``sets`` value as the text ``run --set`` takes (``true``/``false`` for a bool)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _path(p: PathLike | None) -> str | None:
    return None if p is None else os.fspath(p)


def test_connection(config_path: PathLike | None = None, instance: str | None = None) -> ConnectionReport:
    """Loads the config and tests an instance stage by stage, as ``comfy-local test-connection`` does.

    Unlike ``Client(config_path).test_connection()``, a config that cannot be loaded is not
    raised: it is the failed ``config`` stage of the report.
    """
    return ConnectionReport.from_json(_native.test_connection(_path(config_path), instance))


class Client:
    """A loaded config and the operations on its instances.

    The config is found as the CLI finds it: ``config_path``, else ``$COMFY_LOCAL_CONFIG``,
    else ``./local-support-config.yml``, else ``/app/local-support-config.yml``. Raises
    ``ConfigError`` when there is none or it is invalid.

    Every method blocks until the operation ends, with the GIL released. Callbacks
    (``on_event``, ``on_progress``) are called on the calling thread; one that raises stops the
    operation (as Ctrl-C would) and its exception is raised once the operation has stopped.
    A ``Client`` may be shared by threads.
    """

    def __init__(self, config_path: PathLike | None = None) -> None:
        self._native = _native.Client(_path(config_path))

    def __repr__(self) -> str:
        return f"comfy_local.Client({self.config_path!r})"

    @property
    def config_path(self) -> str:
        """The config file loaded."""
        return self._native.config_path

    @property
    def warnings(self) -> list[str]:
        """Problems found in the config that did not stop loading it."""
        return self._native.warnings

    def instances(self) -> InstanceList:
        """Every instance (local ones probed for a few seconds; VastAI's when enabled)."""
        return InstanceList.from_json(self._native.instances())

    def test_connection(self, instance: str | None = None, *, check: bool = False) -> ConnectionReport:
        """Tests an instance (the first local one by default) stage by stage.

        Returns the report; with ``check=True`` a failed test raises ``ConfigError``,
        ``ConnectionFailed`` or ``RemoteError`` instead (see ``ConnectionReport.raise_for_failure``).
        """
        report = ConnectionReport.from_json(self._native.test_connection(instance))
        if check:
            report.raise_for_failure()
        return report

    def run(
        self,
        workflow: PathLike,
        inputs: Mapping[str, PathLike] | None = None,
        *,
        out_dir: PathLike,
        instance: str | None = None,
        on_event: EventCallback | None = None,
        timeout: float | None = None,
        previews: bool = True,
        wait: bool = True,
        sets: Mapping[str, str | int | float | bool] | None = None,
        seed: int | Literal["random"] | None = None,
    ) -> RunSummary:
        """Runs a workflow file (UI or API format) and saves every output into ``out_dir``.

        ``inputs`` maps a file name the workflow loads (or a loader node id) to a local file to
        upload first. ``sets`` maps ``"NODE_ID.input"`` to a value for that widget input (checked
        against the instance's node definitions, as the CLI's ``run --set``), and ``seed`` (a
        whole number, or ``"random"`` for a new one per input) sets every seed input, as
        ``run --seed``; a value that does not fit raises ``InvalidArgument`` before anything is
        queued, its message naming the override as the CLI would (``--set 3.steps=abc``), and
        each override applied is reported as a ``set`` event. Everything the instance lacks is
        checked before anything is queued:
        ``MissingDependencies`` lists all of it. ``on_event`` gets each step (``prepared``,
        ``uploaded``, ``submitted``, ``queued``, ``executing``, ``progress``, ``executed``,
        ``saved``, ...). A KeyboardInterrupt (Ctrl-C) stops the prompt on the server and raises
        ``Interrupted``; ``timeout`` (seconds) stops it and raises ``TimedOut``. With
        ``wait=False`` the call returns once ComfyUI has queued the prompt (no outputs).
        """
        pairs = [(name, os.fspath(file)) for name, file in (inputs or {}).items()]
        overrides = [f"{key}={_override_text(value)}" for key, value in (sets or {}).items()]
        summary = self._native.run(
            os.fspath(workflow),
            pairs,
            os.fspath(out_dir),
            instance,
            timeout,
            previews,
            wait,
            overrides,
            None if seed is None else str(seed),
            on_event,
        )
        return RunSummary.from_json(summary)

    def convert(
        self,
        ui_workflow: PathLike | Mapping[str, Any],
        object_info: PathLike | Mapping[str, Any] | None = None,
        *,
        instance: str | None = None,
    ) -> dict[str, Any]:
        """The API-format prompt of a workflow (a file or a parsed JSON object).

        Node definitions come from ``object_info`` (a saved ``GET /object_info`` answer, as a
        file or parsed) or, when it is ``None``, from the instance's ComfyUI.
        """
        wf_path, wf_json = _file_or_json(ui_workflow)
        oi_path, oi_json = (None, None) if object_info is None else _file_or_json(object_info)
        return self._native.convert(wf_path, wf_json, oi_path, oi_json, instance)

    def check_dependencies(self, workflow: PathLike, instance: str | None = None) -> DependencyReport:
        """What the instance lacks to run the workflow file (``report.ok``: nothing)."""
        checked, report = self._native.check_dependencies(os.fspath(workflow), instance)
        return DependencyReport.from_json(report, instance=checked)

    def install_model(
        self,
        url: str,
        folder: str,
        *,
        name: str | None = None,
        sha256: str | None = None,
        force: bool = False,
        instance: str | None = None,
        retries: int = 3,
        on_progress: EventCallback | None = None,
    ) -> ModelInstall:
        """Downloads a model from an http(s) URL into a model folder on the host (resumable,
        verified against ``sha256`` when given, put in place atomically). Tokens come from the
        environment variables the config's ``resources:`` names. A KeyboardInterrupt stops the
        download (the partial file is kept for a resume) and raises ``Interrupted``."""
        return ModelInstall.from_json(
            self._native.install_model(url, folder, name, sha256, force, instance, retries, on_progress)
        )

    def install_node(
        self,
        url: str,
        *,
        git_ref: str | None = None,
        force: bool = False,
        instance: str | None = None,
        on_progress: EventCallback | None = None,
    ) -> NodeInstall:
        """Clones a custom node from an allowed git host into ``custom_nodes/`` on the host and
        installs its requirements. It cannot be stopped half-way: a KeyboardInterrupt is raised
        once it has ended (a second one stops waiting; the install then ends on its own)."""
        return NodeInstall.from_json(self._native.install_node(url, git_ref, force, instance, on_progress))

    def install_missing(
        self,
        workflow: PathLike,
        *,
        instance: str | None = None,
        node_map: Mapping[str, str] | None = None,
        dry_run: bool = False,
        on_progress: EventCallback | None = None,
    ) -> MissingInstall:
        """Installs what the workflow lacks: models from the URLs its metadata gives, node
        classes from ``node_map`` (class name -> repository URL) or their ``aux_id``; then checks
        again. ``dry_run=True`` only plans. ``result.ok`` is false when an item failed or could
        not be resolved."""
        return MissingInstall.from_json(
            self._native.install_missing(
                os.fspath(workflow),
                instance,
                None if node_map is None else dict(node_map),
                dry_run,
                on_progress,
            )
        )


def _file_or_json(value: PathLike | Mapping[str, Any]) -> tuple[str | None, str | None]:
    """A path, or the JSON text of a parsed object."""
    if isinstance(value, Mapping):
        return None, json.dumps(value)
    return os.fspath(value), None
