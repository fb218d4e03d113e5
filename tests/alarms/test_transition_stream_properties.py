"""Property test: random interleavings of condition reports, people's actions
and time must keep the transition stream complete and the lifecycle coherent."""
from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_runtime.alarms.errors import AlarmRequestError
from edge_runtime.alarms.model import AlarmKind, AlarmState, Priority, Subject, SubjectKind, TransitionCause, Verdict

from .support import DEFAULTS, OPERATOR, SUP, TECH, Harness, cond

C, S, K = TransitionCause, AlarmState, AlarmKind
SUBJECTS = [Subject(SubjectKind.ZONE, "z1"), Subject(SubjectKind.DEVICE, "d1"), Subject(SubjectKind.WORKER, "w1")]
KINDS = [K.GAS_LOW, K.GAS_HIGH, K.GAS_OVER_RANGE, K.GAS_DRIFT, K.HR_HIGH, K.GEOFENCE, K.PANIC, K.LOW_BATTERY]

reports = st.tuples(
    st.just("update"), st.integers(0, 2), st.sampled_from(["a", "b"]), st.sampled_from(KINDS), st.booleans(),
    st.sampled_from(list(Priority)), st.sampled_from([None, 9.0, 9.8, 10.0, 10.3, 11.0]),
    st.sampled_from([None, "high", "low"]),
)
people = st.tuples(
    st.sampled_from(["ack", "mute", "shelve", "unshelve", "verdict"]), st.integers(0, 20), st.sampled_from([5.0, 300.0])
)
switches = st.tuples(
    st.sampled_from(["suppress", "unsuppress", "oos", "rts"]), st.integers(0, 2), st.sampled_from([None, "a"])
)
ticks = st.tuples(st.just("tick"), st.sampled_from([0.1, 1.0, 4.0, 11.0, 31.0, 61.0, 130.0, 400.0]))
ops = st.lists(st.one_of(reports, reports, people, switches, ticks), max_size=80)


def _apply(h: Harness, op: tuple) -> None:
    name, *args = op
    engine = h.engine
    if name == "update":
        subject, condition, kind, active, priority, value, direction = args
        engine.update(cond(
            kind, active, subject=SUBJECTS[subject], condition=condition, priority=priority, value=value,
            threshold=10.0 if value is not None else None, direction=direction, zone="z1", ts=h.now,
        ))
    elif name == "tick":
        h.advance(args[0])
    elif name in ("suppress", "unsuppress"):
        if name == "suppress":
            engine.suppress_zone("z1", SUP, "lockout")
        else:
            engine.unsuppress_zone("z1", SUP)
    elif name in ("oos", "rts"):
        subject = SUBJECTS[args[0]]
        target = subject if args[1] is None else (subject, args[1])
        if name == "oos":
            engine.set_out_of_service(target, TECH, "work")
        else:
            engine.return_to_service(target, TECH)
    else:
        known = sorted({t.alarm.alarm_id for t in h.transitions})
        if not known:
            return
        alarm_id = known[args[0] % len(known)]
        before = len(h.transitions)
        try:
            if name == "ack":
                engine.acknowledge(alarm_id, SUP)
            elif name == "verdict":
                engine.set_verdict(alarm_id, Verdict.CONFIRMED, SUP)
            elif name == "mute":
                engine.mute(alarm_id, OPERATOR)
            elif name == "shelve":
                engine.shelve(alarm_id, SUP, args[1], "nuisance")
            else:
                engine.unshelve(alarm_id, SUP)
        except AlarmRequestError:
            assert len(h.transitions) == before  # a refused request changes nothing


def _check(h: Harness, after_tick: bool) -> None:
    engine, now = h.engine, h.now
    by_alarm = defaultdict(list)
    for t in h.transitions:
        assert t.alarm.state is t.to_state
        by_alarm[t.alarm.alarm_id].append(t)
    for alarm_id, stream in by_alarm.items():
        # a chain from NORMAL, and every change to the alarm is the snapshot of its latest transition
        assert [t.from_state for t in stream] == [S.NORMAL] + [t.to_state for t in stream[:-1]]
        assert engine.get(alarm_id) is stream[-1].alarm
        closed_at = next((i for i, t in enumerate(stream) if t.to_state is S.NORMAL), len(stream))
        assert all(t.cause is C.VERDICT for t in stream[closed_at + 1:])
        open_priorities = [t.alarm.priority for t in stream[:closed_at + 1]]
        assert open_priorities == sorted(open_priorities)  # never drops while open
    active = engine.active()
    keys = [a.key for a in active]
    assert len(keys) == len(set(keys))  # one open alarm per key
    for alarm in active:
        assert alarm.state is not S.NORMAL and engine.by_key(alarm.key) is alarm
        assert alarm.muted_until is None or alarm.state is S.UNACK
        re_alarm_s = DEFAULTS.for_kind(alarm.kind).re_alarm_s
        if after_tick and alarm.state is S.UNACK and alarm.muted_until is None and re_alarm_s:
            assert alarm.last_announced_ts is not None and alarm.last_announced_ts + re_alarm_s > now


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_transition_stream_is_complete_and_coherent(sequence: list[tuple]) -> None:
    h = Harness(mute_s=60)
    for op in sequence:
        _apply(h, op)
        _check(h, after_tick=op[0] == "tick")
