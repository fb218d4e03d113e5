"""Shelving (per alarm, with expiry), suppression by design (per zone) and
out-of-service (per subject or key)."""
from __future__ import annotations

import pytest

from edge_runtime.alarms.errors import AlarmRequestError, UnknownAlarm
from edge_runtime.alarms.model import AlarmKind, AlarmState, TransitionCause
from edge_runtime.config.alarms import AlarmSettings

from .support import DEVICE, SUP, TECH, WORKER, ZONE, Harness, supervisor

C, S, K = TransitionCause, AlarmState, AlarmKind


def test_shelve_records_who_why_and_until_then_expires() -> None:
    h = Harness()
    h.update(K.GAS_HIGH)
    alarm_id = h.only_id()
    shelved = h.engine.shelve(alarm_id, supervisor("supervisor ann"), 600, "sensor being bump-tested")
    assert (shelved.shelved_by, shelved.shelved_until, shelved.shelve_reason) == (
        "supervisor ann", h.now + 600, "sensor being bump-tested",
    )
    assert h.transitions[-1].by == "supervisor ann"
    h.at(500)  # no re-alarm while shelved (GAS_HIGH re-alarms every 120 s)
    assert h.transitions[-1].cause is C.SHELVED
    h.at(600)
    expired = h.transitions[-1]
    assert (expired.cause, expired.to_state, expired.by, expired.note) == (
        C.UNSHELVED, S.UNACK, None, "shelve expired",
    )
    assert expired.extra["announce"] and expired.alarm.shelved_until is None


def test_shelved_alarm_that_cleared_meanwhile_comes_back_as_returned_to_normal() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    alarm_id = h.only_id()
    h.engine.shelve(alarm_id, SUP, 300, "chattering")
    h.at(10)
    h.update(K.GAS_LOW, False)
    h.at(300)
    expired = h.transitions[-1]
    assert (expired.cause, expired.to_state, "announce" in expired.extra) == (C.UNSHELVED, S.RTN_UNACK, False)
    h.engine.acknowledge(alarm_id, SUP)
    assert h.engine.active() == []


def test_shelved_chattering_condition_stays_one_hidden_alarm() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    alarm_id = h.only_id()
    h.engine.shelve(alarm_id, SUP, 3600, "chattering")
    for _ in range(20):
        h.advance(5)
        h.update(K.GAS_LOW, False)
        h.advance(5)
        h.update(K.GAS_LOW)
    assert {t.alarm.alarm_id for t in h.transitions} == {alarm_id}
    assert not any(t.extra.get("announce") for t in h.transitions[1:])


@pytest.mark.parametrize(("duration", "reason"), [(0, "r"), (8 * 3600 + 1, "r"), (60, " ")])
def test_shelve_is_refused_without_a_reason_or_a_sane_duration(duration: float, reason: str) -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    with pytest.raises(AlarmRequestError):
        h.engine.shelve(h.only_id(), SUP, duration, reason)
    assert len(h.transitions) == 1


def test_max_shelve_comes_from_settings() -> None:
    h = Harness(AlarmSettings(max_shelve_s=60))
    h.update(K.GAS_LOW)
    with pytest.raises(AlarmRequestError, match="60"):
        h.engine.shelve(h.only_id(), SUP, 61, "r")


def test_shelve_and_unshelve_refuse_closed_unknown_or_unshelved_alarms() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    alarm_id = h.only_id()
    with pytest.raises(AlarmRequestError, match="not shelved"):
        h.engine.unshelve(alarm_id, SUP)
    h.engine.acknowledge(alarm_id, SUP)
    h.update(K.GAS_LOW, False)
    with pytest.raises(AlarmRequestError, match="closed"):
        h.engine.shelve(alarm_id, SUP, 60, "r")
    with pytest.raises(UnknownAlarm):
        h.engine.shelve("nope", SUP, 60, "r")


def test_zone_suppression_hides_zone_and_device_alarms_but_never_a_worker() -> None:
    h = Harness()
    h.update(K.ZONE_GAS, subject=ZONE, condition="gas:CO", zone="z1")
    h.update(K.GAS_SENSOR_STALE, subject=DEVICE, condition="stale", zone="z1")
    h.update(K.GAS_HIGH, subject=WORKER, condition="gas:CO", zone="z1")
    h.update(K.GAS_SENSOR_STALE, subject=DEVICE, condition="stale:z2", zone="z2")
    changed = h.engine.suppress_zone("z1", SUP, "permit-to-work 42: zone isolated")
    assert h.engine.suppressed_zones["z1"].by == SUP
    assert sorted(a.subject.kind.value for a in changed) == ["device", "zone"]
    assert all(a.state is S.SUPPRESSED for a in changed)
    states = {(a.subject.kind.value, a.zone): a.state for a in h.engine.active()}
    assert states[("worker", "z1")] is S.UNACK and states[("device", "z2")] is S.UNACK
    assert h.transitions[-1].extra == {"overlay": "suppressed"} and h.transitions[-1].note.startswith("permit")


def test_suppressed_alarms_do_not_re_alarm_and_re_announce_when_lifted() -> None:
    h = Harness()
    h.update(K.ZONE_GAS, subject=ZONE)
    h.engine.suppress_zone("z1", SUP, "locked out")
    h.at(1000)
    assert h.transitions[-1].to_state is S.SUPPRESSED
    [lifted] = h.engine.unsuppress_zone("z1", SUP)
    assert lifted.state is S.UNACK and h.transitions[-1].extra["announce"]
    assert h.engine.unsuppress_zone("z1", SUP) == []  # idempotent


def test_out_of_service_by_subject_or_by_key() -> None:
    h = Harness()
    h.update(K.GAS_LOW, subject=DEVICE, condition="gas:CO")
    h.update(K.GAS_SENSOR_STALE, subject=DEVICE, condition="stale")
    [one] = h.engine.set_out_of_service((DEVICE, "stale"), TECH, "cable repair")
    assert (one.condition, one.state) == ("stale", S.OUT_OF_SERVICE)
    both = h.engine.set_out_of_service(DEVICE, TECH, "detector swap")
    assert [a.condition for a in both] == ["gas:CO"]
    assert h.engine.return_to_service(DEVICE, TECH)[0].condition == "gas:CO"  # key still out of service
    assert h.engine.by_key((DEVICE, "stale")).state is S.OUT_OF_SERVICE
    h.engine.return_to_service((DEVICE, "stale"), TECH)
    assert {a.state for a in h.engine.active()} == {S.UNACK}
    assert h.engine.out_of_service_targets == {}


def test_born_hidden_alarms_do_not_count_towards_a_flood() -> None:
    h = Harness()
    h.engine.set_out_of_service(WORKER, TECH, "wearable charging")
    for i in range(12):
        h.update(K.LOW_BATTERY, condition=f"c{i}")
    assert not h.engine.flood_active
    assert {a.state for a in h.engine.active()} == {S.OUT_OF_SERVICE}


def test_a_superseded_shelve_expiry_does_not_unshelve_early() -> None:
    h = Harness()
    h.update(K.GAS_LOW)
    alarm_id = h.only_id()
    h.engine.shelve(alarm_id, SUP, 60, "short")
    h.engine.unshelve(alarm_id, SUP)
    h.engine.shelve(alarm_id, SUP, 600, "longer")
    h.at(61)
    assert h.engine.get(alarm_id).state is S.SHELVED
    h.at(600)
    assert h.engine.get(alarm_id).state is S.UNACK


def test_unshelve_while_suppressed_stays_suppressed() -> None:
    h = Harness()
    h.update(K.ZONE_GAS, subject=ZONE)
    alarm_id = h.only_id()
    h.engine.shelve(alarm_id, SUP, 600, "nuisance")
    h.engine.suppress_zone("z1", SUP, "locked out")
    h.engine.unshelve(alarm_id, SUP)
    assert h.steps()[-1] == (C.UNSHELVED, S.SUPPRESSED, S.SUPPRESSED)
    h.engine.unsuppress_zone("z1", SUP)
    assert h.engine.get(alarm_id).state is S.UNACK
