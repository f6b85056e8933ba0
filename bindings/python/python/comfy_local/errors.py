"""The exceptions comfy_local raises: ``ComfyLocalError`` and one subclass per kind of failure.

Each has ``hint`` (what to do about it, or ``None``) and ``exit_code``: the exit code the
``comfy-local`` CLI gives the same failure (``python -m comfy_local`` exits with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from comfy_local._types import ConnectionReport, DependencyReport

__all__ = [
    "ComfyLocalError",
    "ConfigError",
    "InvalidArgument",
    "ConnectionFailed",
    "RemoteError",
    "MissingDependencies",
    "TimedOut",
    "Interrupted",
]


class ComfyLocalError(Exception):
    """A comfy-local operation failed; the message is the whole cause chain on one line."""

    exit_code: int = 1
    #: The connection test that failed, for errors raised by ``ConnectionReport.raise_for_failure``.
    connection_report: ConnectionReport | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(ComfyLocalError):
    """The config cannot be loaded, or it names no such instance, or it turns the operation off."""

    exit_code = 2


class InvalidArgument(ComfyLocalError, ValueError):
    """A workflow, input, URL or hash that cannot be used (the file is not a workflow, ...)."""

    exit_code = 2


class ConnectionFailed(ComfyLocalError):
    """The host (SSH) or its ComfyUI could not be reached or logged in to."""

    exit_code = 3


class RemoteError(ComfyLocalError):
    """The host or ComfyUI answered with an error (a rejected prompt, a node that failed, ...)."""

    exit_code = 4


class MissingDependencies(ComfyLocalError):
    """The instance lacks what the workflow needs; ``report`` lists every missing item."""

    exit_code = 1

    def __init__(self, message: str, *, report: dict[str, Any], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        from comfy_local._types import DependencyReport

        self.report: DependencyReport = DependencyReport.from_json(report, instance=None)


class TimedOut(ComfyLocalError):
    """The prompt did not finish within ``timeout`` (it was stopped on the server)."""

    exit_code = 5


class Interrupted(ComfyLocalError, KeyboardInterrupt):
    """The operation was interrupted (Ctrl-C: it is a ``KeyboardInterrupt`` too).

    After a run, ``prompt_id`` names the prompt stopped on the server, and
    ``removed_from_queue`` says whether it was removed from the queue before it started.
    """

    exit_code = 130

    def __init__(
        self,
        message: str,
        *,
        prompt_id: str | None = None,
        removed_from_queue: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.prompt_id = prompt_id
        self.removed_from_queue = removed_from_queue
