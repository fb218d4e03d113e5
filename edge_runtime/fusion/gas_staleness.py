"""Stale gas sensors, judged per tick: ``gas_fault:{gas}:stale``, or ``gas_fault:all:stale``
when the whole detector went quiet (then it is no longer *live*).

Fixed detectors are expected from start-up; a portable one once it has spoken.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from edge_runtime.alarms.model import AlarmKind

from .conditions import ConditionBoard
from .gas_detectors import ALL, DetectorState, report_fault


class StalenessRule:
    """Which sensors and detectors stopped reporting; ``on_live(det, now)`` when a detector's liveness changes."""

    def __init__(self, board: ConditionBoard, on_live: Callable[[DetectorState, float], None]) -> None:
        self._board = board
        self._on_live = on_live

    def tick(self, detectors: Iterable[DetectorState], now: float) -> None:
        """Stale sensors and detectors."""
        for det in detectors:
            if not det.sensors or det.all_stale:
                continue  # silent detectors change only when a reading arrives, and the reading re-checks
            if det.live and not det.some_stale:  # steady state: a comparison per sensor, nothing else
                late = now - det.stale_after
                for sensor in det.sensors.values():
                    if sensor.last_ts < late:
                        break
                else:
                    continue
            self.check(det, now)

    def check(self, det: DetectorState, now: float) -> None:
        stale = [now - s.last_ts > det.stale_after for s in det.sensors.values()]
        all_stale = all(stale)
        for sensor, late in zip(det.sensors.values(), stale, strict=True):
            want = late and not all_stale
            if want != sensor.stale:
                sensor.stale = want
                report_fault(self._board, det, sensor.gas.value, "stale", AlarmKind.GAS_SENSOR_STALE, now,
                             f"No {sensor.gas.value} reading from detector {det.cfg.id} {det.where} within "
                             f"{det.stale_after:g} s" if want else None,
                             f"{sensor.gas.value} readings from detector {det.cfg.id} resumed")
        det.some_stale = any(stale)
        if all_stale != det.all_stale:
            det.all_stale = all_stale
            report_fault(self._board, det, ALL, "stale", AlarmKind.GAS_SENSOR_STALE, now,
                         f"No reading at all from detector {det.cfg.id} {det.where} within {det.stale_after:g} s"
                         if all_stale else None, f"Detector {det.cfg.id} reporting again")
        if det.live == all_stale:
            det.live = not all_stale
            self._on_live(det, now)
