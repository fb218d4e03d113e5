"""On-delay, off-delay, deadband, re-alarm and mute, on an injected clock."""
from __future__ import annotations

import pytest

from edge_runtime.alarms.errors import AlarmRequestError
from edge_runtime.alarms.model import AlarmKind, AlarmState, Priority, TransitionCause
from edge_runtime.config.alarms import AlarmClass, AlarmSettings

from .support import OPERATOR, SUP, Harness

C, S, K = TransitionCause, AlarmState, AlarmKind
DRIFT = K.GAS_DRIFT  # default on_delay_s = 10
HR = K.HR_HIGH  # default off_delay_s = 30, deadband 5


# --------------------------------------------------------------------- on-delay

def test_flicker_shorter_than_on_delay_raises_nothing() -> None:
    h = Harness()
    for _ in range(5):
        h.update(DRIFT)
        h.advance(9.9)
        h.update(DRIFT, False)
        h.advance(0.05)
    h.advance(60)
    assert h.transitions == []


def test_condition_held_through_on_delay_raises_at_the_deadline() -> None:
    h = Harness()
    h.update(DRIFT)
    h.at(9.99)
    h.update(DRIFT)  # still there: does not restart the delay
    assert h.transitions == []
    h.at(10.0)
    assert h.steps() == [(C.RAISED, S.NORMAL, S.UNACK)]
    assert h.transitions[0].ts == h.now


def test_on_delay_honoured_even_if_tick_is_late() -> None:
    """Held for 10.5 s, then gone before the next tick ran: it was an alarm all the same."""
    h = Harness()
    h.update(DRIFT)
    h.clock.t += 10.5
    h.update(DRIFT, False)
    assert h.steps() == [(C.RAISED, S.NORMAL, S.UNACK), (C.CLEARED, S.UNACK, S.RTN_UNACK)]


def test_more_severe_report_during_on_delay_raises_at_once() -> None:
    h = Harness()
    h.update(DRIFT)
    h.advance(2)
    h.update(K.GAS_OVER_RANGE)  # no on-delay for an explosion hazard
    [raised] = h.transitions
    assert (raised.alarm.kind, raised.alarm.priority) == (K.GAS_OVER_RANGE, Priority.CRITICAL)
    h.advance(20)
    assert len(h.transitions) == 1  # the stale on-delay deadline does nothing


def test_deadband_keeps_an_on_delay_running() -> None:
    settings = AlarmSettings(classes={K.GAS_HIGH: AlarmClass(priority=Priority.HIGH, on_delay_s=5, deadband=0.5)})
    h = Harness(settings)
    h.update(K.GAS_HIGH, value=20.2, threshold=20, direction="high")
    h.advance(3)
    h.update(K.GAS_HIGH, False, value=19.8, threshold=20, direction="high")  # dipped, inside the deadband
    h.advance(2)
    assert h.steps() == [(C.RAISED, S.NORMAL, S.UNACK)]


# --------------------------------------------------------------------- off-delay

def test_off_delay_bridges_a_short_gap() -> None:
    h = Harness()
    h.update(HR)
    h.advance(1)
    h.update(HR, False)
    h.advance(20)
    h.update(HR)  # back before off_delay_s: no clear
    h.advance(100)
    assert h.steps() == [(C.RAISED, S.NORMAL, S.UNACK)]


def test_off_delay_counts_from_the_first_clear_report() -> None:
    h = Harness()
    h.update(HR)
    h.at(10)
    h.update(HR, False)
    h.at(25)
    h.update(HR, False)  # repeated clear does not restart the off-delay
    h.at(39.9)
    assert len(h.transitions) == 1
    h.at(40)
    assert h.steps()[-1] == (C.CLEARED, S.UNACK, S.RTN_UNACK)


def test_off_delay_honoured_even_if_tick_is_late() -> None:
    h = Harness()
    h.update(HR)
    h.update(HR, False)
    h.clock.t += 31
    h.update(HR)  # the clear happened first, then the condition came back
    assert h.steps()[1:] == [(C.CLEARED, S.UNACK, S.RTN_UNACK), (C.RE_ALARMED, S.RTN_UNACK, S.UNACK)]


# --------------------------------------------------------------------- deadband

@pytest.mark.parametrize(
    ("direction", "threshold", "held", "clears"),
    [("high", 20.0, [19.9, 19.51], 19.5), ("low", 19.5, [19.6, 19.99], 20.0)],
)
def test_deadband(direction: str, threshold: float, held: list[float], clears: float) -> None:
    h = Harness()  # GAS_LOW: deadband 0.5, no off-delay
    h.update(K.GAS_LOW, value=threshold, threshold=threshold, direction=direction)
    for value in held:
        h.update(K.GAS_LOW, False, value=value, threshold=threshold, direction=direction)
        assert h.engine.get(h.only_id()).condition_active
    h.update(K.GAS_LOW, False, value=clears, threshold=threshold, direction=direction)
    assert h.steps()[-1] == (C.CLEARED, S.UNACK, S.RTN_UNACK)
    # once cleared, a report inside the deadband does not bring it back: only an active one does
    h.update(K.GAS_LOW, False, value=held[0], threshold=threshold, direction=direction)
    assert h.engine.get(h.only_id()).state is S.RTN_UNACK


def test_clear_without_a_value_ignores_the_deadband() -> None:
    h = Harness()
    h.update(K.GAS_LOW, value=12, threshold=10, direction="high")
    h.update(K.GAS_LOW, False)
    assert h.steps()[-1] == (C.CLEARED, S.UNACK, S.RTN_UNACK)


def test_back_inside_the_deadband_cancels_the_off_delay() -> None:
    h = Harness()  # HR_HIGH: off-delay 30, deadband 5
    h.update(HR, value=170, threshold=160, direction="high")
    h.update(HR, False, value=150, threshold=160, direction="high")  # clearly below: off-delay starts
    h.advance(10)
    h.update(HR, False, value=158, threshold=160, direction="high")  # inside the deadband again
    h.advance(60)
    assert h.engine.get(h.only_id()).condition_active


# --------------------------------------------------------------------- re-alarm

def test_re_alarm_repeats_until_acknowledged() -> None:
    h = Harness()  # GAS_HIGH: re_alarm_s = 120
    h.update(K.GAS_HIGH)
    h.at(119.9)
    assert len(h.transitions) == 1
    h.at(120)
    h.at(240)
    assert [t.cause for t in h.transitions] == [C.RAISED, C.RE_ALARMED, C.RE_ALARMED]
    assert all(t.extra == {"reason": "re_alarm", "announce": True} for t in h.transitions[1:])
    assert h.transitions[-1].alarm.last_announced_ts == h.now
    h.engine.acknowledge(h.only_id(), SUP)
    h.at(1000)
    assert [t.cause for t in h.transitions][-1] == C.ACKNOWLEDGED


def test_no_re_alarm_once_returned_to_normal() -> None:
    h = Harness()  # GAS_LOW: re_alarm 300, not latching
    h.update(K.GAS_LOW)
    h.update(K.GAS_LOW, False)
    h.at(1000)
    assert [t.cause for t in h.transitions] == [C.RAISED, C.CLEARED]


def test_escalation_restarts_the_re_alarm_clock() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    h.at(100)
    h.update(K.GAS_OVER_RANGE)  # re_alarm_s = 60 from now
    h.at(159.9)
    assert h.transitions[-1].cause is C.ESCALATED
    h.at(160)
    assert h.transitions[-1].cause is C.RE_ALARMED


# --------------------------------------------------------------------- mute

def test_mute_silences_then_re_alarms() -> None:
    h = Harness(mute_s=60)
    h.update(K.GAS_HIGH)
    h.at(10)
    muted = h.engine.mute(h.only_id(), OPERATOR)
    assert muted.muted_until == h.now + 60
    h.at(69.9)
    assert h.transitions[-1].cause is C.MUTED  # the re-alarm due at 120 would also wait
    h.at(70)
    last = h.transitions[-1]
    assert (last.cause, last.extra["reason"], last.alarm.muted_until) == (C.RE_ALARMED, "mute_expired", None)
    h.at(189.9)
    assert h.transitions[-1] is last
    h.at(190)
    assert h.transitions[-1].extra["reason"] == "re_alarm"


def test_mute_of_a_latched_alarm_re_alarms_even_after_the_gas_cleared() -> None:
    h = Harness(mute_s=60)
    h.update(K.GAS_HIGH)
    h.engine.mute(h.only_id(), OPERATOR)
    h.update(K.GAS_HIGH, False)
    h.at(60)
    assert h.steps()[-1] == (C.RE_ALARMED, S.UNACK, S.UNACK)


def test_mute_ends_when_the_alarm_stops_sounding() -> None:
    h = Harness(mute_s=60)
    h.update(K.GAS_LOW)
    h.engine.mute(h.only_id(), OPERATOR)
    h.update(K.GAS_LOW, False)
    assert h.engine.get(h.only_id()).muted_until is None
    h.at(61)
    assert [t.cause for t in h.transitions] == [C.RAISED, C.MUTED, C.CLEARED]


def test_only_a_sounding_alarm_can_be_muted() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    h.engine.acknowledge(h.only_id(), SUP)
    with pytest.raises(AlarmRequestError, match="active_acknowledged"):
        h.engine.mute(h.only_id(), OPERATOR)
