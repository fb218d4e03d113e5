"""The ISA-18.2 rules as small pure functions, apart from the engine's
bookkeeping, so the state machine documented in engine.py can be read and
tested in one place."""
from __future__ import annotations

import operator
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from edge_runtime.alarms.model import (
    Actor,
    Alarm,
    AlarmKind,
    AlarmState,
    ConditionUpdate,
    Notify,
    Priority,
    TransitionCause,
)

if TYPE_CHECKING:
    from edge_runtime.config.alarms import AlarmClass

_S = AlarmState
NOT_SHELVED = MappingProxyType(
    {"shelved_by": None, "shelved_via": None, "shelved_until": None, "shelve_reason": None}
)
_ALARM_FIELDS = operator.attrgetter(*(f.name for f in fields(Alarm) if f.init))
# Causes that announce again even when the alarm already was unacknowledged.
_ANNOUNCING_CAUSES = frozenset(
    {TransitionCause.RE_ALARMED, TransitionCause.ESCALATED, TransitionCause.RESTORED}
)


def evolve(alarm: Alarm, **changes: Any) -> Alarm:
    """A changed copy of a snapshot: dataclasses.replace, at a third of its cost (it is on every transition)."""
    new = Alarm(*_ALARM_FIELDS(alarm))
    for name, value in changes.items():
        setattr(new, name, value)  # slots: a misspelt field raises
    return new


def base_state(alarm: Alarm) -> AlarmState:
    """The state from condition, acknowledgement and latching alone (no overlays)."""
    acked = alarm.acked_ts is not None
    if alarm.condition_active:
        return _S.ACKED if acked else _S.UNACK
    if acked or alarm.last_announced_ts is None:
        return _S.NORMAL  # acknowledged, or never shown to anyone: nothing left to acknowledge
    return _S.UNACK if alarm.latching else _S.RTN_UNACK


def derive_state(alarm: Alarm, *, suppressed: bool, out_of_service: bool) -> AlarmState:
    """The state to show: overlays hide an open alarm but never keep a finished one open."""
    base = base_state(alarm)
    if base is _S.NORMAL:
        return base
    if out_of_service:
        return _S.OUT_OF_SERVICE
    if suppressed:
        return _S.SUPPRESSED
    if alarm.shelved_until is not None:
        return _S.SHELVED
    return base


def announces(cause: TransitionCause, from_state: AlarmState, to_state: AlarmState) -> bool:
    """Whether a transition must alert people again (wearables, sirens)."""
    return to_state is _S.UNACK and (from_state is not _S.UNACK or cause in _ANNOUNCING_CAUSES)


def escalates(alarm: Alarm, kinds_seen: set[AlarmKind], kind: AlarmKind, priority: Priority) -> bool:
    """A higher priority, or a kind this alarm has not carried yet at equal priority.

    Remembering the kinds seen keeps two conditions of equal priority that
    alternate on one key (e.g. high and STEL) from escalating back and forth.
    """
    return priority > alarm.priority or (priority == alarm.priority and kind not in kinds_seen)


def holds_in_deadband(update: ConditionUpdate, deadband: float) -> bool:
    """True when an 'inactive' report is still within the deadband on the bad side.

    A high alarm clears only at value <= threshold - deadband, a low one only at
    value >= threshold + deadband; a report without value, threshold or
    direction has no deadband to apply.
    """
    if update.active or deadband <= 0 or update.value is None or update.threshold is None:
        return False
    if update.direction == "high":
        return update.value > update.threshold - deadband
    if update.direction == "low":
        return update.value < update.threshold + deadband
    return False


def merge_notify(old: Notify, new: Notify) -> Notify:
    """Escalation adds people to tell; it never stops telling someone already told."""
    return Notify(
        workers=tuple(dict.fromkeys(old.workers + new.workers)),
        sirens=tuple(dict.fromkeys(old.sirens + new.sirens)),
    )


@dataclass(slots=True, eq=False)
class AlarmRecord:
    """The engine's mutable bookkeeping around the latest snapshot of one open alarm.

    ``alarm`` is replaced, never mutated, on every change: transitions already
    handed to the store's writer thread keep the state they were emitted with.
    """

    alarm: Alarm
    cls: AlarmClass  # timings of the alarm's current (most severe) kind
    kinds: set[AlarmKind]
    suppressed: bool = False
    out_of_service: bool = False
    clear_due: float | None = None  # off-delay running
    clear_actor: Actor | None = None  # a person who reported the condition gone (a cancel press), for its CLEARED
    realarm_due: float | None = None


@dataclass(slots=True, eq=False)
class PendingRaise:
    """A condition waiting out its on-delay; ``best`` is its most severe report so far."""

    best: ConditionUpdate
    priority: Priority
    since: float
    due: float
