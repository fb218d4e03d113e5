"""The demo's supervisor at the dashboard: acknowledges each alarm a little after it sounds, with a verdict.

In a simulation the truth is known, so the verdict follows it: an alarm about
a hazard to a person (gas, heart rate, a fall, no motion, a panic, a worker
where they may not be, too close to a machine, a camera's finding) is
``confirmed``; one about the equipment (a stale or drifting sensor, a flat
battery, a lost link or fix, a bump test or calibration due) is a
``false_alarm`` for the risk model, which learns which alarms are real. Only
the demo uses it (``siteguard demo --loop``): on a real site people decide.
"""
from __future__ import annotations

import asyncio
import logging

from edge_runtime.alarms.engine import AlarmEngine
from edge_runtime.alarms.errors import AlarmError
from edge_runtime.alarms.model import Actor, AlarmKind, AlarmTransition, Channel, TransitionCause, Verdict
from edge_runtime.alarms.rules import can_acknowledge

log = logging.getLogger(__name__)
K = AlarmKind

EQUIPMENT = frozenset({K.GAS_DRIFT, K.GAS_SENSOR_STALE, K.GAS_BUMP_DUE, K.GAS_CALIBRATION_DUE, K.GAS_LEL_POISONED,
                       K.LOW_BATTERY, K.LINK_LOST, K.NO_POSITION, K.HR_NO_SIGNAL, K.CAMERA_OFFLINE,
                       K.STORAGE_FAILED, K.CHECK_IN_MISSED})
"""Kinds the simulated supervisor calls false alarms: the equipment's state, not a person in danger."""


def verdict_for(kind: AlarmKind) -> Verdict:
    return Verdict.FALSE_ALARM if kind in EQUIPMENT else Verdict.CONFIRMED


class SimulatedSupervisor:
    """A bus subscriber: ``delay_s`` after each raise, an acknowledgement with the verdict the truth gives."""

    def __init__(self, engine: AlarmEngine, *, delay_s: float = 4.0, name: str = "demo-supervisor") -> None:
        self._engine = engine
        self._delay_s = delay_s
        self._actor = Actor(Channel.DASHBOARD, name, may_label=True)
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self.verdicts = 0

    def on_transition(self, t: AlarmTransition) -> None:
        if t.cause is TransitionCause.RAISED and t.alarm.alarm_id not in self._pending:
            loop = asyncio.get_running_loop()
            self._pending[t.alarm.alarm_id] = loop.call_later(self._delay_s, self._judge, t.alarm.alarm_id)

    def stop(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()

    def _judge(self, alarm_id: str) -> None:
        self._pending.pop(alarm_id, None)
        try:
            alarm = self._engine.get(alarm_id)
            verdict = verdict_for(alarm.kind)
            if can_acknowledge(alarm):
                self._engine.acknowledge(alarm_id, self._actor, note="simulated supervisor", verdict=verdict)
            else:
                self._engine.set_verdict(alarm_id, verdict, self._actor, note="simulated supervisor")
            self.verdicts += 1
        except AlarmError as exc:  # closed and forgotten, or not labelable now: no verdict
            log.info("no verdict for %s: %s", alarm_id, exc)
