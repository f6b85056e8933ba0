"""Type stubs of the native extension ``comfy_local._native`` (PyO3). Values are JSON-shaped:
the typed API in ``comfy_local`` turns them into dataclasses."""

from collections.abc import Callable
from typing import Any

__version__: str

def test_connection(config_path: str | None = None, instance: str | None = None) -> dict[str, Any]: ...

class Client:
    def __init__(self, config_path: str | None = None) -> None: ...
    @property
    def config_path(self) -> str: ...
    @property
    def warnings(self) -> list[str]: ...
    def instances(self) -> dict[str, Any]: ...
    def test_connection(self, instance: str | None = None) -> dict[str, Any]: ...
    def run(
        self,
        workflow: str,
        inputs: list[tuple[str, str]],
        out_dir: str,
        instance: str | None,
        timeout: float | None,
        previews: bool,
        wait: bool,
        sets: list[str],
        seed: str | None,
        on_event: Callable[[dict[str, Any]], object] | None,
    ) -> dict[str, Any]: ...
    def convert(
        self,
        workflow_path: str | None,
        workflow_json: str | None,
        object_info_path: str | None,
        object_info_json: str | None,
        instance: str | None,
    ) -> dict[str, Any]: ...
    def check_dependencies(self, workflow: str, instance: str | None) -> tuple[str, dict[str, Any]]: ...
    def install_model(
        self,
        url: str,
        folder: str,
        name: str | None,
        sha256: str | None,
        force: bool,
        instance: str | None,
        retries: int,
        on_progress: Callable[[dict[str, Any]], object] | None,
    ) -> dict[str, Any]: ...
    def install_node(
        self,
        url: str,
        git_ref: str | None,
        force: bool,
        instance: str | None,
        on_progress: Callable[[dict[str, Any]], object] | None,
    ) -> dict[str, Any]: ...
    def install_missing(
        self,
        workflow: str,
        instance: str | None,
        node_map: dict[str, str] | None,
        dry_run: bool,
        on_progress: Callable[[dict[str, Any]], object] | None,
    ) -> dict[str, Any]: ...
