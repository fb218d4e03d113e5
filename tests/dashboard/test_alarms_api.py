"""The alarm endpoints: ordering and refusals on a bare engine (fake clock), then acks, verdicts
and shelving through the real daemon's HTTP API, seen on the broker and in SQLite."""
from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.alarms.engine import AlarmEngine
from edge_runtime.alarms.model import Actor, AlarmKind, Channel, ConditionUpdate, Priority, Subject, SubjectKind
from edge_runtime.config.alarms import AlarmSettings, FloodSettings
from edge_runtime.dashboard.api_alarms import acknowledge, give_verdict, open_alarms, session_actor, shelve_alarm
from edge_runtime.dashboard.keys import API
from edge_runtime.dashboard.roles import Role
from edge_runtime.dashboard.schemas import AckIn, ShelveIn, VerdictIn
from tests.broker import Mosquitto, Subscriber
from tests.dashboard.harness import DashboardClient, FakeClock, T0, dashboard_site, eventually_async, signed_in
from tests.e2e.harness import topic
from web_common.api import ApiError
from web_common.sessions import Session

SAM = Actor(Channel.DASHBOARD, "sam", may_label=True)


def engine(clock: FakeClock, **settings: Any) -> AlarmEngine:
    ids = itertools.count(1)
    return AlarmEngine(AlarmSettings(**settings), lambda t: None, clock=clock, new_id=lambda: f"a{next(ids)}")


def report(e: AlarmEngine, worker: str, kind: AlarmKind, priority: Priority, active: bool = True) -> str:
    update = ConditionUpdate(Subject(SubjectKind.WORKER, worker), kind.value, kind, active, priority, kind.value, T0)
    e.update(update)
    alarm = e.by_key(update.key)
    return alarm.alarm_id if alarm else ""


def test_open_alarms_are_ordered_by_priority_then_newest_first_and_a_flood_is_summarised() -> None:
    clock = FakeClock()
    e = engine(clock, flood=FloodSettings(count=3, window_s=600))
    low = report(e, "w1", AlarmKind.LINK_LOST, Priority.LOW)
    clock.now += 1
    high_old = report(e, "w2", AlarmKind.FALL, Priority.HIGH)
    clock.now += 1
    high_new = report(e, "w3", AlarmKind.FALL, Priority.HIGH)
    listed = open_alarms(e)
    assert [a.alarm_id for a in listed.alarms] == [high_new, high_old, low]
    assert listed.flood is not None and listed.flood.active and listed.flood.count == 1
    assert listed.flood.summary == "Alarm flood: 1 alarm raised; open: 1 high"
    calm = open_alarms(engine(FakeClock())).flood
    assert calm is not None and not calm.active


def test_only_an_alarm_waiting_for_acknowledgement_can_be_acknowledged_and_refusals_name_the_state() -> None:
    clock = FakeClock()
    e = engine(clock)
    alarm_id = report(e, "w1", AlarmKind.FALL, Priority.HIGH)
    acked = acknowledge(e, alarm_id, SAM, AckIn(verdict="confirmed", note="seen on camera"))
    assert (acked.acked_by, acked.acked_via, acked.verdict, acked.state) == (
        "sam", "dashboard", "confirmed", "active_acknowledged")
    with pytest.raises(ApiError) as refused:
        acknowledge(e, alarm_id, SAM, AckIn(verdict="false_alarm"))
    assert refused.value.status == 409
    body = json.loads(refused.value.text or "")
    assert "active_acknowledged" in body["error"] and "/verdict" in body["details"][0]
    with pytest.raises(ApiError) as unknown:
        acknowledge(e, "nope", SAM, AckIn())
    assert unknown.value.status == 404
    report(e, "w1", AlarmKind.FALL, Priority.HIGH, active=False)  # acked and clear: closed
    with pytest.raises(ApiError) as closed:
        shelve_alarm(e, alarm_id, SAM, ShelveIn(duration_s=600, reason="maintenance"))
    assert closed.value.status == 409 and "closed" in json.loads(closed.value.text or "")["error"]


def session(role: Role) -> Session[Role]:
    return Session(name=role.label, display_name=role.label, role=role, csrf="", created=T0, last_seen=T0,
                   expires_ts=T0 + 3600)


def test_a_session_labels_alarms_from_the_supervisor_role_up_and_a_refused_verdict_is_403() -> None:
    assert [session_actor(session(role)) for role in Role] == [
        Actor(Channel.DASHBOARD, "viewer"), Actor(Channel.DASHBOARD, "supervisor", may_label=True),
        Actor(Channel.DASHBOARD, "admin", may_label=True),
    ]
    e = engine(FakeClock())
    alarm_id = report(e, "w1", AlarmKind.FALL, Priority.HIGH)
    viewer = session_actor(session(Role.VIEWER))
    for refused_call in (lambda: acknowledge(e, alarm_id, viewer, AckIn(verdict="confirmed")),
                         lambda: give_verdict(e, alarm_id, viewer, VerdictIn(verdict="confirmed"))):
        with pytest.raises(ApiError) as refused:
            refused_call()
        assert refused.value.status == 403 and "only supervisors" in json.loads(refused.value.text or "")["error"]
    assert e.get(alarm_id).acked_by is None and e.get(alarm_id).verdict is None


# -- through the daemon's HTTP API ---------------------------------------------------------------------

async def open_alarm(client: DashboardClient, subject: str, condition: str) -> dict[str, Any] | None:
    status, body = await client.get(f"{API}/alarms")
    assert status == 200, body
    return next((a for a in body["alarms"] if a["subject"] == subject and a["condition"] == condition), None)


def record_of(alarm_id: str, check: Any) -> Any:
    def match(m: Any) -> bool:
        return m.topic == topic("alarms", alarm_id) and bool(m.payload) and check(json.loads(m.payload))

    return match


async def test_ack_with_verdict_reaches_the_broker_and_sqlite_under_the_supervisors_name(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml", play=True) as (_, daemon, url):
            async with signed_in(url, "sam") as sam, signed_in(url, "vera") as vera:
                evac = await eventually_async(lambda: open_alarm(vera, "zone:tank-2", "evacuate"), 20,
                                              "the evacuation alarm of tank-2")
                alarm_id = evac["alarm_id"]
                assert (await vera.post(f"{API}/alarms/{alarm_id}/ack", {}))[0] == 403
                status, acked = await sam.post(f"{API}/alarms/{alarm_id}/ack",
                                               {"verdict": "confirmed", "note": "crew out"})
                assert status == 200, acked
                assert (acked["acked_by"], acked["acked_via"], acked["verdict"], acked["state"]) == (
                    "sam", "dashboard", "confirmed", "active_acknowledged")
                await sub.wait_for_async(
                    record_of(alarm_id, lambda r: r["acked_by"] == "sam" and r["verdict"] == "confirmed"), 5)

                status, again = await sam.post(f"{API}/alarms/{alarm_id}/ack", {})
                assert status == 409 and "active_acknowledged" in again["error"]
                status, relabelled = await sam.post(f"{API}/alarms/{alarm_id}/verdict", {"verdict": "false_alarm"})
                assert status == 200 and relabelled["verdict"] == "false_alarm" and relabelled["acked_by"] == "sam"

                assert daemon.store.flush(5)
                with sqlite3.connect(daemon.config.storage.path) as db:
                    verdicts = db.execute('SELECT verdict, "by", channel FROM verdicts WHERE alarm_id = ? ORDER BY id',
                                          (alarm_id,)).fetchall()
                    acks = db.execute('SELECT "by", channel, note FROM transitions WHERE alarm_id = ? AND cause = ?',
                                      (alarm_id, "acknowledged")).fetchall()
                    acked_via = db.execute("SELECT acked_via FROM alarms WHERE alarm_id = ?", (alarm_id,)).fetchone()
                assert verdicts == [("confirmed", "sam", "dashboard"), ("false_alarm", "sam", "dashboard")]
                assert acks == [("sam", "dashboard", "crew out")] and acked_via == ("dashboard",)
                status, got = await vera.get(f"{API}/alarms/{alarm_id}")
                assert status == 200 and got["verdict"] == "false_alarm"
                assert (await vera.get(f"{API}/alarms/a-missing-id"))[0] == 404


async def test_shelve_then_unshelve_and_refusals_of_what_the_state_does_not_allow(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml", play=True) as (_, _, url):
            async with signed_in(url, "sam") as sam:
                gas = await eventually_async(lambda: open_alarm(sam, "zone:tank-2", "zone_gas:H2S"), 20,
                                             "the zone gas alarm of tank-2")
                alarm_id = gas["alarm_id"]
                status, refused = await sam.post(f"{API}/alarms/{alarm_id}/unshelve")
                assert status == 409 and "not shelved" in refused["error"]
                status, too_long = await sam.post(f"{API}/alarms/{alarm_id}/shelve",
                                                  {"duration_s": 12 * 3600, "reason": "sensor swap"})
                assert status == 422 and "at most 28800" in too_long["details"][0]

                status, shelved = await sam.post(f"{API}/alarms/{alarm_id}/shelve",
                                                 {"duration_s": 600, "reason": "sensor swap"})
                assert status == 200, shelved
                assert (shelved["state"], shelved["shelved_by"], shelved["shelved_via"], shelved["shelve_reason"]) == (
                    "shelved", "sam", "dashboard", "sensor swap")
                await sub.wait_for_async(record_of(alarm_id, lambda r: r["state"] == "shelved"), 5)
                status, back = await sam.post(f"{API}/alarms/{alarm_id}/unshelve")
                assert status == 200 and back["state"] == "active_unacknowledged" and back["shelved_by"] is None
                await sub.wait_for_async(record_of(alarm_id, lambda r: r["state"] == "active_unacknowledged"
                                                   and r["shelved_by"] is None and r["updated_ts"] > gas["updated_ts"]),
                                         5)
                listed = (await sam.get(f"{API}/alarms"))[1]["alarms"]
                ranks = [("low", "medium", "high", "critical").index(a["priority"]) for a in listed]
                assert ranks == sorted(ranks, reverse=True)
