"""``siteguard cloud`` (SQLite and PostgreSQL): admins, tokens and devices from the command line, then
``serve`` as a real child process that honours what the commands made; the edge never loads cloud code."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from cloud_sync.contract.signing import DeviceCredential
from cloud_sync.service.launch import CloudProcess
from edge_runtime.cli import main
from tests.cloud.test_service_harness import PROFILE, settings_for


def cloud(url: str, *args: str) -> int:
    return main(["cloud", *args, "--db", url])


def test_help_passes_through_to_the_clouds_own_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["cloud", "--help"])
    assert done.value.code == 0 and "siteguard cloud" in capsys.readouterr().out


def test_the_edge_command_line_loads_no_cloud_service_code() -> None:
    probe = ("import sys, edge_runtime.cli; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cloud_sync', 'sqlalchemy', 'alembic')"
             " and not m.startswith('cloud_sync.contract') and m != 'cloud_sync'))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"


def test_admins_tokens_and_devices_then_serve(cloud_url: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    password = tmp_path / "password"
    password.write_text("fleet-password-1\n")
    assert cloud(cloud_url, "admin", "add", "ada", "--role", "admin", "--password-file", str(password)) == 0
    assert cloud(cloud_url, "admin", "add", "ada", "--role", "viewer", "--password-file", str(password)) == 1
    short = tmp_path / "short"
    short.write_text("short\n")
    assert cloud(cloud_url, "admin", "add", "bob", "--role", "viewer", "--password-file", str(short)) == 1
    assert "at least 10 characters" in capsys.readouterr().err
    assert cloud(cloud_url, "token", "create", "--role", "operator", "--label", "ci") == 0
    token = capsys.readouterr().out.strip()
    credential_file = tmp_path / "edge-1.credential"
    assert cloud(cloud_url, "device", "register", "edge-1", "--site", "plant-a", "--name", "Gateway", "--type",
                 "jetson-gw", "--profile", json.dumps(PROFILE), "--credential-file", str(credential_file)) == 0
    assert stat.S_IMODE(credential_file.stat().st_mode) == 0o600
    first = DeviceCredential.parse(credential_file.read_text())
    assert cloud(cloud_url, "device", "register", "edge-2", "--site", "plant-a", "--name", "Bad", "--type", "x",
                 "--profile", '{"cpu_arch": "z80"}') == 1
    assert cloud(cloud_url, "device", "rotate", "edge-1", "--revoke-old") == 0
    second = DeviceCredential.parse(capsys.readouterr().out.strip())
    assert second.key_id != first.key_id
    assert cloud(cloud_url, "device", "revoke", "edge-1", second.key_id) == 0
    assert cloud(cloud_url, "device", "revoke", "edge-1", "nope") == 1
    assert cloud(cloud_url, "device", "decommission", "edge-9") == 1
    assert cloud(cloud_url, "device", "list") == 0
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed["id"], listed["profile"]["gpu_compute_capability"]) == ("edge-1", "8.7")

    with CloudProcess(settings_for(cloud_url, tmp_path / "data"), log_path=tmp_path / "serve.log") as url:
        request = urllib.request.Request(f"{url}/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert [d["id"] for d in json.load(answer)["devices"]] == ["edge-1"]
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as answer:
            assert answer.status == 200
    assert os.path.getsize(tmp_path / "serve.log") >= 0
