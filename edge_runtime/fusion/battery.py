"""Low battery of any worker-carried or fixed device (``battery`` on the device).

A technical alarm of lower priority (DOMAIN.md): below ``battery.low_percent``
-> LOW_BATTERY, cleared once the charge is back above it by the kind's
deadband, so a level wobbling at the limit does not flap. The subject is the
device because a worker may carry three battery-powered devices.
"""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind, Notify
from edge_runtime.config.people import BatterySettings

from .conditions import ConditionBoard, Level, classify, device_subject


class BatteryMonitor:
    """Latest charge per device and the LOW_BATTERY band."""

    def __init__(self, settings: BatterySettings, board: ConditionBoard, owners: dict[str, tuple[str, str]]) -> None:
        """``owners`` maps a device id to (worker id, worker label) for workers' devices."""
        self._board = board
        self._owners = owners
        kind = AlarmKind.LOW_BATTERY
        self._band = (Level(kind, settings.low_percent, "low", board.deadband(kind), board.priority(kind), "low"),)
        self._percent: dict[str, float] = {}
        self._low: dict[str, int | None] = {}

    def reading(self, device_id: str, percent: float, ts: float) -> None:
        self._percent[device_id] = percent
        current = self._low.get(device_id)
        low = classify(self._band, percent, current)
        if low == current:
            return
        self._low[device_id] = low
        owner = self._owners.get(device_id)
        whose = f" carried by {owner[1]}" if owner else ""
        subject = device_subject(device_id)
        if low is None:
            self._board.clear(subject, "battery", ts, f"Battery of {device_id}{whose} charged ({percent:.0f} %)",
                              percent)
            return
        threshold = self._band[0].threshold
        self._board.raise_(
            subject, "battery", AlarmKind.LOW_BATTERY, ts,
            f"Battery of {device_id}{whose} low: {percent:.0f} % (under {threshold:g} %)",
            value=percent, threshold=threshold, direction="low",
            notify=Notify(workers=(owner[0],)) if owner else Notify(),
        )

    def percent(self, device_id: str) -> float | None:
        return self._percent.get(device_id)
