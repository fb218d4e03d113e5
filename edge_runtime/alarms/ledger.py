"""The open alarms, the recently closed ones and their deadlines, with the
only code that changes an alarm: :meth:`AlarmLedger.commit` builds the new
snapshot, derives its state, keeps the re-alarm/mute timers right and emits
exactly one transition. Keeping that in one place is what makes the
transition stream complete."""
from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from edge_runtime.alarms.deadlines import Deadlines, Timer
from edge_runtime.alarms.errors import AlarmRequestError, UnknownAlarm
from edge_runtime.alarms.lifecycle import AlarmRecord, announces, derive_state, evolve
from edge_runtime.alarms.model import Actor, Alarm, AlarmState, AlarmTransition, Channel, TransitionCause, Verdict
from edge_runtime.alarms.overlays import Key

log = logging.getLogger(__name__)
_S = AlarmState


class AlarmLedger:
    """Open and recently closed alarms, their deadlines, and the transition outbox."""

    def __init__(self, on_transition: Callable[[AlarmTransition], None], closed_history: int) -> None:
        if closed_history < 0:
            raise ValueError("closed_history must be >= 0")
        self._on_transition = on_transition
        self._closed_max = closed_history
        self.open: dict[str, AlarmRecord] = {}
        self.by_key: dict[Key, AlarmRecord] = {}
        self.closed: OrderedDict[str, Alarm] = OrderedDict()
        self.deadlines = Deadlines()
        self._outbox: deque[AlarmTransition] = deque()
        self._emitting = False

    def add(self, rec: AlarmRecord) -> None:
        self.open[rec.alarm.alarm_id] = rec
        self.by_key[rec.alarm.key] = rec

    def get(self, alarm_id: str) -> Alarm:
        """An open alarm, or a closed one still kept; raises UnknownAlarm otherwise."""
        rec = self.open.get(alarm_id)
        if rec is not None:
            return rec.alarm
        try:
            return self.closed[alarm_id]
        except KeyError:
            raise UnknownAlarm(alarm_id) from None

    def open_record(self, alarm_id: str) -> AlarmRecord:
        rec = self.open.get(alarm_id)
        if rec is None:
            self.get(alarm_id)  # raises UnknownAlarm for an id never seen or forgotten
            raise AlarmRequestError(f"alarm {alarm_id} is closed")
        return rec

    def commit(
        self, rec: AlarmRecord, cause: TransitionCause, now: float, *, actor: Actor | None = None,
        note: str | None = None, extra: dict[str, Any] | None = None,
        closing_cause: TransitionCause | None = None, **changes: Any,
    ) -> Alarm:
        """Apply one change to an open alarm and emit its transition, made by ``actor`` (None: the daemon).

        ``closing_cause`` replaces ``cause`` when the change closes the alarm
        (a clear that leaves nothing to acknowledge is CLOSED, not CLEARED).
        """
        old = rec.alarm
        new = evolve(old, updated_ts=now, **changes)  # a fresh object: safe to finish in place
        to_state = derive_state(new, suppressed=rec.suppressed, out_of_service=rec.out_of_service)
        new.state = to_state
        details = dict(extra) if extra else {}
        if announces(cause, old.state, to_state):
            details["announce"] = True
            new.last_announced_ts, new.muted_until = now, None
            re_alarm_s = rec.cls.re_alarm_s
            rec.realarm_due = None if re_alarm_s is None else now + re_alarm_s
            if rec.realarm_due is not None:
                self.deadlines.push(rec.realarm_due, Timer.RE_ALARM, new.alarm_id)
        elif to_state is not _S.UNACK:  # only an unacknowledged alarm sounds, re-alarms or mutes
            new.muted_until, rec.realarm_due = None, None
        rec.alarm = new
        if to_state is _S.NORMAL:
            cause = closing_cause or cause
            self._close(rec)
        by, channel = (None, Channel.SYSTEM) if actor is None else (actor.identity, actor.channel)
        self.emit(AlarmTransition(new, cause, old.state, to_state, now, by, note, details, channel))
        return new

    def label_closed(self, alarm_id: str, verdict: Verdict, actor: Actor, note: str | None, now: float) -> Alarm:
        """Set the verdict of a closed alarm still kept (training labels often come late)."""
        closed = self.closed.get(alarm_id)
        if closed is None:
            raise UnknownAlarm(alarm_id)
        if closed.verdict is verdict:
            return closed
        return self.amend_closed(closed, TransitionCause.VERDICT, now, actor, note, verdict=verdict)

    def amend_closed(self, closed: Alarm, cause: TransitionCause, now: float, actor: Actor | None,
                     note: str | None = None, **changes: Any) -> Alarm:
        """Change a closed alarm still kept (a late verdict, a late risk score): NORMAL -> NORMAL, announced to nobody."""
        amended = evolve(closed, updated_ts=now, **changes)
        self.closed[closed.alarm_id] = amended
        by, channel = (None, Channel.SYSTEM) if actor is None else (actor.identity, actor.channel)
        self.emit(AlarmTransition(amended, cause, _S.NORMAL, _S.NORMAL, now, by, note, channel=channel))
        return amended

    def retire(self, stored: Alarm, now: float, note: str) -> None:
        """Close a stored record the engine will not keep open (a duplicate for its key)."""
        closed = evolve(stored, state=_S.NORMAL, updated_ts=now, muted_until=None)
        self.remember_closed(closed)
        self.emit(AlarmTransition(
            closed, TransitionCause.CLOSED, stored.state, _S.NORMAL, now, note=note, channel=Channel.SYSTEM
        ))

    def _close(self, rec: AlarmRecord) -> None:
        alarm = rec.alarm
        del self.open[alarm.alarm_id]
        if self.by_key.get(alarm.key) is rec:
            del self.by_key[alarm.key]
        rec.clear_due = rec.realarm_due = None
        self.remember_closed(alarm)

    def remember_closed(self, alarm: Alarm) -> None:
        if self._closed_max == 0:
            return
        self.closed[alarm.alarm_id] = alarm
        while len(self.closed) > self._closed_max:
            self.closed.popitem(last=False)

    def emit(self, transition: AlarmTransition) -> None:
        """Deliver in order, even when a subscriber calls back into the engine."""
        self._outbox.append(transition)
        if self._emitting:
            return
        self._emitting = True
        try:
            while self._outbox:
                queued = self._outbox.popleft()
                try:
                    self._on_transition(queued)
                except Exception:  # a broken subscriber must not corrupt the lifecycle or starve the others
                    log.exception(
                        "alarm transition subscriber failed on %s %s", queued.cause.value, queued.alarm.alarm_id
                    )
        finally:
            self._emitting = False
