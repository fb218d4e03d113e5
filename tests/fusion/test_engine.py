"""Routing, snapshot/restore across a restart, views and robustness."""
from __future__ import annotations

import json

import pytest

from edge_runtime.alarms.model import AlarmKind, ConditionUpdate
from edge_runtime.config import parse_config
from edge_runtime.fusion import FusionEngine
from firmware_bridge.readings import Battery, Contact, Gas, GasSample, HeartRate, Motion, Observation

from .support import T0, Harness, site


def test_unknown_devices_are_counted_and_dropped() -> None:
    h = Harness()
    h.feed("stranger", GasSample(Gas.H2S, 500.0, "ppm"))
    h.feed("stranger", Battery(3))
    assert h.engine.unknown_devices == 2
    assert h.updates == []


def test_a_reading_the_device_role_does_not_use_is_dropped() -> None:
    h = Harness()
    h.feed("wb07", GasSample(Gas.H2S, 500.0, "ppm"))  # a wearable does not carry a gas sensor here
    h.feed("pd07", Motion(0, 0, 1))
    assert h.updates == [] and h.engine.unknown_devices == 0


def minutes_of_h2s(h: Harness, value: float, n: int) -> None:
    for _ in range(n):
        for _ in range(6):
            h.gas("pd07", "H2S", value)
            h.advance(10, step=5)


def test_snapshot_restore_continues_stel_and_twa_across_a_restart() -> None:
    cfg = site(gas={"exposure": {"twa_window_min": 60}})
    control = Harness(cfg)
    minutes_of_h2s(control, 16.0, 15)

    before = Harness(cfg)
    minutes_of_h2s(before, 16.0, 10)
    state = json.loads(json.dumps(before.engine.snapshot()))
    after = Harness(cfg, t0=before.t)  # the daemon restarts at once
    after.engine.restore(state)
    minutes_of_h2s(after, 16.0, 5)

    for h in (control, after):
        view = h.engine.worker_view("w07")["gas"]["H2S"]
        assert view["stel"] == pytest.approx(16.0) and view["twa"] == pytest.approx(16.0 * 15 / 60)
    assert after.kind("stel:H2S", "w07") is AlarmKind.GAS_STEL  # raised by the restarted engine
    assert control.last("stel:H2S").ts == after.last("stel:H2S").ts


def test_restore_ignores_an_unknown_snapshot_version() -> None:
    h = Harness()
    h.engine.restore({"version": 99, "exposure": {"w07": {}}})
    h.engine.restore({"version": 1, "exposure": {"ghost": {"H2S": {}}}})
    assert h.engine.snapshot() == {"version": 1, "exposure": {}}


def test_worker_view_for_dashboards() -> None:
    h = Harness()
    h.fix("gp07", 20.0, 20.0)
    h.feed("wb07", HeartRate(92, Contact.DETECTED))
    h.feed("wb07", Battery(64))
    h.gas("pd07", "CO", 12.0)
    h.advance(2)
    view = h.engine.worker_view("w07")
    assert view["worker"] == "w07" and view["name"] == "Ana"
    assert view["position"]["stale"] is False and view["zones"] == []
    assert view["hr"]["bpm"] == 92 and view["hr"]["contact"] == "detected"
    assert view["gas"]["CO"]["value"] == 12.0 and view["gas"]["CO"]["unit"] == "ppm"
    assert view["gas"]["CO"]["stel"] == 0.0 and "twa" in view["gas"]["CO"]
    assert view["battery"] == {"wb07": 64}
    assert view["last_seen"] == T0
    json.dumps(view)
    with pytest.raises(KeyError):
        h.engine.worker_view("nobody")


def test_a_failing_consumer_never_stops_fusion() -> None:
    seen: list[ConditionUpdate] = []

    def flaky(update: ConditionUpdate) -> None:
        seen.append(update)
        raise RuntimeError("consumer down")

    engine = FusionEngine(parse_config(site()), flaky, lambda p: None, clock=lambda: T0)
    engine.on_observation(Observation("pd07", GasSample(Gas.H2S, 25.0, "ppm"), T0))
    engine.on_observation(Observation("pd07", GasSample(Gas.CO, 80.0, "ppm"), T0))
    assert [u.condition for u in seen] == ["gas:H2S", "gas:CO"]


def test_check_in_for_an_unknown_worker_is_ignored() -> None:
    h = Harness()
    h.engine.check_in("ghost")
    assert h.engine.cancel_pre_alarm("ghost") is False
