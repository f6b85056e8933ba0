"""comfy_local: run ComfyUI workflows on a host over SSH, from Python.

The same facade the ``comfy-local`` CLI uses, as a native extension::

    import comfy_local

    client = comfy_local.Client("local-support-config.yml")
    print(client.test_connection().ok)
    summary = client.run("workflow.json", out_dir="outputs", on_event=print)

See ``Client`` for every operation and ``comfy_local.errors`` for the exceptions.
"""

from comfy_local._client import Client, Event, EventCallback, PathLike, test_connection
from comfy_local._native import __version__
from comfy_local._types import (
    ConnectionReport,
    DependencyReport,
    Instance,
    InstanceList,
    MissingInput,
    MissingInstall,
    MissingModel,
    MissingNode,
    ModelInstall,
    NodeInstall,
    RunSummary,
    SavedOutput,
    Stage,
    Unusable,
)
from comfy_local.errors import (
    ComfyLocalError,
    ConfigError,
    ConnectionFailed,
    Interrupted,
    InvalidArgument,
    MissingDependencies,
    RemoteError,
    TimedOut,
)

__all__ = [
    "__version__",
    "Client",
    "test_connection",
    "Event",
    "EventCallback",
    "PathLike",
    "ConnectionReport",
    "DependencyReport",
    "Instance",
    "InstanceList",
    "MissingInput",
    "MissingInstall",
    "MissingModel",
    "MissingNode",
    "ModelInstall",
    "NodeInstall",
    "RunSummary",
    "SavedOutput",
    "Stage",
    "Unusable",
    "ComfyLocalError",
    "ConfigError",
    "ConnectionFailed",
    "Interrupted",
    "InvalidArgument",
    "MissingDependencies",
    "RemoteError",
    "TimedOut",
]
