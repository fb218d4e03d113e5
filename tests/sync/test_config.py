"""The ``sync:`` section: defaults, windows, the credential and its device, errors naming the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cloud_sync.contract.signing import DeviceCredential
from edge_runtime.config import ConfigError, parse_config
from edge_runtime.config.sync import CREDENTIAL_ENV, SyncSettings

REPO = Path(__file__).resolve().parents[2]
SITE = {"site": {"id": "s1", "origin_lat": 51.9, "origin_lon": 4.4}, "device_id": "edge-1"}


@pytest.fixture(autouse=True)
def no_credential_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CREDENTIAL_ENV, raising=False)


def problems(sync: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config({**SITE, "sync": sync})
    return dict(info.value.problems)


def test_defaults_events_always_snapshots_at_night() -> None:
    sync = parse_config(SITE).sync
    assert sync.enabled is False and sync.heartbeat_interval_s == 30
    assert sync.lanes.events.schedule == () and sync.lanes.events.bandwidth_bytes_per_s is None
    assert sync.lanes.snapshots.schedule == ("22:00-06:00",)


@pytest.mark.parametrize(("sync", "key"), [
    ({"enabled": True}, "sync.url"),
    ({"url": "ftp://cloud"}, "sync.url"),
    ({"lanes": {"snapshots": {"schedule": ["25:00-01:00"]}}}, "sync.lanes.snapshots.schedule"),
    ({"lanes": {"bulk": {"schedule": ["08:00-08:00"]}}}, "sync.lanes.bulk.schedule"),
    ({"lanes": {"events": {"schedule": ["22:00-06:00"]}}}, "sync.lanes.events"),
    ({"lanes": {"bulk": {"bandwidth_bytes_per_s": 0}}}, "sync.lanes.bulk.bandwidth_bytes_per_s"),
    ({"lanes": {"video": {}}}, "sync.lanes.video"),
    ({"enabled": True, "url": "https://cloud.example"}, "sync.credential_file"),
])
def test_errors_name_the_key(sync: dict[str, object], key: str) -> None:
    assert key in problems(sync)


def test_the_credential_must_be_this_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cred"
    path.write_text(DeviceCredential.generate("edge-2").text())
    enabled = {"enabled": True, "url": "https://cloud.example", "credential_file": str(path)}
    assert "issued to device 'edge-2', this is 'edge-1'" in problems(enabled)["sync.credential_file"]
    path.write_text("sgdev1.edge-1.k1.not-a-key")
    assert "not a base64url Ed25519 key" in problems(enabled)["sync.credential_file"]
    mine = DeviceCredential.generate("edge-1")
    monkeypatch.setenv(CREDENTIAL_ENV, mine.text())  # the environment overrides the file
    sync = parse_config({**SITE, "sync": enabled}).sync
    assert sync.credential("edge-1").key_id == mine.key_id


def test_credential_text_reads_the_file_when_the_environment_has_none(tmp_path: Path) -> None:
    path = tmp_path / "cred"
    path.write_text("  sgdev1.edge-1.k.x  \n")
    assert SyncSettings(credential_file=path).credential_text({}) == "sgdev1.edge-1.k.x"
    with pytest.raises(ValueError, match="cannot read"):
        SyncSettings(credential_file=tmp_path / "missing").credential_text({})


def test_check_config_exits_2_for_another_devices_credential(tmp_path: Path) -> None:
    cred = tmp_path / "cred"
    cred.write_text(DeviceCredential.generate("edge-9").text())
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({**SITE, "sync": {"enabled": True, "url": "https://cloud.example",
                                                     "credential_file": str(cred)}}))
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "edge_runtime", "check-config", str(site)], capture_output=True,
                            text=True, timeout=60, cwd=REPO, env=env)
    assert result.returncode == 2 and "sync.credential_file" in result.stderr
