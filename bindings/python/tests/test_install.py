"""Model installs from a loopback HTTP source into the test host's install folder over the real
sshd: progress reported, hash verified, Ctrl-C stopping a download, and install_missing
installing every model a workflow names and checking again."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import comfy_local
from conftest import Host

#: Bytes of each generated model file.
SIZE = 2_000_000
#: The slow file: this many chunks of CHUNK bytes, one every PAUSE seconds (about 16 s in all).
CHUNKS, CHUNK, PAUSE = 320, 65536, 0.05


def _content(name: str) -> bytes:
    """A model file's bytes, derived from its name (so each test can check what arrived)."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (SIZE // len(seed) + 1))[:SIZE]


class _Handler(http.server.BaseHTTPRequestHandler):
    """``/slow/NAME`` trickles; any other ``/NAME`` is served at once."""

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        slow = self.path.startswith("/slow/")
        body = b"\0" * CHUNK if slow else _content(self.path.rsplit("/", 1)[-1])
        self.send_response(200)
        self.send_header("Content-Length", str(CHUNKS * CHUNK if slow else len(body)))
        self.end_headers()
        try:
            for _ in range(CHUNKS if slow else 1):
                self.wfile.write(body)
                if slow:
                    time.sleep(PAUSE)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@dataclass(frozen=True)
class Source:
    url: str


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Source(url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def test_install_model_streams_verifies_and_reports_progress(host: Host, source: Source) -> None:
    client = comfy_local.Client(host.config)
    events: list[dict[str, Any]] = []
    digest = hashlib.sha256(_content("a.safetensors")).hexdigest()
    result = client.install_model(
        f"{source.url}/a.safetensors", "checkpoints", sha256=digest, on_progress=events.append
    )
    assert (result.status, result.size, result.sha256, result.verified) == ("installed", SIZE, digest, True)
    placed = host.install / "models" / "checkpoints" / "a.safetensors"
    assert Path(result.path) == placed and placed.read_bytes() == _content("a.safetensors")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and "progress" in kinds, kinds
    assert events[0]["total"] == SIZE and events[0]["resumed_from"] == 0
    again = client.install_model(f"{source.url}/a.safetensors", "checkpoints", sha256=digest)
    assert again.status == "already_present"


def test_a_wrong_sha256_is_refused_and_nothing_is_put_in_place(host: Host, source: Source) -> None:
    client = comfy_local.Client(host.config)
    with pytest.raises(comfy_local.ComfyLocalError) as raised:
        client.install_model(f"{source.url}/b.safetensors", "checkpoints", sha256="00" * 32)
    assert type(raised.value) is comfy_local.ComfyLocalError and raised.value.exit_code == 1
    assert "sha256" in str(raised.value).lower()
    assert not (host.install / "models" / "checkpoints" / "b.safetensors").exists()


def test_a_keyboard_interrupt_stops_a_download_and_keeps_the_part(host: Host, source: Source) -> None:
    client = comfy_local.Client(host.config)
    timers: list[threading.Timer] = []
    sent: list[float] = []

    def press() -> None:
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    def on_progress(event: dict[str, Any]) -> None:
        # Ctrl-C as a terminal sends it, from outside the callback, once bytes flow.
        if event["event"] == "progress" and not timers:
            timers.append(threading.Timer(0.2, press))
            timers[0].start()

    with pytest.raises(comfy_local.Interrupted) as raised:
        client.install_model(f"{source.url}/slow/c.safetensors", "checkpoints", on_progress=on_progress)
    took = time.monotonic() - sent[0]
    assert took < 5, f"the download took {took:.1f} s to stop"
    assert isinstance(raised.value.__cause__, KeyboardInterrupt)
    folder = host.install / "models" / "checkpoints"
    assert not (folder / "c.safetensors").exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith("c.safetensors")] == ["c.safetensors.part"]


def test_install_missing_installs_every_model_and_checks_again(
    host: Host, source: Source, tmp_path: Path
) -> None:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "d.safetensors"}},
        "2": {
            "class_type": "LoraLoader",
            "inputs": {
                "model": ["1", 0],
                "clip": ["1", 1],
                "lora_name": "e.safetensors",
                "strength_model": 1.0,
                "strength_clip": 1.0,
            },
        },
    }
    ui = {
        "nodes": [],
        "models": [
            {"name": "d.safetensors", "url": f"{source.url}/d.safetensors", "directory": "checkpoints"},
            {"name": "e.safetensors", "url": f"{source.url}/e.safetensors", "directory": "loras"},
        ],
    }
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": ui}}}))
    client = comfy_local.Client(host.config)
    plan = client.install_missing(wf, dry_run=True)
    assert plan.ok and [m["name"] for m in plan.plan["models"]] == ["d.safetensors", "e.safetensors"]
    assert not (host.install / "models" / "checkpoints" / "d.safetensors").exists()
    events: list[dict[str, Any]] = []
    result = client.install_missing(wf, on_progress=events.append)
    assert result.ok and not result.dry_run, result
    assert [(r["kind"], r["ok"]) for r in result.results] == [("model", True), ("model", True)]
    assert {m.name for m in result.report.missing_models} == {"d.safetensors", "e.safetensors"}
    assert result.still_missing.ok
    assert (host.install / "models" / "loras" / "e.safetensors").read_bytes() == _content("e.safetensors")
    kinds = [e["event"] for e in events]
    assert kinds.count("installing") == 2 and kinds.count("installed") == 2, kinds
    assert client.check_dependencies(wf).ok
