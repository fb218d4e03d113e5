"""Man-down from a wearable's accelerometer: no-motion and fall.

- No-motion: |a| within ``motion_threshold_g`` of 1 g for ``no_motion_s``
  -> pre-alarm on the wearable for ``cancel_window_s`` -> ``man_down``
  (NO_MOTION). Judged only while accelerometer samples keep arriving: a
  silent wearable is LINK_LOST (link_loss.py), not a man-down.
- Fall: free fall (|a| < ``free_fall_g``), an impact (|a| > ``impact_g``)
  within ``impact_within_s``, then ``inactivity_s`` without movement ->
  pre-alarm -> ``man_down`` (FALL). Movement within ``settle_s`` of the impact
  (bounce, rolling) only restarts the wait; later movement means the worker
  got up. Free fall lasts ~0.3 s, so fall detection needs >= 10 Hz samples.
- Movement or a cancel press during a pre-alarm cancels it and restarts the
  timer; movement after the alarm reports the condition gone (the engine
  latches it until acknowledged). Escalation to MAN_DOWN is escalation.py's:
  this rule tells the engine (``on_down``) when the base condition changes.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from edge_runtime.alarms.model import AlarmKind, PreAlarm
from edge_runtime.config.people import ManDownSettings
from firmware_bridge.readings import Motion

from .conditions import ConditionBoard
from .wearable_base import Wearer


@dataclass(slots=True)
class _Motion:
    wearer: Wearer
    last_sample: float | None = None  # last accelerometer sample
    last_move: float = 0.0
    free_fall_ts: float | None = None
    impact_ts: float | None = None
    impact_g: float = 0.0
    pre: PreAlarm | None = None  # pending man-down pre-alarm (NO_MOTION or FALL)
    down: AlarmKind | None = None  # NO_MOTION or FALL once the pre-alarm ran out
    down_text: str = ""


class ManDownRule:
    """Per-worker motion state; pre-alarms on the wearable, then ``on_down(worker_id, ts)``."""

    def __init__(self, settings: ManDownSettings, board: ConditionBoard, on_down: Callable[[str, float], None]) -> None:
        md, fall = settings, settings.fall
        self._md = md
        self._board = board
        self._on_down = on_down
        # squared |a| thresholds: no square root on the 25 Hz path
        self._still_lo2 = max(1.0 - md.motion_threshold_g, 0.0) ** 2
        self._still_hi2 = (1.0 + md.motion_threshold_g) ** 2
        self._free_fall2 = fall.free_fall_g**2
        self._impact_within_s = fall.impact_within_s
        self._impact2 = fall.impact_g**2
        self._states: dict[str, _Motion] = {}

    def start(self, wearer: Wearer, ts: float) -> None:
        """First contact with the worker's wearable."""
        self._states[wearer.worker.id] = _Motion(wearer)

    def motion(self, worker_id: str, m: Motion, ts: float) -> None:
        st = self._states[worker_id]
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

    def cancel(self, worker_id: str, ts: float) -> bool:
        """The worker pressed cancel ("I am fine"): stop a pending pre-alarm; whether there was one."""
        st = self._states[worker_id]
        if st.pre is None:
            return False
        self._board.pre_alarm(dataclasses.replace(st.pre, ts=ts, cancelled=True))
        st.pre, st.impact_ts, st.last_move = None, None, ts
        return True

    def is_down(self, worker_id: str) -> bool:
        st = self._states.get(worker_id)
        return st is not None and st.down is not None

    def downed(self) -> list[str]:
        """Workers whose man-down alarm is running."""
        return [w for w, st in self._states.items() if st.down is not None]

    def down(self, worker_id: str) -> tuple[AlarmKind | None, str]:
        """The man-down base condition (NO_MOTION, FALL or None) and its description."""
        st = self._states.get(worker_id)
        return (st.down, st.down_text) if st is not None else (None, "")

    def pre_alarm(self, worker_id: str) -> PreAlarm | None:
        return self._states[worker_id].pre

    def still_for_s(self, worker_id: str, now: float) -> float | None:
        st = self._states[worker_id]
        return now - st.last_move if st.last_sample is not None else None

    def tick(self, worker_id: str, now: float) -> None:
        """Fall confirmation, no-motion and the pre-alarm deadline."""
        st = self._states[worker_id]
        if st.last_sample is None:
            return
        md = self._md
        # stillness must be seen: the samples themselves cover the whole still period, so a
        # wearable that merely went quiet is a lost link (LINK_LOST), never a man-down
        still_seen = st.last_sample - st.last_move
        if st.impact_ts is not None and still_seen >= md.fall.inactivity_s:
            text = f"{st.wearer.label}: fall detected (free fall, {st.impact_g:.1f} g impact, then no movement)"
            st.impact_ts = None
            self._start_pre(st, AlarmKind.FALL, text, now)
        elif st.pre is None and st.down is None and still_seen >= md.no_motion_s:
            text = f"{st.wearer.label}: no movement for {md.no_motion_s:.0f} s (man-down)"
            self._start_pre(st, AlarmKind.NO_MOTION, text, now)
        if st.pre is not None and now >= st.pre.deadline_ts:
            st.down, st.pre = st.pre.kind, None
            st.down_text += "; pre-alarm not cancelled"
            self._on_down(worker_id, now)

    def _start_pre(self, st: _Motion, kind: AlarmKind, text: str, now: float) -> None:
        if st.pre is not None:
            self._board.pre_alarm(dataclasses.replace(st.pre, ts=now, cancelled=True))
        st.down_text = text
        worker = st.wearer.worker
        st.pre = PreAlarm(worker.id, worker.wearable, kind, now + self._md.cancel_window_s, now)
        self._board.pre_alarm(st.pre)

    def _moved(self, st: _Motion, ts: float) -> None:
        if st.pre is not None:
            self._board.pre_alarm(dataclasses.replace(st.pre, ts=ts, cancelled=True))
            st.pre = None
        if st.down is not None:
            st.down = None
            self._on_down(st.wearer.worker.id, ts)
