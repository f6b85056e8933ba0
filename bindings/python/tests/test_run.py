"""Runs against the fake ComfyUI: outputs saved and events reported on the calling thread,
everything missing raised at once, a KeyboardInterrupt stopping the prompt on the server."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import comfy_local
from conftest import FIXTURES, Host

INVERT = FIXTURES / "workflows" / "invert.api.json"


def test_a_run_saves_its_outputs_and_reports_every_step(host: Host, tmp_path: Path) -> None:
    client = comfy_local.Client(host.config)
    events: list[dict[str, Any]] = []
    threads: set[int] = set()

    def on_event(event: dict[str, Any]) -> None:
        threads.add(threading.get_ident())
        events.append(event)

    out = tmp_path / "out"
    summary = client.run(INVERT, out_dir=out, on_event=on_event)
    assert summary.instance == "local"
    assert summary.prompt_id
    assert len(summary.outputs) == 1
    saved = summary.outputs[0]
    assert saved.node == "3" and saved.kind == "images"
    assert saved.path.is_file() and saved.path.parent == out
    assert saved.path.stat().st_size == saved.bytes > 0
    assert saved.path.read_bytes().startswith(b"\x89PNG")
    kinds = [e["event"] for e in events]
    for kind in ["prepared", "submitted", "execution_start", "executing", "saved"]:
        assert kind in kinds, kinds
    assert kinds.index("prepared") < kinds.index("submitted") < kinds.index("saved")
    assert [e["path"] for e in events if e["event"] == "saved"] == [str(saved.path)]
    assert {e["node"] for e in events if e["event"] == "executing"} == {"1", "2", "3"}
    assert threads == {threading.get_ident()}, "callbacks run on the calling thread"


def test_a_ui_workflow_is_converted_and_run(host: Host, tmp_path: Path) -> None:
    client = comfy_local.Client(host.config)
    events: list[dict[str, Any]] = []
    summary = client.run(
        FIXTURES / "workflows" / "invert.ui.json", out_dir=tmp_path, on_event=events.append
    )
    assert len(summary.outputs) == 1
    assert events[0] == {"event": "prepared", "instance": "local", "nodes": 3, "converted": True}


def _missing_workflow(tmp_path: Path) -> Path:
    wf = tmp_path / "wf.json"
    wf.write_text(
        json.dumps(
            {
                "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
                "2": {
                    "class_type": "LoraLoader",
                    "inputs": {
                        "lora_name": "detail.safetensors",
                        "model": ["1", 0],
                        "clip": ["1", 1],
                        "strength_model": 1.0,
                        "strength_clip": 1.0,
                    },
                },
                "3": {"class_type": "NoSuchNodeA", "inputs": {}},
                "4": {"class_type": "NoSuchNodeB", "inputs": {}},
                "5": {"class_type": "LoadImage", "inputs": {"image": "missing-photo.png"}},
            }
        )
    )
    return wf


def test_a_missing_node_workflow_raises_missing_dependencies_listing_everything(
    host: Host, tmp_path: Path
) -> None:
    client = comfy_local.Client(host.config)
    events: list[dict[str, Any]] = []
    with pytest.raises(comfy_local.MissingDependencies) as raised:
        client.run(_missing_workflow(tmp_path), out_dir=tmp_path / "out", on_event=events.append)
    report = raised.value.report
    assert not report.ok
    assert [(n.class_type, n.node_ids) for n in report.missing_nodes] == [
        ("NoSuchNodeA", ("3",)),
        ("NoSuchNodeB", ("4",)),
    ]
    assert sorted((m.folder, m.name) for m in report.missing_models) == [
        ("checkpoints", "sd_xl_base_1.0.safetensors"),
        ("loras", "detail.safetensors"),
    ]
    assert [(i.name, i.node_ids) for i in report.missing_inputs] == [("missing-photo.png", ("5",))]
    assert raised.value.exit_code == 1 and raised.value.hint
    assert "NoSuchNodeA" in str(raised.value)
    assert "submitted" not in [e["event"] for e in events], "nothing may be queued"
    assert not (tmp_path / "out").exists()


def test_check_dependencies_returns_the_same_report_without_raising(
    host: Host, tmp_path: Path
) -> None:
    client = comfy_local.Client(host.config)
    report = client.check_dependencies(_missing_workflow(tmp_path))
    assert report.instance == "local" and report.nodes_checked == 5
    assert {n.class_type for n in report.missing_nodes} == {"NoSuchNodeA", "NoSuchNodeB"}
    assert len(report.missing_models) == 2 and len(report.missing_inputs) == 1
    assert client.check_dependencies(INVERT).ok


def _queue(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/queue", timeout=10) as answer:
        queue: dict[str, Any] = json.load(answer)
    return queue


def _wait_idle(url: str) -> dict[str, Any]:
    """The queue once nothing runs or waits (ComfyUI announces an interrupted prompt on the
    WebSocket just before it takes it off the queue), or as it is after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        queue = _queue(url)
        if (not queue["queue_running"] and not queue["queue_pending"]) or time.monotonic() > deadline:
            return queue
        time.sleep(0.05)


def test_a_keyboard_interrupt_stops_the_prompt_on_the_server(host: Host, tmp_path: Path) -> None:
    client = comfy_local.Client(host.config)
    events: list[dict[str, Any]] = []
    sent: list[float] = []

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        if event == {"event": "executing", "node": "2"} and not sent:
            # Ctrl-C as a terminal sends it, from outside the callback, while node 2 runs.
            def press() -> None:
                sent.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGINT)

            threading.Timer(0.3, press).start()

    with pytest.raises(comfy_local.Interrupted) as raised:
        client.run(INVERT, out_dir=tmp_path, instance="slow", on_event=on_event)
    took = time.monotonic() - sent[0]
    assert took < 5, f"the interrupt took {took:.1f} s"
    error = raised.value
    assert isinstance(error, KeyboardInterrupt) and isinstance(error, comfy_local.ComfyLocalError)
    assert isinstance(error.__cause__, KeyboardInterrupt)
    assert error.exit_code == 130
    assert error.prompt_id == next(e["prompt_id"] for e in events if e["event"] == "submitted")
    assert error.removed_from_queue is False
    kinds = [e["event"] for e in events]
    assert "stopping" in kinds and "saved" not in kinds, kinds
    queue = _wait_idle(host.slow_comfyui_url)
    assert queue["queue_running"] == [] and queue["queue_pending"] == [], queue
    assert list(tmp_path.iterdir()) == []


def test_a_callback_that_raises_stops_the_run_and_its_error_is_raised(
    host: Host, tmp_path: Path
) -> None:
    client = comfy_local.Client(host.config)

    class Stop(Exception):
        pass

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "executing":
            raise Stop("enough")

    started = time.monotonic()
    with pytest.raises(Stop):
        client.run(INVERT, out_dir=tmp_path, instance="slow", on_event=on_event)
    assert time.monotonic() - started < host.slow_node_secs / 2
    queue = _wait_idle(host.slow_comfyui_url)
    assert queue["queue_running"] == [] and queue["queue_pending"] == [], queue


def test_a_broken_workflow_file_is_an_invalid_argument(host: Host, tmp_path: Path) -> None:
    client = comfy_local.Client(host.config)
    wf = tmp_path / "broken.json"
    wf.write_text('{"not": "a workflow"}')
    with pytest.raises(comfy_local.InvalidArgument) as raised:
        client.run(wf, out_dir=tmp_path / "out")
    assert isinstance(raised.value, ValueError)
    assert str(wf) in str(raised.value)


def test_a_run_past_its_timeout_is_stopped_and_raises_timed_out(host: Host, tmp_path: Path) -> None:
    client = comfy_local.Client(host.config)
    started = time.monotonic()
    with pytest.raises(comfy_local.TimedOut) as raised:
        client.run(INVERT, out_dir=tmp_path, instance="slow", timeout=0.5)
    assert time.monotonic() - started < host.slow_node_secs / 2
    assert raised.value.exit_code == 5 and "interrupted" in str(raised.value)
    queue = _wait_idle(host.slow_comfyui_url)
    assert queue["queue_running"] == [] and queue["queue_pending"] == [], queue


def test_wait_false_returns_once_queued(host: Host, tmp_path: Path) -> None:
    client = comfy_local.Client(host.config)
    summary = client.run(INVERT, out_dir=tmp_path / "out", wait=False)
    assert summary.prompt_id and summary.outputs == ()
    assert not (tmp_path / "out").exists()


def _seeded_workflow(tmp_path: Path) -> Path:
    """invert.api.json with a ``RandomNoise`` node beside it (a seed input no output needs)."""
    wf = json.loads(INVERT.read_text())
    wf["9"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 1}}
    path = tmp_path / "seeded.api.json"
    path.write_text(json.dumps(wf))
    return path


def test_sets_and_seed_override_widget_inputs(host: Host, tmp_path: Path) -> None:
    client = comfy_local.Client(host.config)
    wf = _seeded_workflow(tmp_path)
    events: list[dict[str, Any]] = []
    client.run(wf, out_dir=tmp_path / "a", seed=1234, wait=False, on_event=events.append)
    assert [e for e in events if e["event"] == "set"] == [
        {"event": "set", "node": "9", "input": "noise_seed", "value": 1234}
    ]
    events.clear()
    client.run(wf, out_dir=tmp_path / "b", sets={"9.noise_seed": 77}, wait=False, on_event=events.append)
    assert [e["value"] for e in events if e["event"] == "set"] == [77]
    events.clear()
    client.run(wf, out_dir=tmp_path / "c", seed="random", wait=False, on_event=events.append)
    (random,) = [e["value"] for e in events if e["event"] == "set"]
    assert isinstance(random, int) and 0 <= random <= 1 << 50


def test_an_override_that_does_not_fit_is_refused_before_anything_is_queued(
    host: Host, tmp_path: Path
) -> None:
    client = comfy_local.Client(host.config)
    wf = _seeded_workflow(tmp_path)
    for kwargs, text in [
        ({"sets": {"9.noise_seed": "abc"}}, "--set 9.noise_seed=abc"),
        ({"sets": {"noise_seed": 3}}, "--set noise_seed=3"),
        ({"seed": -3}, "--seed -3"),
    ]:
        events: list[dict[str, Any]] = []
        with pytest.raises(comfy_local.InvalidArgument) as raised:
            client.run(wf, out_dir=tmp_path / "out", wait=False, on_event=events.append, **kwargs)  # type: ignore[arg-type]
        assert text in str(raised.value), raised.value
        assert "submitted" not in [e["event"] for e in events]
    with pytest.raises(comfy_local.InvalidArgument, match="no seed input"):
        client.run(INVERT, out_dir=tmp_path / "out", seed=7, wait=False)
