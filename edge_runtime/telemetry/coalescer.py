"""Routine telemetry kept as one slot per wearable until the alarm process takes it.

The alarm process asks for routine telemetry only when it has handled the
last batch, so under overload nothing queues up in front of it: each
wearable's slot keeps the newest heart rate and battery value (an older
value not yet taken is *shed* and counted) and its accelerometer samples
reduced to what man-down and fall detection act on (``motion_window``).
Memory is one slot per wearable whatever the input rate. Events (panic,
cancel, check-in) never pass through here.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .motion_window import MotionReducer, Sample
from .wire import HeartRateTuple, RoutineRecord


@dataclass(slots=True)
class CoalescerCounters:
    messages: int = 0  # telemetry messages that put routine data in a slot
    hr_shed: int = 0  # heart-rate values replaced by a newer one before the alarm process took them
    battery_shed: int = 0
    motion_in: int = 0  # accelerometer samples received
    motion_out: int = 0  # samples handed to fusion after reduction
    batches: int = 0
    max_slots: int = 0  # the most wearables waiting in one batch

    @property
    def shed(self) -> int:
        return self.hr_shed + self.battery_shed


@dataclass(slots=True)
class _Slot:
    hr: HeartRateTuple | None = None
    hr_ts: float = 0.0
    battery: float | None = None
    battery_ts: float = 0.0
    motion: list[Sample] = field(default_factory=list)


class Coalescer:
    """Thread-safe: paho's thread puts, the forwarding thread takes."""

    def __init__(self, reducer: MotionReducer) -> None:
        self._reducer = reducer
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self.counters = CoalescerCounters()

    def put(self, wearable: str, ts: float, hr: HeartRateTuple | None, battery: float | None,
            motion: list[Sample]) -> None:
        """One message's routine readings (any of them may be absent)."""
        c = self.counters
        with self._lock:
            slot = self._slots.get(wearable)
            if slot is None:
                slot = self._slots[wearable] = _Slot()
            c.messages += 1
            if hr is not None:
                if slot.hr is not None:
                    c.hr_shed += 1
                slot.hr, slot.hr_ts = hr, ts
            if battery is not None:
                if slot.battery is not None:
                    c.battery_shed += 1
                slot.battery, slot.battery_ts = battery, ts
            if motion:
                c.motion_in += len(motion)
                before = len(slot.motion)
                slot.motion = self._reducer.reduce(slot.motion + motion)
                c.motion_out += len(slot.motion) - before

    def pending(self) -> int:
        """Wearables with something waiting."""
        return len(self._slots)

    def take(self) -> list[RoutineRecord]:
        """Everything waiting, as wire records; the slots start empty again."""
        with self._lock:
            slots, self._slots = self._slots, {}
        c = self.counters
        c.batches += 1
        c.max_slots = max(c.max_slots, len(slots))
        return [(w, s.hr, s.hr_ts, s.battery, s.battery_ts, s.motion) for w, s in slots.items()]
