"""A min-heap of timer deadlines with lazy cancellation.

tick() runs four times a second over possibly thousands of alarms, so it must
not scan them: it pops only what is due. Cancelling or moving a deadline does
not touch the heap; the owner keeps the live deadline on its record and a
popped entry whose deadline no longer matches is simply stale.
"""
from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Hashable


class Timer(enum.Enum):
    ON_DELAY = "on_delay"  # target: the condition key
    OFF_DELAY = "off_delay"  # the rest target an alarm id
    RE_ALARM = "re_alarm"
    MUTE = "mute"
    SHELVE = "shelve"


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer, Hashable]] = []
        self._seq = itertools.count()  # ties never compare timers or targets

    def push(self, due: float, timer: Timer, target: Hashable) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), timer, target))

    def pop_due(self, now: float) -> tuple[float, Timer, Hashable] | None:
        """The earliest entry due at or before ``now``, or None."""
        heap = self._heap
        if not heap or heap[0][0] > now:
            return None
        due, _, timer, target = heapq.heappop(heap)
        return due, timer, target
