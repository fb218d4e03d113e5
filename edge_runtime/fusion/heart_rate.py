"""Heart-rate rules from the wearable's 0x2A37 readings (DOMAIN.md, Heart rate).

- ``hr``: HR above (``high_offset`` − age) on every valid reading for
  ``sustained_high_s`` -> HR_HIGH (heat strain); below ``low_bpm`` for
  ``sustained_low_s`` -> HR_LOW (advisory). A transient spike or dip resets
  the timer; a gap in valid readings longer than ``no_signal_s`` restarts it
  (nothing proves the rate stayed there). Clearing waits for the kind's
  deadband so a rate hovering at the limit does not flap.
- ``hr_signal``: a reading with bpm 0 or the contact bits saying "not
  detected" is *no signal / poor contact*, never "no pulse": HR_NO_SIGNAL
  (low priority) after ``no_signal_s`` without a valid reading while the
  wearable is linked and still talking. Only man-down (motion/fall) can turn a missing pulse into
  an emergency (escalation.py asks :meth:`HeartRateMonitor.problem`).
- PSI (Moran 1998) needs a core temperature; no reading carries one, so the
  sustained-HR rule is the heat-strain rule, as DOMAIN.md prescribes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_runtime.alarms.model import AlarmKind, Notify
from edge_runtime.config.people import HeartRateSettings, Worker
from firmware_bridge.readings import Contact, HeartRate

from .conditions import ConditionBoard, worker_label, worker_subject


@dataclass(slots=True)
class _Pulse:
    label: str
    high: int  # high_offset - age
    last_ts: float  # any reading
    contact: Contact = Contact.UNSUPPORTED
    valid: bool = False
    bpm: int | None = None  # last valid reading
    valid_ts: float | None = None
    signal_ref: float = 0.0  # last valid reading, or the first reading when none was valid yet
    above_since: float | None = None
    below_since: float | None = None
    level: AlarmKind | None = None
    no_signal: bool = False


class HeartRateMonitor:
    """Per-worker pulse state and the ``hr``/``hr_signal`` conditions."""

    def __init__(self, settings: HeartRateSettings, workers: tuple[Worker, ...], board: ConditionBoard) -> None:
        self._s = settings
        self._board = board
        self._workers = {w.id: w for w in workers}
        self._pulses: dict[str, _Pulse] = {}
        self._db_high = board.deadband(AlarmKind.HR_HIGH)
        self._db_low = board.deadband(AlarmKind.HR_LOW)

    def sample(self, worker_id: str, hr: HeartRate, ts: float) -> None:
        p = self._pulses.get(worker_id)
        if p is None:
            w = self._workers[worker_id]
            p = self._pulses[worker_id] = _Pulse(worker_label(w), self._s.high_offset - w.age, ts, signal_ref=ts)
        p.last_ts, p.contact = ts, hr.contact
        bpm = hr.bpm
        if bpm <= 0 or hr.contact is Contact.NOT_DETECTED:
            p.valid = False
            return
        if p.valid_ts is not None and ts - p.valid_ts > self._s.no_signal_s:
            p.above_since = p.below_since = None
        p.valid, p.bpm, p.valid_ts, p.signal_ref = True, bpm, ts, ts
        if p.no_signal:
            p.no_signal = False
            self._board.clear(worker_subject(worker_id), "hr_signal", ts,
                              f"{p.label}: heart-rate signal back ({bpm} bpm)")
        if p.level is AlarmKind.HR_HIGH:
            if bpm <= p.high - self._db_high:
                self._set_level(worker_id, p, None, ts)
        elif p.level is AlarmKind.HR_LOW:
            if bpm >= self._s.low_bpm + self._db_low:
                self._set_level(worker_id, p, None, ts)
        if p.level is None:
            self._sustain(worker_id, p, bpm, ts)

    def tick(self, now: float, heard_after: Callable[[str, float], bool]) -> None:
        """HR_NO_SIGNAL when no valid reading came for ``no_signal_s`` although the
        wearable is linked and kept talking after the last one (a silent wearable
        is LINK_LOST, not a pulse problem)."""
        limit = self._s.no_signal_s
        for worker_id, p in self._pulses.items():
            if not p.no_signal and now - p.signal_ref >= limit and heard_after(worker_id, p.signal_ref):
                p.no_signal = True
                no_contact = p.contact is Contact.NOT_DETECTED
                why = "sensor not in contact with the skin" if no_contact else "no valid pulse reading"
                self._board.raise_(
                    worker_subject(worker_id), "hr_signal", AlarmKind.HR_NO_SIGNAL, now,
                    f"{p.label}: no heart-rate signal for {limit:.0f} s ({why}); check the strap",
                    notify=Notify(workers=(worker_id,)),
                )

    def problem(self, worker_id: str, now: float) -> str | None:
        """Why the pulse is abnormal or missing right now, or None when it looks normal.

        Used only with man-down: there an instantaneous reading matters, not a sustained one."""
        p = self._pulses.get(worker_id)
        if p is None or now - p.last_ts > self._s.no_signal_s:
            return "no heart-rate data"
        if not p.valid or p.bpm is None:
            return "heart rate missing (no pulse signal or no skin contact)"
        if p.bpm > p.high:
            return f"heart rate abnormal ({p.bpm} bpm, above {p.high})"
        if p.bpm < self._s.low_bpm:
            return f"heart rate abnormal ({p.bpm} bpm, below {self._s.low_bpm})"
        return None

    def view(self, worker_id: str, now: float) -> dict[str, Any] | None:
        p = self._pulses.get(worker_id)
        if p is None:
            return None
        return {"bpm": p.bpm, "valid": p.valid, "contact": p.contact.value, "age_s": now - p.last_ts,
                "level": p.level.value if p.level else None, "no_signal": p.no_signal}

    def _sustain(self, worker_id: str, p: _Pulse, bpm: int, ts: float) -> None:
        s = self._s
        if bpm > p.high:
            if p.above_since is None:
                p.above_since = ts
            elif ts - p.above_since >= s.sustained_high_s:
                self._set_level(worker_id, p, AlarmKind.HR_HIGH, ts)
        else:
            p.above_since = None
        if bpm < s.low_bpm:
            if p.below_since is None:
                p.below_since = ts
            elif ts - p.below_since >= s.sustained_low_s:
                self._set_level(worker_id, p, AlarmKind.HR_LOW, ts)
        else:
            p.below_since = None

    def _set_level(self, worker_id: str, p: _Pulse, level: AlarmKind | None, ts: float) -> None:
        p.level = level
        subject = worker_subject(worker_id)
        if level is None:
            p.above_since = p.below_since = None
            self._board.clear(subject, "hr", ts, f"{p.label}: heart rate back to normal ({p.bpm} bpm)", p.bpm)
        elif level is AlarmKind.HR_HIGH:
            self._board.raise_(
                subject, "hr", level, ts,
                f"{p.label}: heart rate over {p.high} bpm ({self._s.high_offset} - age) for "
                f"{_duration(self._s.sustained_high_s)} (now {p.bpm} bpm): heat strain, rest and hydrate",
                value=p.bpm, threshold=p.high, direction="high", notify=Notify(workers=(worker_id,)),
            )
        else:
            self._board.raise_(
                subject, "hr", level, ts,
                f"{p.label}: heart rate under {self._s.low_bpm} bpm for {_duration(self._s.sustained_low_s)} "
                f"(now {p.bpm} bpm)",
                value=p.bpm, threshold=self._s.low_bpm, direction="low", notify=Notify(workers=(worker_id,)),
            )


def _duration(seconds: float) -> str:
    """'5 min' for whole minutes, '45 s' otherwise (demo sites shorten the timers)."""
    return f"{seconds / 60:.0f} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:.0f} s"
