"""Worker-to-equipment distance bands (DOMAIN.md: advisory 3-8 m, critical 1-3 m,
emergency < 1 m) reported as ``proximity:{equipment}`` on the worker.

Priorities: advisory uses the configured PROXIMITY priority; the critical band
is at least HIGH and the emergency band CRITICAL (escalation of the same key),
because at a metre from a moving machine there is no time for a lower tier.
Equipment stands where the config puts it, or follows its GPS tag. Only fresh
worker positions are evaluated: a stale one neither raises nor clears.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from edge_runtime.alarms.model import AlarmKind, Notify, Priority
from edge_runtime.config.people import Worker
from edge_runtime.config.zones import Equipment, ProximitySettings

from .conditions import ConditionBoard, Level, classify, worker_label, worker_subject


class ProximityMonitor:
    """Distance bands between every tracked worker and every located machine."""

    def __init__(
        self,
        settings: ProximitySettings,
        equipment: tuple[Equipment, ...],
        workers: tuple[Worker, ...],
        board: ConditionBoard,
    ) -> None:
        self._board = board
        base = board.priority(AlarmKind.PROXIMITY)
        h, k = settings.hysteresis_m, AlarmKind.PROXIMITY
        self._bands = (
            Level(k, settings.emergency_m, "low", h, Priority.CRITICAL, "emergency"),
            Level(k, settings.critical_m, "low", h, max(base, Priority.HIGH), "critical"),
            Level(k, settings.advisory_m, "low", h, base, "advisory"),
        )
        self._equipment = {e.id: e for e in equipment}
        self._at: dict[str, tuple[float, float]] = {e.id: e.position for e in equipment if e.position is not None}
        self._labels = {w.id: worker_label(w) for w in workers}
        self._far = settings.advisory_m + h  # beyond this a pair in no band stays in none
        self._band: dict[str, dict[str, int]] = {w.id: {} for w in workers}  # worker -> machine -> band

    def worker_moved(self, worker_id: str, x: float, y: float, ts: float) -> None:
        """Evaluate a worker's fresh position against every located machine."""
        bands = self._band[worker_id]
        for equipment_id, (ex, ey) in self._at.items():
            distance = math.hypot(x - ex, y - ey)
            if distance < self._far or equipment_id in bands:
                self._evaluate(worker_id, equipment_id, distance, ts)

    def equipment_moved(
        self, equipment_id: str, x: float, y: float, ts: float, workers: Iterable[tuple[str, float, float]]
    ) -> None:
        """Move a GPS-tracked machine and evaluate it against workers' fresh positions."""
        self._at[equipment_id] = (x, y)
        for worker_id, wx, wy in workers:
            distance = math.hypot(wx - x, wy - y)
            if distance < self._far or equipment_id in self._band[worker_id]:
                self._evaluate(worker_id, equipment_id, distance, ts)

    def _evaluate(self, worker_id: str, equipment_id: str, distance: float, ts: float) -> None:
        bands = self._band[worker_id]
        current = bands.get(equipment_id)
        band = classify(self._bands, distance, current)
        if band == current:
            return
        subject, condition = worker_subject(worker_id), f"proximity:{equipment_id}"
        label, machine = self._labels[worker_id], self._machine_label(equipment_id)
        if band is None:
            del bands[equipment_id]
            self._board.clear(subject, condition, ts, f"{label} clear of {machine} ({distance:.1f} m)", value=distance)
            return
        bands[equipment_id] = band
        lv = self._bands[band]
        self._board.raise_(
            subject, condition, AlarmKind.PROXIMITY, ts,
            f"{label} {distance:.1f} m from {machine}: {lv.name} proximity band (< {lv.threshold:g} m)",
            priority=lv.priority, value=distance, threshold=lv.threshold, direction="low",
            notify=Notify(workers=(worker_id,)),
        )

    def _machine_label(self, equipment_id: str) -> str:
        e = self._equipment[equipment_id]
        return f"{e.name} ({e.id})" if e.name else f"equipment {e.id}"
