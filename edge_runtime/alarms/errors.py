"""One exception root for the alarm engine, so callers (MQTT ack handler,
dashboard) can catch everything it refuses in one place."""
from __future__ import annotations


class AlarmError(Exception):
    """Root of every error raised by edge_runtime.alarms."""


class UnknownAlarm(AlarmError, KeyError):
    """No open alarm, and no closed one still remembered, has this id."""

    def __init__(self, alarm_id: str) -> None:
        super().__init__(alarm_id)
        self.alarm_id = alarm_id

    def __str__(self) -> str:  # KeyError would print only the quoted id
        return f"unknown alarm {self.alarm_id!r}: not open and not among the closed alarms still kept"


class AlarmRequestError(AlarmError, ValueError):
    """A request the engine refuses: a bad argument, or an action the alarm's state does not allow."""


class LabelRefused(AlarmError, PermissionError):
    """A verdict from an actor who may not label alarms (only supervisors do): nothing was changed."""
