"""Zone actions: unit tests on the real alarm engine and store of an unstarted daemon (fake clock),
then the real daemon with the simulator and Mosquitto: what the sirens and wearables are told."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_runtime.alarms.model import (
    Actor,
    AlarmKind,
    AlarmState,
    AlarmTransition,
    Channel,
    ConditionUpdate,
    Notify,
    Priority,
)
from edge_runtime.alarms.zone_actions import UnknownZone, ZoneActionRefused
from edge_runtime.config import parse_config
from edge_runtime.daemon import EdgeDaemon
from edge_runtime.dashboard.keys import API
from edge_runtime.dashboard.zone_actions import ZoneActionEvent, ZoneActions
from edge_runtime.demo import demo_site_data
from edge_runtime.fusion.conditions import zone_subject
from tests.broker import Mosquitto, Subscriber
from tests.dashboard.harness import FakeClock, T0, dashboard_site, eventually_async, signed_in
from tests.e2e.harness import is_alert, payload, siren, topic

SAM = Actor(Channel.DASHBOARD, "sam", may_label=True)  # signed-in supervisors
ADA = Actor(Channel.DASHBOARD, "ada", may_label=True)


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[tuple[EdgeDaemon, ZoneActions, FakeClock, list[ZoneActionEvent]]]:
    """The demo site's daemon, not started (no broker, no sensors), its store open; elec-room has no siren."""
    data = demo_site_data()
    data["storage"] = {"path": str(tmp_path / "siteguard.db")}
    next(z for z in data["zones"] if z["id"] == "elec-room")["siren"] = False
    clock = FakeClock()
    daemon = EdgeDaemon(parse_config(data), clock=clock)
    events: list[ZoneActionEvent] = []
    daemon.bus.subscribe(ZoneActionEvent, events.append)
    daemon.store.open()
    actions = ZoneActions(daemon, daemon.config.storage.path)
    try:
        yield daemon, actions, clock, events
    finally:
        actions.close()
        daemon.store.close()


def sensor_alarm(daemon: EdgeDaemon, zone: str, condition: str, kind: AlarmKind = AlarmKind.ZONE_GAS) -> str:
    """A detector-driven alarm sounding ``zone``'s siren, raised as fusion would; returns its id."""
    update = ConditionUpdate(zone_subject(zone), condition, kind, True, Priority.HIGH, f"{condition} in {zone}",
                             daemon.clock(), notify=Notify(sirens=(zone,)), zone=zone)
    daemon.alarms.update(update)
    alarm = daemon.alarms.by_key(update.key)
    assert alarm is not None
    return alarm.alarm_id


async def test_siren_on_raises_a_manual_siren_alarm_and_siren_off_closes_it_as_the_same_person(bare) -> None:
    daemon, actions, clock, events = bare
    transitions: list[AlarmTransition] = []
    daemon.bus.subscribe(AlarmTransition, transitions.append)
    on = await actions.run("tank-2", "siren_on", SAM, "drill")
    alarm = daemon.alarms.get(on.alarm_id)
    assert (alarm.kind, alarm.priority, alarm.state) == (AlarmKind.MANUAL_SIREN, Priority.HIGH, AlarmState.UNACK)
    assert alarm.notify.sirens == ("tank-2",) and alarm.message == "Siren sounded by sam" and not alarm.latching
    assert on.siren_alarms == [on.alarm_id] and (on.by, on.ts, on.note) == ("sam", T0, "drill")
    with pytest.raises(ZoneActionRefused, match="already on"):
        await actions.run("tank-2", "siren_on", ADA, None)

    clock.now += 30
    off = await actions.run("tank-2", "siren_off", SAM, "drill over")
    closed = daemon.alarms.get(on.alarm_id)
    assert closed.state is AlarmState.NORMAL and (closed.acked_by, closed.acked_via) == ("sam", Channel.DASHBOARD)
    assert [(t.cause.value, t.by, t.channel) for t in transitions] == [  # the person raised and ended it
        ("raised", "sam", Channel.DASHBOARD), ("acknowledged", "sam", Channel.DASHBOARD),
        ("closed", "sam", Channel.DASHBOARD),
    ]
    assert (off.alarm_id, off.muted, off.siren_alarms) == (on.alarm_id, [], [])
    assert [e.action for e in events] == [on, off]  # published for live pages
    with pytest.raises(ZoneActionRefused, match="not sounding"):
        await actions.run("tank-2", "siren_off", SAM, None)

    listed = await actions.list(T0, T0 + 60)
    assert [(a.action, a.by, a.alarm_id, a.note) for a in listed.actions] == [
        ("siren_off", "sam", on.alarm_id, "drill over"), ("siren_on", "sam", on.alarm_id, "drill")]
    assert (await actions.list(T0 + 1, T0 + 60)).actions == listed.actions[:1]
    assert (await actions.list(T0, T0 + 60, zone="yard")).actions == []


async def test_siren_off_mutes_sensor_alarms_but_never_closes_them(bare) -> None:
    daemon, actions, _, _ = bare
    gas = sensor_alarm(daemon, "tank-2", "zone_gas:H2S")
    acked = sensor_alarm(daemon, "tank-2", "zone_gas:CO")
    daemon.alarms.acknowledge(acked, ADA)  # acknowledged alarms cannot be muted: the siren stays on for it
    off = await actions.run("tank-2", "siren_off", SAM, None)
    assert off.alarm_id is None and off.muted == [gas] and off.siren_alarms == [acked]
    muted = daemon.alarms.get(gas)
    assert muted.state is AlarmState.UNACK and muted.muted_until == T0 + daemon.config.gas.mute_s
    assert daemon.alarms.get(acked).state is AlarmState.ACKED


async def test_all_clear_ends_a_manual_evacuation_but_not_one_ordered_by_detectors(bare) -> None:
    daemon, actions, _, _ = bare
    with pytest.raises(ZoneActionRefused, match="no evacuation"):
        await actions.run("tank-2", "all_clear", SAM, None)
    sensor = sensor_alarm(daemon, "tank-2", "evacuate", AlarmKind.ZONE_EVACUATE)
    with pytest.raises(ZoneActionRefused, match=f"gas detectors alarm \\(alarm {sensor}\\).*gas is gone"):
        await actions.run("tank-2", "all_clear", SAM, None)

    evac = await actions.run("tank-2", "evacuate", SAM, "smell of gas")
    alarm = daemon.alarms.get(evac.alarm_id)
    assert (alarm.kind, alarm.priority) == (AlarmKind.ZONE_EVACUATE, Priority.CRITICAL)
    assert alarm.notify.sirens == ("tank-2",)
    assert alarm.message.startswith("Evacuate Tank 2 (confined space) (tank-2): ordered by sam")
    with pytest.raises(ZoneActionRefused, match="already ordered"):
        await actions.run("tank-2", "evacuate", ADA, None)
    clear = await actions.run("tank-2", "all_clear", SAM, None)
    assert clear.alarm_id == evac.alarm_id and daemon.alarms.get(evac.alarm_id).state is AlarmState.NORMAL
    assert daemon.alarms.get(sensor).state is AlarmState.UNACK  # the detectors' evacuation goes on
    assert clear.siren_alarms == [sensor]


async def test_unknown_zones_and_zones_without_a_siren_are_refused(bare) -> None:
    daemon, actions, _, events = bare
    with pytest.raises(UnknownZone, match="unknown zone 'tank-9'"):
        await actions.run("tank-9", "evacuate", SAM, None)
    for action in ("siren_on", "siren_off"):
        with pytest.raises(ZoneActionRefused, match="has no siren"):
            await actions.run("elec-room", action, SAM, None)
    evac = await actions.run("elec-room", "evacuate", SAM, None)  # wearables still alerted, no siren
    assert daemon.alarms.get(evac.alarm_id).notify.sirens == ()
    assert [e.action.action for e in events] == ["evacuate"]  # refusals are not recorded


# -- on the real daemon, broker and simulator -------------------------------------------------------

def zone_actions_rows(daemon: EdgeDaemon) -> list[tuple[Any, ...]]:
    with sqlite3.connect(daemon.config.storage.path) as db:
        return db.execute('SELECT zone, action, "by", alarm_id FROM zone_actions ORDER BY id').fetchall()


async def test_evacuate_sounds_the_evacuation_pattern_and_alerts_occupants_then_all_clear_silences(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with dashboard_site(tmp_path, mosquitto.port, "man_down.yaml", play=True) as (_, daemon, url):
            async with signed_in(url, "sam") as sam, signed_in(url, "vera") as vera:
                await eventually_async(_async(lambda: "w07" in daemon.fusion.zone_occupants("yard")), 15,
                                       "w07 counted in the yard")
                assert (await vera.post(f"{API}/zones/yard/actions", {"action": "evacuate"}))[0] == 403
                status, evac = await sam.post(f"{API}/zones/yard/actions", {"action": "evacuate", "note": "drill"})
                assert status == 201, evac
                on = await sub.wait_for_async(siren("yard", "on"), timeout=10)
                assert payload(on)["pattern"] == "evacuate"
                alert = await sub.wait_for_async(
                    lambda m: is_alert("w07")(m) and payload(m).get("kind") == "zone_evacuate", timeout=10)
                assert payload(alert)["alarm_id"] == evac["alarm_id"]
                sub.clear()  # the siren's "off" from start-up is not the one to wait for

                status, clear = await sam.post(f"{API}/zones/yard/actions", {"action": "all_clear"})
                assert status == 201, clear
                await sub.wait_for_async(siren("yard", "off"), timeout=10)
                assert zone_actions_rows(daemon) == [("yard", "evacuate", "sam", evac["alarm_id"]),
                                                     ("yard", "all_clear", "sam", evac["alarm_id"])]
                status, listed = await vera.get(f"{API}/zones/actions", params={"zone": "yard"})
                assert status == 200 and [a["action"] for a in listed["actions"]] == ["all_clear", "evacuate"]
                status, missing = await sam.post(f"{API}/zones/nowhere/actions", {"action": "siren_on"})
                assert status == 404 and "nowhere" in missing["error"]


async def test_siren_off_silences_the_sirens_of_sensor_alarms_that_stay_open(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    with Subscriber(mosquitto.host, mosquitto.port, [topic("#")]) as sub:
        async with dashboard_site(tmp_path, mosquitto.port, "h2s_leak.yaml", play=True) as (_, daemon, url):
            async with signed_in(url, "sam") as sam:
                def zone_alarms() -> set[str]:
                    return {a.condition for a in daemon.alarms.active() if str(a.subject) == "zone:tank-2"}

                await eventually_async(_async(lambda: {"evacuate", "zone_gas:H2S"} <= zone_alarms()), 20,
                                       "zone gas and evacuation alarms in tank-2")
                await sub.wait_for_async(siren("tank-2", "on"), timeout=10)
                sub.clear()
                status, body = await sam.post(f"{API}/zones/tank-2/actions", {"action": "siren_off"})
                assert status == 201, body
                assert len(body["muted"]) >= 2 and body["siren_alarms"] == []
                await sub.wait_for_async(siren("tank-2", "off"), timeout=10)
                assert {"evacuate", "zone_gas:H2S"} <= zone_alarms()  # muted, not cleared
                record = json.loads(sub.on(topic("alarms", body["muted"][0]))[-1].payload)
                assert record["state"] == AlarmState.UNACK.value
                status, again = await sam.post(f"{API}/zones/tank-2/actions", {"action": "all_clear"})
                assert status == 409 and "gas is gone" in again["error"]


def _async(check: Any) -> Any:
    async def run() -> Any:
        return check()

    return run
