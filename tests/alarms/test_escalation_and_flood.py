"""One event, one alarm: dedupe and escalation per key; flood grouping."""
from __future__ import annotations

from edge_runtime.alarms.model import AlarmKind, AlarmState, Notify, Priority, TransitionCause
from edge_runtime.config.alarms import AlarmSettings, FloodSettings

from .support import SUP, ZONE, Harness

C, S, K, P = TransitionCause, AlarmState, AlarmKind, Priority


def test_low_high_over_range_is_one_alarm_that_escalates() -> None:
    h = Harness()
    for kind in (K.GAS_LOW, K.GAS_LOW, K.GAS_HIGH, K.GAS_HIGH, K.GAS_OVER_RANGE, K.GAS_HIGH, K.GAS_LOW):
        h.update(kind)
        h.advance(1)
    assert [t.cause for t in h.transitions] == [C.RAISED, C.ESCALATED, C.ESCALATED]
    alarm = h.engine.get(h.only_id())
    assert (alarm.kind, alarm.priority, alarm.latching) == (K.GAS_OVER_RANGE, P.CRITICAL, True)
    assert len(h.engine.active()) == 1


def test_priority_never_drops_and_a_kind_is_not_re_escalated() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    h.update(K.GAS_STEL)  # a new kind at the same priority: escalates once
    h.update(K.GAS_HIGH)
    h.update(K.GAS_STEL)
    h.update(K.GAS_LOW, priority=P.LOW)
    assert [t.cause for t in h.transitions] == [C.RAISED, C.ESCALATED]
    assert h.engine.get(h.only_id()).priority is P.HIGH


def test_escalation_of_an_acknowledged_alarm_needs_a_new_ack() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    h.engine.acknowledge(h.only_id(), SUP)
    h.update(K.GAS_HIGH)
    alarm = h.engine.get(h.only_id())
    assert (alarm.state, alarm.acked_by, alarm.acked_ts) == (S.UNACK, None, None)
    assert h.transitions[-1].extra["announce"]


def test_escalation_keeps_latching_and_adds_people_to_notify() -> None:
    h = Harness()
    h.update(K.GAS_HIGH, notify=Notify(workers=("w1",)))
    h.update(K.GAS_OVER_RANGE, notify=Notify(workers=("w2", "w1"), sirens=("z1",)))
    alarm = h.engine.get(h.only_id())
    assert alarm.notify == Notify(workers=("w1", "w2"), sirens=("z1",))
    assert alarm.latching


def test_fusion_cannot_lower_a_kinds_configured_priority() -> None:
    h = Harness()
    h.update(K.PANIC, priority=P.LOW)
    assert h.engine.get(h.only_id()).priority is P.CRITICAL


def test_fusion_can_raise_it_and_that_escalates() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    h.update(K.GAS_LOW, priority=P.HIGH)  # e.g. the worker is in a confined space
    assert h.transitions[-1].cause is C.ESCALATED and h.transitions[-1].alarm.priority is P.HIGH


def test_a_new_occurrence_after_close_is_a_new_alarm() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    first = h.transitions[0].alarm.alarm_id
    h.engine.acknowledge(first, SUP)
    h.update(K.GAS_LOW, False)
    h.update(K.GAS_LOW)
    assert h.engine.by_key(h.transitions[-1].alarm.key).alarm_id != first


def test_ten_alarms_in_ten_minutes_is_a_flood() -> None:
    h = Harness()  # defaults: 10 in 600 s, ends below 5
    kinds = [K.GEOFENCE] * 8 + [K.MAN_DOWN, K.GEOFENCE, K.PANIC]
    for i, kind in enumerate(kinds):
        h.at(i * 60)
        h.update(kind, condition=f"c{i}")
    raised = [t.alarm for t in h.transitions if t.cause is C.RAISED]
    groups = [a.flood_group for a in raised]
    assert groups[:9] == [None] * 9  # the alarms leading up to it stay on their own
    assert groups[9] is not None and groups[10] == groups[9]
    assert h.engine.flood_active
    summary = h.engine.flood_summary()
    assert summary is not None and summary.group == groups[9] and summary.raised == 2
    assert list(summary.open_by_priority) == [P.CRITICAL, P.HIGH, P.MEDIUM, P.LOW]
    assert summary.open_by_priority == {P.CRITICAL: 1, P.HIGH: 0, P.MEDIUM: 1, P.LOW: 0}
    assert summary.top == (raised[10].alarm_id,)
    assert len(h.engine.active()) == 11  # every alarm kept


def test_flood_ends_when_the_rate_falls_and_a_new_one_gets_a_new_group() -> None:
    h = Harness(AlarmSettings(flood=FloodSettings(count=3, window_s=60, end_below=2)))
    for i in range(3):
        h.update(K.GEOFENCE, condition=f"a{i}")
    first_group = h.transitions[-1].alarm.flood_group
    h.at(30)
    h.update(K.GEOFENCE, condition="a3")  # 4 in the window: same flood
    assert h.transitions[-1].alarm.flood_group == first_group
    h.at(60.1)  # the first three age out (the window is inclusive); one left < end_below
    assert not h.engine.flood_active and h.engine.flood_summary() is None
    for i in range(3):
        h.update(K.GEOFENCE, condition=f"b{i}")
    assert h.transitions[-1].alarm.flood_group not in (None, first_group)


def test_flood_summary_counts_only_open_members() -> None:
    h = Harness(AlarmSettings(flood=FloodSettings(count=2, window_s=600)))
    h.update(K.GEOFENCE, subject=ZONE, condition="a")
    h.update(K.GEOFENCE, subject=ZONE, condition="b")
    h.update(K.GEOFENCE, subject=ZONE, condition="c")
    member = h.transitions[-1].alarm.alarm_id
    h.engine.acknowledge(member, SUP)
    h.update(K.GEOFENCE, False, subject=ZONE, condition="c")
    h.advance(5)  # GEOFENCE off-delay
    summary = h.engine.flood_summary()
    assert summary is not None and summary.raised == 2 and summary.open_by_priority[P.MEDIUM] == 1


def test_a_lesser_kind_coming_back_keeps_the_alarms_own_description() -> None:
    h = Harness()
    h.update(K.GAS_HIGH, value=25, threshold=20, message="H2S high 25 ppm")
    h.update(K.GAS_HIGH, False)  # latched: stays UNACK
    h.update(K.GAS_LOW, value=12, threshold=10, message="H2S low 12 ppm")
    alarm = h.engine.get(h.only_id())
    assert (alarm.kind, alarm.message, alarm.threshold, alarm.condition_active) == (
        K.GAS_HIGH, "H2S high 25 ppm", 20, True,
    )
    assert h.transitions[-1].extra == {"reason": "condition_returned", "announce": True}  # the gas is back: say so
