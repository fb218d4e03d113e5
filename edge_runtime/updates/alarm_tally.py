"""Camera alarms and the supervisors' verdicts on them, counted per raise time: the camera slot's performance.

A bus subscriber on alarm transitions: an alarm whose record names a
detector (``model``) is a camera alarm. Bounded to the newest ``capacity``
alarms, so the counts cover the recent past a rollout's health period needs.
"""
from __future__ import annotations

from collections import OrderedDict

from edge_runtime.alarms.model import AlarmTransition, TransitionCause

from .camera_slot import AlarmCounts


class CameraAlarmTally:
    def __init__(self, capacity: int = 2000) -> None:
        self._capacity = capacity
        self._alarms: OrderedDict[str, tuple[float, str | None]] = OrderedDict()  # id -> (raised_ts, verdict)

    def on_transition(self, t: AlarmTransition) -> None:
        alarm = t.alarm
        if t.cause is TransitionCause.RAISED and alarm.model:
            self._alarms[alarm.alarm_id] = (alarm.raised_ts, None)
            while len(self._alarms) > self._capacity:
                self._alarms.popitem(last=False)
        elif t.cause is TransitionCause.VERDICT and alarm.alarm_id in self._alarms and alarm.verdict is not None:
            self._alarms[alarm.alarm_id] = (self._alarms[alarm.alarm_id][0], alarm.verdict.value)

    def counts(self, since_ts: float) -> AlarmCounts:
        seen = [verdict for ts, verdict in self._alarms.values() if ts >= since_ts]
        return AlarmCounts(len(seen), seen.count("confirmed"), seen.count("false_alarm"))
