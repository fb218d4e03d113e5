"""Fusion's side of the lifecycle: turn condition reports into raises,
escalations, returns and clears, applying on-delay, off-delay and deadband.

One key, one alarm: while an alarm is open for a key every report about that
key lands on it. Reports are judged on the engine's clock; a deadline that has
already passed when the next report for its key arrives is honoured first, so
the result does not depend on how often tick() runs.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from edge_runtime.alarms.deadlines import Timer
from edge_runtime.alarms.flood import FloodTracker
from edge_runtime.alarms.ledger import AlarmLedger
from edge_runtime.alarms.lifecycle import (
    NOT_SHELVED,
    AlarmRecord,
    PendingRaise,
    escalates,
    holds_in_deadband,
    merge_notify,
)
from edge_runtime.alarms.model import Actor, Alarm, AlarmKind, AlarmState, ConditionUpdate, Priority, TransitionCause
from edge_runtime.alarms.overlays import Key, Overlays

if TYPE_CHECKING:
    from edge_runtime.config.alarms import AlarmClass

_C = TransitionCause


class ConditionHandler:
    """Owns the on-delays of keys without an alarm; hands every alarm change to the ledger."""

    def __init__(
        self, ledger: AlarmLedger, classes: dict[AlarmKind, AlarmClass], overlays: Overlays,
        flood: FloodTracker, clock: Callable[[], float], new_id: Callable[[], str],
    ) -> None:
        self._ledger = ledger
        self._by_key = ledger.by_key
        self._classes = classes
        self._overlays = overlays
        self._flood = flood
        self._clock = clock
        self._new_id = new_id
        self._pending: dict[Key, PendingRaise] = {}

    def update(self, update: ConditionUpdate) -> None:
        """Apply the latest report for one key; an unchanged active condition costs a few lookups."""
        rec = self._by_key.get(update.key)
        if rec is None:
            self._update_unalarmed(update)
            return
        alarm = rec.alarm
        if update.active:
            priority = self._priority(update)
            if rec.clear_due is None and alarm.condition_active and not escalates(
                alarm, rec.kinds, update.kind, priority
            ):
                return
            self._present(rec, update, priority)
        elif alarm.condition_active:  # once cleared, only an active report brings it back (hysteresis)
            if holds_in_deadband(update, self._classes[update.kind].deadband):
                if rec.clear_due is not None:
                    self._present(rec, None, None)
            elif rec.clear_due is None:
                self._start_clearing(rec, update.actor)

    def on_delay_due(self, key: Key, due: float, now: float) -> None:
        pending = self._pending.get(key)
        if pending is not None and pending.due == due:
            self._fire_pending(key, pending, now)

    def clear(self, rec: AlarmRecord, now: float) -> None:
        """The condition is gone for good (off-delay over, past the deadband), as ``rec.clear_actor`` reported."""
        rec.clear_due = None
        self._ledger.commit(
            rec, _C.CLEARED, now, actor=rec.clear_actor, closing_cause=_C.CLOSED, condition_active=False
        )

    def _priority(self, update: ConditionUpdate) -> Priority:
        """Fusion may raise a kind's configured priority, never lower it."""
        return max(update.priority, self._classes[update.kind].priority)

    def _present(self, rec: AlarmRecord, update: ConditionUpdate | None, priority: Priority | None) -> None:
        """The condition is (still) there: stop a running off-delay, escalate or re-activate."""
        now = self._clock()
        if rec.clear_due is not None:
            if now >= rec.clear_due:  # the off-delay ran out before this report: it did clear first
                self.clear(rec, now)
                if update is not None:
                    self.update(update)
                return
            rec.clear_due = None
        if update is None or priority is None:
            return
        alarm = rec.alarm
        if escalates(alarm, rec.kinds, update.kind, priority):
            self._escalate(rec, update, priority, now)
        elif not alarm.condition_active:
            # A lesser kind coming back keeps the alarm's own message and threshold (kind stays too).
            same_kind = update.kind is alarm.kind
            self._ledger.commit(
                rec, _C.RE_ALARMED, now, actor=update.actor, extra={"reason": "condition_returned"},
                condition_active=True,
                value=update.value if same_kind else alarm.value,
                threshold=update.threshold if same_kind else alarm.threshold,
                message=update.message if same_kind else alarm.message,
            )

    def _escalate(self, rec: AlarmRecord, update: ConditionUpdate, priority: Priority, now: float) -> None:
        alarm = rec.alarm
        rec.kinds.add(update.kind)
        rec.cls = self._classes[update.kind]
        self._ledger.commit(
            rec, _C.ESCALATED, now, actor=update.actor,
            note="shelve lifted by escalation" if alarm.shelved_until is not None else None,
            kind=update.kind, priority=max(priority, alarm.priority), message=update.message,
            value=update.value, threshold=update.threshold, zone=update.zone or alarm.zone,
            notify=merge_notify(alarm.notify, update.notify), latching=alarm.latching or rec.cls.latching,
            condition_active=True, acked_by=None, acked_via=None, acked_ts=None, model=update.model or alarm.model,
            **NOT_SHELVED,
        )

    def _start_clearing(self, rec: AlarmRecord, actor: Actor | None) -> None:
        now = self._clock()
        rec.clear_actor = actor
        off_delay = rec.cls.off_delay_s
        if off_delay <= 0:
            self.clear(rec, now)
        else:
            rec.clear_due = now + off_delay
            self._ledger.deadlines.push(rec.clear_due, Timer.OFF_DELAY, rec.alarm.alarm_id)

    def _update_unalarmed(self, update: ConditionUpdate) -> None:
        """A key with no open alarm: start, extend or drop its on-delay, or raise."""
        key = update.key
        pending = self._pending.get(key)
        if pending is None:
            if not update.active:
                return
            now, priority = self._clock(), self._priority(update)
            on_delay = self._classes[update.kind].on_delay_s
            if on_delay <= 0:
                self._raise(update, priority, now)
                return
            self._pending[key] = PendingRaise(update, priority, since=now, due=now + on_delay)
            self._ledger.deadlines.push(now + on_delay, Timer.ON_DELAY, key)
            return
        now = self._clock()
        if now >= pending.due:  # it held through its on-delay before this report arrived
            self._fire_pending(key, pending, now)
            self.update(update)
        elif update.active:
            priority = self._priority(update)
            if priority >= pending.priority:
                pending.best, pending.priority = update, priority
                due = min(pending.due, pending.since + self._classes[update.kind].on_delay_s)
                if due <= now:
                    self._fire_pending(key, pending, now)
                elif due < pending.due:
                    pending.due = due
                    self._ledger.deadlines.push(due, Timer.ON_DELAY, key)
        elif not holds_in_deadband(update, self._classes[update.kind].deadband):
            del self._pending[key]  # gone within its on-delay: a flicker, not an alarm

    def _fire_pending(self, key: Key, pending: PendingRaise, now: float) -> None:
        del self._pending[key]
        self._raise(pending.best, pending.priority, now)

    def _raise(self, update: ConditionUpdate, priority: Priority, now: float) -> None:
        cls = self._classes[update.kind]
        alarm_id = self._new_id()
        suppressed = self._overlays.suppresses(update.subject, update.zone)
        out_of_service = self._overlays.is_out_of_service(update.key)
        hidden = suppressed or out_of_service  # born hidden: loads nobody, so no flood count
        alarm = Alarm(
            alarm_id=alarm_id, subject=update.subject, condition=update.condition, kind=update.kind,
            priority=priority, state=AlarmState.NORMAL, message=update.message, raised_ts=now,
            updated_ts=now, latching=cls.latching, value=update.value, threshold=update.threshold,
            zone=update.zone, notify=update.notify, model=update.model,
            flood_group=None if hidden else self._flood.on_raise(alarm_id, now),
        )
        rec = AlarmRecord(alarm, cls, {update.kind}, suppressed, out_of_service)
        self._ledger.add(rec)
        self._ledger.commit(rec, _C.RAISED, now, actor=update.actor)
