"""Wearable rules: no-motion, fall, panic, lone-worker check-in and the link.

- No-motion: |a| within ``motion_threshold_g`` of 1 g for ``no_motion_s``
  -> pre-alarm on the wearable for ``cancel_window_s`` -> ``man_down``
  (NO_MOTION). Judged only while accelerometer samples keep arriving: a
  silent wearable is LINK_LOST, not a man-down.
- Fall: free fall (|a| < ``free_fall_g``), an impact (|a| > ``impact_g``)
  within ``impact_within_s``, then ``inactivity_s`` without movement ->
  pre-alarm -> ``man_down`` (FALL). Movement within ``settle_s`` of the impact
  (bounce, rolling) only restarts the wait; later movement means the worker
  got up. Free fall lasts ~0.3 s, so fall detection needs >= 10 Hz samples.
- Movement or a cancel press during a pre-alarm cancels it and restarts the
  timer; movement after the alarm reports the condition gone (the engine
  latches it until acknowledged). Escalation to MAN_DOWN is escalation.py's.
- Panic: pressed -> ``panic`` (PANIC) at once, no delay; cancel withdraws it.
- Check-in (``Worker.lone_worker``): every ``check_in.interval_s`` from the
  first telemetry; missed -> pre-alarm -> ``check_in`` (CHECK_IN_MISSED).
- Link: no telemetry from the wearable for ``battery.link_lost_s`` -> ``link``
  (LINK_LOST) on the wearable device.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_runtime.alarms.model import AlarmKind, Notify, PreAlarm
from edge_runtime.config.people import Worker
from edge_runtime.config.site import SiteConfig
from firmware_bridge.readings import Motion

from .conditions import ConditionBoard, device_subject, worker_label, worker_subject

Responders = Callable[[str, float], tuple[str, ...]]


@dataclass(slots=True)
class _Wearable:
    worker: Worker
    label: str
    last_seen: float
    check_due: float | None  # lone workers only
    last_sample: float | None = None  # last accelerometer sample
    last_move: float = 0.0
    free_fall_ts: float | None = None
    impact_ts: float | None = None
    impact_g: float = 0.0
    pre: PreAlarm | None = None  # pending man-down pre-alarm (NO_MOTION or FALL)
    down: AlarmKind | None = None  # NO_MOTION or FALL once the pre-alarm ran out
    down_text: str = ""
    check_pre: PreAlarm | None = None
    check_missed: bool = False
    panic: bool = False
    link_lost: bool = False


class WearableMonitor:
    """Per-worker wearable state; reports panic, check_in and link, and tells
    the engine (``on_down``) when the man-down base condition changes."""

    def __init__(
        self, config: SiteConfig, board: ConditionBoard, responders: Responders, on_down: Callable[[str, float], None]
    ) -> None:
        md, fall = config.man_down, config.man_down.fall
        self._md = md
        self._check = config.check_in
        self._link_lost_s = config.battery.link_lost_s
        self._board = board
        self._responders = responders
        self._on_down = on_down
        self._workers = {w.id: w for w in config.workers}
        # squared |a| thresholds: no square root on the 25 Hz path
        self._still_lo2 = max(1.0 - md.motion_threshold_g, 0.0) ** 2
        self._still_hi2 = (1.0 + md.motion_threshold_g) ** 2
        self._free_fall2 = fall.free_fall_g**2
        self._impact_within_s = fall.impact_within_s
        self._impact2 = fall.impact_g**2
        self._states: dict[str, _Wearable] = {}

    def seen(self, worker_id: str, ts: float) -> _Wearable:
        """Any telemetry from the worker's wearable: the link is alive."""
        st = self._states.get(worker_id)
        if st is None:
            return self._start(worker_id, ts)
        if ts > st.last_seen:
            st.last_seen = ts
        if st.link_lost:
            st.link_lost = False
            device = st.worker.wearable or worker_id
            self._board.clear(device_subject(device), "link", ts, f"Wearable of {st.label} back online")
        return st

    def motion(self, worker_id: str, m: Motion, ts: float) -> None:
        st = self.seen(worker_id, ts)
        m2 = m.ax * m.ax + m.ay * m.ay + m.az * m.az
        if st.last_sample is None:
            st.last_move = ts
        st.last_sample = ts
        if m2 < self._free_fall2:
            st.free_fall_ts = ts
        elif m2 > self._impact2 and st.free_fall_ts is not None and ts - st.free_fall_ts <= self._impact_within_s:
            st.impact_ts, st.impact_g, st.free_fall_ts = ts, math.sqrt(m2), None
        if m2 > self._still_hi2 or m2 < self._still_lo2:
            if st.impact_ts is not None and ts - st.impact_ts > self._md.fall.settle_s:
                st.impact_ts = None  # moving well after the impact: got up
            st.last_move = ts
            if st.pre is not None or st.down is not None:
                self._moved(st, ts)

    def panic(self, worker_id: str, pressed: bool, ts: float) -> None:
        """Pressed raises PANIC at once; a cancel press cancels pre-alarms and withdraws it."""
        st = self.seen(worker_id, ts)
        subject = worker_subject(worker_id)
        if not pressed:
            self.cancel(worker_id, ts)
            if st.panic:
                st.panic = False
                self._board.clear(subject, "panic", ts, f"{st.label} cancelled the panic alarm")
            return
        if not st.panic:
            st.panic = True
            self._board.raise_(subject, "panic", AlarmKind.PANIC, ts, f"{st.label} pressed the panic button",
                               notify=Notify(workers=self._responders(worker_id, ts)))

    def check_in(self, worker_id: str, ts: float) -> None:
        """A check-in (button, app or API) restarts the lone worker's timer."""
        st = self._states.get(worker_id) or self._start(worker_id, ts)
        if st.check_pre is not None:
            self._board.pre_alarm(dataclasses.replace(st.check_pre, ts=ts, cancelled=True))
            st.check_pre = None
        if st.check_missed:
            st.check_missed = False
            self._board.clear(worker_subject(worker_id), "check_in", ts, f"{st.label} checked in")
        if st.check_due is not None:
            st.check_due = ts + self._check.interval_s

    def cancel(self, worker_id: str, ts: float) -> bool:
        """The worker pressed cancel: stop pending pre-alarms ("I am fine")."""
        st = self._states.get(worker_id)
        if st is None:
            return False
        had_pre = st.pre is not None or st.check_pre is not None
        if st.pre is not None:
            self._board.pre_alarm(dataclasses.replace(st.pre, ts=ts, cancelled=True))
            st.pre, st.impact_ts, st.last_move = None, None, ts
        if st.check_pre is not None:
            self.check_in(worker_id, ts)
        return had_pre

    def is_down(self, worker_id: str) -> bool:
        st = self._states.get(worker_id)
        return st is not None and st.down is not None

    def downed(self) -> list[str]:
        """Workers whose man-down alarm is running (their pulse is re-judged every tick)."""
        return [w for w, st in self._states.items() if st.down is not None]

    def down(self, worker_id: str) -> tuple[AlarmKind | None, str]:
        """The man-down base condition (NO_MOTION, FALL or None) and its description."""
        st = self._states.get(worker_id)
        return (st.down, st.down_text) if st is not None else (None, "")

    def heard_after(self, worker_id: str, since: float, now: float) -> bool:
        """The wearable is linked and sent telemetry after ``since``."""
        st = self._states.get(worker_id)
        return st is not None and st.last_seen > since and now - st.last_seen <= self._link_lost_s

    def tick(self, now: float) -> None:
        """Link, fall confirmation, no-motion, pre-alarm deadlines and check-ins."""
        for worker_id, st in self._states.items():
            if not st.link_lost and now - st.last_seen > self._link_lost_s:
                st.link_lost = True
                device = st.worker.wearable or worker_id
                self._board.raise_(device_subject(device), "link", AlarmKind.LINK_LOST, now,
                                   f"No telemetry from wearable {device} of {st.label} for {self._link_lost_s:.0f} s")
            if st.last_sample is not None:
                self._man_down_timers(worker_id, st, now)
            if st.check_due is not None:
                self._check_in_timers(worker_id, st, now)

    def view(self, worker_id: str, now: float) -> dict[str, Any] | None:
        st = self._states.get(worker_id)
        if st is None:
            return None
        return {
            "last_seen": st.last_seen, "link_lost": st.link_lost,
            "still_for_s": now - st.last_move if st.last_sample is not None else None,
            "pre_alarm": st.pre.kind.value if st.pre else (st.check_pre.kind.value if st.check_pre else None),
            "down": st.down.value if st.down else None, "panic": st.panic, "check_in_due": st.check_due,
        }

    def _start(self, worker_id: str, ts: float) -> _Wearable:
        w = self._workers[worker_id]
        st = _Wearable(w, worker_label(w), ts, ts + self._check.interval_s if w.lone_worker else None)
        self._states[worker_id] = st
        return st

    def _man_down_timers(self, worker_id: str, st: _Wearable, now: float) -> None:
        md = self._md
        assert st.last_sample is not None
        # stillness must be seen: the samples themselves cover the whole still period, so a
        # wearable that merely went quiet is a lost link (LINK_LOST), never a man-down
        still_seen = st.last_sample - st.last_move
        if st.impact_ts is not None and still_seen >= md.fall.inactivity_s:
            text = f"{st.label}: fall detected (free fall, {st.impact_g:.1f} g impact, then no movement)"
            st.impact_ts = None
            self._start_pre(st, AlarmKind.FALL, text, now)
        elif st.pre is None and st.down is None and still_seen >= md.no_motion_s:
            text = f"{st.label}: no movement for {md.no_motion_s:.0f} s (man-down)"
            self._start_pre(st, AlarmKind.NO_MOTION, text, now)
        if st.pre is not None and now >= st.pre.deadline_ts:
            st.down, st.pre = st.pre.kind, None
            st.down_text += "; pre-alarm not cancelled"
            self._on_down(worker_id, now)

    def _check_in_timers(self, worker_id: str, st: _Wearable, now: float) -> None:
        if st.check_pre is not None:
            if now >= st.check_pre.deadline_ts:
                st.check_pre, st.check_missed = None, True
                self._board.raise_(
                    worker_subject(worker_id), "check_in", AlarmKind.CHECK_IN_MISSED, now,
                    f"{st.label} (lone worker) missed the check-in due every {self._check.interval_s / 60:.0f} min "
                    "and did not answer the pre-alarm",
                    notify=Notify(workers=self._responders(worker_id, now)),
                )
        elif not st.check_missed and st.check_due is not None and now >= st.check_due:
            deadline = now + self._check.cancel_window_s
            st.check_pre = PreAlarm(worker_id, st.worker.wearable, AlarmKind.CHECK_IN_MISSED, deadline, now)
            self._board.pre_alarm(st.check_pre)

    def _start_pre(self, st: _Wearable, kind: AlarmKind, text: str, now: float) -> None:
        if st.pre is not None:
            self._board.pre_alarm(dataclasses.replace(st.pre, ts=now, cancelled=True))
        st.down_text = text
        st.pre = PreAlarm(st.worker.id, st.worker.wearable, kind, now + self._md.cancel_window_s, now)
        self._board.pre_alarm(st.pre)

    def _moved(self, st: _Wearable, ts: float) -> None:
        if st.pre is not None:
            self._board.pre_alarm(dataclasses.replace(st.pre, ts=ts, cancelled=True))
            st.pre = None
        if st.down is not None:
            st.down = None
            self._on_down(st.worker.id, ts)
