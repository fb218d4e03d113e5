"""A realistic small site and a harness that drives FusionEngine with an injected clock."""
from __future__ import annotations

import copy
from typing import Any

from edge_runtime.alarms.model import AlarmKind, ConditionUpdate, PreAlarm, Priority
from edge_runtime.config import parse_config
from edge_runtime.fusion import FusionEngine
from edge_runtime.geometry import LocalFrame
from firmware_bridge.readings import Gas, GasSample, GpsFix, Observation, Reading

T0 = 1_700_000_040.0  # on a minute boundary, so minute arithmetic is easy to check by hand
ORIGIN = (51.5, 7.45)


def site(**overrides: Any) -> dict[str, Any]:
    """Tank farm: confined tank z1 (fixed fd1/fd2, attendant Cara), restricted
    substation z2, open yard z3, a crane and an excavator."""
    data: dict[str, Any] = {
        "site": {"id": "tankfarm", "origin_lat": ORIGIN[0], "origin_lon": ORIGIN[1]},
        "workers": [
            {"id": "w07", "name": "Ana", "age": 30, "wearable": "wb07", "detector": "pd07", "gps": "gp07",
             "authorised_zones": ["z2"]},
            {"id": "w08", "name": "Ben", "age": 50, "wearable": "wb08", "detector": "pd08", "gps": "gp08"},
            {"id": "w09", "name": "Cara", "age": 40, "wearable": "wb09", "gps": "gp09", "role": "attendant"},
            {"id": "w10", "name": "Dev", "age": 35, "wearable": "wb10", "gps": "gp10", "lone_worker": True},
            {"id": "s01", "name": "Sam", "age": 45, "wearable": "wb01", "role": "supervisor"},
        ],
        "zones": [
            {"id": "z1", "name": "Tank 3", "hazard": "confined_space", "attendant": "w09", "dwell_s": 5,
             "polygon": [[0, 0], [40, 0], [40, 40], [0, 40]]},
            {"id": "z2", "name": "Substation", "hazard": "restricted", "dwell_s": 0,
             "polygon": [[100, 0], [140, 0], [140, 40], [100, 40]]},
            {"id": "z3", "name": "Yard", "dwell_s": 0,
             "polygon": [[-200, -200], [-150, -200], [-150, -150], [-200, -150]]},
        ],
        "detectors": [
            {"id": "pd07", "kind": "portable", "gases": ["O2", "CO", "H2S", "LEL"]},
            {"id": "pd08", "kind": "portable", "gases": ["O2", "CO", "H2S", "LEL"]},
            {"id": "fd1", "kind": "fixed", "zone": "z1", "gases": ["H2S", "LEL"]},
            {"id": "fd2", "kind": "fixed", "zone": "z1", "gases": ["H2S"]},
        ],
        "equipment": [
            {"id": "crane1", "name": "Crane 1", "position": [300, 300]},
            {"id": "exc1", "name": "Excavator", "gps": "gpx1"},
        ],
    }
    for key, value in overrides.items():
        data[key] = value
    return copy.deepcopy(data)


class Harness:
    """FusionEngine + recorded outputs + a hand-driven clock."""

    def __init__(self, config: dict[str, Any] | None = None, t0: float = T0) -> None:
        self.t = t0
        self.config = parse_config(config if config is not None else site())
        self.updates: list[ConditionUpdate] = []
        self.pre_alarms: list[PreAlarm] = []
        self.engine = FusionEngine(self.config, self.updates.append, self.pre_alarms.append, clock=lambda: self.t)
        self.frame = LocalFrame(self.config.site.origin_lat, self.config.site.origin_lon)

    def feed(self, device: str, reading: Reading) -> None:
        self.engine.on_observation(Observation(device, reading, self.t))

    def advance(self, seconds: float, step: float = 0.25) -> None:
        """Let time pass with the daemon's tick cadence."""
        end = self.t + seconds
        while self.t + step <= end + 1e-9:
            self.t += step
            self.engine.tick()
        if self.t < end:
            self.t = end
            self.engine.tick()

    def gas(self, device: str, gas: str, value: float, unit: str | None = None, **kw: Any) -> None:
        units = {"O2": "%vol", "LEL": "%LEL"}
        self.feed(device, GasSample(Gas(gas), value, unit or units.get(gas, "ppm"), **kw))

    def fix(self, device: str, x: float, y: float, hdop: float = 1.0) -> None:
        lat, lon = self.frame.to_latlon(x, y)
        self.feed(device, GpsFix("GN", "GGA", True, lat=lat, lon=lon, fix_quality=1, hdop=hdop, satellites=12))

    # -- what came out ------------------------------------------------------------------------

    def of(self, condition: str, subject: str | None = None) -> list[ConditionUpdate]:
        return [u for u in self.updates if u.condition == condition and (subject is None or u.subject.id == subject)]

    def last(self, condition: str, subject: str | None = None) -> ConditionUpdate:
        found = self.of(condition, subject)
        assert found, f"no update for {condition} on {subject}"
        return found[-1]

    def _current(self, condition: str, subject: str | None) -> ConditionUpdate | None:
        found = self.of(condition, subject)
        return found[-1] if found and found[-1].active else None

    def active(self, condition: str, subject: str | None = None) -> bool:
        return self._current(condition, subject) is not None

    def kind(self, condition: str, subject: str | None = None) -> AlarmKind | None:
        u = self._current(condition, subject)
        return u.kind if u is not None else None

    def priority(self, condition: str, subject: str | None = None) -> Priority | None:
        u = self._current(condition, subject)
        return u.priority if u is not None else None
