"""Fixtures: the Rust tests' harness (a real sshd and fake ComfyUIs on loopback) started through
the ``comfy-local-test-host`` binary, which prints what it set up as one JSON line and serves until
its standard input closes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The repository root (bindings/python/tests -> ../../..).
REPO = Path(__file__).resolve().parents[3]
#: The recorded ComfyUI fixtures the Rust tests use.
FIXTURES = REPO / "fixtures" / "comfyui"


@dataclass(frozen=True)
class Host:
    """What the test host set up: a config with the instances ``local`` (the default),
    ``slow`` (node ``2`` runs for ``slow_node_secs``), ``no-ssh`` and ``no-comfyui``."""

    config: Path
    install: Path
    user: str
    comfyui_url: str
    slow_comfyui_url: str
    slow_node_secs: int


def _test_host_binary() -> Path:
    explicit = os.environ.get("COMFY_LOCAL_TEST_HOST")
    path = Path(explicit) if explicit else REPO / "target" / "debug" / "comfy-local-test-host"
    if not path.is_file():
        pytest.fail(
            f"{path} not found: build it with `cargo build -p comfy-local-test-host` "
            "(or set COMFY_LOCAL_TEST_HOST)"
        )
    return path


@pytest.fixture(scope="session")
def host() -> Iterator[Host]:
    proc = subprocess.Popen(
        [str(_test_host_binary())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        pytest.fail(f"comfy-local-test-host exited with {proc.returncode} before it was ready")
    info = json.loads(line)
    try:
        yield Host(
            config=Path(info["config"]),
            install=Path(info["install"]),
            user=info["user"],
            comfyui_url=info["comfyui_url"],
            slow_comfyui_url=info["slow_comfyui_url"],
            slow_node_secs=info["slow_node_secs"],
        )
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
