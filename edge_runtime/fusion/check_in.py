"""Lone-worker check-in (``Worker.lone_worker``).

Every ``check_in.interval_s`` from the first telemetry a check-in (button,
app or API) is due; missed -> pre-alarm on the wearable for
``check_in.cancel_window_s`` -> ``check_in`` (CHECK_IN_MISSED) to the
worker's responders. A check-in, or a cancel press during the pre-alarm,
restarts the timer.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edge_runtime.alarms.model import AlarmKind, Notify, PreAlarm
from edge_runtime.config.people import CheckInSettings

from .conditions import ConditionBoard, worker_subject
from .wearable_base import Responders, Wearer


@dataclass(slots=True)
class _CheckIn:
    due: float | None  # lone workers only
    pre: PreAlarm | None = None
    missed: bool = False


class CheckInRule:
    """Per-worker check-in timer and pre-alarm; reports ``check_in``."""

    def __init__(self, settings: CheckInSettings, board: ConditionBoard, responders: Responders) -> None:
        self._check = settings
        self._board = board
        self._responders = responders
        self._states: dict[str, _CheckIn] = {}

    def start(self, wearer: Wearer, ts: float) -> None:
        """First contact: a lone worker's first check-in falls due one interval later."""
        self._states[wearer.worker.id] = _CheckIn(ts + self._check.interval_s if wearer.worker.lone_worker else None)

    def check_in(self, wearer: Wearer, ts: float) -> None:
        """A check-in restarts the lone worker's timer."""
        worker_id = wearer.worker.id
        st = self._states[worker_id]
        if st.pre is not None:
            self._board.pre_alarm(dataclasses.replace(st.pre, ts=ts, cancelled=True))
            st.pre = None
        if st.missed:
            st.missed = False
            self._board.clear(worker_subject(worker_id), "check_in", ts, f"{wearer.label} checked in")
        if st.due is not None:
            st.due = ts + self._check.interval_s

    def cancel(self, wearer: Wearer, ts: float) -> bool:
        """A cancel press answers a pending pre-alarm as a check-in; whether there was one."""
        if self._states[wearer.worker.id].pre is None:
            return False
        self.check_in(wearer, ts)
        return True

    def tick(self, wearer: Wearer, now: float) -> None:
        worker_id = wearer.worker.id
        st = self._states[worker_id]
        if st.due is None:
            return
        if st.pre is not None:
            if now >= st.pre.deadline_ts:
                st.pre, st.missed = None, True
                self._board.raise_(
                    worker_subject(worker_id), "check_in", AlarmKind.CHECK_IN_MISSED, now,
                    f"{wearer.label} (lone worker) missed the check-in due every {self._check.interval_s / 60:.0f} min "
                    "and did not answer the pre-alarm",
                    notify=Notify(workers=self._responders(worker_id, now)),
                )
        elif not st.missed and now >= st.due:
            deadline = now + self._check.cancel_window_s
            st.pre = PreAlarm(worker_id, wearer.worker.wearable, AlarmKind.CHECK_IN_MISSED, deadline, now)
            self._board.pre_alarm(st.pre)

    def pre_alarm(self, worker_id: str) -> PreAlarm | None:
        return self._states[worker_id].pre

    def due(self, worker_id: str) -> float | None:
        return self._states[worker_id].due
