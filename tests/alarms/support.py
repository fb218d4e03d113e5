"""Test harness for the alarm engine: a settable clock, counted ids and a
transition recorder, so every test reads as a timeline."""
from __future__ import annotations

import itertools
from typing import Any

from edge_runtime.alarms.engine import AlarmEngine
from edge_runtime.alarms.model import (
    Actor,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Channel,
    ConditionUpdate,
    Notify,
    Priority,
    Subject,
    SubjectKind,
    TransitionCause,
)
from edge_runtime.config.alarms import AlarmSettings

WORKER = Subject(SubjectKind.WORKER, "w1")
ZONE = Subject(SubjectKind.ZONE, "z1")
DEVICE = Subject(SubjectKind.DEVICE, "fixed-7")
DEFAULTS = AlarmSettings()
T0 = 1_700_000_000.0
NO_NOTIFY = Notify()


def supervisor(name: str = "sup") -> Actor:
    """A supervisor signed in on the dashboard: acknowledges, shelves and labels."""
    return Actor(Channel.DASHBOARD, name, may_label=True)


SUP = supervisor()
TECH = supervisor("tech")
OPERATOR = Actor(Channel.MQTT, "w1")  # a control-room console: acknowledges and mutes, labels nothing


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def cond(
    kind: AlarmKind = AlarmKind.GAS_LOW, active: bool = True, *, subject: Subject = WORKER,
    condition: str = "gas:H2S", priority: Priority | None = None, value: float | None = None,
    threshold: float | None = None, direction: str | None = None, zone: str | None = None,
    notify: Notify = NO_NOTIFY, message: str = "", ts: float = T0, actor: Actor | None = None,
) -> ConditionUpdate:
    return ConditionUpdate(
        subject=subject, condition=condition, kind=kind, active=active,
        priority=priority or DEFAULTS.for_kind(kind).priority, message=message or kind.value, ts=ts,
        value=value, threshold=threshold, direction=direction, notify=notify, zone=zone, actor=actor,
    )


class Harness:
    """An engine on a fake clock that records every transition."""

    def __init__(self, settings: AlarmSettings | None = None, **engine_kw: Any) -> None:
        self.clock = FakeClock()
        self.transitions: list[AlarmTransition] = []
        counter = itertools.count(1)
        engine_kw.setdefault("new_id", lambda: f"a{next(counter):05d}")
        self.engine = AlarmEngine(settings or DEFAULTS, self.transitions.append, clock=self.clock, **engine_kw)

    @property
    def now(self) -> float:
        return self.clock.t

    def update(self, kind: AlarmKind = AlarmKind.GAS_LOW, active: bool = True, **kw: Any) -> None:
        self.engine.update(cond(kind, active, ts=self.clock.t, **kw))

    def at(self, t: float) -> None:
        """Move the clock to T0 + t and tick."""
        self.clock.t = T0 + t
        self.engine.tick()

    def advance(self, dt: float) -> None:
        self.clock.t += dt
        self.engine.tick()

    def steps(self, alarm_id: str | None = None) -> list[tuple[TransitionCause, AlarmState, AlarmState]]:
        return [
            (t.cause, t.from_state, t.to_state)
            for t in self.transitions
            if alarm_id is None or t.alarm.alarm_id == alarm_id
        ]

    def only_id(self) -> str:
        ids = {t.alarm.alarm_id for t in self.transitions}
        assert len(ids) == 1, ids
        return ids.pop()
