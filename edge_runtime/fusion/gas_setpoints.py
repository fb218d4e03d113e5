"""Gas set points: bands ``gas:{gas}`` per reading (a few comparisons; messages only on a change).

GAS_LOW -> GAS_HIGH -> GAS_OVER_RANGE on the worker carrying the detector (O2
both ways: below ``low`` is deficiency, above ``high`` enrichment).
Over-range (the detector's flag, its full scale, or ``over_range``) is
CRITICAL: > 100 %LEL is an explosion hazard, not a fault to hide. A fixed
detector's bands go to the zone (escalation.py). A reading in a unit that
cannot be compared with the set points is unusable (a reported fault).
"""
from __future__ import annotations

import math

from edge_runtime.alarms.model import AlarmKind
from edge_runtime.config.gas import GasSetPoints, GasSettings
from firmware_bridge.readings import Gas, GasSample

from .conditions import ConditionBoard, Level, classify
from .escalation import Escalation
from .gas_detectors import DetectorState, Sensor, band

_UNIT_SCALE = {("ppb", "ppm"): 1e-3, ("ppm", "ppb"): 1e3, ("%vol", "ppm"): 1e4, ("ppm", "%vol"): 1e-4}


class SetPointRule:
    """Each sensor's band against the site's set points."""

    def __init__(self, settings: GasSettings, board: ConditionBoard, zones: Escalation) -> None:
        self._settings = settings
        self._board = board
        self._zones = zones

    def bands(self, gas: Gas) -> tuple[GasSetPoints | None, tuple[Level, ...]]:
        """The gas's set points and its bands, most severe first (none without set points)."""
        sp = self._settings.set_points.get(gas)
        if sp is None:
            return None, ()
        over_range = sp.over_range if sp.over_range is not None else math.inf  # then only the detector's flag
        return sp, (
            band(self._board, AlarmKind.GAS_OVER_RANGE, over_range, "high", "over-range"),
            band(self._board, AlarmKind.GAS_HIGH, sp.high, "high", "high"),
            band(self._board, AlarmKind.GAS_LOW, sp.low, "low" if sp.direction == "both" else "high", "low"),
        )

    @staticmethod
    def reading(sensor: Sensor, s: GasSample) -> tuple[float | None, str | None]:
        """The sample in the set points' unit, and its fault (the detector's, or an incomparable unit)."""
        value: float | None = s.value
        sp = sensor.set_points
        if sp is not None and s.unit != sp.unit:
            scale = _UNIT_SCALE.get((s.unit, sp.unit))
            value = s.value * scale if scale is not None else None
        elif sp is None:
            sensor.unit = s.unit  # no set points to compare with: show what the detector says
        fault = s.fault
        if value is None and not fault:
            fault = f"unit {s.unit} not comparable with set points in {sensor.unit}"
        return value, fault

    def judge(self, det: DetectorState, sensor: Sensor, s: GasSample, value: float, ts: float) -> None:
        """A usable reading: its band, reported when it changes."""
        if not sensor.levels:
            return
        over = s.over_range or (s.full_range is not None and s.value >= s.full_range)  # both in the sample's unit
        level = 0 if over else classify(sensor.levels, value, sensor.level)
        if level != sensor.level:
            self._level_changed(det, sensor, level, value, ts)

    def _level_changed(self, det: DetectorState, sensor: Sensor, level: int | None, value: float, ts: float) -> None:
        sensor.level = level
        lv = sensor.levels[level] if level is not None else None
        text = _level_text(sensor.gas, value, sensor.unit, lv) if lv is not None else ""
        if det.cfg.kind == "fixed":
            self._zones.fixed_level(det.cfg.id, det.cfg.zone or "", sensor.gas.value, lv, value, text, ts)
        elif lv is None:
            back = f"{sensor.gas.value} back within set points ({value:.1f} {sensor.unit}) {det.where}"
            self._board.clear(det.target, f"gas:{sensor.gas.value}", ts, back, value)
        else:
            self._board.raise_(det.target, f"gas:{sensor.gas.value}", lv.kind, ts, f"{text} {det.where}",
                               priority=lv.priority, value=value, threshold=lv.threshold, direction=lv.direction,
                               notify=det.notify)
        over = any(s.level is not None for s in det.sensors.values())
        if over != det.over:
            det.over = over
            self._zones.detector_over(det.cfg.id, over, ts)


def _level_text(gas: Gas, value: float, unit: str, lv: Level) -> str:
    """"H2S 25.0 ppm over high set point 20 ppm" / "LEL 100.0 %LEL over range (>= 100 %LEL): explosion hazard"."""
    if lv.kind is AlarmKind.GAS_OVER_RANGE:
        limit = f">= {lv.threshold:g} {unit}" if math.isfinite(lv.threshold) else "sensor full scale"
        hazard = ": explosion hazard" if gas is Gas.LEL else ""
        return f"{gas.value} {value:.1f} {unit} over range ({limit}){hazard}"
    side = "below" if lv.direction == "low" else "over"
    return f"{gas.value} {value:.1f} {unit} {side} {lv.name} set point {lv.threshold:g} {unit}"
