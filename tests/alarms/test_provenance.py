"""Provenance of people's actions: every transition names its channel and the identity that channel
authenticated, and only supervisors label alarms (each change a revision, the latest the label)."""
from __future__ import annotations

import pytest

from edge_runtime.alarms.engine import AlarmEngine, LabelRefused
from edge_runtime.alarms.model import (
    Actor,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Channel,
    TransitionCause,
    Verdict,
)
from edge_runtime.config.alarms import AlarmClass, AlarmSettings
from edge_runtime.fusion import FusionEngine
from firmware_bridge.readings import PanicButton
from tests.fusion.support import Harness as FusionHarness

from .support import DEFAULTS, OPERATOR, SUP, ZONE, Harness, supervisor

C, K = TransitionCause, AlarmKind
CONSOLE = Actor(Channel.MQTT, "control-room", may_label=True)  # a supervisor console on the broker
WEARABLE = Actor(Channel.WEARABLE, "wb01")


def provenance(transitions: list[AlarmTransition]) -> list[tuple[TransitionCause, str | None, Channel | None]]:
    return [(t.cause, t.by, t.channel) for t in transitions]


@pytest.mark.parametrize(
    ("channel", "identity", "may_label", "problem"),
    [
        (Channel.DASHBOARD, "  ", True, "identity"),
        (Channel.MQTT, "", False, "identity"),
        (Channel.SYSTEM, "siteguard", False, "no Actor"),
        (Channel.WEARABLE, "wb01", True, "nobody labels"),
    ],
)
def test_an_actor_is_a_person_with_an_authenticated_identity(
    channel: Channel, identity: str, may_label: bool, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        Actor(channel, identity, may_label)


def test_every_action_records_its_channel_and_identity_and_the_daemon_its_own() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    alarm_id = h.only_id()
    h.engine.mute(alarm_id, OPERATOR)
    acked = h.engine.acknowledge(alarm_id, CONSOLE, verdict=Verdict.CONFIRMED)
    shelved = h.engine.shelve(alarm_id, SUP, 600, "bump test")
    assert (acked.acked_by, acked.acked_via) == ("control-room", Channel.MQTT)
    assert (shelved.shelved_by, shelved.shelved_via) == ("sup", Channel.DASHBOARD)
    assert shelved.record().acked_via == "mqtt" and shelved.record().shelved_via == "dashboard"
    h.advance(600)  # the shelve expires: the daemon's own transition
    unshelved = h.engine.get(alarm_id)
    assert (unshelved.shelved_by, unshelved.shelved_via) == (None, None)
    assert provenance(h.transitions) == [
        (C.RAISED, None, Channel.SYSTEM),
        (C.MUTED, "w1", Channel.MQTT),
        (C.VERDICT, "control-room", Channel.MQTT),
        (C.ACKNOWLEDGED, "control-room", Channel.MQTT),
        (C.SHELVED, "sup", Channel.DASHBOARD),
        (C.UNSHELVED, None, Channel.SYSTEM),
    ]


def test_overlays_and_their_transitions_name_who_switched_them() -> None:
    h = Harness()
    h.update(K.ZONE_GAS, subject=ZONE)
    h.engine.suppress_zone("z1", SUP, "locked out")
    h.engine.unsuppress_zone("z1", supervisor("ann"))
    h.engine.set_out_of_service(ZONE, CONSOLE, "detector swap")
    assert h.engine.out_of_service_targets[ZONE].by == CONSOLE
    assert provenance(h.transitions)[1:] == [
        (C.SHELVED, "sup", Channel.DASHBOARD), (C.UNSHELVED, "ann", Channel.DASHBOARD),
        (C.SHELVED, "control-room", Channel.MQTT),
    ]


def test_a_verdict_from_someone_who_may_not_label_is_refused_and_changes_nothing() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    alarm_id = h.only_id()
    for actor in (OPERATOR, WEARABLE, Actor(Channel.DASHBOARD, "viewer")):
        with pytest.raises(LabelRefused, match="only supervisors") as refused:
            h.engine.set_verdict(alarm_id, Verdict.FALSE_ALARM, actor)
        assert isinstance(refused.value, PermissionError)
        with pytest.raises(LabelRefused):  # not even the ack goes through: the request is refused whole
            h.engine.acknowledge(alarm_id, actor, verdict=Verdict.FALSE_ALARM)
    assert [t.cause for t in h.transitions] == [C.RAISED]
    assert h.engine.get(alarm_id).verdict is None
    assert h.engine.acknowledge(alarm_id, OPERATOR).acked_by == "w1"  # acknowledging needs no label right


def test_ten_names_on_one_alarm_leave_only_the_supervisors_revisions() -> None:
    """Reported: 13 verdict rows from 10 names on one alarm. Now only supervisors' changes are revisions."""
    h = Harness()
    h.update(K.GAS_HIGH)
    alarm_id = h.only_id()
    supervisors = [supervisor("ann"), CONSOLE]
    others = [Actor(Channel.MQTT, f"op{i}") for i in range(4)] + [Actor(Channel.WEARABLE, f"wb0{i}") for i in range(2)]
    others += [Actor(Channel.DASHBOARD, "viewer1"), Actor(Channel.DASHBOARD, "viewer2")]
    refused = 0
    for round_ in range(2):
        for i, actor in enumerate(supervisors + others):
            verdict = (Verdict.CONFIRMED, Verdict.FALSE_ALARM)[(round_ + i) % 2]
            try:
                h.engine.set_verdict(alarm_id, verdict, actor)
            except LabelRefused:
                refused += 1
    revisions = [(t.by, t.channel, t.alarm.verdict) for t in h.transitions if t.cause is C.VERDICT]
    assert refused == 16  # the eight others, twice
    assert revisions == [  # ann's second verdict equalled the label then: no revision
        ("ann", Channel.DASHBOARD, Verdict.CONFIRMED),
        ("control-room", Channel.MQTT, Verdict.FALSE_ALARM),
        ("control-room", Channel.MQTT, Verdict.CONFIRMED),
    ]
    assert h.engine.get(alarm_id).verdict is Verdict.CONFIRMED


def test_an_mqtt_verdict_over_a_dashboard_confirmed_is_a_kept_revision_only_from_a_supervisor() -> None:
    """Reported: an MQTT verdict overwrote a dashboard 'confirmed'."""
    h = Harness()
    h.update(K.GAS_HIGH)
    alarm_id = h.only_id()
    h.engine.acknowledge(alarm_id, SUP, verdict=Verdict.CONFIRMED)
    with pytest.raises(LabelRefused):
        h.engine.set_verdict(alarm_id, Verdict.FALSE_ALARM, OPERATOR)  # an operator console: refused
    assert h.engine.get(alarm_id).verdict is Verdict.CONFIRMED
    relabelled = h.engine.set_verdict(alarm_id, Verdict.FALSE_ALARM, CONSOLE, note="bump test gas")
    assert relabelled.verdict is Verdict.FALSE_ALARM  # a supervisor's revision becomes the label
    revisions = [(t.by, t.channel, t.alarm.verdict, t.note) for t in h.transitions if t.cause is C.VERDICT]
    assert revisions == [
        ("sup", Channel.DASHBOARD, Verdict.CONFIRMED, None),
        ("control-room", Channel.MQTT, Verdict.FALSE_ALARM, "bump test gas"),
    ]


def test_a_verdict_on_a_closed_alarm_names_its_channel() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    alarm_id = h.only_id()
    h.engine.acknowledge(alarm_id, OPERATOR)
    h.update(K.GAS_LOW, False)
    h.engine.set_verdict(alarm_id, Verdict.CONFIRMED, CONSOLE)
    assert provenance(h.transitions)[-2:] == [
        (C.CLOSED, None, Channel.SYSTEM), (C.VERDICT, "control-room", Channel.MQTT),
    ]


def test_a_cancel_press_clears_the_panic_as_the_wearable_even_after_an_off_delay() -> None:
    settings = AlarmSettings(classes={K.PANIC: AlarmClass(priority=DEFAULTS.for_kind(K.PANIC).priority,
                                                          off_delay_s=3, latching=True)})
    h = Harness(settings)
    h.update(K.PANIC, condition="panic")
    h.update(K.PANIC, False, condition="panic", actor=WEARABLE)
    assert h.transitions[-1].cause is C.RAISED  # the off-delay runs
    h.advance(3)
    assert provenance(h.transitions)[-1] == (C.CLEARED, "wb01", Channel.WEARABLE)


def test_fusion_and_engine_together_record_the_wearables_cancel_press() -> None:
    fusion = FusionHarness()
    transitions: list[AlarmTransition] = []
    alarms = AlarmEngine(DEFAULTS, transitions.append, clock=lambda: fusion.t)
    fusion.engine = FusionEngine(fusion.config, alarms.update, fusion.pre_alarms.append, clock=lambda: fusion.t)
    fusion.feed("wb07", PanicButton(pressed=True))
    fusion.feed("wb07", PanicButton(pressed=False))  # the cancel press: the panic was pressed by mistake
    assert provenance(transitions) == [(C.RAISED, None, Channel.SYSTEM), (C.CLEARED, "wb07", Channel.WEARABLE)]
    assert transitions[-1].to_state is AlarmState.UNACK  # latched: a supervisor still acknowledges it
