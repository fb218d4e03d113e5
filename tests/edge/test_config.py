"""Site configuration: strict typing, cross-references, exit code 2 naming the key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge_runtime.config import ConfigError, load_config, parse_config
from edge_runtime.config.reference import reference

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {"site": {"id": "s1", "origin_lat": 51.9, "origin_lon": 4.4}}


def _site(**extra: object) -> dict[str, object]:
    return {**MINIMAL, **extra}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_runtime", *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_defaults_follow_domain_profile() -> None:
    config = parse_config(MINIMAL)
    h2s = config.gas.set_points["H2S"]
    assert (h2s.low, h2s.high, h2s.twa, h2s.stel) == (10, 20, 10, 15)
    assert config.gas.set_points["O2"].direction == "both"
    assert config.man_down.no_motion_s == 120 and config.man_down.cancel_window_s == 30
    assert config.alarms.for_kind("gas_high").latching


def test_override_one_gas_keeps_the_others() -> None:
    config = parse_config(_site(gas={"set_points": {"H2S": {"unit": "ppm", "low": 5, "high": 10}}}))
    assert config.gas.set_points["H2S"].low == 5
    assert config.gas.set_points["CO"].high == 70


def test_override_one_alarm_class_keeps_the_others() -> None:
    config = parse_config(_site(alarms={"classes": {"gas_low": {"priority": 3, "on_delay_s": 2}}}))
    assert config.alarms.for_kind("gas_low").on_delay_s == 2
    assert config.alarms.for_kind("panic").priority == 4


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (_site(mqtt={"prot": 1883}), "mqtt.prot"),
        (_site(mqtt={"port": 70000}), "mqtt.port"),
        (_site(workers=[{"id": "w1", "name": "A", "age": 200}]), "workers.0.age"),
        (_site(workers=[{"id": "w1", "name": "A", "age": 30, "detector": "nope"}]), "workers.0.detector"),
        (_site(zones=[{"id": "z", "polygon": [[0, 0], [1, 1]]}]), "zones.0.polygon"),
        (_site(serial=[{"port": "/dev/ttyUSB0", "protocol": "nmea"}]), "serial.0.device"),
        (_site(serial=[{"port": "/dev/ttyUSB0", "protocol": "zigbee", "device": "x"}]), "serial.0.protocol"),
        ({"site": {"id": "bad/id", "origin_lat": 0, "origin_lon": 0}}, "site.id"),
    ],
)
def test_errors_name_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert key in [k for k, _ in info.value.problems], info.value.problems


def test_check_config_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(MINIMAL))
    ok = run_cli("check-config", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_site(storage={"max_bytes": -1}, mqtt={"hots": "x"})))
    res = run_cli("check-config", str(bad))
    assert res.returncode == 2
    assert "storage.max_bytes" in res.stderr and "mqtt.hots" in res.stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("site: [unclosed")
    assert run_cli("check-config", str(broken)).returncode == 2
    assert run_cli("check-config", str(tmp_path / "missing.yaml")).returncode == 2


def test_daemon_refuses_bad_config_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_site(workers=[{"id": "w1", "name": "A"}])))
    res = run_cli("run", "--config", str(bad))
    assert res.returncode == 2
    assert "workers.0.age" in res.stderr


def test_reference_doc_is_current() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    assert doc == reference(), "regenerate: python -m edge_runtime.config.reference > docs/configuration.md"


def test_shipped_site_files_validate() -> None:
    for path in [REPO / "k3s" / "site.example.yaml"]:
        load_config(path)
    for path in (REPO / "k3s").rglob("*.yaml"):
        list(yaml.safe_load_all(path.read_text()))


def test_the_roster_names_each_workers_sensors_and_each_zones_fixed_detectors() -> None:
    config = parse_config(_site(
        zones=[{"id": "tank", "name": "Tank", "polygon": [[0, 0], [10, 0], [10, 10]]}],
        workers=[{"id": "w1", "name": "Ann", "age": 40, "wearable": "wb-1", "detector": "pd-1", "gps": "gps-1"},
                 {"id": "w2", "name": "Bo", "age": 30, "wearable": "wb-2"}],
        detectors=[{"id": "pd-1", "kind": "portable", "gases": ["H2S"]},
                   {"id": "fx-1", "kind": "fixed", "zone": "tank", "gases": ["LEL"]}],
    ))
    assert config.roster() == {"w1": ["wb-1", "pd-1", "gps-1"], "w2": ["wb-2"], "zone:tank": ["fx-1"]}
