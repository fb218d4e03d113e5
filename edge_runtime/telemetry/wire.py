"""What crosses from the ingest process to the alarm process: plain tuples, pickled.

Plain tuples of str/float pickle about ten times faster than the reading
dataclasses, and the alarm process rebuilds readings only for what it uses.
Each frame on a pipe is one ``pickle.dumps`` of a list; the two pipes keep
events (panic, cancel, check-in) from ever queueing behind routine batches.
"""
from __future__ import annotations

import pickle
from typing import Any

from firmware_bridge.readings import Contact, HeartRate, Motion

#: (bpm, contact value, energy_kj, rr_s)
HeartRateTuple = tuple[int, str, "int | None", "tuple[float, ...]"]
#: (wearable, event, received ts): event is one of EVENTS
EventRecord = tuple[str, str, float]
#: (wearable, heart rate, its ts, battery %, its ts, [(ax, ay, az, ts)])
RoutineRecord = tuple[str, "HeartRateTuple | None", float, "float | None", float, list[tuple[float, float, float, float]]]

PANIC, CANCEL, CHECK_IN = "panic", "cancel", "checkin"
EVENTS = (PANIC, CANCEL, CHECK_IN)
#: the alarm process's answer to a routine batch: "handled, send the next"
CREDIT = b"\x01"


def heart_rate_tuple(hr: HeartRate) -> HeartRateTuple:
    return (hr.bpm, hr.contact.value, hr.energy_kj, hr.rr_s)


_CONTACTS = {c.value: c for c in Contact}


def heart_rate(t: HeartRateTuple) -> HeartRate:
    return HeartRate(t[0], _CONTACTS[t[1]], t[2], t[3])


def motion(sample: tuple[float, float, float, float]) -> Motion:
    return Motion(sample[0], sample[1], sample[2])


def encode(frame: Any) -> bytes:
    return pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes) -> Any:
    return pickle.loads(data)
