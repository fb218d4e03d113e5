"""Alarm-flood detection and grouping (EEMUA 191: >= 10 alarms in 10 min).

A flood keeps every alarm; it only tags the alarms raised while it lasts with
one ``flood_group`` id, so the dashboard can fold them and show the most urgent
first. The flood starts with the ``count``-th raise inside the window (that
alarm is the first of the group; the ones leading up to it, often the root
cause, stay on their own) and ends when fewer than ``end_below`` raises remain
inside the window, so a steady stream near the threshold stays one flood.
Only announced raises count: born-hidden (suppressed, out-of-service) alarms
load nobody.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_runtime.alarms.model import Alarm, Priority

if TYPE_CHECKING:
    from edge_runtime.config.alarms import FloodSettings

_PRIORITIES_DESC = tuple(sorted(Priority, reverse=True))


@dataclass(frozen=True, slots=True)
class FloodSummary:
    """What the dashboard shows for the flood in progress."""

    group: str
    started_ts: float
    raised: int  # alarms tagged with the group so far, open or closed
    open_by_priority: dict[Priority, int]  # every priority, highest first
    top: tuple[str, ...]  # open alarms of the highest priority present, oldest first


class FloodTracker:
    def __init__(self, settings: FloodSettings, new_id: Callable[[], str]) -> None:
        self._count = settings.count
        self._window_s = settings.window_s
        self._end_below = settings.end_below or max(1, settings.count // 2)
        self._new_id = new_id
        self._recent: deque[float] = deque()
        self.group: str | None = None
        self.started_ts: float | None = None
        self.members: list[str] = []

    @property
    def active(self) -> bool:
        return self.group is not None

    def on_raise(self, alarm_id: str, ts: float) -> str | None:
        """Count one announced raise; returns the flood group it belongs to, if any."""
        self.expire(ts)
        self._recent.append(ts)
        if self.group is None and len(self._recent) >= self._count:
            self.group, self.started_ts, self.members = self._new_id(), ts, []
        if self.group is not None:
            self.members.append(alarm_id)
        return self.group

    def expire(self, now: float) -> None:
        """Drop raises older than the window; end the flood once the rate has fallen."""
        recent, oldest = self._recent, now - self._window_s
        while recent and recent[0] < oldest:
            recent.popleft()
        if self.group is not None and len(recent) < self._end_below:
            self.group, self.started_ts, self.members = None, None, []

    def summary(self, open_members: Iterable[Alarm]) -> FloodSummary | None:
        """The flood in progress, given its members that are still open; None when there is none."""
        if self.group is None or self.started_ts is None:
            return None
        counts = dict.fromkeys(_PRIORITIES_DESC, 0)
        members = list(open_members)
        for alarm in members:
            counts[alarm.priority] += 1
        highest = max((a.priority for a in members), default=None)
        top = tuple(a.alarm_id for a in sorted(members, key=lambda a: a.raised_ts) if a.priority == highest)
        return FloodSummary(self.group, self.started_ts, len(self.members), counts, top)
