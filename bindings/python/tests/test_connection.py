"""Client construction and the staged connection test, passing and failing with the exception
the CLI's exit code stands for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import comfy_local
from conftest import Host

STAGES = [
    "config",
    "key-file",
    "tcp",
    "handshake",
    "auth",
    "remote",
    "write-access",
    "comfy-api",
    "web-socket",
]


def test_every_stage_passes(host: Host) -> None:
    client = comfy_local.Client(host.config)
    assert client.config_path == str(host.config)
    assert repr(client) == f"comfy_local.Client({str(host.config)!r})"
    assert client.warnings == []
    report = client.test_connection()
    assert report.ok, report.table
    assert [s.name for s in report.stages] == STAGES
    assert all(s.ok and s.status == "pass" for s in report.stages), report.table
    assert all(s.ms is not None and s.ms >= 0 for s in report.stages)
    assert report.instance == "local"
    assert report.failure is None and report.exit_code == 0
    assert report.first_failure() is None
    assert "all checks passed" in str(report)
    # check=True on a passing test returns the same report.
    assert client.test_connection(check=True).ok


def test_a_closed_ssh_port_fails_tcp_and_raises_connection_failed(host: Host) -> None:
    client = comfy_local.Client(host.config)
    report = client.test_connection("no-ssh")
    assert not report.ok
    failed = report.first_failure()
    assert failed is not None and failed.name == "tcp" and not failed.ok
    assert failed.hint and "ssh.port" in failed.hint
    assert [s.status for s in report.stages[3:]] == ["skip"] * 6
    assert report.exit_code == 3
    with pytest.raises(comfy_local.ConnectionFailed) as raised:
        client.test_connection("no-ssh", check=True)
    assert raised.value.exit_code == 3
    assert raised.value.hint == failed.hint
    assert raised.value.connection_report is not None
    again = raised.value.connection_report.first_failure()
    assert again is not None and again.name == "tcp"
    assert isinstance(raised.value, comfy_local.ComfyLocalError)


def test_comfyui_not_answering_fails_the_api_stage_with_remote_error(host: Host) -> None:
    client = comfy_local.Client(host.config)
    report = client.test_connection("no-comfyui")
    failed = report.first_failure()
    assert failed is not None and failed.name == "comfy-api", report.table
    assert report.exit_code == 4
    with pytest.raises(comfy_local.RemoteError):
        report.raise_for_failure()


def test_an_unknown_instance_is_a_config_error(host: Host) -> None:
    client = comfy_local.Client(host.config)
    report = client.test_connection("nope")
    failed = report.first_failure()
    assert failed is not None and failed.name == "config"
    assert 'no local instance "nope"' in failed.detail
    with pytest.raises(comfy_local.ConfigError) as raised:
        client.test_connection("nope", check=True)
    assert raised.value.exit_code == 2


def test_a_missing_config_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(comfy_local.ConfigError) as raised:
        comfy_local.Client(tmp_path / "absent.yml")
    assert "absent.yml" in str(raised.value)
    assert raised.value.hint is not None


def test_an_invalid_config_raises_config_error_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("local:\n  - ssh: { host: '', port: 70000 }\n")
    with pytest.raises(comfy_local.ConfigError) as raised:
        comfy_local.Client(bad)
    assert "local[0].ssh.host" in str(raised.value)


def test_the_module_function_reports_a_bad_config_as_the_config_stage(tmp_path: Path) -> None:
    report = comfy_local.test_connection(tmp_path / "absent.yml")
    failed = report.first_failure()
    assert failed is not None and failed.name == "config"
    assert report.exit_code == 2


def _main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "comfy_local", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_m_comfy_local_mirrors_test_connection_and_its_exit_codes(
    host: Host, tmp_path: Path
) -> None:
    ok = _main("--config", str(host.config))
    assert ok.returncode == 0, ok
    assert "PASS  ComfyUI WebSocket" in ok.stdout and "all checks passed" in ok.stdout
    down = _main("--config", str(host.config), "--instance", "no-ssh")
    assert down.returncode == 3, down
    assert "FAIL  TCP reachable" in down.stdout
    assert down.stderr.startswith('error: connection test failed at "TCP reachable"')
    assert _main("--config", str(host.config), "--instance", "no-comfyui").returncode == 4
    assert _main("--config", str(tmp_path / "absent.yml")).returncode == 2
    assert _main("--no-such-flag").returncode == 2
    as_json = _main("--config", str(host.config), "--json")
    assert as_json.returncode == 0
    body = json.loads(as_json.stdout)
    assert body["ok"] is True and as_json.stdout.count("\n") == 1
    assert [s["stage"] for s in body["stages"]] == STAGES
    assert all(s["status"] == "pass" and s["duration_ms"] >= 0 for s in body["stages"])


def test_the_done_when_one_liner_prints_true(host: Host) -> None:
    code = f"import comfy_local; print(comfy_local.Client({str(host.config)!r}).test_connection().ok)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout == "True\n"


def _vastai_config(tmp_path: Path, ssh: str) -> Path:
    """VastAI only, its API on a loopback port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    path = tmp_path / "vast.yml"
    path.write_text(
        "enabled: false\n"
        "vastai:\n"
        "  enabled: true\n"
        "  allow_inline_api_key: true\n"
        "  api_key: vast-python-test-key\n"
        f"  api_url: http://127.0.0.1:{closed}\n"
        f"  ssh: {ssh}\n"
    )
    return path


def test_a_vastai_id_is_resolved_like_any_instance(tmp_path: Path) -> None:
    # With the SSH key configured, the id is looked up on VastAI: its API not answering is a
    # connection failure (exit 3) at the TCP stage, not a refusal of non-local ids.
    (tmp_path / "key").write_text("not used\n")
    client = comfy_local.Client(
        _vastai_config(tmp_path, f"{{ key_file: {tmp_path / 'key'}, known_hosts_dir: {tmp_path / 'kh'} }}")
    )
    report = client.test_connection("4242")
    failed = report.first_failure()
    assert failed is not None and failed.name == "tcp", report.table
    assert "could not reach VastAI" in failed.detail
    with pytest.raises(comfy_local.ConnectionFailed) as raised:
        client.test_connection("4242", check=True)
    assert raised.value.exit_code == 3
    # Without the key in vastai.ssh: a config error naming it.
    client = comfy_local.Client(_vastai_config(tmp_path, "{ user: root }"))
    failed = client.test_connection("4242").first_failure()
    assert failed is not None and failed.name == "config"
    assert "vastai.ssh.key_file" in failed.detail
