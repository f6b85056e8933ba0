"""Offline conversion, instances, and the installs' refusals that need no download."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import comfy_local
from conftest import FIXTURES, Host

UI = FIXTURES / "workflows" / "invert.ui.json"
OBJECT_INFO = FIXTURES / "object_info.json"


def test_convert_offline_from_files_and_from_parsed_json(host: Host) -> None:
    client = comfy_local.Client(host.config)
    from_files = client.convert(UI, OBJECT_INFO)
    assert {n["class_type"] for n in from_files.values()} == {"EmptyImage", "ImageInvert", "SaveImage"}
    parsed: dict[str, Any] = json.loads(UI.read_text())
    object_info: dict[str, Any] = json.loads(OBJECT_INFO.read_text())
    assert client.convert(parsed, object_info) == from_files
    # Without object_info the instance's is used.
    assert client.convert(UI) == from_files


def test_convert_refuses_a_non_workflow(host: Host) -> None:
    client = comfy_local.Client(host.config)
    with pytest.raises(comfy_local.InvalidArgument):
        client.convert({"not": "a workflow"}, OBJECT_INFO)


def test_instances_lists_the_configured_ones(host: Host) -> None:
    listed = comfy_local.Client(host.config).instances()
    by_id = {i.id: i for i in listed.instances}
    assert list(by_id) == ["local", "slow", "no-ssh", "no-comfyui"]
    assert by_id["local"].provider == "local" and by_id["local"].status == "online"
    assert by_id["no-comfyui"].status == "offline"
    assert all(i.usable and i.unusable is None for i in listed.instances)
    assert all("usable" not in i.extra and "unusable" not in i.extra for i in listed.instances)
    assert listed.errors == ()


def test_an_unusable_instance_says_why() -> None:
    record = {
        "id": "5150",
        "display_name": "RTX 4090",
        "provider": "vastai",
        "status": "running",
        "cost_per_hour": 0.4,
        "comfyui_url": None,
        "gpu": "RTX 4090",
        "usable": False,
        "unusable": {"reason": "vastai.ssh.key_file is not set", "hint": "set vastai.ssh.key_file"},
    }
    instance = comfy_local.Instance.from_json(record)
    assert not instance.usable
    assert instance.unusable == comfy_local.Unusable(
        reason="vastai.ssh.key_file is not set", hint="set vastai.ssh.key_file"
    )
    assert instance.extra == {"gpu": "RTX 4090"}


def test_install_model_refuses_a_bad_url_before_connecting(host: Host) -> None:
    client = comfy_local.Client(host.config)
    with pytest.raises(comfy_local.InvalidArgument) as raised:
        client.install_model("ftp://example.invalid/m.safetensors", "checkpoints")
    assert raised.value.exit_code == 2


def test_install_node_refuses_a_host_not_allowed(host: Host) -> None:
    client = comfy_local.Client(host.config)
    with pytest.raises(comfy_local.ConfigError) as raised:
        client.install_node("https://git.example.invalid/o/r")
    assert raised.value.hint and "allowed_git_hosts" in raised.value.hint


def test_install_missing_dry_run_plans_and_reports_what_it_cannot_resolve(
    host: Host, tmp_path: Path
) -> None:
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"1": {"class_type": "NoSuchNodeA", "inputs": {}}}))
    client = comfy_local.Client(host.config)
    events: list[dict[str, Any]] = []
    result = client.install_missing(wf, dry_run=True, on_progress=events.append)
    assert result.dry_run and not result.ok
    assert [n.class_type for n in result.report.missing_nodes] == ["NoSuchNodeA"]
    assert [u["class_type"] for u in result.plan["unresolved"]] == ["NoSuchNodeA"]
    assert result.plan["models"] == [] and result.plan["nodes"] == []
    assert result.results == () and events == []
