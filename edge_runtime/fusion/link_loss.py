"""Link loss: no telemetry from a wearable for ``battery.link_lost_s`` -> ``link`` (LINK_LOST) on the device.

Any telemetry at all (motion, heart rate, a button, battery) keeps the link
alive; the first one after a loss reports the condition gone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_runtime.alarms.model import AlarmKind

from .conditions import ConditionBoard, device_subject
from .wearable_base import Wearer


@dataclass(slots=True)
class _Link:
    last_seen: float
    lost: bool = False


class LinkLossRule:
    """Per-wearable last contact; reports ``link`` on the wearable device."""

    def __init__(self, link_lost_s: float, board: ConditionBoard) -> None:
        self._link_lost_s = link_lost_s
        self._board = board
        self._links: dict[str, _Link] = {}

    def start(self, wearer: Wearer, ts: float) -> None:
        """First contact with the worker's wearable."""
        self._links[wearer.worker.id] = _Link(ts)

    def seen(self, wearer: Wearer, ts: float) -> None:
        """Telemetry from a wearable already started: the link is alive."""
        link = self._links[wearer.worker.id]
        if ts > link.last_seen:
            link.last_seen = ts
        if link.lost:
            link.lost = False
            self._board.clear(device_subject(wearer.device), "link", ts, f"Wearable of {wearer.label} back online")

    def tick(self, wearer: Wearer, now: float) -> None:
        link = self._links[wearer.worker.id]
        if not link.lost and now - link.last_seen > self._link_lost_s:
            link.lost = True
            device = wearer.device
            self._board.raise_(device_subject(device), "link", AlarmKind.LINK_LOST, now,
                               f"No telemetry from wearable {device} of {wearer.label} for {self._link_lost_s:.0f} s")

    def heard_after(self, worker_id: str, since: float, now: float) -> bool:
        """The wearable is linked and sent telemetry after ``since``."""
        link = self._links.get(worker_id)
        return link is not None and link.last_seen > since and now - link.last_seen <= self._link_lost_s

    def view(self, worker_id: str) -> dict[str, Any]:
        link = self._links[worker_id]
        return {"last_seen": link.last_seen, "link_lost": link.lost}
