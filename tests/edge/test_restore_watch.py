"""The restart gap: restored conditions are cleared unless fusion re-confirms them."""
from __future__ import annotations

from edge_runtime.alarms.engine import AlarmEngine
from edge_runtime.alarms.model import (
    Actor, AlarmKind, AlarmState, AlarmTransition, Channel, ConditionUpdate, Priority, Subject, SubjectKind,
)
from edge_runtime.config import parse_config
from edge_runtime.restore_watch import RestoredConditionWatch, redetect_s

CONFIG = parse_config({"site": {"id": "s", "origin_lat": 0, "origin_lon": 0}})
W1 = Subject(SubjectKind.WORKER, "w1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _gas_high(ts: float, active: bool = True) -> ConditionUpdate:
    return ConditionUpdate(W1, "gas:H2S", AlarmKind.GAS_HIGH, active, Priority.HIGH, "H2S high", ts,
                           value=25.0 if active else 2.0, threshold=20.0, direction="high")


def _restarted(clock: Clock) -> tuple[AlarmEngine, RestoredConditionWatch, list[AlarmTransition]]:
    before = AlarmEngine(CONFIG.alarms, lambda t: None, clock=clock)
    before.update(_gas_high(clock.now))
    stored = before.active()
    out: list[AlarmTransition] = []
    engine = AlarmEngine(CONFIG.alarms, out.append, clock=clock)
    watch = RestoredConditionWatch(CONFIG, engine.update, clock)
    engine.restore(stored)
    watch.arm(stored)
    return engine, watch, out


def test_condition_gone_while_down_is_cleared_after_redetection_time() -> None:
    clock = Clock()
    engine, watch, _ = _restarted(clock)
    grace = redetect_s(AlarmKind.GAS_HIGH, CONFIG)
    clock.now += grace - 1
    watch.tick(clock.now)
    assert engine.active()[0].condition_active
    clock.now += 2
    watch.tick(clock.now)
    (alarm,) = engine.active()  # latched: still open, owed an acknowledgement
    assert not alarm.condition_active and alarm.state is AlarmState.UNACK
    engine.acknowledge(alarm.alarm_id, Actor(Channel.DASHBOARD, "supervisor"))
    assert engine.active() == []


def test_condition_reconfirmed_by_fusion_is_left_alone() -> None:
    clock = Clock()
    engine, watch, _ = _restarted(clock)
    clock.now += 5
    update = _gas_high(clock.now)
    watch.on_condition(update)
    engine.update(update)
    clock.now += 3600
    watch.tick(clock.now)
    assert engine.active()[0].condition_active
    assert watch.waiting == 0


def test_timer_based_kinds_get_their_detection_time() -> None:
    md = CONFIG.man_down
    assert redetect_s(AlarmKind.MAN_DOWN, CONFIG) >= md.no_motion_s + md.cancel_window_s
    assert redetect_s(AlarmKind.HR_HIGH, CONFIG) >= CONFIG.heart_rate.sustained_high_s


def test_supervisor_raised_conditions_survive_a_restart() -> None:
    """No sensor re-confirms an ordered evacuation or a sounded siren: only a supervisor ends them."""
    clock = Clock()
    zone = Subject(SubjectKind.ZONE, "tank")
    before = AlarmEngine(CONFIG.alarms, lambda t: None, clock=clock)
    before.update(ConditionUpdate(zone, "manual:evacuate", AlarmKind.ZONE_EVACUATE, True, Priority.CRITICAL,
                                  "Evacuation ordered", clock.now))
    before.update(ConditionUpdate(zone, "manual:siren", AlarmKind.MANUAL_SIREN, True, Priority.HIGH,
                                  "Siren sounded", clock.now))
    stored = before.active()
    engine = AlarmEngine(CONFIG.alarms, lambda t: None, clock=clock)
    watch = RestoredConditionWatch(CONFIG, engine.update, clock)
    engine.restore(stored)
    watch.arm(stored)
    clock.now += 3600
    watch.tick(clock.now)
    assert all(a.condition_active for a in engine.active()) and len(engine.active()) == 2
