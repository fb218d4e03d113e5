"""Acknowledgement, verdicts (also on closed alarms), restore after restart,
ids, and the guarantees of the transition stream itself."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from edge_runtime.alarms.engine import AlarmEngine
from edge_runtime.alarms.errors import AlarmError, UnknownAlarm
from edge_runtime.alarms.ids import AlarmIdFactory
from edge_runtime.alarms.model import AlarmKind, AlarmState, AlarmTransition, TransitionCause, Verdict

from .support import DEFAULTS, SUP, ZONE, FakeClock, Harness, cond, supervisor

C, S, K = TransitionCause, AlarmState, AlarmKind


def _closed_alarm(h: Harness, condition: str = "gas:H2S") -> str:
    h.update(K.GAS_LOW, condition=condition)
    alarm_id = h.transitions[-1].alarm.alarm_id
    h.engine.acknowledge(alarm_id, SUP)
    h.update(K.GAS_LOW, False, condition=condition)
    assert h.engine.by_key(h.transitions[-1].alarm.key) is None
    return alarm_id


def test_ack_records_who_when_and_note_and_a_verdict_arrives_as_its_own_label() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    acked = h.engine.acknowledge(
        h.only_id(), supervisor("sup ann"), note="evacuated", verdict=Verdict.CONFIRMED, ts=h.now + 2
    )
    assert (acked.acked_by, acked.acked_ts, acked.verdict) == ("sup ann", h.now + 2, Verdict.CONFIRMED)
    label, ack = h.transitions[-2:]
    assert (label.cause, label.by, label.alarm.verdict) == (C.VERDICT, "sup ann", Verdict.CONFIRMED)
    assert (ack.cause, ack.by, ack.note, ack.ts) == (C.ACKNOWLEDGED, "sup ann", "evacuated", h.now + 2)


def test_ack_with_verdict_that_closes_the_alarm_keeps_the_label_without_history() -> None:
    h = Harness(closed_history=0)
    h.update(K.GAS_LOW)
    h.update(K.GAS_LOW, False)
    acked = h.engine.acknowledge(h.only_id(), SUP, verdict=Verdict.FALSE_ALARM)
    assert (acked.state, acked.verdict) == (S.NORMAL, Verdict.FALSE_ALARM)
    assert [t.cause for t in h.transitions][-2:] == [C.VERDICT, C.ACKNOWLEDGED]


def test_repeated_ack_is_harmless_but_can_add_a_verdict() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    alarm_id = h.only_id()
    h.engine.acknowledge(alarm_id, SUP)
    h.engine.acknowledge(alarm_id, SUP)  # MQTT QoS 1 redelivery
    assert [t.cause for t in h.transitions] == [C.RAISED, C.ACKNOWLEDGED]
    h.engine.acknowledge(alarm_id, SUP, verdict="false_alarm")  # type: ignore[arg-type]  # as it comes off the wire
    assert h.steps()[-1] == (C.VERDICT, S.ACKED, S.ACKED)
    assert h.engine.get(alarm_id).verdict is Verdict.FALSE_ALARM


def test_verdict_on_a_closed_alarm() -> None:
    h = Harness()
    alarm_id = _closed_alarm(h)
    labelled = h.engine.set_verdict(alarm_id, Verdict.FALSE_ALARM, SUP, note="bump test gas")
    assert labelled.verdict is Verdict.FALSE_ALARM and h.engine.get(alarm_id) == labelled
    last = h.transitions[-1]
    assert (last.cause, last.from_state, last.to_state, last.by, last.note) == (
        C.VERDICT, S.NORMAL, S.NORMAL, "sup", "bump test gas",
    )
    h.engine.set_verdict(alarm_id, Verdict.FALSE_ALARM, SUP)  # same label again: no new transition
    assert h.transitions[-1] is last
    h.engine.acknowledge(alarm_id, SUP)  # a late duplicate ack of a closed alarm is harmless
    assert h.transitions[-1] is last


def test_closed_history_is_bounded_and_unknown_ids_are_clear_errors() -> None:
    h = Harness(closed_history=2)
    ids = [_closed_alarm(h, f"c{i}") for i in range(3)]
    assert h.engine.get(ids[2]).state is S.NORMAL
    with pytest.raises(UnknownAlarm) as err:
        h.engine.set_verdict(ids[0], Verdict.CONFIRMED, SUP)
    assert isinstance(err.value, KeyError) and isinstance(err.value, AlarmError)
    assert ids[0] in str(err.value) and "closed alarms still kept" in str(err.value)
    with pytest.raises(UnknownAlarm):
        h.engine.acknowledge("never-raised", SUP)


def test_queries() -> None:
    h = Harness()
    h.update(K.GEOFENCE, condition="a")
    h.advance(1)
    h.update(K.PANIC, condition="b")
    h.advance(1)
    h.update(K.GEOFENCE, condition="c")
    assert [a.condition for a in h.engine.active()] == ["b", "a", "c"]
    assert h.engine.by_key(h.transitions[0].alarm.key).condition == "a"
    assert h.engine.by_key((ZONE, "a")) is None


def test_restore_re_announces_with_ids_and_states_kept() -> None:
    before = Harness()
    before.update(K.GAS_HIGH, condition="unacked")
    before.update(K.GAS_HIGH, condition="acked")
    before.engine.acknowledge(before.transitions[-1].alarm.alarm_id, SUP)
    before.update(K.GAS_LOW, condition="rtn")
    before.update(K.GAS_LOW, False, condition="rtn")
    before.update(K.GAS_LOW, condition="shelved")
    before.engine.shelve(before.transitions[-1].alarm.alarm_id, SUP, 600, "maintenance")
    stored = before.engine.active()

    after = Harness()
    after.clock.t = before.now + 100  # the daemon was down for 100 s
    restored = after.engine.restore(stored)
    assert {a.alarm_id: a.state for a in restored} == {a.alarm_id: a.state for a in stored}
    assert all(t.cause is C.RESTORED and t.from_state is t.to_state for t in after.transitions)
    announced = {t.alarm.condition for t in after.transitions if t.extra.get("announce")}
    assert announced == {"unacked"}
    after.advance(120)  # re-alarm runs from the restore
    assert after.transitions[-1].cause is C.RE_ALARMED and after.transitions[-1].alarm.condition == "unacked"
    after.advance(400)  # the shelve keeps its original expiry
    assert any(t.cause is C.UNSHELVED and t.note == "shelve expired" for t in after.transitions)
    after.engine.update(cond(K.GAS_HIGH, False, condition="acked"))
    assert after.transitions[-1].cause is C.CLOSED  # restored records carry on normally


def test_restore_keeps_one_alarm_per_key_and_skips_closed_or_known_records() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    [kept] = h.engine.active()
    newer_duplicate = replace(kept, alarm_id="dup", raised_ts=kept.raised_ts + 5)
    closed = replace(kept, alarm_id="closed", condition="other", state=S.NORMAL)
    fresh = Harness()
    fresh.engine.restore([newer_duplicate, closed, kept, kept])
    assert [(t.cause, t.alarm.alarm_id) for t in fresh.transitions] == [
        (C.RESTORED, kept.alarm_id), (C.CLOSED, "dup"),
    ]
    assert fresh.engine.get("dup").state is S.NORMAL


def test_restore_applies_the_overlays_of_this_engine() -> None:
    h = Harness()
    h.update(K.ZONE_GAS, subject=ZONE)
    stored = h.engine.active()
    fresh = Harness()
    fresh.engine.suppress_zone("z1", SUP, "locked out")
    [restored] = fresh.engine.restore(stored)
    assert restored.state is S.SUPPRESSED and "announce" not in fresh.transitions[-1].extra


def test_transition_snapshots_are_never_changed_afterwards() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    raised = h.transitions[0]
    h.engine.acknowledge(h.only_id(), SUP)
    h.update(K.GAS_HIGH, False)
    assert raised.alarm.state is S.UNACK and raised.alarm.acked_by is None


def test_transitions_stay_in_order_when_a_subscriber_calls_back_in() -> None:
    seen: list[AlarmTransition] = []
    clock = FakeClock()

    def subscriber(t: AlarmTransition) -> None:
        seen.append(t)
        if t.cause is C.RAISED:  # e.g. an auto-ack rule reacting to the raise
            engine.acknowledge(t.alarm.alarm_id, supervisor("auto"))

    engine = AlarmEngine(DEFAULTS, subscriber, clock=clock)
    engine.update(cond(K.GAS_HIGH))
    assert [(t.cause, t.to_state) for t in seen] == [(C.RAISED, S.UNACK), (C.ACKNOWLEDGED, S.ACKED)]


def test_a_failing_subscriber_does_not_break_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    def broken(_: AlarmTransition) -> None:
        raise RuntimeError("disk full")

    engine = AlarmEngine(DEFAULTS, broken, clock=FakeClock())
    engine.update(cond(K.GAS_HIGH))
    [alarm] = engine.active()
    assert engine.acknowledge(alarm.alarm_id, SUP).state is S.ACKED
    assert "subscriber failed" in caplog.text


def test_ids_are_short_sortable_topic_safe_and_unique() -> None:
    clock = FakeClock()
    new_id = AlarmIdFactory(clock)
    ids = []
    for step in (0.0, 0.0, 0.0005, 0.002, -5.0, 0.0, 1.0):  # includes a clock step backwards
        clock.t += step
        ids.append(new_id())
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-hjkmnp-tv-z]{16}", i) for i in ids)


def test_default_ids_come_from_the_engine_clock() -> None:
    transitions: list[AlarmTransition] = []
    engine = AlarmEngine(DEFAULTS, transitions.append, clock=FakeClock())
    engine.update(cond(K.GAS_HIGH, condition="a"))
    engine.update(cond(K.GAS_HIGH, condition="b"))
    first, second = (t.alarm.alarm_id for t in transitions)
    assert first < second and len(first) == 16


def test_ids_stay_ordered_when_a_millisecond_runs_out_of_sequence() -> None:
    clock = FakeClock()
    new_id = AlarmIdFactory(clock, randbits=lambda bits: (1 << 30) - 2)
    ids = [new_id() for _ in range(4)]
    assert ids == sorted(ids) and len(set(ids)) == 4
