"""The results comfy_local returns, as frozen dataclasses built from the native module's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from comfy_local.errors import ConfigError, ConnectionFailed, RemoteError

__all__ = [
    "Stage",
    "ConnectionReport",
    "Instance",
    "InstanceList",
    "SavedOutput",
    "RunSummary",
    "MissingNode",
    "MissingModel",
    "MissingInput",
    "DependencyReport",
    "ModelInstall",
    "NodeInstall",
    "MissingInstall",
]

StageStatus = Literal["pass", "warn", "fail", "skip"]
FailureKind = Literal["config", "connection", "remote"]


@dataclass(frozen=True)
class Stage:
    """One stage of a connection test."""

    #: The stage's id: ``config``, ``key-file``, ``tcp``, ``handshake``, ``auth``, ``remote``,
    #: ``write-access``, ``comfy-api`` or ``web-socket``.
    name: str
    #: A short human title (``"TCP reachable"``).
    title: str
    status: StageStatus
    #: How long it took, in milliseconds (``None`` when skipped).
    ms: float | None
    #: What was found, or why it failed.
    detail: str
    #: What to do about a failure or a warning.
    hint: str | None

    @property
    def ok(self) -> bool:
        """It passed (with or without a warning)."""
        return self.status in ("pass", "warn")

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> Stage:
        return cls(
            name=v["stage"],
            title=v["title"],
            status=v["status"],
            ms=v.get("duration_ms"),
            detail=v["detail"],
            hint=v.get("hint"),
        )


@dataclass(frozen=True)
class ConnectionReport:
    """The staged connection test: every stage in order; later stages are skipped after a failure."""

    instance: str | None
    config_path: str | None
    stages: tuple[Stage, ...]
    #: Every stage passed (warnings included).
    ok: bool
    #: The report as ``comfy-local test-connection`` prints it.
    table: str
    #: What the first failure says about the setup, or ``None`` when none failed.
    failure: FailureKind | None
    #: The report as ``comfy-local --json test-connection`` prints it (one JSON object).
    json: str = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> ConnectionReport:
        r = v["report"]
        return cls(
            instance=r.get("instance"),
            config_path=r.get("config_path"),
            stages=tuple(Stage.from_json(s) for s in r["stages"]),
            ok=r["ok"],
            table=v["table"],
            failure=v.get("failure"),
            json=v["json"],
        )

    def first_failure(self) -> Stage | None:
        """The stage that failed, if one did."""
        return next((s for s in self.stages if s.status == "fail"), None)

    @property
    def exit_code(self) -> int:
        """The exit code of ``comfy-local test-connection``: 0, or 2 (config), 3 (connection), 4 (remote)."""
        return {None: 0, "config": 2, "connection": 3, "remote": 4}[self.failure]

    def raise_for_failure(self) -> None:
        """Raises ``ConfigError``, ``ConnectionFailed`` or ``RemoteError`` for the first failed stage."""
        failed = self.first_failure()
        if failed is None:
            return
        message = f'connection test failed at "{failed.title}": {failed.detail}'
        error = {"config": ConfigError, "connection": ConnectionFailed, "remote": RemoteError}[
            self.failure or "remote"
        ](message, hint=failed.hint)
        error.connection_report = self
        raise error

    def __str__(self) -> str:
        return self.table


@dataclass(frozen=True)
class Unusable:
    """Why calls refuse an instance that is listed (the error they would raise)."""

    reason: str
    hint: str | None


@dataclass(frozen=True)
class Instance:
    """A machine that can run workflows."""

    #: What ``instance=`` takes: the config id, or the numeric id on Vast.ai.
    id: str
    display_name: str
    #: ``local`` or ``vastai``.
    provider: str
    #: ``running``, ``offline``, ``disabled``, ... (as ``comfy-local instances`` shows it).
    status: str
    cost_per_hour: float
    #: ComfyUI's URL when it is reachable directly.
    comfyui_url: str | None
    #: Whether calls accept it as ``instance=`` (false for a Vast.ai instance that is not
    #: running, has no SSH endpoint, or while the config lacks ``vastai.ssh``); says nothing of
    #: whether it answers now (that is ``status``).
    usable: bool
    #: Why not, when ``usable`` is false.
    unusable: Unusable | None
    #: The rest of what the provider reports (``gpu``, ``ssh``), as JSON.
    extra: dict[str, Any]

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> Instance:
        known = {
            "id",
            "display_name",
            "provider",
            "status",
            "cost_per_hour",
            "comfyui_url",
            "usable",
            "unusable",
        }
        why = v.get("unusable")
        return cls(
            id=v["id"],
            display_name=v["display_name"],
            provider=v["provider"],
            status=v["status"],
            cost_per_hour=v["cost_per_hour"],
            comfyui_url=v.get("comfyui_url"),
            usable=bool(v["usable"]),
            unusable=None if why is None else Unusable(reason=why["reason"], hint=why.get("hint")),
            extra={k: x for k, x in v.items() if k not in known},
        )


@dataclass(frozen=True)
class InstanceList:
    """Every instance found, and every provider that could not be asked (with why)."""

    instances: tuple[Instance, ...]
    #: ``{"provider": ..., "message": ...}`` per provider that failed.
    errors: tuple[dict[str, str], ...]

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> InstanceList:
        return cls(
            instances=tuple(Instance.from_json(i) for i in v["instances"]),
            errors=tuple(v["errors"]),
        )


@dataclass(frozen=True)
class SavedOutput:
    """One output file saved by a run."""

    #: The node that produced it.
    node: str
    #: The output kind history lists (``images``, ``gifs``, ``audio``, ...), or ``websocket``.
    kind: str
    path: Path
    bytes: int


@dataclass(frozen=True)
class RunSummary:
    """What a finished run produced."""

    instance: str
    prompt_id: str
    outputs: tuple[SavedOutput, ...]
    #: Completion was seen by polling history (the WebSocket was lost).
    used_polling: bool
    #: Seconds from submit to completion.
    seconds: float

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> RunSummary:
        return cls(
            instance=v["instance"],
            prompt_id=v["prompt_id"],
            outputs=tuple(
                SavedOutput(node=o["node"], kind=o["kind"], path=Path(o["path"]), bytes=o["bytes"])
                for o in v["outputs"]
            ),
            used_polling=v["used_polling"],
            seconds=v["seconds"],
        )


@dataclass(frozen=True)
class MissingNode:
    """A node class the instance lacks, and the workflow's nodes of that class."""

    class_type: str
    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class MissingModel:
    """A model file missing from its folder (``url``: from the workflow's models metadata)."""

    folder: str
    name: str
    node_ids: tuple[str, ...]
    url: str | None


@dataclass(frozen=True)
class MissingInput:
    """A file missing from ComfyUI's ``input/``."""

    name: str
    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class DependencyReport:
    """What an instance lacks to run a workflow: every missing node class, model and input."""

    #: The instance checked (``None`` in a ``MissingDependencies`` raised by ``run``).
    instance: str | None
    nodes_checked: int
    missing_nodes: tuple[MissingNode, ...]
    missing_models: tuple[MissingModel, ...]
    missing_inputs: tuple[MissingInput, ...]
    #: Set when a UI workflow could not be converted (then only node classes were checked).
    conversion_error: str | None

    @property
    def ok(self) -> bool:
        """Nothing is missing."""
        return not (
            self.missing_nodes
            or self.missing_models
            or self.missing_inputs
            or self.conversion_error is not None
        )

    @classmethod
    def from_json(cls, v: dict[str, Any], instance: str | None) -> DependencyReport:
        return cls(
            instance=instance,
            nodes_checked=v["nodes_checked"],
            missing_nodes=tuple(
                MissingNode(class_type=n["class_type"], node_ids=tuple(n["node_ids"]))
                for n in v["missing_nodes"]
            ),
            missing_models=tuple(
                MissingModel(
                    folder=m["folder"],
                    name=m["name"],
                    node_ids=tuple(m["node_ids"]),
                    url=m.get("url"),
                )
                for m in v["missing_models"]
            ),
            missing_inputs=tuple(
                MissingInput(name=i["name"], node_ids=tuple(i["node_ids"]))
                for i in v["missing_inputs"]
            ),
            conversion_error=v.get("conversion_error"),
        )


@dataclass(frozen=True)
class ModelInstall:
    """How a model install ended."""

    #: ``installed``, or ``already_present`` (a file with the expected sha256 was there).
    status: str
    folder: str
    #: Relative to the folder.
    name: str
    #: Canonical path on the host.
    path: str
    size: int
    sha256: str
    #: Bytes kept from an earlier, interrupted install.
    resumed_from: int
    #: The sha256 was compared with the one given.
    verified: bool

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> ModelInstall:
        return cls(**{k: v[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class NodeInstall:
    """How a custom node install ended (ComfyUI loads custom nodes when it starts)."""

    #: The folder under ``custom_nodes/``.
    name: str
    url: str
    git_ref: str | None
    #: The commit checked out.
    commit: str
    #: Canonical path on the host.
    path: str
    #: The Python that ran pip and ``install.py``.
    python: str
    requirements_installed: bool
    install_py_ran: bool
    replaced: bool
    restart_required: bool

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> NodeInstall:
        fields = dict(v)
        fields["git_ref"] = fields.pop("ref", None)
        return cls(**{k: fields[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class MissingInstall:
    """The plan of ``install_missing`` and, unless a dry run, what the installs did."""

    dry_run: bool
    #: Every item installed (or, in a dry run, everything has a source) and nothing is missing.
    ok: bool
    #: ``instance``, ``models``, ``nodes``, ``unresolved``, ``missing_inputs`` (as ``install missing --json``).
    plan: dict[str, Any]
    #: The dependency check the plan was made from.
    report: DependencyReport
    #: One ``{"kind", "item", "ok", "outcome" or "error"}`` per item installed.
    results: tuple[dict[str, Any], ...]
    #: What the check after the installs still finds missing (node classes installed now are
    #: left out: ComfyUI loads them when it restarts).
    still_missing: DependencyReport
    #: Node classes installed now that ComfyUI loads when it restarts.
    restart_required_for: tuple[str, ...]

    @classmethod
    def from_json(cls, v: dict[str, Any]) -> MissingInstall:
        instance = cast(str, v["plan"]["instance"])
        return cls(
            dry_run=v["dry_run"],
            ok=v["ok"],
            plan=v["plan"],
            report=DependencyReport.from_json(v["report"], instance),
            results=tuple(v["results"]),
            still_missing=DependencyReport.from_json(v["still_missing"], instance),
            restart_required_for=tuple(v["restart_required_for"]),
        )
