"""Emit-on-change bookkeeping for condition reports.

Every rule reports through one :class:`ConditionBoard`, which remembers what
it last told the alarm engine per (subject, condition) key and emits only when
something the engine acts on changed: active/inactive, kind, priority,
message or who must be told. That keeps the alarm path cheap (rules may call
it freely) and keeps "one event, one update" in a single place.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge_runtime.alarms.model import Actor, AlarmKind, ConditionUpdate, Notify, PreAlarm, Priority, Subject
from edge_runtime.alarms.subjects import (  # noqa: F401 (the rules import them from here)
    device_subject,
    worker_label,
    worker_subject,
    zone_label,
    zone_subject,
)
from edge_runtime.config.alarms import AlarmSettings

log = logging.getLogger(__name__)

NOBODY = Notify()


@dataclass(frozen=True, slots=True)
class Level:
    """One alarm band: entered beyond ``threshold`` on the ``direction`` side
    ("high": value >= threshold, "low": value < threshold); once in it, or in a
    more severe band on the same side, left only ``hysteresis`` back past the
    threshold, so a value jittering on a threshold never makes reports flap."""

    kind: AlarmKind
    threshold: float
    direction: str
    hysteresis: float
    priority: Priority
    name: str


def classify(levels: tuple[Level, ...], value: float, current: int | None) -> int | None:
    """Index of the band ``value`` is in (``levels`` most severe first), or None."""
    for i, lv in enumerate(levels):
        holding = current is not None and i >= current and levels[current].direction == lv.direction
        if lv.direction == "high":
            if value >= lv.threshold or (holding and value > lv.threshold - lv.hysteresis):
                return i
        elif value < lv.threshold or (holding and value < lv.threshold + lv.hysteresis):
            return i
    return None


@dataclass(frozen=True, slots=True)
class _Reported:
    """What the engine was last told about one key (only active keys are kept)."""

    kind: AlarmKind
    priority: Priority
    message: str
    notify: Notify
    zone: str | None
    threshold: float | None
    direction: str | None


class ConditionBoard:
    """Turns rule verdicts into :class:`ConditionUpdate`s, only on change, and
    hands pre-alarms to the wearables: fusion's only two outputs, both guarded."""

    def __init__(
        self,
        alarms: AlarmSettings,
        emit: Callable[[ConditionUpdate], None],
        emit_pre_alarm: Callable[[PreAlarm], None],
    ) -> None:
        self._emit = emit
        self._emit_pre_alarm = emit_pre_alarm
        self._active: dict[tuple[Subject, str], _Reported] = {}
        self._priority = {kind: alarms.for_kind(kind).priority for kind in AlarmKind}
        self._deadband = {kind: alarms.for_kind(kind).deadband for kind in AlarmKind}
        self.emit_errors = 0

    def priority(self, kind: AlarmKind) -> Priority:
        """The configured priority of ``kind`` (config.alarms)."""
        return self._priority[kind]

    def deadband(self, kind: AlarmKind) -> float:
        """The configured deadband of ``kind``; rules use it as hysteresis so reports never flap."""
        return self._deadband[kind]

    def is_active(self, subject: Subject, condition: str) -> bool:
        return (subject, condition) in self._active

    def raise_(
        self,
        subject: Subject,
        condition: str,
        kind: AlarmKind,
        ts: float,
        message: str,
        *,
        priority: Priority | None = None,
        value: float | None = None,
        threshold: float | None = None,
        direction: str | None = None,
        notify: Notify = NOBODY,
        zone: str | None = None,
        model: Mapping[str, str] | None = None,
    ) -> bool:
        """Report ``condition`` present; emits only if new or its kind, priority,
        message, notify or zone changed (``model``, the detector behind a camera's
        report, rides along). Returns whether an update went out."""
        key = (subject, condition)
        prio = priority if priority is not None else self._priority[kind]
        last = self._active.get(key)
        if (
            last is not None
            and last.kind is kind
            and last.priority == prio
            and last.message == message
            and last.notify == notify
            and last.zone == zone
        ):
            return False
        self._active[key] = _Reported(kind, prio, message, notify, zone, threshold, direction)
        self._send(ConditionUpdate(
            subject, condition, kind, True, prio, message, ts, value, threshold, direction, notify, zone,
            model=model,
        ))
        return True

    def clear(
        self, subject: Subject, condition: str, ts: float, message: str | None = None, value: float | None = None,
        actor: Actor | None = None,
    ) -> bool:
        """Report ``condition`` gone (with the last kind/priority/notify, so the
        engine can tell the same people), by ``actor`` when a person withdrew it
        (a cancel press) rather than a sensor. A key never raised emits nothing."""
        last = self._active.pop((subject, condition), None)
        if last is None:
            return False
        text = message if message is not None else f"Cleared: {last.message}"
        self._send(
            ConditionUpdate(
                subject, condition, last.kind, False, last.priority, text, ts,
                value, last.threshold, last.direction, last.notify, last.zone, actor,
            )
        )
        return True

    def pre_alarm(self, pre: PreAlarm) -> None:
        """Start (or, with ``cancelled``, stop) a pre-alarm on a worker's wearable."""
        try:
            self._emit_pre_alarm(pre)
        except Exception:  # a broken consumer must not stop the alarm that follows
            self.emit_errors += 1
            log.exception("pre-alarm consumer failed for %s", pre.worker)

    def _send(self, update: ConditionUpdate) -> None:
        try:
            self._emit(update)
        except Exception:  # a broken consumer must not stop the next rule from reporting
            self.emit_errors += 1
            log.exception("condition consumer failed on %s %s", update.subject, update.condition)
